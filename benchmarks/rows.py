#!/usr/bin/env python3
"""Per-event cost of ``auditsql run``'s path, stage by stage, in process, against laurel on the same records.

The records are real: benchmarks/data/run_mix.log was captured once on this project's VM with ``auditsql
listen`` (unicast, the builtin exec/socket rules, the process tree's fork/vfork/clone/clone3/exit_group rules
with thread clones excluded, and a ``-w DIR -p wa -k auditsql_file`` watch) while a shell ran ``true``, ``ls``,
``sh -c 'echo > FILE'``, a Python TCP client/server (connect, accept4) and ``su``: 173 events, 799 records
(exec with its fork and exit_group as the process tree sees them, connect and accept, file writes, PAM).

The log is repeated ``--cycles`` times. Every copy gets new serials and timestamps (+1 ms per event), and
its pid=/ppid= values shifted by a per-cycle offset, so that the process tree sees new processes each cycle
rather than pid reuse. Then each stage runs over all events under its own timer (best of ``--repeat``):

- parse (``parse_line``) + assemble (``Assembler.push``/``flush``);
- render (``Renderer(resolve_ids, raw=True).render``, as ``auditsql run``);
- ``tables.rows_for`` with the process tree off, then on (a fresh live ``Tracker``; its ``drain()`` every
  512 events, as the agent's ticks do, is counted in);
- ``Store.insert`` of those rows (the tree-on rows plus the drained ``process_tree`` rows) into a fresh
  store in a temporary directory, with the final ``flush()``.

It prints µs per event per stage, events/s overall (parse + assemble + render + rows_for with the tree on +
insert), and digests of the rendered JSON and of the rows: equal digests before and after a change show that
no output changed. The peer figure: ``laurel`` (as benchmarks/replay.py runs it: the log on stdin, JSON lines
on stdout, ``translate.universal`` on, /proc enrichment off) on the same file, events per CPU second.
``--profile`` adds a cProfile of render + rows_for (tree on) + insert, top 30 by tottime.

Never touches the kernel (the tree's /proc reads look up the replayed pids, which are gone or unrelated).

Usage: python3 benchmarks/rows.py [--cycles N] [--repeat N] [--no-resolve-ids] [--profile] [--no-laurel]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "run_mix.log"
UPTIME_BASE = 1795600000.0  # a fixed boot time: uptime columns are deterministic
DRAIN_EVERY = 512

_STAMP = re.compile(rb"msg=audit\((\d+)\.(\d+):(\d+)\)")
_PID = re.compile(rb"(?<![A-Za-z0-9_-])(pid|ppid)=(\d+)")


def build_log(src: Path, cycles: int) -> bytes:
    """``cycles`` copies of the captured log: new serials and times, pids shifted per cycle (see the docstring)."""
    lines = src.read_bytes().splitlines()
    first = _STAMP.search(lines[0])
    assert first is not None
    t0 = int(first.group(1)) * 1000 + int(first.group(2))
    out: list[bytes] = []
    serial = 1000
    for k in range(cycles):
        shift = k * 20011  # pids stay below the kernel's pid_max (4194304) for up to 200 cycles
        stamps: dict[bytes, bytes] = {}

        def stamp(m: re.Match[bytes], stamps: dict[bytes, bytes] = stamps) -> bytes:
            nonlocal serial
            key = m.group(0)
            new = stamps.get(key)
            if new is None:
                serial += 1
                ms = t0 + (serial - 1000)  # +1 ms per event
                new = stamps[key] = b"msg=audit(%d.%03d:%d)" % (ms // 1000, ms % 1000, serial)
            return new

        def pid(m: re.Match[bytes], shift: int = shift) -> bytes:
            v = int(m.group(2))
            return b"%s=%d" % (m.group(1), v + shift if v > 1 else v)

        for ln in lines:
            ln = _STAMP.sub(stamp, ln, count=1)
            if shift and not ln.startswith(b"type=EXECVE") and not ln.startswith(b"type=PROCTITLE"):
                ln = _PID.sub(pid, ln)
            out.append(ln)
    return b"\n".join(out) + b"\n"


def _digest(items: list) -> str:
    h = hashlib.sha256()
    for x in items:
        h.update(repr(x).encode())
    return h.hexdigest()[:16]


def run_stages(log: bytes, resolve_ids: bool, tmp: Path, round_no: int) -> tuple[dict[str, float], dict]:
    """One round: every stage over the whole log. Returns (seconds per stage, facts: counts and digests)."""
    import auditsql.tables as tables
    from auditsql.events.assembler import Assembler
    from auditsql.events.render import Renderer
    from auditsql.records.parser import parse_line
    from auditsql.store.sqlite import Store
    from auditsql.tables import file as file_tables
    from auditsql.tables import proctree

    clock = time.perf_counter
    secs: dict[str, float] = {}
    lines = log.splitlines(keepends=True)

    t = clock()
    asm = Assembler()
    push = asm.push
    events = []
    for ln in lines:
        for rec in parse_line(ln, True):
            events.extend(push(rec))
    events.extend(asm.flush())
    secs["parse + assemble"] = clock() - t

    render = Renderer(resolve_ids=resolve_ids, raw=True).render
    t = clock()
    dicts = [render(ev) for ev in events]
    secs["render"] = clock() - t

    rows_for = tables.rows_for
    proctree.disable()
    file_tables._INODES.clear()
    t = clock()
    rows_off = [rows_for(d, UPTIME_BASE) for d in dicts]
    secs["rows_for (tree off)"] = clock() - t

    file_tables._INODES.clear()
    tree = proctree.enable(live=True, uptime_base=UPTIME_BASE)
    batches: list[list[tuple[str, tuple]]] = []
    t = clock()
    for i, d in enumerate(dicts, 1):
        batches.append(rows_for(d, UPTIME_BASE))
        if i % DRAIN_EVERY == 0:
            batches.append(tree.drain())
    batches.append(tree.drain())
    secs["rows_for (tree on)"] = clock() - t
    proctree.disable()

    store = Store(str(tmp / f"bench{round_no}.db"))
    store.create_schema()
    insert = store.insert
    t = clock()
    for rows in batches:
        if rows:
            insert(rows)
    store.flush()
    secs["store insert"] = clock() - t
    store.close()

    facts = {
        "events": len(events),
        "records": len(lines),
        "rows": sum(len(b) for b in batches),
        "render digest": _digest([json.dumps(d, ensure_ascii=False) for d in dicts]),
        "rows digest (tree off)": _digest(rows_off),
        "rows digest (tree on)": _digest(batches),
        "tables": Counter(name for b in batches for name, _ in b),
    }
    return secs, facts


def profile(log: bytes, resolve_ids: bool, tmp: Path, top: int = 30) -> str:
    """cProfile of render + rows_for (tree on) + insert over the whole log."""
    import auditsql.tables as tables
    from auditsql.events.assembler import Assembler
    from auditsql.events.render import Renderer
    from auditsql.records.parser import parse_line
    from auditsql.store.sqlite import Store
    from auditsql.tables import proctree

    asm = Assembler()
    events = [ev for ln in log.splitlines(keepends=True) for r in parse_line(ln, True) for ev in asm.push(r)]
    events.extend(asm.flush())
    render = Renderer(resolve_ids=resolve_ids, raw=True).render
    store = Store(str(tmp / "profile.db"))
    store.create_schema()
    tree = proctree.enable(live=True, uptime_base=UPTIME_BASE)
    prof = cProfile.Profile()
    prof.enable()
    for i, ev in enumerate(events, 1):
        store.insert(tables.rows_for(render(ev), UPTIME_BASE))
        if i % DRAIN_EVERY == 0:
            store.insert(tree.drain())
    store.insert(tree.drain())
    store.flush()
    prof.disable()
    proctree.disable()
    store.close()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
    return s.getvalue()


def run_laurel(path: Path, tmp: Path, repeat: int) -> tuple[float, int] | str:
    """(CPU seconds, events out) of laurel on ``path``, best of ``repeat``; or why it did not run."""
    sys.path.insert(0, str(HERE))
    import replay  # benchmarks/replay.py: the same laurel config and timing helper

    if replay.laurel_version() is None:
        return f"not available ({replay.LAUREL})"
    d = tmp / "laurel"
    d.mkdir()
    cfg = d / "config.toml"
    cfg.write_text(replay.LAUREL_CONFIG.format(dir=d, universal="true", userdb="false"), encoding="utf-8")
    best: tuple[float, int] | None = None
    for _ in range(repeat):
        t = replay.timed([*replay._pin(), replay.LAUREL, "-c", str(cfg)], stdin_path=path, count_stdout=True)
        if t.rc != 0:
            return f"exit {t.rc}: {t.err.strip()[-200:]}"
        if best is None or t.cpu < best[0]:
            best = (t.cpu, t.lines)
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=60, help="copies of the captured log (default 60)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best time per stage is kept")
    ap.add_argument("--no-resolve-ids", action="store_true", help="render without uid/gid names")
    ap.add_argument("--profile", action="store_true", help="add a cProfile of render + rows_for + insert")
    ap.add_argument("--no-laurel", action="store_true", help="do not run laurel")
    args = ap.parse_args(argv)
    resolve = not args.no_resolve_ids
    log = build_log(DATA, args.cycles)
    with tempfile.TemporaryDirectory(prefix="auditsql-rows-") as td:
        tmp = Path(td)
        best: dict[str, float] = {}
        facts: dict = {}
        for r in range(args.repeat):
            secs, f = run_stages(log, resolve, tmp, r)
            if facts and any(f[k] != facts[k] for k in facts if "digest" in k):
                print("rows.py: outputs differ between rounds (state leaks between rounds)", file=sys.stderr)
            facts = facts or f
            for k, v in secs.items():
                best[k] = min(best.get(k, v), v)
        n = facts["events"]
        print(
            f"auditsql rows benchmark: {DATA.name} x {args.cycles} = {n} events, {facts['records']} records, "
            f"{facts['rows']} rows; resolve_ids={resolve}; best of {args.repeat}"
        )
        print("rows by table: " + ", ".join(f"{k} {v}" for k, v in sorted(facts["tables"].items())))
        print(f"{'stage':<24}{'µs/event':>10}")
        for k, v in best.items():
            print(f"{k:<24}{v / n * 1e6:>10.2f}")
        total = sum(v for k, v in best.items() if k != "rows_for (tree off)")
        print(f"{'= total (tree on)':<24}{total / n * 1e6:>10.2f}   {n / total:,.0f} events/s")
        total_off = sum(v for k, v in best.items() if k != "rows_for (tree on)")
        print(f"{'= total (tree off)':<24}{total_off / n * 1e6:>10.2f}   {n / total_off:,.0f} events/s")
        for k in ("render digest", "rows digest (tree off)", "rows digest (tree on)"):
            print(f"{k}: {facts[k]}")
        if not args.no_laurel:
            path = tmp / "mix.log"
            path.write_bytes(log)
            lr = run_laurel(path, tmp, min(args.repeat, 3))
            if isinstance(lr, str):
                print(f"laurel: {lr}")
            else:
                cpu, out = lr
                print(
                    f"laurel (translate.universal, CPU time, best of {min(args.repeat, 3)}): {out} events out, "
                    f"{cpu / n * 1e6:.2f} µs/event, {n / cpu:,.0f} events/s (whole process: read, parse, JSON)"
                )
        if args.profile:
            print(profile(log, resolve, tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

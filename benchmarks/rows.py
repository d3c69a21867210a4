#!/usr/bin/env python3
"""Per-event cost of ``auditsql run``'s path, stage by stage, in process, against laurel on the same records.

The records are real: benchmarks/data/run_mix.log was captured once on this project's VM with ``auditsql
listen`` (unicast, the builtin exec/socket rules, the process tree's fork/vfork/clone/clone3/exit_group rules
with thread clones excluded, and a ``-w DIR -p wa -k auditsql_file`` watch) while a shell ran ``true``, ``ls``,
``sh -c 'echo > FILE'``, a Python TCP client/server (connect, accept4) and ``su``: 173 events, 799 records
(exec with its fork and exit_group as the process tree sees them, connect and accept, file writes, PAM).

The log is repeated ``--cycles`` times. Every copy gets new serials and timestamps (+1 ms per event), and
its pid=/ppid= values shifted by a per-cycle offset, so that the process tree sees new processes each cycle
rather than pid reuse. Then each stage runs over all events under its own timer (best of ``--repeat``); the
event path is the native core (``auditsql._core.Pipeline``, one call for the whole log), so its stages are
timed as pipelines that do more and more:

- parse + assemble + render (``Settings(resolve_ids, raw=True, rows=False)``, as ``auditsql run`` renders);
- the same with rows, the process tree off, then on (a live tree; its rows drained at the end);
- ``Store.insert`` of the tree-on rows (with the ``process_tree`` rows) into a fresh store in a temporary
  directory, with the final ``flush()``.

It prints µs per event per stage, events/s overall (the pipeline with rows and the tree on + insert), and
digests of the rendered JSON and of the rows: equal digests before and after a change show that
no output changed. The peer figure: ``laurel`` (as benchmarks/replay.py runs it: the log on stdin, JSON lines
on stdout, ``translate.universal`` on, /proc enrichment off) on the same file, events per CPU second.
``--profile`` adds a cProfile of the pipeline (rows, tree on) + insert, top 30 by tottime.

Never touches the kernel (the tree's /proc reads look up the replayed pids, which are gone or unrelated).

Usage: python3 benchmarks/rows.py [--cycles N] [--repeat N] [--no-resolve-ids] [--profile] [--no-laurel]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
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


def _pipeline(resolve_ids: bool, **settings: object):  # type: ignore[no-untyped-def]
    from auditsql._core import Pipeline, Settings

    return Pipeline(
        Settings(format="enriched", resolve_ids=resolve_ids, raw=True, uptime_base=UPTIME_BASE, **settings)
    )


def _run(log: bytes, resolve_ids: bool, **settings: object) -> tuple[float, bytes, list[tuple[str, tuple]]]:
    """The native pipeline over the whole log: (seconds, event JSON lines, rows)."""
    p = _pipeline(resolve_ids, **settings)
    t = time.perf_counter()
    a = p.feed_lines(log)
    b = p.finish()
    secs = time.perf_counter() - t
    return secs, a.json + b.json, a.rows + b.rows


def run_stages(log: bytes, resolve_ids: bool, tmp: Path, round_no: int) -> tuple[dict[str, float], dict]:
    """One round: the native pipeline over the whole log, without rows, with rows (tree off, then on), and the
    store's insert of the tree-on rows. Returns (seconds per stage, facts: counts and digests)."""
    from auditsql.store.sqlite import Store

    secs: dict[str, float] = {}
    secs["parse+assemble+render"], json_lines, _ = _run(log, resolve_ids, rows=False)
    secs["pipeline, rows, tree off"], _, rows_off = _run(log, resolve_ids, events_json=False)
    secs["pipeline, rows, tree on"], _, rows_on = _run(
        log, resolve_ids, events_json=False, process_tree=True, live=True
    )

    store = Store(str(tmp / f"bench{round_no}.db"))
    store.create_schema()
    t = time.perf_counter()
    for i in range(0, len(rows_on), 4096):
        store.insert(rows_on[i : i + 4096])
    store.flush()
    secs["store insert"] = time.perf_counter() - t
    store.close()

    events = json_lines.splitlines()
    facts = {
        "events": len(events),
        "records": len(log.splitlines()),
        "rows": len(rows_on),
        "render digest": _digest(events),
        "rows digest (tree off)": _digest(rows_off),
        "rows digest (tree on)": _digest(rows_on),
        "tables": Counter(name for name, _ in rows_on),
    }
    return secs, facts


def profile(log: bytes, resolve_ids: bool, tmp: Path, top: int = 30) -> str:
    """cProfile of the pipeline (rows, tree on) + insert over the whole log (the native work is one call)."""
    from auditsql.store.sqlite import Store

    store = Store(str(tmp / "profile.db"))
    store.create_schema()
    prof = cProfile.Profile()
    prof.enable()
    p = _pipeline(resolve_ids, events_json=False, process_tree=True, live=True)
    store.insert(p.feed_lines(log).rows)
    store.insert(p.finish().rows)
    store.flush()
    prof.disable()
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
    ap.add_argument("--profile", action="store_true", help="add a cProfile of the pipeline + insert")
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
        total = best["pipeline, rows, tree on"] + best["store insert"]
        print(f"{'= total (tree on)':<24}{total / n * 1e6:>10.2f}   {n / total:,.0f} events/s")
        total_off = best["pipeline, rows, tree off"] + best["store insert"]
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

#!/usr/bin/env python3
"""Pushdown benchmark: a storm of an excluded program, with and without ``[kernel] pushdown``, side by side.

One scheduled query, ``SELECT path, cmdline FROM process_events WHERE path != '/usr/bin/sed' AND cwd = W``
(``W`` is this run's work directory, so that other sessions' processes do not change the rows), runs every
second under ``auditsql run`` (unicast, the builtin rules). The storm is one ``sh`` loop in ``W`` that execs
``/usr/bin/sed`` N times (10,000 by default) and ``/usr/bin/true`` a few times. The same storm runs twice:
without pushdown (the kernel sends every exec, auditsql parses, stores and discards the sed rows in SQL) and
with it (the kernel drops the sed execs: ``-F exe!=/usr/bin/sed``). Printed side by side:

- netlink messages (records) and events auditsql received (its stats file, ``reader.messages`` and
  ``events``), and the ``process_events`` rows it stored;
- auditsql's CPU seconds (user+sys of the agent and its reader process, /proc/PID/stat) from its start to
  the end of the storm's drain;
- the storm's wall time (the audited process pays for audit: building records, and waiting when the
  backlog is full);
- kernel ``lost`` (``auditctl -s`` before and after);
- the rows the scheduled query returned, which must be equal (the benchmark fails otherwise).

Etiquette: the kernel-test lock /tmp/auditsql-live-tests.lock is held for the whole run; ``auditsql run``
snapshots and restores the kernel itself, and the benchmark checks afterwards that the rules, ``enabled``,
``pid`` and ``backlog_limit`` are as found; only the processes it started are stopped, by pid.

Usage: python3 benchmarks/pushdown.py [--execs N] [--others N] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_FILE = "/tmp/auditsql-live-tests.lock"
EXCLUDED = "/usr/bin/sed"
AUDITSQL = shutil.which("auditsql") or "auditsql"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def kernel_lock(timeout: float = 600.0) -> Iterator[None]:
    with open(LOCK_FILE, "a") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    sys.exit(f"pushdown benchmark: {LOCK_FILE} held by another run for {timeout:.0f} s")
                time.sleep(0.2)
        yield


def auditctl(*args: str) -> str:
    return subprocess.run(["auditctl", *args], capture_output=True, text=True, check=True).stdout


def kernel_state() -> dict[str, Any]:
    st = dict(line.split(" ", 1) for line in auditctl("-s").splitlines() if " " in line)
    rules = [ln for ln in auditctl("-l").splitlines() if ln.strip() and ln != "No rules"]
    return {
        "enabled": int(st["enabled"]),
        "pid": int(st["pid"]),
        "backlog_limit": int(st["backlog_limit"]),
        "lost": int(st["lost"]),
        "rules": rules,
    }


def cpu_seconds(pid: int) -> float:
    """user+sys of ``pid`` and its descendants (the forked reader), seconds."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return total / CLK_TCK


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def one_run(tmp: Path, work: Path, pushdown: bool, execs: int, others: int) -> dict[str, Any]:
    name = "on" if pushdown else "off"
    d = tmp / name
    d.mkdir()
    stats, results, db = d / "stats.json", d / "results.jsonl", d / "auditsql.db"
    query = f"SELECT path, cmdline FROM process_events WHERE path != '{EXCLUDED}' AND cwd = '{work}'"
    (d / "config.toml").write_text(
        f"[kernel]\nsource = 'unicast'\npushdown = {str(pushdown).lower()}\nstate_file = '{d / 'state.json'}'\n"
        f"[store]\ndb = '{db}'\n[results_log]\npath = '{results}'\n"
        f"[status]\ninterval = 0\nstats_file = '{stats}'\n"
        f"[schedule.not_sed]\nquery = {json.dumps(query)}\ninterval = 1\n"
    )
    before = kernel_state()
    err = open(d / "stderr", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [AUDITSQL, "run", "--config", str(d / "config.toml")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        deadline = time.monotonic() + 30
        while b" running (" not in (d / "stderr").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"auditsql run did not start: {(d / 'stderr').read_text()}")
            time.sleep(0.05)
        rules = kernel_state()["rules"]
        cpu0 = cpu_seconds(proc.pid)
        script = (
            f"i=0; while [ $i -lt {execs} ]; do {EXCLUDED} -n q /dev/null; i=$((i+1)); done; "
            f"j=0; while [ $j -lt {others} ]; do /usr/bin/true storm-$j; j=$((j+1)); done"
        )
        t0 = time.monotonic()
        subprocess.run(["/bin/sh", "-c", script], cwd=work, check=True)
        wall = time.monotonic() - t0
        # drain: the stats file's event count stops moving for 2 s
        last, still = -1, time.monotonic()
        while time.monotonic() - still < 2.0:
            n = read_json(stats).get("events", 0)
            if n != last:
                last, still = n, time.monotonic()
            time.sleep(0.2)
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        err.close()
    after = kernel_state()
    for key in ("enabled", "pid", "backlog_limit", "rules"):
        if after[key] != before[key]:
            print(f"WARNING: kernel {key} not restored: {after[key]!r} != {before[key]!r}", file=sys.stderr)
    final = read_json(stats)
    rows = sorted(
        json.dumps(line["columns"], sort_keys=True)
        for line in map(json.loads, results.read_text().splitlines())
        if line.get("name") == "not_sed"
    )
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = conn.execute("SELECT count(*) FROM process_events WHERE cwd = ?", (str(work),)).fetchone()[0]
    sed_rows = conn.execute(
        "SELECT count(*) FROM process_events WHERE cwd = ? AND path = ?", (str(work), EXCLUDED)
    ).fetchone()[0]
    conn.close()
    return {
        "pushdown": pushdown,
        "exit": code,
        "rules": [r for r in rules if "execve" in r],
        "records": final.get("reader", {}).get("messages"),
        "events": final.get("events"),
        "stored_rows": stored,
        "sed_rows": sed_rows,
        "cpu_s": round(cpu, 2),
        "storm_wall_s": round(wall, 2),
        "kernel_lost": after["lost"] - before["lost"],
        "query_rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--execs", type=int, default=10000, help="execs of the excluded program")
    ap.add_argument("--others", type=int, default=20, help="execs of /usr/bin/true")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pushdown benchmark: needs root (it runs auditsql run on the kernel)", file=sys.stderr)
        return 1
    with kernel_lock(), tempfile.TemporaryDirectory(prefix="auditsql-pushdown-") as t:
        tmp = Path(t)
        work = tmp / "work"
        work.mkdir()
        runs = [one_run(tmp, work, p, args.execs, args.others) for p in (False, True)]
    off, on = runs
    print(f"storm: {args.execs} x {EXCLUDED}, {args.others} x /usr/bin/true, in one sh loop")
    print(f"query: SELECT path, cmdline FROM process_events WHERE path != '{EXCLUDED}' AND cwd = <work dir>")
    print()
    print(f"{'':34}{'pushdown off':>16}{'pushdown on':>16}")
    for label, key in (
        ("records received by auditsql", "records"),
        ("events assembled", "events"),
        ("process_events rows stored", "stored_rows"),
        ("  of which /usr/bin/sed", "sed_rows"),
        ("auditsql CPU seconds", "cpu_s"),
        ("storm wall time, seconds", "storm_wall_s"),
        ("kernel lost", "kernel_lost"),
    ):
        print(f"{label:34}{off[key]!s:>16}{on[key]!s:>16}")
    print(f"{'rows the query returned':34}{len(off['query_rows']):>16}{len(on['query_rows']):>16}")
    same = off["query_rows"] == on["query_rows"]
    print(f"{'rows equal':34}{'yes' if same else 'NO':>16}")
    print()
    print("exec rules loaded with pushdown (auditctl -l):")
    for r in on["rules"]:
        print(f"  {r}")
    if args.json:
        Path(args.json).write_text(json.dumps({"off": off, "on": on}, indent=1) + "\n")
    return 0 if same and off["exit"] == on["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

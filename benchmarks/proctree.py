#!/usr/bin/env python3
"""The process tree under a fork/exec storm: memory, CPU and loss of ``auditsql run`` with and without it.

What it does, per configuration (``auditsql run`` with ``[tables] process_tree`` on, then off: the peer figure
is the same agent without the tree; each registered in turn as the kernel's audit daemon, unicast):

1. start ``auditsql run`` (builtin rules, a temporary store, no results log) and wait for its start line;
2. run ``forkstorm COUNT INFLIGHT`` (benchmarks/c/forkstorm.c, built here with gcc): COUNT fork+exec of
   ``/bin/true``, INFLIGHT children at a time, as fast as the machine goes;
3. sample the agent's RSS (``VmRSS`` of the agent and its reader process) and CPU (user+sys from
   ``/proc/PID/stat``) every 0.5 s, until the agent's event count stops growing after the storm;
4. stop it (SIGTERM by pid) and read its final status line (events, kernel lost, user drops) and the store:
   ``process_tree`` rows, rows still without ``exit_time`` (= the tracker's in-memory size: it holds exactly
   the live processes), and storm execs in ``process_events``.

Three configurations: ``tree-on`` (the defaults: forks and exits from the proc connector), ``tree-on-audit``
(``tree_source = 'audit'``: forks and exits audited) and ``tree-off``; the last lines give each tree's agent CPU
as a multiple of the tree off's (issue 11's target: at most 1.3x).

Holds the kernel-test lock (``/tmp/auditsql-live-tests.lock``) for the whole run; the agent restores the
kernel on stop. Usage: ``python3 benchmarks/proctree.py [--count N] [--inflight K] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK_FILE = "/tmp/auditsql-live-tests.lock"
_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else (shutil.which("auditsql") or "auditsql")
CLK = os.sysconf("SC_CLK_TCK")


def build(tmp: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("proctree.py: gcc is needed to build benchmarks/c/forkstorm.c (apt-get install gcc)")
    exe = tmp / "forkstorm"
    subprocess.run([gcc, "-O2", "-Wall", "-o", str(exe), str(HERE / "c" / "forkstorm.c")], check=True)
    return exe


def family(pid: int) -> list[int]:
    """``pid`` and its child processes (the reader process)."""
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    except OSError:
        pass
    return out


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK
    except OSError:
        return 0.0


def events_of(stats: Path) -> int:
    import json

    try:
        return int(json.loads(stats.read_text())["events"])
    except (OSError, ValueError, KeyError):
        return -1


#: configuration name → its [tables] section: the defaults (the tree on, forks and exits from the proc connector),
#: the tree from audit rules (its forks and exits audited), the tree off
CONFIGS = {
    "tree-on": "process_tree = true\n",
    "tree-on-audit": "process_tree = true\ntree_source = 'audit'\n",
    "tree-off": "process_tree = false\n",
}


def run_one(name: str, storm: Path, count: int, inflight: int, tmp: Path) -> dict:
    tree = name != "tree-off"
    d = tmp / name
    d.mkdir()
    cfg = d / "run.toml"
    stats = d / "stats.json"
    cfg.write_text(
        f"[kernel]\nstate_file = '{d / 'snapshot.json'}'\nbacklog_limit = 8192\n"
        f"[status]\ninterval = 5\nstats_file = '{stats}'\n"
        f"[tables]\n{CONFIGS[name]}"
    )
    db = d / "db" / "auditsql.db"
    err = d / "stderr.txt"
    argv = [
        AUDITSQL,
        "run",
        "--config",
        str(cfg),
        "--db",
        str(db),
        "--results-log",
        "",
        "--source",
        "unicast",
    ]
    with open(err, "wb") as fh:
        agent = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fh)
    try:
        deadline = time.monotonic() + 60
        while " running (" not in err.read_text():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"proctree.py: auditsql run did not start: {err.read_text()}")
            time.sleep(0.1)
        pids = family(agent.pid)
        cpu0 = sum(cpu_s(p) for p in pids)
        rss_start = sum(rss_kib(p) for p in pids)
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()
        load = subprocess.Popen([str(storm), str(count), str(inflight)], stdout=subprocess.PIPE, text=True)
        while load.poll() is None:
            samples.append((time.monotonic() - t0, sum(rss_kib(p) for p in family(agent.pid))))
            time.sleep(0.5)
        storm_out = load.stdout.read().strip() if load.stdout else ""
        storm_s = time.monotonic() - t0
        # let the agent drain: settled when its event count grows by less than 100/s for 3 s (the rest of the
        # machine keeps forking), at most 300 s
        last, still = -1000, time.monotonic()
        while time.monotonic() - still < 3.0 and time.monotonic() - t0 < storm_s + 300:
            samples.append((time.monotonic() - t0, sum(rss_kib(p) for p in family(agent.pid))))
            n = events_of(stats)
            if n - last > 50:
                still = time.monotonic()
            last = n
            time.sleep(0.5)
        pids = family(agent.pid)
        cpu = sum(cpu_s(p) for p in pids) - cpu0
        rss_end = sum(rss_kib(p) for p in pids)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(120)
    final = [ln for ln in err.read_text().splitlines() if "stopped;" in ln]
    line = final[-1] if final else ""

    def num(label: str) -> int:
        m = re.search(rf"{label} (\d+)", line)
        return int(m.group(1)) if m else -1

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        execs = conn.execute(
            "SELECT count(*) FROM process_events WHERE path = '/usr/bin/true' AND cmdline = 'true'"
        ).fetchone()[0]
        tree_rows = live_rows = -1
        if tree:
            tree_rows = conn.execute("SELECT count(*) FROM process_tree").fetchone()[0]
            live_rows = conn.execute("SELECT count(*) FROM process_tree WHERE exit_time IS NULL").fetchone()[
                0
            ]
            storm_rows = conn.execute(
                "SELECT count(*), sum(exit_source = 'exit_group') FROM process_tree WHERE path = '/usr/bin/true'"
            ).fetchone()
        else:
            storm_rows = (-1, -1)
    finally:
        conn.close()
    return {
        "name": name,
        "storm": storm_out,
        "storm_s": storm_s,
        "cpu_s": cpu,
        "rss_start_mib": rss_start / 1024,
        "rss_max_mib": max((r for _, r in samples), default=0) / 1024,
        "rss_end_mib": rss_end / 1024,
        "rss_curve": [(round(t), round(r / 1024, 1)) for t, r in samples[:: max(1, len(samples) // 12)]],
        "events": num("events"),
        "kernel_lost": num("kernel lost"),
        "user_drops": num("user drops"),
        "execs_stored": execs,
        "tree_rows": tree_rows,
        "tree_live": live_rows,
        "storm_tree_rows": storm_rows,
        "exit_code": agent.returncode,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--inflight", type=int, default=2)
    ap.add_argument("--only", choices=tuple(CONFIGS), action="append", help="run only these (repeatable)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("proctree.py: needs root (it runs auditsql run as the audit daemon)")
    with tempfile.TemporaryDirectory(prefix="proctree-bench-") as tmpdir, open(LOCK_FILE, "a") as lock:
        tmp = Path(tmpdir)
        storm = build(tmp)
        print(f"waiting for {LOCK_FILE} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = []
        for name in CONFIGS:
            if args.only and name not in args.only:
                continue
            r = run_one(name, storm, args.count, args.inflight, tmp)
            results.append(r)
            print(f"\n== auditsql run, {name}: [tables] {CONFIGS[name].strip()} ==", flush=True)
            for k, v in r.items():
                if k != "name":
                    print(f"  {k}: {v}", flush=True)
    print(
        "\n| config | storm s | agent CPU s | RSS start/max/end MiB | events | kernel lost | user drops "
        "| execs stored | tree rows (storm, exit_group) | tree live at end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['storm_s']:.1f} | {r['cpu_s']:.1f} | {r['rss_start_mib']:.1f}/"
            f"{r['rss_max_mib']:.1f}/{r['rss_end_mib']:.1f} | {r['events']} | {r['kernel_lost']} | "
            f"{r['user_drops']} | {r['execs_stored']} | {r['storm_tree_rows']} | {r['tree_live']} |"
        )
    off = next((r for r in results if r["name"] == "tree-off"), None)
    if off and off["cpu_s"] > 0:
        for r in results:
            if r is not off:
                print(
                    f"{r['name']}: agent CPU {r['cpu_s'] / off['cpu_s']:.2f}x the tree off's (target <= 1.3x); "
                    f"storm {off['storm_s'] / r['storm_s']:.2f}x its rate"
                )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fleet benchmark: events/s from agents through NATS JetStream into ``auditsql collect``, with latency.

Phases (each on a fresh ``nats-server -js`` on loopback, started and stopped by pid):

- ``ceiling``: the peer figure: raw nats-py JetStream publishes (asynchronous, a window of 1024 awaited acks,
  a ``Nats-Msg-Id`` each) of payloads the size of an agent's average message: the transport's ceiling from
  one Python process. (The ``nats`` CLI's ``nats bench`` is used too when it is installed.)
- ``agent alone``: one ``auditsql run --source plugin`` fed N exec events at the maximum rate, NATS off:
  the agent's own speed, the baseline for the next line.
- ``1 agent``: the same with ``[output.nats]`` on and ``auditsql collect`` running: agent wall time, and
  end-to-end events/s (agent start to the last row committed centrally).
- ``10 agents``: ten such agents at once (distinct hosts), N/10 events each.
- ``live``: ``auditsql run`` on the kernel (unicast, builtin rules) with NATS on while benchmarks/c/loadgen
  execs ``/bin/true`` at ``--rate`` per second (3000) for ``--seconds``; user-space loss is the agent's
  ``user drops``, ``queue_drop``/``output_drop``/``spool_drop`` counters, and rows missing centrally.
  Holds /tmp/auditsql-live-tests.lock (the kernel tests' lock); ``auditsql run`` restores the kernel on exit
  and the benchmark checks ``auditctl -s``/``-l`` against what it found.

Latency: enqueue in the agent's NATS output to commit in the collector, per message (p50/p90/p99/max).
Counts are exact: the central ``process_events`` rows by host and distinct eid against what was fed.

With ``--central``, only the central store phases run instead (benchmarks/fleet_pg.py): ten agents into
PostgreSQL with one and two collectors beside the SQLite collector (rows/s, bytes per event, latency), and three
fleet questions over 10M rows.

Usage: python3 benchmarks/fleet.py [--events N] [--rate R] [--seconds S] [--skip-live] [--json FILE]
       python3 benchmarks/fleet.py --central [--central-events N] [--fill-rate R] [--agent-rate R] [--latency-seconds S]
           [--query-rows N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
LOCK_FILE = "/tmp/auditsql-live-tests.lock"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"
STARTED: list[subprocess.Popen] = []


def say(msg: str) -> None:
    print(f"fleet.py: {msg}", file=sys.stderr, flush=True)


def fh(path: Path, mode: str = "wb") -> Any:
    """A file handed to a child process (it stays open for the child's life)."""
    return open(path, mode)  # noqa: SIM115


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        store = tmp / f"js-{self.port}"
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        STARTED.append(self.proc)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("fleet.py: nats-server did not start")

    def stop(self) -> None:
        stop_proc(self.proc)


def stop_proc(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def feed_file(path: Path, n: int) -> None:
    from tests.agent.test_schedule import exec_lines

    now = int(time.time()) + 600  # near now: the live assembler's time window must not split events
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(
                "\n".join(exec_lines(1000 + i, 10000 + i % 30000, ["/bin/echo", f"bench-{i}"], now)) + "\n"
            )


def agent_cfg(d: Path, url: str | None, host: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "agent.toml"
    text = "[status]\ninterval = 0\nstats_file = ''\n[tables]\nprocess_tree = false\n"
    if url:
        text += (
            f'[output.nats]\nenabled = true\nurl = "{url}"\nhost = "{host}"\nspool_dir = "{d / "spool"}"\n'
        )
    cfg.write_text(text)
    return cfg


def start_agent(d: Path, cfg: Path, feed: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
         "--results-log", "", "--no-resolve-ids"],
        stdin=fh(feed, "rb"), stdout=subprocess.DEVNULL, stderr=fh(d / "stderr"),
    )  # fmt: skip
    STARTED.append(proc)
    return proc


def start_collector(tmp: Path, url: str, name: str) -> tuple[subprocess.Popen, Path, Path]:
    db, stats = tmp / f"{name}-central.db", tmp / f"{name}-collect.json"
    proc = subprocess.Popen(
        [AUDITSQL, "collect", "--nats", url, "--db", str(db), "--status-interval", "0", "--stats-file", str(stats)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fh(tmp / f"{name}-collect.stderr"),
    )  # fmt: skip
    STARTED.append(proc)
    return proc, db, stats


def count(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def central_rows(db: Path) -> int:
    r = count(db, "SELECT count(*) FROM process_events")
    return int(r[0][0]) if r else 0


def wait_rows(db: Path, expect: int, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if central_rows(db) >= expect:
            return time.monotonic()
        time.sleep(0.05)
    return None


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


# -- phases -------------------------------------------------------------------------------------------------


def ceiling(url: str, n: int, size: int) -> float:
    """Raw nats-py JetStream publish rate (window of 1024 awaited acks), msgs/s."""
    from auditsql.fleet.connect import NatsOptions, connect, ensure_stream

    async def main() -> float:
        opts = NatsOptions(url=url, stream="CEILING", subject_prefix="ceiling")
        nc = await connect(opts, "bench")
        await ensure_stream(nc, opts)
        js = nc.jetstream(publish_async_max_pending=4096)
        payload = b"x" * size
        t0 = time.monotonic()
        for start in range(0, n, 1024):
            futs = [
                await js.publish_async("ceiling.h.t", payload, headers={"Nats-Msg-Id": f"m{i}"})
                for i in range(start, min(n, start + 1024))
            ]
            await asyncio.gather(*futs)
        rate = n / (time.monotonic() - t0)
        await nc.close()
        return rate

    return asyncio.run(main())


def fleet_phase(tmp: Path, name: str, agents: int, per_agent: int, nats: bool) -> dict[str, Any]:
    feed = tmp / f"feed-{per_agent}.log"
    if not feed.exists():
        feed_file(feed, per_agent)
    srv = Server(tmp) if nats else None
    coll = db = stats = None
    if srv is not None:
        coll, db, stats = start_collector(tmp, srv.url, name)
        time.sleep(0.5)
    try:
        t0 = time.monotonic()
        procs = []
        for i in range(agents):
            d = tmp / f"{name}-agent{i}"
            procs.append((d, start_agent(d, agent_cfg(d, srv.url if srv else None, f"host-{i}.bench"), feed)))
        ends = []
        for d, p in procs:
            if p.wait(600) != 0:
                raise SystemExit(f"fleet.py: agent failed: {(d / 'stderr').read_text()[-2000:]}")
            ends.append(time.monotonic())
        agent_s = max(ends) - t0
        total = agents * per_agent
        out: dict[str, Any] = {"phase": name, "agents": agents, "events": total, "agent_s": agent_s}
        out["agent_events_s"] = total / agent_s
        if srv is not None and db is not None and stats is not None and coll is not None:
            t1 = wait_rows(db, total, 300)
            time.sleep(1.0)
            stop_proc(coll)
            s = read_json(stats)
            got = count(db, "SELECT host, count(*), count(DISTINCT eid) FROM process_events GROUP BY host")
            out["e2e_s"] = None if t1 is None else t1 - t0
            out["e2e_events_s"] = None if t1 is None else total / (t1 - t0)
            out["latency"] = s.get("latency", {})
            out["messages"] = s.get("messages")
            out["exact"] = got == sorted((f"host-{i}.bench", per_agent, per_agent) for i in range(agents))
            spooled = []
            for d, _p in procs:
                err = (d / "stderr").read_text()
                spooled.append("spooling" in err)
            out["spooled_agents"] = sum(spooled)
        return out
    finally:
        if coll is not None:
            stop_proc(coll)
        if srv is not None:
            srv.stop()


def auditctl(*args: str) -> str:
    return subprocess.run(["auditctl", *args], capture_output=True, text=True, check=False).stdout


def live_phase(tmp: Path, rate: int, seconds: float) -> dict[str, Any]:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("fleet.py: gcc is needed to build benchmarks/c/loadgen.c")
    loadgen = tmp / "loadgen"
    subprocess.run([gcc, "-O2", "-Wall", "-o", str(loadgen), str(HERE / "c" / "loadgen.c")], check=True)
    nobody = 65534
    with open(LOCK_FILE, "a") as lock:
        say(f"waiting for {LOCK_FILE}")
        fcntl.flock(lock, fcntl.LOCK_EX)
        before_s, before_l = auditctl("-s"), auditctl("-l")
        srv = Server(tmp)
        coll, db, stats = start_collector(tmp, srv.url, "live")
        d = tmp / "live-agent"
        cfg = agent_cfg(d, srv.url, "live.bench")
        agent = subprocess.Popen(
            [AUDITSQL, "run", "--config", str(cfg), "--db", str(d / "agent.db"), "--results-log", "",
             "--source", "unicast", "--state-file", str(d / "state.json"), "--stats-file", str(d / "stats.json"),
             "--status-interval", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fh(d / "stderr"),
        )  # fmt: skip
        STARTED.append(agent)
        try:
            deadline = time.monotonic() + 30
            while "running (" not in (d / "stderr").read_text():
                if agent.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"fleet.py: the live agent did not start: {(d / 'stderr').read_text()}")
                time.sleep(0.1)
            time.sleep(1.0)
            res = subprocess.run(
                [str(loadgen), str(nobody), str(nobody), str(rate), str(seconds)],
                capture_output=True, text=True, check=True, timeout=seconds + 60,
            )  # fmt: skip
            gen = dict(kv.split("=") for kv in res.stdout.split())
            time.sleep(4.0)  # the last events close (time window), the output sends
            stop_proc(agent, 60)
            t_end = time.monotonic()
            local = count(
                d / "agent.db", "SELECT count(*) FROM process_events WHERE auid IS NOT NULL AND uid = 65534"
            )
            local_n = int(local[0][0]) if local else 0
            wait_rows(db, central_rows(d / "agent.db"), 120)
            time.sleep(1.0)
            stop_proc(coll)
            central = count(db, "SELECT count(*) FROM process_events WHERE uid = 65534")
            central_n = int(central[0][0]) if central else 0
            err = (d / "stderr").read_text()
            last = [ln for ln in err.splitlines() if "stopped;" in ln]
            s = read_json(stats)
            agent_stats = read_json(d / "stats.json")
            return {
                "phase": "live",
                "rate": rate,
                "generated": int(gen.get("execs", 0)),
                "gen_rate": float(gen.get("rate", 0)),
                "local_rows": local_n,
                "central_rows": central_n,
                "drain_s": t_end,
                "latency": s.get("latency", {}),
                "agent_loss": agent_stats.get("loss", {}),
                "status": last[-1] if last else err[-500:],
            }
        finally:
            stop_proc(agent, 60)
            stop_proc(coll)
            srv.stop()
            after_s, after_l = auditctl("-s"), auditctl("-l")
            if after_l != before_l or _knobs(after_s) != _knobs(before_s):
                say(f"WARNING: kernel state differs after the run:\n{after_s}\n{after_l}")


def _knobs(text: str) -> dict[str, str]:
    keep = ("enabled", "pid", "rate_limit", "backlog_limit", "backlog_wait_time", "failure")
    return {k: v for k, v in (ln.split(" ", 1) for ln in text.splitlines() if " " in ln) if k in keep}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20000, help="events fed in the one-agent phases")
    ap.add_argument("--rate", type=int, default=3000, help="exec/s in the live phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the live load")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--central", action="store_true", help="run the central store phases only (fleet_pg.py)")
    ap.add_argument("--central-events", type=int, default=50000, help="events each of the 10 agents replays")
    ap.add_argument("--agent-rate", type=int, default=50, help="events/s per agent in the latency phases")
    ap.add_argument("--fill-rate", type=int, default=400, help="events/s per agent filling the stream")
    ap.add_argument("--latency-seconds", type=float, default=15.0, help="length of each latency phase")
    ap.add_argument("--query-rows", type=int, default=10_000_000, help="rows per table for the questions")
    args = ap.parse_args()
    if args.central:
        from benchmarks import fleet_pg

        with tempfile.TemporaryDirectory(prefix="auditsql-fleet-bench-") as t:
            fleet_pg.run(Path(t), args)
        return
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="auditsql-fleet-bench-") as t:
        tmp = Path(t)
        try:
            srv = Server(tmp)
            try:
                rate = ceiling(srv.url, 50000, 1500)
            finally:
                srv.stop()
            results.append({"phase": "ceiling", "msgs_s": rate})
            print(f"peer: nats-py JetStream publish, window 1024, 1500-byte messages: {rate:,.0f} msgs/s")
            if shutil.which("nats"):
                print("peer: the nats CLI is installed; run `nats bench` for the Go client's figure")
            else:
                print("peer: no `nats` CLI here (nats bench): the nats-py ceiling above is the peer figure")
            for name, agents, per, nats in (
                ("agent alone", 1, args.events, False),
                ("1 agent", 1, args.events, True),
                ("10 agents", 10, args.events // 10, True),
            ):
                r = fleet_phase(tmp, name.replace(" ", "-"), agents, per, nats)
                results.append(r)
                line = f"{name:12} {r['events']:>7} events: agent {r['agent_events_s']:>8,.0f} events/s"
                if nats:
                    lat = r.get("latency") or {}
                    line += (
                        f"; end to end {r['e2e_events_s'] or 0:>8,.0f} events/s ({r['messages']} messages); "
                        f"latency p50 {ms(lat.get('p50'))} p90 {ms(lat.get('p90'))} p99 {ms(lat.get('p99'))} "
                        f"max {ms(lat.get('max'))} ms; exactly once: {r['exact']}; agents that spooled: "
                        f"{r['spooled_agents']}"
                    )
                print(line, flush=True)
            if not args.skip_live:
                r = live_phase(tmp, args.rate, args.seconds)
                results.append(r)
                lat = r.get("latency") or {}
                print(
                    f"live {args.rate}/s for {args.seconds:g} s: generated {r['generated']} execs "
                    f"({r['gen_rate']:.0f}/s); stored locally {r['local_rows']}, centrally {r['central_rows']}; "
                    f"latency p50 {ms(lat.get('p50'))} p99 {ms(lat.get('p99'))} max {ms(lat.get('max'))} ms; "
                    f"agent loss {r['agent_loss']}\n  agent: {r['status']}",
                    flush=True,
                )
        finally:
            for p in STARTED:
                if p.poll() is None:
                    stop_proc(p)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

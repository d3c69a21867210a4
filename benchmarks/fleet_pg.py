"""The central store phases of benchmarks/fleet.py (``--central``): PostgreSQL beside the SQLite collector.

One run, on a private PostgreSQL cluster (tests/pgcluster.py: initdb + pg_ctl on a temp dir, loopback, stopped by
its pid) with durable settings (``fsync`` and ``synchronous_commit`` on, as in production; only the sizes are
raised: ``shared_buffers`` 1 GB, ``max_wal_size`` 8 GB) and a fresh ``nats-server -js`` per phase:

- ``ingest``: ten real agents (``auditsql run --source plugin``, distinct hosts, NATS on) replay events built
  from real corpus events (benchmarks/replay.py: execve, connect and PAM events, new serials, stamped now), fed
  at ``--fill-rate`` events/s each (a busy host: the agents' messages are batched as at that rate, not as at
  full speed, where one message holds up to 1024 events), into the stream while no collector runs; then the same stream is drained three times, each by a fresh durable: one
  SQLite collector (``--db``), one PostgreSQL collector (``--store``), two PostgreSQL collectors sharing one
  durable. rows/s = the rows stored (every table) / the time from the first to the last row committed, so the
  figure is the collectors' and the database's, not the agents' (ten agents on 2 CPUs cannot produce as fast as a
  collector stores). Each store is checked afterwards: every table's rows equal the agents' own stores (exactly
  once). Bytes per event: every relation of the schema (tables, indexes, TOAST) / the events.
- ``latency``: the ten agents fed at ``--agent-rate`` events/s each for ``--latency-seconds`` while the
  collector(s) run: end-to-end latency (agent enqueue → central commit) p50/p99 from the collectors' stats files,
  for each of the three set-ups.
- ``questions``: ``--query-rows`` rows (10M) written straight into ``process_events`` and as many into
  ``socket_events`` with ``INSERT ... SELECT ... FROM generate_series`` (1000 hosts, 500 programs, 10,000
  remote addresses, times spread over the last 7 days in order, as collectors write them: day partitions, all
  the schema's indexes), ANALYZE, then three fleet questions, each run three times through the query engine of
  ``auditsql query --store`` (median and first): events per host in the last hour; the hosts that ran a given
  path; the connections to one address.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import benchmarks.fleet as fleet
from benchmarks.replay import CYCLE, collect_templates
from tests.pgcluster import PgCluster

#: the benchmark's server: durable like production (fsync, synchronous_commit on); sizes for a bulk load
BENCH_SETTINGS = (
    "-c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c max_connections=60 "
    "-c work_mem=64MB -c maintenance_work_mem=512MB"
)
AGENTS = 10
#: the storage tables the agents write (the central store's, without query_results)
TABLES = (
    "audit_events_data",
    "process_events",
    "process_file_events",
    "socket_events",
    "user_events",
    "selinux_events",
    "apparmor_events",
    "seccomp_events",
    "audit_loss",
)
QUESTIONS = (
    ("events per host in the last hour",
     "SELECT host, count(*) AS n FROM process_events WHERE time >= unixepoch() - 3600 GROUP BY host"),
    ("hosts that ran /usr/bin/p7", "SELECT DISTINCT host FROM process_events WHERE path = '/usr/bin/p7'"),
    ("connections to 203.0.7.42",
     "SELECT host, time, pid, path, remote_port FROM socket_events WHERE remote_address = '203.0.7.42' ORDER BY time"),
)  # fmt: skip
TARGET_PG_X = 5.0
TARGET_TWO_X = 1.6
TARGET_QUESTION_S = 1.0


@functools.cache
def templates() -> dict[str, Any]:
    return collect_templates()


def events(n: int, start: float | None = None) -> list[bytes]:
    """``n`` events replayed from the corpus (replay.py's cycle of execve, connect and PAM events), each one
    block of record lines with a new serial, stamped from ``start`` (now) on, 1 ms apart."""
    cats = templates()
    idx = dict.fromkeys(cats, 0)
    t = int((time.time() if start is None else start) * 1000)
    out = []
    for i in range(n):
        cat = CYCLE[i % len(CYCLE)]
        tpl = cats[cat][idx[cat] % len(cats[cat])]
        idx[cat] += 1
        stamp = b"%d.%03d:%d" % ((t + i) // 1000, (t + i) % 1000, 1000 + i)
        out.append(b"".join(a + stamp + b for a, b in tpl.parts))
    return out


def storage_counts(kind: str, where: str | Path) -> dict[str, int]:
    """Rows per storage table of a SQLite store (a path) or the PostgreSQL store (a URL)."""
    if kind == "sqlite":
        out = {}
        for t in TABLES:
            r = fleet.count(Path(where), f"SELECT count(*) FROM {t}")
            out[t] = int(r[0][0]) if r else 0
        return out
    import psycopg

    with psycopg.connect(str(where), autocommit=True, options="-c search_path=auditsql") as c:
        return {t: int(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}


def pg_events(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, options="-c search_path=auditsql", connect_timeout=5) as c:
            return int(c.execute("SELECT count(*) FROM audit_events_data").fetchone()[0])
    except psycopg.Error:
        return 0


def central_events(kind: str, where: str | Path) -> int:
    if kind == "sqlite":
        r = fleet.count(Path(where), "SELECT count(*) FROM audit_events_data")
        return int(r[0][0]) if r else 0
    return pg_events(str(where))


def pg_bytes(url: str) -> int:
    """Every relation of the schema: tables (leaf partitions), their indexes and TOAST."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        return int(
            c.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'auditsql' AND c.relkind = 'r'"
            ).fetchone()[0]
        )


def start_collectors(
    tmp: Path, nats: str, kind: str, where: str | Path, n: int, durable: str
) -> list[tuple[Any, Path]]:
    out = []
    for i in range(n):
        stats = tmp / f"{durable}-{i}.json"
        target = ["--db", str(where)] if kind == "sqlite" else ["--store", str(where)]
        proc = subprocess.Popen(
            [fleet.AUDITSQL, "collect", "--nats", nats, *target, "--durable", durable, "--status-interval", "0",
             "--stats-file", str(stats)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fleet.fh(tmp / f"{durable}-{i}.stderr"),
        )  # fmt: skip
        fleet.STARTED.append(proc)
        out.append((proc, stats))
    return out


def migrate(url: str) -> None:
    subprocess.run([fleet.AUDITSQL, "collect", "--store", url, "--migrate"], check=True, capture_output=True)


def start_agents(tmp: Path, name: str, nats: str, stdin: Any) -> list[tuple[Path, Any]]:
    out = []
    for i in range(AGENTS):
        d = tmp / f"{name}-agent{i}"
        cfg = fleet.agent_cfg(d, nats, f"host-{i}.bench")
        proc = subprocess.Popen(
            [fleet.AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
             "--results-log", "", "--no-resolve-ids"],
            stdin=stdin(i), stdout=subprocess.DEVNULL, stderr=fleet.fh(d / "stderr"),
        )  # fmt: skip
        fleet.STARTED.append(proc)
        out.append((d, proc))
    return out


def wait_agents(agents: list[tuple[Path, Any]]) -> None:
    for d, p in agents:
        if p.wait(900) != 0:
            raise SystemExit(f"fleet.py: agent failed: {(d / 'stderr').read_text()[-2000:]}")


def agent_counts(agents: list[tuple[Path, Any]]) -> dict[str, int]:
    total = dict.fromkeys(TABLES, 0)
    for d, _p in agents:
        for t, n in storage_counts("sqlite", d / "agent.db").items():
            total[t] += n
    return total


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of ``pid`` (with ``children``: also that of its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int | None) -> float:
    """The PostgreSQL server's CPU so far: the postmaster with its reaped children (backends that ended) and its
    live children (background workers, backends still connected)."""
    if pid is None:
        return 0.0
    total = cpu_seconds(pid, children=True)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                total += cpu_seconds(int(d.name))
    return total


def acked(
    nats_url: str, durable: str, total: int, timeout: float = 900
) -> tuple[float | None, float | None, int]:
    """Watch the durable consumer (a cheap poll that does not load the store): when its first message was
    acknowledged (after its commit) and when all ``total`` were; and the stream's message count."""
    import asyncio

    import nats
    from nats.js.errors import NotFoundError

    async def watch() -> tuple[float | None, float | None, int]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        first = None
        msgs = (await js.stream_info("AUDITSQL")).state.messages
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    info = await js.consumer_info("AUDITSQL", durable)
                except NotFoundError:
                    info = None
                now = time.monotonic()
                done = info.ack_floor.stream_seq or 0 if info is not None else 0
                if done and first is None:
                    first = now
                if done >= total:
                    return first, now, msgs
                await asyncio.sleep(0.05)
            return first, None, msgs
        finally:
            await nc.close()

    return asyncio.run(watch())


def stream_last(nats_url: str) -> int:
    import asyncio

    import nats

    async def last() -> int:
        nc = await nats.connect(nats_url)
        try:
            return int((await nc.jetstream().stream_info("AUDITSQL")).state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(last())


def drain(
    tmp: Path,
    nats: str,
    kind: str,
    where: str | Path,
    n: int,
    durable: str,
    want: dict[str, int],
    server: int | None = None,
) -> dict[str, Any]:
    """Start ``n`` collectors on a stream already holding every message; time them storing it all (from the first
    acknowledgement to the last: every acknowledgement follows its commit)."""
    events, rows = want["audit_events_data"], sum(want.values())
    last_seq = stream_last(nats)
    server_before = server_cpu(server)
    t0 = time.monotonic()
    procs = start_collectors(tmp, nats, kind, where, n, durable)
    collector_cpu = 0.0
    try:
        first, last, msgs = acked(nats, durable, last_seq)
        collector_cpu = sum(cpu_seconds(p.pid) for p, _s in procs)
    finally:
        for p, _s in procs:
            fleet.stop_proc(p)
    time.sleep(0.5)  # the collectors' backends end and are reaped
    got_rows = storage_counts(kind, where)
    out: dict[str, Any] = {
        "collectors": n, "rows": rows, "events": events, "messages": msgs, "exact": got_rows == want,
    }  # fmt: skip
    # CPU seconds per million rows (collectors: from their start, Python's start-up included)
    out["collector_cpu_s_per_mrow"] = collector_cpu / rows * 1e6
    if server is not None:
        out["server_cpu_s_per_mrow"] = (server_cpu(server) - server_before) / rows * 1e6
    if first is not None and last is not None and last > first:
        out["rows_s"] = rows / (last - first)
        out["with_start_rows_s"] = rows / (last - t0)
        out["seconds"] = last - first
    if kind == "sqlite":
        size = sum(Path(str(where) + s).stat().st_size for s in ("", "-wal") if Path(str(where) + s).exists())
    else:
        size = pg_bytes(str(where))
    out["bytes_per_event"] = size / events if events else None
    return out


def feed_agents(procs: list[tuple[Path, Any]], blocks: list[list[bytes]], rate: int, seconds: float) -> None:
    """Write each agent's events to its stdin at ``rate`` events/s (10 ticks a second), then close it."""

    def feed(proc: Any, mine: list[bytes]) -> None:
        per_tick = max(1, rate // 10)
        start = time.monotonic()
        for k in range(0, len(mine), per_tick):
            proc.stdin.write(b"".join(mine[k : k + per_tick]))
            proc.stdin.flush()
            pause = start + (k // per_tick + 1) / 10 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        proc.stdin.close()

    threads = [threading.Thread(target=feed, args=(p, b)) for (_d, p), b in zip(procs, blocks, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def latency(
    tmp: Path, name: str, kind: str, where: str | Path, n: int, rate: int, seconds: float
) -> dict[str, Any]:
    srv = fleet.Server(tmp)
    try:
        procs = start_collectors(tmp, srv.url, kind, where, n, f"lat-{name}")
        time.sleep(1.0)
        per = int(rate * seconds)
        blocks = [events(per) for _ in range(AGENTS)]
        before = central_events(kind, where)
        agents = start_agents(tmp, f"lat-{name}", srv.url, lambda i: subprocess.PIPE)
        t0 = time.monotonic()
        feed_agents(agents, blocks, rate, seconds)
        wait_agents(agents)
        want = before + sum(int(agent_counts([a])["audit_events_data"]) for a in agents)
        deadline = time.monotonic() + 300
        while central_events(kind, where) < want and time.monotonic() < deadline:
            time.sleep(0.2)
        done = time.monotonic()
        time.sleep(1.5)  # the stats files are written every second
        for p, _s in procs:
            fleet.stop_proc(p)
        lats = [fleet.read_json(s).get("latency") or {} for _p, s in procs]
        return {
            "events": AGENTS * per,
            "offered_events_s": AGENTS * rate,
            "e2e_s": done - t0,
            "complete": central_events(kind, where) >= want,
            # two collectors: the worse of their percentiles
            "p50": max((x.get("p50", 0) for x in lats), default=None),
            "p99": max((x.get("p99", 0) for x in lats), default=None),
        }
    finally:
        srv.stop()


def questions(url: str, rows: int) -> dict[str, Any]:
    """``rows`` rows into process_events and into socket_events by generate_series, then the three questions."""
    import psycopg

    from auditsql.query.pg import PgEngine

    now = int(time.time())
    t0, span = now - 7 * 86400, 7 * 86400
    days = list(range(t0 // 86400, now // 86400 + 1))
    host = "'host-' || lpad(((g + g / 500) % 1000)::text, 4, '0') || '.bench'"
    at = f"({t0} + (g::bigint * {span}) / {rows})"
    out: dict[str, Any] = {"rows": rows}
    with psycopg.connect(url, autocommit=True, options="-c search_path=auditsql") as c:
        for t in ("process_events", "socket_events"):
            c.execute("SELECT auditsql_partitions(%s, %s)", (t, days))
        t = time.monotonic()
        c.execute(
            "INSERT INTO process_events (host, pid, path, cmdline, cwd, auid, uid, euid, gid, egid, parent, syscall, "
            "argc, status, ses, tty, comm, time, uptime, eid) "
            f"SELECT {host}, 1000 + g % 30000, '/usr/bin/p' || (g % 500), '/usr/bin/p' || (g % 500) || ' --flag ' || g, "
            "'/home/u', 1000 + g % 50, 1000 + g % 50, 1000 + g % 50, 1000, 1000, 900 + g % 30000, 'execve', 3, "
            f"'success', g % 1000, 'pts0', 'p' || (g % 500), {at}, g, {at}::text || '.000:' || g "
            f"FROM generate_series(0, {rows} - 1) g"
        )
        c.execute(
            "INSERT INTO socket_events (host, action, pid, path, fd, auid, status, family, protocol, local_address, "
            "remote_address, local_port, remote_port, success, syscall, uid, euid, gid, ses, comm, time, uptime, eid) "
            f"SELECT {host}, 'connect', 1000 + g % 30000, '/usr/bin/curl', 3, 1000, 'success', 2, 6, "
            "'10.0.' || (g % 250) || '.' || (g / 250 % 200), '203.0.' || (g % 40) || '.' || (g / 40 % 250), "
            f"30000 + g % 30000, 443, 1, 'connect', 1000, 1000, 1000, g % 1000, 'curl', {at}, g, "
            f"{at}::text || '.000:' || g FROM generate_series(0, {rows} - 1) g"
        )
        out["load_s"] = time.monotonic() - t
        c.execute("ANALYZE process_events, socket_events")
    with PgEngine(url, timeout=60) as eng:
        for label, q in QUESTIONS:
            times, n = [], 0
            for _ in range(3):
                t = time.monotonic()
                n = len(eng.execute(q)[1])
                times.append(time.monotonic() - t)
            out[label] = {"first_s": times[0], "median_s": statistics.median(times), "rows": n}
    return out


def run(tmp: Path, args: Any) -> list[dict[str, Any]]:
    """Every central phase; prints each figure beside its target and the SQLite collector's."""
    load = os.getloadavg()
    print(f"central: load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 CPUs, shared)")
    cluster = PgCluster().init().start(BENCH_SETTINGS)
    results: list[dict[str, Any]] = []
    try:
        urls = {name: cluster.url(db=cluster.create_db(name)) for name in ("pg1", "pg2", "lat1", "lat2", "q")}
        for u in urls.values():
            migrate(u)
        # -- ingest: fill the stream with ten agents, then drain it three times -------------------------------
        per = args.central_events
        srv = fleet.Server(tmp)
        try:
            blocks = [events(per) for _ in range(AGENTS)]
            t = time.monotonic()
            agents = start_agents(tmp, "fill", srv.url, lambda i: subprocess.PIPE)
            feed_agents(agents, blocks, args.fill_rate, per / args.fill_rate)
            wait_agents(agents)
            fill_s = time.monotonic() - t
            want = agent_counts(agents)
            rows = sum(want.values())
            print(
                f"central: {AGENTS} agents replayed {AGENTS * per:,} corpus events ({rows:,} rows, "
                f"{', '.join(f'{k} {v:,}' for k, v in want.items() if v)}) into the stream in {fill_s:.1f} s "
                f"({args.fill_rate} events/s per agent offered; no collector running)",
                flush=True,
            )
            runs = {
                "sqlite": drain(tmp, srv.url, "sqlite", tmp / "central.db", 1, "drain-sqlite", want),
                "pg1": drain(tmp, srv.url, "pg", urls["pg1"], 1, "drain-pg1", want, cluster.pid),
                "pg2": drain(tmp, srv.url, "pg", urls["pg2"], 2, "drain-pg2", want, cluster.pid),
            }
        finally:
            srv.stop()
        lite = runs["sqlite"].get("rows_s") or 0
        for name, r in runs.items():
            results.append({"phase": f"ingest {name}", **r})
        for name, label in (("sqlite", "SQLite, 1 collector"), ("pg1", "PostgreSQL, 1 collector"),
                            ("pg2", "PostgreSQL, 2 collectors")):  # fmt: skip
            r = runs[name]
            rate = r.get("rows_s") or 0
            line = (
                f"ingest {label:25} {rate:>9,.0f} rows/s ({r.get('seconds', 0):.1f} s first to last row; "
                f"{r.get('with_start_rows_s', 0):,.0f} with the collectors' start; {r['messages']:,} messages); "
                f"{r['bytes_per_event']:,.0f} "
                f"bytes/event; exactly once: {r['exact']}; CPU s per million rows: collectors "
                f"{r['collector_cpu_s_per_mrow']:.1f}"
                + (f", PostgreSQL {r['server_cpu_s_per_mrow']:.1f}" if "server_cpu_s_per_mrow" in r else "")
            )
            if name == "pg1":
                line += f"; {rate / lite if lite else 0:.2f}x SQLite (target >= {TARGET_PG_X:g}x)"
            if name == "pg2":
                one = runs["pg1"].get("rows_s") or 0
                line += (
                    f"; {rate / one if one else 0:.2f}x one collector (target >= {TARGET_TWO_X:g}x), "
                    f"{rate / lite if lite else 0:.2f}x SQLite"
                )
            print(line, flush=True)
        # -- latency ------------------------------------------------------------------------------------------
        for name, label, kind, where, n in (
            ("sqlite", "SQLite, 1 collector", "sqlite", tmp / "lat-central.db", 1),
            ("pg1", "PostgreSQL, 1 collector", "pg", urls["lat1"], 1),
            ("pg2", "PostgreSQL, 2 collectors", "pg", urls["lat2"], 2),
        ):
            r = latency(tmp, name, kind, where, n, args.agent_rate, args.latency_seconds)
            results.append({"phase": f"latency {name}", **r})
            print(
                f"latency {label:25} {AGENTS} agents x {args.agent_rate} events/s for {args.latency_seconds:g} s: "
                f"p50 {fleet.ms(r['p50'])} ms, p99 {fleet.ms(r['p99'])} ms; all stored after {r['e2e_s']:.1f} s: "
                f"{r['complete']}",
                flush=True,
            )
        # -- questions ----------------------------------------------------------------------------------------
        q = questions(urls["q"], args.query_rows)
        results.append({"phase": "questions", **q})
        print(
            f"questions: {args.query_rows:,} rows into process_events and {args.query_rows:,} into socket_events by "
            f"generate_series in {q['load_s']:.0f} s (not through collectors)",
            flush=True,
        )
        for label, _q in QUESTIONS:
            r = q[label]
            print(
                f"question {label:34} median {r['median_s'] * 1000:>7.1f} ms (first {r['first_s'] * 1000:.1f} ms), "
                f"{r['rows']} rows; target < {TARGET_QUESTION_S:g} s: {r['median_s'] < TARGET_QUESTION_S}; "
                "SQLite: not measured (10M rows into SQLite is beyond this run's budget)",
                flush=True,
            )
        load = os.getloadavg()
        print(f"central: load average after the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        for p in fleet.STARTED:
            if p.poll() is None:
                fleet.stop_proc(p)
        cluster.remove()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results

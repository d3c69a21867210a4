"""The fleet into PostgreSQL end to end: ``auditsql run`` agents (plugin source, separate processes) publishing
through a real ``nats-server -js`` to two ``auditsql collect --store postgresql://...`` sharing one durable
consumer, into a private PostgreSQL cluster (tests/pgcluster.py).

- 3 agents, 2 collectors, one collector killed with -9 mid-stream and restarted: every row exactly once, and
  the rows in PostgreSQL equal the union of the agents' own stores;
- PostgreSQL stopped for 30 s mid-stream: the collectors hold their batches unacknowledged (the consumer's
  acknowledgement floor stands still, JetStream keeps the messages), then resume; nothing lost or duplicated.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.fleet.conftest import NatsServer
from tests.fleet.test_fleet_e2e import (
    AUDITSQL,
    HOSTS,
    agent_config,
    central,
    feed,
    finish,
    start_agent,
    stop,
    wait_for,
    write,
)
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.postgres


def pg(url: str, query: str) -> list[tuple]:
    try:
        with psycopg.connect(url, autocommit=True, options="-c search_path=auditsql", connect_timeout=3) as c:
            return c.execute(query).fetchall()
    except psycopg.Error:
        return []


def pg_stored(url: str) -> int:
    rows = pg(url, "SELECT count(*) FROM process_events")
    return int(rows[0][0]) if rows else 0


def start_pg_collector(d: Path, nats_url: str, store: str, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [AUDITSQL, "collect", "--nats", nats_url, "--store", store, "--status-interval", "0",
         "--stats-file", str(d / f"{name}.json"), "--batch", "100"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(d / f"{name}.stderr", "ab"),
    )  # fmt: skip


def ack_floor(nats_url: str) -> tuple[int, int]:
    """(acknowledgement floor, messages pending or unacknowledged) of the collectors' durable consumer."""
    import nats

    async def go() -> tuple[int, int]:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().consumer_info("AUDITSQL", "auditsql-collector")
            return int(info.ack_floor.stream_seq or 0), int(info.num_pending or 0) + int(
                info.num_ack_pending or 0
            )
        finally:
            await nc.close()

    return asyncio.run(go())


def committed(d: Path) -> list[int]:
    """The collectors (1, 2) whose stats file counts committed messages."""
    out = []
    for k in (1, 2):
        try:
            if json.loads((d / f"c{k}.json").read_text())["messages"] > 0:
                out.append(k)
        except (OSError, ValueError, KeyError):
            pass
    return out


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def same_as_agents(url: str, agents: dict[str, Path], n: int) -> None:
    """Every host's rows in PostgreSQL are its agent's own, each once."""
    assert pg(
        url, "SELECT host, count(*), count(DISTINCT eid) FROM process_events GROUP BY host ORDER BY host"
    ) == [(h, n, n) for h in sorted(agents)]
    for host, d in agents.items():
        for cols, table in (
            ("eid, cmdline, path, pid", "process_events"),
            ("eid, type, blob", "audit_events_data"),
        ):
            mine = central(d / "agent.db", f"SELECT {cols} FROM {table} ORDER BY {cols}")
            theirs = pg(url, f"SELECT {cols} FROM {table} WHERE host = '{host}' ORDER BY {cols}")
            assert len(mine) >= n
            assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in theirs] == mine


def test_three_agents_two_collectors_one_killed(jetstream: NatsServer, pg_url: str, tmp_path: Path) -> None:
    n = 900
    agents: dict[str, Path] = {}
    procs = []
    for i, host in enumerate(HOSTS):
        d = tmp_path / f"agent{i}"
        agents[host] = d
        procs.append(start_agent(d, agent_config(d, jetstream.url, host)))
    colls = [start_pg_collector(tmp_path, jetstream.url, pg_url, f"c{k}") for k in (1, 2)]
    try:
        for k in range(3):
            for p in procs:
                write(p.stdin, feed(n // 3, k * (n // 3)))
            if k == 1:  # kill -9 a collector that has committed batches, mid-stream, and start it again
                wait_for(
                    lambda: pg_stored(pg_url) > 300 and committed(tmp_path) != [],
                    what="the collectors to commit rows",
                )
                victim = committed(tmp_path)[0]
                colls[victim - 1].send_signal(signal.SIGKILL)
                colls[victim - 1].wait(10)
                colls[victim - 1] = start_pg_collector(tmp_path, jetstream.url, pg_url, f"c{victim}")
        for d, p in zip(agents.values(), procs, strict=True):
            assert finish(p) == 0, (d / "stderr").read_text()
        wait_for(lambda: pg_stored(pg_url) >= n * len(HOSTS), timeout=120, what="every row in PostgreSQL")
        time.sleep(ACK_SETTLE)  # redeliveries of the killed collector's batch, if any, land now
        assert [stop(c) for c in colls] == [0, 0]
    finally:
        kill_all(colls + procs)
    same_as_agents(pg_url, agents, n)
    # both collectors took part, and the restarted one said so
    log1 = (tmp_path / f"c{victim}.stderr").read_text().splitlines()
    assert len([ln for ln in log1 if ln.startswith("auditsql: collecting (")]) == 2
    assert "; store PostgreSQL postgresql://postgres:***@127.0.0.1:" in log1[0]
    assert pg(pg_url, "SELECT count(*) FROM fleet_streams") == [(1,)]


#: seconds for the killed collector's batch to be redelivered (the consumer's ack wait is 10 s) and skipped
ACK_SETTLE = 12.0


def test_postgresql_stopped_for_30s_loses_nothing(
    jetstream: NatsServer, pg_cluster: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    n = 600
    agents = {h: tmp_path / f"agent{i}" for i, h in enumerate(HOSTS[:2])}
    procs = [start_agent(d, agent_config(d, jetstream.url, h)) for h, d in agents.items()]
    colls = [start_pg_collector(tmp_path, jetstream.url, pg_url, f"c{k}") for k in (1, 2)]
    try:
        for p in procs:
            write(p.stdin, feed(n // 3, 0))
        wait_for(lambda: pg_stored(pg_url) >= 2 * (n // 3), what="the first slice in PostgreSQL")
        wait_for(lambda: ack_floor(jetstream.url)[1] == 0, what="the first slice acknowledged")
        # both collectors past their start (schema checked): a server lost while starting is an exit 2
        wait_for(
            lambda: all("auditsql: collecting (" in (tmp_path / f"c{k}.stderr").read_text() for k in (1, 2)),
            what="both collectors running",
        )
        pg_cluster.stop()
        down = time.monotonic()
        for p in procs:
            write(p.stdin, feed(n // 3, n // 3))

        def waiting() -> list[int]:
            return [k for k in (1, 2) if "retrying every 2 s" in (tmp_path / f"c{k}.stderr").read_text()]

        wait_for(waiting, what="the collectors holding messages to wait for PostgreSQL")
        floor, pending = ack_floor(jetstream.url)
        assert pending > 0  # JetStream keeps the messages
        time.sleep(max(0.0, 30 - (time.monotonic() - down)))
        assert ack_floor(jetstream.url)[0] == floor  # nothing acknowledged while PostgreSQL was down
        assert all(c.poll() is None for c in colls)
        pg_cluster.start()
        for p in procs:
            write(p.stdin, feed(n // 3, 2 * (n // 3)))
        for d, p in zip(agents.values(), procs, strict=True):
            assert finish(p) == 0, (d / "stderr").read_text()
        wait_for(lambda: pg_stored(pg_url) >= n * len(agents), timeout=120, what="every row in PostgreSQL")
        time.sleep(ACK_SETTLE)
        assert [stop(c) for c in colls] == [0, 0]
    finally:
        if pg_cluster.pid is None:
            pg_cluster.start()
        kill_all(colls + procs)
    same_as_agents(pg_url, agents, n)
    for k in waiting():
        log = (tmp_path / f"c{k}.stderr").read_text()
        assert "is back; resuming" in log, log
    for k in (1, 2):
        assert "Traceback" not in (tmp_path / f"c{k}.stderr").read_text()

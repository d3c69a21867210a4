"""The fleet end to end: ``auditsql run`` agents (plugin source, separate processes, distinct hosts) publishing
through a real ``nats-server -js`` to ``auditsql collect``, with exact counts by host and event id.

- every event arrives exactly once in the central store, while the collector is killed with -9 and restarted;
- the server stopped mid-stream and restarted: nothing lost (the agent's spool);
- an unreachable server at start: one line, the local store fills, the spool keeps the messages;
- refused credentials: one line, exit 2, nothing started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tests import storedb
from tests.agent.test_schedule import exec_lines
from tests.fleet.conftest import NatsServer

_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"


#: event timestamps near now: the live assembler closes events older than its time window against the wall
#: clock, which would split replayed events from the past (the split is then the same locally and centrally)
NOW = int(time.time())


def feed(n: int, first: int = 0) -> bytes:
    lines: list[str] = []
    for i in range(first, first + n):
        lines += exec_lines(1000 + i, 10000 + i, ["/bin/echo", f"event-{i}"], sec=NOW + 60 + i // 1000)
    return ("\n".join(lines) + "\n").encode()


def agent_config(d: Path, url: str, host: str, **nats: object) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in nats.items())
    cfg = d / "agent.toml"
    cfg.write_text(
        "[status]\ninterval = 0\nstats_file = ''\n"
        "[tables]\nprocess_tree = false\n"
        f'[output.nats]\nenabled = true\nurl = "{url}"\nhost = "{host}"\nspool_dir = "{d / "spool"}"\n'
        + extra
    )
    return cfg


def start_agent(d: Path, cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
         "--results-log", "", "--no-resolve-ids"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(d / "stderr", "wb"),
    )  # fmt: skip


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    assert proc.stdin is not None
    proc.stdin.close()
    return proc.wait(timeout)


def write(stdin: IO[bytes] | None, data: bytes) -> None:
    assert stdin is not None
    stdin.write(data)
    stdin.flush()


def start_collector(d: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [AUDITSQL, "collect", "--nats", url, "--db", str(d / "central.db"), "--status-interval", "0",
         "--stats-file", str(d / "collect.json"), "--batch", "200"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(d / "collect.stderr", "ab"),
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def wait_for(cond: Callable[[], object], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def central(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    with storedb.connect(f"file:{db}?mode=ro", uri=True) as c:
        try:
            return c.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


def stored(db: Path) -> int:
    rows = central(db, "SELECT count(*) FROM process_events")
    return int(rows[0][0]) if rows else 0


HOSTS = ("web1.example.com", "db 2", "cache-3")


def test_agents_exactly_once_through_collector_kill9(jetstream: NatsServer, tmp_path: Path) -> None:
    n = 1500
    agents = {}
    for i, host in enumerate(HOSTS):
        d = tmp_path / f"agent{i}"
        agents[host] = (d, start_agent(d, agent_config(d, jetstream.url, host)))
    coll = start_collector(tmp_path, jetstream.url)
    db = tmp_path / "central.db"
    try:
        for k in range(3):  # three slices per agent; the collector dies during the second
            for _host, (_d, proc) in agents.items():
                write(proc.stdin, feed(n // 3, k * (n // 3)))
            if k == 1:
                wait_for(lambda: stored(db) > 300, what="the collector to commit rows")
                coll.send_signal(signal.SIGKILL)
                coll.wait(10)
                coll = start_collector(tmp_path, jetstream.url)
        for d, proc in agents.values():
            assert finish(proc) == 0, (d / "stderr").read_text()
        wait_for(lambda: stored(db) >= n * len(HOSTS), what="every row in the central store")
        time.sleep(1.0)  # redeliveries, if any, would land now
        assert stop(coll) == 0
    finally:
        if coll.poll() is None:
            coll.kill()
            coll.wait(10)
        for _d, proc in agents.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    expect = sorted((h, n, n) for h in HOSTS)
    assert (
        central(db, "SELECT host, count(*), count(DISTINCT eid) FROM process_events GROUP BY host") == expect
    )
    # each agent's own store has the same rows (audit_events too: an event the agent's assembler split by its
    # time window under load is split the same way in both stores)
    for host, (d, _p) in agents.items():
        for sql in (
            "SELECT eid, cmdline FROM process_events ORDER BY eid",
            "SELECT eid, type, sections FROM audit_events ORDER BY eid, type, sections",
        ):
            mine = central(d / "agent.db", sql)
            where = sql.replace("ORDER BY", f"WHERE host = '{host}' ORDER BY")
            assert central(db, where) == mine and len(mine) >= n
    # the query tools work on the central store unchanged
    res = subprocess.run(
        [AUDITSQL, "query", "--db", str(db), "--json",
         "SELECT host, count(*) AS n FROM process_events GROUP BY host ORDER BY host"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"host": h, "n": str(n)} for h in sorted(HOSTS)]
    log = (tmp_path / "collect.stderr").read_text().splitlines()
    assert log[0].startswith(
        f"auditsql: collecting ({jetstream.url}; stream AUDITSQL; durable auditsql-collector"
    )
    assert len([ln for ln in log if ln.startswith("auditsql: collecting")]) == 2


def test_server_stopped_mid_stream_loses_nothing(jetstream: NatsServer, tmp_path: Path) -> None:
    d = tmp_path / "agent"
    proc = start_agent(d, agent_config(d, jetstream.url, "h1", ack_timeout=1.0))
    try:
        write(proc.stdin, feed(400, 0))
        wait_for(lambda: "connected to" in (d / "stderr").read_text(), what="the agent to connect")
        jetstream.stop()
        write(proc.stdin, feed(400, 400))
        wait_for(lambda: "spooling to" in (d / "stderr").read_text(), what="the agent to spool")
        wait_for(lambda: stored(d / "agent.db") == 800, what="the local store")  # local recording goes on
        jetstream.start()
        write(proc.stdin, feed(400, 800))
        assert finish(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    err = (d / "stderr").read_text()
    assert "auditsql: nats: reconnected; sending" in err
    coll = start_collector(tmp_path, jetstream.url)
    db = tmp_path / "central.db"
    try:
        wait_for(lambda: stored(db) >= 1200, what="every row in the central store")
        time.sleep(0.5)
        assert stop(coll) == 0
    finally:
        if coll.poll() is None:
            coll.kill()
            coll.wait(10)
    assert central(db, "SELECT host, count(*), count(DISTINCT eid) FROM process_events GROUP BY host") == [
        ("h1", 1200, 1200)
    ]
    assert central(db, "SELECT count(*) FROM audit_loss WHERE cause = 'spool_drop'") == [(0,)]


def test_unreachable_server_at_start_is_one_line_and_the_store_fills(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path / "js")  # not started
    d = tmp_path / "agent"
    cfg = agent_config(d, srv.url, "h1")
    res = subprocess.run(
        [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
         "--results-log", "", "--no-resolve-ids"],
        input=feed(100), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    nats_lines = [ln for ln in res.stderr.decode().splitlines() if "nats" in ln.split(";")[0]]
    assert nats_lines == [
        f"auditsql: nats: NATS {srv.url}: connection refused; spooling to {d / 'spool'} and retrying every 2 s "
        "(events are still stored locally)"
    ]
    assert stored(d / "agent.db") == 100
    assert sum(p.stat().st_size for p in (d / "spool").glob("*.seg")) > 0
    # the next start with the server up sends the spool
    srv.start()
    try:
        res = subprocess.run(
            [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
             "--results-log", "", "--no-resolve-ids"],
            input=b"", capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert re.search(
            r"^auditsql: nats: \d+ messages spooled by an earlier run will be sent first$",
            res.stderr.decode(),
            re.M,
        )
        coll = start_collector(tmp_path, srv.url)
        try:
            wait_for(lambda: stored(tmp_path / "central.db") >= 100, what="the spooled rows")
            assert stop(coll) == 0
        finally:
            if coll.poll() is None:
                coll.kill()
                coll.wait(10)
        assert central(
            tmp_path / "central.db", "SELECT count(DISTINCT eid), count(*) FROM process_events"
        ) == [(100, 100)]
    finally:
        srv.stop()


def test_refused_credentials_exit_2_with_one_line(tmp_path: Path) -> None:
    srv = NatsServer(tmp_path / "js", ("--user", "agent", "--pass", "right")).start()
    try:
        d = tmp_path / "agent"
        cfg = agent_config(d, srv.url, "h1", user="agent", password="wrong")
        res = subprocess.run(
            [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(d / "agent.db"),
             "--results-log", "", "--no-resolve-ids"],
            input=feed(5), capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert res.returncode == 2
        assert res.stderr.decode().splitlines() == [
            f"auditsql: NATS {srv.url}: the server refused the credentials (authorization violation) "
            "(fix [output.nats] credentials)"
        ]
        res = subprocess.run(
            [AUDITSQL, "collect", "--nats", srv.url, "--user", "agent", "--password", "wrong",
             "--db", str(tmp_path / "central.db")],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert res.returncode == 2
        assert res.stderr.decode().splitlines() == [
            f"auditsql: NATS {srv.url}: the server refused the credentials (authorization violation) "
            "(fix the credentials: --user/--password, --token, --creds)"
        ]
    finally:
        srv.stop()


def test_collector_unusable_db_is_one_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [AUDITSQL, "collect", "--nats", "nats://127.0.0.1:1", "--db", str(tmp_path)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [
        f"auditsql: cannot use {tmp_path} as the database: it is a directory "
        "(pass --db with a writable path, or run as root)"
    ]
    assert not os.path.exists(tmp_path / "central.db")

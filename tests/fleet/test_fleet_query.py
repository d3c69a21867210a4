"""Fleet queries end to end: a nats-server with users and permissions, three ``auditsql run`` agents (plugin
source, fed exec records on stdin) answering, and ``auditsql fleet query`` as the operator and as an intruder.

The server's users (``NATS_AUTH``): ``operator`` may publish queries and read the presence bucket, ``agent``
may receive queries and publish replies and heartbeats, ``intruder`` may publish only to ``auditsql.other.>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.test_schedule import exec_lines
from tests.fleet.conftest import NatsServer

_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"
#: the server's users, with ``-js -a 127.0.0.1 -p PORT -sd DIR`` on the command line (tests/fleet/conftest.py)
NATS_AUTH = """\
authorization {
  users = [
    { user: operator, password: "op-secret", permissions: {
        publish: ["auditsql_fleet.query", "auditsql_fleet.query.>", "$JS.API.>"],
        subscribe: ["_INBOX.>"] } }
    { user: agent, password: "agent-secret", permissions: {
        publish: ["_INBOX.>", "$JS.API.>", "$KV.auditsql_hosts.>"],
        subscribe: ["auditsql_fleet.query", "auditsql_fleet.query.>", "_INBOX.>"] } }
    { user: intruder, password: "in-secret", permissions: {
        publish: ["auditsql.other.>"], subscribe: ["_INBOX.>"] } }
  ]
}
"""
#: host -> number of execs it stored
HOSTS = {"h1": 1, "h2": 2, "h3": 3}
#: the agents' [fleet] query_timeout
AGENT_TIMEOUT = 1.0


def wait_for(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Nats:
    url: str
    dir: Path

    def config(self, user: str, password: str) -> Path:
        """A client configuration file with this user's credentials."""
        path = self.dir / f"{user}.toml"
        path.write_text(f"[output.nats]\nurl = '{self.url}'\nuser = '{user}'\npassword = '{password}'\n")
        return path


def stop_pid(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    d = tmp_path_factory.mktemp("nats")
    conf = d / "auth.conf"
    conf.write_text(NATS_AUTH)
    srv = NatsServer(d / "js", extra=("-c", str(conf))).start()
    try:
        yield Nats(srv.url, d)
    finally:
        srv.stop()


@dataclass
class Agent:
    host: str
    proc: subprocess.Popen[bytes]
    db: Path
    err: Path

    def stderr(self) -> str:
        return self.err.read_text()

    def count(self) -> int | None:
        if not self.db.exists():
            return None
        try:
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT count(*) FROM process_events").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            return None


def start_agent(nats: Nats, d: Path, host: str, execs: int, extra: str = "") -> Agent:
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "agent.toml"
    cfg.write_text(
        "[kernel]\nsource = 'plugin'\n"
        "[status]\ninterval = 0\nstats_file = ''\n"
        f"[store]\ndb = '{d / 'auditsql.db'}'\nresolve_ids = false\n"
        "[results_log]\npath = ''\n"
        f"[output.nats]\nurl = '{nats.url}'\nhost = '{host}'\nuser = 'agent'\npassword = 'agent-secret'\n"
        f"[fleet]\nqueries = true\nquery_timeout = {AGENT_TIMEOUT}\n" + extra
    )
    err = d / "agent.err"
    with open(err, "wb") as fh:
        proc = subprocess.Popen(
            [AUDITSQL, "run", "--config", str(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    lines: list[str] = []
    for i in range(execs):
        lines += exec_lines(200 + i, 5000 + i, ["/bin/echo", f"{host}-{i}"])
    assert proc.stdin is not None
    proc.stdin.write(("\n".join(lines) + "\n").encode())
    proc.stdin.flush()  # stdin stays open: the agent runs until SIGTERM
    return Agent(host, proc, d / "auditsql.db", err)


@pytest.fixture(scope="module")
def agents(nats_server: Nats, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Agent]]:
    d = tmp_path_factory.mktemp("agents")
    started: dict[str, Agent] = {}
    try:
        for host, n in HOSTS.items():
            started[host] = start_agent(nats_server, d / host, host, n)
        for host, agent in started.items():

            def ready(agent: Agent = agent) -> bool:
                if agent.proc.poll() is not None:
                    raise AssertionError(f"{agent.host} exited {agent.proc.returncode}: {agent.stderr()}")
                return "fleet queries: answering" in agent.stderr() and agent.count() == HOSTS[agent.host]

            wait_for(ready, what=f"agent {host}")
        yield started
    finally:
        for agent in started.values():
            if agent.proc.stdin is not None:
                agent.proc.stdin.close()  # as auditd stops a plugin: end of its input, then SIGTERM
        for agent in started.values():
            stop_pid(agent.proc)


def fleet(
    nats: Nats, *args: str, user: str = "operator", password: str = "op-secret"
) -> tuple[int, str, str]:
    res = subprocess.run(
        [AUDITSQL, "fleet", "query", "--config", str(nats.config(user, password)), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return res.returncode, res.stdout.decode(), res.stderr.decode()


# -- every host answers --------------------------------------------------------------------------------------


def test_fleet_query_returns_every_hosts_rows(nats_server: Nats, agents: dict[str, Agent]) -> None:
    t0 = time.monotonic()
    code, out, err = fleet(nats_server, "SELECT count(*) AS n FROM process_events", "--json")
    took = time.monotonic() - t0
    assert (code, err) == (0, "")
    assert out == '[\n  {"host":"h1","n":"1"},\n  {"host":"h2","n":"2"},\n  {"host":"h3","n":"3"}\n]\n'
    # the presence bucket tells the client whom to wait for: no waiting for the 10 s timeout
    assert took < 6, took


def test_fleet_query_table_has_host_first_and_each_hosts_rows(
    nats_server: Nats, agents: dict[str, Agent]
) -> None:
    code, out, err = fleet(nats_server, "SELECT cmdline, pid FROM process_events ORDER BY pid")
    assert (code, err) == (0, "")
    assert out == (
        "+------+----------------+------+\n"
        "| host | cmdline        | pid  |\n"
        "+------+----------------+------+\n"
        "| h1   | /bin/echo h1-0 | 5000 |\n"
        "| h2   | /bin/echo h2-0 | 5000 |\n"
        "| h2   | /bin/echo h2-1 | 5001 |\n"
        "| h3   | /bin/echo h3-0 | 5000 |\n"
        "| h3   | /bin/echo h3-1 | 5001 |\n"
        "| h3   | /bin/echo h3-2 | 5002 |\n"
        "+------+----------------+------+\n"
    )


def test_fleet_query_to_named_hosts_reports_the_silent_one(
    nats_server: Nats, agents: dict[str, Agent]
) -> None:
    code, out, err = fleet(
        nats_server, "SELECT count(*) AS n FROM process_events", "--hosts", "h2,h9", "--csv", "--timeout", "2"
    )
    assert code == 1
    assert out == "host|n\nh2|2\n"  # osqueryi --csv: the --separator default `|`
    assert err == (
        "auditsql: h9: no answer within 2 s (is the agent running with [fleet] queries = true and connected "
        "to this server?)\n"
    )


# -- refusals ------------------------------------------------------------------------------------------------


def test_fleet_query_non_select_is_refused_by_every_agent(
    nats_server: Nats, agents: dict[str, Agent]
) -> None:
    code, out, err = fleet(nats_server, "DELETE FROM process_events")
    assert (code, out) == (1, "")
    assert err == "".join(
        f"auditsql: {h}: refused: DELETE is not answered (a fleet query is one read-only SELECT or WITH ... "
        "SELECT)\n"
        for h in HOSTS
    )
    assert {h: a.count() for h, a in agents.items()} == HOSTS


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("ATTACH DATABASE '/tmp/x.db' AS x", "refused: ATTACH is not answered (a fleet query is one read-only "
         "SELECT or WITH ... SELECT)"),
        ("PRAGMA journal_mode=DELETE", "refused: PRAGMA is not answered (a fleet query is one read-only "
         "SELECT or WITH ... SELECT)"),
        ("SELECT 1; DELETE FROM process_events", "refused: 2 statements (a fleet query is one read-only SELECT)"),
        ("SELECT load_extension('/tmp/evil.so')", "refused: load_extension() is not answered (a fleet query only "
         "reads the store)"),
        ("WITH x AS (SELECT 1) DELETE FROM process_events", "read-only: DELETE is refused (queries never change "
         "the store; rows come from `auditsql run` and `auditsql import`)"),
    ],
)  # fmt: skip
def test_fleet_query_refusals(nats_server: Nats, agents: dict[str, Agent], sql: str, why: str) -> None:
    code, out, err = fleet(nats_server, sql, "--hosts", "h1")
    assert (code, out, err) == (1, "", f"auditsql: h1: {why}\n")


def test_fleet_query_over_the_time_limit_is_cut(nats_server: Nats, agents: dict[str, Agent]) -> None:
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    t0 = time.monotonic()
    code, out, err = fleet(nats_server, forever, "--timeout", "20")
    took = time.monotonic() - t0
    assert (code, out) == (1, "")
    assert err == "".join(
        f"auditsql: {h}: query stopped by the time limit of {AGENT_TIMEOUT:g} s ([fleet] query_timeout, or the "
        "client's --timeout): narrow it with WHERE on an indexed column such as time, or add LIMIT\n"
        for h in HOSTS
    )
    assert took < 10, took  # cut by the agents' limit, not the client's 20 s


def test_fleet_query_from_a_disallowed_user_is_refused(nats_server: Nats, agents: dict[str, Agent]) -> None:
    seen: list[str] = []

    async def sniff_while(run: Callable[[], tuple[int, str, str]]) -> tuple[int, str, str]:
        import nats

        nc = await nats.connect(nats_server.url, user="agent", password="agent-secret")
        try:
            for subject in ("auditsql_fleet.query", "auditsql_fleet.query.>"):

                async def cb(msg: object) -> None:
                    seen.append(msg.subject)  # type: ignore[attr-defined]

                await nc.subscribe(subject, cb=cb)
            await nc.flush()
            res = await asyncio.get_running_loop().run_in_executor(None, run)
            await nc.flush()
            await asyncio.sleep(0.2)
            return res
        finally:
            await nc.close()

    code, out, err = asyncio.run(
        sniff_while(lambda: fleet(nats_server, "SELECT 1", user="intruder", password="in-secret"))
    )
    assert (code, out) == (1, "")
    assert err == (
        'auditsql: the NATS server refused: permissions violation for publish to "auditsql_fleet.query" '
        "(this user may not send fleet queries: the operator grants publish on auditsql_fleet.query and "
        "auditsql_fleet.query.>, and subscribe on _INBOX.>)\n"
    )
    code, out, err = asyncio.run(
        sniff_while(
            lambda: fleet(nats_server, "SELECT 1", "--hosts", "h1", user="intruder", password="in-secret")
        )
    )
    assert (code, out) == (1, "")
    assert err.startswith(
        'auditsql: the NATS server refused: permissions violation for publish to "auditsql_fleet.query.h1"'
    )
    assert seen == []  # no agent could have seen either query
    # the operator's query does reach them
    code, out, err = asyncio.run(
        sniff_while(lambda: fleet(nats_server, "SELECT 1 AS one", "--hosts", "h1", "--csv"))
    )
    assert (code, out, err) == (0, "host|one\nh1|1\n", "")
    assert seen == ["auditsql_fleet.query.h1"]


def test_fleet_query_with_a_wrong_password_is_one_line(nats_server: Nats) -> None:
    code, out, err = fleet(nats_server, "SELECT 1", user="operator", password="wrong")
    assert (code, out) == (1, "")
    assert err == (
        f"auditsql: cannot connect: NATS {nats_server.url}: the server refused the credentials (authorization "
        "violation) (check [output.nats] user/password, token, creds or TLS in --config)\n"
    )


# -- presence ------------------------------------------------------------------------------------------------


def test_presence_names_a_host_that_did_not_answer(nats_server: Nats, agents: dict[str, Agent]) -> None:
    """A fresh heartbeat in the bucket for a host with no agent: the client waits for it and names it."""

    async def put(value: bytes | None) -> None:
        import nats

        nc = await nats.connect(nats_server.url, user="agent", password="agent-secret")
        try:
            kv = await nc.jetstream().key_value("auditsql_hosts")
            if value is None:
                await kv.delete("ghost")
            else:
                await kv.put("ghost", value)
        finally:
            await nc.close()

    asyncio.run(put(json.dumps({"host": "ghost", "time": time.time(), "interval": 10}).encode()))
    try:
        code, out, err = fleet(
            nats_server, "SELECT count(*) AS n FROM process_events", "--csv", "--timeout", "2"
        )
    finally:
        asyncio.run(put(None))
    assert code == 1
    assert out == "host|n\nh1|1\nh2|2\nh3|3\n"
    assert err.startswith(
        "auditsql: ghost: no answer within 2 s (is the agent running with [fleet] queries = true and connected "
        "to this server?; its last heartbeat was "
    )

"""``auditsql run`` on the real kernel: built-in rules, rows in the tables, scheduled results, kernel restored.

Etiquette (see tests/kernel/test_live.py): the ``live_kernel`` fixture holds the kernel-test lock, kills only
the processes this test started (by pid) and checks that status knobs and the daemon pid are back as found;
these tests also check that the rule list is back as found (``auditsql run`` loads the built-in rules and the
self-exclusion rule, and removes exactly those).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditsql.kernel.snapshot import raises
from tests import storedb
from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_live import AUDITSQL, LiveKernel, _status_now, stop, wait_for

pytestmark = pytest.mark.kernel

#: the live tests' fixture: kernel-test lock, processes stopped by pid, knobs and daemon pid checked after
live_kernel = test_live.live_kernel


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> LiveKernel:
    return request.getfixturevalue("live_kernel")


BUILTIN_RULES = [
    "-a always,exit -F arch=b64 -S connect,accept,bind,execve,accept4,execveat",
    "-a always,exit -F arch=b32 -S execve,execveat,bind,connect,accept4",
]


def ours(rules: list[str], *pids: int) -> list[str]:
    """The rules ``auditsql run`` adds (built-in and self-exclusion) among ``rules``; other tests may be adding
    and removing their own rules meanwhile."""
    mine = {*BUILTIN_RULES, *(f"-a never,exit -S all -F pid={p}" for p in pids)}
    return [r for r in rules if r in mine]


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    db: Path
    results: Path
    err: Path
    state: Path

    def stderr(self) -> list[str]:
        return self.err.read_text().splitlines()

    def results_lines(self) -> list[dict]:
        if not self.results.exists():
            return []
        complete = self.results.read_text().rpartition("\n")[0]
        return [json.loads(x) for x in complete.split("\n") if x]

    def query(self, sql: str, *params: object) -> list[tuple]:
        conn = storedb.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


def start_run(lk: LiveKernel, config: str, *args: str, name: str = "run") -> Run:
    cfg = lk.tmp / f"{name}.toml"
    state = lk.state_file(name)
    cfg.write_text(
        f"[kernel]\nstate_file = '{state}'\n[status]\ninterval = 1\nstats_file = '{lk.tmp / (name + '.stats')}'\n"
        + config
    )
    return launch(lk, name, cfg, state, args, db=lk.tmp / name / "db" / "auditsql.db")


def launch(
    lk: LiveKernel,
    name: str,
    cfg: Path,
    state: Path,
    args: Sequence[str] = (),
    db: Path | None = None,
    new_session: bool = False,
) -> Run:
    """Start ``auditsql run --config cfg`` (its db, results log and stderr under ``lk.tmp``) and wait until it
    says it is running."""
    db = db or lk.tmp / name / "auditsql.db"
    results, err = lk.tmp / name / "results.jsonl", lk.tmp / f"{name}.err"
    argv = [*AUDITSQL, "run", "--db", str(db), "--results-log", str(results), "--config", str(cfg), *args]
    with open(err, "wb") as fh:
        proc = lk.start(argv, stdout=subprocess.DEVNULL, stderr=fh, start_new_session=new_session)
    run = Run(proc, db, results, err, state)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"auditsql run exited {proc.returncode}: {err.read_text()}")
        return any(" running (" in ln for ln in run.stderr())

    wait_for(ready, what="auditsql run to start")
    return run


def keeper_of(run: Run) -> int:
    """The socket keeper of a running agent: the registered daemon, a process of its own."""
    pid = _status_now()["pid"]
    assert pid not in (0, run.proc.pid)
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        assert b"auditsql.kernel.keeper" in fh.read()
    with open(f"/proc/{pid}/comm") as fh:
        assert fh.read() == "auditsql-keeper\n"
    return pid


def loginuid() -> int:
    with open("/proc/self/loginuid") as fh:
        return int(fh.read())


def test_run_stores_execs_and_sockets_and_logs_scheduled_results(kernel: LiveKernel) -> None:
    lk = kernel
    marker = f"auditsql-marker-{uuid.uuid4().hex[:12]}"
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    config = (
        "[schedule.execs]\n"
        f"query = \"SELECT pid, path, cmdline, uid, cwd FROM process_events WHERE cmdline LIKE '%{marker}%'\"\n"
        "interval = 1\n"
        "[schedule.connects]\n"
        f"query = 'SELECT pid, remote_address, remote_port, status FROM socket_events WHERE remote_port = {port}'\n"
        "interval = 1\n"
    )
    t0 = int(time.time())
    run = start_run(lk, config, "--source", "unicast")
    try:
        # while running: the daemon pid, the built-in rules, osquery's backlog, audit on
        now = _status_now()
        keeper = keeper_of(run)  # the registered daemon: the socket keeper (docs/reliability.md, kill -9)
        assert now["pid"] == keeper
        assert now["enabled"] == 1
        # the built-in -b 4096 only raises the limit: a higher one (auditd's 8192), or 0 (none), stays
        found = lk.status["backlog_limit"]
        assert now["backlog_limit"] == (4096 if raises(found, 4096) else found)
        assert ours(auditctl_rules(), run.proc.pid, keeper) == [
            f"-a never,exit -S all -F pid={keeper}",
            f"-a never,exit -S all -F pid={run.proc.pid}",
            *BUILTIN_RULES,
        ]

        echo = subprocess.Popen(["/bin/echo", marker], cwd=lk.tmp, stdout=subprocess.DEVNULL)
        assert echo.wait(10) == 0
        code = (
            "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
            "print(s.getsockname()[1]); s.close()"
        )
        client = subprocess.Popen(
            [sys.executable, "-c", code, str(port), marker], stdout=subprocess.PIPE, cwd=lk.tmp
        )
        conn, peer = srv.accept()
        conn.close()
        client_port = int(client.communicate(timeout=10)[0])
        assert client.returncode == 0
        assert peer == ("127.0.0.1", client_port)

        def logged() -> bool:
            names = {d["name"] for d in run.results_lines()}
            return names >= {"execs", "connects"}

        wait_for(logged, timeout=20, what="the scheduled results")
    finally:
        srv.close()
    assert stop(run.proc) == 0
    t1 = int(time.time())

    # the kernel is back as found: rules, knobs, pid; the state file is gone
    assert ours(auditctl_rules(), run.proc.pid, keeper) == ours(lk.rules)
    assert _status_now() == lk.status
    assert not run.state.exists()
    assert not os.path.exists(f"/proc/{keeper}")

    execs = run.query(
        "SELECT pid, path, cmdline, cwd, uid, euid, gid, egid, auid, parent, syscall, argv, argc, status, "
        "exit_code, comm, mode FROM process_events WHERE cmdline LIKE ?",
        f"%{marker}%",
    )
    echo_row = (
        echo.pid,
        "/usr/bin/echo",
        f"/bin/echo {marker}",
        str(lk.tmp),
        0,
        0,
        0,
        0,
        loginuid(),
        os.getpid(),
        "execve",
        json.dumps(["/bin/echo", marker], separators=(",", ":")),
        2,
        "succeeded",
        0,
        "echo",
        "0100755",
    )
    py_exec = [r for r in execs if r[0] == client.pid]
    assert [r for r in execs if r[0] == echo.pid] == [echo_row]
    assert len(py_exec) == 1 and py_exec[0][2] == f"{sys.executable} -c {code} {port} {marker}"
    assert len(execs) == 2
    (t,) = run.query("SELECT time FROM process_events WHERE pid = ?", echo.pid)[0]
    assert t0 <= t <= t1

    python = os.path.realpath(sys.executable)
    assert run.query(
        "SELECT action, pid, path, family, remote_address, remote_port, status, success, exit_code, errno "
        "FROM socket_events WHERE pid = ? AND action = 'connect'",
        client.pid,
    ) == [("connect", client.pid, python, 2, "127.0.0.1", port, "succeeded", 1, 0, None)]
    assert run.query(
        "SELECT action, pid, family, remote_address, remote_port, status FROM socket_events "
        "WHERE pid = ? AND action = 'accept' AND remote_port = ?",
        os.getpid(),
        client_port,
    ) == [("accept", os.getpid(), 2, "127.0.0.1", client_port, "succeeded")]

    host = socket.gethostname()
    lines = run.results_lines()
    for d in lines:
        assert list(d) == [
            "name",
            "hostIdentifier",
            "calendarTime",
            "unixTime",
            "epoch",
            "counter",
            "numerics",
            "decorations",
            "columns",
            "action",
        ]
        assert (d["hostIdentifier"], d["epoch"], d["numerics"], d["decorations"], d["action"]) == (
            host,
            0,
            False,
            {},
            "added",
        )
        assert t0 <= d["unixTime"] <= t1
        assert d["calendarTime"] == time.asctime(time.gmtime(d["unixTime"])) + " UTC"
    execs_lines = [d for d in lines if d["name"] == "execs"]
    assert [(d["counter"], d["columns"]) for d in execs_lines if d["columns"]["pid"] == str(echo.pid)] == [
        (
            execs_lines[0]["counter"],
            {
                "cmdline": f"/bin/echo {marker}",
                "cwd": str(lk.tmp),
                "path": "/usr/bin/echo",
                "pid": str(echo.pid),
                "uid": "0",
            },
        )
    ]
    assert sorted(d["columns"]["pid"] for d in execs_lines) == sorted([str(echo.pid), str(client.pid)])
    connects = [d["columns"] for d in lines if d["name"] == "connects"]
    assert connects == [
        {
            "pid": str(client.pid),
            "remote_address": "127.0.0.1",
            "remote_port": str(port),
            "status": "succeeded",
        }
    ]

    err = run.stderr()
    assert err[0].startswith(f"auditsql: running (unicast; pid {run.proc.pid}; keeper pid {keeper}; ")
    assert err[0].endswith(
        f"; db {run.db}; results log {run.results}; 2 scheduled queries; process tree from the proc connector"
    )
    assert any(" events/s, events " in ln and ", rows " in ln for ln in err[1:-1])
    assert err[-1].startswith("auditsql: stopped; events ")


def test_run_sigint_restores_and_loads_no_rules_when_told(kernel: LiveKernel) -> None:
    lk = kernel
    run = start_run(lk, "", "--rules", "none", "--no-exclude-self", name="norules")
    assert ours(auditctl_rules(), run.proc.pid) == ours(lk.rules)
    assert stop(run.proc, signal.SIGINT) == 0
    assert ours(auditctl_rules(), run.proc.pid) == ours(lk.rules)
    assert _status_now() == lk.status
    assert run.stderr()[-1].startswith("auditsql: stopped; events ")


def test_run_refuses_a_live_daemon_with_unicast(kernel: LiveKernel) -> None:
    lk = kernel
    first = start_run(lk, "", "--source", "unicast", name="first")
    keeper = keeper_of(first)
    cfg = lk.tmp / "second.toml"
    cfg.write_text(f"[kernel]\nstate_file = '{lk.state_file('second')}'\n[status]\nstats_file = ''\n")
    second = lk.start(
        [*AUDITSQL, "run", "--source", "unicast", "--config", str(cfg), "--db", str(lk.tmp / "second.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, errtext = second.communicate(timeout=30)
    assert (second.returncode, out) == (1, b"")
    assert errtext.decode() == (
        f"auditsql: the kernel's audit socket belongs to pid {keeper} (auditsql-keeper); stop it, or read "
        "alongside it with --source multicast (or auto)\n"
    )
    assert _status_now()["pid"] == keeper
    assert [r for r in auditctl_rules() if f"pid={second.pid}" in r] == []  # nothing of the refused run
    assert stop(first.proc) == 0
    assert ours(auditctl_rules(), first.proc.pid, keeper) == ours(lk.rules)

"""The process tree on the real kernel, through ``auditsql run``: ``sh -c`` chains, a double-forking daemon, pid
reuse, persistence across restarts, and what this kernel reports for exits.

Etiquette as in tests/kernel/test_run.py: the ``live_kernel`` fixture holds the kernel-test lock, stops the
processes the test started by pid, and checks that the kernel is back as found.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests import storedb
from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_live import LiveKernel, _status_now, stop, wait_for
from tests.kernel.test_run import Run, start_run

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

TREE_CONFIG = "[tables]\nprocess_tree = true\nfork_events = true\n"
#: the defaults: forks and exits from the proc connector (auditsql.kernel.connector), no tree audit rule
CONNECTOR_CONFIG = "[tables]\nprocess_tree = true\n"
BOTH = pytest.mark.parametrize("config", [TREE_CONFIG, CONNECTOR_CONFIG], ids=["audit", "connector"])
CHAIN = """
WITH RECURSIVE c(pid, process_start, parent, parent_start, depth) AS (
  SELECT pid, process_start, parent, parent_start, 0 FROM process_tree
  WHERE pid = :pid AND process_start <= :t AND (exit_time IS NULL OR exit_time >= :t)
  UNION ALL
  SELECT t.pid, t.process_start, t.parent, t.parent_start, c.depth + 1
  FROM process_tree t JOIN c ON t.pid = c.parent AND t.process_start = c.parent_start
)
SELECT c.pid FROM c ORDER BY c.depth
"""


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> LiveKernel:
    return request.getfixturevalue("live_kernel")


def q(run: Run, sql: str, *params: object) -> list[tuple]:
    conn = storedb.connect(f"file:{run.db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def rows(run: Run, pid: int) -> list[tuple]:
    return q(
        run,
        "SELECT pid, parent, path, cmdline, source, syscall, exit_source, exit_code FROM process_tree "
        "WHERE pid = ? ORDER BY process_start",
        pid,
    )


def ancestry(pid: int) -> list[int]:
    """``pid`` and its ancestors up to pid 1, from /proc."""
    out = [pid]
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        if pid:
            out.append(pid)
    return out


def finish(lk: LiveKernel, run: Run) -> None:
    assert stop(run.proc) == 0, run.stderr()
    assert _status_now() == lk.status
    assert [r for r in auditctl_rules() if "auditsql_tree" in r or "a0&0x10000" in r] == []


def test_sh_chain_has_its_exact_ancestry(kernel: LiveKernel) -> None:
    lk = kernel
    run = start_run(lk, TREE_CONFIG, "--source", "unicast")
    marker = f"tree-{uuid.uuid4().hex[:8]}"
    out = lk.tmp / "pids"
    # outer sh prints its pid, the inner sh its own, and the inner sh forks sleep (not exec: a ';' follows)
    script = f'echo $$ > {out}; sh -c "echo \\$\\$ >> {out}; sleep 0.1; true {marker}"; true'
    sh = subprocess.Popen(["sh", "-c", script])
    assert sh.wait(10) == 0
    outer, inner = (int(x) for x in out.read_text().split())
    assert outer == sh.pid

    def sleep_row() -> list[tuple]:
        return q(
            run,
            "SELECT pid, process_start, exit_source FROM process_tree WHERE path = '/usr/bin/sleep' "
            "AND parent = ? AND exit_time IS NOT NULL",
            inner,
        )

    ((sleep_pid, sleep_start, how),) = wait_for(sleep_row, timeout=20, what="the sleep's row")
    assert how == "exit_group"
    me = os.getpid()
    assert [r[0] for r in q(run, CHAIN, sleep_pid, sleep_start + 0.01)] == [
        sleep_pid,
        inner,
        outer,
        *ancestry(me),
    ]
    assert rows(run, inner) == [
        (inner, outer, "/usr/bin/dash", f"sh -c echo $$ >> {out}; sleep 0.1; true {marker}", "fork", "vfork",
         "exit_group", 0)
    ]  # fmt: skip
    # this test process was seeded from /proc with the kernel's start time
    ((src, start),) = q(
        run, "SELECT source, process_start FROM process_tree WHERE pid = ? AND exit_time IS NULL", me
    )
    assert src == "proc"
    data = Path(f"/proc/{me}/stat").read_bytes()
    ticks = int(data[data.rindex(b")") + 2 :].split()[19])
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    assert abs(start - (boot + ticks / os.sysconf("SC_CLK_TCK"))) < 0.05
    # every process whose ancestor is the outer sh
    desc = q(
        run,
        "WITH RECURSIVE d(pid, process_start) AS (SELECT pid, process_start FROM process_tree WHERE pid = ? "
        "AND process_start = (SELECT max(process_start) FROM process_tree WHERE pid = ?) UNION ALL "
        "SELECT t.pid, t.process_start FROM process_tree t JOIN d ON t.parent = d.pid "
        "AND t.parent_start = d.process_start) SELECT pid FROM d ORDER BY process_start",
        outer,
        outer,
    )
    assert [r[0] for r in desc] == [outer, inner, sleep_pid]
    # fork rows in process_events: the child, its creator, the creator's exe
    fork_rows = q(
        run,
        "SELECT pid, parent, path, syscall FROM process_events WHERE pid = ? AND syscall != 'execve'",
        inner,
    )
    assert len(fork_rows) == 1 and fork_rows[0][:3] == (inner, outer, "/usr/bin/dash")
    finish(lk, run)


def test_double_forking_daemon_keeps_its_creator(kernel: LiveKernel) -> None:
    lk = kernel
    run = start_run(lk, TREE_CONFIG, "--source", "unicast")
    out = lk.tmp / "daemon.pid"
    # the subshell forks sleep into the background, writes its pid and exits: sleep is reparented
    sh = subprocess.Popen(["sh", "-c", f"( sleep 30 & echo $! > {out}; echo $$ > /dev/null ) ; true"])
    assert sh.wait(10) == 0
    daemon = int(out.read_text())
    try:
        ppid = int(Path(f"/proc/{daemon}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        assert ppid != sh.pid  # reparented to init or a subreaper

        def daemon_row() -> list[tuple]:
            return q(
                run,
                "SELECT parent, path, exit_time FROM process_tree WHERE pid = ? AND path = '/usr/bin/sleep'",
                daemon,
            )

        ((creator, path, exit_time),) = wait_for(daemon_row, timeout=20, what="the daemon's row")
        assert path == "/usr/bin/sleep" and exit_time is None
        # the creator is the subshell, itself a child of the sh we started (not the kernel's ppid now)
        assert creator != ppid
        assert q(run, "SELECT parent, exit_source FROM process_tree WHERE pid = ?", creator) == [
            (sh.pid, "exit_group")
        ]
    finally:
        os.kill(daemon, signal.SIGKILL)
    # killed by a signal: no exit_group; the /proc check (every 5 s) marks it
    wait_for(
        lambda: q(
            run, "SELECT exit_source FROM process_tree WHERE pid = ? AND exit_time IS NOT NULL", daemon
        ),
        timeout=20,
        what="the daemon's exit",
    )
    assert q(
        run, "SELECT exit_source FROM process_tree WHERE pid = ? AND path = '/usr/bin/sleep'", daemon
    ) == [("proc",)]
    finish(lk, run)


def _reuse_pid(target: int, argv: list[str]) -> subprocess.Popen[bytes] | None:
    """Start ``argv`` with pid ``target`` (set ns_last_pid just below it and spawn; other processes on the
    machine may take it first: then None)."""
    with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
        fh.write(str(target - 1))
    proc = subprocess.Popen(argv)
    if proc.pid == target:
        return proc
    proc.wait(10)
    return None


@BOTH
def test_pid_reuse_gives_two_rows(kernel: LiveKernel, config: str) -> None:
    lk = kernel
    run = start_run(lk, config, "--source", "unicast")
    first = subprocess.Popen(["sleep", "0.2"])
    pid = first.pid
    assert first.wait(10) == 0
    second = None
    for _ in range(50):
        second = _reuse_pid(pid, ["sleep", "0.3"])
        if second is not None:
            break
    assert second is not None, "could not get the same pid again (busy machine)"
    assert second.wait(10) == 0

    def two() -> list[tuple]:
        got = q(
            run,
            "SELECT pid, cmdline, exit_source FROM process_tree WHERE pid = ? AND exit_time IS NOT NULL "
            "ORDER BY process_start",
            pid,
        )
        return got if len(got) == 2 else []

    assert wait_for(two, timeout=20, what="two rows for the reused pid") == [
        (pid, "sleep 0.2", "exit_group"),
        (pid, "sleep 0.3", "exit_group"),
    ]
    starts = [r[0] for r in q(run, "SELECT process_start FROM process_tree WHERE pid = ? ORDER BY 1", pid)]
    assert len(starts) == 2 and starts[0] < starts[1]
    finish(lk, run)


@BOTH
def test_tree_survives_a_restart(kernel: LiveKernel, config: str) -> None:
    lk = kernel
    # started before the first run: known from /proc, then from the store
    holder = lk.start(["sh", "-c", "sleep 300; true"])
    sleeper = None
    for _ in range(100):
        kids = Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()
        if kids:
            sleeper = int(kids[0])
            break
        time.sleep(0.05)
    assert sleeper is not None
    gone = subprocess.Popen(["sleep", "30"])
    try:
        run = start_run(lk, config, "--source", "unicast", name="first")
        want = (sleeper, holder.pid, "/usr/bin/sleep", "sleep 300", "proc")

        def known() -> list[tuple]:
            return q(
                run,
                "SELECT pid, parent, path, cmdline, source FROM process_tree WHERE pid = ? AND exit_time IS NULL",
                sleeper,
            )

        assert wait_for(known, timeout=10, what="the seeded sleep") == [want]
        assert stop(run.proc) == 0
        first_rows = q(
            run, "SELECT pid, process_start FROM process_tree WHERE pid IN (?, ?)", sleeper, holder.pid
        )
        # one process ends while auditsql is not running
        gone.kill()
        gone.wait()
        again = start_run(lk, config, "--source", "unicast", "--db", str(run.db), name="second")
        # same store: the same rows (same keys), still live; the gone one marked at the restart
        assert known() == [want]
        assert q(
            run, "SELECT pid, process_start FROM process_tree WHERE pid IN (?, ?)", sleeper, holder.pid
        ) == (first_rows)
        chain = q(run, CHAIN, sleeper, time.time())
        assert [r[0] for r in chain][:3] == [sleeper, holder.pid, os.getpid()]
        assert q(
            run, "SELECT exit_source FROM process_tree WHERE pid = ? AND path = '/usr/bin/sleep'", gone.pid
        ) == [("restart",)]
        os.kill(sleeper, signal.SIGKILL)
        wait_for(
            lambda: q(run, "SELECT 1 FROM process_tree WHERE pid = ? AND exit_time IS NOT NULL", sleeper),
            timeout=20,
            what="the sleep's exit",
        )
        assert stop(again.proc) == 0
        assert holder.wait(10) == 0  # sh goes on with `true`
    finally:
        if gone.poll() is None:
            gone.kill()
            gone.wait()
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert _status_now() == lk.status


def test_connector_tree_has_exact_rows_and_no_tree_rules(kernel: LiveKernel) -> None:
    """The defaults: the tree reads forks and exits from the proc connector. No fork or exit audit rule is loaded,
    no fork or exit event is stored, and the rows are the audited tree's: ancestry, the parent's image for a fork
    without exec, exit statuses, a signal death."""
    lk = kernel
    run = start_run(lk, CONNECTOR_CONFIG, "--source", "unicast")
    assert run.stderr()[0].endswith("; process tree from the proc connector")
    assert [r for r in auditctl_rules() if "auditsql_tree" in r or "exit_group" in r] == []
    out = lk.tmp / "pids"
    # outer sh: its pid; a subshell (a fork, no exec) writes its own and exits 7; sh -c exits 5; a sleep is
    # killed by SIGKILL
    script = (
        f"echo $$ > {out}; (sh -c 'echo $PPID' >> {out}; exit 7); sh -c 'exit 5'; "
        f"sleep 30 & echo $! >> {out}; wait"
    )
    sh = subprocess.Popen(["sh", "-c", script])
    deadline = time.monotonic() + 10
    while not out.exists() or len(out.read_text().split()) < 3:
        assert time.monotonic() < deadline, "the script's pids"
        time.sleep(0.05)
    outer, sub, sleeper = (int(x) for x in out.read_text().split())
    time.sleep(0.2)
    os.kill(sleeper, signal.SIGKILL)
    assert sh.wait(10) == 0  # dash's bare `wait` returns 0
    assert outer == sh.pid

    def tree_rows() -> list[tuple]:
        got = q(
            run,
            "SELECT pid, parent, path, cmdline, source, syscall, exit_source, exit_code FROM process_tree "
            "WHERE parent IN (?, ?) ORDER BY process_start",
            outer,
            sub,
        )
        return got if len(got) == 4 and all(r[6] for r in got) else []

    got = wait_for(tree_rows, timeout=20, what="the script's children, exited")
    by_cmd = {r[3]: r for r in got}
    assert len(by_cmd) == 4, got
    assert by_cmd[f"sh -c {script}"] == (sub, outer, "/usr/bin/dash", f"sh -c {script}", "fork", None,
                                         "exit_group", 7)  # fmt: skip
    assert by_cmd["sh -c echo $PPID"][1:] == (sub, "/usr/bin/dash", "sh -c echo $PPID", "fork", None,
                                              "exit_group", 0)  # fmt: skip
    assert by_cmd["sh -c exit 5"][1:] == (
        outer,
        "/usr/bin/dash",
        "sh -c exit 5",
        "fork",
        None,
        "exit_group",
        5,
    )
    assert by_cmd["sleep 30"] == (sleeper, outer, "/usr/bin/sleep", "sleep 30", "fork", None, "signal", None)
    me = os.getpid()
    ((sleep_start,),) = q(run, "SELECT process_start FROM process_tree WHERE pid = ? AND path = '/usr/bin/sleep'",
                          sleeper)  # fmt: skip
    assert [r[0] for r in q(run, CHAIN, sleeper, sleep_start + 0.01)] == [sleeper, outer, *ancestry(me)]
    # the forks and exits are no audit events; the execs are
    audited = q(run, "SELECT count(*) FROM audit_events WHERE summary LIKE '%auditsql_tree%'")
    assert audited == [(0,)]
    assert q(run, "SELECT count(*) FROM process_events WHERE pid = ?", sleeper) == [(1,)]
    finish(lk, run)
    stats = json.loads((lk.tmp / "run.stats").read_text())
    assert stats["reader"]["proc_notices"] >= 8  # 4 forks and 4 exits at least
    assert stats["reader"]["proc_enobufs"] == 0
    assert stats["loss"].get("proc_connector", 0) == 0

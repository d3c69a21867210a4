"""The process tree (``auditsql.tables.proctree``) on synthetic events: keys, threads, vfork order, exits,
pid reuse, the ancestry queries of docs/process-tree.md, container ids, persistence and retention."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import auditsql.tables as tables
from auditsql.store.sqlite import Store
from auditsql.tables import proctree
from auditsql.tables.proctree import PROCESS_TREE, Tracker, container_id, process_start

COLS = PROCESS_TREE.column_names


@pytest.fixture(autouse=True)
def _no_global_tree() -> Iterator[None]:
    yield
    proctree.disable()


def ev(
    t: str,
    serial: int,
    syscall: str,
    pid: int,
    ppid: int,
    exit: int | None = 0,
    a0: str = "0x0",
    exe: str = "/usr/bin/bash",
    argv: list[str] | None = None,
    cwd: str | None = None,
    success: bool | None = True,
    node: str | None = None,
    arch: str = "x86_64",
) -> dict:
    """A rendered event (docs/event-json.md) with what the tracker reads."""
    summary: dict = {"syscall": syscall, "pid": pid, "ppid": ppid, "exe": exe, "comm": exe.rsplit("/", 1)[-1]}
    summary.update({"uid": 0, "auid": 1000, "euid": 0, "gid": 0, "arch": arch})
    if success is not None:
        summary["success"] = success
    if exit is not None:
        summary["exit"] = exit
    if argv is not None:
        summary["argv"] = argv
    if cwd is not None:
        summary["cwd"] = cwd
    e: dict = {"ID": f"{t}:{serial}", "SYSCALL": {"ARGV": [a0, "0x0", "0x0", "0x0"]}, "summary": summary}
    if node:
        e["NODE"] = node
    return e


def feed(tree: Tracker, *events: dict) -> list[tuple[str, tuple]]:
    out: list[tuple[str, tuple]] = []
    for e in events:
        out.extend(tree.on_event(e, e["summary"]))
    return out


def db_with(rows: list[tuple[str, tuple]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for stmt in [s for s in PROCESS_TREE.ddl().split(";\n") if s.strip()]:
        conn.execute(stmt)
    conn.executemany(PROCESS_TREE.insert_sql(), [r for t, r in rows if t == "process_tree"])
    return conn


def rows_by_pid(conn: sqlite3.Connection, *cols: str) -> list[tuple]:
    return conn.execute(f"SELECT {', '.join(cols)} FROM process_tree ORDER BY pid, process_start").fetchall()


def seeded(tree: Tracker, pid: int, start: float, path: str, parent: int | None = None) -> proctree.Proc:
    p = proctree.Proc("", pid, start, "proc")
    p.path, p.parent, p.cmdline = path, parent, path
    tree.nodes.setdefault("", {})[pid] = p
    tree.dirty[id(p)] = p
    return p


def sshd_session() -> tuple[Tracker, sqlite3.Connection]:
    """sshd (seeded) forks 200 (sshd session), which forks 201 (bash), which forks 202 (`sh -c ...`), which
    forks 203 (sleep); a cron (300) started elsewhere forks 301."""
    tree = Tracker(live=False)
    seeded(tree, 100, 50.0, "/usr/sbin/sshd", 1)
    seeded(tree, 300, 60.0, "/usr/sbin/cron", 1)
    feed(
        tree,
        ev("1000.000", 1, "clone", 100, 1, exit=200, a0="0x1200011", exe="/usr/sbin/sshd"),
        ev("1000.100", 2, "clone", 200, 100, exit=201, a0="0x1200011", exe="/usr/sbin/sshd"),
        ev("1000.200", 3, "execve", 201, 200, exe="/usr/bin/bash", argv=["-bash"], cwd="/root"),
        ev("1001.000", 4, "clone", 201, 200, exit=202, a0="0x1200011"),
        ev("1001.010", 5, "execve", 202, 201, exe="/usr/bin/dash", argv=["sh", "-c", "sleep 1; true"]),
        ev("1001.020", 6, "clone", 202, 201, exit=203, a0="0x1200011", exe="/usr/bin/dash"),
        ev("1001.030", 7, "execve", 203, 202, exe="/usr/bin/sleep", argv=["sleep", "1"]),
        ev("1002.030", 8, "exit_group", 203, 202, exit=None, success=None, exe="/usr/bin/sleep"),
        ev("1002.040", 9, "exit_group", 202, 201, a0="0x3", exit=None, success=None, exe="/usr/bin/dash"),
        ev("1003.000", 10, "clone", 300, 1, exit=301, a0="0x1200011", exe="/usr/sbin/cron"),
    )
    return tree, db_with(tree.drain())


def test_fork_exec_exit_rows_are_exact() -> None:
    tree, conn = sshd_session()
    assert rows_by_pid(
        conn,
        "pid",
        "process_start",
        "parent",
        "parent_start",
        "path",
        "cmdline",
        "cwd",
        "exit_time",
        "exit_code",
        "exit_source",
        "source",
        "syscall",
        "execs",
        "time",
        "eid",
    ) == [
        (100, 50.0, 1, None, "/usr/sbin/sshd", "/usr/sbin/sshd", None, None, None, None, "proc", None, 0, 50, None),
        (200, 1000.0, 100, 50.0, "/usr/sbin/sshd", "/usr/sbin/sshd", None, None, None, None, "fork", "clone", 0,
         1000, "1000.000:1"),
        (201, 1000.1, 200, 1000.0, "/usr/bin/bash", "-bash", "/root", None, None, None, "fork", "clone", 1, 1000,
         "1000.200:3"),
        (202, 1001.0, 201, 1000.1, "/usr/bin/dash", "sh -c sleep 1; true", "/root", 1002.04, 3, "exit_group",
         "fork", "clone", 1, 1002, "1002.040:9"),
        (203, 1001.02, 202, 1001.0, "/usr/bin/sleep", "sleep 1", "/root", 1002.03, 0, "exit_group", "fork",
         "clone", 1, 1002, "1002.030:8"),
        (300, 60.0, 1, None, "/usr/sbin/cron", "/usr/sbin/cron", None, None, None, None, "proc", None, 0, 60, None),
        (301, 1003.0, 300, 60.0, "/usr/sbin/cron", "/usr/sbin/cron", None, None, None, None, "fork", "clone", 0,
         1003, "1003.000:10"),
    ]  # fmt: skip
    # exited processes left memory; their rows stay
    assert sorted(tree.nodes[""]) == [100, 200, 201, 300, 301]
    assert tree.counters["forks"] == 5 and tree.counters["exits"] == 2 and tree.counters["execs"] == 3


#: docs/process-tree.md: every process whose ancestor is sshd
DESCENDANTS_OF_SSHD = """
WITH RECURSIVE d(pid, process_start, depth) AS (
  SELECT pid, process_start, 0 FROM process_tree WHERE path = '/usr/sbin/sshd' AND source = 'proc'
  UNION ALL
  SELECT t.pid, t.process_start, d.depth + 1
  FROM process_tree t JOIN d ON t.parent = d.pid AND t.parent_start = d.process_start
)
SELECT d.depth, t.pid, t.path, t.cmdline FROM d JOIN process_tree t USING (pid, process_start)
WHERE d.depth > 0 ORDER BY d.depth, t.pid
"""

#: docs/process-tree.md: the chain of pid :pid at time :t
CHAIN_AT = """
WITH RECURSIVE c(pid, process_start, parent, parent_start, depth) AS (
  SELECT pid, process_start, parent, parent_start, 0 FROM process_tree
  WHERE pid = :pid AND process_start <= :t AND (exit_time IS NULL OR exit_time >= :t)
  UNION ALL
  SELECT t.pid, t.process_start, t.parent, t.parent_start, c.depth + 1
  FROM process_tree t JOIN c ON t.pid = c.parent AND t.process_start = c.parent_start
)
SELECT c.depth, c.pid, t.path, t.cmdline FROM c JOIN process_tree t USING (pid, process_start) ORDER BY c.depth
"""


def test_descendants_of_sshd() -> None:
    _, conn = sshd_session()
    assert conn.execute(DESCENDANTS_OF_SSHD).fetchall() == [
        (1, 200, "/usr/sbin/sshd", "/usr/sbin/sshd"),
        (2, 201, "/usr/bin/bash", "-bash"),
        (3, 202, "/usr/bin/dash", "sh -c sleep 1; true"),
        (4, 203, "/usr/bin/sleep", "sleep 1"),
    ]


def test_chain_of_a_pid_at_a_time() -> None:
    _, conn = sshd_session()
    assert conn.execute(CHAIN_AT, {"pid": 203, "t": 1001.5}).fetchall() == [
        (0, 203, "/usr/bin/sleep", "sleep 1"),
        (1, 202, "/usr/bin/dash", "sh -c sleep 1; true"),
        (2, 201, "/usr/bin/bash", "-bash"),
        (3, 200, "/usr/sbin/sshd", "/usr/sbin/sshd"),
        (4, 100, "/usr/sbin/sshd", "/usr/sbin/sshd"),
    ]
    # after its exit the pid names nothing at that time
    assert conn.execute(CHAIN_AT, {"pid": 203, "t": 1003.0}).fetchall() == []


def test_ancestry_view() -> None:
    _, conn = sshd_session()
    assert conn.execute(
        "SELECT ancestor_pid, ancestor_start, depth FROM process_ancestry WHERE pid = 203 ORDER BY depth"
    ).fetchall() == [(202, 1001.0, 1), (201, 1000.1, 2), (200, 1000.0, 3), (100, 50.0, 4), (1, None, 5)]
    assert conn.execute(
        "SELECT DISTINCT a.pid FROM process_ancestry a JOIN process_tree s "
        "ON s.pid = a.ancestor_pid AND s.process_start = a.ancestor_start "
        "WHERE s.path = '/usr/sbin/sshd' AND s.source = 'proc' ORDER BY a.pid"
    ).fetchall() == [(200,), (201,), (202,), (203,)]


def test_thread_clones_are_not_processes() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/java")
    assert feed(tree, ev("5.000", 1, "clone", 10, 1, exit=11, a0="0x3d0f00")) == []
    assert tree.get(None, 11) is None and tree.counters["threads"] == 1
    # s390x passes the flags in the second argument
    e = ev("5.000", 2, "clone", 10, 1, exit=12, a0="0x0", arch="s390x")
    e["SYSCALL"]["ARGV"][1] = "0x10000"
    feed(tree, e)
    assert tree.get(None, 12) is None and tree.counters["threads"] == 2
    # a failed clone creates nothing
    feed(tree, ev("5.000", 3, "clone", 10, 1, exit=-11, a0="0x1200011", success=False))
    assert tree.counters["forks"] == 0


def test_vfork_child_exec_comes_first_and_keeps_its_key() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/python3")
    feed(
        tree,
        ev("7.001", 1, "execve", 11, 10, exit=-2, success=False, exe="/usr/bin/python3"),
        ev("7.002", 2, "execve", 11, 10, exe="/usr/bin/sleep", argv=["sleep", "5"]),
        ev("7.000", 3, "vfork", 10, 1, exit=11, exe="/usr/bin/python3"),
    )
    p = tree.get(None, 11)
    assert p is not None
    assert (p.start, p.parent, p.parent_start, p.source, p.syscall, p.path) == (
        7.001,
        10,
        1.0,
        "fork",
        "vfork",
        "/usr/bin/sleep",
    )
    assert process_start(None, 11) is None  # the module's tree is off
    proctree.TREE = tree
    assert process_start(None, 11) == 7.001 and process_start("", 10) == 1.0


def test_vfork_child_that_exited_before_the_vfork_record() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/make")
    feed(
        tree,
        ev("7.002", 2, "execve", 11, 10, exe="/usr/bin/true", argv=["true"]),
        ev("7.003", 3, "exit_group", 11, 10, exit=None, success=None),
        ev("7.000", 4, "vfork", 10, 1, exit=11, exe="/usr/bin/make"),
    )
    conn = db_with(tree.drain())
    assert rows_by_pid(conn, "pid", "process_start", "parent_start", "source", "exit_source") == [
        (10, 1.0, None, "proc", None),
        (11, 7.002, 1.0, "fork", "exit_group"),
    ]
    assert tree.get(None, 11) is None


def test_exit_seen_before_its_fork() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/bash")
    feed(
        tree,
        ev("8.001", 1, "exit_group", 11, 10, exit=None, success=None, a0="0x1"),
        ev("8.000", 2, "clone", 10, 1, exit=11, a0="0x1200011"),
    )
    conn = db_with(tree.drain())
    assert rows_by_pid(conn, "pid", "process_start", "exit_time", "exit_code", "exit_source") == [
        (10, 1.0, None, None, None),
        (11, 8.0, 8.001, 1, "exit_group"),
    ]


def test_pid_reuse_ends_the_old_process() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/bash")
    feed(
        tree,
        ev("9.000", 1, "clone", 10, 1, exit=11, a0="0x1200011"),
        ev("9.500", 2, "execve", 11, 10, exe="/usr/bin/sleep", argv=["sleep", "9"]),
        # killed by a signal: no exit_group; later the pid is forked again
        ev("20.000", 3, "clone", 10, 1, exit=11, a0="0x1200011"),
    )
    conn = db_with(tree.drain())
    assert rows_by_pid(conn, "pid", "process_start", "path", "exit_time", "exit_source") == [
        (10, 1.0, "/usr/bin/bash", None, None),
        (11, 9.0, "/usr/bin/sleep", 20.0, "reuse"),
        (11, 20.0, "/usr/bin/bash", None, None),
    ]
    assert tree.counters["reused"] == 1


def test_clone_parent_makes_a_sibling() -> None:
    tree = Tracker(live=False)
    seeded(tree, 1, 0.5, "/sbin/init")
    seeded(tree, 10, 1.0, "/usr/bin/bash", parent=1).parent_start = 0.5
    feed(tree, ev("3.000", 1, "clone", 10, 1, exit=11, a0="0x8000"))
    p = tree.get(None, 11)
    assert p is not None and (p.parent, p.parent_start) == (1, 0.5)


def test_clone3_child_waits_for_proof() -> None:
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/python3")
    feed(tree, ev("4.000", 1, "clone3", 10, 1, exit=11), ev("4.000", 2, "clone3", 10, 1, exit=12))
    assert tree.get(None, 11) is None and sorted(tree.pending) == [("", 11), ("", 12)]
    feed(tree, ev("4.100", 3, "execve", 11, 10, exe="/usr/bin/ls", argv=["ls"]))
    p = tree.get(None, 11)
    assert p is not None and (p.start, p.parent, p.syscall, p.path, p.execs) == (
        4.0,
        10,
        "clone3",
        "/usr/bin/ls",
        1,
    )
    assert sorted(tree.pending) == [("", 12)]


def test_clone3_on_this_host_tells_threads_from_processes() -> None:
    tree = Tracker(live=True)
    me = os.getpid()
    tid = _live_tid()
    seeded(tree, me, 1.0, sys.executable)
    feed(tree, ev("4.000", 1, "clone3", me, 1, exit=tid))
    assert tree.get(None, tid) is None and tree.counters["threads"] == 1 and not tree.pending


def _live_tid() -> int:
    """A thread of this process that is alive for the rest of the test session."""
    import threading

    global _KEEP
    if _KEEP is None:
        ready = threading.Event()
        box: list[int] = []

        def run() -> None:
            box.append(threading.get_native_id())
            ready.set()
            threading.Event().wait()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)
        _KEEP = box[0]
    return _KEEP


_KEEP: int | None = None


def test_fork_rows_in_process_events() -> None:
    tree = Tracker(live=False, fork_events=True)
    feed(tree, ev("5.000", 1, "execve", 10, 1, exe="/usr/bin/bash", argv=["bash", "-l"], cwd="/home/u"))
    out = feed(tree, ev("5.500", 2, "clone", 10, 1, exit=11, a0="0x1200011"))
    names = tables.REGISTRY["process_events"].column_names
    assert len(out) == 1 and out[0][0] == "process_events"
    row = dict(zip(names, out[0][1], strict=True))
    assert {
        k: row[k]
        for k in (
            "pid",
            "parent",
            "path",
            "cmdline",
            "cwd",
            "syscall",
            "parent_path",
            "parent_cmdline",
            "process_start",
            "status",
            "exit_code",
            "time",
            "eid",
        )
    } == {
        "pid": 11,
        "parent": 10,
        "path": "/usr/bin/bash",
        "cmdline": None,
        "cwd": "/home/u",
        "syscall": "clone",
        "parent_path": "/usr/bin/bash",
        "parent_cmdline": "bash -l",
        "process_start": 5.5,
        "status": "succeeded",
        "exit_code": 11,
        "time": 5,
        "eid": "5.500:2",
    }
    # a thread gets no row
    assert feed(tree, ev("5.600", 3, "clone", 10, 1, exit=12, a0="0x3d0f00")) == []


def test_rows_for_feeds_the_tree_and_fills_exec_extensions() -> None:
    tables.configure(process_tree=True, fork_events=False)
    tree = proctree.TREE
    assert tree is not None
    tree.live = False
    seeded(tree, 10, 1.0, "/usr/bin/bash").cmdline = "bash -l"
    for e in (
        ev("5.000", 1, "clone", 10, 1, exit=11, a0="0x1200011"),
        ev("5.100", 2, "execve", 11, 10, exe="/usr/bin/id", argv=["id", "-u"]),
    ):
        out = tables.rows_for(e, None)
    names = tables.REGISTRY["process_events"].column_names
    (pe,) = [r for t, r in out if t == "process_events"]
    row = dict(zip(names, pe, strict=True))
    assert (
        row["pid"],
        row["parent_path"],
        row["parent_cmdline"],
        row["process_start"],
        row["container_id"],
    ) == (
        11,
        "/usr/bin/bash",
        "bash -l",
        5.0,
        None,
    )
    tables.configure(process_tree=False)
    assert proctree.TREE is None and process_start(None, 11) is None


def test_remote_nodes_are_kept_apart() -> None:
    tree = Tracker(live=False)
    feed(
        tree,
        ev("5.000", 1, "clone", 10, 1, exit=11, a0="0x1200011", node="web1"),
        ev("5.000", 1, "clone", 10, 1, exit=11, a0="0x1200011", node="web2"),
        ev("6.000", 2, "exit_group", 11, 10, exit=None, success=None, node="web1"),
    )
    assert tree.get("web1", 11) is None
    assert tree.get("web2", 11) is not None and tree.get(None, 11) is None
    conn = db_with(tree.drain())
    assert conn.execute(
        "SELECT node, pid, exit_source FROM process_tree WHERE pid = 11 ORDER BY node"
    ).fetchall() == [("web1", 11, "exit_group"), ("web2", 11, None)]


# -- container ids ---------------------------------------------------------------------------------------------

CID = "4a7c8e0b1f2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7"


@pytest.mark.parametrize(
    "cgroup",
    [
        f"0::/system.slice/docker-{CID}.scope",
        f"12:memory:/docker/{CID}\n11:cpu:/docker/{CID}\n0::/",
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-{CID}.scope",
        f"0::/kubepods/besteffort/pod0b3b0c47-1d7f-4c0e-a0b2-3a4f5e6d7c8b/{CID}",
        f"0::/kubepods.slice/kubepods-pod1.slice/crio-{CID}.scope",
        f"0::/machine.slice/libpod-{CID}.scope/container",
        f"0::/system.slice/containerd.service/kubepods-besteffort-pod1.slice:cri-containerd:{CID}",
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope",
    ],
)
def test_container_id_from_cgroup(cgroup: str) -> None:
    assert container_id(cgroup) == CID


@pytest.mark.parametrize(
    "cgroup",
    [
        "0::/user.slice/user-1000.slice/session-3.scope",
        "0::/system.slice/ssh.service",
        "0::/",
        f"0::/system.slice/docker-{CID[:-1]}.scope",
        f"0::/system.slice/x{CID}y.scope",
        "",
    ],
)
def test_no_container_id(cgroup: str) -> None:
    assert container_id(cgroup) is None


_HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(
    cid=_HEX64,
    template=st.sampled_from(
        ["/docker/{}", "/system.slice/docker-{}.scope", "/a/cri-containerd-{}.scope/b", "/x:crio:{}"]
    ),
    prefix=st.sampled_from(["0::", "3:pids:", ""]),
)
def test_container_id_roundtrip(cid: str, template: str, prefix: str) -> None:
    assert container_id(prefix + template.format(cid)) == cid


@given(st.text(max_size=200))
def test_container_id_never_fails(text: str) -> None:
    got = container_id(text)
    assert got is None or (len(got) == 64 and got in text)


# -- /proc: seed, sweep, reload ---------------------------------------------------------------------------------


def _proc_start(pid: int) -> float:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    ticks = int(data[data.rindex(b")") + 2 :].split()[19])
    return proctree.boot_time() + ticks / os.sysconf("SC_CLK_TCK")


def test_seed_knows_this_process_and_its_parent() -> None:
    tree = Tracker(live=True)
    n = tree.seed()
    assert n >= 3
    me = tree.get(None, os.getpid())
    assert me is not None
    assert me.source == "proc" and me.parent == os.getppid()
    assert abs(me.start - _proc_start(os.getpid())) < 0.01
    parent = tree.get(None, os.getppid())
    assert parent is not None and me.parent_start == parent.start
    assert me.path == os.path.realpath(sys.executable)
    assert me.cwd == os.getcwd() and me.uid == os.getuid()
    assert tree.get(None, 1) is not None and tree.get(None, 1).parent is None


def test_sweep_marks_gone_processes() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        tree = Tracker(live=True)
        tree.seed()
        tree.drain()
        assert tree.get(None, child.pid) is not None
        assert tree.sweep() == 0 or tree.get(None, child.pid) is not None
        child.kill()
        child.wait()
        tree.sweep(now=12345.0)
        assert tree.get(None, child.pid) is None
        ((_, row),) = [r for r in tree.drain() if r[1][0] == child.pid]
        d = dict(zip(COLS, row, strict=True))
        assert (d["exit_time"], d["exit_source"], d["path"]) == (12345.0, "proc", "/usr/bin/sleep")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sweep_sees_a_reused_pid() -> None:
    tree = Tracker(live=True)
    me = seeded(tree, os.getpid(), _proc_start(os.getpid()) - 100.0, sys.executable)
    me.last_seen = me.start  # known alive only at a time before this process started: another process
    tree.sweep()
    assert tree.get(None, os.getpid()) is None


def test_store_upserts_reload_and_retention(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    store = Store(db)
    store.create_schema()
    tree = Tracker(live=True)
    tree.seed()
    dead = seeded(tree, 999999, 5.0, "/usr/bin/gone")  # no such pid
    dead.time = 5
    old_exited = seeded(tree, 999998, 4.0, "/usr/bin/old")
    tree._exit(tree.nodes[""], old_exited, 6.0, 0, "exit_group")
    store.insert(tree.drain())
    # exec of this process: the same row is updated in place
    me = tree.get(None, os.getpid())
    assert me is not None
    me.path, me.execs = "/usr/bin/changed", 1
    tree.dirty[id(me)] = me
    store.insert(tree.drain())
    store.flush()
    assert store.conn.execute(
        "SELECT count(*), max(path) FROM process_tree WHERE pid = ?", (os.getpid(),)
    ).fetchone() == (1, "/usr/bin/changed")
    # retention by age and by count spares the rows of live processes
    deleted = store.retention(expiry_seconds=1, max_rows=1, now=time.time() + 10**9)
    assert deleted == {"process_tree": 1}
    assert store.conn.execute("SELECT count(*) FROM process_tree WHERE pid = 999998").fetchone() == (0,)
    # a restart: this process is kept, the gone one is marked exited
    again = Tracker(live=True)
    kept, gone = again.reload(store.conn)
    assert gone == 1 and kept >= 3
    assert again.get(None, os.getpid()).start == me.start
    assert again.get(None, 999999) is None
    ((_, row),) = [r for r in again.drain() if r[1][0] == 999999]
    d = dict(zip(COLS, row, strict=True))
    assert d["exit_source"] == "restart" and d["process_start"] == 5.0
    assert again.seed() == 0 or all(p.source == "proc" for p in again.nodes[""].values())
    store.close()


def test_rules() -> None:
    assert proctree.rules(False) == []
    assert proctree.rules(True) == [
        ("process_tree", "-a never,exit -F arch=b64 -S clone -F a0&0x10000"),
        ("process_tree", "-a always,exit -F arch=b64 -S fork,vfork,clone,clone3,exit_group -k auditsql_tree"),
        ("process_tree", "-a never,exit -F arch=b32 -S clone -F a0&0x10000"),
        ("process_tree", "-a always,exit -F arch=b32 -S fork,vfork,clone,clone3,exit_group -k auditsql_tree"),
    ]
    from auditsql.agent import compile_rule_lines

    assert len(compile_rule_lines(proctree.rules(True)).rules) == 4


def test_sweep_is_bounded_by_live_processes() -> None:
    """A storm of short-lived children: each one leaves memory on its exit_group."""
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/bash")
    t = 100.0
    for i in range(20000):
        pid = 1000 + i % 30000
        feed(
            tree,
            ev(f"{t:.3f}", 3 * i, "clone", 10, 1, exit=pid, a0="0x1200011"),
            ev(f"{t:.3f}", 3 * i + 1, "execve", pid, 10, exe="/usr/bin/true", argv=["true"]),
            ev(f"{t:.3f}", 3 * i + 2, "exit_group", pid, 10, exit=None, success=None),
        )
        t += 0.001
    assert tree.size() == 1
    assert len(tree.drain()) == 20001
    assert not tree.dirty and not tree.gone_unmerged and not tree.pending


def test_clone3_child_proven_by_its_exit_after_exec_first() -> None:
    """A clone3 child whose exit proves it a process, after it already left memory: no KeyError."""
    tree = Tracker(live=False)
    seeded(tree, 10, 1.0, "/usr/bin/python3")
    feed(
        tree,
        ev("4.000", 1, "clone3", 10, 1, exit=11),
        ev("4.001", 2, "exit_group", 11, 10, exit=None, success=None),
    )
    assert tree.get(None, 11) is None
    conn = db_with(tree.drain())
    assert rows_by_pid(conn, "pid", "process_start", "syscall", "exit_source") == [
        (10, 1.0, None, None),
        (11, 4.0, "clone3", "exit_group"),
    ]

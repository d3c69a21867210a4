"""The process tree's SQL side (``auditsql.tables.proctree``: the table, the ancestry view, the rules) and the
native tracker through the binding: seed from /proc, store upserts, retention, reload after a restart.

The tracker's own cases (keys, threads, vfork order, exits, pid reuse, clone3, container ids, sweep) are
Rust tests beside it: crates/core/src/proctree/tests.rs."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from auditsql._core import Pipeline, Settings
from auditsql.store.sqlite import Store
from auditsql.tables import proctree
from auditsql.tables.proctree import PROCESS_TREE, reload_rows

COLS = PROCESS_TREE.column_names

#: what the tracker stores for: sshd (seeded) forks 200 (sshd session), which forks 201 (bash), which forks 202
#: (`sh -c ...`), which forks 203 (sleep); a cron (300) started elsewhere forks 301. The same session is the
#: Rust test `fork_exec_exit_rows_are_exact`, whose rows these are.
SSHD_SESSION = [
    (100, 50.0, 1, None, "/usr/sbin/sshd", "/usr/sbin/sshd", None, None, None, None, None, None, None, None, 50, None,
     None, None, "proc", None, 0, "", 50, None, None),
    (200, 1000.0, 100, 50.0, "/usr/sbin/sshd", "/usr/sbin/sshd", None, None, 0, 1000, 0, 0, "sshd", None, 1000, None,
     None, None, "fork", "clone", 0, "", 1000, None, "1000.000:1"),
    (201, 1000.1, 200, 1000.0, "/usr/bin/bash", "-bash", '["-bash"]', "/root", 0, 1000, 0, 0, "bash", None, 1000, None, None,
     None, "fork", "clone", 1, "", 1000, None, "1000.200:3"),
    (202, 1001.0, 201, 1000.1, "/usr/bin/dash", "sh -c sleep 1; true", '["sh","-c","sleep 1; true"]', "/root", 0, 1000, 0, 0, "dash", None, 1001,
     1002.04, 3, "exit_group", "fork", "clone", 1, "", 1002, None, "1002.040:9"),
    (203, 1001.02, 202, 1001.0, "/usr/bin/sleep", "sleep 1", '["sleep","1"]', "/root", 0, 1000, 0, 0, "sleep", None, 1001, 1002.03,
     0, "exit_group", "fork", "clone", 1, "", 1002, None, "1002.030:8"),
    (300, 60.0, 1, None, "/usr/sbin/cron", "/usr/sbin/cron", None, None, None, None, None, None, None, None, 60, None,
     None, None, "proc", None, 0, "", 60, None, None),
    (301, 1003.0, 300, 60.0, "/usr/sbin/cron", "/usr/sbin/cron", None, None, 0, 1000, 0, 0, "cron", None, 1003, None,
     None, None, "fork", "clone", 0, "", 1003, None, "1003.000:10"),
]  # fmt: skip


def db_with(rows: list[tuple]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for stmt in [s for s in PROCESS_TREE.ddl().split(";\n") if s.strip()]:
        conn.execute(stmt)
    conn.executemany(PROCESS_TREE.insert_sql(), rows)
    return conn


def sshd_session() -> tuple[None, sqlite3.Connection]:
    return None, db_with(SSHD_SESSION)


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


# -- the native tracker through the binding: /proc, the store, a restart -------------------------------------------


def tree_pipeline() -> Pipeline:
    return Pipeline(Settings(process_tree=True, live=True, events_json=False))


def tree_rows(p: Pipeline) -> list[dict]:
    b = p.tree_idle(time.monotonic())
    return [dict(zip(COLS, r, strict=True)) for t, r in b.rows if t == "process_tree"]


def test_seed_knows_this_process_and_its_parent() -> None:
    p = tree_pipeline()
    kept, gone, seeded = p.tree_start([])
    assert (kept, gone) == (0, 0) and seeded >= 3
    rows = {r["pid"]: r for r in tree_rows(p)}
    me = rows[os.getpid()]
    assert me["parent"] == os.getppid() and me["source"] == "proc" and me["exit_time"] is None
    assert me["path"] == os.path.realpath(f"/proc/{os.getpid()}/exe")
    assert rows[os.getppid()]["pid"] == os.getppid()
    assert rows[1]["parent"] is None
    assert p.tree_size() == len(rows) == seeded and p.tree_counters()["seeded"] == seeded


def test_store_upserts_reload_and_retention(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "a.db"))
    store.create_schema()
    p = tree_pipeline()
    p.tree_seed()
    # only processes that outlive the test (the machine's others may exit before the reload below)
    seeded = [r for r in tree_rows(p) if r["pid"] in {1, os.getppid(), os.getpid()}]
    assert len(seeded) == 3
    gone = dict(seeded[0], pid=999999, process_start=5.0, path="/usr/bin/gone", time=5)  # no such pid
    exited = dict(seeded[0], pid=999998, process_start=4.0, path="/usr/bin/old", exit_time=6.0, time=6)
    store.insert([("process_tree", tuple(r[c] for c in COLS)) for r in [*seeded, gone, exited]])
    # the same process stored again is one row (an upsert)
    me = next(r for r in seeded if r["pid"] == os.getpid())
    store.insert([("process_tree", tuple(dict(me, path="/usr/bin/changed")[c] for c in COLS))])
    store.flush()
    assert store.conn.execute(
        "SELECT count(*), max(path) FROM process_tree WHERE pid = ?", (os.getpid(),)
    ).fetchone() == (1, "/usr/bin/changed")
    # retention by age and by count spares the rows of live processes
    deleted = store.retention(expiry_seconds=1, max_rows=1, now=time.time() + 10**9)
    assert deleted == {"process_tree": 1}
    assert store.conn.execute("SELECT count(*) FROM process_tree WHERE pid = 999998").fetchone() == (0,)
    # a restart: this process is kept, the gone one is marked exited
    again = tree_pipeline()
    kept, n_gone = again.tree_reload(reload_rows(store.conn))
    assert (kept, n_gone) == (3, 1)
    rows = {r["pid"]: r for r in tree_rows(again)}
    assert rows[999999]["exit_source"] == "restart" and rows[999999]["process_start"] == 5.0
    assert again.tree_seed() >= 0
    assert reload_rows(sqlite3.connect(":memory:")) == []
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

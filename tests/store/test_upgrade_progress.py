"""The upgrade of a large store of the layout before, at a terminal (docs/store.md, "Layout versions and
ownership"): the progress bar, drawn once per step, exactly; the content after, exactly; and a store newer than
the program: one line, exit status 2, the file untouched.

Two upgrades: an agent's store of the layout before compact events (``audit_events`` with JSON ``raw``,
``summary``, ``sections``), opened by ``auditsql import``; and a central store of ``auditsql collect`` with
``host`` as text in every row (layout 2), opened by ``auditsql collect --migrate``. Each store is synthesized
with 120,000 rows (the bar is for stores of more than 100,000) in SQL, in well under a second."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from pathlib import Path

from auditsql.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, Store
from auditsql.tables.central import central_tables
from tests import storedb
from tests.corpus import CORPUS
from tests.fleet.test_central_store import HOST, agent_rows
from tests.ptyrun import run_on_terminal
from tests.store.test_compact import OLD_LAYOUT

#: this interpreter's auditsql (not whichever is first on PATH)
CMD = [sys.executable, "-c", "from auditsql.cli import main; main()"]
ROWS = 120_000
STEP = 20_000
LOG = CORPUS / "threathunters-io_laurel" / "record-execve.txt"
#: the terminal's bar: rich hides the cursor, redraws the line per step, and clears it at the end
HIDE, SHOW, REDRAW, CLEAR = "\x1b[?25l", "\x1b[?25h", "\r\x1b[2K", "\r\n\x1b[?25h\r\x1b[1A\x1b[2K"
_CLOCK = re.compile(r"(-:--:--|\d+:\d\d:\d\d)$")


def bar_frames(name: str, what: str, total: int, steps: list[int]) -> list[str]:
    """The lines the bar draws on a 100-column terminal for ``total`` rows upgraded ``steps`` at a time (the
    time left shown as ``T``): before the first step, after each, and once more when it stops."""
    done = [0]
    for n in steps:
        done.append(done[-1] + n)
    out = []
    for n in [*done, done[-1]]:
        halves = n * 80 // total
        bar = ("━" * (halves // 2) + ("╸" if halves % 2 else "")).ljust(40)
        out.append(f"upgrading {name}: {what} {bar} {n:{len(str(total))}d}/{total} T")
    return out


def screen(raw: bytes) -> tuple[list[str], str]:
    """(the bar's lines, the time left as ``T``; what the terminal shows after the bar is cleared)."""
    text = raw.decode()
    assert text.startswith(HIDE), text[:200]
    bar, sep, after = text[len(HIDE) :].partition(CLEAR)
    assert sep, text[-500:]
    return [_CLOCK.sub("T", line) for line in bar.split(REDRAW)], after


# -- an agent's store of the layout before compact events --------------------------------------------------------


def old_agent_store(path: Path) -> None:
    """:data:`ROWS` events of two records each, in the layout before compact events (the first closed by the
    window, with 2 duplicates)."""
    conn = sqlite3.connect(path)
    conn.executescript(OLD_LAYOUT)
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO audit_events SELECT 'SYSCALL', 'SYSCALL,EOE', 2, NULL, 'execve', 1, 1000 + i, 1000, NULL, "
        "CASE i WHEN 0 THEN 'window' ELSE 'eoe' END, CASE i WHEN 0 THEN '{\"duplicates\":2}' ELSE '{}' END, "
        "'{}', json_array("
        "'type=SYSCALL msg=audit(1700000000.' || (i % 1000) || ':' || i || '): arch=c000003e syscall=59 "
        "success=yes exit=0 pid=' || (1000 + i) || ' auid=1000 comm=\"p' || (i % 7) || '\"', "
        "'type=EOE msg=audit(1700000000.' || (i % 1000) || ':' || i || '):'), "
        "1700000000 + i / 1000, NULL, '1700000000.' || (i % 1000) || ':' || i FROM n",
        (ROWS - 1,),
    )
    conn.commit()
    conn.close()
    os.chmod(path, 0o600)


def test_a_large_agent_store_is_upgraded_with_a_progress_bar(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_agent_store(db)
    with sqlite3.connect(db) as c:
        before = c.execute("SELECT eid, closed_by, raw, pid, time FROM audit_events ORDER BY eid").fetchall()
    status, _out, term = run_on_terminal([*CMD, "import", "--db", str(db), str(LOG)])
    assert status == 0, term.decode()[-2000:]
    lines, after = screen(term)
    assert lines == bar_frames("old.db", "compact events", ROWS, [STEP] * (ROWS // STEP))
    assert after == (
        f"auditsql: imported 7 records, 1 events, 2 rows (audit_events=1, process_events=1) into {db}\r\n"
    )
    c = storedb.connect(db)
    try:
        # every event's records, closed_by and columns as before (and the imported event besides)
        got = c.execute(
            "SELECT eid, closed_by, raw, pid, time FROM audit_events WHERE time >= 1700000000 ORDER BY eid"
        ).fetchall()
        assert [(e, cb, json.loads(r), p, t) for e, cb, r, p, t in got] == [
            (e, cb, json.loads(r), p, t) for e, cb, r, p, t in before
        ]
        assert (
            c.execute("SELECT count(*), count(DISTINCT eid) FROM audit_events").fetchone() == (ROWS + 1,) * 2
        )
        first = json.loads(
            c.execute("SELECT summary FROM audit_events WHERE eid = '1700000000.0:0'").fetchone()[0]
        )
        assert (first["closed_by"], first["duplicates"]) == ("window", 2)
        assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert c.execute("SELECT type FROM sqlite_master WHERE name = 'audit_events'").fetchone() == ("view",)
    finally:
        c.close()


# -- a central store of layout 2: host as text in every row -----------------------------------------------------


def old_central_store(path: Path) -> None:
    """A central store of layout 2 (``host`` text in every table): the three events of
    :func:`tests.fleet.test_central_store.agent_rows` from ``HOST``, :data:`ROWS` process_events rows of three
    hosts, two processes of the process tree, a loss record and a query result."""
    tables = {t.name: t for t in central_tables()}
    s = Store(str(path), tables=tables.values())
    s.create_schema()
    conn = s.conn
    conn.execute("BEGIN")
    _lines, rows = agent_rows()
    for name, row in rows:
        conn.execute(tables[name].insert_sql(), (HOST, *row))
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO process_events (host, pid, path, cmdline, auid, time, eid) SELECT 'web' || (i % 3) || "
        "'.example.com', 2000 + i, '/usr/bin/p' || (i % 50), 'p ' || i, 1000, 1700000100 + i / 100, "
        "'1700000100.' || (i % 1000) || ':' || i FROM n",
        (ROWS - 3 - 1,),
    )
    tree = tables["process_tree"]
    for pid, parent in ((10, None), (11, 10)):
        row = dict.fromkeys(tree.stored_names)
        row.update(host="web1.example.com", node="", pid=pid, process_start=1.5, parent=parent, time=1)
        row.update(parent_start=None if parent is None else 1.5)
        conn.execute(tree.insert_sql(), tuple(row.values()))
    conn.execute(
        "INSERT INTO audit_loss (host, time, cause, count, detail) VALUES ('web2.example.com', 5, 'kernel', 3, 'x')"
    )
    conn.execute("INSERT INTO query_results VALUES ('web0.example.com', 'q', 'added', 7, 1, '{}')")
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version = 2")
    s.close()
    os.chmod(path, 0o600)


def test_a_large_central_store_is_upgraded_with_a_progress_bar(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    old_central_store(db)
    tables = [t for t in central_tables() if t.name != "audit_events"]
    c = storedb.connect(db)
    before = {t.name: c.execute(f"SELECT rowid, * FROM {t.name} ORDER BY rowid").fetchall() for t in tables}
    before["audit_events"] = c.execute("SELECT * FROM audit_events ORDER BY eid").fetchall()
    ancestry = c.execute("SELECT * FROM process_ancestry").fetchall()
    c.close()
    # the 3 events, ROWS process_events (3 of them the events'), 2 processes, a loss record, a result
    assert sum(len(rows) for rows in before.values()) == ROWS + 7
    assert ancestry == [("web1.example.com", "", 11, 1.5, 10, 1.5, 1)]

    status, _out, term = run_on_terminal([*CMD, "collect", "--db", str(db), "--migrate"])
    assert status == 0, term.decode()[-2000:]
    lines, after = screen(term)
    # one step per 20,000 rowids of a table, in the registry's order: process_events (120,000 rows),
    # process_tree (2), audit_events (3), audit_loss (1), query_results (1); the tables without rows make none
    assert lines == bar_frames("central.db", "host ids", ROWS + 7, [STEP] * (ROWS // STEP) + [2, 3, 1, 1])
    assert after == f"auditsql: {db}: the auditsql schema is at version {SCHEMA_VERSION}\r\n"

    c = storedb.connect(db)
    try:
        # each table's rows, same rowids, same values; host by id
        for t in tables:
            cols = ", ".join(n for n in t.stored_names if n != "host")
            data = f"{t.name}_data"
            got = c.execute(
                f"SELECT {data}.rowid, host, {cols} FROM {data} JOIN hosts USING (host_id) ORDER BY {data}.rowid"
            ).fetchall()
            assert got == before[t.name], t.name
            assert sorted(c.execute(f"SELECT * FROM {t.name}").fetchall(), key=repr) == sorted(
                (r[1:] for r in before[t.name]), key=repr
            )
        assert c.execute("SELECT * FROM audit_events ORDER BY eid").fetchall() == before["audit_events"]
        assert c.execute("SELECT * FROM process_ancestry").fetchall() == ancestry
        # each name once (process_events' first, by name; the other tables' names are among them)
        assert c.execute("SELECT host_id, host FROM hosts").fetchall() == [
            (1, "web0.example.com"),
            (2, HOST),
            (3, "web2.example.com"),
        ]
        # the old tables went; the new ones have the indexes; the file says so
        names = {n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"process_events", "audit_events_data_v2", "process_tree"} & names == set()
        plan = c.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM process_events WHERE host = 'web1.example.com' AND time > 5"
        ).fetchall()
        assert [r[3] for r in plan][-1] == (
            "SEARCH process_events_data USING INDEX process_events_host_time (host_id=? AND time>?)"
        )
        assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        c.close()


def test_a_central_store_newer_than_the_program_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("CREATE TABLE process_events_data (host_id INTEGER)")
    conn.close()
    before = db.read_bytes()
    line = (
        f"auditsql: {db} was written by a newer auditsql (store layout {SCHEMA_VERSION + 1}; this one knows up to "
        f"{SCHEMA_VERSION}): upgrade auditsql; the file is left as it is\r\n"
    )
    for args in (["--migrate"], ["--nats", "nats://127.0.0.1:9", "--duration", "1"]):
        status, out, term = run_on_terminal([*CMD, "collect", "--db", str(db), *args])
        assert (status, out, term.decode()) == (2, b"", line)
        assert db.read_bytes() == before

"""The read-only query engine: results, one-line errors, write refusal, time limit, live tables."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from auditsql.query.engine import Engine, QueryError, run_query, split_statements
from auditsql.store.sqlite import Store
from tests.store.conftest import TABLES

TABLE_MAP = {t.name: t for t in TABLES}


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "q.db")
    s = Store(path, tables=TABLES)
    s.create_schema()
    s.insert(
        [
            ("t_events", (1, "/bin/ls", 0.5, 100, None, "1.0:1")),
            ("t_events", (2, "/bin/sh", None, 200, 7, "2.0:2")),
        ]
    )
    s.insert([("t_live", ("stored", 1, 5))])
    s.close()
    return path


def _engine(db: str, **kw) -> Engine:
    kw.setdefault("tables", TABLE_MAP)
    return Engine(db, **kw)


def _digest(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _err(eng: Engine, sql: str) -> str:
    with pytest.raises(QueryError) as e:
        eng.execute(sql)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_select(db):
    with _engine(db) as eng:
        assert eng.execute("SELECT pid, path, score, time, uptime, eid FROM t_events ORDER BY pid;") == (
            ["pid", "path", "score", "time", "uptime", "eid"],
            [(1, "/bin/ls", 0.5, 100, None, "1.0:1"), (2, "/bin/sh", None, 200, 7, "2.0:2")],
        )
        assert eng.execute("  -- nothing\n") == ([], [])


def test_run_query_uses_the_registry(tmp_path):
    path = str(tmp_path / "r.db")
    s = Store(path)
    s.create_schema()
    s.close()
    assert run_query(path, "SELECT count(*) AS n FROM process_events") == (["n"], [(0,)])


def test_missing_database(tmp_path):
    path = str(tmp_path / "none.db")
    with pytest.raises(QueryError) as e:
        _engine(path)
    assert (
        str(e.value) == f"no database at {path}: run `auditsql run` or `auditsql import` first, or pass --db"
    )
    assert not os.path.exists(path)


def test_unreadable_database(db, monkeypatch):
    monkeypatch.setattr(os, "access", lambda p, m: False)
    with pytest.raises(QueryError) as e:
        _engine(db)
    assert str(e.value) == (
        f"cannot read database {db}: permission denied (the store is private to its owner: run as root, or pass "
        "--db with a database you can read)"
    )


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"junk" * 1000)
    with pytest.raises(QueryError) as e:
        _engine(str(path))
    assert str(e.value) == (
        f"cannot read database {path}: file is not a database (pass --db with an auditsql database)"
    )


def test_bad_sql_names_sqlites_message_and_position(db):
    with _engine(db) as eng:
        assert _err(eng, "SELEC * FROM t_events") == 'bad SQL: near "SELEC": syntax error (at character 1)'
        assert _err(eng, "SELECT * FROMM t_events") == 'bad SQL: near "FROMM": syntax error (at character 10)'
        assert _err(eng, "SELECT * FROM t_events WHERE") == "bad SQL: incomplete input"
        assert _err(eng, "SELECT 1; SELECT 2") == (
            "bad SQL: more than one statement (run one at a time, or use `auditsql shell`)"
        )


def test_unknown_table_lists_the_known_ones(db):
    with _engine(db) as eng:
        assert _err(eng, "SELECT * FROM t_event") == (
            "unknown table t_event: did you mean t_events? known tables: t_counters, t_events, t_live, t_other"
        )
        assert _err(eng, "SELECT * FROM nothing_like_it") == (
            "unknown table nothing_like_it: known tables: t_counters, t_events, t_live, t_other"
        )


def test_unknown_column(db):
    with _engine(db) as eng:
        assert _err(eng, "SELECT pidd FROM t_events") == (
            "unknown column pidd: did you mean pid? `.schema t_events` in `auditsql shell` lists the columns"
        )
        assert _err(eng, "SELECT e.zzz FROM t_events e") == (
            "unknown column e.zzz: `.schema t_events` in `auditsql shell` lists the columns"
        )


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("INSERT INTO t_events (pid) VALUES (3)", "INSERT"),
        ("UPDATE t_events SET pid = 9", "UPDATE"),
        ("DELETE FROM t_events", "DELETE"),
        ("DROP TABLE t_events", "DROP TABLE"),
        ("CREATE TABLE x (a)", "CREATE TABLE"),
        ("CREATE TEMP TABLE x (a)", "CREATE TABLE"),
        ("CREATE VIRTUAL TABLE v USING fts5(a)", "CREATE VIRTUAL TABLE"),
        ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ("DETACH DATABASE temp", "DETACH"),
        ("REPLACE INTO t_other VALUES (1, 2)", "REPLACE"),
        ("CREATE INDEX i ON t_events(path)", "CREATE INDEX"),
        ("ALTER TABLE t_events ADD COLUMN z", "ALTER TABLE"),
        ("ATTACH DATABASE ':memory:' AS m", "ATTACH"),
        ("PRAGMA journal_mode=DELETE", "PRAGMA"),
        ("PRAGMA user_version=5", "PRAGMA"),
        ("VACUUM", "VACUUM"),
        ("REINDEX", "REINDEX"),
        ("WITH x AS (SELECT 1) INSERT INTO t_other SELECT 1, 2 FROM x", "INSERT"),
    ],
)
def test_writes_are_refused(db, sql, word):
    before = _digest(db)
    with _engine(db) as eng:
        assert _err(eng, sql) == (
            f"read-only: {word} is refused (queries never change the store; rows come from `auditsql run` and "
            "`auditsql import`)"
        )
        assert eng.execute("SELECT count(*) FROM t_events") == (["count(*)"], [(2,)])
    assert _digest(db) == before


def test_reading_pragmas_are_allowed(db):
    with _engine(db) as eng:
        assert eng.execute("PRAGMA table_info(t_other)")[1] == [
            (0, "n", "INTEGER", 0, None, 0),
            (1, "time", "INTEGER", 0, None, 0),
        ]
        assert eng.execute("PRAGMA journal_mode") == (["journal_mode"], [("wal",)])


def test_time_limit(db):
    with _engine(db, timeout=0.2) as eng:
        t0 = time.monotonic()
        msg = _err(
            eng, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
        )
        assert time.monotonic() - t0 < 5
        assert msg == (
            "query stopped by the time limit of 0.2 s (narrow it with WHERE on an indexed column such as time, add "
            "LIMIT, or raise --timeout)"
        )
        # the engine is usable afterwards
        assert eng.execute("SELECT 1") == (["1"], [(1,)])


def test_live_tables_are_read_into_temp_tables_only_when_named(db):
    calls: list[str] = []

    def fake(name: str) -> list[tuple]:
        calls.append(name)
        return [("enabled", len(calls), 0), ("pid", 42, 0)]

    before = _digest(db)
    with _engine(db, live_rows=fake) as eng:
        assert eng.execute("SELECT count(*) FROM t_events") == (["count(*)"], [(2,)])
        assert calls == []
        assert eng.execute("SELECT k, v FROM t_live") == (["k", "v"], [("enabled", 1), ("pid", 42)])
        assert eng.execute("select k, v from T_LIVE where k = 'enabled'") == (["k", "v"], [("enabled", 2)])
        assert calls == ["t_live", "t_live"]
        # the copy in the file is untouched; writes to the temp copy are refused too
        assert eng.execute("SELECT k, v FROM main.t_live") == (["k", "v"], [("stored", 1)])
        assert _err(eng, "DELETE FROM t_live").startswith("read-only: DELETE is refused")
    assert _digest(db) == before


def test_live_table_failure_is_one_line(db):
    def denied(name: str) -> list[tuple]:
        raise PermissionError(1, "Operation not permitted")

    with _engine(db, live_rows=denied) as eng:
        assert _err(eng, "SELECT * FROM t_live") == (
            "t_live: cannot read from the kernel: Operation not permitted (live tables need root and kernel audit "
            "support; main.t_live holds the copy stored by `auditsql run`)"
        )
        assert eng.execute("SELECT count(*) FROM t_other") == (["count(*)"], [(0,)])


def test_live_table_error_of_the_tables_package_is_passed_on(db):
    from auditsql.tables import LiveTableError

    def fails(name: str) -> list[tuple]:
        raise LiveTableError("cannot read t_live: this kernel has no audit support")

    with _engine(db, live_rows=fails) as eng:
        assert _err(eng, "SELECT * FROM t_live") == "cannot read t_live: this kernel has no audit support"


def test_split_statements():
    assert split_statements("SELECT 1; SELECT 2;") == ["SELECT 1;", "SELECT 2;"]
    assert split_statements("SELECT ';' AS a; SELECT \"x;y\" FROM t") == [
        "SELECT ';' AS a;",
        'SELECT "x;y" FROM t',
    ]
    assert split_statements("SELECT 1 -- a; comment\n; ;  ") == ["SELECT 1 -- a; comment\n;"]
    assert split_statements("/* only ; a comment */") == []
    assert split_statements("SELECT 1") == ["SELECT 1"]
    assert split_statements("") == []

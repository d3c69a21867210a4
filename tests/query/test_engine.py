"""The read-only query engine: results, one-line errors, write refusal, time limit, live tables."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import time

import pytest

from auditsql.query.engine import VALUE_LIMIT, Engine, QueryError, run_query, split_statements
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


def test_permission_denied_on_the_path_is_not_a_missing_database(db, monkeypatch):
    # a non-root user and the default store: /var/lib/auditsql (0700) cannot be searched, so stat() fails with
    # EACCES, which is not "no database"
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path) == db:
            raise PermissionError(13, "Permission denied", path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    with pytest.raises(QueryError) as e:
        _engine(db)
    assert str(e.value) == (
        f"cannot read database {db}: permission denied (the store is private to its owner: run as root, or pass "
        "--db with a database you can read)"
    )
    assert e.value.code == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_unsearchable_directory_is_permission_denied(tmp_path):
    d = tmp_path / "private"
    d.mkdir()
    path = str(d / "q.db")
    Store(path, tables=TABLES).close()
    d.chmod(0o000)
    try:
        with pytest.raises(QueryError) as e:
            _engine(path)
    finally:
        d.chmod(0o700)
    assert str(e.value).startswith(f"cannot read database {path}: permission denied")


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


def test_rows_are_computed_as_they_are_read(db):
    with _engine(db) as eng:
        rows = eng.rows("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
        assert rows.columns == ["x"]
        assert list(itertools.islice(rows, 3)) == [(1,), (2,), (3,)]
        rows.close()
        assert eng.execute("SELECT 1") == (["1"], [(1,)])
        empty = eng.rows("-- nothing")
        assert (empty.columns, list(empty)) == ([], [])


def test_time_limit_counts_sqlites_time_not_the_readers(db):
    with _engine(db, timeout=0.3) as eng:
        got = []
        for row in eng.rows("SELECT pid FROM t_events UNION ALL SELECT 3 ORDER BY 1"):
            got.append(row)
            time.sleep(0.2)  # a slow reader (a pager): 0.6 s in all, beyond the 0.3 s limit
        assert got == [(1,), (2,), (3,)]


def test_time_limit_while_rows_are_read(db):
    with _engine(db, timeout=0.2) as eng:
        rows = eng.rows("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
        got = 0
        with pytest.raises(QueryError) as e:
            for _ in rows:
                got += 1
        assert got > 1000
        assert str(e.value) == (
            "query stopped by the time limit of 0.2 s (narrow it with WHERE on an indexed column such as time, add "
            "LIMIT, or raise --timeout)"
        )


def test_value_size_is_capped(db):
    with _engine(db) as eng:
        assert eng.conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == VALUE_LIMIT == 8 << 20
        assert eng.execute(f"SELECT length(zeroblob({VALUE_LIMIT}))") == (
            [f"length(zeroblob({VALUE_LIMIT}))"],
            [(VALUE_LIMIT,)],
        )
        assert _err(eng, f"SELECT length(zeroblob({VALUE_LIMIT + 1}))") == (
            "a value grew beyond 8388608 bytes, the limit of one value (narrow it, e.g. with substr() or a smaller "
            "count)"
        )
        assert _err(eng, f"SELECT zeroblob({VALUE_LIMIT // 2 + 1}) || zeroblob({VALUE_LIMIT // 2})") == (
            "a value grew beyond 8388608 bytes, the limit of one value (narrow it, e.g. with substr() or a smaller "
            "count)"
        )
        # SQLite's printf() gives NULL when its text would pass the limit (instead of 200 MB in memory)
        assert eng.execute("SELECT printf('%.*c', 2e8, 'x') AS v") == (["v"], [(None,)])


def test_fts3_tokenizer_is_refused(db):
    want = "fts3_tokenizer() is refused (it reads and replaces the SQL engine's internals; queries only read the store)"
    with _engine(db) as eng:
        # one argument: a pointer into the process; two: a tokenizer registered from any blob
        assert _err(eng, "SELECT fts3_tokenizer('simple')") == want
        assert _err(eng, "SELECT FTS3_TOKENIZER('x', X'0000000000000000')") == want
        assert _err(eng, "SELECT 1 FROM t_events WHERE fts3_tokenizer('porter') IS NOT NULL") == want
        assert eng.execute("SELECT 1") == (["1"], [(1,)])


def test_eponymous_virtual_tables_are_reads(db):
    # SQLite asks the authorizer to UPDATE sqlite_master when a statement first uses one of them
    with _engine(db) as eng:
        assert eng.execute("SELECT name FROM pragma_table_list WHERE name = 't_events'") == (
            ["name"],
            [("t_events",)],
        )
        assert eng.execute("SELECT count(*) > 0 FROM dbstat WHERE name = 't_events'") == (
            ["count(*) > 0"],
            [(1,)],
        )
        assert eng.execute("SELECT value FROM json_each('[1,2]')") == (["value"], [(1,), (2,)])
        assert eng.execute("SELECT name FROM pragma_table_info('t_other')") == (["name"], [("n",), ("time",)])
        # a write to the schema table is still refused, by its own word
        assert _err(eng, "UPDATE sqlite_master SET sql = ''") == (
            "read-only: UPDATE is refused (queries never change the store; rows come from `auditsql run` and "
            "`auditsql import`)"
        )


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

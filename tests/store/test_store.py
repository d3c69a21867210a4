"""The SQLite store: file modes, WAL, schema from the registry, batching, retention, live refresh, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

import auditsql.tables
from auditsql.store.sqlite import DEFAULT_DB, DEFAULT_EXPIRY, DEFAULT_MAX_ROWS, Store, StoreError
from tests.store.conftest import TABLES

DAY = 86400


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _rows(path: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _store(path, **kw) -> Store:
    s = Store(str(path), tables=TABLES, **kw)
    s.create_schema()
    return s


def test_defaults_documented_values():
    assert DEFAULT_DB == "/var/lib/auditsql/auditsql.db"
    assert DEFAULT_EXPIRY == 7 * 86400
    assert DEFAULT_MAX_ROWS == 1_000_000


def test_creates_private_directories_and_file_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        db = tmp_path / "a" / "b" / "audit.db"
        s = _store(db)
        s.insert([("t_events", (1, "/bin/true", 0.5, 100, None, "1.0:1"))])
        s.flush()
        assert _mode(str(tmp_path / "a")) == 0o700
        assert _mode(str(tmp_path / "a" / "b")) == 0o700
        assert _mode(str(db)) == 0o600
        # SQLite gives its WAL and shared-memory files the database file's mode
        assert _mode(str(db) + "-wal") == 0o600
        assert _mode(str(db) + "-shm") == 0o600
        s.close()
    finally:
        os.umask(old)


def test_an_existing_directory_keeps_its_mode_a_store_open_to_its_group_is_made_private(tmp_path, capsys):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o755)
    db = d / "x.db"
    db.touch()
    os.chmod(db, 0o640)
    _store(db).close()
    assert _mode(str(d)) == 0o755
    assert _mode(str(db)) == 0o600
    assert capsys.readouterr().err == (
        f"auditsql: {db} was mode 0640 (open to its group; audit events can hold secrets): made 0600\n"
    )


def _wal_open(db) -> sqlite3.Connection:
    """A second writer holding the store's -wal and -shm open (they exist while it is open)."""
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("INSERT INTO t_counters (n) VALUES (1)")
    conn.commit()
    return conn


def test_a_world_readable_store_and_its_wal_and_shm_are_made_private(tmp_path, capsys):
    db = tmp_path / "x.db"
    _store(db).close()
    other = _wal_open(db)
    try:
        for p in (db, f"{db}-wal", f"{db}-shm"):
            os.chmod(p, 0o644)
        s = _store(db)
        assert [_mode(f"{db}{suffix}") for suffix in ("", "-wal", "-shm")] == [0o600, 0o600, 0o600]
        s.insert([("t_counters", (2,))])
        s.close()
    finally:
        other.close()
    assert capsys.readouterr().err == (
        f"auditsql: {db} was mode 0644 (open to others; audit events can hold secrets): made 0600, and "
        "x.db-wal, x.db-shm\n"
    )
    assert _rows(str(db), "SELECT n FROM t_counters ORDER BY n") == [(1,), (2,)]


def test_a_private_store_is_opened_as_it_is_and_nothing_is_said(tmp_path, capsys):
    db = tmp_path / "x.db"
    _store(db).close()
    os.chmod(db, 0o400)  # narrower than 0600: left so (root writes it anyway)
    _store(db).close()
    assert _mode(str(db)) == 0o400
    assert capsys.readouterr().err == ""


def test_a_read_only_open_changes_no_mode(tmp_path, capsys):
    db = tmp_path / "x.db"
    _store(db).close()
    os.chmod(db, 0o644)
    Store(str(db), readonly=True, tables=TABLES).close()
    assert _mode(str(db)) == 0o644
    assert capsys.readouterr().err == ""


def test_a_store_that_cannot_be_made_private_is_refused_with_one_line(tmp_path, monkeypatch):
    db = tmp_path / "x.db"
    _store(db).close()
    os.chmod(db, 0o644)

    def refuse(path, mode):
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(StoreError) as info:
        _store(db)
    assert str(info.value) == (
        f"{db} is open to group or others and cannot be made private (Operation not permitted): chmod 600 it "
        "(and its -wal and -shm) as its owner, or pass --db with another path"
    )
    assert info.value.code == 1
    monkeypatch.undo()
    assert _mode(str(db)) == 0o644


def test_wal_and_synchronous_normal(tmp_path):
    s = _store(tmp_path / "x.db")
    assert s.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert s.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    s.close()


def test_schema_and_indexes_come_from_the_registry(tmp_path):
    db = str(tmp_path / "x.db")
    _store(db).close()
    tables = _rows(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    # beside the registry's tables: the compression dictionaries the store's blobs use, the scheduler's state
    assert tables == [
        ("audit_dictionaries",),
        ("audit_schedule",),
        ("t_counters",),
        ("t_events",),
        ("t_live",),
        ("t_other",),
    ]
    indexes = _rows(db, "SELECT name, tbl_name FROM sqlite_master WHERE type='index' ORDER BY name")
    assert indexes == [
        ("t_events_eid", "t_events"),
        ("t_events_path", "t_events"),
        ("t_events_pid", "t_events"),
        ("t_events_time", "t_events"),
        ("t_other_time", "t_other"),
    ]
    cols = _rows(db, "SELECT name, type FROM pragma_table_info('t_events') ORDER BY cid")
    assert cols == [
        ("pid", "INTEGER"),
        ("path", "TEXT"),
        ("score", "REAL"),
        ("time", "INTEGER"),
        ("uptime", "INTEGER"),
        ("eid", "TEXT"),
    ]


def test_default_tables_are_the_registry(tmp_path):
    from auditsql.tables.registry import REGISTRY

    s = Store(str(tmp_path / "x.db"))
    assert sorted(s.tables) == sorted(REGISTRY)
    s.create_schema()
    names = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    # audit_events is a view over audit_events_data (its summary, sections and raw derived from the blob)
    assert names == set(REGISTRY) | {
        "audit_events_data",
        "audit_dictionaries",
        "process_ancestry",
        "audit_schedule",
    }
    assert s.conn.execute("SELECT type FROM sqlite_master WHERE name = 'audit_events'").fetchone() == (
        "view",
    )
    # layout 3: the central store's host ids and the scheduler's state (audit_schedule)
    assert s.conn.execute("PRAGMA user_version").fetchone() == (3,)
    assert s.conn.execute("PRAGMA application_id").fetchone() == (0x61756471,)
    s.close()


def test_create_schema_adds_columns_missing_from_an_older_table(tmp_path):
    from auditsql.tables.registry import Column, Table

    db = str(tmp_path / "x.db")
    old = Table("t_grow", "v1", (Column("a", "TEXT", "a"),))
    s = Store(db, tables=[old])
    s.create_schema()
    s.insert([("t_grow", ("old",))])
    s.close()
    new = Table("t_grow", "v2", (Column("a", "TEXT", "a"), Column("b", "BIGINT", "b", index=True)))
    s = Store(db, tables=[new])
    s.create_schema()
    s.insert([("t_grow", ("new", 7))])
    s.close()
    assert _rows(db, "SELECT a, b FROM t_grow ORDER BY rowid") == [("old", None), ("new", 7)]
    assert _rows(db, "SELECT name FROM sqlite_master WHERE type='index'") == [("t_grow_b",)]


def test_create_schema_drops_an_index_a_composite_now_serves(tmp_path):
    from auditsql.tables.registry import Column, Table

    db = str(tmp_path / "x.db")
    cols = (Column("path", "TEXT", "p", index=True), Column("time", "BIGINT", "t"))
    s = Store(db, tables=[Table("t_idx", "v1", cols)])
    s.create_schema()
    s.close()
    assert _rows(db, "SELECT name FROM sqlite_master WHERE type='index'") == [("t_idx_path",)]
    s = Store(db, tables=[Table("t_idx", "v2", cols, indexes=(("path", "time"),))])
    s.create_schema()
    s.close()
    assert _rows(db, "SELECT name FROM sqlite_master WHERE type='index'") == [("t_idx_path_time",)]


def test_rows_are_buffered_until_a_batch_is_full(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db, batch_rows=3, batch_seconds=3600)
    s.insert([("t_other", (1, 10)), ("t_events", (1, "/a", None, 10, None, "e1"))])
    assert _rows(db, "SELECT count(*) FROM t_other") == [(0,)]
    s.insert([("t_other", (2, 11))])
    assert _rows(db, "SELECT n, time FROM t_other ORDER BY rowid") == [(1, 10), (2, 11)]
    assert _rows(db, "SELECT pid, path, time, eid FROM t_events") == [(1, "/a", 10, "e1")]
    assert s.counts["t_other"] == 2
    assert s.counts["t_events"] == 1
    assert s.batches == 1
    s.insert([("t_other", (3, 12))])
    assert s.flush() == 1
    assert s.flush() == 0
    assert _rows(db, "SELECT count(*) FROM t_other") == [(3,)]
    s.close()


def test_one_transaction_and_one_executemany_per_table_per_batch(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db, batch_rows=1000, batch_seconds=3600)
    traced: list[str] = []
    s.conn.set_trace_callback(traced.append)
    s.insert([("t_other", (i, i)) for i in range(5)])
    s.insert([("t_events", (i, "/p", None, i, None, str(i))) for i in range(4)])
    s.flush()
    s.conn.set_trace_callback(None)
    # executemany steps each table's one prepared INSERT once per row, all inside one transaction
    heads = [" ".join(t.split()[:3]) for t in traced]
    assert heads == ["BEGIN IMMEDIATE"] + ["INSERT INTO t_events"] * 4 + ["INSERT INTO t_other"] * 5 + [
        "COMMIT"
    ]
    assert (
        traced[1]
        == "INSERT INTO t_events (pid, path, score, time, uptime, eid) VALUES (0, '/p', NULL, 0, NULL, '0')"
    )
    assert traced[5] == "INSERT INTO t_other (n, time) VALUES (0, 0)"
    s.close()


def test_old_buffer_is_committed_by_tick_and_by_insert(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db, batch_rows=1000, batch_seconds=0.05)
    s.insert([("t_other", (1, 1))])
    s.tick()
    assert _rows(db, "SELECT count(*) FROM t_other") == [(0,)]
    time.sleep(0.06)
    s.tick()
    assert _rows(db, "SELECT count(*) FROM t_other") == [(1,)]
    s.insert([("t_other", (2, 2))])
    time.sleep(0.06)
    s.insert([("t_other", (3, 3))])
    assert _rows(db, "SELECT n FROM t_other ORDER BY rowid") == [(1,), (2,), (3,)]
    s.close()


def test_close_commits_the_buffer_and_is_idempotent(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db)
    s.insert([("t_other", (1, 1))])
    s.close()
    s.close()
    assert _rows(db, "SELECT n FROM t_other") == [(1,)]
    with pytest.raises(StoreError) as e:
        s.insert([("t_other", (2, 2))])
        s.flush()
    assert str(e.value) == f"{db} is closed"


def test_unknown_table_is_one_line(tmp_path):
    s = _store(tmp_path / "x.db")
    with pytest.raises(StoreError) as e:
        s.insert([("nope", (1,))])
    assert str(e.value) == "unknown table nope: not in the table registry"
    s.close()


def test_a_bad_batch_is_reported_and_dropped_and_the_store_goes_on(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db, batch_rows=1000)
    s.insert([("t_other", (1, 1)), ("t_other", (1, 2, 3))])
    with pytest.raises(StoreError) as e:
        s.flush()
    assert str(e.value).startswith(f"cannot write 2 rows to {db}: Incorrect number of bindings")
    s.insert([("t_other", (5, 5))])
    s.flush()
    assert _rows(db, "SELECT n FROM t_other") == [(5,)]
    s.close()


def test_retention_by_age_uses_event_time(tmp_path):
    db = str(tmp_path / "x.db")
    now = 1_700_000_000
    s = _store(db)
    times = [now - 10 * DAY, now - 8 * DAY, now - 7 * DAY, now - DAY, now]
    s.insert([("t_events", (i, "/p", None, t, None, str(i))) for i, t in enumerate(times)])
    s.insert([("t_other", (i, t)) for i, t in enumerate(times)])
    s.insert([("t_counters", (1,))])
    deleted = s.retention(7 * DAY, None, now=now)
    assert deleted == {"t_events": 2, "t_other": 2}
    assert _rows(db, "SELECT pid, time FROM t_events ORDER BY rowid") == [
        (2, now - 7 * DAY),
        (3, now - DAY),
        (4, now),
    ]
    assert _rows(db, "SELECT count(*) FROM t_counters") == [(1,)]
    s.close()


def test_retention_by_rows_keeps_the_newest_stored(tmp_path):
    db = str(tmp_path / "x.db")
    s = _store(db)
    s.insert([("t_other", (i, 1000 + i)) for i in range(1, 11)])
    s.insert([("t_counters", (i,)) for i in range(1, 4)])
    deleted = s.retention(None, 4)
    assert deleted == {"t_other": 6}
    assert _rows(db, "SELECT n FROM t_other ORDER BY rowid") == [(7,), (8,), (9,), (10,)]
    assert _rows(db, "SELECT n FROM t_counters ORDER BY rowid") == [(1,), (2,), (3,)]
    # later rows are appended after the survivors and the cap still holds
    s.insert([("t_other", (11, 2000))])
    assert s.retention(None, 4) == {"t_other": 1}
    assert _rows(db, "SELECT n FROM t_other ORDER BY rowid") == [(8,), (9,), (10,), (11,)]
    s.close()


def test_retention_both_limits_and_disabled_limits(tmp_path):
    db = str(tmp_path / "x.db")
    now = 1_700_000_000
    s = _store(db)
    s.insert([("t_other", (i, now - (10 - i) * DAY)) for i in range(10)])  # days 10..1 ago
    assert s.retention(None, None, now=now) == {}
    assert s.retention(0, 0, now=now) == {}
    assert s.retention(5 * DAY, 3, now=now) == {"t_other": 7}
    assert _rows(db, "SELECT n FROM t_other ORDER BY rowid") == [(7,), (8,), (9,)]
    s.close()


def test_retention_leaves_live_tables_alone(tmp_path, monkeypatch):
    db = str(tmp_path / "x.db")
    s = _store(db)
    monkeypatch.setattr(auditsql.tables, "live_rows", lambda name: [("a", 1, 0), ("b", 2, 0)], raising=False)
    assert s.refresh_live(["t_live"]) == {"t_live": 2}
    assert s.retention(1, 1, now=10**10) == {}
    assert _rows(db, "SELECT k, v FROM t_live ORDER BY rowid") == [("a", 1), ("b", 2)]
    s.close()


def test_refresh_live_replaces_rows(tmp_path, monkeypatch):
    db = str(tmp_path / "x.db")
    s = _store(db)
    calls: list[str] = []

    def fake(name: str) -> list[tuple]:
        calls.append(name)
        return [("enabled", len(calls), 0)]

    monkeypatch.setattr(auditsql.tables, "live_rows", fake, raising=False)
    s.refresh_live(["t_live"])
    s.refresh_live(["t_live"])
    assert calls == ["t_live", "t_live"]
    assert _rows(db, "SELECT k, v FROM t_live") == [("enabled", 2)]
    with pytest.raises(StoreError) as e:
        s.refresh_live(["nope"])
    assert str(e.value) == "unknown table nope: not in the table registry"

    def denied(name: str) -> list[tuple]:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(auditsql.tables, "live_rows", denied, raising=False)
    with pytest.raises(StoreError) as e:
        s.refresh_live(["t_live"])
    assert (
        str(e.value) == "t_live: cannot read from the kernel: [Errno 1] Operation not permitted (run as root)"
    )
    assert _rows(db, "SELECT k, v FROM t_live") == [("enabled", 2)]
    s.close()


def test_readonly_store(tmp_path):
    db = str(tmp_path / "x.db")
    with pytest.raises(StoreError) as e:
        Store(db, readonly=True, tables=TABLES)
    assert str(e.value) == f"no database at {db}: run `auditsql run` or `auditsql import` first, or pass --db"
    s = _store(db)
    s.insert([("t_other", (1, 1))])
    s.close()
    r = Store(db, readonly=True, tables=TABLES)
    assert r.conn.execute("SELECT n FROM t_other").fetchall() == [(1,)]
    with pytest.raises(StoreError) as e:
        r.insert([("t_other", (2, 2))])
        r.flush()
    assert str(e.value) == f"{db} is open read-only"
    r.close()


def test_unwritable_paths_name_the_path_and_the_fix(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    bad = str(f / "x.db")
    with pytest.raises(StoreError) as e:
        Store(bad, tables=TABLES)
    assert str(e.value) == (
        f"cannot create database {bad}: Not a directory (pass --db with a writable path, or run as root)"
    )
    with pytest.raises(StoreError) as e:
        Store(str(tmp_path), tables=TABLES)
    assert str(e.value) == (
        f"cannot use {tmp_path} as the database: it is a directory (pass --db with a writable path, or run as root)"
    )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as e:
        _store(junk)
    assert str(e.value) == (
        f"cannot open database {junk}: file is not a database (pass --db with a writable path, or run as root)"
    )

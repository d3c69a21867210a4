"""The store on a full file system: a batch that cannot be written is dropped whole and said as StoreFull (what
it held, its loss rows handed back); the store stays consistent and takes the next batch once there is room;
closing it raises nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditsql import _core
from auditsql.store.sqlite import Store, StoreError, StoreFull, free_bytes, is_full_error
from tests import storedb
from tests.agent.test_schedule import exec_lines
from tests.tinyfs import fill, tiny_fs


def batch_of(first: int, n: int, pipeline: _core.Pipeline) -> _core.Batch:
    """``n`` exec events (serials first..first+n-1), each with a 300-byte argument."""
    lines = []
    for serial in range(first, first + n):
        lines += exec_lines(serial, 1000 + serial, ["/bin/echo", "x" * 300, str(serial)])
    return pipeline.feed_lines("".join(line + "\n" for line in lines).encode())


def loss_row(cause: str, count: int) -> tuple:
    from auditsql.tables import loss_rows

    return loss_rows([{"time": 1700000000.0, "cause": cause, "count": count, "detail": "d"}])[0]


@pytest.fixture
def full_store(tmp_path: Path):
    """A store on a 2 MiB tmpfs holding 10 events, the rest of the file system taken by a filler file."""
    with tiny_fs(tmp_path / "fs") as fs:
        store = Store(str(fs / "s.db"))
        store.create_schema()
        pipeline = _core.Pipeline(_core.Settings(resolve_ids=False))
        store.insert_batch(batch_of(1, 10, pipeline))
        assert store.flush() == 20
        filler = fill(fs, leave=0)
        try:
            yield store, pipeline, filler
        finally:
            store.close()


def test_a_batch_on_a_full_file_system_is_dropped_whole_and_counted(full_store) -> None:
    store, pipeline, filler = full_store
    store.insert_batch(batch_of(11, 40, pipeline))  # the native writer's path
    store.insert([("audit_loss", loss_row("kernel_lost", 3))])  # and Python's
    with pytest.raises(StoreFull) as info:
        store.flush()
    e = info.value
    assert (e.events, e.rows, e.loss_rows, e.reason, e.path) == (
        40,
        81,
        [loss_row("kernel_lost", 3)],
        "database or disk is full",
        store.path,
    )
    assert str(e) == f"cannot write 81 rows to {store.path}: database or disk is full"
    assert isinstance(e, StoreError)  # `auditsql import` still says it in one line
    assert store.flush() == 0  # nothing left buffered: the native writer's rows are gone too
    assert store.counts["audit_events"] == 10
    # room again: the next batch is written, the store as before the failed one plus it
    filler.unlink()
    store.insert_batch(batch_of(51, 5, pipeline))
    assert store.flush() == 10
    with storedb.connect(store.path) as conn:
        serials = sorted(int(eid.split(":")[1]) for (eid,) in conn.execute("SELECT eid FROM audit_events"))
        assert serials == [*range(1, 11), *range(51, 56)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_close_on_a_full_file_system_raises_nothing(full_store) -> None:
    store, _, _ = full_store
    store.close()  # PRAGMA optimize may be refused: it is skipped
    store.close()


def test_retention_on_a_full_file_system_is_store_full(full_store) -> None:
    store, _, _ = full_store
    with pytest.raises(StoreFull) as info:
        store.retention(1, None, now=2_000_000_000)  # every event is older than 1 s: all to delete
    assert (info.value.events, info.value.rows) == (0, 0)
    assert str(info.value).startswith("retention on ")


def test_free_bytes(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs", "1m") as fs:
        got = free_bytes(str(fs / "not-yet.db"))  # a file not made yet: its directory's file system
        assert got is not None and got[1] == 1 << 20 and 0 < got[0] <= 1 << 20
        fill(fs, leave=0)
        assert free_bytes(str(fs / "not-yet.db")) == (0, 1 << 20)
    assert free_bytes(str(tmp_path / "nowhere" / "x" / "s.db")) is None


class FakeError(sqlite3.OperationalError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.sqlite_errorcode = code


def test_what_counts_as_full(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    assert is_full_error(FakeError("database or disk is full", 13), db)  # SQLITE_FULL
    assert not is_full_error(FakeError("database is locked", 5), db)
    assert not is_full_error(FakeError("attempt to write a readonly database", 8), db)
    # an I/O error (SQLITE_IOERR_WRITE) is "full" only when a small file cannot be written there either
    assert not is_full_error(FakeError("disk I/O error", 778), db)
    # the native writer's errors carry SQLite's text
    assert is_full_error(RuntimeError("audit_events: database or disk is full"), db)
    assert not is_full_error(RuntimeError("audit_events: constraint failed"), db)
    with tiny_fs(tmp_path / "fs", "1m") as fs:
        fill(fs, leave=0)
        assert is_full_error(FakeError("disk I/O error", 778), str(fs / "s.db"))  # ENOSPC underneath
        assert is_full_error(RuntimeError("audit_events: disk I/O error"), str(fs / "s.db"))


class FullConn:
    """A connection whose writes fail as SQLite's do on a full disk (the store's other calls pass through)."""

    def __init__(
        self, conn: sqlite3.Connection, code: int = 13, text: str = "database or disk is full"
    ) -> None:
        self.conn = conn
        self.error = FakeError(text, code)

    def executemany(self, sql: str, rows: object) -> None:
        raise self.error

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_python_rows_on_a_full_disk_fake(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"))
    store.create_schema()
    real = store.conn
    store._native = False  # executemany for every row
    store.conn = FullConn(real)  # type: ignore[assignment]
    pipeline = _core.Pipeline(_core.Settings(resolve_ids=False))
    store.insert_batch(batch_of(1, 3, pipeline))
    with pytest.raises(StoreFull) as info:
        store.flush()
    assert (info.value.events, info.value.rows, info.value.loss_rows) == (3, 6, [])
    # another write error stays a StoreError, not StoreFull
    store.conn = FullConn(real, 19, "UNIQUE constraint failed")  # type: ignore[assignment]
    store.insert_batch(batch_of(4, 1, pipeline))
    with pytest.raises(StoreError) as other:
        store.flush()
    assert type(other.value) is StoreError
    assert str(other.value) == f"cannot write 2 rows to {store.path}: UNIQUE constraint failed"
    store.conn = real
    store.close()


def test_opening_a_store_on_a_full_file_system_is_one_line(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs", "1m") as fs:
        db = fs / "s.db"
        Store(str(db)).close()  # made; closing removes its -wal and -shm
        fill(fs, leave=0)
        with pytest.raises(StoreFull) as info:
            Store(str(db))
        assert (
            str(info.value)
            == f"cannot open database {db}: its file system is full (disk I/O error): free some space"
        )

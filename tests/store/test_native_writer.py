"""The store's native writer (auditsql._core.StoreWriter): a batch's rows go into SQLite without a Python
object per row, on Python's own connection and SQLite library, with exactly the rows `executemany` writes."""

from __future__ import annotations

import _sqlite3
import sqlite3
from pathlib import Path

import pytest

from auditsql._core import CoreError, Pipeline, Settings, StoreWriter
from auditsql.store.sqlite import Store, StoreError
from tests.corpus import CORPUS

LOGS = [
    CORPUS / "threathunters-io_laurel" / "record-execve.txt",
    Path(__file__).resolve().parents[2] / "src" / "auditsql" / "data" / "sample.log",
]


def batches() -> list:
    p = Pipeline(Settings(resolve_ids=False, events_json=False))
    out = [p.feed_lines(log.read_bytes()) for log in LOGS]
    return [*out, p.finish()]


def dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    out = {n: conn.execute(f"SELECT * FROM {n} ORDER BY rowid").fetchall() for n in names}
    conn.close()
    return out


def typed(rows: list[tuple]) -> list[tuple]:
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


def store_with(path: Path, native: bool) -> Store:
    s = Store(str(path))
    s.create_schema()
    if not native:
        s._native = False  # the executemany path
    return s


def test_native_rows_equal_executemany_rows_value_and_type(tmp_path: Path) -> None:
    a, b = tmp_path / "native.db", tmp_path / "python.db"
    for path, native in ((a, True), (b, False)):
        s = store_with(path, native)
        for batch in batches():
            n = batch.row_count
            assert s.insert_batch(batch) == n
        assert bool(s._native) is native
        s.close()
    got, want = dump(a), dump(b)
    assert sum(len(v) for v in want.values()) == 53
    assert {k: typed(v) for k, v in got.items()} == {k: typed(v) for k, v in want.items()}


def test_a_batch_given_to_the_writer_keeps_its_count_not_its_rows(tmp_path: Path) -> None:
    s = store_with(tmp_path / "a.db", True)
    batch = batches()[0]
    assert batch.row_count == 2
    assert s.insert_batch(batch) == 2
    assert batch.row_count == 2
    assert batch.rows == []
    assert s.flush() == 2
    assert s.counts["audit_events"] == 1
    assert s.counts["process_events"] == 1
    s.close()


def test_rows_read_before_are_kept_by_the_batch(tmp_path: Path) -> None:
    s = store_with(tmp_path / "a.db", True)
    batch = batches()[0]
    rows = batch.rows
    assert [t for t, _ in rows] == ["audit_events", "process_events"]
    # read as Python objects, still there for the writer; and still there for the reader afterwards
    assert s.insert_batch(batch) == 2
    assert batch.rows == rows
    assert s.flush() == 2
    assert s.conn.execute("SELECT count(*) FROM process_events").fetchone() == (1,)
    s.close()


def test_a_failing_write_rolls_back_says_one_line_and_drops_nothing_silently(tmp_path: Path) -> None:
    s = store_with(tmp_path / "a.db", True)
    s.insert_batch(batches()[0])
    s.conn.execute("DROP VIEW audit_events")
    s.conn.execute("DROP TABLE audit_events_data")
    with pytest.raises(StoreError) as e:
        s.flush()
    assert str(e.value) == f"cannot write 2 rows to {s.path}: audit_events: no such table: audit_events_data"
    assert not s.conn.in_transaction
    assert s.conn.execute("SELECT count(*) FROM process_events").fetchone() == (0,)
    assert s._native.pending() == 0
    s.close()


def test_the_writer_refuses_what_is_not_the_stores_connection(tmp_path: Path) -> None:
    s = store_with(tmp_path / "a.db", True)
    other = sqlite3.connect(tmp_path / "b.db")
    with pytest.raises(CoreError, match="is not the store's"):
        StoreWriter(other, s._insert_sql, s.path, _sqlite3.__file__)
    with pytest.raises(CoreError, match="not a sqlite3.Connection"):
        StoreWriter(object(), s._insert_sql, s.path, _sqlite3.__file__)
    other.close()
    closed = sqlite3.connect(tmp_path / "a.db")
    closed.close()
    with pytest.raises(CoreError, match="closed"):
        StoreWriter(closed, s._insert_sql, s.path, _sqlite3.__file__)
    s.close()


def test_one_sqlite_library_in_the_process(tmp_path: Path) -> None:
    s = store_with(tmp_path / "a.db", True)
    s.insert_batch(batches()[0])
    s.flush()
    s.close()
    maps = Path("/proc/self/maps").read_text().splitlines()
    libs = {line.split()[-1] for line in maps if "sqlite3" in line.split()[-1] and "/" in line}
    core = {p for p in libs if "_core" in p}
    assert not core  # the extension maps no SQLite of its own
    assert len({p for p in libs if "libsqlite3" in p}) <= 1


def test_native_and_python_paths_leave_out_the_same_events(tmp_path: Path) -> None:
    """Each event once, natively too: the same log twice (buffered, then stored) adds nothing."""
    got = {}
    for native in (True, False):
        path = tmp_path / f"{native}.db"
        s = store_with(path, native)
        for batch in batches():
            s.insert_batch(batch)
        for batch in batches():  # the same events, still in the buffer
            s.insert_batch(batch)
        s.flush()
        for batch in batches():  # the same events, stored
            s.insert_batch(batch)
        s.flush()
        got[native] = (s.events_present, dict(s.counts))
        s.close()
    assert got[True] == got[False]
    assert got[True][0] == 2 * 41
    assert dump(tmp_path / "True.db") == dump(tmp_path / "False.db")

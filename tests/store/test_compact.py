"""The compact store (docs/store.md): each event's records once, compressed; the old columns derived on read;
the upgrade of older stores; stores that are not ours to touch; retention by size."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from auditsql._core import Pipeline, Settings, StoreFunctions
from auditsql.agent import RunSink
from auditsql.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError
from auditsql.tables import loss_rows
from tests import storedb
from tests.corpus import CORPUS
from tests.test_cli import _CMD

LOG = CORPUS / "threathunters-io_laurel" / "record-execve.txt"


def batches(data: bytes, **kw: object) -> list:
    p = Pipeline(Settings(resolve_ids=False, **kw))
    return [p.feed_lines(data), p.finish()]


def test_the_old_columns_come_back_exactly_from_the_blob(tmp_path: Path) -> None:
    data = LOG.read_bytes()
    (ev,) = [json.loads(line) for b in batches(data, rows=False) for line in b.json.splitlines()]
    s = Store(str(tmp_path / "a.db"))
    s.create_schema()
    for b in batches(data, events_json=False):
        s.insert(b.rows)
    s.flush()
    summary, sections, raw, blob, text = s.conn.execute(
        "SELECT summary, sections, raw, blob, audit_raw(blob) FROM audit_events"
    ).fetchone()
    assert json.loads(summary) == ev["summary"]
    assert json.loads(sections) == {k: v for k, v in ev.items() if k not in ("ID", "NODE", "summary", "raw")}
    assert json.loads(raw) == ev["raw"]
    assert text == "".join(r + "\n" for r in ev["raw"])
    assert len(blob) < len(text) / 3
    assert s.conn.execute(
        "SELECT audit_field(blob, 'SYSCALL', 'syscall'), audit_field(blob, 'EXECVE', 'argc') FROM audit_events"
    ).fetchone() == (59, ev["EXECVE"]["argc"])
    assert json.loads(s.conn.execute("SELECT audit_json(blob) FROM audit_events").fetchone()[0]) == ev
    s.close()


def test_a_corrupt_blob_is_reported_by_its_event_and_stops_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    s = Store(str(db))
    s.create_schema()
    data = LOG.read_bytes() + LOG.read_bytes().replace(b":15558)", b":15559)")
    for b in batches(data, events_json=False):
        s.insert(b.rows)
    s.flush()
    s.conn.execute("UPDATE audit_events_data SET blob = X'0101FF' WHERE rowid = 1")
    rows = s.conn.execute(
        "SELECT summary, raw, audit_field(blob, 'SYSCALL', 'pid') FROM audit_events"
    ).fetchall()
    s.close()
    assert json.loads(rows[0][0]) == {"error": rows[0][0] and json.loads(rows[0][0])["error"]}
    assert "corrupt event blob" in json.loads(rows[0][0])["error"]
    assert json.loads(rows[0][1])["error"].startswith("corrupt event blob")
    assert rows[0][2] is None
    assert json.loads(rows[1][0])["pid"] == 10884 and rows[1][2] == 10884  # the next event reads fine
    assert StoreFunctions().audit_summary(None) is None


OLD_LAYOUT = """
CREATE TABLE audit_events (type TEXT, types TEXT, record_count INTEGER, node TEXT, syscall TEXT, success INTEGER,
  pid INTEGER, auid INTEGER, key TEXT, closed_by TEXT, summary TEXT, sections TEXT, raw TEXT, time INTEGER,
  uptime INTEGER, eid TEXT);
CREATE INDEX audit_events_time ON audit_events(time);
"""


def old_store(path: Path, n: int) -> list[list]:
    """A store of the layout before compact events, with ``n`` events of the laurel log (serials apart)."""
    conn = sqlite3.connect(path)
    conn.executescript(OLD_LAYOUT)
    raws = []
    for i in range(n):
        raw = [r.replace(":15558)", f":{20000 + i})") for r in LOG.read_text().splitlines() if r.strip()]
        raws.append(raw)
        summary = json.dumps({"type": "SYSCALL", "duplicates": 2} if i == 0 else {"type": "SYSCALL"})
        conn.execute(
            "INSERT INTO audit_events VALUES ('SYSCALL', 'SYSCALL', 7, 'work', 'execve', 1, 10884, 1000, NULL, "
            "?, ?, '{}', ?, ?, NULL, ?)",
            ("window" if i == 0 else "eoe", summary, json.dumps(raw), 1615114232 + i, f"e{i}"),
        )
    conn.commit()
    conn.close()
    return raws


def test_an_older_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    raws = old_store(db, 3)
    s = Store(str(db))
    s.create_schema()
    got = s.conn.execute(
        "SELECT eid, closed_by, raw, audit_summary(blob) FROM audit_events ORDER BY eid"
    ).fetchall()
    assert [(e, c, json.loads(r)) for e, c, r, _ in got] == [
        (f"e{i}", "window" if i == 0 else "eoe", raws[i]) for i in range(3)
    ]
    # closed_by and the duplicates count travel in the blob: the derived summary says them as before
    first = json.loads(got[0][3])
    assert (first["closed_by"], first["duplicates"]) == ("window", 2)
    assert s.conn.execute("SELECT type FROM sqlite_master WHERE name = 'audit_events'").fetchone() == (
        "view",
    )
    assert s.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    s.close()
    # opening again changes nothing
    s = Store(str(db))
    s.create_schema()
    assert s.conn.execute("SELECT count(*) FROM audit_events").fetchone() == (3,)
    s.close()


def test_a_store_newer_than_the_program_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("CREATE TABLE audit_events_data (x)")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError) as info:
        Store(str(db))
    assert info.value.code == 2
    assert str(info.value) == (
        f"{db} was written by a newer auditsql (store layout {SCHEMA_VERSION + 1}; this one knows up to "
        f"{SCHEMA_VERSION}): upgrade auditsql; the file is left as it is"
    )
    p = subprocess.run([*_CMD, "query", "--db", str(db), "SELECT 1"], capture_output=True, check=False)
    assert (p.returncode, p.stderr.decode().count("\n"), "Traceback" in p.stderr.decode()) == (2, 1, False)
    p = subprocess.run([*_CMD, "import", "--db", str(db), str(LOG)], capture_output=True, check=False)
    assert (p.returncode, "Traceback" in p.stderr.decode()) == (2, False)
    assert db.read_bytes() == before


def test_a_store_of_another_program_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE moz_places (url TEXT)")
    conn.close()
    with pytest.raises(StoreError) as info:
        Store(str(db))
    assert info.value.code == 2
    assert "is not an auditsql store (its tables: moz_places)" in str(info.value)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    with pytest.raises(StoreError, match="belongs to another program"):
        Store(str(db), readonly=True)


def test_retention_by_size_deletes_the_oldest_events_and_books_them(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "a.db"), batch_rows=100_000)
    s.create_schema()
    # split at newlines alone (str.splitlines also splits at ENRICHED's 0x1d separator): one event a copy
    lines = LOG.read_text().split("\n")[:-1]
    data = "".join(
        "".join(
            ln.replace(":15558)", f":{30000 + i})").replace("1615114232.375", f"{1615114232 + i}.375") + "\n"
            for ln in lines
        )
        for i in range(3000)
    ).encode()
    for b in batches(data, events_json=False):
        s.insert(b.rows)
    s.flush()
    used = s.used_bytes()
    sink = RunSink(s, loss_rows, max_size=used // 2, retention_interval=0, monotonic=time.monotonic)
    sink.idle(time.monotonic() + 1)
    s.flush()
    assert s.used_bytes() <= used // 2 * 0.9
    (n,) = s.conn.execute("SELECT count(*) FROM audit_events_data").fetchone()
    (p,) = s.conn.execute("SELECT count(*) FROM process_events").fetchone()
    (oldest,) = s.conn.execute("SELECT min(time) FROM process_events").fetchone()
    assert 0 < n < 3000 and n == p  # one event a copy of the log, an exec
    assert oldest == 1615114232 + 3000 - p  # the oldest went first
    ((cause, count, detail),) = s.conn.execute("SELECT cause, count, detail FROM audit_loss").fetchall()
    assert (cause, count) == ("retention", 3000 - n + 3000 - p)
    assert detail == f"size: audit_events {3000 - n}, process_events {3000 - p}"
    s.close()
    assert os.path.getsize(tmp_path / "a.db") > 0
    conn = storedb.connect(tmp_path / "a.db")
    assert conn.execute("SELECT count(*) FROM audit_events WHERE raw IS NOT NULL").fetchone() == (n,)

"""kill -9 while inserting leaves a consistent store holding only whole batches."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

BATCH = 2000

CHILD = r"""
import sys
from auditsql.store.sqlite import Store
from auditsql.tables.registry import Column, Table

A = Table("crash_a", "a", (Column("batch", "BIGINT", "b", index=True), Column("i", "BIGINT", "i"),
                           Column("payload", "TEXT", "p"), Column("time", "BIGINT", "t", index=True)))
B = Table("crash_b", "b", (Column("batch", "BIGINT", "b"), Column("i", "BIGINT", "i")))
BATCH = int(sys.argv[2])
s = Store(sys.argv[1], tables=[A, B], batch_rows=10**9, batch_seconds=10**9)
s.create_schema()
start = s.conn.execute("SELECT coalesce(max(batch), -1) + 1 FROM crash_a").fetchone()[0]
batch = start
while True:
    s.insert(("crash_a", (batch, i, "x" * 200 + str(i), batch)) for i in range(BATCH))
    s.insert(("crash_b", (batch, i)) for i in range(BATCH))
    s.flush()
    if batch == start:
        print("ready", flush=True)
    batch += 1
"""


def _kill_during_inserts(db: str, delay: float) -> None:
    p = subprocess.Popen([sys.executable, "-c", CHILD, db, str(BATCH)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        time.sleep(delay)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL


def test_kill_9_during_inserts_leaves_whole_batches(tmp_path):
    db = str(tmp_path / "crash.db")
    for delay in (0.05, 0.13, 0.31, 0.2):
        _kill_during_inserts(db, delay)
        # the killed writer left its write-ahead log behind: opening the file must recover from it
        assert os.path.getsize(db + "-wal") > 0
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            (na,) = conn.execute("SELECT count(*) FROM crash_a").fetchone()
            (nb,) = conn.execute("SELECT count(*) FROM crash_b").fetchone()
            assert na > 0
            assert na % BATCH == 0
            # both tables of a batch are in one transaction: never one without the other
            assert na == nb
            partial = conn.execute(
                "SELECT batch, count(*) FROM crash_a GROUP BY batch HAVING count(*) != ?", (BATCH,)
            ).fetchall()
            assert partial == []
            nbatches = conn.execute("SELECT count(DISTINCT batch), max(batch) + 1 FROM crash_a").fetchone()
            assert nbatches == (na // BATCH, na // BATCH)
        finally:
            conn.close()

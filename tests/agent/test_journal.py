"""The raw-frame journal (issue 13, item 3): a run killed after a commit, and the next start's replay.

The reader reads one end of a datagram socket pair (tests/test_live_unit.py's fault injection); the "kill" is
a store whose buffered rows are never committed. The next start replays the journal from the committed mark:
every event is stored exactly once."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

import auditsql.tables as tables
from auditsql._core import Pipeline, Settings
from auditsql.agent import RunSink
from auditsql.kernel.journal import Journal, JournalError, journal_dir, open_journal
from auditsql.kernel.sources import NetlinkSource
from auditsql.store.sqlite import Store, StoreError
from tests.agent.test_run_pipeline import AUDITSQL
from tests.test_live_unit import pair_source, unicast_msg

#: an event left open at the first commit (no EOE yet): it holds the mark back to its first record
OPEN_SERIAL = 1000


def exec_records(serial: int) -> list[tuple[int, bytes]]:
    hdr = f"audit(1700000000.{serial % 1000:03d}:{serial}): "
    return [
        (
            1300,
            (
                f"{hdr}arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 "
                f'pid={serial} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" '
                f'exe="/usr/bin/x{serial}" key=(null)'
            ).encode(),
        ),
        (1309, f'{hdr}argc=1 a0="x{serial}"'.encode()),
        (
            1302,
            f'{hdr}item=0 name="/usr/bin/x{serial}" inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0'.encode(),
        ),
        (1320, hdr.encode()),
    ]


class Run:
    """One run of the agent's parts: store, journal, pipeline, sink, a source journaling what it reads."""

    def __init__(self, db: Path) -> None:
        self.store = Store(str(db))
        self.store.create_schema()
        self.journal: Journal = open_journal(str(db), self.store.journal_position())
        self.store.on_journal_commit = self.journal.release
        self.pipeline = Pipeline(Settings(resolve_ids=False))
        self.sink = RunSink(self.store, tables.loss_rows, journal_mark=self.pipeline.mark)
        self.src: NetlinkSource | None = None

    def take(self, b) -> None:  # noqa: ANN001 - a _core.Batch
        if b.events or b.row_count:
            self.sink.batch(b)

    def start(self, live: list[tuple[int, bytes]] = ()) -> None:
        """As the agent: the reader starts (and journals ``live``, records that come at once), then the replay."""
        self.src, self.peer = pair_source("unicast", journal=self.journal.reader_args())
        self.src.start()
        for t, text in live:
            self.peer.send(unicast_msg(t, text))
        deadline = time.monotonic() + 10
        while self.src._native.counters()["messages"] < len(live) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.journal.replay(self.pipeline, self.take, lambda: self.store.events_present)
        want = self.pipeline.stats()["frames"] + len(live)
        while self.pipeline.stats()["frames"] < want and time.monotonic() < deadline:
            self.take(self.src.feed(self.pipeline, 0.05))

    def send(self, records: list[tuple[int, bytes]]) -> None:
        assert self.src is not None
        want = self.pipeline.stats()["frames"] + len(records)
        for t, text in records:
            self.peer.send(unicast_msg(t, text))
        deadline = time.monotonic() + 10
        while self.pipeline.stats()["frames"] < want and time.monotonic() < deadline:
            self.take(self.src.feed(self.pipeline, 0.05))
        assert self.pipeline.stats()["frames"] == want

    def kill(self) -> None:
        """What a kill -9 leaves: the committed rows and the journal; the buffered rows are gone."""
        assert self.src is not None
        self.src.stop()
        self.store._clear()
        self.store.conn.close()
        self.store.conn = None  # type: ignore[assignment]


def stored(db: Path) -> list[tuple[str, int]]:
    s = Store(str(db), readonly=True)
    try:
        return sorted(s.conn.execute("SELECT path, pid FROM process_events").fetchall())
    finally:
        s.close()


def test_a_killed_run_loses_nothing_it_read_and_the_next_start_stores_each_event_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = Run(db)
    first.start()
    first.send(exec_records(OPEN_SERIAL)[:1])  # its SYSCALL only: the event stays open
    for serial in range(1, 11):
        first.send(exec_records(serial))
    first.store.flush()  # the commit: events 1-10 stored, the mark held back by the open event
    assert first.store.journal_position() == (
        first.journal.start,
        first.pipeline.mark()[1],
        first.pipeline.mark()[2],
    )
    for serial in range(11, 16):
        first.send(exec_records(serial))
    first.send(exec_records(OPEN_SERIAL)[1:])
    first.kill()
    assert len(stored(db)) == 10

    second = Run(db)
    assert second.journal.mark is not None and second.journal.mark[0] == first.journal.start
    # records arrive (and are journaled) while the replay runs: they are processed once, after it
    second.start(live=exec_records(16))
    second.take(second.pipeline.finish())
    second.store.close()
    expect = sorted((f"/usr/bin/x{s}", s) for s in [*range(1, 17), OPEN_SERIAL])
    assert stored(db) == expect
    # the stored events' 40 records were left out; nothing came twice
    assert second.journal.counts == {
        "replayed_frames": 1 + 40 + 20 + 3,
        "replay_skipped": 40,
        "replay_duplicates": 0,
        "missing_bytes": 0,
        "damaged_bytes": 0,
    }
    assert second.journal.torn_bytes == 0


def test_a_kill_before_the_first_commit_replays_everything(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = Run(db)
    first.start()
    for serial in range(1, 6):
        first.send(exec_records(serial))
    first.kill()
    assert stored(db) == []
    second = Run(db)
    assert second.journal.mark is None
    second.start()
    second.store.close()
    assert stored(db) == sorted((f"/usr/bin/x{s}", s) for s in range(1, 6))
    assert second.journal.counts["replayed_frames"] == 20
    assert second.journal.counts["replay_skipped"] == 0


def test_a_torn_last_record_is_cut_off_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = Run(db)
    first.start()
    for serial in range(1, 3):
        first.send(exec_records(serial))
    first.kill()
    (segment,) = sorted(Path(journal_dir(str(db))).iterdir())
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(journal_dir(str(db))).stat().st_mode) == 0o700
    size = segment.stat().st_size
    with segment.open("ab") as fh:  # half a record: the write the kill cut short
        fh.write(b"\x14\x05\0\0\0\0\x40\0\0\0half")
    second = Run(db)
    assert second.journal.torn_bytes == 14
    assert segment.stat().st_size == size
    second.start()
    second.store.close()
    assert stored(db) == [("/usr/bin/x1", 1), ("/usr/bin/x2", 2)]
    assert second.journal.start == size


def test_the_same_journal_replayed_twice_stores_nothing_twice(tmp_path: Path) -> None:
    # a store whose mark was lost (or an older one): the dedupe drops the events it holds, counted
    db = tmp_path / "s.db"
    first = Run(db)
    first.start()
    for serial in range(1, 4):
        first.send(exec_records(serial))
    first.kill()
    second = Run(db)
    second.start()
    second.store.close()
    third = Run(db)
    third.journal.mark = None  # as if no mark was committed: everything is replayed
    third.start()
    third.store.close()
    assert stored(db) == [("/usr/bin/x1", 1), ("/usr/bin/x2", 2), ("/usr/bin/x3", 3)]
    assert third.journal.counts["replay_duplicates"] == 3


def test_a_journal_directory_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Path(journal_dir(str(db))).write_text("not a directory")
    with pytest.raises(JournalError) as exc:
        open_journal(str(db), None)
    assert str(exc.value) == (
        f"cannot use the journal directory {db}.journal: it is not a directory (fix its permissions, or set "
        "[store] journal = false)"
    )
    missing = tmp_path / "gone" / "s.db"
    with pytest.raises(JournalError) as exc:
        open_journal(str(missing), None)
    assert str(exc.value) == (
        f"cannot create the journal directory {missing}.journal: No such file or directory (fix its "
        "permissions, or set [store] journal = false)"
    )
    assert not os.path.exists(missing.parent)


def test_the_mark_is_committed_with_the_rows_or_not_at_all(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"))
    store.create_schema()
    assert store.journal_position() is None
    released: list[int] = []
    store.on_journal_commit = released.append
    loss = tables.loss_rows([{"time": 1.0, "cause": "serial_gap", "count": 1, "detail": None}])
    store.journal_mark = (10, 20, b"")
    store.insert([("audit_loss", r) for r in loss])
    assert store.flush() == 1
    assert store.journal_position() == (10, 20, b"") and released == [10]
    # nothing to commit: nothing written, the mark stays
    store.journal_mark = (30, 40, b"")
    assert store.flush() == 0
    assert store.journal_position() == (10, 20, b"") and released == [10]
    # a commit that fails takes its mark with it
    store.insert([("audit_loss", (1,))])  # too few values: SQLite refuses the batch
    with pytest.raises(StoreError):
        store.flush()
    assert store.journal_position() == (10, 20, b"") and released == [10]
    store.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="auditsql run checks for root first")
def test_run_refuses_a_journal_it_cannot_use_with_one_line_before_touching_the_kernel(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Path(journal_dir(str(db))).write_text("not a directory")
    res = subprocess.run(
        [
            AUDITSQL,
            "run",
            "--db",
            str(db),
            "--results-log",
            "",
            "--rules",
            "none",
            "--state-file",
            str(tmp_path / "st"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 1
    assert res.stderr == (
        f"auditsql: cannot use the journal directory {db}.journal: it is not a directory (fix its permissions, or "
        "set [store] journal = false)\n"
    )
    assert not (tmp_path / "st").exists()  # the kernel was not touched

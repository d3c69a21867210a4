"""``auditsql run`` on a full file system (``[store] disk_full_action``, ``space_left``): the run sink with a
fake store, then ``auditsql run --source plugin`` on a tiny tmpfs end to end."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from auditsql import agent
from auditsql.agent import RunSink, Stop
from auditsql.kernel.loss import LossAccount, format_stats
from auditsql.store.sqlite import StoreFull
from auditsql.tables import loss_rows
from tests import storedb
from tests.agent.test_run_pipeline import AUDITSQL, batches_of
from tests.agent.test_schedule import exec_lines
from tests.tinyfs import fill, tiny_fs

FULL_LINE = (
    "auditsql: the store's file system is full (/s/x.db: database or disk is full): dropping events, counted "
    "as store_full, until it can be written again (disk_full_action = drop; a retry every 5 s)"
)


class FullStore:
    """A store whose flushes fail as on a full file system while ``full``: what was buffered is dropped."""

    path = "/s/x.db"

    def __init__(self) -> None:
        self.full = False
        self.pending: list[tuple[str, tuple]] = []
        self.rows: list[tuple[str, tuple]] = []
        self.flushes = 0
        self.retentions = 0
        #: a flush when this many rows are buffered (as the store's batch_rows); whether each next flush fails
        self.batch_rows = 1 << 30
        self.plan: list[bool] = []

    def insert(self, rows: list[tuple[str, tuple]]) -> None:
        self.pending.extend(rows)
        if len(self.pending) >= self.batch_rows:
            self.flush()

    def insert_batch(self, batch: Any) -> int:
        rows = batch.rows
        self.insert(rows)
        return len(rows)

    def tick(self) -> None:
        self.flush()

    def flush(self) -> int:
        if not self.pending:
            return 0
        self.flushes += 1
        pending, self.pending = self.pending, []
        if self.plan.pop(0) if self.plan else self.full:
            raise StoreFull(
                f"cannot write {len(pending)} rows to {self.path}: database or disk is full",
                self.path,
                "database or disk is full",
                sum(t == "audit_events" for t, _ in pending),
                len(pending),
                [r for t, r in pending if t == "audit_loss"],
            )
        self.rows.extend(pending)
        return len(pending)

    def retention(self, expiry: Any, max_rows: Any, max_size: Any = None) -> dict[str, int]:
        self.retentions += 1
        return {}

    def of(self, table: str) -> list[tuple]:
        return [r for t, r in self.rows if t == table]


def execs(first: int, n: int = 1) -> Any:
    """A batch of ``n`` exec events (2 rows each), serials from ``first``."""
    lines = [line for s in range(first, first + n) for line in exec_lines(s, 1000 + s, ["/bin/echo"])]
    return batches_of(lines)[0]


def lost(count: int) -> dict[str, Any]:
    return {"time": 1700000000.5, "cause": "kernel_lost", "count": count, "detail": None}


def make_sink(store: FullStore, now: list[float], **kw: Any) -> tuple[RunSink, LossAccount]:
    account = LossAccount()
    return RunSink(store, loss_rows, monotonic=lambda: now[0], loss=account, **kw), account


def test_drop_counts_events_retries_every_5_s_and_books_the_outage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent.time, "time", lambda: 1700000100.0)
    store, now = FullStore(), [0.0]
    sink, account = make_sink(store, now)
    sink.batch(execs(1, 3))
    sink.flush()
    assert len(store.of("audit_events")) == 3
    store.full = True
    sink.batch(execs(4, 2))
    sink.loss([lost(7)])  # buffered with the batch: handed back when the flush fails, held
    sink.flush()
    assert sink.full and account.snapshot()["store_full"] == 2
    assert capsys.readouterr().err == FULL_LINE + "\n"
    # while full: batches dropped and counted without a write, loss rows held
    now[0] = 4.9
    sink.batch(execs(6, 4))
    sink.loss([lost(1)])
    sink.flush()
    assert (store.flushes, store.pending, account.snapshot()["store_full"]) == (2, [], 6)
    assert sink.status_parts() == ["rows 12", "store full drops 6"]
    assert sink.stats() == {
        "store": {"full": True, "free_bytes": None, "space_low": False, "dropped_rows": 12}
    }
    # the retry after 5 s fails: dropped too, the next retry 5 s later
    now[0] = 5.0
    sink.batch(execs(10))
    assert (store.flushes, account.snapshot()["store_full"]) == (3, 7)
    now[0] = 9.0
    sink.flush()
    assert store.flushes == 3
    # room again: the next retry (a tick, no event needed) writes the held loss rows and the outage's row
    store.full = False
    now[0] = 10.0
    sink.flush()
    assert not sink.full
    assert capsys.readouterr().err == "auditsql: store writable again after 10 s; 7 events dropped\n"
    assert store.of("audit_loss") == loss_rows(
        [
            lost(7),
            lost(1),
            {
                "time": 1700000100.0,
                "cause": "store_full",
                "count": 7,
                "detail": "7 events (14 rows) not stored: /s/x.db's file system was full for 10 s "
                "(database or disk is full)",
            },
        ]
    )
    assert account.snapshot()["store_full"] == 7
    assert account.drain() == []  # booked by the sink itself, once
    sink.batch(execs(11))
    sink.finish()
    assert len(store.of("audit_events")) == 4
    assert sink.status_parts() == ["rows 17", "store full drops 7"]
    assert capsys.readouterr().err == ""


def test_an_outage_booked_by_a_commit_before_the_failing_one_is_not_booked_twice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent.time, "time", lambda: 1700000100.0)
    store, now = FullStore(), [0.0]
    sink, account = make_sink(store, now)
    store.full = True
    sink.batch(execs(1, 2))
    sink.flush()
    sink.loss([lost(1), lost(2)])  # held
    # the retry: the held rows and the outage's row fill the buffer and are committed, the batch then fails
    now[0] = 5.0
    store.batch_rows, store.plan = 3, [False, True]
    sink.batch(execs(3))
    assert sink.full and account.snapshot()["store_full"] == 3
    assert capsys.readouterr().err.splitlines() == [
        FULL_LINE,
        "auditsql: store writable again after 5 s; 2 events dropped",
        FULL_LINE,
    ]
    store.full = False
    now[0] = 10.0
    sink.flush()
    assert capsys.readouterr().err == "auditsql: store writable again after 5 s; 1 events dropped\n"
    got = [(cause, count) for _, cause, count, _ in store.of("audit_loss")]
    assert got == [("kernel_lost", 1), ("kernel_lost", 2), ("store_full", 2), ("store_full", 1)]


def test_drop_the_run_ends_while_full(capsys: pytest.CaptureFixture[str]) -> None:
    store, now = FullStore(), [0.0]
    sink, account = make_sink(store, now)
    store.full = True
    sink.batch(execs(1, 2))
    sink.flush()
    now[0] = 1.0
    sink.batch(execs(3))
    sink.finish()  # one last try at once, refused
    assert account.snapshot()["store_full"] == 3
    assert capsys.readouterr().err.splitlines() == [
        FULL_LINE,
        "auditsql: the store's file system is still full (/s/x.db): 3 events dropped since it filled are "
        "counted in the stats file, not in audit_loss",
    ]


def test_stop_ends_the_run_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    store, now = FullStore(), [0.0]
    sink, account = make_sink(store, now, disk_full_action="stop")
    store.full = True
    sink.batch(execs(1, 2))
    with pytest.raises(Stop) as info:
        sink.flush()
    assert (str(info.value), info.value.code) == (
        "the store's file system is full (/s/x.db): stopping (disk_full_action = stop)",
        2,
    )
    assert account.snapshot()["store_full"] == 2
    assert capsys.readouterr().err == ""  # the caller says it


def test_retention_is_skipped_while_full() -> None:
    store, now = FullStore(), [0.0]
    sink, _ = make_sink(store, now, expiry=3600, retention_interval=60)
    store.full = True
    sink.batch(execs(1))
    sink.flush()
    sink.idle(60.0)
    assert store.retentions == 0
    store.full = False
    now[0] = 100.0
    sink.flush()
    sink.idle(120.0)
    assert store.retentions == 1


def test_space_left_warns_then_again_every_10_minutes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    room = [(200 << 20, 1 << 30)]
    monkeypatch.setattr(agent, "free_bytes", lambda path: room[0])
    store, now = FullStore(), [0.0]
    sink, _ = make_sink(store, now, space_left=(100 << 20, 0.0))
    sink.idle(0.0)
    assert (sink.space_low, sink.free_bytes, capsys.readouterr().err) == (False, 200 << 20, "")
    room[0] = (50 << 20, 1 << 30)
    sink.idle(1.0)  # checked every 5 s
    assert not sink.space_low
    sink.idle(5.0)
    low = "auditsql: the store's file system has 50.0 MiB left, below space_left (100.0 MiB): /s/x.db\n"
    assert (sink.space_low, capsys.readouterr().err) == (True, low)
    sink.idle(300.0)
    assert capsys.readouterr().err == ""
    sink.idle(605.0)
    assert capsys.readouterr().err == low
    assert sink.stats()["store"]["space_low"] is True
    room[0] = (600 << 20, 1 << 30)
    sink.idle(610.0)
    assert capsys.readouterr().err == (
        "auditsql: the store's file system has 600.0 MiB free again, above space_left (100.0 MiB)\n"
    )
    # a percentage of the file system's size
    sink, _ = make_sink(store, now, space_left=(0, 70.0))
    sink.idle(0.0)
    assert capsys.readouterr().err == (
        "auditsql: the store's file system has 600.0 MiB left, below space_left (70%): /s/x.db\n"
    )


def test_ctl_s_lines_of_the_store() -> None:
    stats = {"pid": 0, "source": "plugin", "events": 5, "loss": {"store_full": 4}}
    assert format_stats({**stats, "store": {"full": True, "free_bytes": 0, "space_low": True}})[-6:] == [
        "auditsql_store_full 4",
        "auditsql_journal_torn 0",
        "auditsql_retention 0",
        "auditsql_store_writable 0",
        "auditsql_store_free_bytes 0",
        "auditsql_store_space_low 1",
    ]
    assert format_stats(stats)[-3:] == [
        "auditsql_store_full 4",
        "auditsql_journal_torn 0",
        "auditsql_retention 0",
    ]  # listen: no store


def test_metrics_of_the_store() -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    from auditsql.kernel.loss import CAUSES
    from auditsql.metrics import AgentCollector

    st = {
        "events": 9,
        "loss": {"store_full": 4},
        "store": {"full": True, "free_bytes": 123, "space_low": True},
    }
    registry = CollectorRegistry()
    registry.register(AgentCollector(lambda: st, causes=CAUSES))
    text = generate_latest(registry).decode()
    for line in (
        'auditsql_loss_total{cause="store_full"} 4.0',
        "auditsql_store_full 1.0",
        "auditsql_store_space_low 1.0",
        "auditsql_store_free_bytes 123.0",
    ):
        assert line in text.splitlines()


# -- end to end: auditsql run --source plugin on a 2 MiB tmpfs ----------------------------------------------


def exec_log(first: int, n: int) -> bytes:
    lines = [
        line for s in range(first, first + n) for line in exec_lines(s, 1000 + s, ["/bin/echo", "y" * 400])
    ]
    return "".join(line + "\n" for line in lines).encode()


def start_run(tmp_path: Path, db: Path, action: str) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        f"[store]\ndisk_full_action = '{action}'\nspace_left = '0'\n"
        f"[status]\ninterval = 0\nstats_file = '{tmp_path / 'stats.json'}'\n"
        "[tables]\nprocess_tree = false\n"
    )
    return subprocess.Popen(
        [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--db", str(db), "--results-log", ""],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, what: Any, timeout: float = 8.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        try:
            stats = json.loads(path.read_text())
            if what(stats):
                return stats
        except (OSError, ValueError):
            pass
        assert time.monotonic() < end, f"timed out waiting on {path}"
        time.sleep(0.1)


def stored_events(db: Path) -> int:
    with storedb.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]


def test_run_drops_and_counts_on_a_full_tmpfs_then_resumes(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs", "2m") as fs:
        db = fs / "store.db"
        run = start_run(tmp_path, db, "drop")
        try:
            assert run.stdin is not None
            stats = tmp_path / "stats.json"
            wait_for(stats, lambda s: True)  # started: the store is made
            filler = fill(fs, leave=128 << 10)
            run.stdin.write(exec_log(1, 1500))
            run.stdin.flush()
            got = wait_for(stats, lambda s: s["store"]["full"] and s["events"] == 1500)
            assert got["loss"]["store_full"] > 0
            filler.unlink()  # room again: the next retry (within 5 s) writes
            wait_for(stats, lambda s: not s["store"]["full"])
            run.stdin.write(exec_log(1501, 20))
            run.stdin.close()
            err = run.stderr.read().decode() if run.stderr else ""
            code = run.wait(timeout=10)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        final = json.loads(stats.read_text())
        dropped = final["loss"]["store_full"]
        assert code == 0, err
        assert "Traceback" not in err
        lines = err.splitlines()
        assert lines[0].startswith("auditsql: running (plugin; pid ")
        assert lines[1] == (
            f"auditsql: the store's file system is full ({db}: database or disk is full): dropping events, "
            "counted as store_full, until it can be written again (disk_full_action = drop; a retry every 5 s)"
        )
        assert re.fullmatch(
            rf"auditsql: store writable again after \d+ s; {dropped} events dropped", lines[2]
        )
        assert re.fullmatch(
            rf"auditsql: stopped; events 1520, rows \d+, store full drops {dropped}, records 7600, kernel lost 0, "
            r"user drops 0, enobufs 0, truncated 0, serial gaps 0, queue 0",
            lines[3],
        )
        assert len(lines) == 4
        assert final["events"] == 1520 and final["store"]["full"] is False
        assert 0 < dropped == 1520 - stored_events(db)
        with storedb.connect(db) as conn:
            rows = conn.execute("SELECT cause, count, detail FROM audit_loss").fetchall()
        assert len(rows) == 1 and rows[0][:2] == ("store_full", dropped)
        assert rows[0][2].startswith(
            f"{dropped} events ({2 * dropped} rows) not stored: {db}'s file system was full"
        )


def test_run_stop_exits_2_with_one_line(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "fs", "2m") as fs:
        db = fs / "store.db"
        run = start_run(tmp_path, db, "stop")
        try:
            stats = tmp_path / "stats.json"
            wait_for(stats, lambda s: True)
            fill(fs, leave=64 << 10)
            out, err_b = run.communicate(exec_log(1, 1500), timeout=10)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        err = err_b.decode()
        assert run.returncode == 2, err
        lines = err.splitlines()
        assert lines[0].startswith("auditsql: running (plugin; pid ")
        assert lines[1:] == [
            f"auditsql: the store's file system is full ({db}): stopping (disk_full_action = stop)"
        ]
        final = json.loads(stats.read_text())
        dropped = final["loss"]["store_full"]
        assert final["store"]["full"] is True and dropped > 0
        assert stored_events(db) + dropped <= 1500

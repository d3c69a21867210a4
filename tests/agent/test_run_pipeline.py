"""``auditsql run`` end to end without the kernel (auditd's plugin stream on stdin), and the run sink."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditsql import _core
from auditsql.agent import RunSink, Stop
from auditsql.store.sqlite import StoreError
from tests import storedb
from tests.agent.test_schedule import exec_lines

_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"


def connect_lines(serial: int, pid: int, port: int, sec: int = 1700000001) -> list[str]:
    stamp = f"audit({sec}.500:{serial})"
    return [
        f"type=SYSCALL msg={stamp}: arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=7ffd a2=10 a3=0 "
        f"items=0 ppid=100 pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 "
        'sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" subj=unconfined key=(null)',
        f"type=SOCKADDR msg={stamp}: saddr=0200{port:04X}7F0000010000000000000000",
        f"type=EOE msg={stamp}: ",
    ]


def test_run_from_the_plugin_stream(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "[status]\ninterval = 0\nstats_file = ''\n"
        "[results_log]\nhost_identifier = 'specified'\nspecified_identifier = 'test-host'\n"
        "[schedule.execs]\nquery = 'SELECT pid, cmdline, path, uid FROM process_events ORDER BY pid'\n"
        "interval = 3600\n"
        "[schedule.connects]\n"
        "query = 'SELECT pid, remote_address, remote_port, status FROM socket_events'\ninterval = 3600\n"
    )
    stream = exec_lines(101, 4242, ["/bin/echo", "plugin-marker"]) + connect_lines(102, 4243, 8080)
    db = tmp_path / "var" / "db" / "auditsql.db"
    results = tmp_path / "log" / "results.jsonl"
    res = subprocess.run(
        [
            AUDITSQL,
            "run",
            "--source",
            "plugin",
            "--config",
            str(cfg),
            "--db",
            str(db),
            "--results-log",
            str(results),
            "--no-resolve-ids",
        ],
        input="\n".join(stream).encode() + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = res.stderr.decode().splitlines()
    assert res.returncode == 0, err
    assert err == [
        f"auditsql: running (plugin; pid {err[0].split('pid ')[1].split(';')[0]}; policy block); db {db}; "
        f"results log {results}; 2 scheduled queries",
        "auditsql: stopped; events 2, rows 4, records 8, kernel lost 0, user drops 0, enobufs 0, truncated 0, "
        "serial gaps 0, "
        "queue 0",
    ]
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(results.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(results.stat().st_mode) == 0o600
    with storedb.connect(db) as conn:
        assert conn.execute(
            "SELECT pid, path, cmdline, cwd, uid, auid, time FROM process_events"
        ).fetchall() == [
            (4242, "/usr/bin/echo", "/bin/echo plugin-marker", "/home/u", 1000, 1000, 1700000000)
        ]
        assert conn.execute(
            "SELECT action, pid, path, family, remote_address, remote_port, status, time FROM socket_events"
        ).fetchall() == [("connect", 4243, "/usr/bin/curl", 2, "127.0.0.1", 8080, "succeeded", 1700000001)]
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone() == (2,)
    got = [json.loads(x) for x in results.read_text().splitlines()]
    for d in got:
        assert (d["hostIdentifier"], d["epoch"], d["counter"], d["numerics"], d["action"]) == (
            "test-host",
            0,
            0,
            False,
            "added",
        )
    assert [(d["name"], d["columns"]) for d in got] == [
        (
            "execs",
            {"cmdline": "/bin/echo plugin-marker", "path": "/usr/bin/echo", "pid": "4242", "uid": "1000"},
        ),
        (
            "connects",
            {"pid": "4243", "remote_address": "127.0.0.1", "remote_port": "8080", "status": "succeeded"},
        ),
    ]


# -- the sink, with fakes --------------------------------------------------------------------------------------


class FakeStore:
    def __init__(self, fail: str | None = None) -> None:
        self.rows: list[tuple[str, tuple]] = []
        self.fail = fail
        self.flushes = 0
        self.retentions: list[tuple[Any, Any]] = []

    def insert(self, rows: list[tuple[str, tuple]]) -> None:
        if self.fail == "insert":
            raise StoreError("cannot write 1 rows to /x.db: disk I/O error")
        self.rows.extend(rows)

    def insert_batch(self, batch: Any) -> int:
        rows = batch.rows
        self.insert(rows)
        return len(rows)

    def tick(self) -> None:
        pass

    def flush(self) -> int:
        self.flushes += 1
        return 0

    def retention(self, expiry: Any, max_rows: Any, max_size: Any = None) -> dict[str, int]:
        self.retentions.append((expiry, max_rows))
        self.last_retention = {"age": {"process_events": 2}}
        return {"process_events": 2}


def batches_of(lines: list[str], **settings: Any) -> list[_core.Batch]:
    """What the pipeline makes of record lines (ids not resolved): the batch of the lines (events closed by
    their EOE), then the one of the end of input (the process tree's rows)."""
    p = _core.Pipeline(_core.Settings(resolve_ids=False, **settings))
    return [p.feed_lines("".join(line + "\n" for line in lines).encode()), p.finish()]


def test_sink_stores_batches_and_loss(capsys: pytest.CaptureFixture[str]) -> None:
    from auditsql.tables import loss_rows

    store = FakeStore()
    now = [0.0]
    sink = RunSink(store, loss_rows, expiry=3600, max_rows=0, retention_interval=60, monotonic=lambda: now[0])
    for b in batches_of(exec_lines(7, 77, ["/bin/echo", "x"])):
        sink.batch(b)
    sink.loss([{"time": 1700000000.5, "cause": "kernel_lost", "count": 3, "detail": None}])
    assert [t for t, _ in store.rows] == ["audit_events", "process_events", "audit_loss"]
    assert sink.status_parts() == ["rows 3"]
    sink.idle(59.0)
    assert store.retentions == []
    sink.idle(60.0)
    assert store.retentions == [(3600, None)]
    assert sink.deleted == 2
    # the deletion is booked in audit_loss, by cause: age-out is never taken for loss
    (_, (_, cause, count, detail)) = store.rows[-1]
    assert (cause, count, detail) == ("retention", 2, "age: process_events 2")
    sink.finish()
    assert store.flushes == 1
    assert capsys.readouterr().err == ""


class Fan:
    """An outputs fan-out that records what it is handed."""

    def __init__(self) -> None:
        self.events: list[tuple[dict, list]] = []
        self.other: list[list] = []

    def __bool__(self) -> bool:
        return True

    def event(self, event: dict, rows: list) -> None:
        self.events.append((event, rows))

    def rows(self, rows: list) -> None:
        self.other.append(rows)


def test_sink_hands_each_event_its_own_rows_and_the_rest_apart() -> None:
    store = FakeStore()
    fan = Fan()
    sink = RunSink(store, list, outputs=fan)
    b, end = batches_of(
        exec_lines(7, 77, ["/bin/echo", "x"]) + connect_lines(8, 78, 80), process_tree=True, live=False
    )
    assert (b.events, len(b.event_rows), end.events, end.event_rows) == (2, 3, 0, [0])
    sink.batch(b)
    sink.batch(end)
    assert [(e["ID"], [t for t, _ in rows]) for e, rows in fan.events] == [
        ("1700000000.250:7", ["audit_events", "process_events"]),
        ("1700000001.500:8", ["audit_events", "socket_events"]),
    ]
    # the process tree's rows (the exec'd process) belong to no event: they go to the outputs apart
    assert [[t for t, _ in rows] for rows in fan.other] == [["process_tree"]]
    assert sink.rows == 4 and sink.source_rows == 1 and len(store.rows) == 5


def test_sink_store_failure_stops_with_one_line() -> None:
    sink = RunSink(FakeStore(fail="insert"), list)
    with pytest.raises(Stop) as info:
        sink.batch(batches_of(exec_lines(7, 77, ["/bin/echo"]))[0])
    assert str(info.value) == "cannot write 1 rows to /x.db: disk I/O error"


# -- the kernel side's refusals, with a fake session -----------------------------------------------------------


class LockedSession:
    """A KernelSession on a kernel with audit locked (enabled 2): records what run_live asks of it."""

    instances: list[LockedSession] = []

    def __init__(self, state_file: str | None = None) -> None:
        self.calls: list[str] = []
        self.recovered = None
        LockedSession.instances.append(self)

    def begin(self) -> None:
        self.calls.append("begin")

    @property
    def status(self) -> dict[str, int]:
        return {
            "enabled": 2,
            "failure": 1,
            "pid": 0,
            "rate_limit": 0,
            "backlog_limit": 64,
            "backlog_wait_time": 0,
        }

    def add_rule(self, payload: bytes) -> None:
        self.calls.append("add_rule")

    def set(self, **knobs: int) -> None:
        self.calls.append("set")

    def restore(self) -> Any:
        from auditsql.kernel.snapshot import RestoreReport

        self.calls.append("restore")
        return RestoreReport()

    def close(self) -> None:
        self.calls.append("close")


def test_audit_locked_is_one_line_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from auditsql import agent
    from auditsql.agent import LivePlan, builtin_rules_path, run_live

    monkeypatch.setattr(agent, "KernelSession", LockedSession)
    monkeypatch.setattr(agent.os, "geteuid", lambda: 0)
    LockedSession.instances.clear()
    plan = LivePlan(
        source="unicast",
        rules_file=builtin_rules_path(),
        verb="running",
        purpose="by auditsql run",
        manages="run",
        locked_hint="use --rules none and --no-exclude-self",
    )
    pipeline = _core.Pipeline(_core.Settings())
    code = run_live(plan, FakeStore(), pipeline, threading.Event(), 0)  # type: ignore[arg-type]
    assert code == 1
    assert capsys.readouterr().err == (
        "auditsql: audit is locked (enabled 2): rules and settings cannot change until reboot; use --rules none "
        "and --no-exclude-self\n"
    )
    assert [s.calls for s in LockedSession.instances] == [["begin", "restore", "close"]]


def test_sigterm_with_stdin_still_open_stops_cleanly(tmp_path: Path) -> None:
    """auditd stops a plugin with SIGTERM and may keep its stdin open: auditsql stores what it read, exits 0
    promptly (no abort of the interpreter on the stdin reader thread) and says it stopped."""
    import signal
    import time

    db = tmp_path / "auditsql.db"
    proc = subprocess.Popen(
        [AUDITSQL, "run", "--source", "plugin", "--db", str(db), "--results-log", "", "--status-interval", "0",
         "--stats-file", "", "--no-resolve-ids"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(("\n".join(exec_lines(101, 4242, ["/bin/echo", "open-stdin"])) + "\n").encode())
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if db.exists():
            conn = storedb.connect(f"file:{db}?mode=ro", uri=True)
            try:
                if conn.execute("SELECT count(*) FROM audit_events").fetchone() == (1,):
                    break
            except sqlite3.OperationalError:
                pass
            finally:
                conn.close()
        time.sleep(0.2)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    took = time.monotonic() - t0
    err = proc.stderr.read().decode().splitlines()
    proc.stdin.close()
    assert took < 3.0, took
    assert err[-1].startswith("auditsql: stopped; events 1, rows 2, records 5,"), err
    conn = storedb.connect(db)
    try:
        assert conn.execute("SELECT cmdline FROM process_events").fetchall() == [("/bin/echo open-stdin",)]
    finally:
        conn.close()

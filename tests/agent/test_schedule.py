"""Scheduled queries over a real store: only new rows per run, osquery's results-log event format, and a
pipeline written for osqueryd's results log reading ours unchanged."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditsql._core import Pipeline, Settings
from auditsql.outputs.results_log import ResultsLog, calendar_time, column_text, host_identifier, row_columns
from auditsql.query.schedule import Job, ScheduleError, Scheduler, check_queries
from auditsql.store.sqlite import Store
from auditsql.tables import REGISTRY, event_tables, live_tables

T0 = 1795593600  # Wed Nov 25 08:00:00 2026 UTC


def exec_lines(serial: int, pid: int, argv: list[str], sec: int = 1700000000) -> list[str]:
    """The records of one successful execve of /usr/bin/echo, as auditd writes them (raw format)."""
    stamp = f"audit({sec}.250:{serial})"
    args = " ".join(f'a{i}="{a}"' for i, a in enumerate(argv))
    return [
        f"type=SYSCALL msg={stamp}: arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 "
        f"items=2 ppid=100 pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 "
        'sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="echo" exe="/usr/bin/echo" subj=unconfined key=(null)',
        f"type=EXECVE msg={stamp}: argc={len(argv)} {args}",
        f'type=CWD msg={stamp}: cwd="/home/u"',
        f'type=PATH msg={stamp}: item=0 name="/bin/echo" inode=131 dev=fe:01 mode=0100755 ouid=0 ogid=0 '
        "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
        f"type=EOE msg={stamp}: ",
    ]


class Feeder:
    """Raw audit lines -> the native pipeline (assembled, rendered, mapped to rows) -> Store (the run path)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pipeline = Pipeline(Settings(format="enriched", resolve_ids=False, events_json=False))
        self.serial = 100

    def feed(self, lines: list[str]) -> None:
        """Record lines in; the rows of the events they closed go to the store."""
        self.store.insert(self.pipeline.feed_lines("".join(ln + "\n" for ln in lines).encode()).rows)

    def execs(self, *argvs: list[str]) -> None:
        for argv in argvs:
            self.serial += 1
            self.feed(exec_lines(self.serial, 1000 + self.serial, argv))
        self.store.insert(self.pipeline.finish().rows)
        self.store.flush()


class Clock:
    def __init__(self) -> None:
        self.wall = float(T0)
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path / "db" / "auditsql.db"))
    s.create_schema()
    yield s
    s.close()


def scheduler(store: Store, jobs: list[Job], out: io.BytesIO, clock: Clock, **kw: object) -> Scheduler:
    sch = Scheduler(
        store.path,
        jobs,
        ResultsLog(None, "web1", stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in event_tables()],
        live_tables=[t.name for t in live_tables()],
        before_run=store.flush,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
        **kw,  # type: ignore[arg-type]
    )
    sch.start()
    return sch


def lines(out: io.BytesIO) -> list[dict]:
    text = out.getvalue().decode()
    out.seek(0)
    out.truncate()
    return [json.loads(x) for x in text.splitlines()]


def line(name: str, counter: int, columns: dict[str, str], when: int = T0) -> dict:
    return {
        "name": name,
        "hostIdentifier": "web1",
        "calendarTime": calendar_time(when),
        "unixTime": when,
        "epoch": 0,
        "counter": counter,
        "numerics": False,
        "decorations": {},
        "columns": columns,
        "action": "added",
    }


QUERY = "SELECT pid, cmdline, path, uid FROM process_events ORDER BY pid"


# -- only new rows ---------------------------------------------------------------------------------------------


def test_scheduled_query_returns_only_new_rows(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    feed.execs(["/bin/echo", "before-start"])  # stored before the scheduler starts: never reported
    sch = scheduler(store, [Job("execs", QUERY, 10)], out, clock)
    feed.execs(["/bin/echo", "one"], ["/bin/echo", "two words"])

    clock.advance(9)
    assert sch.run_due(clock.mono) == []
    assert lines(out) == []  # not due yet
    clock.advance(1)
    assert sch.run_due(clock.mono) == []
    t1 = int(clock.wall)
    assert lines(out) == [
        line(
            "execs",
            0,
            {"cmdline": "/bin/echo one", "path": "/usr/bin/echo", "pid": "1102", "uid": "1000"},
            t1,
        ),
        line(
            "execs",
            0,
            {"cmdline": "/bin/echo two words", "path": "/usr/bin/echo", "pid": "1103", "uid": "1000"},
            t1,
        ),
    ]

    clock.advance(10)  # nothing new: no line, the counter stays
    sch.run_due(clock.mono)
    assert lines(out) == []

    feed.execs(["/bin/echo", "three"])
    clock.advance(10)
    sch.run_due(clock.mono)
    assert lines(out) == [
        line(
            "execs",
            1,
            {"cmdline": "/bin/echo three", "path": "/usr/bin/echo", "pid": "1104", "uid": "1000"},
            int(clock.wall),
        )
    ]
    # the whole table is still there for whoever names it
    assert sch.conn is not None
    assert [r[0] for r in sch.conn.execute("SELECT cmdline FROM process_events ORDER BY pid")] == [
        "/bin/echo before-start",
        "/bin/echo one",
        "/bin/echo two words",
        "/bin/echo three",
    ]
    job = sch.jobs[0]
    assert (job.runs, job.rows, job.counter, job.errors) == (3, 3, 1, 0)
    sch.close()


def test_each_query_keeps_its_own_position(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    q = "SELECT cmdline FROM process_events ORDER BY pid"
    sch = scheduler(store, [Job("fast", q, 1), Job("slow", q, 3)], out, clock)
    feed.execs(["/bin/echo", "a"])
    clock.advance(1)
    sch.run_due(clock.mono)
    feed.execs(["/bin/echo", "b"])
    clock.advance(1)
    sch.run_due(clock.mono)
    clock.advance(1)
    sch.run_due(clock.mono)
    got = [(d["name"], d["counter"], d["columns"]["cmdline"]) for d in lines(out)]
    assert got == [
        ("fast", 0, "/bin/echo a"),
        ("fast", 1, "/bin/echo b"),
        ("slow", 0, "/bin/echo a"),
        ("slow", 0, "/bin/echo b"),
    ]


def test_run_all_at_shutdown_reports_the_rest(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    sch = scheduler(store, [Job("execs", QUERY, 3600)], out, clock)
    feed.execs(["/bin/echo", "late"])
    assert sch.run_all(snapshots=False) == []
    assert [d["columns"]["cmdline"] for d in lines(out)] == ["/bin/echo late"]
    assert sch.run_all() == []
    assert lines(out) == []


def test_all_event_tables_are_shadowed_joins_too(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    q = (
        "SELECT p.cmdline AS cmdline, a.record_count AS records FROM process_events p "
        "JOIN audit_events a ON a.eid = p.eid"
    )
    feed.execs(["/bin/echo", "old"])
    sch = scheduler(store, [Job("joined", q, 1)], out, clock)
    feed.execs(["/bin/echo", "new"])
    clock.advance(1)
    sch.run_due(clock.mono)
    assert [d["columns"] for d in lines(out)] == [{"cmdline": "/bin/echo new", "records": "5"}]


def test_table_emptied_by_retention_starts_again(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    feed.execs(["/bin/echo", "x1"], ["/bin/echo", "x2"], ["/bin/echo", "x3"])
    sch = scheduler(store, [Job("execs", "SELECT cmdline FROM process_events", 1)], out, clock)
    store.conn.execute("DELETE FROM process_events")  # what an expiry of everything does
    feed.execs(["/bin/echo", "after"])  # rowid 1 again
    clock.advance(1)
    sch.run_due(clock.mono)
    assert [d["columns"]["cmdline"] for d in lines(out)] == ["/bin/echo after"]


def test_snapshot_query_sees_whole_tables(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    feed.execs(["/bin/echo", "s1"])
    sch = scheduler(
        store, [Job("all", "SELECT cmdline FROM process_events ORDER BY pid", 5, snapshot=True)], out, clock
    )
    feed.execs(["/bin/echo", "s2"])
    for _ in range(2):
        clock.advance(5)
        sch.run_due(clock.mono)
    when = int(clock.wall)
    got = lines(out)
    assert got[1] == {
        "snapshot": [{"cmdline": "/bin/echo s1"}, {"cmdline": "/bin/echo s2"}],
        "action": "snapshot",
        "name": "all",
        "hostIdentifier": "web1",
        "calendarTime": calendar_time(when),
        "unixTime": when,
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "decorations": {},
    }
    assert list(got[1]) == [
        "snapshot",
        "action",
        "name",
        "hostIdentifier",
        "calendarTime",
        "unixTime",
        "epoch",
        "counter",
        "numerics",
        "decorations",
    ]
    assert got[0]["snapshot"] == got[1]["snapshot"]


def test_live_tables_are_refreshed_for_queries_that_name_them(store: Store) -> None:
    clock, out = Clock(), io.BytesIO()
    asked: list[list[str]] = []
    jobs = [
        Job("status", "SELECT count(*) AS n FROM Audit_Status", 1, snapshot=True),
        Job("plain", "SELECT count(*) AS n FROM process_events", 1, snapshot=True),
    ]
    sch = scheduler(store, jobs, out, clock, refresh_live=asked.append)
    clock.advance(1)
    sch.run_due(clock.mono)
    assert asked == [["audit_status"]]


def test_a_failed_run_loses_no_rows(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
        "SELECT p.cmdline FROM process_events p, c WHERE c.x = 200000"
    )
    sch = scheduler(store, [Job("slow", slow, 1)], out, clock, time_limit=-1.0)
    feed.execs(["/bin/echo", "kept"])
    clock.advance(1)
    errors = sch.run_due(clock.mono)
    assert [str(e) for e in errors] == ["scheduled query slow: interrupted after -1 s (the time limit)"]
    assert isinstance(errors[0], ScheduleError)
    assert lines(out) == []
    sch.time_limit = 60.0
    clock.advance(1)
    assert sch.run_due(clock.mono) == []
    assert [(d["counter"], d["columns"]) for d in lines(out)] == [(0, {"cmdline": "/bin/echo kept"})]


def test_check_queries_names_the_problem() -> None:
    ddl = [t.ddl() for t in REGISTRY.values()]
    jobs = [
        Job("ok", "SELECT pid, cmdline FROM process_events WHERE uid = 0", 1),
        Job("table", "SELECT * FROM proces_events", 1),
        Job("column", "SELECT nope FROM socket_events", 1),
        Job("syntax", "SELEC 1", 1),
        Job("two", "SELECT 1; SELECT 2", 1),
    ]
    assert check_queries(jobs, ddl) == [
        "schedule.table.query: no such table: proces_events",
        "schedule.column.query: no such column: nope",
        'schedule.syntax.query: near "SELEC": syntax error',
        "schedule.two.query: You can only execute one statement at a time.",
    ]


# -- the results log format ------------------------------------------------------------------------------------


def test_result_line_keys_and_values_exact() -> None:
    out = io.BytesIO()
    log = ResultsLog(None, "web1", epoch=0, stream=out)  # type: ignore[arg-type]
    cols = row_columns(
        ["uid", "pid", "cmdline", "missing", "ratio", "pid"], [0, 4242, "/bin/echo hé", None, 0.5, 7]
    )
    assert log.added("execs", 3, [cols], T0) == 1
    text = out.getvalue()
    assert text == (
        b'{"name":"execs","hostIdentifier":"web1","calendarTime":"Wed Nov 25 08:00:00 2026 UTC",'
        b'"unixTime":1795593600,"epoch":0,"counter":3,"numerics":false,"decorations":{},'
        b'"columns":{"cmdline":"/bin/echo h\xc3\xa9","missing":"","pid":"7","ratio":"0.5","uid":"0"},'
        b'"action":"added"}\n'
    )
    d = json.loads(text)
    assert list(d) == [
        "name",
        "hostIdentifier",
        "calendarTime",
        "unixTime",
        "epoch",
        "counter",
        "numerics",
        "decorations",
        "columns",
        "action",
    ]


def test_host_identifier_is_read_for_every_run() -> None:
    # osquery sets a run's identifier when the query runs (the hostname may change meanwhile)
    out = io.BytesIO()
    names = iter(["a", "b"])
    log = ResultsLog(None, lambda: next(names), stream=out)  # type: ignore[arg-type]
    log.added("q", 0, [{"x": "1"}, {"x": "2"}], T0)
    log.added("q", 1, [{"x": "3"}], T0)
    assert [json.loads(x)["hostIdentifier"] for x in out.getvalue().splitlines()] == ["a", "a", "b"]


def test_decorations_and_epoch() -> None:
    out = io.BytesIO()
    log = ResultsLog(None, "h", epoch=314159265, decorations={"dc": "east"}, stream=out)  # type: ignore[arg-type]
    log.added("q", 0, [{"a": "1"}], T0)
    d = json.loads(out.getvalue())
    assert (d["epoch"], d["decorations"]) == (314159265, {"dc": "east"})


def test_calendar_time_is_osquerys() -> None:
    # the pair from osquery's docs (docs/wiki/deployment/logging.md, snapshot format example)
    assert calendar_time(1462228052) == "Mon May  2 22:27:32 2016 UTC"
    assert calendar_time(T0) == "Wed Nov 25 08:00:00 2026 UTC"
    assert calendar_time(T0 + 0.99) == "Wed Nov 25 08:00:00 2026 UTC"


def test_column_text_is_osquerys_cast() -> None:
    assert [column_text(v) for v in (None, 0, -2, 4294967295, "x", b"ab", 0.5, 2.0, 0.1, 1e20)] == [
        "",
        "0",
        "-2",
        "4294967295",
        "x",
        "ab",
        "0.5",
        "2.0",
        "0.10000000000000001",
        "1e+20.0",
    ]


def test_host_identifier() -> None:
    assert host_identifier("hostname") == os.uname().nodename
    assert host_identifier("specified", "web-7") == "web-7"
    assert host_identifier("specified", "") == os.uname().nodename
    uuid = host_identifier("uuid")
    assert len(uuid) == 36 and uuid.count("-") == 4
    with pytest.raises(ValueError):
        host_identifier("ip")


def test_results_log_file_modes(tmp_path: Path) -> None:
    path = tmp_path / "var" / "log" / "auditsql" / "results.jsonl"
    log = ResultsLog(str(path), "h").open()
    log.added("q", 0, [{"a": "1"}], T0)
    log.close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log = ResultsLog(str(path), "h").open()  # appends
    log.added("q", 1, [{"a": "2"}], T0)
    log.close()
    assert [json.loads(x)["counter"] for x in path.read_text().splitlines()] == [0, 1]


# -- a pipeline written for osqueryd's results log -------------------------------------------------------------

#: osquery's documented result lines (docs/wiki/deployment/logging.md): event format (added, removed) and
#: snapshot format, as printed there (whitespace removed); the event examples still show the old "hostname" key
#: and string numbers. The last line is what osqueryd 5 writes (query.cpp: numbers, numerics, decorations).
OSQUERY_LINES = [
    '{"action":"added","columns":{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97830"},'
    '"name":"processes","hostname":"hostname.local","calendarTime":"Tue Sep 30 17:37:30 2014",'
    '"unixTime":"1412123850","epoch":"314159265","counter":"1","numerics":false}',
    '{"action":"removed","columns":{"name":"osqueryd","path":"/opt/osquery/bin/osqueryd","pid":"97650"},'
    '"name":"processes","hostname":"hostname.local","calendarTime":"Tue Sep 30 17:37:30 2014",'
    '"unixTime":"1412123850","epoch":"314159265","counter":"1","numerics":false}',
    '{"action":"snapshot","snapshot":[{"parent":"0","path":"/sbin/launchd","pid":"1"},'
    '{"parent":"1","path":"/usr/sbin/syslogd","pid":"51"}],"name":"process_snapshot",'
    '"hostIdentifier":"hostname.local","calendarTime":"Mon May  2 22:27:32 2016 UTC","unixTime":"1462228052",'
    '"epoch":"314159265","counter":"1","numerics":false}',
    '{"name":"pack_it_execs","hostIdentifier":"web1","calendarTime":"Mon May  2 22:27:32 2016 UTC",'
    '"unixTime":1462228052,"epoch":0,"counter":4,"numerics":false,"decorations":{"host_uuid":"4C4C-1"},'
    '"columns":{"cmdline":"/bin/sh -c true","pid":"12"},"action":"added"}',
]


def osquery_pipeline(text: str) -> list[dict]:
    """A typical osqueryd results-log consumer (what a Logstash/Fluentd/Splunk pipeline does with the
    filesystem logger's lines): one flat record per row, ``columns.*`` and ``decorations.*`` prefixed, the
    time from ``unixTime`` checked against ``calendarTime``."""
    out = []
    for raw in text.splitlines():
        d = json.loads(raw)
        host = d["hostIdentifier"] if "hostIdentifier" in d else d["hostname"]
        unix = int(d["unixTime"])
        cal = datetime.strptime(d["calendarTime"].removesuffix(" UTC"), "%a %b %d %H:%M:%S %Y")
        if d["calendarTime"].endswith(" UTC"):  # older osquery wrote local time without the suffix
            assert int(cal.replace(tzinfo=UTC).timestamp()) == unix
        rows = d["snapshot"] if d["action"] == "snapshot" else [d["columns"]]
        if not d.get("numerics", False):
            assert all(isinstance(v, str) for row in rows for v in row.values())
        for row in rows:
            rec = {
                "query": d["name"],
                "host": host,
                "time": unix,
                "action": d["action"],
                "epoch": int(d["epoch"]),
                "counter": int(d["counter"]),
            }
            rec.update({f"columns.{k}": v for k, v in row.items()})
            rec.update({f"decorations.{k}": v for k, v in d.get("decorations", {}).items()})
            out.append(rec)
    return out


def test_osquery_pipeline_reads_osquerys_lines() -> None:
    got = osquery_pipeline("\n".join(OSQUERY_LINES))
    assert got == [
        {
            "query": "processes",
            "host": "hostname.local",
            "time": 1412123850,
            "action": "added",
            "epoch": 314159265,
            "counter": 1,
            "columns.name": "osqueryd",
            "columns.path": "/opt/osquery/bin/osqueryd",
            "columns.pid": "97830",
        },
        {
            "query": "processes",
            "host": "hostname.local",
            "time": 1412123850,
            "action": "removed",
            "epoch": 314159265,
            "counter": 1,
            "columns.name": "osqueryd",
            "columns.path": "/opt/osquery/bin/osqueryd",
            "columns.pid": "97650",
        },
        {
            "query": "process_snapshot",
            "host": "hostname.local",
            "time": 1462228052,
            "action": "snapshot",
            "epoch": 314159265,
            "counter": 1,
            "columns.parent": "0",
            "columns.path": "/sbin/launchd",
            "columns.pid": "1",
        },
        {
            "query": "process_snapshot",
            "host": "hostname.local",
            "time": 1462228052,
            "action": "snapshot",
            "epoch": 314159265,
            "counter": 1,
            "columns.parent": "1",
            "columns.path": "/usr/sbin/syslogd",
            "columns.pid": "51",
        },
        {
            "query": "pack_it_execs",
            "host": "web1",
            "time": 1462228052,
            "action": "added",
            "epoch": 0,
            "counter": 4,
            "columns.cmdline": "/bin/sh -c true",
            "columns.pid": "12",
            "decorations.host_uuid": "4C4C-1",
        },
    ]


def test_osquery_pipeline_reads_ours_unchanged(store: Store) -> None:
    feed, clock, out = Feeder(store), Clock(), io.BytesIO()
    clock.wall = 1462228052.0
    sch = scheduler(
        store,
        [
            Job("execs", "SELECT pid, cmdline FROM process_events ORDER BY pid", 1),
            Job("count", "SELECT count(*) AS n FROM main.process_events", 1, snapshot=True),
        ],
        out,
        clock,
    )
    feed.execs(["/bin/echo", "piped"])
    clock.advance(1)
    sch.run_due(clock.mono)
    ours = out.getvalue().decode()
    # and the same line layout as osqueryd 5's own (the last documented line): same keys, same order
    osq5 = json.loads(OSQUERY_LINES[3])
    mine = json.loads(ours.splitlines()[0])
    assert list(mine) == list(osq5)
    assert [type(mine[k]) for k in mine] == [type(osq5[k]) for k in osq5]
    assert osquery_pipeline(ours) == [
        {
            "query": "execs",
            "host": "web1",
            "time": 1462228053,
            "action": "added",
            "epoch": 0,
            "counter": 0,
            "columns.cmdline": "/bin/echo piped",
            "columns.pid": "1101",
        },
        {
            "query": "count",
            "host": "web1",
            "time": 1462228053,
            "action": "snapshot",
            "epoch": 0,
            "counter": 0,
            "columns.n": "1",
        },
    ]


def test_scheduler_reads_committed_rows_only_through_before_run(tmp_path: Path) -> None:
    # before_run is how the agent makes buffered rows visible to the read-only connection
    s = Store(str(tmp_path / "a.db"), batch_rows=10**6, batch_seconds=3600)
    s.create_schema()
    feed, clock, out = Feeder(s), Clock(), io.BytesIO()
    sch = Scheduler(
        s.path,
        [Job("execs", "SELECT cmdline FROM process_events", 1)],
        ResultsLog(None, "h", stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in event_tables()],
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
    )
    sch.start()
    feed.feed(exec_lines(500, 7, ["/bin/echo", "buffered"]))
    clock.advance(1)
    sch.run_due(clock.mono)
    assert lines(out) == []  # still in the store's buffer
    sch.before_run = s.flush
    clock.advance(1)
    sch.run_due(clock.mono)
    assert [d["columns"]["cmdline"] for d in lines(out)] == ["/bin/echo buffered"]
    sch.close()
    s.close()


def test_calendar_time_ignores_the_local_zone() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        assert calendar_time(T0) == "Wed Nov 25 08:00:00 2026 UTC"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_scheduled_queries_refuse_fts3_tokenizer_and_huge_values(store: Store) -> None:
    clock, out = Clock(), io.BytesIO()
    jobs = [
        Job("pointer", "SELECT fts3_tokenizer('simple') AS p", 1, snapshot=True),
        Job("register", "SELECT fts3_tokenizer('mine', X'0000000000000000') AS p", 1, snapshot=True),
        Job("huge", "SELECT length(zeroblob(1e9)) AS n", 1, snapshot=True),
    ]
    sch = scheduler(store, jobs, out, clock)
    clock.advance(1)
    errors = sch.run_due(clock.mono)
    assert [str(e) for e in errors] == [
        "scheduled query pointer: fts3_tokenizer() is refused (it reads and replaces the SQL engine's internals; "
        "queries only read the store)",
        "scheduled query register: fts3_tokenizer() is refused (it reads and replaces the SQL engine's internals; "
        "queries only read the store)",
        "scheduled query huge: a value grew beyond 8388608 bytes, the limit of one value",
    ]
    assert lines(out) == []
    sch.close()

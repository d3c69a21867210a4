"""What an osquery configuration asks of the running scheduler: decorators in every results line where
osquery puts them, differential queries with removed rows, discovery, denylist, splay, snapshot lines; and
``auditsql run`` end to end (auditd's plugin stream on stdin) with osquery's example config."""

from __future__ import annotations

import io
import json
import random
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.outputs.results_log import ResultsLog, calendar_time, column_text
from auditsql.query.schedule import Decorators, Job, Scheduler, splay
from auditsql.store.sqlite import Store
from auditsql.tables import REGISTRY, event_tables, host, live_tables
from tests.agent.test_run_pipeline import AUDITSQL, connect_lines
from tests.agent.test_schedule import T0, Clock, Feeder, exec_lines, lines, store  # noqa: F401 - fixture
from tests.corpus import REPO

OSQ = REPO.parent / "shared" / "osquery"


def make(
    st: Store, jobs: list[Job], clock: Clock, results: ResultsLog | None = None, **kw: object
) -> tuple[Scheduler, io.BytesIO]:
    out = io.BytesIO()
    sch = Scheduler(
        st.path,
        jobs,
        results or ResultsLog(None, "web1", stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in event_tables()],
        live_tables=[t.name for t in live_tables()],
        refresh_live=st.refresh_live,
        before_run=st.flush,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
        **kw,  # type: ignore[arg-type]
    )
    if results is not None:
        results._out = out
    sch.start()
    return sch, out


def head(name: str, counter: int, decorations: dict[str, str], when: int) -> dict:
    return {
        "name": name,
        "hostIdentifier": "web1",
        "calendarTime": calendar_time(when),
        "unixTime": when,
        "epoch": 0,
        "counter": counter,
        "numerics": False,
        "decorations": decorations,
    }


def test_decorators_load_always_interval(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    dec = Decorators(
        load=("SELECT 'a' AS load_test, 1 AS n", "SELECT uuid AS host_uuid FROM system_info"),
        always=("SELECT count(*) AS execs_so_far FROM main.process_events",),
        interval={60: ("SELECT 'i' || count(*) AS every_minute FROM main.process_events",)},
    )
    sch, out = make(store, [Job("execs", "SELECT pid, path FROM process_events", 10)], clock, decorators=dec)
    uuid = host.identity().uuid
    feed.execs(["/bin/echo", "one"])
    clock.advance(10)
    assert sch.run_due(clock.mono) == []
    deco = {"every_minute": "i0", "execs_so_far": "1", "host_uuid": uuid, "load_test": "a", "n": "1"}
    assert lines(out) == [
        {
            **head("execs", 0, deco, T0 + 10),
            "columns": {"path": "/usr/bin/echo", "pid": "1101"},
            "action": "added",
        }
    ]
    feed.execs(["/bin/echo", "two"])
    clock.advance(50)  # 60 s: the interval decorator runs again, then the query
    assert sch.run_due(clock.mono) == []
    deco = {**deco, "every_minute": "i2", "execs_so_far": "2"}
    assert lines(out) == [
        {
            **head("execs", 1, deco, T0 + 60),
            "columns": {"path": "/usr/bin/echo", "pid": "1102"},
            "action": "added",
        }
    ]


def test_decorations_top_level(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    results = ResultsLog(None, "web1", decorations_top_level=True)
    sch, out = make(
        store,
        [Job("execs", "SELECT pid FROM process_events", 10)],
        clock,
        results,
        decorators=Decorators(load=("SELECT 'b' AS zone",)),
    )
    feed.execs(["/bin/echo"])
    clock.advance(10)
    sch.run_due(clock.mono)
    got = out.getvalue().decode().splitlines()
    assert got == [
        f'{{"name":"execs","hostIdentifier":"web1","calendarTime":"{calendar_time(T0 + 10)}",'
        f'"unixTime":{T0 + 10},"epoch":0,"counter":0,"numerics":false,"zone":"b","columns":{{"pid":"1101"}},'
        '"action":"added"}'
    ]


def test_a_query_on_no_event_table_is_differential(store: Store) -> None:  # noqa: F811
    clock = Clock()
    q = "SELECT name FROM (SELECT 'a' AS name UNION SELECT 'b') WHERE name IN (SELECT value FROM main.kv)"
    store.conn.execute("CREATE TABLE kv (value TEXT)")
    store.conn.executemany("INSERT INTO kv VALUES (?)", [("a",), ("b",)])
    store.conn.commit()
    sch, out = make(store, [Job("diff", q, 10), Job("keep", q, 10, removed=False)], clock)
    clock.advance(10)
    sch.run_due(clock.mono)
    first = [(d["name"], d["counter"], d["action"], d["columns"]) for d in lines(out)]
    assert first == [
        ("diff", 0, "added", {"name": "a"}),
        ("diff", 0, "added", {"name": "b"}),
        ("keep", 0, "added", {"name": "a"}),
        ("keep", 0, "added", {"name": "b"}),
    ]
    clock.advance(10)
    sch.run_due(clock.mono)
    assert lines(out) == []  # nothing changed: nothing logged
    store.conn.execute("DELETE FROM kv WHERE value = 'a'")
    store.conn.commit()
    clock.advance(10)
    sch.run_due(clock.mono)
    assert [(d["name"], d["counter"], d["action"], d["columns"]) for d in lines(out)] == [
        ("diff", 1, "removed", {"name": "a"})  # removed: false logs nothing
    ]


def test_snapshot_event_type(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    results = ResultsLog(None, "web1", snapshot_event_type=True)
    sch, out = make(
        store, [Job("snap", "SELECT pid FROM process_events ORDER BY pid", 10, snapshot=True)], clock, results
    )
    feed.execs(["/bin/echo", "1"], ["/bin/echo", "2"])
    clock.advance(10)
    sch.run_due(clock.mono)
    assert lines(out) == [
        {**head("snap", 0, {}, T0 + 10), "columns": {"pid": "1101"}, "action": "snapshot"},
        {**head("snap", 0, {}, T0 + 10), "columns": {"pid": "1102"}, "action": "snapshot"},
    ]


def test_discovery_gates_a_pack(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    job = Job(
        "pack_p_execs", "SELECT pid FROM process_events", 10, discovery=("SELECT 1 FROM main.process_events",)
    )
    sch, out = make(store, [job], clock, pack_refresh_interval=15)
    clock.advance(10)
    sch.run_due(clock.mono)
    assert (lines(out), job.runs) == ([], 0)  # no process_events row yet: the pack is not active
    feed.execs(["/bin/echo"])
    clock.advance(10)  # discovery cached for 15 s: still inactive
    sch.run_due(clock.mono)
    assert job.runs == 0
    clock.advance(10)
    sch.run_due(clock.mono)
    assert [d["columns"] for d in lines(out)] == [{"pid": "1101"}]  # the rows stored meanwhile are not lost


def test_denylist(store: Store) -> None:  # noqa: F811
    clock = Clock()
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT max(x) FROM c"
    jobs = [Job("slow", slow, 10), Job("slow_kept", slow, 10, denylist=False)]
    sch, out = make(store, jobs, clock, time_limit=-1.0, denylist_duration=100)
    clock.advance(10)
    assert [str(e) for e in sch.run_due(clock.mono)] == [
        "scheduled query slow: interrupted after -1 s (the time limit); denylisted for 100 s",
        "scheduled query slow_kept: interrupted after -1 s (the time limit)",
    ]
    clock.advance(10)
    assert [str(e) for e in sch.run_due(clock.mono)] == [
        "scheduled query slow_kept: interrupted after -1 s (the time limit)"
    ]
    assert (jobs[0].errors, jobs[1].errors) == (1, 2)


def test_splay_is_osquerys() -> None:
    rng = random.Random(7)
    got = {splay(100, 10, rng) for _ in range(2000)}
    assert got == set(range(90, 111))
    assert (splay(100, 0), splay(5, 10), splay(1, 50)) == (100, 5, 1)


# -- auditsql run with an osquery configuration ----------------------------------------------------------------


def test_run_with_osquerys_example_config_and_a_pack(tmp_path: Path) -> None:
    conf = tmp_path / "osquery.conf"
    example = (OSQ / "osquery.example.conf").read_text()
    # the example, unchanged, plus a pack file and two queries on auditsql's event tables
    conf.write_text(
        example.replace(
            '"packs": {',
            '"packs": {\n    "vuln": "%s",\n    "audit": {"queries": {'
            '"execs": {"query": "SELECT pid, path, cmdline FROM process_events", "interval": "3600"},'
            '"connects": {"query": "SELECT pid, remote_port FROM socket_events", "interval": 3600, "removed": "false"}}},'
            % (OSQ / "packs" / "vuln-management.conf"),
        ).replace(
            '//"schedule_splay_percent": "10",',
            '"host_identifier": "specified", "specified_identifier": "web1",',
        )
    )
    db, results = tmp_path / "db" / "a.db", tmp_path / "log" / "results.jsonl"
    stream = exec_lines(101, 4242, ["/bin/echo", "osq"]) + connect_lines(102, 4243, 8080)
    res = subprocess.run(
        [
            AUDITSQL,
            "run",
            "--source",
            "plugin",
            "--config_path",
            str(conf),
            "--db",
            str(db),
            "--results-log",
            str(results),
            "--no-resolve-ids",
            "--status-interval",
            "0",
            "--stats-file",
            "",
        ],
        input="\n".join(stream).encode() + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = res.stderr.decode().splitlines()
    assert res.returncode == 0, err
    assert err[:3] == [
        f"auditsql: {conf}: 4 of 21 scheduled queries run here; 10 use tables auditsql does not have (users, "
        "apt_sources, chrome_extensions, deb_packages, firefox_addons, kernel_info, …): skipped; 7 are for other "
        "platforms (darwin): skipped",
        "auditsql: decorators: 1 of 2 run here; the others use tables auditsql does not have (logged_in_users)",
        "auditsql: keys with no meaning here, ignored: feature_vectors",
    ]
    got = [json.loads(x) for x in results.read_text().splitlines()]
    deco = {"host_uuid": host.identity().uuid}
    for d in got:
        assert (d["hostIdentifier"], d["decorations"], d["action"], d["counter"]) == (
            "web1",
            deco,
            "added",
            0,
        )
    by_name = {d["name"]: d["columns"] for d in got}
    row = dict(
        zip([c.name for c in REGISTRY["system_info"].columns], host.system_info_rows()[0], strict=True)
    )
    assert sorted(by_name) == [
        "pack_audit_connects",
        "pack_audit_execs",
        "pack_vuln_os_version",
        "system_info",
    ]
    assert by_name["pack_audit_execs"] == {"cmdline": "/bin/echo osq", "path": "/usr/bin/echo", "pid": "4242"}
    assert by_name["pack_audit_connects"] == {"pid": "4243", "remote_port": "8080"}
    assert by_name["system_info"] == {
        k: column_text(row[k]) for k in ("cpu_brand", "hostname", "physical_memory")
    }
    assert by_name["pack_vuln_os_version"]["name"] == column_text(
        dict(zip([c.name for c in REGISTRY["os_version"].columns], host.os_version_rows()[0], strict=True))[
            "name"
        ]
    )


def test_snapshots_to_their_own_file(store: Store, tmp_path: Path) -> None:  # noqa: F811
    """osquery's filesystem logger: results in osqueryd.results.log, snapshots in osqueryd.snapshots.log."""
    feed, clock = Feeder(store), Clock()
    results = ResultsLog(
        str(tmp_path / "osqueryd.results.log"), "web1", snapshot_path=str(tmp_path / "osqueryd.snapshots.log")
    ).open()
    jobs = [
        Job("snap", "SELECT pid FROM process_events", 10, snapshot=True),
        Job("execs", "SELECT pid FROM process_events", 10),
    ]
    sch = Scheduler(
        store.path,
        jobs,
        results,
        event_tables=[t.name for t in event_tables()],
        before_run=store.flush,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
    )
    sch.start()
    feed.execs(["/bin/echo"])
    clock.advance(10)
    sch.run_due(clock.mono)
    results.close()
    snaps = [json.loads(x) for x in (tmp_path / "osqueryd.snapshots.log").read_text().splitlines()]
    adds = [json.loads(x) for x in (tmp_path / "osqueryd.results.log").read_text().splitlines()]
    assert [(d["name"], d["action"], d["snapshot"]) for d in snaps] == [
        ("snap", "snapshot", [{"pid": "1101"}])
    ]
    assert [(d["name"], d["action"], d["columns"]) for d in adds] == [("execs", "added", {"pid": "1101"})]


def test_a_failing_decorator_is_reported_and_the_query_runs(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    dec = Decorators(load=("SELECT 1/0 AS x, nosuch() AS y",), always=("SELECT nosuch() AS z",))
    out = io.BytesIO()
    sch = Scheduler(
        store.path,
        [Job("execs", "SELECT pid FROM process_events", 10)],
        ResultsLog(None, "web1", stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in event_tables()],
        before_run=store.flush,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
        decorators=dec,
    )
    assert [str(e) for e in sch.start()] == [
        "decorator 'SELECT 1/0 AS x, nosuch() AS y': no such function: nosuch"
    ]
    feed.execs(["/bin/echo"])
    clock.advance(10)
    assert [str(e) for e in sch.run_due(clock.mono)] == [
        "decorator 'SELECT nosuch() AS z': no such function: nosuch"
    ]
    assert [(d["decorations"], d["columns"]) for d in lines(out)] == [({}, {"pid": "1101"})]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=6), min_size=1, max_size=6))
def test_differential_lines_replay_to_the_current_result_set(runs: list[list[str]]) -> None:
    """Applying each run's removed then added lines to the previous result set gives the current one."""
    from collections import Counter

    job = Job("d", "SELECT 1", 1)
    sch = Scheduler.__new__(Scheduler)
    log: list[tuple[str, dict]] = []
    sch.results = type(
        "R",
        (),
        {
            "added": lambda self, n, c, rows, w: log.extend(("added", r) for r in rows),
            "removed": lambda self, n, c, rows, w: log.extend(("removed", r) for r in rows),
        },
    )()
    state: Counter = Counter()
    for rows in runs:
        log.clear()
        sch._differential(job, [{"v": v} for v in rows], 0.0)
        assert [a for a, _ in log] == sorted(
            (a for a, _ in log), key=lambda a: a != "removed"
        )  # removed first
        for action, row in log:
            state[row["v"]] += 1 if action == "added" else -1
        assert +state == Counter(rows)

"""Scheduled queries across a restart, as osquery keeps them in its database (osquery/core/query.cpp,
``kQueries``: the SQL, epoch, counter and previous results per query name): two scheduler sessions over one
store, as two ``auditsql run`` (the second started after the first stopped), and the exact results-log lines."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from auditsql.outputs.results_log import ResultsLog, calendar_time
from auditsql.query.schedule import Job, Scheduler
from auditsql.store.schedule_state import SCHEDULE_TABLE, SavedQuery, ScheduleState
from auditsql.store.sqlite import SCHEMA_VERSION, Store
from auditsql.tables import event_tables, live_tables
from tests.agent.test_schedule import T0, Clock, Feeder, lines, store  # noqa: F401 - fixture

#: a differential query (no event table) over a table of the test's own
DIFF = "SELECT name FROM (SELECT 'a' AS name UNION SELECT 'b' UNION SELECT 'c') WHERE name IN (SELECT v FROM main.kv)"
EXECS = "SELECT cmdline FROM process_events ORDER BY pid"


def session(st: Store, jobs: list[Job], clock: Clock, epoch: int = 0) -> tuple[Scheduler, io.BytesIO]:
    """One `auditsql run`'s scheduler: its own results log, its own state connection, started."""
    out = io.BytesIO()
    sch = Scheduler(
        st.path,
        jobs,
        ResultsLog(None, "web1", epoch, stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in event_tables()],
        live_tables=[t.name for t in live_tables()],
        before_run=st.flush,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
        state=ScheduleState(st.path),
    )
    assert sch.start() == []
    return sch, out


def run(sch: Scheduler, out: io.BytesIO, clock: Clock) -> list[dict]:
    clock.advance(10)
    assert sch.run_due(clock.mono) == []
    return lines(out)


def line(name: str, counter: int, columns: dict[str, str], action: str, when: float, epoch: int = 0) -> dict:
    return {
        "name": name,
        "hostIdentifier": "web1",
        "calendarTime": calendar_time(when),
        "unixTime": int(when),
        "epoch": epoch,
        "counter": counter,
        "numerics": False,
        "decorations": {},
        "columns": columns,
        "action": action,
    }


def kv(st: Store, *values: str) -> None:
    st.conn.execute("CREATE TABLE IF NOT EXISTS kv (v TEXT)")
    st.conn.execute("DELETE FROM kv")
    st.conn.executemany("INSERT INTO kv VALUES (?)", [(v,) for v in values])


def test_a_differential_query_logs_only_the_real_difference_after_a_restart(store: Store) -> None:  # noqa: F811
    clock = Clock()
    kv(store, "a", "b")
    sch, out = session(store, [Job("diff", DIFF, 10)], clock)
    assert run(sch, out, clock) == [
        line("diff", 0, {"name": "a"}, "added", clock.wall),
        line("diff", 0, {"name": "b"}, "added", clock.wall),
    ]
    sch.close()  # stopped
    kv(store, "b", "c")  # while it was stopped
    sch, out = session(store, [Job("diff", DIFF, 10)], clock)
    # osquery's addNewResults against the results kept in its database: removed first, the counter goes on
    assert run(sch, out, clock) == [
        line("diff", 1, {"name": "a"}, "removed", clock.wall),
        line("diff", 1, {"name": "c"}, "added", clock.wall),
    ]
    assert run(sch, out, clock) == []  # nothing changed
    sch.close()
    sch, out = session(store, [Job("diff", DIFF, 10)], clock)
    assert run(sch, out, clock) == []  # nothing changed across the restart either
    sch.close()


def test_an_event_query_continues_after_the_last_row_it_logged(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    sch, out = session(store, [Job("execs", EXECS, 10)], clock)
    feed.execs(["/bin/echo", "one"])
    assert run(sch, out, clock) == [line("execs", 0, {"cmdline": "/bin/echo one"}, "added", clock.wall)]
    feed.execs(["/bin/echo", "two"])  # stored, not yet logged: the agent is killed before the next run
    sch.close()
    feed.execs(["/bin/echo", "three"])  # stored before the next scheduler starts
    sch, out = session(store, [Job("execs", EXECS, 10)], clock)
    feed.execs(["/bin/echo", "four"])
    assert run(sch, out, clock) == [
        line("execs", 1, {"cmdline": "/bin/echo two"}, "added", clock.wall),
        line("execs", 1, {"cmdline": "/bin/echo three"}, "added", clock.wall),
        line("execs", 1, {"cmdline": "/bin/echo four"}, "added", clock.wall),
    ]
    assert run(sch, out, clock) == []
    sch.close()


def test_a_changed_query_starts_afresh(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    kv(store, "a", "b")
    jobs = [Job("diff", DIFF, 10), Job("execs", EXECS, 10)]
    sch, out = session(store, jobs, clock)
    feed.execs(["/bin/echo", "one"])
    assert len(run(sch, out, clock)) == 3
    feed.execs(["/bin/echo", "two"])  # not logged before the restart
    sch.close()
    changed = [
        Job("diff", DIFF + " ORDER BY name", 10),
        Job("execs", EXECS.replace("cmdline", "cmdline, uid"), 10),
    ]
    sch, out = session(store, changed, clock)
    feed.execs(["/bin/echo", "three"])
    # the SQL kept with the state is not this one: every row added, counter 0; event rows from this start on
    assert run(sch, out, clock) == [
        line("diff", 0, {"name": "a"}, "added", clock.wall),
        line("diff", 0, {"name": "b"}, "added", clock.wall),
        line("execs", 0, {"cmdline": "/bin/echo three", "uid": "1000"}, "added", clock.wall),
    ]
    sch.close()


def test_another_epoch_starts_the_results_and_the_counter_afresh(store: Store) -> None:  # noqa: F811
    feed, clock = Feeder(store), Clock()
    kv(store, "a")
    jobs = [Job("diff", DIFF, 10), Job("execs", EXECS, 10)]
    sch, out = session(store, jobs, clock)
    feed.execs(["/bin/echo", "one"])
    run(sch, out, clock)
    feed.execs(["/bin/echo", "two"])
    assert run(sch, out, clock) == [line("execs", 1, {"cmdline": "/bin/echo two"}, "added", clock.wall)]
    sch.close()
    feed.execs(["/bin/echo", "three"])
    sch, out = session(store, [Job("diff", DIFF, 10), Job("execs", EXECS, 10)], clock, epoch=7)
    # osquery's getQueryStatus: another epoch is new_query_epoch: all the results, counter 0; the event rows
    # go on where they were read
    assert run(sch, out, clock) == [
        line("diff", 0, {"name": "a"}, "added", clock.wall, 7),
        line("execs", 0, {"cmdline": "/bin/echo three"}, "added", clock.wall, 7),
    ]
    sch.close()


def test_the_counter_of_a_differential_query_counts_changes_not_lines(store: Store) -> None:  # noqa: F811
    clock = Clock()
    kv(store)
    sch, out = session(store, [Job("diff", DIFF, 10, removed=False)], clock)
    assert run(sch, out, clock) == []  # a first run without rows: counter 0 kept, nothing logged
    kv(store, "a")
    assert run(sch, out, clock) == [line("diff", 1, {"name": "a"}, "added", clock.wall)]
    kv(store)
    assert run(sch, out, clock) == []  # only a removed row, not reported (removed: false); the counter moved
    sch.close()
    kv(store, "b")
    sch, out = session(store, [Job("diff", DIFF, 10, removed=False)], clock)
    assert run(sch, out, clock) == [line("diff", 3, {"name": "b"}, "added", clock.wall)]
    sch.close()


def test_the_state_is_a_table_of_the_store(store: Store, tmp_path: Path) -> None:  # noqa: F811
    clock = Clock()
    kv(store, "a", "b")
    sch, out = session(store, [Job("diff", DIFF, 10), Job("snap", DIFF, 10, snapshot=True)], clock)
    run(sch, out, clock)
    sch.close()
    state = ScheduleState(store.path)
    saved = state.load()
    assert list(saved) == ["diff"]  # a snapshot query keeps nothing (osquery: snapshots skip the database)
    assert saved["diff"] == SavedQuery(
        DIFF, 0, 0, [(("name", "a"),), (("name", "b"),)], saved["diff"].marks, clock.wall
    )
    assert set(saved["diff"].marks) == {t.name for t in event_tables()}
    # a query gone from the schedule: its state goes after a week without a run, as osquery's Config::purge
    assert state.purge(["other"], clock.wall + 6 * 86400) == []
    assert state.purge(["other"], clock.wall + 7 * 86400) == ["diff"]
    assert state.load() == {}
    state.close()
    assert store.conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (3,)


def test_a_store_of_layout_2_gets_the_table(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    s = Store(path)
    s.create_schema()
    s.conn.execute(f"DROP TABLE {SCHEDULE_TABLE}")
    s.conn.execute("PRAGMA user_version = 2")
    s.close()
    assert ScheduleState(path).load() == {}  # no table yet: no state, every query afresh
    s = Store(path)
    s.create_schema()
    assert s.conn.execute("PRAGMA user_version").fetchone() == (3,)
    s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEDULE_TABLE}").fetchone() == (0,)

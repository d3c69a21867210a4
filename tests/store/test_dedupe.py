"""Each event stored once (auditsql.store.dedupe): same eid, node and records, no new row, in any table."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql import _core
from auditsql.agent import RunSink
from auditsql.store.sqlite import Store
from auditsql.tables import loss_rows
from tests.agent.test_run_pipeline import connect_lines
from tests.agent.test_schedule import exec_lines
from tests.query.test_query_cli import NORMAL_LOG, run

Rows = list[tuple[str, tuple]]


def events_of(lines: list[str]) -> list[Rows]:
    """Each event's rows, as the pipeline hands them (``audit_events`` first), in order."""
    p = _core.Pipeline(_core.Settings(resolve_ids=False, events_json=False))
    out: list[Rows] = []
    for b in (p.feed_lines("".join(line + "\n" for line in lines).encode()), p.finish()):
        out += [b.rows[b.event_rows[i] : b.event_rows[i + 1]] for i in range(b.events)]
    return out


def rows_of(lines: list[str]) -> Rows:
    return [r for ev in events_of(lines) for r in ev]


#: three events: two execs and a connect (serials 7, 8, 9)
THREE = exec_lines(7, 77, ["/bin/echo", "x"]) + connect_lines(8, 78, 80) + exec_lines(9, 79, ["/bin/true"])


def counts(store: Store) -> dict[str, int]:
    names = ("audit_events_data", "process_events", "socket_events")
    return {n: store.conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def open_store(path: Path) -> Store:
    s = Store(str(path))
    s.create_schema()
    return s


def test_an_event_stored_already_is_left_out_with_its_rows(tmp_path: Path) -> None:
    rows = rows_of(THREE)
    with open_store(tmp_path / "a.db") as s:
        s.insert(rows)
        assert s.flush() == 6
        s.insert(rows)
        assert s.flush() == 0
        assert (s.events_present, s.dedupe.rows_present) == (3, 3)  # type: ignore[union-attr]
        assert counts(s) == {"audit_events_data": 3, "process_events": 2, "socket_events": 1}
    with open_store(tmp_path / "a.db") as s:  # a later open asks the file
        s.insert(rows)
        assert (s.flush(), s.events_present) == (0, 3)
        assert counts(s) == {"audit_events_data": 3, "process_events": 2, "socket_events": 1}


def test_an_event_buffered_already_is_left_out(tmp_path: Path) -> None:
    rows = rows_of(THREE)
    with open_store(tmp_path / "a.db") as s:
        s.insert(rows)
        s.insert(rows)  # not committed yet: the buffer is asked
        s.insert(rows + rows)  # and repeats within one call
        assert (s.flush(), s.events_present) == (6, 9)
        assert counts(s) == {"audit_events_data": 3, "process_events": 2, "socket_events": 1}


def test_only_the_events_present_are_left_out(tmp_path: Path) -> None:
    first, second, third = events_of(THREE)
    with open_store(tmp_path / "a.db") as s:
        s.insert(second)
        s.flush()
        s.insert(first + second + third)
        assert (s.flush(), s.events_present) == (4, 1)
        got = s.conn.execute("SELECT eid, cmdline FROM process_events ORDER BY eid").fetchall()
        assert got == [("1700000000.250:7", "/bin/echo x"), ("1700000000.250:9", "/bin/true")]
        assert s.conn.execute("SELECT eid FROM socket_events").fetchall() == [("1700000001.500:8",)]


def test_same_eid_with_other_records_is_another_event(tmp_path: Path) -> None:
    """A record that came after its event closed makes another event of the same eid: it is stored."""
    one = rows_of(exec_lines(7, 77, ["/bin/echo", "one"]))
    two = rows_of(exec_lines(7, 77, ["/bin/echo", "two"]))
    assert one[0][1][-1] == two[0][1][-1] == "1700000000.250:7"
    with open_store(tmp_path / "a.db") as s:
        s.insert(one)
        s.flush()
        s.insert(two)
        assert (s.flush(), s.events_present) == (2, 0)
        s.insert(two + one)
        assert (s.flush(), s.events_present) == (0, 2)
        got = s.conn.execute("SELECT cmdline FROM process_events ORDER BY rowid").fetchall()
        assert got == [("/bin/echo one",), ("/bin/echo two",)]


def test_same_eid_and_records_on_another_node_is_another_event(tmp_path: Path) -> None:
    rows = rows_of(exec_lines(7, 77, ["/bin/echo"]))
    node = Store(str(tmp_path / "x.db"), readonly=False).tables["audit_events"].stored_names.index("node")
    (name, row), rest = rows[0], rows[1:]
    elsewhere = [(name, row[:node] + ("other",) + row[node + 1 :]), *rest]
    with open_store(tmp_path / "a.db") as s:
        s.insert(rows)
        s.flush()
        s.insert(elsewhere)
        assert (s.flush(), s.events_present) == (2, 0)


def test_same_records_in_another_blob_are_the_same_event(tmp_path: Path) -> None:
    """The blob also keeps how the event was closed (and an older store's dictionary): the records decide."""
    rows = rows_of(exec_lines(7, 77, ["/bin/echo"]))
    with open_store(tmp_path / "a.db") as s:
        s.insert(rows)
        s.flush()
        names = s.tables["audit_events"].stored_names
        blob_at = names.index("blob")
        (raw,) = s.conn.execute("SELECT audit_raw_json(blob) FROM audit_events_data").fetchone()
        other = _core.encode_raw_json(raw, "window", None)
        (name, row) = rows[0]
        assert other != row[blob_at]
        s.insert([(name, row[:blob_at] + (other,) + row[blob_at + 1 :]), *rows[1:]])
        assert (s.flush(), s.events_present) == (0, 1)
        assert counts(s) == {"audit_events_data": 1, "process_events": 1, "socket_events": 0}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 5), max_size=8), st.booleans()
        ),  # (events of one insert, flush after)
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_inserts_stores_each_event_once(calls: list[tuple[list[int], bool]]) -> None:
    events = events_of(
        THREE + exec_lines(10, 80, ["/bin/ls"]) + connect_lines(11, 81, 443) + exec_lines(12, 82, ["/bin/id"])
    )
    assert len(events) == 6
    with tempfile.TemporaryDirectory() as d, open_store(Path(d) / "a.db") as s:
        for picks, flush in calls:
            s.insert([r for i in picks for r in events[i]])
            if flush:
                s.flush()
        s.flush()
        chosen = {i for picks, _ in calls for i in picks}
        assert s.conn.execute("SELECT eid FROM audit_events_data ORDER BY eid").fetchall() == sorted(
            (events[i][0][1][-1],) for i in chosen
        )
        want: dict[str, int] = {"audit_events": 0, "process_events": 0, "socket_events": 0}
        for i in chosen:
            for name, _ in events[i]:
                want[name] += 1
        assert {n: s.counts[n] for n in want} == want
        assert s.events_present == sum(len(p) for p, _ in calls) - len(chosen)


def test_the_run_sink_stores_a_replay_once(tmp_path: Path) -> None:
    """``auditsql run`` shares the store's inserts: events handed again after a restart are stored once."""
    lines = THREE
    with open_store(tmp_path / "a.db") as s:
        sink = RunSink(s, loss_rows)
        for _ in range(2):
            p = _core.Pipeline(_core.Settings(resolve_ids=False, events_json=False))
            sink.batch(p.feed_lines("".join(line + "\n" for line in lines).encode()))
            sink.flush()
        s.flush()
        assert counts(s) == {"audit_events_data": 3, "process_events": 2, "socket_events": 1}
        assert sink.status_parts() == ["rows 12", "already stored 3"]


# -- auditsql import ---------------------------------------------------------------------------------------------


def test_importing_a_file_again_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    first = run(["import", "--db", str(db), str(NORMAL_LOG)], tmp_path)
    assert first.stderr.decode() == (
        "auditsql: imported 17 records, 5 events, 10 rows (audit_events=5, process_events=2, socket_events=3) "
        f"into {db}\n"
    )
    again = run(["import", "--db", str(db), str(NORMAL_LOG)], tmp_path)
    assert again.returncode == 0
    assert again.stderr.decode() == (
        f"auditsql: imported 17 records, 5 events (5 already in the store), 0 rows into {db}\n"
    )
    with Store(str(db), readonly=True) as s:
        assert counts(s) == {"audit_events_data": 5, "process_events": 2, "socket_events": 3}


def test_one_import_of_a_file_twice_stores_it_once(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    p = run(["import", "--db", str(db), str(NORMAL_LOG), str(NORMAL_LOG)], tmp_path)
    assert p.returncode == 0
    # the events are still open when the second copy comes: the assembler takes its records as duplicates
    assert p.stderr.decode() == (
        "auditsql: imported 34 records, 5 events, 10 rows (audit_events=5, process_events=2, socket_events=3) "
        f"into {db}\n"
    )


def test_an_overlapping_log_adds_only_its_new_events(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    lines = NORMAL_LOG.read_bytes().splitlines(keepends=True)
    head = tmp_path / "head.log"
    head.write_bytes(b"".join(lines[:12]))  # the first three events, whole
    assert run(["import", "--db", str(db), str(head)], tmp_path).returncode == 0
    p = run(["import", "--db", str(db), str(NORMAL_LOG)], tmp_path)
    assert p.stderr.decode() == (
        "auditsql: imported 17 records, 5 events (3 already in the store), 4 rows (audit_events=2, "
        f"socket_events=2) into {db}\n"
    )

"""The central store of ``auditsql collect`` is the agents' compact layout (docs/store.md) plus ``host``:
``audit_events`` keeps each event's records once, as the agent's zstd blob byte for byte (base64 on the wire),
in ``audit_events_data`` behind the ``audit_events`` view; ``raw``, ``summary`` and ``sections`` are derived on
read, never stored. ``host`` is kept as ``host_id``, an id of ``hosts``, in every table (``NAME_data`` behind
the view ``NAME``), and its ``(host, time)`` indexes are on ``(host_id, time)``. No NATS server: the agent's
messages are encoded by the NATS output and handed to the collector's writer, the path a fetched batch takes."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from auditsql._core import Pipeline, Settings
from auditsql.fleet.collector import PAGE_SIZE, CollectError, Collector
from auditsql.fleet.connect import NatsOptions
from auditsql.outputs import nats as nats_output
from auditsql.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, Store
from auditsql.tables.central import central_tables
from tests import storedb
from tests.agent.test_schedule import exec_lines
from tests.store.test_compact import LOG, OLD_LAYOUT

HOST = "web1.example.com"
EVENTS_DATA = [
    "type", "types", "record_count", "node", "syscall", "success", "pid", "auid", "key", "closed_by", "blob",
    "time", "uptime", "eid",
]  # fmt: skip


def agent_rows() -> tuple[list[str], list[tuple[str, tuple]]]:
    """Three exec events: their log lines, and the rows the agent's pipeline maps them to."""
    lines = [ln for i in range(3) for ln in exec_lines(100 + i, 1000 + i, ["/bin/echo", f"event-{i}"])]
    p = Pipeline(Settings(resolve_ids=False, events_json=False))
    rows = [*p.feed_lines(("\n".join(lines) + "\n").encode()).rows, *p.finish().rows]
    return lines, rows


def agent_store_and_messages(
    tmp_path: Path, rows: list[tuple[str, tuple]]
) -> tuple[Path, list[tuple[str, str, bytes]]]:
    """``rows`` in an agent's store (``tmp_path/agent.db``), and the NATS messages (subject, id, payload) its
    output publishes for them."""
    agent = Store(str(tmp_path / "agent.db"))
    agent.create_schema()
    agent.insert(rows)
    agent.flush()
    agent.close()
    out = nats_output.NatsOutput(NatsOptions(spool_dir=str(tmp_path / "spool")), HOST)
    return tmp_path / "agent.db", out._encode([(nats_output._EVENT, rows, time.time(), None)])


def test_the_central_store_keeps_the_agents_compact_blobs(tmp_path: Path) -> None:
    lines, rows = agent_rows()
    _db, msgs = agent_store_and_messages(tmp_path, rows)
    assert [subject for subject, _id, _payload in msgs] == [
        "auditsql.web1_example_com.audit_events",
        "auditsql.web1_example_com.process_events",
    ]
    wire = nats_output.loads(msgs[0][2])
    assert wire["columns"] == EVENTS_DATA
    assert [sorted(r[EVENTS_DATA.index("blob")]) for r in wire["rows"]] == [["b64"]] * 3

    central = tmp_path / "central.db"
    col = Collector(NatsOptions(), str(central))
    col.open_store()
    assert col.write([(seq, payload) for seq, (_s, _i, payload) in enumerate(msgs, 1)]) == 2
    col.close()

    a, c = storedb.connect(tmp_path / "agent.db"), storedb.connect(central)
    try:
        # the layout: the agent's storage columns with host_id first; no raw/summary/sections stored; a view on
        # top with the agent's columns and host first
        assert [r[1] for r in a.execute("PRAGMA table_info(audit_events_data)")] == EVENTS_DATA
        assert [r[1] for r in c.execute("PRAGMA table_info(audit_events_data)")] == ["host_id", *EVENTS_DATA]
        assert [r[1] for r in c.execute("PRAGMA table_info(audit_events)")] == [
            "host",
            *(r[1] for r in a.execute("PRAGMA table_info(audit_events)")),
        ]
        assert c.execute("SELECT * FROM hosts").fetchall() == [(1, HOST)]
        assert c.execute(
            "SELECT type FROM sqlite_master WHERE name IN ('audit_events', 'audit_events_data') ORDER BY name"
        ).fetchall() == [("view",), ("table",)]
        assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert c.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        # each event once, the agent's blob byte for byte, with the dictionary it names
        agent_blobs = a.execute("SELECT eid, blob FROM audit_events_data ORDER BY rowid").fetchall()
        assert [eid for eid, _ in agent_blobs] == [
            "1700000000.250:100",
            "1700000000.250:101",
            "1700000000.250:102",
        ]
        assert (
            c.execute("SELECT eid, blob FROM audit_events WHERE host = ? ORDER BY eid", (HOST,)).fetchall()
            == agent_blobs
        )
        assert c.execute("SELECT typeof(blob), count(*) FROM audit_events_data GROUP BY 1").fetchall() == [
            ("blob", 3)
        ]
        assert (
            c.execute("SELECT * FROM audit_dictionaries").fetchall()
            == a.execute("SELECT * FROM audit_dictionaries").fetchall()
        )
        # the derived columns: the records as auditd's log has them (EOE included), and the same on the agent
        raw = [r for (r,) in c.execute("SELECT audit_raw(blob) FROM audit_events ORDER BY eid")]
        assert raw == ["".join(ln + "\n" for ln in lines[i * 5 : i * 5 + 5]) for i in range(3)]
        derived = "SELECT eid, raw, summary, sections FROM audit_events ORDER BY eid"
        assert c.execute(derived).fetchall() == a.execute(derived).fetchall()
        (one,) = c.execute("SELECT raw FROM audit_events WHERE eid = '1700000000.250:101'").fetchone()
        assert (
            json.loads(one)[1]
            == 'type=EXECVE msg=audit(1700000000.250:101): argc=2 a0="/bin/echo" a1="event-1"'
        )
        assert c.execute("SELECT host, count(*) FROM process_events GROUP BY host").fetchall() == [(HOST, 3)]
    finally:
        a.close()
        c.close()


def test_every_central_table_is_a_view_with_host_over_host_ids(tmp_path: Path) -> None:
    central = tmp_path / "central.db"
    col = Collector(NatsOptions(), str(central))
    col.open_store()
    col.close()
    logical = {t.name: t for t in central_tables()}
    c = storedb.connect(central)
    try:
        assert c.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
        for name, t in logical.items():
            # queries see the columns they saw (host first); the rows keep host_id in NAME_data
            assert [r[1] for r in c.execute(f"PRAGMA table_info({name})")] == list(t.column_names), name
            stored = [r[1] for r in c.execute(f"PRAGMA table_info({name}_data)")]
            assert stored == ["host_id", *t.stored_names[1:]], name
            assert c.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone() == ("view",)
            # a host and a time range: the (host_id, time) index, the name looked up once in hosts
            if "time" in t.column_names:
                plan = c.execute(
                    f"EXPLAIN QUERY PLAN SELECT * FROM {name} WHERE host = 'web1' AND time > 1700000000"
                ).fetchall()
                assert [r[3] for r in plan] == [
                    "SEARCH hosts USING COVERING INDEX sqlite_autoindex_hosts_1 (host=?)",
                    f"SEARCH {name}_data USING INDEX {name}_host_time (host_id=? AND time>?)",
                ], name
        # events per host over a time range: the same index, no table read
        plan = c.execute(
            "EXPLAIN QUERY PLAN SELECT host, count(*) FROM process_events WHERE time > 5 GROUP BY host"
        ).fetchall()
        assert [r[3] for r in plan] == [
            "SCAN hosts USING COVERING INDEX sqlite_autoindex_hosts_1",
            "SEARCH process_events_data USING COVERING INDEX process_events_host_time (host_id=? AND time>?)",
        ]
    finally:
        c.close()


def test_host_ids_are_given_once_and_forgotten_with_a_batch_that_failed(tmp_path: Path) -> None:
    _lines, rows = agent_rows()
    _db, msgs = agent_store_and_messages(tmp_path, rows)
    other = [
        (s, i, p.replace(HOST.encode(), b"db2.example.com").replace(b"web1_example_com", b"db2_example_com"))
        for s, i, p in msgs
    ]
    central = tmp_path / "central.db"
    col = Collector(NatsOptions(), str(central))
    col.open_store()
    good = col._sql["process_events"]
    col._sql["process_events"] = good.replace("process_events_data", "no_such_table")
    with pytest.raises(CollectError, match="cannot write 6 rows to .*no such table: no_such_table"):
        col.write([(1, msgs[0][2]), (2, msgs[1][2])])
    assert col.hosts is not None and col.hosts.ids == {}
    assert col.store is not None and col.store.conn.execute("SELECT * FROM hosts").fetchall() == []
    col._sql["process_events"] = good
    assert col.write([(seq, p) for seq, (_s, _i, p) in enumerate([*other, *msgs], 1)]) == 4
    col.close()
    col = Collector(NatsOptions(), str(central))
    col.open_store()  # the ids are read back from the store
    assert col.hosts is not None and col.hosts.ids == {"db2.example.com": 1, HOST: 2}
    assert col.hosts.id("new.example.com") == 3
    col.close()
    c = storedb.connect(central)
    try:
        assert c.execute("SELECT * FROM hosts").fetchall() == [(1, "db2.example.com"), (2, HOST)]
        assert c.execute(
            "SELECT host, count(*) FROM audit_events GROUP BY host ORDER BY host"
        ).fetchall() == [
            ("db2.example.com", 3),
            (HOST, 3),
        ]
        assert c.execute(
            "SELECT host_id, count(*) FROM process_events_data GROUP BY host_id ORDER BY host_id"
        ).fetchall() == [(1, 3), (2, 3)]
    finally:
        c.close()


def test_a_central_store_before_compact_events_keeps_its_hosts(tmp_path: Path) -> None:
    """Layout 1 (``audit_events`` a table with ``host`` and the JSON columns): compacted, then host ids."""
    db = tmp_path / "central.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        OLD_LAYOUT.replace("CREATE TABLE audit_events (", "CREATE TABLE audit_events (host TEXT, ")
    )
    raw = [r for r in LOG.read_text().splitlines() if r.strip()]
    for host in ("a.example.com", "b.example.com"):
        conn.execute(
            "INSERT INTO audit_events VALUES (?, 'SYSCALL', 'SYSCALL', 7, 'work', 'execve', 1, 10884, 1000, NULL, "
            "'eoe', '{}', '{}', ?, 1615114232, NULL, 'work:1615114232.375:15558')",
            (host, json.dumps(raw)),
        )
    conn.commit()
    conn.close()
    os.chmod(db, 0o600)
    col = Collector(NatsOptions(), str(db))
    col.open_store()
    col.close()
    c = storedb.connect(db)
    try:
        got = c.execute("SELECT host, eid, raw FROM audit_events ORDER BY host").fetchall()
        assert [(h, e, json.loads(r)) for h, e, r in got] == [
            ("a.example.com", "work:1615114232.375:15558", raw),
            ("b.example.com", "work:1615114232.375:15558", raw),
        ]
        assert c.execute("SELECT * FROM hosts").fetchall() == [(1, "a.example.com"), (2, "b.example.com")]
        assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        c.close()

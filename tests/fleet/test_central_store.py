"""The central store of ``auditsql collect`` is the agents' compact layout (docs/store.md) plus ``host``:
``audit_events`` keeps each event's records once, as the agent's zstd blob byte for byte (base64 on the wire),
in ``audit_events_data`` behind the ``audit_events`` view; ``raw``, ``summary`` and ``sections`` are derived on
read, never stored. ``host`` is kept as ``host_id``, an id of ``hosts``, in every table (``NAME_data`` behind
the view ``NAME``), and its ``(host, time)`` indexes are on ``(host_id, time)``. No NATS server: the agent's
messages are encoded by the NATS output and handed to the collector's writer, the path a fetched batch takes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from auditsql._core import Pipeline, Settings
from auditsql.fleet.collector import Collector
from auditsql.fleet.connect import NatsOptions
from auditsql.outputs import nats as nats_output
from auditsql.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, Store
from tests import storedb
from tests.agent.test_schedule import exec_lines

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

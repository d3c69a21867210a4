"""The PostgreSQL store's pure parts, without a server: the type map, day partitions, retention specs, URLs."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditsql.cli_collect import parse_retention
from auditsql.fleet.collector import central_tables
from auditsql.store.pg.connect import is_url, redact
from auditsql.store.pg.partitions import AHEAD_DAYS, DAY, FIRST_DAY, Partitions, partition_name
from auditsql.store.pg.schema import PG_TYPES, pg_tables
from auditsql.tables.registry import _SQLITE_TYPES
from tests.fleet.test_fleet_e2e import AUDITSQL

NOW = 1_796_600_000.0  # 2026-12-06


def test_every_registry_type_has_a_postgresql_type() -> None:
    assert set(PG_TYPES) == set(_SQLITE_TYPES)
    for t in pg_tables(central_tables()):
        assert t.names[0] == "host"
        assert t.partition is not None and t.partition in t.names
        assert ("host", "time") in t.indexes or t.name == "query_results"


@given(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True)))
def test_a_row_gets_the_day_partition_that_holds_it_or_default(v: object) -> None:
    (t,) = [t for t in pg_tables(central_tables()) if t.name == "process_events"]
    r = tuple(v if c == "time" else None for c in t.names)
    days = Partitions().days(t, [r], NOW)
    if days:
        (d,) = days
        assert isinstance(v, int | float)
        assert d * DAY <= v < (d + 1) * DAY
        assert FIRST_DAY <= d <= NOW // DAY + AHEAD_DAYS
    else:  # DEFAULT: NULL, NaN, infinite, before 2000 or too far ahead
        assert (
            v is None
            or v != v
            or not isinstance(v, int | float)
            or abs(v) == float("inf")
            or v < FIRST_DAY * DAY
            or v >= (NOW // DAY + AHEAD_DAYS + 1) * DAY
        )


def test_partition_names_are_utc_days() -> None:
    assert partition_name("process_events", FIRST_DAY) == "process_events_p20000101"
    assert partition_name("audit_events_data", 1_700_000_000 // DAY) == "audit_events_data_p20231114"


def test_retention_specs() -> None:
    names = [t.name for t in central_tables()]
    assert parse_retention(()) == {}
    assert parse_retention(("audit_events=7",)) == {"audit_events": 7}
    assert parse_retention(("30", "audit_events=7")) == {n: 7 if n == "audit_events" else 30 for n in names}
    for bad in ("0", "x", "audit_events=", "=3", "nope=3", "-1"):
        with pytest.raises(ValueError):
            parse_retention((bad,))


def test_urls() -> None:
    assert is_url("postgresql://db/x") and is_url("postgres://db/x") and not is_url("/var/lib/central.db")
    assert (
        redact("postgresql://u:secret@db:5432/x?sslmode=require")
        == "postgresql://u:***@db:5432/x?sslmode=require"
    )
    assert redact("postgresql://u@db/x") == "postgresql://u@db/x"


def test_db_and_store_together_is_one_line_exit_2(tmp_path: object) -> None:
    res = subprocess.run(
        [AUDITSQL, "collect", "--db", "/tmp/c.db", "--store", "postgresql://u@127.0.0.1:1/x"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.decode().splitlines() == [
        "auditsql: --db (a SQLite file) and --store (PostgreSQL) name two central stores: pass one of them"
    ]


def test_a_server_lost_while_starting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL stopped between the connection and the schema check (seen in the 30 s outage test under load)
    import psycopg

    from auditsql.fleet import pg_sink
    from auditsql.store.pg.connect import PgError

    class Conn:
        closed = False

        def close(self) -> None:
            self.closed = True

    def lost(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly\nmore"
        )

    monkeypatch.setattr(pg_sink, "connect", lambda url, application: Conn())
    monkeypatch.setattr(pg_sink, "open_schema", lost)
    sink = pg_sink.PgSink("postgresql://u:secret@127.0.0.1:1/db", central_tables())
    with pytest.raises(PgError) as info:
        sink.open()
    assert str(info.value) == (
        "PostgreSQL postgresql://u:***@127.0.0.1:1/db: lost the connection while starting: consuming input failed: "
        "server closed the connection unexpectedly"
    )
    assert info.value.code == 2

"""Stub tables for the store tests: the store must not depend on which tables the registry declares."""

from __future__ import annotations

import pytest

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table

EVENTS = Table(
    name="t_events",
    description="test events",
    columns=(
        Column("pid", "BIGINT", "pid", index=True),
        Column("path", "TEXT", "path", index=True),
        Column("score", "DOUBLE", "a real"),
        *COMMON_EVENT_COLUMNS,
    ),
)
OTHER = Table(
    name="t_other",
    description="second event table",
    columns=(Column("n", "INTEGER", "n"), Column("time", "BIGINT", "time", index=True)),
)
COUNTERS = Table(
    name="t_counters", description="no time column", columns=(Column("n", "INTEGER", "n"),), kind="internal"
)
LIVE = Table(
    name="t_live",
    description="a live table",
    columns=(Column("k", "TEXT", "key"), Column("v", "BIGINT", "value"), Column("time", "BIGINT", "t")),
    kind="live",
)
TABLES = (EVENTS, OTHER, COUNTERS, LIVE)


@pytest.fixture
def tables() -> tuple[Table, ...]:
    return TABLES

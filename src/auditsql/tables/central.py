"""The central store's tables (``auditsql collect``): the registry's event and internal tables with ``host``
first, and ``query_results``. Declared here, in the tables stage, so that both the collector (fleet) and the
query side of a central store (SQLite or PostgreSQL) read them from one place.
"""

from __future__ import annotations

from dataclasses import replace

from auditsql.tables.registry import Column, Table

__all__ = ["HOST_COLUMN", "RESULTS_TABLE", "central_tables"]

HOST_COLUMN = Column("host", "TEXT", "The agent that recorded the row (`[output.nats] host`)", extension=True)
RESULTS_TABLE = Table(
    "query_results",
    "Scheduled query results of every agent, one row per osquery-format result line (central store only).",
    (
        HOST_COLUMN,
        Column("name", "TEXT", "The scheduled query's name"),
        Column("action", "TEXT", "`added` or `snapshot`"),
        Column("unix_time", "BIGINT", "`unixTime` of the line", index=True),
        Column("counter", "BIGINT", "`counter` of the line"),
        Column("line", "TEXT", "The line as the agent's results log writes it (JSON)"),
    ),
    kind="internal",
)


def central_tables() -> list[Table]:
    """The registry's event and internal tables with ``host`` first, and ``query_results``."""
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    out = []
    for t in REGISTRY.values():
        if t.kind == "live":
            continue
        extra = (("host", "time"),) if "time" in t.column_names else (("host",),)
        out.append(replace(t, columns=(HOST_COLUMN, *t.columns), indexes=(*t.indexes, *extra)))
    out.append(RESULTS_TABLE)
    return out

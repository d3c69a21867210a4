"""The central store's tables (``auditsql collect``): the registry's event and internal tables with ``host``
first, and ``query_results``. Declared here, in the tables stage, so that both the collector (fleet) and the
query side of a central store (SQLite or PostgreSQL) read them from one place.

In the SQLite central store ``host`` is kept as ``host_id``, an id of the table ``hosts`` (each agent's name
once), in ``NAME_data`` behind the view ``NAME`` that joins the name back (``central_tables(host_ids=True)``):
queries see ``host`` as before, and the rows and their ``(host, time)`` indexes cost a byte or two for it
instead of the name. PostgreSQL keeps ``host`` as text (its schema is :mod:`auditsql.store.pg.schema`'s).
"""

from __future__ import annotations

from dataclasses import replace

from auditsql.tables.registry import Column, Table

__all__ = ["HOSTS_TABLE", "HOST_COLUMN", "RESULTS_TABLE", "central_tables"]

#: the SQLite central store's table of host names (``host_id INTEGER PRIMARY KEY, host TEXT UNIQUE``)
HOSTS_TABLE = "hosts"
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


def central_tables(host_ids: bool = False) -> list[Table]:
    """The registry's event and internal tables with ``host`` first, and ``query_results``; with ``host_ids``
    (the SQLite central store) ``host`` is kept as an id of :data:`HOSTS_TABLE`."""
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    host = replace(HOST_COLUMN, lookup=HOSTS_TABLE) if host_ids else HOST_COLUMN
    out = []
    for t in REGISTRY.values():
        if t.kind == "live":
            continue
        extra = (("host", "time"),) if "time" in t.column_names else (("host",),)
        out.append(replace(t, columns=(host, *t.columns), indexes=(*t.indexes, *extra)))
    out.append(replace(RESULTS_TABLE, columns=(host, *RESULTS_TABLE.columns[1:])))
    return out

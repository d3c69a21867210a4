"""SQL tables: declarations (see :mod:`auditsql.tables.registry`), the live tables, ``audit_loss`` rows.

Importing this package declares every table in ``REGISTRY``. The mapping from events to rows is the native
core's (``auditsql._core.Pipeline``, crates/core/src/rows/); the columns it fills are checked against these
declarations (``auditsql._core.table_columns()``, tests/tables/test_doc.py). The store and the agent use:

* :func:`event_tables`, :func:`live_tables` — the tables by kind;
* :func:`live_rows` — the current rows of a live table, read from the kernel or the host's files;
* :func:`loss_rows` — ``audit_loss`` rows from ``auditsql.kernel.loss`` loss records.

The fleet's central store (``auditsql collect``: SQLite or PostgreSQL) has the same tables with ``host`` first,
plus ``query_results``: :func:`auditsql.tables.central.central_tables`.
"""

from __future__ import annotations

from auditsql.tables import audit, file, host, mac, process, proctree, seccomp, socket, user
from auditsql.tables.audit import LiveTableError, loss_row, rules_rows, status_rows
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, REGISTRY, Column, Table, get, register

__all__ = [
    "REGISTRY",
    "Column",
    "Table",
    "COMMON_EVENT_COLUMNS",
    "LiveTableError",
    "get",
    "register",
    "event_tables",
    "live_tables",
    "live_rows",
    "loss_rows",
]


def event_tables() -> list[Table]:
    """Tables filled from events (kind ``events``) and counters (kind ``internal``), in declaration order."""
    return [t for t in REGISTRY.values() if t.kind in ("events", "internal")]


def live_tables() -> list[Table]:
    """Tables read from the kernel or the host when queried (kind ``live``)."""
    return [t for t in REGISTRY.values() if t.kind == "live"]


def live_rows(name: str) -> list[tuple]:
    """The current rows of the live table ``name``: ``audit_status``, ``audit_rules`` read from the kernel,
    ``system_info``, ``os_version`` from the host's files. Raises :class:`LiveTableError` (one line: cause and
    fix) when the kernel cannot be asked."""
    if name == "system_info":
        return host.system_info_rows()
    if name == "os_version":
        return host.os_version_rows()
    if name == "audit_status":
        return status_rows()
    if name == "audit_rules":
        return rules_rows()
    raise KeyError(f"{name} is not a live table")


def loss_rows(records: list[dict]) -> list[tuple]:
    """``audit_loss`` rows for loss records ``{"time", "cause", "count", "detail"}``
    (``auditsql.kernel.loss.LossAccount.drain``)."""
    return [loss_row(r) for r in records]


# keep the family modules referenced (their import declares the tables)
_MODULES = (audit, file, host, mac, process, proctree, seccomp, socket, user)
# the registry in reading order (osquery's tables first, then auditsql's own): `.tables`, docs/tables.md
_ORDER = (
    "process_events",
    "socket_events",
    "process_file_events",
    "process_tree",
    "user_events",
    "selinux_events",
    "apparmor_events",
    "seccomp_events",
    "system_info",
    "os_version",
    "audit_events",
    "audit_loss",
    "audit_status",
    "audit_rules",
)
_declared = dict(REGISTRY)
REGISTRY.clear()
REGISTRY.update({n: _declared[n] for n in _ORDER if n in _declared})
REGISTRY.update({n: t for n, t in _declared.items() if n not in REGISTRY})
del _declared

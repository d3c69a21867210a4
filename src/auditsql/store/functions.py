"""The store's SQL functions: what the native core derives from an event's compressed records.

``audit_events`` keeps each event's records once, compressed (``blob``: zstd with a dictionary trained on
audit records, versioned; docs/store.md). Its old columns ``summary``, ``sections`` and ``raw`` are computed on
read by these functions, which every connection auditsql opens on a store registers (:func:`install`): the
store itself, ``query``, ``shell``, scheduled queries, the fleet responder and the collector.

Each function is listed in :data:`FUNCTIONS` (``docs/tables.md`` is generated from it).

A blob that cannot be read stops nothing: the JSON functions return ``{"error": "..."}`` for that event and
the others NULL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditsql._core import StoreFunctions


__all__ = ["NAMES", "DICTIONARY_TABLE", "install", "store_dictionaries"]

#: the table of a store that keeps the dictionaries its blobs were compressed with
DICTIONARY_TABLE = "audit_dictionaries"
#: the functions :func:`install` registers: (call, what it gives); docs/tables.md lists them from here
FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("audit_raw(blob)", "the event's records as auditd's log has them, one per line (TEXT; a byte that is not UTF-8 "
     "as `\\xNN`)"),
    ("audit_raw_bytes(blob)", "the same, byte for byte (BLOB): every record's exact text"),
    ("audit_raw_json(blob)", "JSON array of the record texts (the `raw` column)"),
    ("audit_json(blob)", "the event JSON, as `auditsql read --no-resolve-ids` writes it (docs/event-json.md)"),
    ("audit_summary(blob)", "the event's `summary` object (the `summary` column)"),
    ("audit_sections(blob)", "the event's typed record sections (the `sections` column)"),
    ("audit_field(blob, type, field)", "the typed value of `field` in the first record of `type`, e.g. "
     "`audit_field(blob, 'EXECVE', 'a1')`"),
)  # fmt: skip
#: their names
NAMES = tuple(call.split("(", 1)[0] for call, _ in FUNCTIONS)


def store_dictionaries(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
    """The dictionaries a store keeps (none in a store without the table)."""
    try:
        return [(int(v), bytes(d)) for v, d in conn.execute(f"SELECT version, dict FROM {DICTIONARY_TABLE}")]
    except sqlite3.DatabaseError:
        return []


def install(
    conn: sqlite3.Connection, dictionaries: Iterable[tuple[int, bytes]] | None = None
) -> StoreFunctions:
    """Register the functions on ``conn``, knowing the program's dictionaries and ``dictionaries`` (default:
    the ones the store on ``conn`` keeps)."""
    from auditsql._core import StoreFunctions  # here: the doc generator reads FUNCTIONS without the extension

    fns = StoreFunctions(list(store_dictionaries(conn) if dictionaries is None else dictionaries))

    def raw(blob: bytes | None) -> str | None:
        data = fns.audit_raw_bytes(blob)
        return None if data is None else data.decode("utf-8", "backslashreplace")

    det = {"deterministic": True}
    conn.create_function("audit_raw", 1, raw, **det)
    conn.create_function("audit_raw_bytes", 1, fns.audit_raw_bytes, **det)
    conn.create_function("audit_raw_json", 1, fns.audit_raw_json, **det)
    conn.create_function("audit_json", 1, fns.audit_json, **det)
    conn.create_function("audit_summary", 1, fns.audit_summary, **det)
    conn.create_function("audit_sections", 1, fns.audit_sections, **det)
    conn.create_function("audit_field", 3, fns.audit_field, **det)
    return fns

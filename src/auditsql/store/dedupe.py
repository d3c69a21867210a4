"""Each event stored once: an event the store already holds is left out of an insert, with its rows.

An event's identity is its ``eid`` (``SEC.MSEC:SERIAL``, prefixed with ``node:`` when the records carried a
``node=`` name) and its ``node``; it is the same event when its records are the same too (compared as
compressed blobs, and when those differ - another ``closed_by``, an older dictionary - as the records'
exact bytes). A record that arrived after its event was closed makes a second event with the same ``eid``
and other records: that one is stored.

The pipeline hands each event's rows together, its ``audit_events`` row first (``Batch.rows``), so the rows
that follow a left-out event and carry its ``eid`` are left out with it. Tables whose rows are upserts on a
key of their own (``process_tree``) are idempotent already and pass through, as do rows of no event
(``audit_loss``).

Cost: per insert call, the stored events' time span (two probes of ``audit_events_time``), then one indexed
lookup (``audit_events_eid``) of the ``eid`` values whose time falls within it; events newer than every stored
one (an import's, a live run's, but for the last second's) cost nothing more. The stored blobs are read only
for the events found, and the rows are walked only when an event is found. ``auditsql import`` of the same file twice stores nothing the second time; ``auditsql run`` after a
restart does not store twice what a replay hands it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditsql.tables.registry import Table

__all__ = ["EVENTS_TABLE", "EventDedupe"]

#: the table whose rows name the events (one row per event, the event's first row)
EVENTS_TABLE = "audit_events"
#: eid values looked up per statement (SQLite before 3.32 allows 999 host parameters)
_LOOKUP_CHUNK = 500

#: a stored or buffered event under one eid: (node, blob)
Seen = tuple[object, object]


class EventDedupe:
    """Leaves out of a batch of ``(table, row)`` pairs the events already stored or already buffered.

    ``raw_bytes(blob)`` gives an event's records (the store's ``audit_raw_bytes``). Use :meth:`for_tables`;
    call :meth:`filter` on every insert and :meth:`forget` when the buffer is committed or dropped.
    """

    def __init__(self, events: Table, eid_positions: dict[str, int], raw_bytes: Callable[[bytes], object]):
        names = events.stored_names
        self.events = events
        self._eid, self._node, self._blob = names.index("eid"), names.index("node"), names.index("blob")
        self._time = names.index("time") if "time" in names else None
        self._eid_pos = eid_positions
        self._raw_bytes = raw_bytes
        store = events.storage
        self._lookup = f"SELECT eid, node, blob FROM {store} WHERE eid IN ({{marks}})"
        self._span = f"SELECT (SELECT min(time) FROM {store}), (SELECT max(time) FROM {store})"
        #: the eids of the insert buffer's events (not yet committed: the store cannot tell of them)
        self._buffered: set[str] = set()
        #: events left out since the store was opened (the store or the buffer held them), and their rows
        self.events_present = 0
        self.rows_present = 0

    @classmethod
    def for_tables(
        cls, tables: Mapping[str, Table], raw_bytes: Callable[[bytes], object]
    ) -> EventDedupe | None:
        """The dedupe for a store of ``tables``; None without an events table of eid, node and blob."""
        events = tables.get(EVENTS_TABLE)
        if events is None or not {"eid", "node", "blob"} <= set(events.stored_names):
            return None
        positions = {
            name: t.stored_names.index("eid")
            for name, t in tables.items()
            if name != EVENTS_TABLE and t.kind == "events" and "eid" in t.stored_names and not _upsert(t)
        }
        return cls(events, positions, raw_bytes)

    def filter(
        self, conn: sqlite3.Connection, rows: list[tuple[str, tuple]], buffered: list[tuple]
    ) -> list[tuple[str, tuple]]:
        """``rows`` less the events already stored or in ``buffered`` (the buffer's events rows), and their
        rows. The same list when none is (the common case: a set operation and at most two index probes)."""
        events, e = self.events.name, self._eid
        mine = [row for name, row in rows if name == events and row[e] is not None]
        if not mine:
            return rows
        eids = {row[e] for row in mine}
        again = eids & self._buffered
        self._buffered |= eids
        stored = self._stored(conn, mine)
        if not stored and not again and len(eids) == len(mine):
            return rows
        for row in buffered:
            if row[e] in again:
                stored.setdefault(row[e], []).append((row[self._node], row[self._blob]))
        return self._walk(rows, stored)

    def spec(self) -> dict[str, object]:
        """Where the identity sits, for the native writer's own dedupe (``auditsql._core.StoreWriter``)."""
        return {
            "table": self.events.name,
            "storage": self.events.storage,
            "eid": self._eid,
            "node": self._node,
            "blob": self._blob,
            "time": self._time,
            "eid_of": dict(self._eid_pos),
        }

    def forget(self) -> None:
        """The buffer was committed (the store knows its events now) or dropped."""
        self._buffered.clear()

    def _walk(self, rows: list[tuple[str, tuple]], known: dict[str, list[Seen]]) -> list[tuple[str, tuple]]:
        """``rows`` less the events of ``known`` (and the events repeated within ``rows``) and their rows."""
        events, e = self.events.name, self._eid
        out: list[tuple[str, tuple]] = []
        skip = None
        for name, row in rows:
            if name == events:
                skip = row[e] if self._seen(known, row) else None
                if skip is not None:
                    self.events_present += 1
                    continue
            elif skip is not None and name in self._eid_pos and row[self._eid_pos[name]] == skip:
                self.rows_present += 1
                continue
            out.append((name, row))
        return out

    def _seen(self, known: dict[str, list[Seen]], row: tuple) -> bool:
        """Whether the event of ``row`` is one of ``known``; if not, it is known from now on."""
        eid = row[self._eid]
        if eid is None:
            return False
        node, blob = row[self._node], row[self._blob]
        same = known.setdefault(eid, [])
        if any(node == n and self._same_records(blob, b) for n, b in same):
            return True
        same.append((node, blob))
        return False

    def _same_records(self, blob: object, other: object) -> bool:
        if blob == other:
            return True
        if not isinstance(blob, bytes) or not isinstance(other, bytes):
            return False
        mine = self._raw_bytes(blob)
        return mine is not None and mine == self._raw_bytes(other)

    def _stored(self, conn: sqlite3.Connection, rows: list[tuple]) -> dict[str, list[Seen]]:
        """The stored events under the eids of ``rows``: {eid: [(node, blob)]}. Only the eids of events within
        the stored events' time span are looked up (an import or a live run adds events newer than the
        store's: the last second's alone are probed)."""
        lo, hi = conn.execute(self._span).fetchone()
        if lo is None:
            return {}
        t, e = self._time, self._eid
        wanted = list({row[e] for row in rows if t is None or row[t] is None or lo <= row[t] <= hi})
        found: dict[str, list[Seen]] = {}
        for i in range(0, len(wanted), _LOOKUP_CHUNK):
            part = wanted[i : i + _LOOKUP_CHUNK]
            sql = self._lookup.format(marks=", ".join(["?"] * len(part)))
            for eid, node, blob in conn.execute(sql, part):
                found.setdefault(eid, []).append((node, blob))
        return found


def _upsert(table: Table) -> bool:
    """Whether the table's rows replace a row of the same key (``INSERT OR REPLACE``): idempotent already."""
    return table.insert_sql().startswith("INSERT OR ")

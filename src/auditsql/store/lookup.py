"""The ids of a lookup table's values, for writers of rows that keep a value as its id (the central store's
``host`` as ``host_id`` in ``hosts``: :attr:`auditsql.tables.registry.Column.lookup`).

One writer per store (the collector): an id is given from memory, the next after the largest known, and its
row of the lookup table is written in the same transaction as the rows that use it (:meth:`LookupIds.write`).
:meth:`LookupIds.committed` keeps the new ids; :meth:`LookupIds.rolled_back` forgets them, so an id never
outlives a transaction that did not commit.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditsql.tables.registry import Column

__all__ = ["LookupIds"]


class LookupIds:
    """Value → id of the lookup table of ``column`` (a :class:`Column` with ``lookup``), cached."""

    def __init__(self, conn: sqlite3.Connection, column: Column) -> None:
        assert column.lookup is not None
        self.column = column
        key, value = column.stored_name, column.name
        self._insert = f"INSERT INTO {column.lookup} ({key}, {value}) VALUES (?, ?)"
        self.ids: dict[object, int] = {
            v: int(i) for i, v in conn.execute(f"SELECT {key}, {value} FROM {column.lookup}")
        }
        self._next = max(self.ids.values(), default=0) + 1
        #: ids given since the last commit: (value, id), not yet in the lookup table
        self._new: list[tuple[object, int]] = []

    def id(self, value: object) -> int:
        """The id of ``value``; a new one (written by :meth:`write`) for a value not seen before."""
        got = self.ids.get(value)
        if got is None:
            got = self.ids[value] = self._next
            self._next += 1
            self._new.append((value, got))
        return got

    def write(self, conn: sqlite3.Connection) -> None:
        """Write the new ids' rows (inside the transaction of the rows that use them)."""
        if self._new:
            conn.executemany(self._insert, [(i, v) for v, i in self._new])

    def committed(self) -> None:
        """The transaction committed: the new ids are the lookup table's."""
        self._new.clear()

    def rolled_back(self) -> None:
        """The transaction was rolled back: forget the ids it gave."""
        for v, _i in self._new:
            del self.ids[v]
        self._next -= len(self._new)
        self._new.clear()

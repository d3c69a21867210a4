"""What the scheduler keeps of each scheduled query across restarts, in the store: osquery's ``kQueries`` domain.

osquery keeps, per query name, in its database (``osquery/core/query.cpp``): the query's SQL (``query.NAME``),
the ``epoch`` of its last results (``NAMEepoch``), its ``counter`` (``NAMEcounter``) and its previous result set
(``NAME``); its events optimization keeps how far an event query has read. auditsql keeps the same in one row
per query name of ``audit_schedule``, in the store file (layout 3, :data:`auditsql.store.sqlite.SCHEMA_VERSION`):

``query``    the SQL the row was made for (a query whose SQL changed starts afresh);
``epoch``    the results log's ``epoch`` the row was made with (another epoch: the results start afresh);
``counter``  the last ``counter`` written (NULL: none yet);
``results``  a differential query's previous result set, a JSON array of rows, each an array of
             ``[column, value]`` pairs (NULL: an event query, or none yet);
``marks``    a JSON object: the largest rowid of each event table the query has read up to;
``time``     when it was last written (rows of queries gone from the schedule go after a week, as osquery's
             ``Config::purge``).

The row is written after the run's lines are in the results log: a crash between the two logs that run again
after the restart rather than losing it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "PURGE_AGE",
    "SCHEDULE_TABLE",
    "SCHEDULE_TABLE_DDL",
    "SavedQuery",
    "ScheduleState",
    "ScheduleStateError",
]

#: the table of the scheduler's state (one row per scheduled query name)
SCHEDULE_TABLE = "audit_schedule"
SCHEDULE_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEDULE_TABLE} (name TEXT NOT NULL, query TEXT NOT NULL, "
    "epoch INTEGER NOT NULL, counter INTEGER, results TEXT, marks TEXT NOT NULL, time REAL NOT NULL)"
)
#: seconds after which the state of a query no longer scheduled is deleted (osquery's Config::purge: a week)
PURGE_AGE = 7 * 24 * 3600

#: one row of a result set: its (column, value) pairs in column order
Row = tuple[tuple[str, str], ...]


class ScheduleStateError(Exception):
    """The state cannot be read or written; ``str()`` is one line."""


@dataclass
class SavedQuery:
    """The state of one scheduled query, as kept between runs."""

    query: str
    epoch: int
    counter: int | None = None
    #: a differential query's previous result set (None: not kept)
    results: list[Row] | None = None
    marks: dict[str, int] = field(default_factory=dict)
    time: float = 0.0


class ScheduleState:
    """The ``audit_schedule`` rows of the store at ``path``, through a writable connection of its own (the table
    is created by ``Store.create_schema``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.conn: sqlite3.Connection | None = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except sqlite3.Error as exc:
            raise ScheduleStateError(f"cannot open {path} for the schedule's state: {exc}") from None

    def load(self) -> dict[str, SavedQuery]:
        """Every saved query by name (none when the table does not exist)."""
        conn = self._conn()
        try:
            rows = conn.execute(
                f"SELECT name, query, epoch, counter, results, marks, time FROM {SCHEDULE_TABLE}"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise ScheduleStateError(f"cannot read the schedule's state in {self.path}: {exc}") from None
        out = {}
        for name, query, epoch, counter, results, marks, when in rows:
            out[name] = SavedQuery(
                query,
                int(epoch),
                None if counter is None else int(counter),
                None if results is None else [tuple((k, v) for k, v in r) for r in json.loads(results)],
                {str(k): int(v) for k, v in json.loads(marks).items()},
                float(when),
            )
        return out

    def save(self, name: str, saved: SavedQuery, *, results: bool) -> None:
        """Write ``saved`` as the state of ``name``; its result set only when ``results`` (it changed), else the
        one kept stays."""
        conn = self._conn()
        marks = json.dumps(saved.marks, sort_keys=True)
        kept = None if saved.results is None else json.dumps([list(map(list, r)) for r in saved.results])
        # one row per name, written by the scheduler alone (a few rows: no index of its own)
        values = (saved.query, saved.epoch, saved.counter, marks, saved.time)
        try:
            if results:
                n = conn.execute(
                    f"UPDATE {SCHEDULE_TABLE} SET query = ?, epoch = ?, counter = ?, marks = ?, time = ?, "
                    "results = ? WHERE name = ?",
                    (*values, kept, name),
                ).rowcount
            else:
                n = conn.execute(
                    f"UPDATE {SCHEDULE_TABLE} SET query = ?, epoch = ?, counter = ?, marks = ?, time = ? "
                    "WHERE name = ?",
                    (*values, name),
                ).rowcount
            if n == 0:
                conn.execute(
                    f"INSERT INTO {SCHEDULE_TABLE} (query, epoch, counter, marks, time, results, name) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*values, kept, name),
                )
        except sqlite3.Error as exc:
            raise ScheduleStateError(f"cannot write the schedule's state in {self.path}: {exc}") from None

    def purge(self, scheduled: Iterable[str], now: float, age: float = PURGE_AGE) -> list[str]:
        """Delete the state of the queries not in ``scheduled`` last written ``age`` seconds before ``now``;
        returns their names."""
        keep = set(scheduled)
        gone = [n for n, s in self.load().items() if n not in keep and now - s.time >= age]
        if gone:
            try:
                self._conn().executemany(f"DELETE FROM {SCHEDULE_TABLE} WHERE name = ?", [(n,) for n in gone])
            except sqlite3.Error as exc:
                raise ScheduleStateError(f"cannot write the schedule's state in {self.path}: {exc}") from None
        return gone

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise ScheduleStateError(f"the schedule's state in {self.path} is closed")
        return self.conn

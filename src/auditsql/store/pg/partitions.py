"""Day partitions: created on demand for the rows of a batch, dropped whole by retention.

A table partitioned on a time column (:func:`auditsql.store.pg.schema.partition_column`, UNIX seconds) has one
partition per UTC day, ``<table>_pYYYYMMDD`` holding ``[day * 86400, day * 86400 + 86400)``, and a DEFAULT
partition ``<table>_default``. Before a batch is written, :meth:`Partitions.ensure` creates the day
partitions its rows need that are not known yet (through the ``SECURITY DEFINER`` function of the schema, in
its own short transaction, so the batch's transaction never waits on DDL). Only days from
:data:`FIRST_DAY` to :data:`AHEAD_DAYS` after today get a partition: a NULL, negative or far-future time lands
in DEFAULT rather than creating partitions at random.

Retention (:func:`drop_older`) never deletes rows: a day partition all of whose rows are older than the
table's limit is detached and dropped, and one ``audit_loss`` row (cause ``retention``, ``count`` its rows,
``detail`` naming the table and the day) is written in the same transaction. A table whose retention keeps some
rows whatever their age (``process_tree``: processes still running) has those rows moved to the DEFAULT
partition first; the day keeps them there (no day partition is made again for it), and they are not counted.
The DEFAULT partition itself is never dropped.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from auditsql.store.pg.connect import SCHEMA, PgError
from auditsql.store.pg.schema import PARTITION_FUNCTION, q

if TYPE_CHECKING:
    import psycopg

    from auditsql.store.pg.schema import PgTable

__all__ = ["AHEAD_DAYS", "DAY", "FIRST_DAY", "Dropped", "Partitions", "drop_older", "partition_name"]

DAY = 86400
#: the first day that gets a partition (2000-01-01); older times go to DEFAULT
FIRST_DAY = 10957
#: days after today that still get a partition (clock skew); later times go to DEFAULT
AHEAD_DAYS = 2
LOSS_TABLE = "audit_loss"
#: advisory lock key of retention (one collector at a time drops partitions): "audq" and 2
_RETENTION_LOCK = 0x61756471_00000002


def partition_name(storage: str, day: int) -> str:
    return f"{storage}_p{datetime.fromtimestamp(day * DAY, UTC):%Y%m%d}"


class Partitions:
    """The day partitions known to exist, per table; creates the missing ones a batch needs."""

    def __init__(self) -> None:
        self.known: dict[str, set[int]] = {}
        self.created = 0

    def days(self, t: PgTable, rows: Iterable[Sequence[object]], now: float | None = None) -> set[int]:
        """The days the rows fall on that get a partition (see the module docstring)."""
        if t.partition is None:
            return set()
        i = t.names.index(t.partition)
        last = int((time.time() if now is None else now) // DAY) + AHEAD_DAYS
        out = set()
        for r in rows:
            v = r[i]
            if isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and math.isfinite(v):
                d = int(v // DAY)
                if FIRST_DAY <= d <= last:
                    out.add(d)
        return out

    def ensure(self, conn: psycopg.Connection, t: PgTable, days: set[int]) -> None:
        """Create the partitions of ``days`` not known yet (autocommit: a transaction of its own)."""
        known = self.known.setdefault(t.storage, set())
        todo = sorted(days - known)
        if not todo:
            return
        (made,) = conn.execute(f"SELECT {PARTITION_FUNCTION}(%s, %s)", (t.storage, todo)).fetchone()
        self.created += int(made or 0)
        known.update(todo)

    def forget(self) -> None:
        """Forget what is known (after retention dropped some, or a new connection)."""
        self.known.clear()


@dataclass(frozen=True)
class Dropped:
    table: str
    partition: str
    day: str
    rows: int
    kept: int


def _day_partitions(conn: psycopg.Connection, storage: str) -> list[tuple[int, str]]:
    """(day, name) of the table's day partitions, oldest first."""
    pat = re.compile(re.escape(storage) + r"_p(\d{8})$")
    out = []
    for (name,) in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = %s AND p.relname = %s",
        (SCHEMA, storage),
    ):
        m = pat.match(name)
        if m:
            day = int(datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).timestamp()) // DAY
            out.append((day, name))
    return sorted(out)


def drop_older(
    conn: psycopg.Connection,
    tables: Sequence[PgTable],
    limits: dict[str, int],
    host: str,
    now: float | None = None,
    partitions: Partitions | None = None,
    say: Callable[[str], None] | None = None,
) -> list[Dropped]:
    """Drop each day partition of a table in ``limits`` (table name → days) whose rows are all older than that
    many days; one ``audit_loss`` row per partition (``host``: the collector's). Raises :class:`PgError`
    (code 2) when the role may not drop them (retention needs the owner of the tables)."""
    import psycopg

    now = time.time() if now is None else now
    out: list[Dropped] = []
    by_name = {t.name: t for t in tables}
    loss = by_name.get(LOSS_TABLE)
    user = conn.info.user
    for name, days in sorted(limits.items()):
        t = by_name[name]
        if t.partition is None or days <= 0:
            continue
        cutoff = now - days * DAY
        for day, part in _day_partitions(conn, t.storage):
            if (day + 1) * DAY > cutoff:
                break
            if loss is not None and partitions is not None:
                partitions.ensure(conn, loss, partitions.days(loss, [_loss_probe(loss, now)], now))
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RETENTION_LOCK,))
                    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{part}",)).fetchone()
                    if row is None or row[0] is None:
                        continue  # another collector dropped it
                    conn.execute(f"ALTER TABLE {q(t.storage)} DETACH PARTITION {q(part)}")
                    (n,) = conn.execute(f"SELECT count(*) FROM {q(part)}").fetchone()
                    kept = 0
                    if t.retention_keep:
                        cols = ", ".join(map(q, t.names))
                        kept = conn.execute(
                            f"INSERT INTO {q(t.storage)} ({cols}) SELECT {cols} FROM {q(part)} "
                            f"WHERE ({t.retention_keep}) IS NOT TRUE"
                        ).rowcount
                    conn.execute(f"DROP TABLE {q(part)}")
                    date = f"{datetime.fromtimestamp(day * DAY, UTC):%Y-%m-%d}"
                    detail = f"{name}: the day partition {part} ({date}) dropped, older than {days} days"
                    if kept:
                        detail += f"; {kept} rows of running processes kept (moved to {t.storage}_default)"
                    if loss is not None:
                        conn.execute(
                            f"INSERT INTO {q(loss.storage)} (host, time, cause, count, detail) "
                            "VALUES (%s, %s, 'retention', %s, %s)",
                            (host, int(now), int(n) - kept, detail),
                        )
            except psycopg.errors.InsufficientPrivilege as exc:
                raise PgError(
                    f"role {user} may not drop the partitions of {SCHEMA}.{t.storage} for retention ({_first(exc)}):"
                    " run retention with the owner role (docs/fleet.md)"
                ) from None
            out.append(Dropped(name, part, date, int(n) - kept, kept))
            if say is not None:
                say(f"collect: retention: {detail} ({int(n) - kept} rows)")
    if out and partitions is not None:
        partitions.forget()
    return out


def _loss_probe(loss: PgTable, now: float) -> tuple[object, ...]:
    """A row of ``audit_loss`` at ``now`` (its partition is made before the retention rows go in)."""
    return tuple(int(now) if c == loss.partition else None for c in loss.names)


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__

"""``auditsql collect --store postgresql://...``: batches into PostgreSQL, exactly once, with N collectors.

Exactly once
    A fetched batch is written in one transaction that first claims its stream sequences: ``INSERT INTO
    fleet_consumed (stream_id, seq) ... ON CONFLICT DO NOTHING RETURNING seq``. Only the messages whose
    sequence this transaction claimed have their rows written (``COPY``); the others were committed before
    (a redelivery) and are skipped. The batch is acknowledged after the commit. Collectors sharing the durable
    consumer never store a message twice: a message redelivered to a second collector while the first still
    holds it makes the second's claim wait on the first's (the primary key), then find it taken, or take it if
    the first rolled back. A collector killed before the commit leaves nothing (the batch comes again after the
    ack wait); after the commit, the redelivered batch is all claimed already. A commit whose answer was lost
    (the server stopped) is retried the same way.

    Sequences at or below the consumer's acknowledgement floor were acknowledged, so committed, and are never
    delivered again: :meth:`PgSink.prune` raises ``fleet_streams.floor`` to it and deletes those rows (the claim
    reads the floor ``FOR SHARE``, so a late claim below a new floor is refused too).

Errors
    A server that went away, a deadlock or a shutdown raise :class:`StoreUnavailable`: the collector keeps the
    batch unacknowledged, waits and retries (JetStream keeps the messages). Data PostgreSQL refuses (a string
    that is not UTF-8, a NUL) is written again with such strings escaped (``\\udcXX``, ``\\x00``); a message that
    still fails is skipped, counted as undecodable and acknowledged, so that it cannot block the stream.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from auditsql.store.pg.connect import PgError, connect, redact, transient
from auditsql.store.pg.partitions import Partitions, drop_older
from auditsql.store.pg.schema import (
    CONSUMED_TABLE,
    STREAMS_TABLE,
    PgTable,
    check_rights,
    open_schema,
    pg_tables,
    q,
)

if TYPE_CHECKING:
    import psycopg

    from auditsql.store.pg.partitions import Dropped
    from auditsql.tables.registry import Table

__all__ = ["Item", "PgSink", "StoreUnavailable"]

#: one decoded message: (stream sequence, table, rows in the central table's stored column order)
Item = tuple[int, str, list[tuple]]


class StoreUnavailable(Exception):
    """PostgreSQL cannot take the batch now (gone, restarting, a deadlock); retry it later."""


class PgSink:
    """The collector's PostgreSQL side: schema, stream bookkeeping, batches, pruning and retention."""

    def __init__(self, url: str, tables: Sequence[Table], say: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.where = f"PostgreSQL {redact(url)}"
        self.tables = {t.name: t for t in pg_tables(tables)}
        self.say = say or (lambda msg: None)
        self.conn: psycopg.Connection | None = None
        self.partitions = Partitions()
        self.stream_id: int | None = None
        self._staged: set[str] = set()
        self.host = socket.gethostname()

    # -- the connection ----------------------------------------------------------------------------------------

    def open(self, *, migrate_only: bool = False) -> None:
        """Connect, check or migrate the schema, check the role's rights. :class:`PgError` (code 2) when the
        server, the credentials, the role or the schema will not do."""
        import psycopg

        from auditsql._core import StoreFunctions

        fns = StoreFunctions()
        version = fns.newest_dictionary()
        conn = connect(self.url, application="auditsql collect")
        self.conn = conn
        try:
            open_schema(
                conn, list(self.tables.values()), self.where, (version, fns.dictionary(version)), self.say
            )
            if not migrate_only:
                check_rights(conn, list(self.tables.values()), self.where)
        except psycopg.Error as exc:
            # the server went away while starting (stopped, restarted): as unreachable at start
            raise PgError(f"{self.where}: lost the connection while starting: {_first(exc)}") from None

    def _conn(self) -> psycopg.Connection:
        """The connection, made again when it was lost; :class:`StoreUnavailable` while that fails."""
        if self.conn is not None and not self.conn.closed:
            return self.conn
        self.close()
        try:
            self.conn = connect(self.url, application="auditsql collect")
        except PgError as exc:
            raise StoreUnavailable(str(exc)) from None
        self.partitions.forget()
        self._staged.clear()
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a connection already gone
                pass
            self.conn = None

    def _lost(self, exc: BaseException) -> StoreUnavailable:
        self.close()
        return StoreUnavailable(f"{self.where}: {_first(exc)}")

    # -- streams -----------------------------------------------------------------------------------------------

    def attach(self, stream: str, durable: str, created: str) -> None:
        """The bookkeeping row of this stream (by its creation time) and durable; a stream created anew
        starts a new row, and the old one's sequences are forgotten."""
        import psycopg

        conn = self._conn()
        try:
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {STREAMS_TABLE} (stream, durable, created) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (stream, durable, created),
                )
                (self.stream_id,) = conn.execute(
                    f"SELECT id FROM {STREAMS_TABLE} WHERE stream = %s AND durable = %s AND created = %s",
                    (stream, durable, created),
                ).fetchone()
                old = conn.execute(
                    f"DELETE FROM {STREAMS_TABLE} WHERE stream = %s AND durable = %s AND created <> %s "
                    "RETURNING created",
                    (stream, durable, created),
                ).fetchall()
        except psycopg.Error as exc:
            if transient(exc):
                raise self._lost(exc) from None
            raise PgError(f"{self.where}: cannot record the stream: {_first(exc)}") from None
        for (was,) in old:
            self.say(
                f"collect: the stream {stream} was created anew ({created}; was {was}): its sequences restart"
            )

    # -- batches -----------------------------------------------------------------------------------------------

    def commit(self, items: list[Item], seqs: list[int]) -> tuple[set[int], set[int]]:
        """Claim ``seqs`` and write the rows of the claimed ``items``, in one transaction. Returns (claimed,
        refused): the sequences this commit stored (the others were stored before) and those of messages
        PostgreSQL refused even escaped (skipped and acknowledged). :class:`StoreUnavailable` to retry later."""
        import psycopg

        assert self.stream_id is not None, "attach() first"
        conn = self._conn()
        try:
            self._ensure_partitions(conn, items)
            for clean in (False, True):
                try:
                    return self._commit(conn, items, seqs, clean), set()
                except (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError) as exc:
                    if isinstance(exc, psycopg.Error) and transient(exc):
                        raise
                    continue
            return self._commit_each(conn, items, seqs)
        except psycopg.Error as exc:
            if transient(exc) or conn.closed:
                raise self._lost(exc) from None
            raise PgError(f"{self.where}: cannot write a batch: {_first(exc)}", 1) from None

    def _ensure_partitions(self, conn: psycopg.Connection, items: list[Item]) -> None:
        by_table: dict[str, list[tuple]] = {}
        for _seq, table, rows in items:
            by_table.setdefault(table, []).extend(rows)
        now = time.time()
        for table, rows in by_table.items():
            t = self.tables[table]
            days = self.partitions.days(t, rows, now)
            if days:
                self.partitions.ensure(conn, t, days)

    def _claim(self, conn: psycopg.Connection, seqs: list[int]) -> set[int]:
        (floor,) = conn.execute(
            f"SELECT floor FROM {STREAMS_TABLE} WHERE id = %s FOR SHARE", (self.stream_id,)
        ).fetchone()
        got = conn.execute(
            f"INSERT INTO {CONSUMED_TABLE} (stream_id, seq) SELECT %s, s FROM unnest(%s::bigint[]) AS s "
            "WHERE s > %s ORDER BY s ON CONFLICT DO NOTHING RETURNING seq",
            (self.stream_id, sorted(set(seqs)), floor),
        ).fetchall()
        return {int(s) for (s,) in got}

    def _commit(self, conn: psycopg.Connection, items: list[Item], seqs: list[int], clean: bool) -> set[int]:
        with conn.transaction():
            claimed = self._claim(conn, seqs)
            by_table: dict[str, list[tuple]] = {}
            for seq, table, rows in items:
                if seq in claimed:
                    by_table.setdefault(table, []).extend(_cleaned(rows) if clean else rows)
            for table, rows in by_table.items():
                self._write(conn, self.tables[table], rows)
        return claimed

    def _commit_each(
        self, conn: psycopg.Connection, items: list[Item], seqs: list[int]
    ) -> tuple[set[int], set[int]]:
        """The batch again, each message in a savepoint of its own: the ones PostgreSQL refuses are left out."""
        import psycopg

        refused: set[int] = set()
        with conn.transaction():
            claimed = self._claim(conn, seqs)
            for seq, table, rows in items:
                if seq not in claimed:
                    continue
                try:
                    with conn.transaction():
                        self._write(conn, self.tables[table], _cleaned(rows))
                except (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError) as exc:
                    if isinstance(exc, psycopg.Error) and transient(exc):
                        raise
                    refused.add(seq)
        return claimed - refused, refused

    def _write(self, conn: psycopg.Connection, t: PgTable, rows: list[tuple]) -> None:
        cols = ", ".join(map(q, t.names))
        if not t.key:
            with conn.cursor() as cur, cur.copy(f"COPY {q(t.storage)} ({cols}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            return
        # an upsert table: COPY into a staging table, then one INSERT ... ON CONFLICT keeping each key's last row
        stage = f"stage_{t.storage}"
        if t.storage not in self._staged:
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {q(stage)} (LIKE {q(t.storage)}, _ord bigint) "
                "ON COMMIT DELETE ROWS"
            )
            self._staged.add(t.storage)
        with conn.cursor() as cur, cur.copy(f"COPY {q(stage)} ({cols}, _ord) FROM STDIN") as cp:
            for i, r in enumerate(rows):
                cp.write_row((*r, i))
        key = ", ".join(map(q, t.key))
        sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in t.names if c not in t.key)
        # a row's time is its last change's: an older state arriving late (another collector's batch, a
        # redelivery) does not overwrite a newer one
        newer = ""
        if "time" in t.names:
            mine = f"{q(t.storage)}.{q('time')}"
            newer = f" WHERE {mine} IS NULL OR EXCLUDED.{q('time')} IS NULL OR EXCLUDED.{q('time')} >= {mine}"
        conn.execute(
            f"INSERT INTO {q(t.storage)} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM {q(stage)} "
            f"ORDER BY {key}, _ord DESC ON CONFLICT ({key}) DO UPDATE SET {sets}{newer}"
        )
        conn.execute(
            f"DELETE FROM {q(stage)}"
        )  # the next message of this transaction starts empty (_commit_each)

    # -- bookkeeping and retention -----------------------------------------------------------------------------

    def prune(self, floor: int) -> None:
        """Forget the sequences at or below the consumer's acknowledgement floor (never delivered again)."""
        import psycopg

        if floor <= 0 or self.stream_id is None:
            return
        conn = self._conn()
        try:
            with conn.transaction():
                n = conn.execute(
                    f"UPDATE {STREAMS_TABLE} SET floor = %s WHERE id = %s AND floor < %s",
                    (floor, self.stream_id, floor),
                ).rowcount
                if n:
                    conn.execute(
                        f"DELETE FROM {CONSUMED_TABLE} WHERE stream_id = %s AND seq <= %s",
                        (self.stream_id, floor),
                    )
        except psycopg.Error as exc:
            if transient(exc) or conn.closed:
                raise self._lost(exc) from None
            raise PgError(f"{self.where}: cannot prune the consumed sequences: {_first(exc)}", 1) from None

    def retention(self, limits: dict[str, int], now: float | None = None) -> list[Dropped]:
        """Drop the day partitions older than ``limits`` (table → days); one ``audit_loss`` row each."""
        import psycopg

        unknown = sorted(set(limits) - set(self.tables))
        if unknown:
            raise PgError(f"retention: no table {', '.join(unknown)} in the central store")
        conn = self._conn()
        try:
            return drop_older(
                conn, list(self.tables.values()), limits, self.host, now, self.partitions, self.say
            )
        except psycopg.Error as exc:
            if transient(exc) or conn.closed:
                raise self._lost(exc) from None
            raise PgError(f"{self.where}: retention failed: {_first(exc)}", 1) from None


def _clean(v: Any) -> Any:
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            v = v.encode("utf-8", "backslashreplace").decode("utf-8")
        if "\x00" in v:
            v = v.replace("\x00", "\\x00")
    return v


def _cleaned(rows: list[tuple]) -> list[tuple]:
    """Rows with the strings PostgreSQL refuses escaped: lone surrogates (bytes that were not UTF-8) as
    ``\\udcXX`` and NUL as ``\\x00``."""
    return [tuple(_clean(v) for v in r) for r in rows]


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__

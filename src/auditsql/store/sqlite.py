"""The SQLite event store: schema from the table registry, batched inserts, retention, live-table refresh.

Durability and consistency
    The file is opened in WAL mode with ``synchronous=NORMAL``. Rows are buffered and written in batches: one
    transaction per batch, one ``executemany`` per table in the batch. A batch is committed whole or not at all,
    so a process killed at any point (``kill -9``) leaves a consistent database holding every batch committed
    before the kill (the test ``tests/store/test_crash.py`` proves it). ``synchronous=NORMAL`` in WAL mode may lose
    the last committed batches on a power failure or kernel crash (never consistency); a process kill loses only
    the rows still buffered in memory (at most ``batch_rows`` rows or ``batch_seconds`` seconds of them).

Permissions
    Audit events name users, commands and arguments (sometimes passwords typed on a command line), so the store
    is private: a directory the store creates is mode 0700 and a database file it creates is mode 0600 (SQLite
    gives its ``-wal`` and ``-shm`` files the database file's mode). An existing file or directory keeps its mode.

Retention (osquery's ``events_expiry`` and ``events_max``)
    ``retention(expiry_seconds, max_rows)`` deletes, in every event table, the rows whose ``time`` (the audit
    event's own timestamp) is older than ``expiry_seconds``, then the oldest stored rows beyond ``max_rows`` per
    table (oldest by insertion order, like osquery's event ids). osquery's defaults are 3600 s and 50,000 rows: it
    treats its event store as a buffer that scheduled queries drain every few minutes. auditsql's store is also
    the place people query after the fact ("what ran on this box on Tuesday?"), so the defaults keep a week:
    ``DEFAULT_EXPIRY`` = 7 days and ``DEFAULT_MAX_ROWS`` = 1,000,000 rows per table (about 0.5-1 GB for
    ``process_events`` with raw records; the row cap bounds the disk use of a noisy host). ``None`` or ``0``
    disables either limit. Expiry goes by event time, so rows imported from a log older than the expiry are
    deleted by the next retention pass of a running ``auditsql run`` on the same file: import old logs into
    their own ``--db``. Live tables (``audit_status``, ``audit_rules``) are replaced on refresh, never expired.

Schema changes
    ``create_schema()`` creates missing tables and indexes, and adds columns the registry declares but an
    existing table lacks (``ALTER TABLE ... ADD COLUMN``; old rows read NULL there). Inserts name their columns,
    so a table with extra or reordered columns still works.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from auditsql.tables.registry import _SQLITE_TYPES

if TYPE_CHECKING:
    from auditsql.tables.registry import Table

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BATCH_SECONDS",
    "DEFAULT_DB",
    "DEFAULT_EXPIRY",
    "DEFAULT_MAX_ROWS",
    "Store",
    "StoreError",
    "ro_uri",
]

#: where ``auditsql run``, ``import``, ``query`` and ``shell`` keep and read the store by default
DEFAULT_DB = "/var/lib/auditsql/auditsql.db"
#: rows older than this (seconds, by event time) are deleted by retention; osquery's events_expiry is 3600
DEFAULT_EXPIRY = 7 * 24 * 3600
#: at most this many rows per table are kept by retention (newest stored); osquery's events_max is 50000
DEFAULT_MAX_ROWS = 1_000_000
#: a batch is committed when this many rows are buffered ...
DEFAULT_BATCH_ROWS = 5000
#: ... or when the oldest buffered row waited this long (checked on insert() and tick())
DEFAULT_BATCH_SECONDS = 1.0

_RO_HINT = "run `auditsql run` or `auditsql import` first, or pass --db"


class StoreError(Exception):
    """A store problem the user can fix: the message is one line naming the cause and the fix."""


def ro_uri(path: str) -> str:
    """The SQLite URI opening ``path`` read-only (``file:PATH?mode=ro``, the path percent-quoted)."""
    return "file:" + quote(os.path.abspath(path)) + "?mode=ro"


def _default_tables() -> list[Table]:
    import auditsql.tables  # noqa: F401 - importing the package fills the registry
    from auditsql.tables.registry import REGISTRY

    return list(REGISTRY.values())


def _make_private_dirs(parent: str) -> None:
    """Create ``parent`` and any missing ancestors, each new one mode 0700 (whatever the umask)."""
    missing = []
    d = parent
    while d and not os.path.exists(d):
        missing.append(d)
        nd = os.path.dirname(d)
        if nd == d:
            break
        d = nd
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


class Store:
    """One SQLite store file. ``Store(path)`` opens or creates it for writing (call ``create_schema()`` once);
    ``Store(path, readonly=True)`` opens an existing file read-only.

    ``tables`` defaults to every table of ``auditsql.tables.REGISTRY``; tests may pass their own.
    Not thread-safe beyond one writer thread plus ``flush()``/``tick()`` from another (a lock guards the buffer).
    """

    def __init__(
        self,
        path: str,
        readonly: bool = False,
        *,
        tables: Iterable[Table] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.batch_rows = max(1, batch_rows)
        self.batch_seconds = batch_seconds
        self.tables: dict[str, Table] = {t.name: t for t in (_default_tables() if tables is None else tables)}
        self._insert_sql = {name: t.insert_sql() for name, t in self.tables.items()}
        self._pending: dict[str, list[tuple]] = {name: [] for name in self.tables}
        self._npending = 0
        self._first_pending = 0.0
        self._lock = threading.Lock()
        #: rows committed per table by this Store object, and batches committed
        self.counts: dict[str, int] = {name: 0 for name in self.tables}
        self.batches = 0
        self.conn = self._open_ro() if readonly else self._open_rw()

    # -- opening -----------------------------------------------------------------------------------------------

    def _open_ro(self) -> sqlite3.Connection:
        path = self.path
        if not os.path.exists(path):
            raise StoreError(f"no database at {path}: {_RO_HINT}")
        if not os.access(path, os.R_OK):
            raise StoreError(f"cannot read database {path}: permission denied (run as root, or pass --db)")
        try:
            conn = sqlite3.connect(ro_uri(path), uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"cannot read database {path}: {e} (pass --db with an auditsql database)"
            ) from None
        return conn

    def _open_rw(self) -> sqlite3.Connection:
        path = self.path
        fix = "pass --db with a writable path, or run as root"
        parent = os.path.dirname(os.path.abspath(path))
        try:
            if not os.path.isdir(parent):
                _make_private_dirs(parent)
            if not os.path.exists(path):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                except FileExistsError:
                    pass
                else:
                    os.fchmod(fd, 0o600)
                    os.close(fd)
            elif os.path.isdir(path):
                raise StoreError(f"cannot use {path} as the database: it is a directory ({fix})")
        except PermissionError:
            raise StoreError(f"cannot create database {path}: permission denied ({fix})") from None
        except OSError as e:
            raise StoreError(f"cannot create database {path}: {e.strerror} ({fix})") from None
        if not os.access(path, os.W_OK) or not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write database {path}: permission denied ({fix})")
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open database {path}: {e} ({fix})") from None
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"cannot open database {path}: WAL mode unavailable on this filesystem ({fix})")
        return conn

    # -- schema ------------------------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create every table and index (``IF NOT EXISTS``) and add columns missing from older tables."""
        self._writable()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for t in self.tables.values():
                # CREATE TABLE first, then the columns an older table lacks, then the indexes (which may use them)
                create, *indexes = [s for s in t.ddl().split(";\n") if s.strip()]
                conn.execute(create)
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({t.name})")}
                for c in t.columns:
                    if c.name not in have:
                        conn.execute(f"ALTER TABLE {t.name} ADD COLUMN {c.name} {_SQLITE_TYPES[c.type]}")
                for stmt in indexes:
                    conn.execute(stmt)
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot create the tables in {self.path}: {e}") from None

    # -- inserting ---------------------------------------------------------------------------------------------

    def insert(self, rows: Iterable[tuple[str, tuple]]) -> None:
        """Buffer ``(table, row)`` pairs (row in the table's column order); commit when a batch is full or old."""
        pend = self._pending
        with self._lock:
            n = 0
            for name, row in rows:
                try:
                    pend[name].append(row)
                except KeyError:
                    raise StoreError(f"unknown table {name}: not in the table registry") from None
                n += 1
            if not n:
                return
            if not self._npending:
                self._first_pending = time.monotonic()
            self._npending += n
            if (
                self._npending >= self.batch_rows
                or time.monotonic() - self._first_pending >= self.batch_seconds
            ):
                self._flush()

    def tick(self) -> None:
        """Commit the buffer if its oldest row waited ``batch_seconds`` (call it from an idle loop)."""
        with self._lock:
            if self._npending and time.monotonic() - self._first_pending >= self.batch_seconds:
                self._flush()

    def flush(self) -> int:
        """Commit every buffered row now, in one transaction. Returns the number of rows committed."""
        with self._lock:
            return self._flush()

    def _flush(self) -> int:
        n = self._npending
        if not n:
            return 0
        self._writable()
        conn = self.conn
        done: list[tuple[str, int]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for name, rows in self._pending.items():
                if rows:
                    conn.executemany(self._insert_sql[name], rows)
                    done.append((name, len(rows)))
            conn.execute("COMMIT")
        except (sqlite3.DatabaseError, sqlite3.ProgrammingError) as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._clear()
            raise StoreError(f"cannot write {n} rows to {self.path}: {e}") from None
        self._clear()
        for name, k in done:
            self.counts[name] += k
        self.batches += 1
        return n

    def _clear(self) -> None:
        for rows in self._pending.values():
            rows.clear()
        self._npending = 0

    # -- retention ---------------------------------------------------------------------------------------------

    def retention(
        self, expiry_seconds: int | None, max_rows: int | None, now: float | None = None
    ) -> dict[str, int]:
        """Delete rows older than ``expiry_seconds`` (by the ``time`` column) and, per table, the oldest stored
        rows beyond ``max_rows``. ``None`` or ``0`` disables a limit. Returns rows deleted per table."""
        self.flush()
        self._writable()
        now = time.time() if now is None else now
        deleted: dict[str, int] = {}
        conn = self.conn
        for name, t in self.tables.items():
            if t.kind == "live":
                continue
            n = 0
            # a table may keep some rows whatever their age (process_tree: rows of live processes)
            keep = getattr(t, "retention_keep", None)
            also = f" AND ({keep})" if keep else ""
            try:
                if expiry_seconds and "time" in t.column_names:
                    conn.execute("BEGIN IMMEDIATE")
                    n += conn.execute(
                        f"DELETE FROM {name} WHERE time < ?{also}", (int(now - expiry_seconds),)
                    ).rowcount
                    conn.execute("COMMIT")
                if max_rows and max_rows > 0:
                    r = conn.execute(
                        f"SELECT rowid FROM {name} ORDER BY rowid DESC LIMIT 1 OFFSET ?", (max_rows,)
                    ).fetchone()
                    if r is not None:
                        conn.execute("BEGIN IMMEDIATE")
                        n += conn.execute(f"DELETE FROM {name} WHERE rowid <= ?{also}", (r[0],)).rowcount
                        conn.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"retention on {name} in {self.path} failed: {e}") from None
            if n:
                deleted[name] = n
        if deleted:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return deleted

    # -- live tables -------------------------------------------------------------------------------------------

    def refresh_live(self, names: Sequence[str]) -> dict[str, int]:
        """Replace the rows of the named live tables with ``auditsql.tables.live_rows(name)``."""
        from auditsql import tables as _tables

        self._writable()
        out: dict[str, int] = {}
        conn = self.conn
        for name in names:
            if name not in self.tables:
                raise StoreError(f"unknown table {name}: not in the table registry")
            try:
                rows = list(_tables.live_rows(name))  # type: ignore[attr-defined]
            except OSError as e:
                raise StoreError(f"{name}: cannot read from the kernel: {e} (run as root)") from None
            except Exception as e:
                if type(e).__name__ == "LiveTableError":  # auditsql.tables' own one-line message
                    raise StoreError(str(e)) from None
                raise
            with self._lock:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(f"DELETE FROM {name}")
                    conn.executemany(self._insert_sql[name], rows)
                    conn.execute("COMMIT")
                except sqlite3.DatabaseError as e:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise StoreError(f"cannot refresh {name} in {self.path}: {e}") from None
            out[name] = len(rows)
        return out

    # -- closing -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit the buffer and close the file (idempotent)."""
        conn = self.conn
        if conn is None:
            return
        try:
            if not self.readonly:
                self.flush()
                conn.execute("PRAGMA optimize")
        finally:
            conn.close()
            self.conn = None  # type: ignore[assignment]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        if self.conn is None:
            raise StoreError(f"{self.path} is closed")

"""The SQLite event store: schema from the table registry, batched inserts, retention, live-table refresh.

Durability and consistency
    The file is opened in WAL mode with ``synchronous=NORMAL``. Rows are buffered and written in batches: one
    transaction per batch, one ``executemany`` per table in the batch. A batch is committed whole or not at all,
    so a process killed at any point (``kill -9``) leaves a consistent database holding every batch committed
    before the kill (the test ``tests/store/test_crash.py`` proves it). ``synchronous=NORMAL`` in WAL mode may lose
    the last committed batches on a power failure or kernel crash (never consistency); a process kill loses only
    the rows still buffered in memory (at most ``batch_rows`` rows or ``batch_seconds`` seconds of them).

Permissions (:mod:`auditsql.private`)
    Audit events name users, commands and arguments (sometimes passwords typed on a command line), so the store
    is private: a directory the store creates is mode 0700 and a database file it creates is mode 0600 (SQLite
    gives its ``-wal`` and ``-shm`` files the database file's mode). An existing store that group or others
    may access is made 0600 with its ``-wal`` and ``-shm`` when opened for writing (one warning line says so);
    when that chmod fails the store is refused with one line. A read-only open changes nothing. An existing
    directory keeps its mode (it may be shared).

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

Compact events (docs/store.md)
    ``audit_events`` keeps each event's records once, compressed with zstd and a dictionary trained on audit
    records (``blob``, in the table ``audit_events_data``); ``audit_events`` is a view whose ``summary``,
    ``sections`` and ``raw`` are derived on read by the native core's SQL functions
    (:mod:`auditsql.store.functions`, registered on every connection). The dictionaries the blobs use are kept in
    the store (``audit_dictionaries``), so a store stays readable by a program that ships newer ones.

Each event once (:mod:`auditsql.store.dedupe`)
    ``insert()`` leaves out an event the store or its buffer holds already (same ``node``, ``eid`` and
    records) with the rows it gave the other tables, so importing a file twice stores it once
    (:attr:`Store.events_present` counts them).

Size (``max_size``)
    Beside age and row count, ``retention(..., max_size=N)`` keeps the pages in use under N bytes: when over,
    it deletes the oldest events (every event table, by event time; the rows of live processes in
    ``process_tree`` stay) until the store is under 90 % of N. SQLite reuses the freed pages, so the file stops
    growing; it never grows past N by more than one batch. Every deletion is reported by cause (``age``,
    ``rows``, ``size``) so that ``auditsql run`` books it as a ``retention`` row of ``audit_loss``.

A full file system (docs/store.md, "A full disk")
    A batch SQLite refuses for lack of room (``SQLITE_FULL``; or ``SQLITE_IOERR`` when a probe file beside the
    store cannot be written either: ``ENOSPC``, ``EDQUOT``) is rolled back and dropped whole, the native
    writer's rows with Python's, and raised as :class:`StoreFull` (a :class:`StoreError`) with what it held:
    its events (``audit_events`` rows), its rows, and its ``audit_loss`` rows for the caller to hand again.
    ``auditsql run`` drops and counts, or stops (``[store] disk_full_action``). Nothing on this path raises
    anything else: a refused rollback, checkpoint or ``PRAGMA optimize`` (at close) is let go.

Schema changes and ownership
    ``create_schema()`` creates missing tables, indexes and views, and adds columns the registry declares but an
    existing table lacks (``ALTER TABLE ... ADD COLUMN``; old rows read NULL there). Inserts name their columns,
    so a table with extra or reordered columns still works. A store written before the compact layout is
    upgraded in place at its first writable open (:data:`SCHEMA_VERSION`; a progress bar when it is large);
    layout 3 adds ``audit_schedule``, the scheduler's state across restarts (:mod:`auditsql.store.schedule_state`,
    written through a connection of its own). The
    file is marked as auditsql's (``PRAGMA application_id``); a store of another program, or one written by a
    newer auditsql, is refused with one line (exit code 2) and never touched.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from auditsql.private import DIR_MODE, FILE_MODE, make_private
from auditsql.store.dedupe import EVENTS_TABLE, EventDedupe
from auditsql.store.functions import DICTIONARY_TABLE
from auditsql.store.functions import install as install_functions
from auditsql.store.schedule_state import SCHEDULE_TABLE, SCHEDULE_TABLE_DDL
from auditsql.tables.registry import _SQLITE_TYPES

if TYPE_CHECKING:
    from auditsql._core import StoreFunctions
    from auditsql.tables.registry import Table

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BATCH_SECONDS",
    "DEFAULT_DB",
    "DEFAULT_EXPIRY",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_SIZE",
    "Store",
    "StoreError",
    "StoreFull",
    "free_bytes",
    "is_full_error",
    "ro_uri",
]

#: where ``auditsql run``, ``import``, ``query`` and ``shell`` keep and read the store by default
DEFAULT_DB = "/var/lib/auditsql/auditsql.db"
#: rows older than this (seconds, by event time) are deleted by retention; osquery's events_expiry is 3600
DEFAULT_EXPIRY = 7 * 24 * 3600
#: at most this many rows per table are kept by retention (newest stored); osquery's events_max is 50000
DEFAULT_MAX_ROWS = 1_000_000
#: the store's pages in use are kept under this many bytes by retention (``[store] max_size``)
DEFAULT_MAX_SIZE = 2 << 30
#: a batch is committed when this many rows are buffered ...
DEFAULT_BATCH_ROWS = 5000
#: ... or when the oldest buffered row waited this long (checked on insert() and tick())
DEFAULT_BATCH_SECONDS = 1.0

#: the table of loss records: a failed batch's rows of it are handed back (StoreFull.loss_rows)
LOSS_TABLE = "audit_loss"
#: where ``auditsql run``'s journal stands, committed with the rows (auditsql.kernel.journal): one row
JOURNAL_TABLE = "audit_journal"
_JOURNAL_DDL = (
    f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), start INTEGER NOT NULL, "
    "processed INTEGER NOT NULL, open_events BLOB NOT NULL, time REAL NOT NULL)"
)
_JOURNAL_PUT = (
    f"INSERT OR REPLACE INTO {JOURNAL_TABLE} (id, start, processed, open_events, time) VALUES (1, ?, ?, ?, ?)"
)

_RO_HINT = "run `auditsql run` or `auditsql import` first, or pass --db"
#: the store layout this program writes: 1 was the layout before compact events (user_version 0 or 1), 2 the
#: layout before the central store's host ids (``host`` as text in every row) and the scheduler's state
#: (``audit_schedule``, :mod:`auditsql.store.schedule_state`): an agent's store of 2 gets that table and is
#: re-marked
SCHEMA_VERSION = 3
#: ``PRAGMA application_id`` of an auditsql store ("audq")
APPLICATION_ID = 0x61756471
#: a store with more event rows than this is upgraded with a progress bar (on a terminal)
_MIGRATE_PROGRESS = 100_000
#: rows copied per statement by an upgrade (a step of its progress bar)
_MIGRATE_STEP = 20_000


class StoreError(Exception):
    """A store problem the user can fix: the message is one line naming the cause and the fix; ``code`` the
    exit code (2: the file is not ours to touch: another program's, or a newer auditsql's)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class StoreFull(StoreError):
    """A batch could not be written: the store's file system is full (``SQLITE_FULL``, or an I/O error with no
    room left underneath: ``ENOSPC``, ``EDQUOT``). The batch's rows were dropped (the store is as before it):
    ``events`` of them were events (``audit_events`` rows), ``rows`` rows in all; ``loss_rows`` are the
    ``audit_loss`` rows among them, for the caller to hand again once the store can be written. ``reason`` is
    SQLite's message."""

    def __init__(
        self,
        message: str,
        path: str,
        reason: str,
        events: int = 0,
        rows: int = 0,
        loss_rows: list[tuple] | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason
        self.events = events
        self.rows = rows
        self.loss_rows = loss_rows or []


#: SQLite's primary result codes that say "no room": SQLITE_FULL; SQLITE_IOERR may be ENOSPC or EDQUOT
#: underneath (SQLite turns ENOSPC on write() into SQLITE_FULL, but EDQUOT, and ENOSPC on fsync, ftruncate or
#: the -shm file's growth, into an I/O error)
_SQLITE_FULL = 13
_SQLITE_IOERR = 10
#: the text of SQLITE_FULL (the native writer's errors carry SQLite's message, not its code)
_FULL_TEXT = "database or disk is full"
#: bytes a probe writes to tell "no room" from another I/O error
_PROBE = 64 * 1024


def free_bytes(path: str) -> tuple[int, int] | None:
    """(bytes free to unprivileged users, total bytes) of the file system holding ``path`` (its directory when
    it does not exist yet); None when it cannot be told."""
    target = path if os.path.exists(path) else os.path.dirname(os.path.abspath(path))
    try:
        st = os.statvfs(target)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def _room_for_probe(directory: str) -> bool:
    """Whether ``directory``'s file system takes a small file (False: ENOSPC or EDQUOT on writing one)."""
    import errno  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    try:
        with tempfile.TemporaryFile(dir=directory) as fh:
            fh.write(b"\0" * _PROBE)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        return e.errno not in (errno.ENOSPC, errno.EDQUOT)
    return True


def is_full_error(exc: BaseException, path: str) -> bool:
    """Whether a write error of the store at ``path`` means its file system is full: SQLite's SQLITE_FULL (by
    code, or by its text from the native writer), or an I/O error when a probe file in the store's directory
    cannot be written for lack of room (ENOSPC, EDQUOT)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        if code & 0xFF == _SQLITE_FULL:
            return True
        if code & 0xFF != _SQLITE_IOERR:
            return False
    elif _FULL_TEXT in str(exc):
        return True
    elif "disk I/O error" not in str(exc):
        return False
    return not _room_for_probe(os.path.dirname(os.path.abspath(path)))


def _full_reason(exc: BaseException) -> str:
    """SQLite's message for a full file system, without the native writer's ``table:`` before it."""
    text = str(exc)
    return _FULL_TEXT if _FULL_TEXT in text else text


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
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)


#: the files SQLite keeps beside a store in WAL mode (and the rollback journal of an older one)
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _make_private(path: str) -> None:
    """Make the store and the files beside it 0600 where group or others may access them (said once); one
    line when that fails."""
    try:
        make_private([path, *(path + suffix for suffix in _SIDE_FILES)])
    except OSError as e:
        raise StoreError(
            f"{path} is open to group or others and cannot be made private ({e.strerror}): chmod 600 it (and its "
            "-wal and -shm) as its owner, or pass --db with another path"
        ) from None


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it may, on SQLITE_FULL)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass  # SQLite rolled it back itself


def _core_error() -> type[Exception]:
    """The native writer's error (imported late: the table docs are generated without the extension)."""
    from auditsql._core import CoreError  # noqa: PLC0415

    return CoreError


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
        page_size: int | None = None,
    ) -> None:
        self.path = path
        #: SQLite's page size for a new file (None: SQLite's default); an existing file keeps its own
        self.page_size = page_size
        self.readonly = readonly
        self.batch_rows = max(1, batch_rows)
        self.batch_seconds = batch_seconds
        self.tables: dict[str, Table] = {t.name: t for t in (_default_tables() if tables is None else tables)}
        self._insert_sql = {name: t.insert_sql() for name, t in self.tables.items()}
        self._pending: dict[str, list[tuple]] = {name: [] for name in self.tables}
        self._npending = 0
        #: events among the buffered rows (audit_events rows, the native writer's too): what a failed batch drops
        self._pending_events = 0
        self._first_pending = 0.0
        self._lock = threading.Lock()
        #: rows committed per table by this Store object, and batches committed
        self.counts: dict[str, int] = {name: 0 for name in self.tables}
        #: the last retention pass's deletions by cause: {"age"|"rows"|"size": {table: rows}}
        self.last_retention: dict[str, dict[str, int]] = {}
        self.batches = 0
        self._functions: StoreFunctions | None = None
        #: the journal mark of the rows handed so far (``Pipeline.mark()``), committed with them; None: no journal
        self.journal_mark: tuple[int, int, bytes] | None = None
        #: called with the committed mark's start after each commit that wrote one (the journal's release)
        self.on_journal_commit: Callable[[int], None] | None = None
        self._journal_table = False
        #: leaves out of inserts the events already stored (``auditsql.store.dedupe``; None: tables without them)
        self.dedupe = None if readonly else EventDedupe.for_tables(self.tables, self._raw_bytes)
        self.conn = self._open_ro() if readonly else self._open_rw()
        #: the native writer (auditsql._core.StoreWriter) of batches' rows on this connection: made on first
        #: use; False when this Python's sqlite3 cannot be shared with it (rows then go through executemany)
        self._native: Any = None
        #: events the native writer left out, once it is closed
        self._native_present_closed = 0

    @property
    def events_present(self) -> int:
        """Events left out of inserts since the store was opened: it held them already (same eid, node and
        records)."""
        native = self._native.present()[0] if self._native else self._native_present_closed
        return native + (0 if self.dedupe is None else self.dedupe.events_present)

    def _raw_bytes(self, blob: bytes) -> bytes | None:
        return None if self._functions is None else self._functions.audit_raw_bytes(blob)

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
        try:
            check_owner(conn, path, self.tables.values())
        except StoreError:
            conn.close()
            raise
        install_functions(conn)
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
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
                except FileExistsError:
                    pass
                else:
                    os.fchmod(fd, FILE_MODE)
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
            # whose file is it? checked before anything is written to it (journal_mode rewrites its header)
            try:
                check_owner(conn, path, self.tables.values())
                _make_private(path)  # ours: its -wal and -shm too (reading may have just created them)
            except StoreError:
                conn.close()
                raise
            if self.page_size and conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                conn.execute(f"PRAGMA page_size = {int(self.page_size)}")  # before WAL: fixed from then on
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as e:
            if is_full_error(e, path):
                raise StoreFull(
                    f"cannot open database {path}: its file system is full ({_full_reason(e)}): free some space",
                    path,
                    _full_reason(e),
                ) from None
            raise StoreError(f"cannot open database {path}: {e} ({fix})") from None
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"cannot open database {path}: WAL mode unavailable on this filesystem ({fix})")
        self._functions = install_functions(conn)
        return conn

    # -- schema ------------------------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create every table, index and view (``IF NOT EXISTS``), add columns missing from older tables,
        upgrade a store of the layout before compact events and a central store of ``host`` as text, keep the
        compression dictionaries, and mark the file as an auditsql store of :data:`SCHEMA_VERSION`."""
        self._writable()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            migrate_events(conn, self.path)
            migrate_lookups(conn, self.path, self.tables.values())
            for t in self.tables.values():
                # CREATE TABLE first (a lookup table's, then the rows'), then the columns an older table lacks,
                # then indexes and views (which may use them)
                stmts = [s for s in t.ddl().split(";\n") if s.strip()]
                creates = [s for s in stmts if s.startswith("CREATE TABLE")]
                rest = [s for s in stmts if not s.startswith("CREATE TABLE")]
                for create in creates:
                    conn.execute(create)
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({t.storage})")}
                for c in t.stored_columns:
                    if c.name not in have:
                        conn.execute(f"ALTER TABLE {t.storage} ADD COLUMN {c.name} {_SQLITE_TYPES[c.type]}")
                for stmt in rest:
                    conn.execute(stmt)
                for name in t.redundant_indexes():
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
            keep_dictionaries(conn)
            conn.execute(SCHEDULE_TABLE_DDL)  # layout 3: the scheduler's state across restarts
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot create the tables in {self.path}: {e}") from None
        self._functions = install_functions(conn)  # again: the store's dictionaries are known now

    # -- inserting ---------------------------------------------------------------------------------------------

    def insert(self, rows: Iterable[tuple[str, tuple]]) -> None:
        """Buffer ``(table, row)`` pairs (row in the table's column order); commit when a batch is full or old.
        An event the store (or the buffer) holds already is left out, with its rows (:attr:`events_present`)."""
        with self._lock:
            if self.dedupe is not None:
                rows = self._dedupe(rows if isinstance(rows, list) else list(rows))
            self._added(self._buffer(rows))

    def _buffer(self, rows: Iterable[tuple[str, tuple]]) -> int:
        pend = self._pending
        n = events = 0
        for name, row in rows:
            try:
                pend[name].append(row)
            except KeyError:
                raise StoreError(f"unknown table {name}: not in the table registry") from None
            n += 1
            if name == EVENTS_TABLE:
                events += 1
        self._pending_events += events
        return n

    def insert_batch(self, batch: Any) -> int:
        """Buffer an ``auditsql._core.Batch``'s rows, natively (no Python object per row) when this Python's
        sqlite3 allows it; commit like :meth:`insert`, events already held left out the same way. The batch's
        ``rows`` is empty afterwards. Returns the number of rows buffered."""
        with self._lock:
            native = self._writer()
            if not native:
                rows = batch.rows
                if self.dedupe is not None:
                    rows = self._dedupe(rows)
                n = self._buffer(rows)
            else:
                events, before = batch.events, native.present()[0]
                try:
                    n = native.add(batch)
                except _core_error() as e:
                    raise StoreError(f"cannot read the stored events of {self.path}: {e}") from None
                # one audit_events row per event, less those the writer held already
                self._pending_events += events - (native.present()[0] - before)
            self._added(n)
            return n

    def _writer(self) -> Any:
        if self._native is None:
            self._native = False
            if not self.readonly and self.conn is not None:
                import _sqlite3  # noqa: PLC0415  (where Python's SQLite library is)

                from auditsql._core import CoreError, StoreWriter  # noqa: PLC0415

                try:
                    spec = None if self.dedupe is None else self.dedupe.spec()
                    self._native = StoreWriter(
                        self.conn, self._insert_sql, self.path, _sqlite3.__file__, spec
                    )
                except (CoreError, OSError):
                    self._native = False
        return self._native

    def _added(self, n: int) -> None:
        if not n:
            return
        if not self._npending:
            self._first_pending = time.monotonic()
        self._npending += n
        if self._npending >= self.batch_rows or time.monotonic() - self._first_pending >= self.batch_seconds:
            self._flush()

    def _dedupe(self, rows: list[tuple[str, tuple]]) -> list[tuple[str, tuple]]:
        assert self.dedupe is not None
        self._writable()
        try:
            return self.dedupe.filter(self.conn, rows, self._pending[self.dedupe.events.name])
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot read the stored events of {self.path}: {e}") from None

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
        native = self._native
        try:
            conn.execute("BEGIN IMMEDIATE")
            if native and native.pending():
                done += native.write()
            for name, rows in self._pending.items():
                if rows:
                    conn.executemany(self._insert_sql[name], rows)
                    done.append((name, len(rows)))
            mark = self.journal_mark
            if mark is not None:
                if not self._journal_table:
                    conn.execute(_JOURNAL_DDL)  # made by the first commit with a mark: a store of a run
                conn.execute(_JOURNAL_PUT, (*mark, time.time()))
            conn.execute("COMMIT")
        except (sqlite3.DatabaseError, sqlite3.ProgrammingError, _core_error()) as e:
            _rollback(conn)
            events, loss = self._pending_events, list(self._pending.get(LOSS_TABLE, ()))
            self._clear()
            message = f"cannot write {n} rows to {self.path}: {e}"
            if is_full_error(e, self.path):
                raise StoreFull(message, self.path, _full_reason(e), events, n, loss) from None
            raise StoreError(message) from None
        self._clear()
        for name, k in done:
            self.counts[name] += k
        self.batches += 1
        if mark is not None:
            self._journal_table = True
            if self.on_journal_commit is not None:
                self.on_journal_commit(mark[0])
        return n

    def journal_position(self) -> tuple[int, int, bytes] | None:
        """The journal mark last committed (``auditsql run``'s journal), or None."""
        try:
            row = self.conn.execute(
                f"SELECT start, processed, open_events FROM {JOURNAL_TABLE} WHERE id = 1"
            ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))

    def _clear(self) -> None:
        for rows in self._pending.values():
            rows.clear()
        self._npending = 0
        self._pending_events = 0
        if self.dedupe is not None:
            self.dedupe.forget()
        if self._native:
            self._native.clear()

    # -- retention ---------------------------------------------------------------------------------------------

    def retention(
        self,
        expiry_seconds: int | None,
        max_rows: int | None,
        now: float | None = None,
        max_size: int | None = None,
    ) -> dict[str, int]:
        """Delete rows older than ``expiry_seconds`` (by the ``time`` column), per table the oldest stored rows
        beyond ``max_rows``, then the oldest events while the store uses more than ``max_size`` bytes. ``None``
        or ``0`` disables a limit. Returns rows deleted per table; :attr:`last_retention` has them by cause
        (``{"age": {table: n}, "rows": {...}, "size": {...}}``)."""
        self.flush()
        self._writable()
        now = time.time() if now is None else now
        by_cause: dict[str, dict[str, int]] = {"age": {}, "rows": {}, "size": {}}
        conn = self.conn
        for name, t in self.tables.items():
            if t.kind == "live":
                continue
            store = t.storage
            # a table may keep some rows whatever their age (process_tree: rows of live processes)
            keep = getattr(t, "retention_keep", None)
            also = f" AND ({keep})" if keep else ""
            try:
                if expiry_seconds and "time" in t.column_names:
                    conn.execute("BEGIN IMMEDIATE")
                    n = conn.execute(
                        f"DELETE FROM {store} WHERE time < ?{also}", (int(now - expiry_seconds),)
                    ).rowcount
                    conn.execute("COMMIT")
                    if n:
                        by_cause["age"][name] = n
                if max_rows and max_rows > 0:
                    r = conn.execute(
                        f"SELECT rowid FROM {store} ORDER BY rowid DESC LIMIT 1 OFFSET ?", (max_rows,)
                    ).fetchone()
                    if r is not None:
                        conn.execute("BEGIN IMMEDIATE")
                        n = conn.execute(f"DELETE FROM {store} WHERE rowid <= ?{also}", (r[0],)).rowcount
                        conn.execute("COMMIT")
                        if n:
                            by_cause["rows"][name] = n
            except sqlite3.DatabaseError as e:
                _rollback(conn)
                raise self._write_error(f"retention on {name} in {self.path} failed: {e}", e) from None
        if max_size and max_size > 0:
            self._retain_size(max_size, by_cause["size"])
        deleted: dict[str, int] = {}
        for per in by_cause.values():
            for name, n in per.items():
                deleted[name] = deleted.get(name, 0) + n
        if deleted:
            self._checkpoint("PASSIVE")
        self.last_retention = {cause: per for cause, per in by_cause.items() if per}
        return deleted

    def _checkpoint(self, mode: str) -> None:
        """Copy the WAL into the file; best effort (a full file system may refuse it: the WAL keeps the pages)."""
        try:
            self.conn.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.DatabaseError:
            pass

    def _write_error(self, message: str, exc: BaseException) -> StoreError:
        """``message`` as :class:`StoreFull` when ``exc`` says the file system is full (nothing was dropped: the
        write was a deletion or a refresh), else as :class:`StoreError`."""
        if is_full_error(exc, self.path):
            return StoreFull(message, self.path, _full_reason(exc))
        return StoreError(message)

    def used_bytes(self) -> int:
        """Bytes of the pages in use (the file less its free pages; the WAL once checkpointed)."""
        c = self.conn
        page = c.execute("PRAGMA page_size").fetchone()[0]
        used = c.execute("PRAGMA page_count").fetchone()[0] - c.execute("PRAGMA freelist_count").fetchone()[0]
        return int(used * page)

    def _retain_size(self, max_size: int, deleted: dict[str, int]) -> None:
        """Delete the oldest events, a tenth of the events at a time, until the pages in use are under 90 % of
        ``max_size`` (rows of live processes stay)."""
        conn = self.conn
        self._checkpoint("TRUNCATE")
        timed = [t for t in self.tables.values() if t.kind != "live" and "time" in t.column_names]
        for _ in range(64):  # each pass deletes a tenth: bounded
            if self.used_bytes() <= max_size * 0.9:
                return
            (total,) = conn.execute("SELECT count(*) FROM audit_events_data").fetchone()
            cut = conn.execute(
                "SELECT time FROM audit_events_data ORDER BY rowid LIMIT 1 OFFSET ?", (max(1, total // 10),)
            ).fetchone()
            if cut is None:
                cut = conn.execute("SELECT max(time) FROM audit_events_data").fetchone()
            if cut is None or cut[0] is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                gone = 0
                for t in timed:
                    keep = getattr(t, "retention_keep", None)
                    also = f" AND ({keep})" if keep else ""
                    n = conn.execute(f"DELETE FROM {t.storage} WHERE time <= ?{also}", (cut[0],)).rowcount
                    if n:
                        deleted[t.name] = deleted.get(t.name, 0) + n
                        gone += n
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                _rollback(conn)
                raise self._write_error(f"size retention in {self.path} failed: {e}", e) from None
            self._checkpoint("TRUNCATE")
            if not gone:
                return

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
                    _rollback(conn)
                    raise self._write_error(f"cannot refresh {name} in {self.path}: {e}", e) from None
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
                try:
                    conn.execute("PRAGMA optimize")
                except sqlite3.DatabaseError:
                    pass  # statistics for the next open's planner: not worth an error (a full disk refuses them)
        finally:
            if self._native:
                self._native_present_closed = self._native.present()[0]
                self._native.close()  # its statements, before the connection
            self._native = False
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


# -- ownership, dictionaries, the upgrade of older stores ------------------------------------------------------


def check_owner(conn: sqlite3.Connection, path: str, tables: Iterable[Table]) -> None:
    """Refuse (exit code 2) a store of another program or of a newer auditsql; never touch it."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app not in (0, APPLICATION_ID):
        raise StoreError(
            f"{path} belongs to another program (SQLite application_id {app:#x}): pass --db with an auditsql "
            "store; the file is left as it is",
            2,
        )
    if app == 0:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        ours = {DICTIONARY_TABLE, SCHEDULE_TABLE} | {n for t in tables for n in (t.name, t.storage)}
        if names and not names & ours:
            shown = ", ".join(sorted(names)[:4]) + (", ..." if len(names) > 4 else "")
            raise StoreError(
                f"{path} is not an auditsql store (its tables: {shown}): pass --db with an auditsql store; the "
                "file is left as it is",
                2,
            )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer auditsql (store layout {version}; this one knows up to "
            f"{SCHEMA_VERSION}): upgrade auditsql; the file is left as it is",
            2,
        )


def keep_dictionaries(conn: sqlite3.Connection) -> None:
    """Keep in the store the dictionary new blobs are compressed with (``audit_dictionaries``)."""
    from auditsql._core import StoreFunctions

    fns = StoreFunctions()
    version = fns.newest_dictionary()
    conn.execute(f"CREATE TABLE IF NOT EXISTS {DICTIONARY_TABLE} (version INTEGER PRIMARY KEY, dict BLOB)")
    conn.execute(
        f"INSERT OR IGNORE INTO {DICTIONARY_TABLE} (version, dict) VALUES (?, ?)",
        (version, fns.dictionary(version)),
    )


#: the layout before compact events: audit_events was a table with these JSON columns
_OLD_EVENT_COLUMNS = ("summary", "sections", "raw")


def migrate_events(conn: sqlite3.Connection, path: str) -> int:
    """Upgrade ``audit_events`` of the layout before compact events, in place, inside the caller's
    transaction: every event's ``raw`` records are compressed into ``audit_events_data.blob`` (its
    ``closed_by`` and duplicates kept), then the old table goes and the view takes its name. Returns the
    events moved (0: nothing to do)."""
    from auditsql._core import RawJsonEncoder

    row = conn.execute("SELECT type FROM sqlite_master WHERE name = 'audit_events'").fetchone()
    if row is None or row[0] != "table":
        return 0
    have = [r[1] for r in conn.execute("PRAGMA table_info(audit_events)")]
    if not all(c in have for c in _OLD_EVENT_COLUMNS):
        return 0
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    t = REGISTRY["audit_events"]
    create = [s for s in t.ddl().split(";\n") if s.strip()][0]
    # a central store's (auditsql collect) has host first: kept as text, as that layout had it (then
    # migrate_lookups makes it an id)
    lead = ("host",) if "host" in have else ()
    if lead:
        create = create.replace("(\n  ", "(\n  host TEXT,\n  ", 1)
    conn.execute(create)
    conn.create_function("audit_encode", 3, RawJsonEncoder())
    (total,) = conn.execute("SELECT count(*) FROM audit_events").fetchone()
    (lo, hi) = conn.execute("SELECT min(rowid), max(rowid) FROM audit_events").fetchone()
    names = ", ".join((*lead, *t.stored_names))
    picks = ", ".join(
        (
            *lead,
            *(
                "audit_encode(raw, closed_by, json_extract(summary, '$.duplicates'))" if c == "blob" else c
                for c in t.stored_names
            ),
        )
    )
    step = _MIGRATE_STEP
    progress = _progress(path, total, "compact events")
    try:
        for start in range(lo or 0, (hi or -1) + 1, step):
            n = conn.execute(
                f"INSERT INTO {t.storage} ({names}) SELECT {picks} FROM audit_events "
                "WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
                (start, start + step),
            ).rowcount
            progress(n)
    finally:
        progress(None)
    conn.execute("DROP TABLE audit_events")
    return total


def _old_storage(conn: sqlite3.Connection, t: Table) -> str | None:
    """The table of a central store of layout 2 that holds ``t``'s rows with its lookup columns as values
    (``host`` as text): ``t``'s name, or ``NAME_data`` for a table with derived columns; None when there is
    none to upgrade."""
    old = t.name if all(c.derived is None for c in t.columns) else f"{t.name}_data"
    row = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (old,)).fetchone()
    if row is None or row[0] != "table":
        return None
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({old})")}
    return old if all(c.name in have and c.stored_name not in have for c in t.lookups) else None


def migrate_lookups(conn: sqlite3.Connection, path: str, tables: Iterable[Table]) -> int:
    """Upgrade a central store of layout 2 (``host`` as text in every row) in place, inside the caller's
    transaction: each distinct value goes once into its lookup table (``hosts``), every row is copied into
    ``NAME_data`` with the value's id (``host_id``; same rowid, same order), then the old table goes (its
    indexes with it; :meth:`Store.create_schema` makes the new ones, and the views, after). Returns the rows
    moved (0: nothing to do)."""
    todo = [(t, old) for t in tables if t.lookups and (old := _old_storage(conn, t)) is not None]
    if not todo:
        return 0
    counts = [conn.execute(f"SELECT count(*) FROM {old}").fetchone()[0] for _t, old in todo]
    progress = _progress(path, sum(counts), "host ids")
    try:
        for t, old in todo:
            for c in t.lookups:
                conn.execute(c.lookup_ddl())
                conn.execute(
                    f"INSERT INTO {c.lookup} ({c.name}) SELECT DISTINCT {c.name} FROM {old} AS o WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {c.lookup} AS k WHERE k.{c.name} IS o.{c.name})"
                )
            # the views that read the old table go (create_schema makes them again)
            for (view,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'view' AND sql LIKE ?", (f"%{old}%",)
            ).fetchall():
                conn.execute(f"DROP VIEW {view}")
            src = old
            if old == t.storage:
                src = f"{old}_v2"
                conn.execute(f"ALTER TABLE {old} RENAME TO {src}")
            conn.execute(
                next(
                    s
                    for s in t.ddl().split(";\n")
                    if s.startswith(f"CREATE TABLE IF NOT EXISTS {t.storage} ")
                )
            )
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({src})")}
            lookups = {c.stored_name: c for c in t.lookups}
            picks = ", ".join(
                f"(SELECT {n} FROM {lookups[n].lookup} WHERE {lookups[n].name} IS {src}.{lookups[n].name})"
                if n in lookups
                else (n if n in have else "NULL")
                for n in t.stored_names
            )
            names = ", ".join(t.stored_names)
            (lo, hi) = conn.execute(f"SELECT min(rowid), max(rowid) FROM {src}").fetchone()
            for start in range(lo or 0, (hi or -1) + 1, _MIGRATE_STEP):
                n = conn.execute(
                    f"INSERT INTO {t.storage} (rowid, {names}) SELECT rowid, {picks} FROM {src} "
                    "WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
                    (start, start + _MIGRATE_STEP),
                ).rowcount
                progress(n)
            conn.execute(f"DROP TABLE {src}")
    finally:
        progress(None)
    return sum(counts)


def _progress(path: str, total: int, what: str) -> Callable[[int | None], None]:
    """A progress bar on a terminal's stderr for a large upgrade (``what`` it does); else nothing. It is
    drawn at the start and after each step (not by a timer: one line per step), and cleared at the end. Call
    with the rows done in a step, with None to end."""
    import sys

    if total < _MIGRATE_PROGRESS or not sys.stderr.isatty():
        return lambda n: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(f"upgrading {os.path.basename(path)}: {what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=False,
    )
    task = bar.add_task(what, total=total)
    bar.start()

    def step(n: int | None) -> None:
        if n is None:
            bar.stop()
        else:
            bar.advance(task, n)
            bar.refresh()

    return step

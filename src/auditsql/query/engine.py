"""Read-only ad-hoc SQL over the store (``auditsql query`` and ``auditsql shell``).

* The store is opened with the URI ``file:PATH?mode=ro``, and an authorizer refuses every statement that would
  write (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, ATTACH, writing PRAGMAs...), so a query never changes the
  store, even a temporary object.
* Live tables (``audit_status``, ``audit_rules``: registry kind ``"live"``) are read from the kernel when a
  statement names them, into TEMP tables of the read-only connection. SQLite resolves an unqualified table
  name in the ``temp`` schema first, so ``SELECT * FROM audit_rules`` sees the kernel's rules of this moment
  while the store file is never written (``main.audit_rules`` still reads the copy ``auditsql run`` stored).
  Reading the kernel needs root; a failure is one line naming the table.
* A statement runs under a time limit (``DEFAULT_TIMEOUT`` seconds, ``--timeout``), enforced by an SQLite
  progress handler. The limit counts the time SQLite spends computing rows: :meth:`Engine.rows` hands rows out
  one at a time, and the time the caller takes with a row (writing it to a slow pipe, a pager) does not count.
* Rows are streamed (:meth:`Engine.rows`), never all held in memory by the engine, and no single value may grow
  beyond :data:`VALUE_LIMIT` bytes (``SQLITE_LIMIT_LENGTH``, :func:`limit_connection`: every query connection,
  the CLI's, the shell's, scheduled queries' and fleet queries').
* ``fts3_tokenizer()`` is refused (:data:`REFUSED_FUNCTIONS`): it hands out a pointer into the process and
  registers a tokenizer from any blob.
* Every failure is a ``QueryError`` whose message is one line that names the cause and the fix.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import difflib
import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from auditsql.store.functions import install as install_functions
from auditsql.store.sqlite import DEFAULT_DB, StoreError, check_owner, ro_uri

if TYPE_CHECKING:
    from auditsql.tables.registry import Table

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_TIMEOUT",
    "REFUSED_FUNCTIONS",
    "VALUE_LIMIT",
    "Engine",
    "QueryError",
    "Rows",
    "limit_connection",
    "refusal",
    "refuse_functions",
    "run_query",
    "split_statements",
]

#: seconds a statement may run before it is stopped
DEFAULT_TIMEOUT = 30.0
#: bytes a single SQL value may grow to (SQLITE_LIMIT_LENGTH) on every query connection: no zeroblob(1e9) or
#: printf('%.*c', 2e9, 'x') in memory
VALUE_LIMIT = 8 << 20
#: SQL functions no query may call, with the reason (``fts3_tokenizer('simple')`` returns a pointer into the
#: process; the two-argument form registers a tokenizer from any blob: SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
#: which Python 3.11's sqlite3 cannot turn off)
REFUSED_FUNCTIONS = {
    "fts3_tokenizer": "it reads and replaces the SQL engine's internals",
}
_PROGRESS_STEPS = 5000

_READ_ACTIONS = frozenset(
    getattr(sqlite3, n)
    for n in (
        "SQLITE_SELECT",
        "SQLITE_READ",
        "SQLITE_FUNCTION",
        "SQLITE_RECURSIVE",
        "SQLITE_TRANSACTION",
        "SQLITE_SAVEPOINT",
    )
)
#: pragmas whose argument names an object to describe rather than a value to set
_PRAGMA_ARG_READS = frozenset(
    (
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "table_list",
        "integrity_check",
        "quick_check",
        "foreign_key_check",
    )
)
#: authorizer action codes (sqlite3.h) of the statements a read-only query refuses, by the word users write
_ACTION_NAMES = {
    1: "CREATE INDEX", 2: "CREATE TABLE", 3: "CREATE INDEX", 4: "CREATE TABLE", 5: "CREATE TRIGGER",
    6: "CREATE VIEW", 7: "CREATE TRIGGER", 8: "CREATE VIEW", 9: "DELETE", 10: "DROP INDEX", 11: "DROP TABLE",
    12: "DROP INDEX", 13: "DROP TABLE", 14: "DROP TRIGGER", 15: "DROP VIEW", 16: "DROP TRIGGER", 17: "DROP VIEW",
    18: "INSERT", 19: "PRAGMA", 23: "UPDATE", 24: "ATTACH", 25: "DETACH", 26: "ALTER TABLE", 27: "REINDEX",
    28: "ANALYZE", 29: "CREATE VIRTUAL TABLE", 30: "DROP TABLE",
}  # fmt: skip
#: the schema tables: SQLite asks to UPDATE them while it sets up an eponymous virtual table (json_each,
#: pragma_table_list, dbstat) the first time a statement uses one; a user's own write to them is refused by SQLite
#: itself ("may not be modified") and by the read-only open
_SCHEMA_TABLES = frozenset(("sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"))
_T = TypeVar("_T")
_STATEMENT_WORD = re.compile(r"[A-Za-z]+")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


class QueryError(Exception):
    """A query that cannot run; ``str()`` is one line naming the cause and the fix; ``code`` the exit code (2: a
    store that is not ours to read, or written by a newer auditsql)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def limit_connection(conn: sqlite3.Connection) -> None:
    """Cap the size of one value on a query connection (``SQLITE_LIMIT_LENGTH``: :data:`VALUE_LIMIT`)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_LIMIT)


def refused_function(action: int, name: str | None) -> str | None:
    """The name of the refused SQL function (:data:`REFUSED_FUNCTIONS`) an authorizer call is about, or None."""
    if action == sqlite3.SQLITE_FUNCTION and name and name.lower() in REFUSED_FUNCTIONS:
        return name.lower()
    return None


def refusal(name: str) -> str:
    """The one-line message for a call of the refused function ``name``."""
    return f"{name}() is refused ({REFUSED_FUNCTIONS[name]}; queries only read the store)"


def refuse_functions(action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None) -> int:
    """An authorizer that refuses :data:`REFUSED_FUNCTIONS` and allows the rest (scheduled queries, whose
    connection writes TEMP views of its own)."""
    return sqlite3.SQLITE_DENY if refused_function(action, arg2) else sqlite3.SQLITE_OK


def split_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements (``;`` inside strings, identifiers and comments does not split);
    an unterminated last statement is returned as is. Statements that are only comments are dropped."""
    out: list[str] = []
    start = 0
    for i, ch in enumerate(sql):
        if ch == ";" and sqlite3.complete_statement(sql[start : i + 1]):
            _keep(out, sql[start : i + 1])
            start = i + 1
    _keep(out, sql[start:])
    return out


def _keep(out: list[str], stmt: str) -> None:
    s = stmt.strip()
    bare = re.sub(r"--[^\n]*|/\*.*?\*/|;", "", s, flags=re.S).strip()
    if bare:
        out.append(s)


def _registry() -> dict[str, Table]:
    import auditsql.tables  # noqa: F401 - importing the package fills the registry
    from auditsql.tables.registry import REGISTRY

    return dict(REGISTRY)


def _live_rows(name: str) -> list[tuple]:
    from auditsql import tables

    return list(tables.live_rows(name))  # type: ignore[attr-defined]


class Rows:
    """The rows of one statement, computed by SQLite as they are read (iterate once); ``columns``: their names.
    Reading past the time limit, or any other failure while reading, raises ``QueryError``."""

    def __init__(
        self, engine: Engine | None = None, cursor: sqlite3.Cursor | None = None, sql: str = ""
    ) -> None:
        self._engine = engine
        self._cursor = cursor
        self._sql = sql
        self.columns: list[str] = [d[0] for d in cursor.description] if cursor and cursor.description else []

    def __iter__(self) -> Iterator[tuple]:
        engine, cur = self._engine, self._cursor
        if engine is None or cur is None:
            return
        try:
            while (row := engine._step(lambda: next(cur, None), self._sql)) is not None:
                yield row
        finally:
            self.close()

    def close(self) -> None:
        """Stop the statement (its read transaction ends): rows not read yet are never computed."""
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


class Engine:
    """A read-only connection to a store for many statements (the shell); ``run_query`` uses one per call."""

    def __init__(
        self,
        db_path: str = DEFAULT_DB,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        tables: dict[str, Table] | None = None,
        live_rows: Callable[[str], list[tuple]] | None = None,
    ) -> None:
        self.db_path = db_path
        self.timeout = timeout
        self.tables = _registry() if tables is None else dict(tables)
        self._live_rows = live_rows or _live_rows
        self._deadline = float("inf")
        self._denied: str | None = None
        self._refused: str | None = None
        self._spent = 0.0
        self._refreshing = False
        self._timed_out = False
        self.conn = self._open()

    # -- connection --------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        path = self.db_path
        _check_path(path)
        try:
            conn = sqlite3.connect(ro_uri(path), uri=True, isolation_level=None, check_same_thread=False)
            conn.text_factory = _text
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            msg = str(e)
            if "not a database" in msg:
                raise QueryError(
                    f"cannot read database {path}: file is not a database (pass --db with an auditsql database)"
                ) from None
            raise QueryError(
                f"cannot read database {path}: {msg} (check the file and its directory are readable, or pass --db)"
            ) from None
        try:
            check_owner(conn, path, _registry_tables())
        except StoreError as exc:
            conn.close()
            raise QueryError(str(exc), exc.code) from None
        install_functions(conn)
        limit_connection(conn)
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._progress, _PROGRESS_STEPS)
        return conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None  # type: ignore[assignment]

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        refused = refused_function(action, arg2)
        if refused is not None:
            if self._refused is None:
                self._refused = refused
            return sqlite3.SQLITE_DENY
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SCHEMA_TABLES:
            return sqlite3.SQLITE_OK  # SQLite setting up an eponymous virtual table: nothing is written
        if self._refreshing and (db == "temp" or action == sqlite3.SQLITE_CREATE_TEMP_TABLE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg2 is None or (arg1 or "").lower() in _PRAGMA_ARG_READS):
            return sqlite3.SQLITE_OK
        if self._denied is None:
            self._denied = _ACTION_NAMES.get(action, "write")
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        if time.monotonic() > self._deadline:
            self._timed_out = True
            return 1
        return 0

    # -- running -----------------------------------------------------------------------------------------------

    def live_tables(self) -> list[str]:
        return sorted(n for n, t in self.tables.items() if t.kind == "live")

    def ddl(self, name: str) -> str:
        """The CREATE statements of the table ``name`` (the shell's ``.schema``)."""
        return self.tables[name].ddl()

    def version(self) -> str:
        """The SQL engine, for ``.version``."""
        return f"using SQLite {sqlite3.sqlite_version}"

    def execute(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run one statement; return (column names, rows), all rows in memory. Raises ``QueryError``.
        :meth:`rows` streams them instead."""
        result = self.rows(sql)
        return result.columns, list(result)

    def rows(self, sql: str) -> Rows:
        """Start one statement; its rows are computed as they are read from the returned :class:`Rows`.
        Raises ``QueryError``."""
        stmts = split_statements(sql)
        if not stmts:
            return Rows()
        if len(stmts) > 1:
            raise QueryError("bad SQL: more than one statement (run one at a time, or use `auditsql shell`)")
        sql = stmts[0]
        if self.conn is None:
            raise QueryError("the query engine is closed")
        mentioned = [n for n in self.live_tables() if re.search(rf"\b{n}\b", sql, re.I)]
        if mentioned:
            self._refresh_live(mentioned)
        self._denied = None
        self._refused = None
        self._timed_out = False
        self._spent = 0.0
        conn = self.conn
        return Rows(self, self._step(lambda: conn.execute(sql), sql), sql)

    def _step(self, work: Callable[[], _T], sql: str) -> _T:
        """Run ``work`` (SQLite computing the next row) under what is left of the statement's time limit."""
        start = time.monotonic()
        if self.timeout:
            self._deadline = start + self.timeout - self._spent
        try:
            return work()
        except sqlite3.Warning as e:  # "You can only execute one statement at a time."
            raise QueryError(f"bad SQL: {e}") from None
        except (sqlite3.DatabaseError, sqlite3.ProgrammingError) as e:
            raise QueryError(self._explain(e, sql)) from None
        finally:
            self._spent += time.monotonic() - start
            self._deadline = float("inf")

    def _refresh_live(self, names: list[str]) -> None:
        conn = self.conn
        for name in names:
            t = self.tables[name]
            try:
                rows = self._live_rows(name)
            except Exception as e:  # noqa: BLE001 - any failure of the kernel read is reported as one line
                if type(e).__name__ == "LiveTableError":  # auditsql.tables' own one-line message
                    raise QueryError(str(e)) from None
                detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
                raise QueryError(
                    f"{name}: cannot read from the kernel: {detail} (live tables need root and kernel audit "
                    f"support; main.{name} holds the copy stored by `auditsql run`)"
                ) from None
            cols = ", ".join(f"{c.name} {_affinity(c.type)}" for c in t.columns)
            self._refreshing = True
            own = not conn.in_transaction  # the shell user may have opened one with BEGIN
            try:
                conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})")
                if own:
                    conn.execute("BEGIN")
                conn.execute(f"DELETE FROM temp.{name}")
                conn.executemany(f"INSERT INTO temp.{name} VALUES ({', '.join('?' * len(t.columns))})", rows)
                if own:
                    conn.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                if own and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise QueryError(f"{name}: cannot load the kernel's rows: {e}") from None
            finally:
                self._refreshing = False

    # -- errors ------------------------------------------------------------------------------------------------

    def _explain(self, e: Exception, sql: str) -> str:
        msg = str(e)
        low = msg.lower()
        if self._refused is not None:
            return refusal(self._refused)
        if "string or blob too big" in low:
            return (
                f"a value grew beyond {VALUE_LIMIT} bytes, the limit of one value (narrow it, e.g. with substr() "
                "or a smaller count)"
            )
        if (
            self._denied is not None
            or "not authorized" in low
            or "readonly database" in low
            or "may not be modified" in low
        ):
            word = _write_word(sql) or self._denied or "write"
            return (
                f"read-only: {word} is refused (queries never change the store; rows come from `auditsql run` "
                "and `auditsql import`)"
            )
        if low == "interrupted" and not self._timed_out:
            # Ctrl-C: Python's sqlite3 swallows the KeyboardInterrupt raised in the progress handler
            return "query interrupted"
        if low == "interrupted":
            return (
                f"query stopped by the time limit of {self.timeout:g} s (narrow it with WHERE on an indexed column "
                "such as time, add LIMIT, or raise --timeout)"
            )
        m = re.match(r"no such table: (?:\w+\.)?(.+)$", msg)
        if m:
            name = m.group(1)
            known = sorted(self.tables)
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            return f"unknown table {name}: {hint}known tables: {', '.join(known)}"
        m = re.match(r"no such column: (.+)$", msg)
        if m:
            name = m.group(1)
            bare = name.rsplit(".", 1)[-1]
            used = [t for n, t in sorted(self.tables.items()) if re.search(rf"\b{n}\b", sql, re.I)]
            cands = sorted({c for t in used for c in t.column_names})
            near = difflib.get_close_matches(bare, cands, n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            where = ", ".join(f"`.schema {t.name}`" for t in used[:3]) or "`.schema`"
            return f"unknown column {name}: {hint}{where} in `auditsql shell` lists the columns"
        if "database is locked" in low or "database is busy" in low:
            return f"database {self.db_path} is locked by a writer (try again)"
        if "disk i/o error" in low or "unable to open" in low or "malformed" in low:
            return f"cannot read database {self.db_path}: {msg} (check the file, or pass --db)"
        pos = _error_offset(self.db_path, sql)
        where = f" (at character {pos + 1})" if pos is not None else ""
        return f"bad SQL: {msg}{where}"


def run_query(
    db_path: str, sql: str, *, timeout: float | None = DEFAULT_TIMEOUT
) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement against the store at ``db_path``; return (column names, rows)."""
    with Engine(db_path, timeout=timeout) as eng:
        return eng.execute(sql)


def _check_path(path: str) -> None:
    """Raise the ``QueryError`` that says why ``path`` cannot be opened as a store, if it cannot."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise QueryError(
            f"no database at {path}: run `auditsql run` or `auditsql import` first, or pass --db"
        ) from None
    except PermissionError:
        raise QueryError(_permission_denied(path)) from None
    except OSError as e:
        raise QueryError(
            f"cannot read database {path}: {e.strerror} (check the path, or pass --db)"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise QueryError(f"no database at {path}: it is a directory (pass --db with the database file)")
    if not os.access(path, os.R_OK):
        raise QueryError(_permission_denied(path))


def _permission_denied(path: str) -> str:
    return (
        f"cannot read database {path}: permission denied (the store is private to its owner: run as root, or pass "
        "--db with a database you can read)"
    )


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _affinity(t: str) -> str:
    return {"TEXT": "TEXT", "INTEGER": "INTEGER", "BIGINT": "INTEGER", "DOUBLE": "REAL"}.get(t, "")


_WRITE_WORDS = frozenset(
    (
        "INSERT",
        "REPLACE",
        "UPDATE",
        "DELETE",
        "ALTER",
        "ATTACH",
        "DETACH",
        "PRAGMA",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
    )
)
_OBJECT_WORDS = frozenset(("TABLE", "INDEX", "VIEW", "TRIGGER"))


def _write_word(sql: str) -> str | None:
    """The statement's leading keyword(s) when it is a writing statement: INSERT, CREATE TABLE, DROP INDEX..."""
    words = [w.upper() for w in _STATEMENT_WORD.findall(_COMMENTS.sub(" ", sql))[:4]]
    if not words:
        return None
    if words[0] in ("CREATE", "DROP"):
        obj = next((w for w in words[1:] if w in _OBJECT_WORDS), None)
        if "VIRTUAL" in words[1:3]:
            obj = "VIRTUAL TABLE"
        return f"{words[0]} {obj}" if obj else words[0]
    if words[0] == "ALTER":
        return "ALTER TABLE"
    return words[0] if words[0] in _WRITE_WORDS else None


# -- the error position: sqlite3_error_offset() is not exposed by Python's sqlite3 module; ask the library ----

_lib: ctypes.CDLL | None | bool = False


def _sqlite_lib() -> ctypes.CDLL | None:
    global _lib
    if _lib is False:
        _lib = None
        name = ctypes.util.find_library("sqlite3")
        if name:
            try:
                lib = ctypes.CDLL(name)
                lib.sqlite3_error_offset  # noqa: B018 - SQLite >= 3.38
            except (OSError, AttributeError):
                pass
            else:
                lib.sqlite3_open_v2.argtypes = [
                    ctypes.c_char_p,
                    ctypes.POINTER(ctypes.c_void_p),
                    ctypes.c_int,
                    ctypes.c_char_p,
                ]
                lib.sqlite3_prepare_v2.argtypes = [
                    ctypes.c_void_p,
                    ctypes.c_char_p,
                    ctypes.c_int,
                    ctypes.POINTER(ctypes.c_void_p),
                    ctypes.c_void_p,
                ]
                lib.sqlite3_error_offset.argtypes = [ctypes.c_void_p]
                lib.sqlite3_finalize.argtypes = [ctypes.c_void_p]
                lib.sqlite3_close_v2.argtypes = [ctypes.c_void_p]
                _lib = lib
    return _lib or None


def _error_offset(db_path: str, sql: str) -> int | None:
    """The character offset SQLite reports for the error in ``sql`` (prepared against the store read-only)."""
    lib = _sqlite_lib()
    if lib is None:
        return None
    db = ctypes.c_void_p()
    stmt = ctypes.c_void_p()
    raw = sql.encode("utf-8", "surrogateescape")
    try:
        if lib.sqlite3_open_v2(ro_uri(db_path).encode(), ctypes.byref(db), 0x01 | 0x40, None) != 0:
            return None
        if lib.sqlite3_prepare_v2(db, raw, len(raw), ctypes.byref(stmt), None) == 0:
            return None
        off = lib.sqlite3_error_offset(db)
    finally:
        if stmt:
            lib.sqlite3_finalize(stmt)
        if db:
            lib.sqlite3_close_v2(db)
    if off < 0:
        return None
    return len(raw[:off].decode("utf-8", "replace"))


def _registry_tables() -> list[Table]:
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    return list(REGISTRY.values())

"""Read-only SQL over the PostgreSQL central store (``auditsql query --store URL``, ``auditsql shell --store URL``).

The same interface as :class:`auditsql.query.engine.Engine` (``rows()`` streams a statement's rows with their
column names, ``tables``, ``timeout``, ``db_path``, ``ddl()``, ``version()``), so the shell and the output modes
are shared and print the same bytes for the same values.

* **Read-only, twice**: the session is opened with ``default_transaction_read_only`` (:func:`connect`), and every
  statement runs in its own ``BEGIN READ ONLY`` transaction that is rolled back when its rows are read (so even a
  ``SET`` or ``set_config()`` a statement makes does not outlive it). Only one ``SELECT``, ``WITH``, ``VALUES``,
  ``TABLE``, ``EXPLAIN`` or ``SHOW`` statement is run; anything else is refused before it is sent. The role is
  the other half: queries should use the reader role (SELECT only; docs/fleet.md).
* **Streaming**: a ``SELECT`` runs as a server-side cursor (``DECLARE ... NO SCROLL CURSOR``), read
  :data:`FETCH_ROWS` rows at a time: a result is never all in memory, and rows not read are never computed.
* **Time limit** (``--timeout``): PostgreSQL's ``statement_timeout``, set before each fetch to what is left of the
  limit, so it counts the time the server spends computing rows, as the SQLite engine's limit does, not the time
  the caller spends writing them.
* **Values** print as in SQLite: integers, reals (SQLite's text of a double), text; ``numeric`` (``sum()``,
  ``avg()``) as an integer when it has no fraction digits, else a real; a boolean as ``1``/``0``; every other
  type (timestamps, JSON, arrays...) as PostgreSQL's text for it.
* **The event blobs**: ``audit_summary(blob)`` and its siblings return a composite value
  (:data:`auditsql.store.pg.functions.DECODE_TYPE`) that is decoded here, as the row is read, by the native core
  with the dictionaries of the store's ``audit_dictionaries``: ``SELECT summary FROM audit_events`` prints what
  it prints on a SQLite store.

Every failure is a :class:`~auditsql.query.engine.QueryError` of one line; the store not being usable (server,
credentials, rights, schema version) has code 2.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from auditsql.query.engine import DEFAULT_TIMEOUT, QueryError, _write_word, split_statements
from auditsql.store.pg.connect import SCHEMA, PgError, connect, redact
from auditsql.store.pg.functions import DECODE_TYPE
from auditsql.store.pg.schema import DICTIONARY_TABLE, SCHEMA_VERSION, pg_tables, schema_version

if TYPE_CHECKING:
    import psycopg

    from auditsql.tables.registry import Table

__all__ = ["FETCH_ROWS", "PgEngine", "PgRows"]

#: rows read from the server-side cursor at a time
FETCH_ROWS = 2000
_CURSOR = "auditsql_query"
_DECLARE = f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR "
#: statements run through the cursor (streamed), and those run as they are (their output is small)
_CURSOR_WORDS = frozenset(("SELECT", "WITH", "VALUES", "TABLE"))
_PLAIN_WORDS = frozenset(("EXPLAIN", "SHOW"))
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n?|/\*.*?\*/)\s*)*(\(|[A-Za-z]+)", re.S)
#: types psycopg would load as Python objects that are printed as PostgreSQL's text instead (the others: numbers,
#: booleans, text, bytea)
_TYPED = frozenset(
    (
        "int2",
        "int4",
        "int8",
        "oid",
        "float4",
        "float8",
        "numeric",
        "bool",
        "bytea",
        "text",
        "varchar",
        "bpchar",
        "name",
    )
)
_T = TypeVar("_T")


def _psycopg() -> Any:
    import psycopg

    return psycopg


def _first(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return str(primary)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _value(v: object) -> object:
    if isinstance(v, Decimal):
        if v.is_finite() and int(v.as_tuple().exponent) >= 0:
            return int(v)
        return float(v)
    return v


class PgRows:
    """The rows of one statement, fetched from the server as they are read (iterate once); ``columns``."""

    def __init__(
        self,
        engine: PgEngine | None = None,
        columns: list[str] | None = None,
        first: list[tuple] | None = None,
        sql: str = "",
        *,
        more: bool = True,
    ) -> None:
        self._engine = engine
        self._first: list[tuple] = first or []
        self._sql = sql
        #: whether the cursor may hold more rows than the first fetch
        self._more = more and engine is not None and len(self._first) == FETCH_ROWS
        self.columns: list[str] = columns or []

    def __iter__(self) -> Iterator[tuple]:
        engine = self._engine
        if engine is None:
            return
        try:
            batch = self._first
            while True:
                for r in batch:
                    yield tuple(map(_value, r))
                if not self._more or len(batch) < FETCH_ROWS:
                    break
                batch = engine._fetch(self._sql)
        finally:
            self.close()

    def close(self) -> None:
        """End the statement's transaction: rows not read yet are never computed."""
        if self._engine is not None:
            self._engine._end()
            self._engine = None


class PgEngine:
    """A read-only session on the PostgreSQL store at ``url`` for many statements (the shell)."""

    def __init__(
        self, url: str, *, timeout: float | None = DEFAULT_TIMEOUT, tables: dict[str, Table] | None = None
    ) -> None:
        from auditsql.tables.central import central_tables

        self.url = url
        #: what the shell shows as the database: the URL without its password
        self.db_path = redact(url)
        self.timeout = timeout
        self.tables = {t.name: t for t in central_tables()} if tables is None else dict(tables)
        self._spent = 0.0
        self.conn: psycopg.Connection | None = None
        self.conn = self._open()

    # -- connection --------------------------------------------------------------------------------------------

    def _open(self) -> psycopg.Connection:
        psycopg = _psycopg()
        try:
            conn = connect(self.url, read_only=True, application="auditsql query")
        except PgError as exc:
            raise QueryError(str(exc), exc.code) from None
        try:
            self._check(conn)
            dictionaries = [
                (int(v), bytes(d)) for v, d in conn.execute(f"SELECT version, dict FROM {DICTIONARY_TABLE}")
            ]
            self._decode_blobs(conn, dictionaries)
            self._load_as_text(conn)  # after: fetching the composite's description reads oid arrays
        except psycopg.Error as exc:
            conn.close()
            raise QueryError(
                f"PostgreSQL {self.db_path}: cannot open the auditsql schema: {_first(exc)}", 2
            ) from None
        except QueryError:
            conn.close()
            raise
        return conn

    def _check(self, conn: psycopg.Connection) -> None:
        """Refuse (code 2) a database without the auditsql schema, of another version, or a role that may not read
        it."""
        psycopg = _psycopg()
        where = f"PostgreSQL {self.db_path}"
        user = conn.info.user
        fix = "grant the reader role its rights (docs/fleet.md)"
        try:
            have = schema_version(conn)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise QueryError(
                f"{where}: role {user} may not read the auditsql schema ({_first(exc)}): {fix}", 2
            ) from None
        if have == 0:
            raise QueryError(
                f"{where} holds no auditsql schema (create it once with the owner role: auditsql collect --store URL "
                "--migrate; docs/fleet.md)",
                2,
            )
        if have > SCHEMA_VERSION:
            raise QueryError(
                f"{where} holds an auditsql schema of a newer version ({have}; this auditsql knows up to "
                f"{SCHEMA_VERSION}): upgrade auditsql",
                2,
            )
        if have < SCHEMA_VERSION:
            raise QueryError(
                f"{where} holds an auditsql schema of version {have}; this auditsql reads version {SCHEMA_VERSION}: "
                "migrate it once with the owner role (auditsql collect --store URL --migrate; docs/fleet.md)",
                2,
            )
        names = sorted(
            {
                *(t.name for t in self.tables.values()),
                *(t.storage for t in self.tables.values()),
                DICTIONARY_TABLE,
            }
        )
        lacking = conn.execute(
            "SELECT n FROM unnest(%s::text[]) AS n WHERE CASE WHEN to_regclass(%s || '.' || quote_ident(n)) IS NULL "
            "THEN false ELSE NOT has_table_privilege(%s || '.' || quote_ident(n), 'SELECT') END ORDER BY n",
            (names, SCHEMA, SCHEMA),
        ).fetchall()
        if lacking:
            raise QueryError(
                f"{where}: role {user} lacks SELECT on {SCHEMA}.{lacking[0][0]}, which queries need: {fix}",
                2,
            )

    @staticmethod
    def _load_as_text(conn: psycopg.Connection) -> None:
        psycopg = _psycopg()
        from psycopg.types.string import TextLoader

        for info in psycopg.postgres.types:
            if info.name not in _TYPED:
                conn.adapters.register_loader(info.oid, TextLoader)
            if info.array_oid:
                conn.adapters.register_loader(info.array_oid, TextLoader)

    @staticmethod
    def _decode_blobs(conn: psycopg.Connection, dictionaries: list[tuple[int, bytes]]) -> None:
        """Load :data:`DECODE_TYPE` values as the text the SQLite store's functions give."""
        from psycopg.types.composite import CompositeInfo, register_composite

        from auditsql._core import StoreFunctions

        fns = StoreFunctions(dictionaries)

        def decode(fn: str | None, blob: bytes | None, rtype: str | None, field: str | None) -> object:
            if blob is None:
                return None
            if fn == "audit_raw":
                data = fns.audit_raw_bytes(blob)
                return None if data is None else data.decode("utf-8", "backslashreplace")
            if fn == "audit_field":
                return fns.audit_field(blob, rtype, field)
            return getattr(fns, str(fn))(blob)

        info = CompositeInfo.fetch(conn, DECODE_TYPE)
        if info is None:
            raise QueryError(
                f"the auditsql schema lacks the type {DECODE_TYPE} (migrate it: docs/fleet.md)", 2
            )
        register_composite(info, conn, decode)

    def close(self) -> None:
        if self.conn is not None:
            self._end()
            self.conn.close()
            self.conn = None

    def __enter__(self) -> PgEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the shell shows ----------------------------------------------------------------------------------

    def live_tables(self) -> list[str]:
        return []

    def ddl(self, name: str) -> str:
        """The table (or view) ``name`` as the PostgreSQL store holds it."""
        (t,) = pg_tables([self.tables[name]])
        return "\n".join(s + ";" for s in t.create())

    def version(self) -> str:
        server = self.conn.info.parameter_status("server_version") if self.conn is not None else None
        return f"using PostgreSQL {server or '?'} (schema {SCHEMA}, version {SCHEMA_VERSION})"

    # -- running -----------------------------------------------------------------------------------------------

    def execute(self, sql: str) -> tuple[list[str], list[tuple]]:
        result = self.rows(sql)
        return result.columns, list(result)

    def rows(self, sql: str) -> PgRows:
        """Start one statement; its rows are fetched as they are read from the returned :class:`PgRows`."""
        stmts = split_statements(sql)
        if not stmts:
            return PgRows()
        if len(stmts) > 1:
            raise QueryError("bad SQL: more than one statement (run one at a time, or use `auditsql shell`)")
        if self.conn is None:
            raise QueryError("the query engine is closed")
        sql = stmts[0].rstrip().rstrip(";").rstrip()
        m = _FIRST_WORD.match(sql)
        word = (m.group(1) if m else "").upper()
        if word not in _CURSOR_WORDS | _PLAIN_WORDS | {"("}:
            raise QueryError(_read_only(_write_word(sql) or word or "this statement"))
        self._end()
        self._spent = 0.0
        conn = self.conn
        try:
            try:
                conn.execute("BEGIN READ ONLY")
            except _psycopg().Error as exc:
                raise QueryError(self._explain(exc, sql, 0)) from None
            if word in _PLAIN_WORDS:
                cur = self._step(lambda: conn.execute(sql), sql, 0)
                columns = [d.name for d in cur.description or ()]
                rows = self._step(cur.fetchall, sql, 0) if cur.description else []
                self._end()
                return PgRows(self, columns, rows, sql, more=False) if columns else PgRows()
            self._step(lambda: conn.execute(_DECLARE + sql), sql, len(_DECLARE))
            cur = conn.cursor()
            first = self._step(
                lambda: cur.execute(f"FETCH FORWARD {FETCH_ROWS} FROM {_CURSOR}").fetchall(), sql, 0
            )
            return PgRows(self, [d.name for d in cur.description or ()], first, sql)
        except BaseException:
            self._end()
            raise

    def _fetch(self, sql: str) -> list[tuple]:
        conn = self.conn
        if conn is None:
            raise QueryError("the query engine is closed")
        cur = conn.cursor()
        return self._step(
            lambda: cur.execute(f"FETCH FORWARD {FETCH_ROWS} FROM {_CURSOR}").fetchall(), sql, 0
        )

    def _step(self, work: Callable[[], _T], sql: str, offset: int) -> _T:
        """Run ``work`` (the server computing rows) under what is left of the statement's time limit."""
        psycopg = _psycopg()
        conn = self.conn
        assert conn is not None
        if self.timeout:
            left = self.timeout - self._spent
            if left <= 0:
                raise QueryError(_timeout(self.timeout))
            ms = str(max(1, int(left * 1000)))
        else:
            ms = "0"
        start = time.monotonic()
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (ms,))
            return work()
        except psycopg.Error as exc:
            raise QueryError(self._explain(exc, sql, offset)) from None
        finally:
            self._spent += time.monotonic() - start

    def _end(self) -> None:
        """Roll the statement's transaction back (nothing it did outlives it)."""
        conn = self.conn
        if conn is None or conn.closed:
            return
        psycopg = _psycopg()
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass

    # -- errors ------------------------------------------------------------------------------------------------

    def _explain(self, exc: Exception, sql: str, offset: int) -> str:
        psycopg = _psycopg()
        errors = psycopg.errors
        msg = _first(exc)
        if isinstance(exc, errors.QueryCanceled):
            return _timeout(self.timeout or 0)
        if isinstance(exc, errors.ReadOnlySqlTransaction) or "data-modifying" in msg:
            w = re.search(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", sql, re.I)
            return _read_only(w.group(1).upper() if w else "write")
        if isinstance(exc, errors.InsufficientPrivilege):
            return f"{msg} (queries read with the reader role, which may SELECT every table of the schema: docs/fleet.md)"
        if isinstance(exc, errors.UndefinedTable):
            m = re.match(r'relation "(?:\w+\.)?(.+)" does not exist', msg)
            if m:
                name = m.group(1)
                known = sorted(self.tables)
                near = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean {near[0]}? " if near else ""
                return f"unknown table {name}: {hint}known tables: {', '.join(known)}"
        if isinstance(exc, errors.UndefinedColumn):
            m = re.match(r"column (.+) does not exist", msg)
            if m:
                name = m.group(1).replace('"', "")
                bare = name.rsplit(".", 1)[-1]
                used = [t for n, t in sorted(self.tables.items()) if re.search(rf"\b{n}\b", sql, re.I)]
                cands = sorted({c for t in used for c in t.column_names})
                near = difflib.get_close_matches(bare, cands, n=1)
                hint = f"did you mean {near[0]}? " if near else ""
                where = ", ".join(f"`.schema {t.name}`" for t in used[:3]) or "`.schema`"
                return f"unknown column {name}: {hint}{where} in `auditsql shell` lists the columns"
        if isinstance(exc, errors.UndefinedFunction):
            return f"bad SQL: {msg} (docs/fleet.md lists the SQLite functions the PostgreSQL store has, and casts)"
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not isinstance(
            exc, errors.DataError
        ):
            return f"PostgreSQL {self.db_path}: {msg} (the query was not completed)"
        pos = getattr(getattr(exc, "diag", None), "statement_position", None)
        where = ""
        if pos is not None and int(pos) > offset:
            where = f" (at character {int(pos) - offset})"
        return f"bad SQL: {msg}{where}"


def _timeout(limit: float) -> str:
    return (
        f"query stopped by the time limit of {limit:g} s (narrow it with WHERE on an indexed column such as time, "
        "add LIMIT, or raise --timeout)"
    )


def _read_only(word: str) -> str:
    return (
        f"read-only: {word} is refused (a query over the PostgreSQL store is one SELECT, WITH, VALUES, TABLE, "
        "EXPLAIN or SHOW; rows come from `auditsql collect`)"
    )

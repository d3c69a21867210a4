"""The PostgreSQL schema, derived from the table registry (declared once), with versioned migrations.

Tables
    Every table handed in (the collector's central tables: the registry's event and internal tables with
    ``host`` first, and ``query_results``) becomes a table of the same name in the schema ``auditsql``
    (``audit_events`` keeps its SQLite storage name, ``audit_events_data``: its derived columns are computed on
    read from ``blob``, and the ``audit_dictionaries`` the blobs need are kept beside it). Types follow
    :data:`PG_TYPES`.

Partitions (:mod:`auditsql.store.pg.partitions`)
    Each table is ``PARTITION BY RANGE`` on its time column (:func:`partition_column`: ``time``; ``unix_time``
    for ``query_results``; for ``process_tree``, whose rows are upserts on ``(host, node, pid,
    process_start)``, ``process_start``: a unique key must hold the partition column), with a ``DEFAULT``
    partition for rows no day partition takes (a NULL or odd timestamp never fails a batch). Day partitions
    are created on demand through :data:`PARTITION_FUNCTION`, a ``SECURITY DEFINER`` function of the schema's
    owner: a collector role needs no right to create tables.

Indexes (:func:`indexes`)
    The registry's composite indexes (``(host, time)`` on every table with a time, ``(path, time)`` ...), the
    fleet's questions (:data:`FLEET_INDEXES`: ``(remote_address, time)``, ``(path, time)`` wherever the columns
    exist), a unique index on an upsert table's key, and a BRIN index on the partition column (a few pages per
    partition: time ranges across every host). The registry's single-column indexes are left out: at a fleet's
    rate each B-tree costs writes, and the composites serve the questions asked.

Migrations (:data:`MIGRATIONS`)
    ``auditsql_schema`` records each applied version (``version``, ``applied``, ``by_role``, ``note``). At open,
    a database of a newer version is refused (exit 2, nothing touched); an older one is migrated in one
    transaction under an advisory lock, so collectors starting together migrate once. Tables, columns, indexes
    and views the registry declares but the database lacks are added in the same way (``ADD COLUMN IF NOT EXISTS``; old rows
    read NULL), without a version: the registry is the schema. Migration 2 adds the query functions
    (:mod:`auditsql.store.pg.functions`) and the ``audit_events`` view over ``audit_events_data``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditsql.store.pg import functions
from auditsql.store.pg.connect import SCHEMA, PgError

if TYPE_CHECKING:
    import psycopg

    from auditsql.tables.registry import Table

__all__ = [
    "FLEET_INDEXES",
    "MIGRATIONS",
    "PARTITION_FUNCTION",
    "PG_TYPES",
    "SCHEMA_VERSION",
    "PgTable",
    "check_rights",
    "open_schema",
    "pg_tables",
    "schema_version",
]

#: the registry's column types in PostgreSQL (SQLite's INTEGER is 64-bit signed; so is every integer here)
PG_TYPES = {
    "TEXT": "text",
    "INTEGER": "bigint",
    "BIGINT": "bigint",
    "UNSIGNED_BIGINT": "bigint",
    "DOUBLE": "double precision",
    "BLOB": "bytea",
}
#: the layout this auditsql writes; a database whose ``auditsql_schema`` says more is refused
SCHEMA_VERSION = 2
#: (column, time) indexes the fleet's questions need, wherever a table has both columns
FLEET_INDEXES = (("path", "time"), ("remote_address", "time"))
#: the function that creates day partitions on demand (``SECURITY DEFINER``: the owner's rights)
PARTITION_FUNCTION = "auditsql_partitions"
VERSION_TABLE = "auditsql_schema"
DICTIONARY_TABLE = "audit_dictionaries"
#: the collector's bookkeeping: streams, and the stream sequences committed (above the acknowledged floor)
STREAMS_TABLE = "fleet_streams"
CONSUMED_TABLE = "fleet_consumed"
#: advisory lock key of schema changes (``pg_advisory_xact_lock``): "audq" and 1
_SCHEMA_LOCK = 0x61756471_00000001


def q(name: str) -> str:
    """A quoted identifier (column names such as ``time``, ``key`` or ``type`` are PostgreSQL keywords)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class PgTable:
    """A registry table as PostgreSQL holds it."""

    name: str
    #: the table holding the rows (the registry's ``storage``)
    storage: str
    #: (name, PostgreSQL type) of the stored columns, in the registry's order
    columns: tuple[tuple[str, str], ...]
    #: the RANGE partition column, or None (not partitioned)
    partition: str | None
    #: the unique key rows are upserted on (``process_tree``), or None (rows are only inserted)
    key: tuple[str, ...] | None
    indexes: tuple[tuple[str, ...], ...]
    #: a row must meet this to be dropped by retention (``process_tree``: exited processes); None: every row
    retention_keep: str | None
    views: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def create(self) -> list[str]:
        """The statements creating the table, its DEFAULT partition, its indexes and views (idempotent)."""
        cols = ", ".join(f"{q(c)} {t}" for c, t in self.columns)
        part = f" PARTITION BY RANGE ({q(self.partition)})" if self.partition else ""
        out = [f"CREATE TABLE IF NOT EXISTS {q(self.storage)} ({cols}){part}"]
        if self.partition:
            out.append(
                f"CREATE TABLE IF NOT EXISTS {q(self.storage + '_default')} PARTITION OF {q(self.storage)} DEFAULT"
            )
        out += self.create_indexes()
        out += [f"{v}" for v in self.views]
        return out

    def index_specs(self) -> list[tuple[str, str]]:
        """(name, what follows ``ON``) of each index: the upsert key, the composites, the BRIN."""
        out = []
        if self.key:
            out.append((self.name + "_key", f"{q(self.storage)} ({', '.join(map(q, self.key))})"))
        for cols in self.indexes:
            out.append((self.name + "_" + "_".join(cols), f"{q(self.storage)} ({', '.join(map(q, cols))})"))
        if self.partition:
            out.append(
                (f"{self.name}_{self.partition}_brin", f"{q(self.storage)} USING brin ({q(self.partition)})")
            )
        return out

    def create_indexes(self) -> list[str]:
        return [
            f"CREATE {'UNIQUE ' if name.endswith('_key') else ''}INDEX IF NOT EXISTS {q(name)} ON {on}"
            for name, on in self.index_specs()
        ]

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v.split()[4] for v in self.views)  # CREATE OR REPLACE VIEW name AS ...


def partition_column(t: Table, key: tuple[str, ...] | None) -> str | None:
    """The column a table is partitioned by day on: its upsert key's time (a unique key must hold it), else
    ``time``, else ``unix_time``; None for a table with none of these."""
    if key:
        return key[-1]
    for c in ("time", "unix_time"):
        if c in t.stored_names:
            return c
    return None


def indexes(t: Table) -> tuple[tuple[str, ...], ...]:
    """The registry's composite indexes plus :data:`FLEET_INDEXES` where the table has the columns."""
    have = set(t.stored_names)
    out: list[tuple[str, ...]] = []
    for cols in (*t.indexes, *FLEET_INDEXES):
        if all(c in have for c in cols) and tuple(cols) not in out:
            out.append(tuple(cols))
    return tuple(out)


def pg_tables(tables: Iterable[Table]) -> list[PgTable]:
    """The PostgreSQL form of each table (live tables have none: they are read from a kernel)."""
    out = []
    for t in tables:
        if t.kind == "live":
            continue
        key: tuple[str, ...] | None = getattr(t, "upsert_key", None)
        if key and "host" in t.stored_names:
            key = ("host", *key)
        views = []
        if t.storage == t.name:
            for stmt in t.ddl().split(";\n"):
                stmt = stmt.strip().rstrip(";")
                if stmt.startswith("CREATE VIEW IF NOT EXISTS "):
                    views.append("CREATE OR REPLACE VIEW " + stmt[len("CREATE VIEW IF NOT EXISTS ") :])
        else:  # derived columns: the view calls the blob functions of migration 2, decoded by the query side
            picks = ", ".join(
                q(c.name) if c.derived is None else f"{c.derived} AS {q(c.name)}" for c in t.columns
            )
            views.append(f"CREATE OR REPLACE VIEW {t.name} AS SELECT {picks} FROM {q(t.storage)}")
        out.append(
            PgTable(
                name=t.name,
                storage=t.storage,
                columns=tuple((c.name, PG_TYPES[c.type]) for c in t.stored_columns),
                partition=partition_column(t, key),
                key=key,
                indexes=indexes(t),
                retention_keep=getattr(t, "retention_keep", None),
                views=tuple(views),
            )
        )
    return out


# -- migrations ------------------------------------------------------------------------------------------------

_PARTITION_FN = f"""
CREATE OR REPLACE FUNCTION {PARTITION_FUNCTION}(parent text, days bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {SCHEMA}, pg_temp AS $fn$
DECLARE
  d bigint; made integer := 0; part text; col text; lo bigint; taken boolean;
BEGIN
  SELECT a.attname INTO col FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
    WHERE n.nspname = '{SCHEMA}' AND c.relname = parent;
  IF col IS NULL THEN
    RAISE EXCEPTION 'auditsql: % is not a partitioned table of the auditsql schema', parent;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('{SCHEMA}.partitions.' || parent));
  FOREACH d IN ARRAY days LOOP
    part := parent || '_p' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD');
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN CONTINUE; END IF;
    lo := d * 86400;
    -- rows the DEFAULT partition holds for that day (kept there by retention) keep the day there
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= %s AND %I < %s)',
                   parent || '_default', col, lo, col, lo + 86400) INTO taken;
    IF taken THEN CONTINUE; END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)', part, parent, lo, lo + 86400);
    made := made + 1;
  END LOOP;
  RETURN made;
END
$fn$
"""


def _v1(conn: psycopg.Connection) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {DICTIONARY_TABLE} (version bigint PRIMARY KEY, dict bytea NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {STREAMS_TABLE} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "stream text NOT NULL, durable text NOT NULL, created text NOT NULL, floor bigint NOT NULL DEFAULT 0, "
        "UNIQUE (stream, durable, created))"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {CONSUMED_TABLE} (stream_id bigint NOT NULL REFERENCES {STREAMS_TABLE} (id) "
        "ON DELETE CASCADE, seq bigint NOT NULL, PRIMARY KEY (stream_id, seq))"
    )
    conn.execute(_PARTITION_FN)
    conn.execute(f"REVOKE ALL ON FUNCTION {PARTITION_FUNCTION}(text, bigint[]) FROM PUBLIC")


def _v2(conn: psycopg.Connection) -> None:
    for stmt in functions.statements():
        conn.execute(stmt)


#: (version, what it does, the step): applied in order, each recorded in ``auditsql_schema``
MIGRATIONS: tuple[tuple[int, str, Callable[[Any], None]], ...] = (
    (1, "bookkeeping, dictionaries and the partition function; tables from the registry", _v1),
    (
        2,
        "query functions (json_extract, datetime, strftime, unixepoch, audit_*) and the audit_events view",
        _v2,
    ),
)


def schema_version(conn: psycopg.Connection) -> int:
    """The newest version applied (0: no auditsql schema in this database)."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{VERSION_TABLE}",)).fetchone()
    if row is None or row[0] is None:
        return 0
    got = conn.execute(f"SELECT max(version) FROM {SCHEMA}.{VERSION_TABLE}").fetchone()
    return int(got[0] or 0) if got else 0


def _missing(conn: psycopg.Connection, tables: Sequence[PgTable]) -> list[str]:
    """Tables, columns, indexes and views the registry declares that the database lacks (``table``,
    ``table.column``, ``index NAME``, ``view NAME``)."""
    have: dict[str, set[str]] = {}
    for tname, cname in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s", (SCHEMA,)
    ):
        have.setdefault(tname, set()).add(cname)
    indexes = {
        n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (SCHEMA,))
    }
    views = {n for (n,) in conn.execute("SELECT viewname FROM pg_views WHERE schemaname = %s", (SCHEMA,))}
    out = []
    for t in tables:
        if t.storage not in have:
            out.append(t.storage)
            continue
        out += [f"{t.storage}.{c}" for c in t.names if c not in have[t.storage]]
        out += [f"index {n}" for n, _ in t.index_specs() if n not in indexes]
        out += [f"view {v}" for v in t.view_names if v not in views]
    return out


def open_schema(
    conn: psycopg.Connection,
    tables: Sequence[PgTable],
    where: str,
    dictionary: tuple[int, bytes] | None = None,
    say: Callable[[str], None] | None = None,
) -> int:
    """Check the version, migrate an older schema and add what the registry declares and the database lacks
    (in one transaction, under an advisory lock), keep ``dictionary``; the version. Raises :class:`PgError`
    (code 2) for a newer schema or a role that may not make the changes needed."""
    import psycopg

    try:
        have = schema_version(conn)
        current = have == SCHEMA_VERSION and not _missing(conn, tables) and _has_dictionary(conn, dictionary)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PgError(
            f"{where}: role {conn.info.user} may not read the auditsql schema ({_first(exc)}): grant the collector "
            "role its rights (docs/fleet.md)"
        ) from None
    if have > SCHEMA_VERSION:
        raise PgError(
            f"{where} holds an auditsql schema of a newer version ({have}; this auditsql knows up to "
            f"{SCHEMA_VERSION}): upgrade auditsql; the database is left as it is"
        )
    if current:
        return have
    user = conn.info.user
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{VERSION_TABLE} (version integer PRIMARY KEY, "
                "applied timestamptz NOT NULL DEFAULT now(), by_role text NOT NULL DEFAULT current_user, note text)"
            )
            have = schema_version(conn)  # again, under the lock: another collector may have migrated
            if have > SCHEMA_VERSION:
                raise PgError(
                    f"{where} holds an auditsql schema of a newer version ({have}; this auditsql knows up to "
                    f"{SCHEMA_VERSION}): upgrade auditsql; the database is left as it is"
                )
            for version, note, step in MIGRATIONS:
                if version > have:
                    step(conn)
                    conn.execute(
                        f"INSERT INTO {VERSION_TABLE} (version, note) VALUES (%s, %s)", (version, note)
                    )
                    if say is not None and have:
                        say(f"collect: {where}: schema migrated to version {version} ({note})")
            for t in tables:
                for stmt in t.create():
                    conn.execute(stmt)
                for c, typ in t.columns:
                    conn.execute(f"ALTER TABLE {q(t.storage)} ADD COLUMN IF NOT EXISTS {q(c)} {typ}")
            if dictionary is not None:
                conn.execute(
                    f"INSERT INTO {DICTIONARY_TABLE} (version, dict) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    dictionary,
                )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PgError(
            f"{where}: role {user} may not create or change the auditsql schema ({_first(exc)}): run "
            "`auditsql collect --store URL --migrate` once with the owner role (docs/fleet.md)"
        ) from None
    except psycopg.Error as exc:
        raise PgError(f"{where}: cannot create the auditsql schema: {_first(exc)}", 1) from None
    return SCHEMA_VERSION


def _has_dictionary(conn: psycopg.Connection, dictionary: tuple[int, bytes] | None) -> bool:
    if dictionary is None:
        return True
    row = conn.execute(f"SELECT 1 FROM {DICTIONARY_TABLE} WHERE version = %s", (dictionary[0],)).fetchone()
    return row is not None


def check_rights(conn: psycopg.Connection, tables: Sequence[PgTable], where: str) -> None:
    """Refuse (code 2, one line) a role that lacks a right the collector needs: INSERT on every table (UPDATE
    too on an upsert table), its bookkeeping, and EXECUTE on the partition function."""
    need: list[tuple[str, str]] = []
    for t in tables:
        need.append((t.storage, "INSERT"))
        if t.key:
            need += [(t.storage, "UPDATE"), (t.storage, "SELECT")]
    for b in (STREAMS_TABLE, CONSUMED_TABLE):
        need += [(b, p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    need += [(DICTIONARY_TABLE, "SELECT"), (DICTIONARY_TABLE, "INSERT"), (VERSION_TABLE, "SELECT")]
    user = conn.info.user
    (ok,) = conn.execute("SELECT has_schema_privilege(%s, 'USAGE')", (SCHEMA,)).fetchone()
    if not ok:
        raise PgError(
            f"{where}: role {user} lacks USAGE on the schema {SCHEMA}, which the collector needs (grant the "
            "collector role its rights: docs/fleet.md)"
        )
    for table, priv in need:
        (ok,) = conn.execute("SELECT has_table_privilege(%s, %s)", (f"{SCHEMA}.{table}", priv)).fetchone()
        if not ok:
            raise PgError(
                f"{where}: role {user} lacks {priv} on {SCHEMA}.{table}, which the collector needs (grant the "
                "collector role its rights: docs/fleet.md)"
            )
    (ok,) = conn.execute(
        "SELECT has_function_privilege(%s, 'EXECUTE')", (f"{SCHEMA}.{PARTITION_FUNCTION}(text, bigint[])",)
    ).fetchone()
    if not ok:
        raise PgError(
            f"{where}: role {user} lacks EXECUTE on {SCHEMA}.{PARTITION_FUNCTION}, which the collector needs "
            "(grant the collector role its rights: docs/fleet.md)"
        )


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__

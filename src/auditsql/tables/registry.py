"""The table registry: every SQL table is declared once here (name, columns, types, docs).

SQLite DDL, the shell's ``.schema`` and ``docs/tables.md`` are all derived from these declarations
(``Table.ddl()``, ``Table.doc()``); a test fails when the committed doc is stale.

Column types follow osquery's spec vocabulary (TEXT, INTEGER, BIGINT, UNSIGNED_BIGINT, DOUBLE); in SQLite the
three integer types are all INTEGER affinity. ``hidden`` marks osquery's hidden columns (documented, stored,
selectable by name like any other); ``extension`` marks columns auditsql adds beyond osquery's schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Column", "Table", "REGISTRY", "register", "get", "COMMON_EVENT_COLUMNS"]

_SQLITE_TYPES = {
    "TEXT": "TEXT",
    "INTEGER": "INTEGER",
    "BIGINT": "INTEGER",
    "UNSIGNED_BIGINT": "INTEGER",
    "DOUBLE": "REAL",
    "BLOB": "BLOB",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    hidden: bool = False
    extension: bool = False
    index: bool = False
    #: not stored: the SQL expression that computes it from stored columns on read (the store's functions,
    #: ``auditsql.store.functions``); a table with such columns is kept in ``NAME_data`` behind a view ``NAME``
    derived: str | None = None
    #: kept as an id into the table of this name, which holds each distinct value once (``NAME_id INTEGER
    #: PRIMARY KEY, NAME TEXT UNIQUE``): the storage table has the integer ``NAME_id``, the view joins the value
    #: back (the central store's ``host``: a few bytes a row instead of the name, and in every index on it)
    lookup: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _SQLITE_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type}")
        if self.derived is not None and self.index:
            raise ValueError(f"column {self.name}: a derived column cannot be indexed")
        if self.derived is not None and self.lookup is not None:
            raise ValueError(f"column {self.name}: a derived column has no lookup table")

    @property
    def stored_name(self) -> str:
        """The name of the column in the storage table (``NAME_id`` for a lookup column)."""
        return self.name if self.lookup is None else f"{self.name}_id"

    def lookup_ddl(self) -> str:
        """The lookup table's ``CREATE TABLE`` (a column with :attr:`lookup` only)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.lookup} (\n  {self.stored_name} INTEGER PRIMARY KEY,\n  "
            f"{self.name} {_SQLITE_TYPES[self.type]} UNIQUE\n);"
        )


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    #: "events": rows come from audit events; "live": read from the kernel when queried; "internal": counters
    kind: str = "events"
    #: the osquery table this one mirrors, if any
    osquery: str | None = None
    notes: tuple[str, ...] = field(default=())
    #: composite indexes (column tuples) for predicates people combine, e.g. ``("path", "time")`` serves
    #: ``WHERE path = ? ORDER BY time DESC`` without a sort
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column queries see, derived ones included."""
        return tuple(c.name for c in self.columns)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The columns kept in the file: a row (from the core, over NATS) holds these, in this order (a lookup
        column as its id, ``NAME_id``)."""
        return tuple(
            c
            if c.lookup is None
            else Column(c.stored_name, "INTEGER", f"The id of `{c.name}` in `{c.lookup}`")
            for c in self.columns
            if c.derived is None
        )

    @property
    def stored_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.stored_columns)

    def stored_name(self, name: str) -> str:
        """The storage table's name for the column ``name`` (a lookup column's id: ``NAME_id``)."""
        return next((c.stored_name for c in self.columns if c.name == name), name)

    @property
    def lookups(self) -> tuple[Column, ...]:
        """The columns kept as ids of a lookup table."""
        return tuple(c for c in self.columns if c.lookup is not None)

    @property
    def storage(self) -> str:
        """The SQLite table that holds the rows: the table itself, or ``NAME_data`` behind the view ``NAME``
        when some columns are derived or kept as lookup ids."""
        plain = all(c.derived is None and c.lookup is None for c in self.columns)
        return self.name if plain else f"{self.name}_data"

    def select_list(self) -> str:
        """What ``SELECT`` reads for every column, derived ones computed from the storage table (a lookup
        column comes from its lookup table, joined by :meth:`from_clause`)."""
        return ", ".join(c.name if c.derived is None else f"{c.derived} AS {c.name}" for c in self.columns)

    def from_clause(self) -> str:
        """The view's ``FROM``: the storage table, joined to each lookup table on the id (``USING``, so that
        every column keeps its bare name)."""
        joins = "".join(f" JOIN {c.lookup} USING ({c.stored_name})" for c in self.lookups)
        return f"{self.storage}{joins}"

    def ddl(self) -> str:
        store = self.storage
        cols = ",\n  ".join(f"{c.name} {_SQLITE_TYPES[c.type]}" for c in self.stored_columns)
        out = [c.lookup_ddl() for c in self.lookups]
        out.append(f"CREATE TABLE IF NOT EXISTS {store} (\n  {cols}\n);")
        for c in self.columns:
            if c.index and c.name not in self.covered:
                out.append(f"CREATE INDEX IF NOT EXISTS {self.name}_{c.name} ON {store}({c.stored_name});")
        for cols in self.indexes:
            on = ", ".join(map(self.stored_name, cols))
            out.append(f"CREATE INDEX IF NOT EXISTS {self.name}_{'_'.join(cols)} ON {store}({on});")
        if store != self.name:
            picks = self.select_list().replace(", ", ",\n  ")
            out.append(
                f"CREATE VIEW IF NOT EXISTS {self.name} AS SELECT\n  {picks}\nFROM {self.from_clause()};"
            )
        return "\n".join(out)

    @property
    def covered(self) -> frozenset[str]:
        """Indexed columns that lead a composite index: it serves their lookups, so they get no index of their
        own (one B-tree less to write per row)."""
        return frozenset(
            cols[0] for cols in self.indexes if any(c.name == cols[0] and c.index for c in self.columns)
        )

    def redundant_indexes(self) -> tuple[str, ...]:
        """Names of the single-column indexes older stores have for :attr:`covered` columns (dropped on open)."""
        return tuple(f"{self.name}_{c}" for c in sorted(self.covered))

    def insert_sql(self) -> str:
        names = ", ".join(self.stored_names)
        marks = ", ".join("?" for _ in self.stored_names)
        return f"INSERT INTO {self.storage} ({names}) VALUES ({marks})"

    def doc(self) -> str:
        lines = [f"## {self.name}", "", self.description, ""]
        if self.osquery:
            lines += [
                f"Mirrors osquery's `{self.osquery}`; columns marked *ext* are auditsql's additions.",
                "",
            ]
        lines += ["| column | type | description |", "|---|---|---|"]
        for c in self.columns:
            flags = [f for f, on in (("hidden", c.hidden), ("ext", c.extension), ("indexed", c.index)) if on]
            flags += ["derived"] if c.derived is not None else []
            tag = f" *({', '.join(flags)})*" if flags else ""
            lines.append(f"| `{c.name}` | {c.type} | {c.description}{tag} |")
        if self.indexes:
            shown = ", ".join("(" + ", ".join(f"`{c}`" for c in cols) + ")" for cols in self.indexes)
            lines += ["", f"Composite indexes: {shown}."]
        for n in self.notes:
            lines += ["", n]
        return "\n".join(lines) + "\n"


REGISTRY: dict[str, Table] = {}


def register(table: Table) -> Table:
    if table.name in REGISTRY:
        raise ValueError(f"table {table.name} declared twice")
    seen: set[str] = set()
    for c in table.columns:
        if c.name in seen:
            raise ValueError(f"table {table.name}: column {c.name} declared twice")
        seen.add(c.name)
    for cols in table.indexes:
        unknown = [c for c in cols if c not in seen]
        if unknown:
            raise ValueError(f"table {table.name}: index on unknown column(s) {', '.join(unknown)}")
    REGISTRY[table.name] = table
    return table


def get(name: str) -> Table:
    return REGISTRY[name]


#: columns every event table ends with (osquery's time/uptime/eid, plus the audit event id parts)
COMMON_EVENT_COLUMNS: tuple[Column, ...] = (
    Column(
        "time",
        "BIGINT",
        "Time of the audit event in UNIX time (the event's own timestamp; osquery stamps "
        "the time its reader saw the event)",
        index=True,
    ),
    Column("uptime", "BIGINT", "System uptime in seconds at the event (NULL for imported logs)"),
    Column(
        "eid",
        "TEXT",
        "Event ID: the audit event id `SEC.MSEC:SERIAL`, prefixed with `node:` when the "
        "record carried a node= name",
        hidden=True,
        index=True,
    ),
)

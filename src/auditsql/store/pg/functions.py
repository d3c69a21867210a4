"""SQL functions of the PostgreSQL store for queries: what osquery-style SQL written for SQLite calls.

Created in the schema ``auditsql`` by migration 2 (the owner role; :mod:`auditsql.store.pg.schema`), so every
session finds them through its ``search_path``. docs/fleet.md lists them and the differences left.

SQLite's, as far as they are cheap in SQL:

* ``json_extract(text, path)``: paths ``$``, ``$.a.b``, ``$.a[0]``; a JSON string comes back unquoted, ``true``
  and ``false`` as ``1`` and ``0``, a number or an object or array as its JSON text, a JSON ``null`` as NULL: what
  SQLite prints (tests/fleet/test_pg_json.py), but a real in exponent form (``1.5e3``; SQLite: ``1500.0``). The
  result is always ``text`` (SQLite's is typed): cast it (``CAST(json_extract(...) AS INTEGER) = 0``).
* ``datetime(unix, 'unixepoch')`` and ``datetime('now')``: ``YYYY-MM-DD HH:MM:SS`` in UTC; another modifier
  gives NULL (as an unknown one does in SQLite).
* ``strftime(format, 'now')``, ``strftime(format, unix, 'unixepoch')``: ``%Y %m %d %H %M %S %s %j %w %f %%``;
  any other conversion gives NULL. The result is ``text``, as in SQLite, but PostgreSQL does not turn text into
  a number for arithmetic: ``strftime('%s','now') - 60`` fails; write ``unixepoch() - 60`` (both stores).
* ``unixepoch()``, ``unixepoch('now')``: the current UNIX time (``bigint``).

The store's event functions (``audit_summary(blob)``, ``audit_sections(blob)``, ``audit_raw_json(blob)``,
``audit_raw(blob)``, ``audit_json(blob)``, ``audit_field(blob, type, field)``) decode the agents' zstd blobs,
which PostgreSQL cannot: here each returns a value of the composite type :data:`DECODE_TYPE` (the function's
name and its arguments) that the query side decodes in the client as the row is read
(:mod:`auditsql.query.pg`), into the same text the SQLite functions give. The ``audit_events`` view calls them
for its ``summary``, ``sections`` and ``raw`` columns. Only a result column can be decoded: SQL over the decoded
text (``WHERE json_extract(summary, ...)``) runs in SQLite stores only.
"""

from __future__ import annotations

__all__ = ["DECODE_FUNCTIONS", "DECODE_TYPE", "statements"]

#: the composite type the blob functions return: (fn, blob, rtype, field)
DECODE_TYPE = "audit_decode"
#: the blob functions (decoded by the query side), with their extra text arguments
DECODE_FUNCTIONS = {
    "audit_summary": 0,
    "audit_sections": 0,
    "audit_raw_json": 0,
    "audit_raw": 0,
    "audit_raw_bytes": 0,
    "audit_json": 0,
    "audit_field": 2,
}

_STRFTIME_AT = r"""
CREATE OR REPLACE FUNCTION auditsql_strftime_at(fmt text, ts timestamptz) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
  out text := ''; i integer := 1; n integer := length(fmt); c text;
  u timestamp := ts AT TIME ZONE 'UTC';
BEGIN
  WHILE i <= n LOOP
    c := substr(fmt, i, 1);
    IF c = '%' AND i < n THEN
      i := i + 1;
      c := substr(fmt, i, 1);
      out := out || CASE c
        WHEN 'Y' THEN to_char(u, 'YYYY') WHEN 'm' THEN to_char(u, 'MM') WHEN 'd' THEN to_char(u, 'DD')
        WHEN 'H' THEN to_char(u, 'HH24') WHEN 'M' THEN to_char(u, 'MI') WHEN 'S' THEN to_char(u, 'SS')
        WHEN 'f' THEN to_char(u, 'SS.MS') WHEN 'j' THEN to_char(u, 'DDD')
        WHEN 'w' THEN extract(dow FROM u)::integer::text
        WHEN 's' THEN floor(extract(epoch FROM ts))::bigint::text
        WHEN '%' THEN '%'
        ELSE NULL END;
    ELSE
      out := out || c;
    END IF;
    i := i + 1;
  END LOOP;
  RETURN out;
END
$fn$
"""


def _when(t: str) -> str:
    """A SQLite time value of text (``now``, or an ISO date and time in UTC) as ``timestamptz``."""
    return f"CASE WHEN lower({t}) = 'now' THEN now() ELSE ({t})::timestamp AT TIME ZONE 'UTC' END"


def statements() -> list[str]:
    """The statements creating the functions (idempotent: ``CREATE OR REPLACE``; the type once)."""
    out = [
        f"""DO $do$ BEGIN
  IF to_regtype('{DECODE_TYPE}') IS NULL THEN
    CREATE TYPE {DECODE_TYPE} AS (fn text, blob bytea, rtype text, field text);
  END IF;
END $do$""",
        """CREATE OR REPLACE FUNCTION json_extract(j text, path text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
  SELECT CASE json_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'null' THEN NULL
    WHEN 'boolean' THEN CASE WHEN v::text = 'true' THEN '1' ELSE '0' END ELSE v::text END
  FROM (SELECT j::json #> string_to_array(
          ltrim(regexp_replace(substr(path, 2), '\\[(\\d+)\\]', '.\\1', 'g'), '.'), '.') AS v) s
$fn$""",
        """CREATE OR REPLACE FUNCTION datetime(t double precision, modifier text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
  SELECT CASE WHEN lower(modifier) = 'unixepoch'
    THEN to_char(to_timestamp(floor(t)) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') END
$fn$""",
        f"""CREATE OR REPLACE FUNCTION datetime(t text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$
  SELECT to_char(({_when("t")}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
$fn$""",
        _STRFTIME_AT,
        f"""CREATE OR REPLACE FUNCTION strftime(fmt text, t text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$
  SELECT auditsql.auditsql_strftime_at(fmt, {_when("t")})
$fn$""",
        """CREATE OR REPLACE FUNCTION strftime(fmt text, t double precision, modifier text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
  SELECT CASE WHEN lower(modifier) = 'unixepoch' THEN auditsql.auditsql_strftime_at(fmt, to_timestamp(t)) END
$fn$""",
        """CREATE OR REPLACE FUNCTION unixepoch() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$ SELECT floor(extract(epoch FROM now()))::bigint $fn$""",
        f"""CREATE OR REPLACE FUNCTION unixepoch(t text) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT floor(extract(epoch FROM {_when("t")}))::bigint $fn$""",
    ]
    for name, extra in DECODE_FUNCTIONS.items():
        args = ", ".join(["b bytea", *(f"a{i} text" for i in range(extra))])
        vals = ", ".join([f"'{name}'", "b", *(f"a{i}" for i in range(extra)), *(["NULL"] * (2 - extra))])
        out.append(
            f"CREATE OR REPLACE FUNCTION {name}({args}) RETURNS {DECODE_TYPE} "
            f"LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ROW({vals})::{DECODE_TYPE} $fn$"
        )
    return out

"""`auditsql query --store` / `auditsql shell --store` against a real PostgreSQL server (tests/pgcluster.py).

- the same rows print the same bytes as over the agent's SQLite store, in every output mode, for every table
  (real captures from ../shared/corpus), `summary`, `sections`, `raw` and the blob functions included (decoded
  in the client);
- the SQLite functions the schema provides (json_extract, datetime, strftime, unixepoch) give SQLite's values;
- read-only: writes refused before they are sent, `WITH ... DELETE` refused, nothing a statement sets outlives
  it; the statement timeout; rows streamed past one fetch;
- bad input is one line: exit 2 for an unusable store (unreachable, refused credentials, no rights, no schema,
  a newer or older schema, a path given to --store, --db with --store), exit 1 for a bad statement.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from auditsql._core import Pipeline, Settings
from auditsql.query.engine import Engine, QueryError
from auditsql.query.format import MODES, render
from auditsql.query.pg import FETCH_ROWS, PgEngine
from auditsql.store.pg.connect import redact
from auditsql.store.pg.schema import SCHEMA_VERSION
from auditsql.tables.central import central_tables
from tests.corpus import CORPUS
from tests.fleet.test_central_store import agent_store_and_messages
from tests.fleet.test_fleet_e2e import AUDITSQL
from tests.fleet.test_pg_store import collector, role_url, sql
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.postgres

HOST = "web1.example.com"
CAPTURES = (
    "threathunters-io_laurel/shell-proc-trace-confusion.txt",
    "threathunters-io_laurel/record-bind-ipv4-bigendian.txt",
    "threathunters-io_laurel/record-service-start.txt",
    "threathunters-io_laurel/record-execve-long.txt",
)


def load_captures(tmp_path: Path, url: str) -> Path:
    """The real captures through an agent's pipeline into its SQLite store, and as the NATS output publishes
    them into the PostgreSQL store at ``url``; the agent's store."""
    data = b"".join((CORPUS / c).read_bytes() for c in CAPTURES)
    p = Pipeline(Settings(resolve_ids=False, events_json=False))
    rows = [*p.feed_lines(data).rows, *p.finish().rows]
    _db, msgs = agent_store_and_messages(tmp_path, rows)
    col = collector(url)
    try:
        col.write([(seq, payload) for seq, (_s, _i, payload) in enumerate(msgs, 1)])
    finally:
        col.close()
    return tmp_path / "agent.db"


def query(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [AUDITSQL, "query", *args], capture_output=True, timeout=60, input=stdin, check=False
    )


def one_line(res: subprocess.CompletedProcess[bytes]) -> str:
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def every_table_sql(name: str) -> str:
    (t,) = [t for t in central_tables() if t.name == name]
    cols = [c for c in t.column_names if c != "host"]
    order = ", ".join(f"{i} NULLS FIRST" for i in range(1, len(cols) + 1))
    return f"SELECT {', '.join(cols)} FROM {name} ORDER BY {order}"


def test_the_same_rows_print_the_same_bytes(pg_url: str, tmp_path: Path) -> None:
    agent_db = load_captures(tmp_path, pg_url)
    counts = {}
    with Engine(str(agent_db)) as lite, PgEngine(pg_url) as pg:
        for t in central_tables():
            if t.name in ("query_results", "process_tree"):
                continue  # not written by the agent's pipeline here (process_tree: off in these settings)
            stmt = every_table_sql(t.name)
            want_cols, want = lite.execute(stmt)
            got_cols, got = pg.execute(stmt)
            assert got_cols == want_cols, t.name
            counts[t.name] = len(got)
            for mode in MODES:
                assert render(got_cols, got, mode) == render(want_cols, want, mode), (t.name, mode)
        stmt = (
            "SELECT audit_raw(blob), audit_raw_bytes(blob), audit_json(blob), audit_field(blob, 'SYSCALL', 'pid'),"
            " audit_field(blob, 'EXECVE', 'a0') FROM audit_events ORDER BY eid"
        )
        assert pg.execute(stmt)[1] == lite.execute(stmt)[1]
        stmt = "SELECT host, count(*) FROM process_events GROUP BY host"
        assert pg.execute(stmt) == (["host", "count"], [(HOST, counts["process_events"])])
    assert counts == {
        "process_events": 6, "socket_events": 2, "process_file_events": 0, "user_events": 1, "selinux_events": 1,
        "apparmor_events": 0, "seccomp_events": 0, "audit_events": 75, "audit_loss": 0,
    }  # fmt: skip
    # the CLI, every format flag: the same bytes
    stmt = every_table_sql("process_events")
    for flag in ("--table", "--json", "--json_pretty", "--csv", "--list", "--line"):
        lite_out = query("--db", str(agent_db), flag, stmt)
        pg_out = query("--store", pg_url, flag, stmt)
        assert pg_out.returncode == 0 and pg_out.stderr == b"", pg_out.stderr
        assert pg_out.stdout == lite_out.stdout, flag
    # summary, sections, raw: decoded in the client
    stmt = "SELECT eid, type, summary, sections, raw FROM audit_events ORDER BY eid"
    assert (
        query("--store", pg_url, "--json", stmt).stdout == query("--db", str(agent_db), "--json", stmt).stdout
    )


def test_the_sqlite_functions_the_schema_provides(pg_url: str, tmp_path: Path) -> None:
    agent_db = load_captures(tmp_path, pg_url)
    doc = '{"a":{"b":[1,"x",{"c":null,"d":true,"e":2.5}]},"s":"t\\"q"}'
    exprs = [
        *(
            f"json_extract('{doc}', '{p}')"
            for p in ("$", "$.a", "$.a.b[1]", "$.a.b[2].c", "$.a.b[2]", "$.zz", "$.s", "$.a.b[9]")
        ),
        "datetime(1700000000, 'unixepoch')",
        "datetime(1700000000.9, 'unixepoch')",
        "datetime(1700000000, 'bogus')",
        "strftime('%Y-%m-%d %H:%M:%S %j %w %% %s', 1700000000, 'unixepoch')",
        "strftime('%Y-%m-%dT%H:%M:%f', 1700000000.25, 'unixepoch')",
        "strftime('%d/%m', '2024-02-29 10:11:12')",
        "datetime('2024-02-29 10:11:12')",
    ]
    stmt = "SELECT " + ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
    with Engine(str(agent_db)) as lite, PgEngine(pg_url) as pg:
        want = lite.execute(stmt)
        got = pg.execute(stmt)
        assert render(*got, "line") == render(*want, "line")
        assert got[1] == [
            (doc, '{"b":[1,"x",{"c":null,"d":true,"e":2.5}]}', "x", None, '{"c":null,"d":true,"e":2.5}', None,
             't"q', None, "2023-11-14 22:13:20", "2023-11-14 22:13:20", None,
             "2023-11-14 22:13:20 318 2 % 1700000000", "2023-11-14T22:13:20.250", "29/02", "2024-02-29 10:11:12")
        ]  # fmt: skip
        # the portable forms docs/fleet.md gives where the two differ
        portable = (
            "SELECT CAST(json_extract('{\"n\":0}', '$.n') AS INTEGER) = 0 AS a, CAST(86400 AS BIGINT) * 365 * 100 AS b,"
            " lower('ABC') LIKE 'abc' AS c, coalesce(NULL, 'x') AS d, 'a' || 'b' AS e"
        )
        assert pg.execute(portable) == lite.execute(portable)
        assert render(*pg.execute(portable), "csv", separator=",") == "a,b,c,d,e\n1,3153600000,1,x,ab\n"
        # the current time: the same second (or the next) in both
        now = "SELECT unixepoch(), unixepoch('now'), strftime('%s', 'now'), datetime('now')"
        (lt,) = lite.execute(now)[1]
        (pt,) = pg.execute(now)[1]
        assert 0 <= pt[0] - lt[0] <= 2 and pt[1] == pt[0] and int(pt[2]) == pt[0]
        assert pt[3] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(pt[0]))
        # a fleet question written once for both stores
        q = (
            "SELECT host, count(*) AS n FROM process_events WHERE time > unixepoch() - 86400 * 365 * 50 "
            "GROUP BY host"
        )
        assert pg.execute(q) == (["host", "n"], [(HOST, 6)])


def test_postgresql_values_print_as_text(pg_url: str, tmp_path: Path) -> None:
    load_captures(tmp_path, pg_url)
    with PgEngine(pg_url) as pg:
        cols, rows = pg.execute(
            "SELECT sum(pid) AS s, avg(2::bigint) AS a, 7::numeric / 2 AS h, true AS t, false AS f, "
            "'2024-02-29 10:11:12+00'::timestamptz AS ts, '{\"k\": [1, 2]}'::json AS j, ARRAY['a', 'b'] AS arr, "
            "NULL::text AS n, 1.5::real AS r, 0.1::float8 + 0.2 AS d FROM process_events"
        )
        assert render(cols, rows, "line").splitlines() == [
            "    s = 21983",
            "    a = 2.0",
            "    h = 3.5",
            "    t = 1",
            "    f = 0",
            "   ts = 2024-02-29 10:11:12+00",
            '    j = {"k": [1, 2]}',
            "  arr = {a,b}",
            "    n = ",
            "    r = 1.5",
            "    d = 0.3",
        ]


def test_read_only_streaming_and_the_time_limit(pg_url: str, tmp_path: Path) -> None:
    load_captures(tmp_path, pg_url)
    with PgEngine(pg_url, timeout=0.5) as pg:
        for stmt, word in (
            ("DELETE FROM process_events", "DELETE"),
            ("insert into process_events (host) values ('x')", "INSERT"),
            ("WITH x AS (DELETE FROM process_events RETURNING 1) SELECT * FROM x", "DELETE"),
            ("CREATE TABLE t (a int)", "CREATE TABLE"),
            ("SET default_transaction_read_only = off", "SET"),
            ("COMMIT", "COMMIT"),
            ("COPY process_events TO STDOUT", "COPY"),
        ):
            with pytest.raises(QueryError) as err:
                list(pg.rows(stmt))
            assert str(err.value) == (
                f"read-only: {word} is refused (a query over the PostgreSQL store is one SELECT, WITH, VALUES, "
                "TABLE, EXPLAIN or SHOW; rows come from `auditsql collect`)"
            )
        # what a statement sets is rolled back with it
        assert pg.execute("SELECT set_config('default_transaction_read_only', 'off', false)")[1] == [("off",)]
        assert pg.execute("SHOW transaction_read_only")[1] == [("on",)]
        assert pg.execute("SELECT count(*) FROM process_events")[1] == [(6,)]
        # streamed: more rows than one fetch, in order; a result left half read ends its transaction
        rows = pg.rows(f"SELECT g FROM generate_series(1, {FETCH_ROWS * 2 + 7}) g")
        assert rows.columns == ["g"]
        assert list(rows) == [(i,) for i in range(1, FETCH_ROWS * 2 + 8)]
        rows = pg.rows("SELECT g FROM generate_series(1, 100000) g")
        it = iter(rows)
        assert next(it) == (1,)
        rows.close()
        assert pg.conn is not None and pg.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        # the time limit
        with pytest.raises(QueryError) as err:
            list(pg.rows("SELECT pg_sleep(2)"))
        assert str(err.value) == (
            "query stopped by the time limit of 0.5 s (narrow it with WHERE on an indexed column such as time, add "
            "LIMIT, or raise --timeout)"
        )
        assert pg.execute("SELECT 1 AS one")[1] == [(1,)]  # the session goes on
        # EXPLAIN and SHOW run as they are
        assert pg.execute("SHOW search_path") == (["search_path"], [("auditsql",)])
        assert pg.execute("EXPLAIN SELECT * FROM process_events WHERE path = 'x'")[0] == ["QUERY PLAN"]
        # errors a user meets: one line
        for stmt, msg in (
            (
                "SELECT * FROM proces_events",
                "unknown table proces_events: did you mean process_events? known tables: ",
            ),
            (
                "SELECT pdi FROM process_events",
                "unknown column pdi: did you mean pid? `.schema process_events` in ",
            ),
            ("SELECT 1 FROM", "bad SQL: syntax error at end of input (at character 14)"),
            (
                "SELECT 1; SELECT 2",
                "bad SQL: more than one statement (run one at a time, or use `auditsql shell`)",
            ),
            (
                "SELECT json_extract(summary, '$.x') FROM audit_events",
                "bad SQL: function json_extract(audit_decode",
            ),
        ):
            with pytest.raises(QueryError) as err:
                list(pg.rows(stmt))
            assert str(err.value).startswith(msg), str(err.value)
            assert "\n" not in str(err.value)


def test_a_connection_lost_is_one_line(pg_url: str, tmp_path: Path) -> None:
    load_captures(tmp_path, pg_url)
    with PgEngine(pg_url) as pg:
        assert pg.conn is not None
        backend = pg.conn.info.backend_pid
        assert sql(pg_url, "SELECT pg_terminate_backend(%s)", (backend,)) == [(True,)]
        for _ in range(2):
            with pytest.raises(QueryError) as err:
                list(pg.rows("SELECT count(*) FROM process_events"))
            assert str(err.value).startswith(f"PostgreSQL {redact(pg_url)}: ")
            assert str(err.value).endswith(" (the query was not completed)")
            assert "\n" not in str(err.value)


def test_cli_errors_are_one_line(pg_cluster: PgCluster, pg_url: str, tmp_path: Path) -> None:
    res = query("--store", pg_url, "SELECT 1")
    assert res.returncode == 2
    assert one_line(res) == (
        f"auditsql: PostgreSQL {redact(pg_url)} holds no auditsql schema (create it once with the owner role: "
        "auditsql collect --store URL --migrate; docs/fleet.md)"
    )
    agent_db = load_captures(tmp_path, pg_url)
    closed = f"postgresql://u:pw@127.0.0.1:{pg_cluster.port + 1 if pg_cluster.port < 65535 else 1}/x"
    wrong = pg_cluster.url(password="wrong", db=pg_url.rsplit("/", 1)[1])
    for args, code, line in (
        (("--store", closed, "SELECT 1"), 2,
         f"auditsql: PostgreSQL {redact(closed)}: connection refused (is the server running and listening there?)"),
        (("--store", wrong, "SELECT 1"), 2,
         f"auditsql: PostgreSQL {redact(wrong)}: the server refused the credentials (password authentication failed "
         'for user "postgres") (fix the user and password in the URL)'),
        (("--store", "/tmp/central.db", "SELECT 1"), 2,
         "auditsql: --store takes a postgresql:// URL (got '/tmp/central.db'); a SQLite file is --db FILE"),
        (("--store", pg_url, "--db", "/tmp/x.db", "SELECT 1"), 2,
         "auditsql: --db and --store are both given: read one store (--db FILE for SQLite, --store URL for "
         "PostgreSQL)"),
        (("--store", pg_url, "DROP TABLE process_events"), 1,
         "auditsql: read-only: DROP TABLE is refused (a query over the PostgreSQL store is one SELECT, WITH, VALUES, "
         "TABLE, EXPLAIN or SHOW; rows come from `auditsql collect`)"),
        (("--store", pg_url, "--timeout", "0.3", "SELECT pg_sleep(3)"), 1,
         "auditsql: query stopped by the time limit of 0.3 s (narrow it with WHERE on an indexed column such as "
         "time, add LIMIT, or raise --timeout)"),
    ):  # fmt: skip
        res = query(*args)
        assert (res.returncode, one_line(res)) == (code, line)
        assert b"wrong" not in res.stderr
    stdin = b"SELECT pid, path FROM process_events ORDER BY pid LIMIT 2;"
    res = query("--store", pg_url, "--csv", "-", stdin=stdin)
    assert res.returncode == 0
    assert res.stdout == query("--db", str(agent_db), "--csv", "-", stdin=stdin).stdout
    assert res.stdout.startswith(b"pid|path\n2542|")
    # schema versions: a newer one, an older one
    sql(pg_url, f"INSERT INTO auditsql_schema (version, note) VALUES ({SCHEMA_VERSION + 1}, 'the future')")
    res = query("--store", pg_url, "SELECT 1")
    assert (res.returncode, one_line(res)) == (
        2,
        f"auditsql: PostgreSQL {redact(pg_url)} holds an auditsql schema of a newer version ({SCHEMA_VERSION + 1}; "
        f"this auditsql knows up to {SCHEMA_VERSION}): upgrade auditsql",
    )
    sql(pg_url, f"DELETE FROM auditsql_schema WHERE version >= {SCHEMA_VERSION}")
    res = query("--store", pg_url, "SELECT 1")
    assert (res.returncode, one_line(res)) == (
        2,
        f"auditsql: PostgreSQL {redact(pg_url)} holds an auditsql schema of version {SCHEMA_VERSION - 1}; this "
        f"auditsql reads version {SCHEMA_VERSION}: migrate it once with the owner role (auditsql collect --store URL "
        "--migrate; docs/fleet.md)",
    )


def test_the_reader_role_and_a_role_without_rights(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    load_captures(tmp_path, pg_url)
    db = pg_url.rsplit("/", 1)[1]
    r, n = f"{db}_reader", f"{db}_nobody"
    for role in (r, n):
        pg_cluster.psql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
    pg_cluster.psql(
        f"GRANT USAGE ON SCHEMA auditsql TO {r}, {n}; GRANT SELECT ON ALL TABLES IN SCHEMA auditsql TO {r};"
        f"GRANT SELECT ON auditsql.auditsql_schema TO {n};"
        f"ALTER ROLE {r} SET default_transaction_read_only = on;",
        db=db,
    )
    res = query(
        "--store", role_url(pg_cluster, pg_url, r), "--list", "SELECT count(*) AS n FROM audit_events"
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, b"n\n75\n", b"")
    res = query("--store", role_url(pg_cluster, pg_url, n), "SELECT 1")
    assert (res.returncode, one_line(res)) == (
        2,
        f"auditsql: PostgreSQL {redact(role_url(pg_cluster, pg_url, n))}: role {n} lacks SELECT on "
        "auditsql.apparmor_events, which queries need: grant the reader role its rights (docs/fleet.md)",
    )
    pg_cluster.psql(f"REVOKE SELECT ON auditsql.auditsql_schema FROM {n}", db=db)
    res = query("--store", role_url(pg_cluster, pg_url, n), "SELECT 1")
    assert (res.returncode, one_line(res)) == (
        2,
        f"auditsql: PostgreSQL {redact(role_url(pg_cluster, pg_url, n))}: role {n} may not read the auditsql schema "
        "(permission denied for table auditsql_schema): grant the reader role its rights (docs/fleet.md)",
    )
    pg_cluster.psql(f"REVOKE USAGE ON SCHEMA auditsql FROM {n}", db=db)
    res = query("--store", role_url(pg_cluster, pg_url, n), "SELECT 1")
    assert res.returncode == 2
    assert one_line(res).startswith(
        f"auditsql: PostgreSQL {redact(role_url(pg_cluster, pg_url, n))}: role {n} may not read the auditsql schema ("
    )


def test_the_shell_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    load_captures(tmp_path, pg_url)
    res = subprocess.run(
        [AUDITSQL, "shell", "--store", pg_url, "--list"],
        input=b".tables process\n.version\nSELECT pid FROM process_events ORDER BY pid\n LIMIT 1;\nSELECT nope;\n"
        b".schema query_results\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    out = res.stdout.decode().splitlines()
    assert res.returncode == 1  # one statement failed
    assert res.stderr.decode().splitlines() == [
        "auditsql: unknown column nope: `.schema` in `auditsql shell` lists the columns"
    ]
    assert out[:3] == ["  => process_events", "  => process_file_events", "  => process_tree"]
    assert out[4].startswith("using PostgreSQL ") and out[4].endswith(
        f"(schema auditsql, version {SCHEMA_VERSION})"
    )
    assert out[5:7] == ["pid", "2542"]
    assert out[7] == (
        'CREATE TABLE IF NOT EXISTS "query_results" ("host" text, "name" text, "action" text, "unix_time" bigint, '
        '"counter" bigint, "line" text) PARTITION BY RANGE ("unix_time");'
    )

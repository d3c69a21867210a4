"""The PostgreSQL central store against a real server (a private cluster, tests/pgcluster.py), without NATS: the
agents' messages are encoded by the NATS output and handed to the collector's writer, the path a fetched batch
takes.

- the schema from the registry: `host` first, types, day partitions and DEFAULT, indexes, the version table;
- each message once: a redelivered batch stores nothing; two collectors claiming overlapping batches at once
  store each message once; the rows equal the agent's own store;
- odd timestamps land in DEFAULT; `process_tree` upserts keep each process's last row;
- retention drops whole partitions and books one `audit_loss` row per partition;
- bad input is one line and exit 2: unreachable server, refused credentials, a missing database, a newer
  schema, a role without the rights it needs; the read-only session of the query side refuses writes.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from auditsql.fleet.collector import Collector, central_tables
from auditsql.fleet.connect import NatsOptions
from auditsql.fleet.pg_sink import PgSink
from auditsql.outputs import nats as nats_output
from auditsql.store.pg.connect import PgError, connect, redact
from auditsql.store.pg.partitions import DAY
from auditsql.store.pg.schema import PG_TYPES, SCHEMA_VERSION, _missing
from tests import storedb
from tests.fleet.test_central_store import HOST, agent_rows, agent_store_and_messages
from tests.fleet.test_fleet_e2e import AUDITSQL
from tests.pgcluster import PgCluster

NOW = int(time.time())

pytestmark = pytest.mark.postgres


def sql(url: str, query: str, args: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True, options="-c search_path=auditsql") as c:
        cur = c.execute(query, args or None)
        return cur.fetchall() if cur.description else []


def agent_messages(tmp_path: Path) -> tuple[Path, list[tuple[int, bytes]]]:
    """The agent's store of three exec events, and the NATS messages it publishes for them (seq, payload)."""
    _lines, rows = agent_rows()
    db, msgs = agent_store_and_messages(tmp_path, rows)
    return db, [(seq, payload) for seq, (_s, _i, payload) in enumerate(msgs, 1)]


def collector(url: str, **kw: object) -> Collector:
    col = Collector(NatsOptions(), "/nonexistent/central.db", store=url, **kw)  # type: ignore[arg-type]
    col.open_store()
    assert col.pg is not None
    col.pg.attach("AUDITSQL", "auditsql-collector", "2026-01-01T00:00:00")
    return col


def row(table: str, **values: object) -> tuple:
    """A central row of ``table`` (host first) with these columns set, the others NULL."""
    (t,) = [t for t in central_tables() if t.name == table]
    return tuple(values.get(c) for c in t.stored_names)


def rows_message(table: str, rows: list[tuple], host: str = "h1") -> bytes:
    """A message as the NATS output encodes it, from central rows (host first)."""
    (t,) = [t for t in central_tables() if t.name == table]
    cols = list(t.stored_names[1:])
    return nats_output.dumps(
        {
            "v": 1,
            "host": host,
            "table": table,
            "ts": time.time(),
            "columns": cols,
            "rows": [list(r[1:]) for r in rows],
        }
    )


def test_the_schema_comes_from_the_registry(pg_url: str) -> None:
    col = collector(pg_url)
    col.close()
    tables = [t for t in central_tables()]
    got = {
        name: kind
        for name, kind in sql(
            pg_url,
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'auditsql' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition",
        )
    }
    assert got == {
        **{t.storage: "p" for t in tables},
        "process_ancestry": "v",
        "audit_events": "v",
        "audit_dictionaries": "r",
        "fleet_streams": "r",
        "fleet_consumed": "r",
        "auditsql_schema": "r",
    }
    for t in tables:
        cols = sql(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'auditsql' "
            "AND table_name = %s ORDER BY ordinal_position",
            (t.storage,),
        )
        assert cols == [(c.name, PG_TYPES[c.type]) for c in t.stored_columns]
        assert cols[0] == ("host", "text")
    # partitioned by day: on time (unix_time for query_results, process_start for the upsert key of process_tree)
    keys = dict(
        sql(
            pg_url,
            "SELECT c.relname, a.attname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0] WHERE p.partstrat = 'r'",
        )
    )
    assert keys == {
        **{t.storage: "time" for t in tables if t.name not in ("query_results", "process_tree")},
        "query_results": "unix_time",
        "process_tree": "process_start",
    }
    defaults = {n for (n,) in sql(pg_url, "SELECT relname FROM pg_class WHERE relname LIKE '%\\_default'")}
    assert defaults == {f"{t.storage}_default" for t in tables}
    idx = {
        (t, i)
        for t, i in sql(pg_url, "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'auditsql'")
    }
    for want in [
        ("process_events", "process_events_host_time"),
        ("process_events", "process_events_path_time"),
        ("socket_events", "socket_events_remote_address_time"),
        ("socket_events", "socket_events_host_time"),
        ("process_file_events", "process_file_events_path_time"),
        ("audit_events_data", "audit_events_host_time"),
        ("process_tree", "process_tree_key"),
        ("process_events", "process_events_time_brin"),
    ]:
        assert want in idx
    assert sql(pg_url, "SELECT version, by_role FROM auditsql_schema ORDER BY version") == [
        (v, "postgres") for v in range(1, SCHEMA_VERSION + 1)
    ]
    from auditsql._core import StoreFunctions

    fns = StoreFunctions()
    v = fns.newest_dictionary()
    assert sql(pg_url, "SELECT version, dict FROM audit_dictionaries") == [(v, fns.dictionary(v))]
    # opening again changes nothing
    collector(pg_url).close()
    assert sql(pg_url, "SELECT count(*) FROM auditsql_schema") == [(SCHEMA_VERSION,)]
    # what the registry declares and the database lacks is added at open (a newer auditsql, same version)
    sql(pg_url, "DROP INDEX process_events_path_time; DROP VIEW process_ancestry")
    sql(pg_url, 'ALTER TABLE process_events DROP COLUMN "cwd"')
    sink = PgSink(pg_url, central_tables())
    assert sink.conn is None
    sink.open()
    try:
        assert sink.conn is not None and _missing(sink.conn, list(sink.tables.values())) == []
    finally:
        sink.close()
    assert sql(pg_url, "SELECT count(*) FROM pg_views WHERE viewname = 'process_ancestry'") == [(1,)]
    assert sql(pg_url, "SELECT count(*) FROM auditsql_schema") == [(SCHEMA_VERSION,)]


def test_batches_land_once_and_equal_the_agents_store(pg_url: str, tmp_path: Path) -> None:
    agent_db, msgs = agent_messages(tmp_path)
    col = collector(pg_url)
    try:
        assert col.write(msgs) == 2
        assert col.write(msgs) == 0  # the batch redelivered (killed after the commit, before the acks)
        assert col.stats["skipped"] == 2
        assert col.write([(3, msgs[0][1])]) == 1  # another sequence: another message
    finally:
        col.close()
    a = storedb.connect(agent_db)
    try:
        for table in ("process_events", "audit_events_data"):
            names = [r[1] for r in a.execute(f"PRAGMA table_info({table})")]
            cols = ", ".join(f'"{n}"' for n in names)
            mine = a.execute(f"SELECT {cols} FROM {table} ORDER BY eid").fetchall()
            central = sql(pg_url, f"SELECT {cols} FROM {table} WHERE host = %s ORDER BY eid", (HOST,))
            if table == "audit_events_data":  # seq 3 was its message again
                assert central == sorted(mine * 2, key=lambda r: r[names.index("eid")])
            else:
                assert central == mine and len(mine) == 3
    finally:
        a.close()
    # the agents' rows are of 2023-11-14: that day's partition holds them
    assert sql(pg_url, "SELECT count(*) FROM process_events_p20231114") == [(3,)]
    assert sql(pg_url, "SELECT count(*) FROM process_events_default") == [(0,)]
    assert sql(pg_url, "SELECT count(*) FROM fleet_consumed") == [(3,)]


def test_odd_timestamps_land_in_default(pg_url: str) -> None:
    rows = [
        row("process_events", host="h1", pid=i, time=t) for i, t in enumerate([None, -5, 10**12, NOW, 10**18])
    ]
    col = collector(pg_url)
    try:
        assert col.write([(1, rows_message("process_events", rows))]) == 1
    finally:
        col.close()
    assert sql(pg_url, "SELECT pid FROM process_events_default ORDER BY pid") == [(0,), (1,), (2,), (4,)]
    today = time.strftime("%Y%m%d", time.gmtime(NOW))
    assert sql(pg_url, f"SELECT pid FROM process_events_p{today}") == [(3,)]


def test_bad_strings_are_escaped_not_a_stuck_batch(pg_url: str) -> None:
    rows = [row("process_events", host="h1", pid=1, time=NOW, path="/tmp/a\udcff\x00b", cmdline="ok")]
    good = [row("process_events", host="h1", pid=2, time=NOW, path="/bin/true")]
    col = collector(pg_url)
    try:
        assert (
            col.write([(1, rows_message("process_events", rows)), (2, rows_message("process_events", good))])
            == 2
        )
    finally:
        col.close()
    assert sql(pg_url, "SELECT pid, path FROM process_events ORDER BY pid") == [
        (1, "/tmp/a\\udcff\\x00b"),
        (2, "/bin/true"),
    ]


def test_a_message_postgresql_refuses_is_counted_not_a_stuck_stream(pg_url: str) -> None:
    refused = [row("process_events", host="h1", pid=1, time="yesterday")]  # text in a bigint column
    good = [row("process_events", host="h1", pid=2, time=NOW)]
    said: list[str] = []
    col = collector(pg_url, say=said.append)
    try:
        msgs = [(1, rows_message("process_events", refused)), (2, rows_message("process_events", good))]
        assert col.write(msgs) == 1
        assert (col.stats["bad"], col.stats["messages"]) == (1, 1)
        assert col.write(msgs) == 0  # both claimed: acknowledged, never retried
    finally:
        col.close()
    assert said == ["collect: messages PostgreSQL refuses are skipped and counted as undecodable"]
    assert sql(pg_url, "SELECT pid FROM process_events") == [(2,)]
    assert sql(pg_url, "SELECT seq FROM fleet_consumed ORDER BY seq") == [(1,), (2,)]


def test_concurrent_collectors_store_each_message_once(pg_url: str) -> None:
    """Two sinks (two collectors) commit overlapping batches at the same time, as redeliveries make them."""
    n = 300
    msgs = {
        s: rows_message("process_events", [row("process_events", host="h1", pid=s, time=NOW)])
        for s in range(1, n + 1)
    }
    rng = random.Random(7)
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        r = random.Random(seed)
        col = collector(pg_url)
        try:
            order = list(msgs)
            r.shuffle(order)
            for i in range(0, n, 25):
                batch = order[i : i + 25] + r.sample(order, 10)  # and some others' messages again
                col.write([(s, msgs[s]) for s in batch])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            col.close()

    threads = [threading.Thread(target=run, args=(rng.random(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sql(pg_url, "SELECT count(*), count(DISTINCT pid), min(pid), max(pid) FROM process_events") == [
        (n, n, 1, n)
    ]


def test_prune_below_the_ack_floor_still_skips(pg_url: str) -> None:
    msg = rows_message("process_events", [row("process_events", host="h1", pid=1, time=NOW)])
    col = collector(pg_url)
    try:
        assert col.write([(s, msg) for s in range(1, 11)]) == 10
        assert col.pg is not None
        col.pg.prune(8)
        assert sql(pg_url, "SELECT seq FROM fleet_consumed ORDER BY seq") == [(9,), (10,)]
        assert sql(pg_url, "SELECT floor FROM fleet_streams") == [(8,)]
        assert col.write([(s, msg) for s in range(1, 12)]) == 1  # 1-8 below the floor, 9-10 claimed: only 11
    finally:
        col.close()
    assert sql(pg_url, "SELECT count(*) FROM process_events") == [(11,)]


def test_a_stream_created_anew_restarts_its_sequences(pg_url: str) -> None:
    msg = rows_message("process_events", [row("process_events", host="h1", pid=1, time=NOW)])
    said: list[str] = []
    col = collector(pg_url, say=said.append)
    try:
        assert col.write([(1, msg)]) == 1
        assert col.pg is not None
        col.pg.attach("AUDITSQL", "auditsql-collector", "2026-02-02T00:00:00")
        assert col.write([(1, msg)]) == 1
    finally:
        col.close()
    assert said == [
        "collect: the stream AUDITSQL was created anew (2026-02-02T00:00:00; was 2026-01-01T00:00:00): its "
        "sequences restart"
    ]
    assert sql(pg_url, "SELECT count(*) FROM fleet_streams") == [(1,)]


def test_process_tree_rows_are_upserts(pg_url: str) -> None:
    start = NOW - 100.5

    def proc(pid: int, **kw: object) -> tuple:
        return row("process_tree", host="h1", node="", pid=pid, process_start=start, time=NOW, **kw)

    col = collector(pg_url)
    try:
        col.write([(1, rows_message("process_tree", [proc(1, cmdline="a"), proc(2), proc(1, cmdline="b")]))])
        col.write(
            [(2, rows_message("process_tree", [proc(2, exit_time=float(NOW), exit_source="exit_group")]))]
        )
        col.write([(3, rows_message("process_tree", [proc(2)], host="h2"))])
        # an older state of h1's pid 1 committed late (another collector's batch) does not overwrite the newer
        old = row(
            "process_tree", host="h1", node="", pid=1, process_start=start, time=NOW - 50, cmdline="old"
        )
        col.write([(4, rows_message("process_tree", [old]))])
    finally:
        col.close()
    assert sql(pg_url, "SELECT host, pid, cmdline, exit_time FROM process_tree ORDER BY host, pid") == [
        ("h1", 1, "b", None),
        ("h1", 2, None, float(NOW)),
        ("h2", 2, None, None),
    ]


def test_retention_drops_whole_partitions_and_books_audit_loss(pg_url: str) -> None:
    old, older, recent = NOW - 10 * DAY, NOW - 40 * DAY, NOW - DAY
    ev = [
        row("process_events", host="h1", pid=i, time=t)
        for i, t in enumerate([older, older, old, recent, NOW])
    ]
    start = float(old)
    tree = [
        row("process_tree", host="h1", node="", pid=1, process_start=start, time=old),  # still running: kept
        row("process_tree", host="h1", node="", pid=2, process_start=start, time=old, exit_time=start + 1),
    ]
    col = collector(pg_url)
    try:
        col.write([(1, rows_message("process_events", ev)), (2, rows_message("process_tree", tree))])
    finally:
        col.close()
    day = lambda t: time.strftime("%Y%m%d", time.gmtime(t))  # noqa: E731
    res = subprocess.run(
        [AUDITSQL, "collect", "--store", pg_url, "--migrate", "--retention", "5",
         "--retention", "process_events=30"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # process_events keeps 30 days: only the 40-day-old partition goes; process_tree keeps 5: the running one stays
    assert sql(pg_url, "SELECT pid FROM process_events ORDER BY pid") == [(2,), (3,), (4,)]
    parts = {
        n for (n,) in sql(pg_url, "SELECT relname FROM pg_class WHERE relname ~ '^process_(events|tree)_p'")
    }
    assert f"process_events_p{day(older)}" not in parts and f"process_events_p{day(old)}" in parts
    assert f"process_tree_p{day(old)}" not in parts
    assert sql(pg_url, "SELECT pid, exit_time FROM process_tree_default") == [(1, None)]
    loss = sql(pg_url, "SELECT cause, count, detail FROM audit_loss ORDER BY detail")
    assert loss == [
        (
            "retention",
            2,
            f"process_events: the day partition process_events_p{day(older)} ({time.strftime('%Y-%m-%d', time.gmtime(older))}) "
            "dropped, older than 30 days",
        ),
        (
            "retention",
            1,
            f"process_tree: the day partition process_tree_p{day(old)} ({time.strftime('%Y-%m-%d', time.gmtime(old))}) "
            "dropped, older than 5 days; 1 rows of running processes kept (moved to process_tree_default)",
        ),
    ]
    lines = res.stderr.decode().splitlines()
    assert (
        lines[-1]
        == f"auditsql: PostgreSQL {redact(pg_url)}: the auditsql schema is at version {SCHEMA_VERSION}"
    )
    assert len(lines) == 3
    # a day kept in DEFAULT gets no partition again: the running process's row is upserted where it is
    col = collector(pg_url)
    try:
        col.write(
            [
                (
                    3,
                    rows_message(
                        "process_tree",
                        [
                            row(
                                "process_tree",
                                host="h1",
                                node="",
                                pid=1,
                                process_start=start,
                                time=NOW,
                                exit_time=start + 9,
                            )
                        ],
                    ),
                )
            ]
        )
    finally:
        col.close()
    assert sql(pg_url, "SELECT pid, exit_time FROM process_tree") == [(1, start + 9)]


def run_collect(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([AUDITSQL, "collect", *args], capture_output=True, timeout=60, check=False)


def one_line(res: subprocess.CompletedProcess[bytes]) -> str:
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def test_bad_input_is_one_line_exit_2(pg_cluster: PgCluster, pg_url: str) -> None:
    closed = f"postgresql://u:pw@127.0.0.1:{pg_cluster.port + 1 if pg_cluster.port < 65535 else 1}/x"
    res = run_collect("--store", closed, "--nats", "nats://127.0.0.1:1")
    assert res.returncode == 2
    assert one_line(res) == (
        f"auditsql: PostgreSQL {redact(closed)}: connection refused (is the server running and listening there?)"
    )
    wrong = pg_cluster.url(password="wrong", db=pg_url.rsplit("/", 1)[1])
    res = run_collect("--store", wrong, "--nats", "nats://127.0.0.1:1")
    assert res.returncode == 2
    assert one_line(res) == (
        f"auditsql: PostgreSQL {redact(wrong)}: the server refused the credentials (password authentication failed "
        'for user "postgres") (fix the user and password in the URL)'
    )
    assert "wrong" not in res.stderr.decode()
    nodb = pg_cluster.url(db="nope")
    res = run_collect("--store", nodb, "--migrate")
    assert res.returncode == 2
    assert one_line(res) == (
        f'auditsql: PostgreSQL {redact(nodb)}: database "nope" does not exist (create it: createdb, or CREATE '
        "DATABASE as its owner)"
    )
    res = run_collect("--store", "/tmp/central.db")
    assert res.returncode == 2
    assert one_line(res) == (
        "auditsql: --store takes a postgresql:// URL (got '/tmp/central.db'); a SQLite file is --db FILE"
    )
    res = run_collect("--store", pg_url, "--retention", "process_evnts=3", "--migrate")
    assert res.returncode == 2
    assert one_line(res).startswith(
        "auditsql: --retention process_evnts=3: no table process_evnts in the central"
    )
    res = run_collect("--retention", "3")
    assert res.returncode == 2
    assert one_line(res) == "auditsql: --retention needs --store postgresql://..."


def test_a_newer_schema_is_refused_and_left_as_it_is(pg_url: str) -> None:
    collector(pg_url).close()
    sql(pg_url, "INSERT INTO auditsql_schema (version, note) VALUES (99, 'the future')")
    for args in (("--migrate",), ("--nats", "nats://127.0.0.1:1")):
        res = run_collect("--store", pg_url, *args)
        assert res.returncode == 2
        assert one_line(res) == (
            f"auditsql: PostgreSQL {redact(pg_url)} holds an auditsql schema of a newer version (99; this auditsql "
            f"knows up to {SCHEMA_VERSION}): upgrade auditsql; the database is left as it is"
        )
    assert sql(pg_url, "SELECT max(version) FROM auditsql_schema") == [(99,)]


def role_url(pg_cluster: PgCluster, pg_url: str, role: str) -> str:
    return pg_cluster.url(user=role, password="pw-" + role, db=pg_url.rsplit("/", 1)[1])


def test_roles_owner_collector_reader(pg_cluster: PgCluster, pg_url: str, tmp_path: Path) -> None:
    """The roles of docs/fleet.md: the owner migrates and runs retention, the collector only inserts, the
    reader only selects; a role without the rights it needs gets one line and exit 2."""
    db = pg_url.rsplit("/", 1)[1]
    for r in ("owner", "collector", "reader", "nobody_special"):
        pg_cluster.psql(f"DROP ROLE IF EXISTS {db}_{r}")
    o, c, r, n = (f"{db}_{x}" for x in ("owner", "collector", "reader", "nobody_special"))
    # as docs/fleet.md says
    pg_cluster.psql(
        f"CREATE ROLE {o} LOGIN PASSWORD 'pw-{o}'; CREATE ROLE {c} LOGIN PASSWORD 'pw-{c}';"
        f"CREATE ROLE {r} LOGIN PASSWORD 'pw-{r}'; CREATE ROLE {n} LOGIN PASSWORD 'pw-{n}';"
        f'GRANT CREATE ON DATABASE "{db}" TO {o};'
    )
    res = run_collect("--store", role_url(pg_cluster, pg_url, o), "--migrate")
    assert res.returncode == 0, res.stderr
    pg_cluster.psql(
        f"GRANT USAGE ON SCHEMA auditsql TO {c}, {r};"
        f"GRANT INSERT ON ALL TABLES IN SCHEMA auditsql TO {c};"
        f"GRANT SELECT, UPDATE ON auditsql.process_tree TO {c};"
        f"GRANT SELECT ON auditsql.auditsql_schema, auditsql.audit_dictionaries TO {c};"
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON auditsql.fleet_streams, auditsql.fleet_consumed TO {c};"
        f"GRANT EXECUTE ON FUNCTION auditsql.auditsql_partitions(text, bigint[]) TO {c};"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA auditsql TO {r};"
        f"ALTER ROLE {r} SET default_transaction_read_only = on;",
        db=db,
    )
    # the collector role writes (and creates the day partitions it needs through the owner's function)
    agent_db, msgs = agent_messages(tmp_path)
    col = collector(role_url(pg_cluster, pg_url, c))
    try:
        assert col.write(msgs) == 2
    finally:
        col.close()
    assert sql(pg_url, "SELECT count(*) FROM process_events_p20231114") == [(3,)]
    # ... but may not change the schema or drop partitions
    res = run_collect("--store", role_url(pg_cluster, pg_url, c), "--migrate", "--retention", "1")
    assert res.returncode == 2
    assert one_line(res).startswith(
        f"auditsql: role {c} may not drop the partitions of auditsql.audit_events_data for retention"
    )
    sql(pg_url, "DROP TABLE auditsql.auditsql_schema")  # as if the database were empty: a migration is needed
    res = run_collect("--store", role_url(pg_cluster, pg_url, c), "--migrate")
    assert res.returncode == 2
    assert one_line(res).startswith(
        f"auditsql: PostgreSQL {redact(role_url(pg_cluster, pg_url, c))}: role {c} may not create or change the "
        "auditsql schema ("
    )
    assert one_line(res).endswith(
        "run `auditsql collect --store URL --migrate` once with the owner role (docs/fleet.md)"
    )
    assert run_collect("--store", role_url(pg_cluster, pg_url, o), "--migrate").returncode == 0
    # a role with no rights at all
    res = run_collect("--store", role_url(pg_cluster, pg_url, n), "--nats", "nats://127.0.0.1:1")
    assert res.returncode == 2
    assert one_line(res) == (
        f"auditsql: PostgreSQL {redact(role_url(pg_cluster, pg_url, n))}: role {n} may not read the auditsql "
        "schema (permission denied for schema auditsql): grant the collector role its rights (docs/fleet.md)"
    )
    # the reader (the query side's session): SELECT only, writes refused by the server
    conn = connect(role_url(pg_cluster, pg_url, r), read_only=True)
    try:
        assert conn.execute("SELECT host, count(*) FROM process_events GROUP BY host").fetchall() == [
            (HOST, 3)
        ]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO process_events (host) VALUES ('x')")
    finally:
        conn.close()
    with pytest.raises(PgError) as err:
        connect(role_url(pg_cluster, pg_url, r).replace("pw-", "bad-"), read_only=True)
    assert err.value.code == 2 and "refused the credentials" in str(err.value)


def test_auditsql_run_never_loads_psycopg() -> None:
    res = subprocess.run(
        [str(Path(AUDITSQL).with_name("python")) if Path(AUDITSQL).with_name("python").exists() else "python3",
         "-c", "import sys, auditsql.cli, auditsql.cli_run, auditsql.agent; "
         "print(sorted(m for m in sys.modules if m.startswith('psycopg')))"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert res.stdout.decode().strip() == "[]"


def test_sink_rejects_unknown_retention_tables(pg_url: str) -> None:
    sink = PgSink(pg_url, central_tables())
    sink.open()
    try:
        with pytest.raises(PgError, match="retention: no table nope in the central store"):
            sink.retention({"nope": 3})
    finally:
        sink.close()

"""Fleet queries without agents: the SQL check, the read-only answer on a store, the chunked reply encoding
(hypothesis), the merged table and the problem lines, and a responder that keeps trying an absent server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.fleet.connect import NatsOptions, connect, ensure_stream
from auditsql.fleet.query import (
    FleetResult,
    HostAnswer,
    Responder,
    answer,
    check_sql,
    encode_answer,
    query_subject,
    run_fleet_query,
)
from auditsql.query.engine import VALUE_LIMIT, QueryError
from auditsql.store.sqlite import Store
from tests.agent.test_schedule import Feeder
from tests.fleet.conftest import NatsServer, free_port

NOT_SELECT = "is not answered (a fleet query is one read-only SELECT or WITH ... SELECT)"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    store = Store(str(tmp_path / "db" / "auditsql.db"))
    store.create_schema()
    Feeder(store).execs(["/bin/echo", "a"], ["/bin/echo", "b"], ["/bin/echo", "c"])
    yield store.path
    store.close()


# -- check_sql -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select * from process_events;",
        "-- a comment\nSELECT 1",
        "/* lead */ WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT 'load_extension' AS word",
    ],
)
def test_check_sql_accepts_one_select(sql: str) -> None:
    assert check_sql(sql) == sql.strip()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "refused: empty query (send one SELECT)"),
        ("-- only a comment", "refused: empty query (send one SELECT)"),
        ("DELETE FROM process_events", f"refused: DELETE {NOT_SELECT}"),
        ("insert into x values (1)", f"refused: INSERT {NOT_SELECT}"),
        ("ATTACH DATABASE 'x' AS y", f"refused: ATTACH {NOT_SELECT}"),
        ("PRAGMA table_info(process_events)", f"refused: PRAGMA {NOT_SELECT}"),
        ("/* SELECT */ VACUUM", f"refused: VACUUM {NOT_SELECT}"),
        ("SELECT 1; SELECT 2", "refused: 2 statements (a fleet query is one read-only SELECT)"),
        ("SELECT load_extension('/tmp/x.so')", "refused: load_extension() is not answered (a fleet query only "
         "reads the store)"),
        ("SELECT LOAD_EXTENSION ('/tmp/x.so')", "refused: load_extension() is not answered (a fleet query only "
         "reads the store)"),
    ],
)  # fmt: skip
def test_check_sql_refuses(sql: str, message: str) -> None:
    with pytest.raises(QueryError) as exc:
        check_sql(sql)
    assert str(exc.value) == message


_WORDS = st.sampled_from(
    ["INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "ATTACH", "PRAGMA", "REPLACE"]
)


@given(
    word=_WORDS,
    lead=st.sampled_from(["", " ", "\n", "-- SELECT\n", "/* SELECT */"]),
    tail=st.text(alphabet="abc xyz()=,'", max_size=20),
)
def test_check_sql_never_lets_a_writing_word_through(word: str, lead: str, tail: str) -> None:
    sql = f"{lead}{word} {tail}"
    try:
        check_sql(sql)
    except QueryError as exc:
        assert str(exc).startswith("refused: ")
    else:
        raise AssertionError(f"accepted {sql!r}")


def test_query_subjects() -> None:
    assert query_subject("auditsql") == "auditsql_fleet.query"
    assert query_subject("auditsql", "web1.example.com") == "auditsql_fleet.query.web1_example_com"


# -- answer --------------------------------------------------------------------------------------------------


def test_answer_reads_the_store(db: str) -> None:
    got = answer(db, "SELECT cmdline, pid FROM process_events ORDER BY pid", timeout=5, max_rows=10)
    elapsed = got.pop("elapsed_ms")
    assert isinstance(elapsed, float) and elapsed >= 0
    assert got == {
        "columns": ["cmdline", "pid"],
        "rows": [["/bin/echo a", 1101], ["/bin/echo b", 1102], ["/bin/echo c", 1103]],
        "error": None,
        "truncated": False,
        "truncated_by": None,
    }


def test_answer_caps_rows_and_flags_it(db: str) -> None:
    got = answer(db, "SELECT pid FROM process_events ORDER BY pid", timeout=5, max_rows=2)
    assert (got["rows"], got["truncated"], got["truncated_by"], got["error"]) == (
        [[1101], [1102]],
        True,
        "max_rows",
        None,
    )
    exact = answer(db, "SELECT pid FROM process_events ORDER BY pid", timeout=5, max_rows=3)
    assert (exact["rows"], exact["truncated"]) == ([[1101], [1102], [1103]], False)


def test_answer_blobs_and_odd_values_travel_as_json(db: str) -> None:
    got = answer(db, "SELECT x'6869ff' AS b, 1.5 AS f, NULL AS n, 'é' AS t", timeout=5, max_rows=1)
    assert got["rows"] == [["hi\udcff", 1.5, None, "é"]]
    chunk = encode_answer("q", "h", got, 1 << 20)
    assert json.loads(chunk[0])["rows"] == [["hi\udcff", 1.5, None, "é"]]


def test_answer_refuses_writes_the_engine_catches(db: str) -> None:
    got = answer(db, "WITH x AS (SELECT 1) DELETE FROM process_events", timeout=5, max_rows=1)
    assert got["error"] == (
        "read-only: DELETE is refused (queries never change the store; rows come from `auditsql run` and "
        "`auditsql import`)"
    )
    assert answer(db, "SELECT count(*) FROM process_events", timeout=5, max_rows=1)["rows"] == [[3]]


def test_answer_time_limit(db: str) -> None:
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    t0 = time.monotonic()
    got = answer(db, forever, timeout=0.3, max_rows=1)
    assert time.monotonic() - t0 < 3
    assert got["error"] == (
        "query stopped by the time limit of 0.3 s ([fleet] query_timeout, or the client's --timeout): narrow it "
        "with WHERE on an indexed column such as time, or add LIMIT"
    )


def test_answer_caps_value_sizes(db: str) -> None:
    got = answer(db, f"SELECT length(zeroblob({VALUE_LIMIT + 1}))", timeout=5, max_rows=1)
    assert got["error"] == f"refused: a value grew beyond {VALUE_LIMIT} bytes (fleet queries cap value sizes)"


@pytest.mark.parametrize("call", ["fts3_tokenizer('simple')", "fts3_tokenizer('mine', X'0000000000000000')"])
def test_answer_refuses_fts3_tokenizer(db: str, call: str) -> None:
    for tables in (None, ["process_events"]):
        got = answer(db, f"SELECT {call}", timeout=5, max_rows=1, tables=tables)
        assert (got["rows"], got["error"]) == (
            [],
            "fts3_tokenizer() is refused (it reads and replaces the SQL engine's internals; queries only read the "
            "store)",
        )


def test_answer_reads_rows_up_to_the_cap_only(db: str) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    got = answer(db, endless, timeout=5, max_rows=3)
    assert (got["rows"], got["error"], got["truncated_by"]) == ([[1], [2], [3]], None, "max_rows")


def test_answer_table_allow_list(db: str) -> None:
    allow = ["process_events", "socket_events"]
    ok = answer(db, "SELECT count(*) FROM process_events", timeout=5, max_rows=1, tables=allow)
    assert (ok["rows"], ok["error"]) == ([[3]], None)
    why = "is not answered here (this host's [fleet] tables: process_events, socket_events)"
    for sql, table in [
        ("SELECT * FROM audit_events", "audit_events"),
        ("SELECT p.pid FROM process_events p JOIN user_events u ON p.pid = u.pid", "user_events"),
        ("SELECT name FROM sqlite_master", "sqlite_master"),
        ("WITH x AS (SELECT * FROM audit_loss) SELECT count(*) FROM x", "audit_loss"),
    ]:
        got = answer(db, sql, timeout=5, max_rows=1, tables=allow)
        assert (got["rows"], got["error"]) == ([], f"refused: table {table} {why}"), sql
    # the read-only rules still hold under an allow-list
    got = answer(db, "WITH x AS (SELECT 1) DELETE FROM process_events", timeout=5, max_rows=1, tables=allow)
    assert got["error"].startswith("read-only: DELETE is refused")


def test_answer_without_a_store(tmp_path: Path) -> None:
    got = answer(str(tmp_path / "none.db"), "SELECT 1", timeout=5, max_rows=1)
    assert got["error"] == (
        f"no database at {tmp_path / 'none.db'}: run `auditsql run` or `auditsql import` first, or pass --db"
    )


# -- encode_answer (hypothesis) ------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=300),
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_VALUES, min_size=2, max_size=2), max_size=60),
    max_payload=st.integers(min_value=700, max_value=6000),
    max_chunks=st.integers(min_value=1, max_value=6),
    pre_truncated=st.booleans(),
)
def test_encode_answer_chunks_fit_and_keep_the_rows_in_order(
    rows: list[list[object]], max_payload: int, max_chunks: int, pre_truncated: bool
) -> None:
    result = {
        "columns": ["a", "b"],
        "rows": rows,
        "error": None,
        "truncated": pre_truncated,
        "truncated_by": "max_rows" if pre_truncated else None,
        "elapsed_ms": 12.5,
    }
    chunks = encode_answer("qid", "web1", result, max_payload, max_chunks)
    assert 1 <= len(chunks) <= max_chunks
    assert all(len(c) <= max_payload for c in chunks)
    msgs = [json.loads(c) for c in chunks]
    assert [(m["id"], m["host"], m["chunk"], m["chunks"], m["columns"]) for m in msgs] == [
        ("qid", "web1", i, len(chunks), ["a", "b"]) for i in range(len(chunks))
    ]
    got = [r for m in msgs for r in m["rows"]]
    assert got == rows[: len(got)]
    cut = len(got) < len(rows)
    assert {m["truncated"] for m in msgs} == {pre_truncated or cut}
    assert {m["truncated_by"] for m in msgs} == {"size" if cut else ("max_rows" if pre_truncated else None)}


def test_encode_answer_splits_a_big_answer() -> None:
    rows = [[i, "x" * 100] for i in range(100)]
    result = {"columns": ["i", "s"], "rows": rows, "error": None, "truncated": False, "truncated_by": None}
    result["elapsed_ms"] = 1.0
    chunks = encode_answer("q", "h", result, 2048)
    assert (len(chunks), max(len(c) for c in chunks) <= 2048) == (6, True)
    assert [r for c in chunks for r in json.loads(c)["rows"]] == rows


# -- the merged table and the problem lines ------------------------------------------------------------------


def test_fleet_result_table_and_problems() -> None:
    res = FleetResult(
        [
            HostAnswer("a", "ok", ["n", "m"], [[1, 2]]),
            HostAnswer("b", "ok", ["m", "x"], [[3, 4], [5, 6]], truncated=True, truncated_by="max_rows"),
            HostAnswer("c", "error", error="refused: DELETE is not answered"),
            HostAnswer("d", "timeout"),
            HostAnswer("e", "silent", last_seen=4.2),
            HostAnswer("f", "silent"),
        ],
        timeout=3,
    )
    assert res.table() == (["host", "n", "m", "x"], [["a", 1, 2, None], ["b", None, 3, 4], ["b", None, 5, 6]])
    assert [a.host for a in res.failed] == ["c", "d", "e", "f"]
    assert res.problems() == [
        "b: answer cut at 2 rows by that host's [fleet] max_rows (add LIMIT or WHERE)",
        "c: refused: DELETE is not answered",
        "d: timed out: accepted the query but its answer did not arrive within 3 s (raise --timeout)",
        "e: no answer within 3 s (is the agent running with [fleet] queries = true and connected to this "
        "server?; its last heartbeat was 4 s ago)",
        "f: no answer within 3 s (is the agent running with [fleet] queries = true and connected to this server?)",
    ]


# -- the responder and client without auth -------------------------------------------------------------------


def test_responder_waits_for_an_absent_server_and_stops_promptly(tmp_path: Path) -> None:
    lines: list[str] = []
    said = threading.Event()

    def log(s: str) -> None:
        lines.append(s)
        said.set()

    url = f"nats://127.0.0.1:{free_port()}"
    r = Responder(NatsOptions(url=url), "h1", str(tmp_path / "x.db"), log=log)
    r.start()
    assert said.wait(15)
    t0 = time.monotonic()
    r.stop()
    assert time.monotonic() - t0 < 3
    assert r._thread is not None and not r._thread.is_alive()
    assert lines == [f"fleet queries: NATS {url}: connection refused; retrying every 5 s"]


def test_responder_in_process_answers_and_chunks(jetstream: NatsServer, db: str) -> None:
    """A responder on a tiny max_payload would not fit; the default 1 MiB takes a 20,000-row answer in
    several messages, reassembled by the client."""
    lines: list[str] = []
    opts = NatsOptions(url=jetstream.url)

    async def stream_over_prefix() -> None:
        # the NATS output's stream covers <prefix>.>, so it also stores the queries and sends the client a
        # JetStream acknowledgement on its reply inbox: the client must ignore it
        nc = await connect(opts, "test")
        try:
            await ensure_stream(nc, opts)
        finally:
            await nc.close()

    asyncio.run(stream_over_prefix())
    r = Responder(opts, "solo", db, log=lines.append)
    r.start()
    try:
        assert r.wait_ready(15), lines
        sql = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000) "
            "SELECT x, printf('%0100d', x) AS pad FROM c"
        )
        res = run_fleet_query(opts, sql, hosts=["solo"], timeout=10)
        [a] = res.answers
        assert (a.host, a.status, a.error, a.truncated) == ("solo", "ok", None, False)
        assert a.rows == [[x, f"{x:0100d}"] for x in range(1, 20001)]
        # the presence key lets a broadcast query finish without waiting for the timeout
        t0 = time.monotonic()
        res = run_fleet_query(opts, "SELECT count(*) FROM process_events", timeout=10)
        assert time.monotonic() - t0 < 5
        assert [(a.host, a.status, a.rows) for a in res.answers] == [("solo", "ok", [[3]])]
        assert (r.counters.answered, r.counters.refused) == (2, 0)
    finally:
        r.stop()
    assert lines == [
        "fleet queries: answering auditsql_fleet.query and auditsql_fleet.query.solo as solo (time limit 10 s, "
        "100000 rows)"
    ]


# -- the command line's own errors ---------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    from tests.fleet.test_fleet_query import AUDITSQL

    res = subprocess.run([AUDITSQL, "fleet", "query", *args], capture_output=True, timeout=60, check=False)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    assert _cli("SELECT 1", "--nats", url) == (
        1,
        "",
        f"auditsql: cannot connect: NATS {url}: connection refused (check --nats or [output.nats] url in "
        "--config, and that nats-server runs)\n",
    )
    assert _cli("SELECT 1", "--config", str(tmp_path / "none.toml")) == (
        2,
        "",
        f"auditsql: {tmp_path / 'none.toml'}: cannot read: No such file or directory\n",
    )
    assert _cli("SELECT 1", "--hosts", ",") == (
        2,
        "",
        "auditsql: --hosts is empty: give host names separated by commas, or leave it out to ask every agent\n",
    )
    assert _cli("/* nothing */", "--nats", url) == (
        1,
        "",
        'auditsql: no SQL statement given (e.g. auditsql fleet query "SELECT count(*) FROM process_events")\n',
    )

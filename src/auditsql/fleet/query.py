"""Fleet-wide live queries: one read-only SELECT sent over NATS to every agent, the answers as one table.

What osquery users get from Fleet's distributed queries, over the ``[output.nats]`` connection:

* **Subjects.** ``<prefix>_fleet.query`` reaches every agent; ``<prefix>_fleet.query.<host>`` one agent (the
  host name as one subject token, :func:`auditsql.fleet.connect.subject_token`). A request is JSON
  ``{"id", "sql", "timeout"}`` with a reply inbox.
* **Agent side** (:class:`Responder`): a thread of ``auditsql run`` with its own asyncio loop and its own NATS
  connection, so it never blocks the reader. Each query is checked (:func:`check_sql`: one SELECT or WITH ...
  SELECT; no ATTACH, PRAGMA, several statements, load_extension) and run by :func:`answer` in a worker thread
  with the read-only :class:`~auditsql.query.engine.Engine` (its authorizer refuses every write), under a time
  limit (the lesser of ``[fleet] query_timeout`` and what the client waits) and a row cap (``[fleet]
  max_rows``). The agent first replies ``{"id", "host", "accepted": true}``, then the answer
  ``{"id", "host", "columns", "rows", "error", "truncated", "truncated_by", "elapsed_ms", "chunk", "chunks"}``
  in as many messages as NATS ``max_payload`` needs (at most :data:`MAX_CHUNKS`; beyond, the rows are cut and
  ``truncated`` says so).
* **Presence.** Each agent keeps a key (its host token) in the JetStream KV bucket ``auditsql_hosts``, rewritten
  every :data:`HEARTBEAT` seconds and deleted when it stops, so a client knows whom to wait for and can name the
  hosts that did not answer. Without JetStream (or without the permission) agents still answer; the client then
  relies on the acceptances alone.
* **Client** (:func:`fleet_query`): publishes the request (to each ``--hosts`` subject, else the broadcast one)
  and gathers until every expected host (the ``--hosts``, else the fresh presence keys, plus every host that
  accepted) has answered and no new acceptance came for :data:`QUIET` seconds, or until the timeout.
* **Who may ask** is decided by NATS authorization: publish permission on ``<prefix>_fleet.query`` and
  ``<prefix>_fleet.query.>``. A NATS message carries no sender identity an agent could check, so the agents
  trust the server; a refused publish is a permissions violation that the client reports in one line, and no
  agent ever sees the query. The agent's own defences are the read-only checks above. See docs/fleet.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditsql.fleet.connect import ConnectError, NatsOptions, connect, subject_token
from auditsql.query.engine import VALUE_LIMIT, Engine, QueryError, split_statements

__all__ = [
    "FleetError",
    "FleetResult",
    "HostAnswer",
    "Responder",
    "answer",
    "check_sql",
    "encode_answer",
    "fleet_query",
    "query_subject",
    "run_fleet_query",
    "start_responder",
]

#: the JetStream KV bucket of agent heartbeats
PRESENCE_BUCKET = "auditsql_hosts"
#: seconds between an agent's heartbeats; a key older than 3 heartbeats is stale
HEARTBEAT = 10.0
#: the bucket's max age (garbage collection of keys whose agent died without deleting them)
PRESENCE_TTL = 120.0
#: seconds without a new acceptance after which a client stops waiting for unknown hosts
QUIET = 0.5
#: messages an answer may take (rows beyond are cut, ``truncated_by`` ``"size"``)
MAX_CHUNKS = 32
#: queries one agent runs at the same time; more wait
CONCURRENT = 2
#: queries one agent holds (running or waiting); beyond, it answers "busy"
BACKLOG = 16

_FIRST_WORD = re.compile(r"[A-Za-z_]+")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?(?:\*/|$)", re.S)
_LOAD_EXTENSION = re.compile(r"\bload_extension\s*\(", re.I)


class FleetError(Exception):
    """A fleet query that could not be sent or gathered; ``str()`` is one line naming the cause and the fix."""


def query_subject(prefix: str, host: str | None = None) -> str:
    """``<prefix>_fleet.query`` (every agent) or ``<prefix>_fleet.query.<host token>`` (one agent)."""
    base = f"{prefix}_fleet.query"
    return base if host is None else f"{base}.{subject_token(host)}"


# -- the agent's checks and answer ---------------------------------------------------------------------------


def check_sql(sql: str) -> str:
    """The one statement of ``sql`` if it is a SELECT (or WITH ... SELECT); else ``QueryError`` (one line)."""
    stmts = split_statements(sql)
    if not stmts:
        raise QueryError("refused: empty query (send one SELECT)")
    if len(stmts) > 1:
        raise QueryError(f"refused: {len(stmts)} statements (a fleet query is one read-only SELECT)")
    stmt = stmts[0]
    m = _FIRST_WORD.search(_COMMENTS.sub(" ", stmt))
    word = m.group().upper() if m else ""
    if word not in ("SELECT", "WITH"):
        shown = word or stmt[:20]
        raise QueryError(
            f"refused: {shown} is not answered (a fleet query is one read-only SELECT or WITH ... SELECT)"
        )
    if _LOAD_EXTENSION.search(stmt):
        raise QueryError("refused: load_extension() is not answered (a fleet query only reads the store)")
    return stmt


def _json_value(v: object) -> object:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "surrogateescape")  # as `auditsql query` prints a blob
    return v


def _allow_only(eng: Engine, tables: Collection[str]) -> list[str]:
    """Restrict ``eng`` to reading ``tables``: the engine's read-only authorizer, then a table allow-list.
    Returns the list that receives the first refused table's name."""
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    # a table kept behind a view (audit_events: audit_events_data) is read through its storage table too
    allowed = frozenset(tables) | {REGISTRY[t].storage for t in tables if t in REGISTRY}
    # what a refused storage table is called in the queries people write
    named = {t.storage: t.name for t in REGISTRY.values()}
    # live tables are read from TEMP copies (the engine's refresh): listed or refused like the others
    live = frozenset(t.name for t in REGISTRY.values() if t.kind == "live")
    refused: list[str] = []
    inner = eng._authorize  # the read-only rules stay in force

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None) -> int:
        if (
            action == sqlite3.SQLITE_READ
            and arg1 is not None
            and arg1 not in allowed
            and (db != "temp" or arg1 in live)
        ):
            if not refused:
                refused.append(named.get(arg1, arg1))
            return sqlite3.SQLITE_DENY
        return inner(action, arg1, arg2, db, src)

    eng.conn.set_authorizer(authorize)
    return refused


def answer(
    db: str, sql: str, *, timeout: float, max_rows: int, tables: Collection[str] | None = None
) -> dict[str, Any]:
    """Run ``sql`` read-only on the store ``db``: ``{"columns", "rows", "error", "truncated", "truncated_by",
    "elapsed_ms"}``. ``tables``: the only tables it may read (None: all). Never raises: every failure is the
    one-line ``error``."""
    t0 = time.monotonic()
    out: dict[str, Any] = {"columns": [], "rows": [], "error": None, "truncated": False, "truncated_by": None}
    denied: list[str] = []
    try:
        stmt = check_sql(sql)
        eng = Engine(db, timeout=timeout)
        try:
            if tables is not None:
                denied = _allow_only(eng, tables)
            result = eng.rows(stmt)
            cols, rows = result.columns, list(itertools.islice(result, max_rows + 1))
            result.close()
        finally:
            eng.close()
        if len(rows) > max_rows:
            rows = rows[:max_rows]
            out["truncated"], out["truncated_by"] = True, "max_rows"
        out["columns"] = list(cols)
        out["rows"] = [[_json_value(v) for v in row] for row in rows]
    except QueryError as exc:
        msg = str(exc)
        if denied:
            shown = ", ".join(sorted(tables or ())) or "none"
            msg = f"refused: table {denied[0]} is not answered here (this host's [fleet] tables: {shown})"
        elif msg.startswith("query stopped by the time limit"):
            msg = (
                f"query stopped by the time limit of {timeout:g} s ([fleet] query_timeout, or the client's "
                "--timeout): narrow it with WHERE on an indexed column such as time, or add LIMIT"
            )
        elif msg.startswith("a value grew beyond"):
            msg = f"refused: a value grew beyond {VALUE_LIMIT} bytes (fleet queries cap value sizes)"
        out["error"] = msg
    except Exception as exc:  # noqa: BLE001 - the agent must answer, whatever went wrong
        out["error"] = f"internal error: {type(exc).__name__}: {exc}"
    out["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return out


def encode_answer(
    qid: str, host: str, result: dict[str, Any], max_payload: int, max_chunks: int = MAX_CHUNKS
) -> list[bytes]:
    """``result`` (from :func:`answer`) as JSON messages each at most ``max_payload`` bytes, at most
    ``max_chunks`` of them; rows that do not fit are cut and the answer flagged (``truncated_by`` ``"size"``)."""
    rows = [json.dumps(r, separators=(",", ":"), allow_nan=True) for r in result["rows"]]
    truncated, truncated_by = result["truncated"], result["truncated_by"]

    def head(i: int, n: int, trunc: bool, by: str | None) -> str:
        d = {
            "id": qid,
            "host": host,
            "columns": result["columns"],
            "error": result["error"],
            "truncated": trunc,
            "truncated_by": by,
            "elapsed_ms": result["elapsed_ms"],
            "chunk": i,
            "chunks": n,
        }
        return json.dumps(d, separators=(",", ":"))[:-1] + ',"rows":['

    # room for the head with the widest numbers and flags, and the closing "]}"
    budget = max_payload - len(head(max_chunks, max_chunks, True, "max_rows")) - 2
    chunks: list[list[str]] = [[]]
    size = 0
    for i, text in enumerate(rows):
        need = len(text) + (1 if chunks[-1] else 0)
        if size + need > budget:
            if len(chunks) >= max_chunks or len(text) > budget:
                truncated, truncated_by = True, "size"
                del rows[i:]
                break
            chunks.append([])
            size, need = 0, len(text)
        chunks[-1].append(text)
        size += need
    n = len(chunks)
    return [(head(i, n, truncated, truncated_by) + ",".join(c) + "]}").encode() for i, c in enumerate(chunks)]


# -- the agent's responder -----------------------------------------------------------------------------------


@dataclass
class ResponderCounters:
    answered: int = 0
    refused: int = 0
    errors: int = 0
    busy: int = 0
    bad_requests: int = 0


class Responder:
    """Answers fleet queries for ``auditsql run`` from its own thread (asyncio loop, NATS connection)."""

    def __init__(
        self,
        opts: NatsOptions,
        host: str,
        db: str,
        *,
        query_timeout: float = 10.0,
        max_rows: int = 100000,
        tables: Collection[str] | None = None,
        log: Callable[[str], None] | None = None,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.opts = opts
        self.host = host
        self.db = db
        self.query_timeout = query_timeout
        self.max_rows = max_rows
        self.tables = None if tables is None else frozenset(tables)
        self.heartbeat = heartbeat
        self.counters = ResponderCounters()
        self.agent_id = uuid.uuid4().hex[:12]
        self._log = log or (lambda s: None)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            CONCURRENT, thread_name_prefix="auditsql-fleet-sql"
        )
        self._held = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._said_send_error = False
        self.subjects = (query_subject(opts.subject_prefix), query_subject(opts.subject_prefix, host))

    # -- lifecycle (called from the agent's main thread) ---------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="auditsql-fleet", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """True once subscribed (tests)."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        loop, ev = self._loop, self._stop
        if loop is not None and ev is not None:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001 - never take the agent down
            self._log(f"fleet queries stopped: {type(exc).__name__}: {exc}")

    # -- the loop ------------------------------------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():
            return
        said = ""
        while not self._stop.is_set():
            try:
                nc = await connect(self.opts, f"auditsql-fleet-query {self.host}", error_cb=self._on_error)
            except ConnectError as exc:
                if str(exc) != said:
                    said = str(exc)
                    self._log(f"fleet queries: {exc}; retrying every 5 s")
                if await self._sleep(5.0):
                    return
                continue
            try:
                await self._serve(nc)
            finally:
                try:
                    await asyncio.wait_for(nc.close(), 2.0)
                except Exception:  # noqa: BLE001, S110 - closing on the way out
                    pass
            return

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until stopped; True when stopped."""
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _on_error(self, exc: Exception) -> None:
        text = str(exc)
        if "permissions violation" in text.lower():
            self._log(f"fleet queries: the NATS server refused: {text.removeprefix('nats: ')}")

    async def _serve(self, nc: Any) -> None:
        assert self._stop is not None

        async def on_msg(msg: Any) -> None:
            if self._held >= BACKLOG:
                self.counters.busy += 1
                if msg.reply:
                    await self._reply_error(nc, msg, None, f"busy: {BACKLOG} queries already held, try again")
                return
            self._held += 1
            task = asyncio.create_task(self._handle(nc, msg))
            self._tasks.add(task)  # the loop holds tasks weakly
            task.add_done_callback(self._release)

        for subject in self.subjects:
            await nc.subscribe(subject, cb=on_msg)
        await nc.flush(timeout=5)
        self._log(
            f"fleet queries: answering {self.subjects[0]} and {self.subjects[1]} as {self.host} "
            f"(time limit {self.query_timeout:g} s, {self.max_rows} rows"
            + (f"; tables {', '.join(sorted(self.tables))}" if self.tables is not None else "")
            + ")"
        )
        self._ready.set()
        presence = asyncio.create_task(self._presence(nc))
        await self._stop.wait()
        presence.cancel()
        try:
            await presence
        except (asyncio.CancelledError, Exception):  # noqa: BLE001, S110 - stopping
            pass
        await self._forget(nc)

    def _release(self, task: asyncio.Task[None]) -> None:
        self._held -= 1
        self._tasks.discard(task)

    async def _handle(self, nc: Any, msg: Any) -> None:
        try:
            await self._answer_one(nc, msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a reply that could not be sent (disconnected): count it
            self.counters.errors += 1
            if not self._said_send_error:
                self._said_send_error = True
                self._log(f"fleet queries: cannot send an answer: {_why(exc)} (counted; said once)")

    async def _answer_one(self, nc: Any, msg: Any) -> None:
        if not msg.reply:
            self.counters.bad_requests += 1
            return
        try:
            req = json.loads(msg.data)
            qid, sql = str(req["id"]), req["sql"]
            if not isinstance(sql, str):
                raise TypeError
            want = float(req.get("timeout") or self.query_timeout)
        except (ValueError, KeyError, TypeError):
            self.counters.bad_requests += 1
            await self._reply_error(nc, msg, None, "bad request: expected JSON {id, sql, timeout}")
            return
        await nc.publish(msg.reply, json.dumps({"id": qid, "host": self.host, "accepted": True}).encode())
        timeout = max(0.05, min(self.query_timeout, want))
        assert self._loop is not None
        result = await self._loop.run_in_executor(
            self._pool,
            lambda: answer(self.db, sql, timeout=timeout, max_rows=self.max_rows, tables=self.tables),
        )
        err = result["error"]
        if err is None:
            self.counters.answered += 1
        elif err.startswith("refused:"):
            self.counters.refused += 1
        else:
            self.counters.errors += 1
        for chunk in encode_answer(qid, self.host, result, nc.max_payload):
            await nc.publish(msg.reply, chunk)
        await nc.flush(timeout=5)

    async def _reply_error(self, nc: Any, msg: Any, qid: str | None, error: str) -> None:
        result = {"columns": [], "rows": [], "error": error, "truncated": False, "truncated_by": None}
        result["elapsed_ms"] = 0.0
        if qid is None:
            try:
                qid = str(json.loads(msg.data)["id"])
            except (ValueError, KeyError, TypeError):
                qid = ""
        for chunk in encode_answer(qid, self.host, result, nc.max_payload):
            await nc.publish(msg.reply, chunk)

    # -- presence ------------------------------------------------------------------------------------------------

    async def _presence(self, nc: Any) -> None:
        key = subject_token(self.host)
        said = False
        kv = None
        while True:
            try:
                if kv is None:
                    kv = await _bucket(nc, create=True)
                value = {
                    "host": self.host,
                    "agent": self.agent_id,
                    "time": time.time(),
                    "interval": self.heartbeat,
                    "pid": os.getpid(),
                }
                await kv.put(key, json.dumps(value).encode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - presence is optional: answer anyway
                kv = None
                if not said:
                    said = True
                    self._log(
                        f"fleet queries: no presence heartbeat in the JetStream bucket {PRESENCE_BUCKET} "
                        f"({_why(exc)}); clients will not know to wait for {self.host}"
                    )
            await asyncio.sleep(self.heartbeat)

    async def _forget(self, nc: Any) -> None:
        try:
            kv = await asyncio.wait_for(_bucket(nc, create=False), 1.0)
            await asyncio.wait_for(kv.delete(subject_token(self.host)), 1.0)
        except Exception:  # noqa: BLE001, S110 - the key then expires
            pass


async def _bucket(nc: Any, create: bool) -> Any:
    from nats.js.errors import BucketNotFoundError

    js = nc.jetstream(timeout=2.0)
    try:
        return await js.key_value(PRESENCE_BUCKET)
    except BucketNotFoundError:
        if not create:
            raise
        return await js.create_key_value(bucket=PRESENCE_BUCKET, history=1, ttl=PRESENCE_TTL)


def _why(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "NoRespondersError":
        return "JetStream is not enabled on the server"
    if isinstance(exc, asyncio.TimeoutError) or name == "TimeoutError":
        return "no answer from JetStream: not enabled, or no permission on $JS.API.>"
    text = str(exc).strip() or name
    return text.removeprefix("nats: ")


# -- the client ----------------------------------------------------------------------------------------------


@dataclass
class HostAnswer:
    """One host's part of a fleet query."""

    host: str
    #: "ok", "error" (the host refused or failed), "timeout" (accepted, no full answer in time),
    #: "silent" (expected, never accepted)
    status: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None
    truncated: bool = False
    truncated_by: str | None = None
    elapsed_ms: float | None = None
    last_seen: float | None = None


@dataclass
class FleetResult:
    """Every host's answer, in order (``--hosts`` order, else by name)."""

    answers: list[HostAnswer]
    timeout: float
    #: a line about how the hosts to wait for were found (presence unavailable...), or None
    note: str | None = None

    @property
    def failed(self) -> list[HostAnswer]:
        return [a for a in self.answers if a.status != "ok"]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """One table: ``host`` then the union of the answers' columns (first seen first)."""
        cols: list[str] = []
        for a in self.answers:
            for c in a.columns:
                if c not in cols:
                    cols.append(c)
        rows: list[list[Any]] = []
        for a in self.answers:
            if a.status != "ok":
                continue
            if a.columns == cols:
                rows.extend([a.host, *r] for r in a.rows)
                continue
            where = {c: i for i, c in enumerate(a.columns)}
            for r in a.rows:
                rows.append([a.host, *(r[where[c]] if c in where else None for c in cols)])
        return ["host", *cols], rows

    def problems(self) -> list[str]:
        """One line per host that failed, timed out, did not answer, or whose answer was cut."""
        out = []
        for a in self.answers:
            if a.status == "error":
                out.append(f"{a.host}: {a.error}")
            elif a.status == "timeout":
                out.append(
                    f"{a.host}: timed out: accepted the query but its answer did not arrive within "
                    f"{self.timeout:g} s (raise --timeout)"
                )
            elif a.status == "silent":
                seen = f"; its last heartbeat was {a.last_seen:.0f} s ago" if a.last_seen is not None else ""
                out.append(
                    f"{a.host}: no answer within {self.timeout:g} s (is the agent running with "
                    f"[fleet] queries = true and connected to this server?{seen})"
                )
            if a.truncated:
                why = {
                    "max_rows": "that host's [fleet] max_rows",
                    "size": f"the answer size limit, {MAX_CHUNKS} NATS messages",
                }.get(a.truncated_by or "", "a limit on that host")
                out.append(f"{a.host}: answer cut at {len(a.rows)} rows by {why} (add LIMIT or WHERE)")
        return out


class _Gather:
    def __init__(self, host: str) -> None:
        self.host = host
        self.agent: str | None = None
        self.parts: dict[int, dict[str, Any]] = {}
        self.chunks: int | None = None

    @property
    def done(self) -> bool:
        return self.chunks is not None and len(self.parts) == self.chunks


async def fleet_query(
    opts: NatsOptions,
    sql: str,
    *,
    hosts: Sequence[str] | None = None,
    timeout: float = 10.0,
    quiet: float = QUIET,
) -> FleetResult:
    """Send ``sql`` to every agent (or to ``hosts``) and gather the answers; ``FleetError`` when the query
    could not be sent (connection, credentials, permissions)."""
    if not split_statements(sql):
        raise FleetError(
            'no SQL statement given (e.g. auditsql fleet query "SELECT count(*) FROM process_events")'
        )
    t0 = time.monotonic()
    deadline = t0 + timeout
    refused: list[str] = []
    refused_ev = asyncio.Event()
    inbound: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_error(exc: Exception) -> None:
        # the server's -ERR may arrive after the PONG of the flush that follows the publish: it also wakes
        # the gathering (an empty message) so a refusal is reported whenever it comes
        text = str(exc)
        if "permissions violation" in text.lower():
            refused.append(text.removeprefix("nats: ").strip())
            refused_ev.set()
            inbound.put_nowait(b"")

    try:
        nc = await connect(opts, "auditsql fleet query", error_cb=on_error)
    except ConnectError as exc:
        fix = (
            "check [output.nats] user/password, token, creds or TLS in --config"
            if exc.auth
            else "check --nats or [output.nats] url in --config, and that nats-server runs"
        )
        raise FleetError(f"cannot connect: {exc} ({fix})") from None
    try:
        return await _gather(nc, opts, sql, hosts, timeout, quiet, deadline, inbound, refused, refused_ev)
    finally:
        try:
            await asyncio.wait_for(nc.close(), 2.0)
        except Exception:  # noqa: BLE001, S110 - closing on the way out
            pass


async def _gather(
    nc: Any,
    opts: NatsOptions,
    sql: str,
    hosts: Sequence[str] | None,
    timeout: float,
    quiet: float,
    deadline: float,
    inbound: asyncio.Queue[bytes],
    refused: list[str],
    refused_ev: asyncio.Event,
) -> FleetResult:
    prefix = opts.subject_prefix
    qid = uuid.uuid4().hex
    inbox = nc.new_inbox()

    async def on_reply(msg: Any) -> None:
        inbound.put_nowait(msg.data)

    await nc.subscribe(inbox, cb=on_reply)
    expected: dict[str, float | None] = {}  # host -> last heartbeat age (None: named by --hosts)
    note = None
    if hosts:
        expected = dict.fromkeys(hosts)
    else:
        seen, note = await _present(nc, min(1.5, timeout / 4), refused_ev)
        expected = seen
    # the agents stop their query a little before the client stops waiting, so the answer can travel
    margin = min(1.0, timeout * 0.2)
    request = json.dumps({"id": qid, "sql": sql, "timeout": round(max(0.05, timeout - margin), 3)}).encode()
    if len(request) > nc.max_payload:
        raise FleetError(
            f"the query is {len(request)} bytes, more than the server's max_payload {nc.max_payload}"
        )
    subjects = [query_subject(prefix, h) for h in hosts] if hosts else [query_subject(prefix)]
    for subject in subjects:
        await nc.publish(subject, request, reply=inbox)
    try:
        await nc.flush(timeout=max(1, round(deadline - time.monotonic())))
    except Exception as exc:  # noqa: BLE001 - a flush that fails: the server went away
        raise FleetError(f"the server did not confirm the query: {_why(exc)} (try again)") from None
    watched = [f'"{s.lower()}"' for s in (*subjects, inbox)]

    def check_refused() -> None:
        mine = [r for r in refused if any(w in r.lower() for w in watched)]
        if mine:
            raise FleetError(
                f"the NATS server refused: {mine[0]} (this user may not send fleet queries: the operator grants "
                f"publish on {prefix}_fleet.query and {prefix}_fleet.query.>, and subscribe on _INBOX.>)"
            )

    check_refused()
    got: dict[str, _Gather] = {}
    last = time.monotonic()
    while True:
        now = time.monotonic()
        pending = [h for h in {*expected, *got} if h not in got or not got[h].done]
        if now >= deadline:
            break
        if not pending and not got and not hosts and now - last < 2 * quiet:
            wait = 2 * quiet - (now - last)  # nobody yet: a refusal may still be on its way
        elif not pending:
            if hosts or now - last >= quiet:
                break
            wait = quiet - (now - last)
        else:
            wait = deadline - now
        try:
            data = await asyncio.wait_for(inbound.get(), max(0.001, wait))
        except TimeoutError:
            continue
        if not data:
            check_refused()
            continue
        try:
            msg = json.loads(data)
            if not isinstance(msg, dict) or msg.get("id") != qid or not isinstance(msg.get("host"), str):
                continue  # not ours: a JetStream ack of a stream over PREFIX.>, a late answer
            host = msg["host"]
        except ValueError:
            continue
        if hosts and host not in expected:
            continue  # another host with the same subject token
        g = got.setdefault(host, _Gather(host))
        last = time.monotonic()
        if msg.get("accepted"):
            continue
        try:
            i, n = int(msg["chunk"]), int(msg["chunks"])
        except (KeyError, TypeError, ValueError):
            continue
        g.chunks = n
        g.parts[i] = msg
    check_refused()
    return FleetResult(_answers(hosts, expected, got), timeout, note)


def _answers(
    hosts: Sequence[str] | None, expected: dict[str, float | None], got: dict[str, _Gather]
) -> list[HostAnswer]:
    order = list(hosts) if hosts else sorted({*expected, *got})
    out = []
    for h in order:
        g = got.get(h)
        if g is None:
            out.append(HostAnswer(h, "silent", last_seen=expected.get(h)))
        elif not g.done:
            out.append(HostAnswer(h, "timeout"))
        else:
            first = g.parts[0]
            rows = [r for i in range(len(g.parts)) for r in g.parts[i].get("rows") or []]
            err = first.get("error")
            out.append(
                HostAnswer(
                    h,
                    "error" if err else "ok",
                    columns=list(first.get("columns") or []),
                    rows=rows,
                    error=err,
                    truncated=bool(first.get("truncated")),
                    truncated_by=first.get("truncated_by"),
                    elapsed_ms=first.get("elapsed_ms"),
                )
            )
    return out


async def _present(
    nc: Any, wait: float, refused_ev: asyncio.Event
) -> tuple[dict[str, float | None], str | None]:
    """The hosts with a fresh heartbeat in the presence bucket ({host: seconds since}), and a note when the
    bucket could not be read."""

    async def read() -> dict[str, float | None]:
        from nats.js.errors import NoKeysError

        kv = await _bucket(nc, create=False)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return {}
        now = time.time()
        out: dict[str, float | None] = {}
        for key in keys:
            try:
                entry = await kv.get(key)
                v = json.loads(entry.value)
                age = now - float(v["time"])
                if age <= 3 * float(v.get("interval") or HEARTBEAT):
                    out[str(v["host"])] = max(0.0, age)
            except Exception:  # noqa: BLE001, S112 - a key deleted meanwhile, a bad value: skip it
                continue
        return out

    task = asyncio.create_task(read())
    stopper = asyncio.create_task(refused_ev.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result(), None
        raise TimeoutError
    except Exception as exc:  # noqa: BLE001 - without presence, gather by acceptances
        why = "no permission" if refused_ev.is_set() else _why(exc)
        if type(exc).__name__ == "BucketNotFoundError":
            why = "no agent has created it"
        return (
            {},
            f"presence bucket {PRESENCE_BUCKET} unavailable ({why}): waited for the agents that answered",
        )
    finally:
        for t in (task, stopper):
            t.cancel()


def run_fleet_query(
    opts: NatsOptions,
    sql: str,
    *,
    hosts: Sequence[str] | None = None,
    timeout: float = 10.0,
    quiet: float = QUIET,
) -> FleetResult:
    """:func:`fleet_query` from synchronous code."""
    return asyncio.run(fleet_query(opts, sql, hosts=hosts, timeout=timeout, quiet=quiet))


def start_responder(config: Any, host: str, log: Callable[[str], None] | None = None) -> Responder | None:
    """For ``auditsql run``: a started :class:`Responder` when ``config.fleet.queries`` is true, else None.
    ``host`` is the fallback identity (the results log's host identifier) when ``[output.nats] host`` is empty."""
    if not config.fleet.queries:
        return None
    opts = NatsOptions.from_config(config.output.nats)
    responder = Responder(
        opts,
        opts.identity(host),
        config.store.db,
        query_timeout=config.fleet.query_timeout,
        max_rows=config.fleet.max_rows,
        tables=list(config.fleet.tables) or None,  # [fleet] tables; empty: every table
        log=log,
    )
    responder.start()
    return responder

"""``[output.nats]``: table rows, ``audit_loss`` rows and scheduled query results to NATS JetStream.

What is published
    Rows in batches: for each batch the sender takes from its queue (up to ``WINDOW`` events, as many as are
    waiting), one message per table holding that table's rows of those events: subject
    ``<prefix>.<host>.<table>``, payload the JSON object ``{"v": 1, "host", "table", "eids": [first, last],
    "ts", "columns", "rows"}`` (``columns`` in the registry's order, ``rows`` a list of lists, ``ts`` the time
    the batch's oldest event was queued, for latency), split so that a payload stays under ``MAX_PAYLOAD``.
    ``audit_loss`` rows travel the same way; result lines go to ``<prefix>.<host>.results`` (``{"v", "host",
    "table": "results", "ts", "lines"}``). ``<host>`` in subjects is
    :func:`~auditsql.fleet.connect.subject_token` of the name (dots and spaces become ``_``); the payload and
    the message id carry the real name.

    ``Nats-Msg-Id`` is ``<host>:<table>:<run>:<n>`` (``<run>`` random per start, ``<n>`` counting messages).
    A message is encoded once, and a re-send (an acknowledgement lost, the spool sent after a restart) carries
    the id it was first given, so JetStream drops the copies. Batches rather than one message per (event,
    table) with the event id as message id: nats-py costs about 130 µs of CPU per acknowledged publish, in the
    agent's process, which would halve its event rate at a few thousand events/s; and event ids are not
    unique (an event the assembler split by its time window yields ``late`` events with the same id), so they
    could make JetStream drop real data.

How (threads)
    The agent's loop calls :meth:`NatsOutput.event` and friends, which only append to a bounded in-memory
    queue (``buffer`` items). A sender thread runs an asyncio loop: it encodes the queued items, publishes
    them in windows of up to ``WINDOW`` messages with asynchronous publishes, and awaits every
    acknowledgement (``ack_timeout``).

The spool (:mod:`auditsql.outputs.spool`)
    While the server is unreachable, an acknowledgement times out, or the memory queue is full, messages go
    to the spool in ``spool_dir`` in order, and the spool is sent (in order) before anything newer: while the
    spool holds anything, new messages are appended to it too. Its cursor moves only over acknowledged
    messages, so an acknowledged message is never sent again (JetStream's duplicate window, 2 minutes when
    auditsql creates the stream, does not cover long outages; the cursor does). Messages still queued when
    the agent stops go to the spool and are sent by the next start, with the same ids. Only a full spool
    loses messages: they are counted as ``spool_drop`` loss and reach ``audit_loss`` (the local store keeps
    its rows: the transport never stops local recording).

Start and errors
    :meth:`NatsOutput.start` waits up to ``start_wait`` seconds for the first connection. An unreachable
    server is one warning line; the output spools and retries every ``RETRY`` seconds. Credentials the server
    refuses (or unusable TLS/credential files) raise :class:`OutputError` at start: ``auditsql run`` exits 2
    before touching the kernel, since a typo would otherwise spool silently until the disk bound. If the
    server refuses the credentials later (revoked while running), that is one warning line and the output
    keeps spooling.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from auditsql.fleet.connect import (
    ConnectError,
    NatsOptions,
    StreamError,
    connect,
    ensure_stream,
    subject_token,
)
from auditsql.outputs.base import OutputError
from auditsql.outputs.spool import Spool, SpoolError

__all__ = ["NatsOutput", "OutputError", "decode_record", "encode_record", "dumps", "loads"]

#: messages published before their acknowledgements are awaited
WINDOW = 1024
#: seconds between connection attempts while the server is unreachable
RETRY = 2.0
#: result lines per message
RESULT_LINES = 500
#: a message's payload stays under this (the server's default max_payload is 1 MiB)
MAX_PAYLOAD = 768 * 1024
#: seconds close() keeps sending before it spools the rest
CLOSE_WAIT = 5.0
_EVENT, _ROWS, _RESULTS = 0, 1, 2
_REC = struct.Struct("<HH")


def _bytes(obj: Any) -> Any:
    """A row's bytes (``audit_events.blob``) on the wire: ``{"b64": ...}``; :func:`unwire` reads it back."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(obj)).decode("ascii")}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Compact JSON; bytes as ``{"b64": ...}``; strings with lone surrogates (bytes that were not UTF-8) are
    kept as ``\\udcXX``."""
    try:
        return orjson.dumps(obj, default=_bytes)
    except TypeError:
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=_bytes).encode("ascii")


def unwire(cell: Any) -> Any:
    """A row cell as :func:`dumps` sent it: ``{"b64": ...}`` is bytes again."""
    if isinstance(cell, dict) and "b64" in cell:
        return base64.b64decode(cell["b64"])
    return cell


def loads(data: bytes) -> Any:
    """The inverse of :func:`dumps`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def encode_record(subject: str, msg_id: str, payload: bytes) -> bytes:
    """A spool record: ``<u16 subject length><u16 id length><subject><id><payload>``."""
    s, i = subject.encode(), msg_id.encode("utf-8", "surrogateescape")
    return _REC.pack(len(s), len(i)) + s + i + payload


def decode_record(rec: bytes) -> tuple[str, str, bytes]:
    ls, li = _REC.unpack_from(rec)
    a = _REC.size
    return (
        rec[a : a + ls].decode(),
        rec[a + ls : a + ls + li].decode("utf-8", "surrogateescape"),
        rec[a + ls + li :],
    )


def _rows_in(rec: bytes) -> int:
    """The rows (or result lines) one spool record carries."""
    try:
        d = loads(decode_record(rec)[2])
        return len(d.get("rows") or d.get("lines") or ())
    except (ValueError, TypeError, AttributeError, struct.error):
        return 1


def _columns() -> dict[str, tuple[list[str], int | None]]:
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    out = {}
    for name, t in REGISTRY.items():
        cols = list(t.stored_names)  # what a row holds
        out[name] = (cols, cols.index("eid") if "eid" in cols else None)
    return out


class NatsOutput:
    """The ``Output`` (``auditsql.outputs.base``) publishing to NATS JetStream; see the module docstring."""

    name = "nats"

    def __init__(
        self,
        opts: NatsOptions,
        host: str,
        *,
        say: Callable[[str], None] | None = None,
        start_wait: float = 3.0,
    ) -> None:
        self.opts = opts
        self.host = host
        self.token = subject_token(host)
        self.prefix = f"{opts.subject_prefix}.{self.token}."
        self.say = say or (lambda msg: None)
        self.start_wait = start_wait
        self._cols = _columns()
        self._run_id = uuid.uuid4().hex[:12]
        self._q: deque[tuple[int, Any, float, Any]] = deque()
        self._qlock = threading.Lock()  # queue -> spool moves (overflow, outage), so order is kept
        self._buffer = max(1, opts.buffer)
        self.spool = Spool(opts.spool_dir, opts.spool_max_bytes)
        self._loss: list[dict[str, Any]] = []
        self._loss_lock = threading.Lock()
        self._stats = {
            "sent": 0,
            "dropped": 0,
            "errors": 0,
            "spooled": 0,
            "acks_timed_out": 0,
            "reconnects": 0,
        }
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._fatal: str | None = None
        self._nc: Any = None
        self._js: Any = None
        self.connected = False
        self._said: set[str] = set()
        self._outage = False
        self._inflight = 0
        self._need_stream = False
        self._start_done = False
        self._counter = itertools.count(1)

    # -- the agent's side (never blocks on the network) --------------------------------------------------------

    def start(self) -> NatsOutput:
        """Open the spool, start the sender, wait for the first connection attempt. Raises
        :class:`OutputError` (one line) for an unusable spool or refused credentials."""
        try:
            self.spool.open()
        except SpoolError as exc:
            raise OutputError(str(exc)) from None
        if self.spool.torn:
            self.say(f"nats: the spool {self.opts.spool_dir} had a torn tail ({self.spool.torn} bytes cut)")
        if self.spool.pending:
            self.say(f"nats: {self.spool.pending} messages spooled by an earlier run will be sent first")
        self._thread = threading.Thread(target=self._thread_main, name="auditsql-nats", daemon=True)
        self._thread.start()
        self._started.wait(self.start_wait)
        self._start_done = True
        if self._fatal is not None:
            self._stop.set()
            self._thread.join(2.0)
            self.spool.close()
            raise OutputError(self._fatal)
        return self

    def event(self, event: dict, rows: list[tuple[str, tuple]]) -> None:
        if rows and self.opts.events:
            self._put((_EVENT, rows, time.time(), None))

    def rows(self, rows: list[tuple[str, tuple]]) -> None:
        if rows and self.opts.events:
            self._put((_ROWS, rows, time.time(), None))

    def results(self, lines: list[dict]) -> None:
        if lines and self.opts.results:
            self._put((_RESULTS, lines, time.time(), None))

    def _put(self, item: tuple[int, Any, float, Any]) -> None:
        q = self._q
        was_empty = not q
        q.append(item)
        if len(q) >= self._buffer:
            self._spill()  # behind: the queue goes to disk, in order
        elif was_empty and self._loop is not None and self._wake is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop is closed
                pass

    def flush(self) -> None:
        """Nothing to do on ticks: the sender runs on its own."""

    def counters(self) -> dict[str, int]:
        c = dict(self._stats)
        c["queued"] = len(self._q) + self._inflight + self.spool.pending
        c["spool_pending"] = self.spool.pending
        c["spool_bytes"] = self.spool.bytes
        c["connected"] = int(self.connected)
        return c

    def status_part(self) -> str:
        c = self.counters()
        part = f"nats sent {c['sent']}, spooled {c['spool_pending']}"
        if c["dropped"]:
            part += f", lost {c['dropped']}"
        return part if self.connected else part + " (disconnected)"

    def drain_loss(self) -> list[dict[str, Any]]:
        with self._loss_lock:
            out, self._loss = self._loss, []
        return out

    def close(self) -> None:
        """Send what is queued for up to :data:`CLOSE_WAIT` seconds, spool the rest, stop."""
        if self._thread is None:
            return
        self._stop.set()
        if self._loop is not None and self._wake is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass
        self._thread.join(CLOSE_WAIT + self.opts.ack_timeout + 5.0)
        self._thread = None
        self._spill()
        self.spool.close()

    # -- encoding ----------------------------------------------------------------------------------------------

    def _unique(self) -> str:
        return f"{self._run_id}:{next(self._counter)}"

    def _encode(self, items: list[tuple[int, Any, float, Any]]) -> list[tuple[str, str, bytes]]:
        """(subject, msg id, payload) for a batch of queued items: one message per table for all the rows of
        the batch (split so that a payload stays under ``MAX_PAYLOAD``), one per result batch."""
        host, out = self.host, []
        by_table: dict[str, list] = {}
        first: dict[str, float] = {}
        for kind, data, ts, _ in items:
            if kind == _RESULTS:
                for i in range(0, len(data), RESULT_LINES):
                    lines = data[i : i + RESULT_LINES]
                    payload = dumps({"v": 1, "host": host, "table": "results", "ts": ts, "lines": lines})
                    name = str(lines[0].get("name", "")) if isinstance(lines[0], dict) else ""
                    out.append((self.prefix + "results", f"{host}:results:{name}:{self._unique()}", payload))
                continue
            for table, row in data:
                rows = by_table.get(table)
                if rows is None:
                    rows = by_table[table] = []
                    first[table] = ts
                rows.append(row)
        for table, rows in by_table.items():
            cols, ei = self._cols.get(table, (None, None))
            self._pack(out, table, cols, ei, rows, first[table])
        return out

    def _pack(
        self,
        out: list[tuple[str, str, bytes]],
        table: str,
        cols: list[str] | None,
        ei: int | None,
        rows: list,
        ts: float,
    ) -> None:
        eids = [rows[0][ei], rows[-1][ei]] if ei is not None else None
        payload = dumps(
            {"v": 1, "host": self.host, "table": table, "eids": eids, "ts": ts, "columns": cols, "rows": rows}
        )
        if len(payload) > MAX_PAYLOAD and len(rows) > 1:
            half = len(rows) // 2
            self._pack(out, table, cols, ei, rows[:half], ts)
            self._pack(out, table, cols, ei, rows[half:], ts)
            return
        out.append((self.prefix + table, f"{self.host}:{table}:{self._unique()}", payload))

    # -- the spool ---------------------------------------------------------------------------------------------

    def _spill(self) -> None:
        """Move the memory queue to the spool (in order); count what does not fit."""
        with self._qlock:
            q = self._q
            if not q:
                return
            while q:
                items = [q.popleft() for _ in range(min(len(q), WINDOW))]
                self._to_spool([encode_record(*m) for m in self._encode(items)])

    def _to_spool(self, recs: list[bytes]) -> None:
        try:
            stored = self.spool.append(recs)
        except SpoolError as exc:
            self._warn(str(exc))
            stored = 0
        self._stats["spooled"] += stored
        if stored < len(recs):
            lost = sum(_rows_in(r) for r in recs[stored:])
            self._stats["dropped"] += lost
            with self._loss_lock:
                self._loss.append(
                    {
                        "time": time.time(),
                        "cause": "spool_drop",
                        "count": lost,
                        "detail": f"nats: the spool {self.opts.spool_dir} is full "
                        f"({self.opts.spool_max_bytes} bytes); rows not sent",
                    }
                )

    # -- the sender thread -------------------------------------------------------------------------------------

    def _warn(self, msg: str) -> None:
        if msg not in self._said:
            self._said.add(msg)
            self.say(f"nats: {msg}")

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception as exc:  # noqa: BLE001 - the sender must never take the agent down
            self._warn(f"the sender stopped: {exc!r}; messages go to the spool")
        finally:
            self._started.set()
            try:
                loop.run_until_complete(self._disconnect())
                tasks = asyncio.all_tasks(loop)  # nats-py's own, left by a connection that never came back
                for t in tasks:
                    t.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            except Exception:  # noqa: BLE001
                pass
            loop.close()

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        self.connected = False
        if nc is not None:
            try:
                await asyncio.wait_for(nc.close(), 2.0)
            except Exception:  # noqa: BLE001
                pass

    async def _connect(self) -> bool:
        async def disconnected() -> None:
            if self.connected:
                self._warn(
                    f"disconnected from the server; spooling to {self.opts.spool_dir} and reconnecting"
                )
            self.connected = False

        async def reconnected() -> None:
            self.connected = True
            self._stats["reconnects"] += 1
            self._said = {m for m in self._said if "spooling" not in m}
            self.say(f"nats: reconnected; sending {self.spool.pending + len(self._q)} queued messages")

        async def on_error(exc: Exception) -> None:
            name = type(exc).__name__
            if self._nc is None:
                return  # the first connection: connect() reports it as one line
            if "Authorization" in name or "authorization" in str(exc).lower():
                self._warn(
                    "the server refused the credentials (authorization violation); spooling until it accepts them"
                )

        try:
            nc = await connect(
                self.opts,
                f"auditsql {self.host}",
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=on_error,
            )
        except ConnectError as exc:
            if exc.auth and not self._start_done:
                self._fatal = f"{exc} (fix [output.nats] credentials)"
                return False
            self._warn(
                f"{exc}; spooling to {self.opts.spool_dir} and retrying every {RETRY:g} s "
                "(events are still stored locally)"
            )
            return False
        self._nc = nc
        self._js = nc.jetstream(timeout=self.opts.ack_timeout, publish_async_max_pending=WINDOW * 4)
        try:
            note = await ensure_stream(nc, self.opts)
        except StreamError as exc:
            self._warn(f"{exc}; spooling and retrying")
            await self._disconnect()
            return False
        if note:
            self._warn(note)
        self.connected = True
        self._said = {m for m in self._said if "retrying" not in m}
        servers = ", ".join(self.opts.servers())
        self.say(f"nats: connected to {servers}; publishing to {self.prefix}* in stream {self.opts.stream}")
        return True

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        next_sync = 0.0
        while True:
            stopping = self._stop.is_set()
            if self._nc is None:
                ok = await self._connect()
                self._started.set()
                if self._fatal is not None:
                    return
                if not ok:
                    if stopping:
                        return
                    self._spill()
                    await self._sleep(RETRY)
                    continue
            now = time.monotonic()
            if now >= next_sync:
                self.spool.sync()
                next_sync = now + 1.0
            if self._need_stream and self.connected:
                try:
                    note = await ensure_stream(self._nc, self.opts)
                    self._need_stream = False
                    if note:
                        self._warn(note)
                except Exception as exc:  # noqa: BLE001 - StreamError, timeouts: try again later
                    self._warn(f"{_why(exc)}; spooling and retrying")
            if not self.connected:
                self._spill()
                if stopping and self._deadline_passed():
                    return
                await self._sleep(0.2)
                continue
            if self.spool.pending:
                if len(self._q) > 0:
                    self._spill()  # keep the order: older messages are in the spool
                if not await self._send_spool():
                    if stopping:
                        return
                    await self._sleep(1.0)
                continue
            batch = self._take()
            if not batch:
                if stopping:
                    return
                self._wake.clear()
                if not self._q:
                    await self._sleep(0.05, wake=True)
                continue
            if stopping and self._deadline_passed():
                self._requeue(batch)
                return
            self._inflight = len(batch)
            msgs = self._encode(batch)
            _acked, failed = await self._publish(msgs)
            if failed:
                with self._qlock:
                    self._to_spool([encode_record(*m) for m in failed])
                self._spill()
            self._inflight = 0

    _close_deadline: float | None = None

    def _deadline_passed(self) -> bool:
        if self._close_deadline is None:
            self._close_deadline = time.monotonic() + CLOSE_WAIT
        return time.monotonic() > self._close_deadline

    def _take(self) -> list[tuple[int, Any, float, Any]]:
        q, out = self._q, []
        with self._qlock:
            while q and len(out) < WINDOW:
                out.append(q.popleft())
            self._inflight = len(out)
        return out

    def _requeue(self, batch: list[tuple[int, Any, float, Any]]) -> None:
        with self._qlock:
            self._q.extendleft(reversed(batch))
            self._inflight = 0

    async def _sleep(self, seconds: float, wake: bool = False) -> None:
        if wake and self._wake is not None:
            try:
                await asyncio.wait_for(self._wake.wait(), seconds)
            except TimeoutError:
                pass
            return
        if self._stop.is_set():
            await asyncio.sleep(min(0.1, seconds))
            return
        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.1, seconds))

    async def _send_spool(self) -> bool:
        """Send the spool from its cursor, a window at a time; False when a send failed."""
        while self.connected:
            if self._stop.is_set() and self._deadline_passed():
                break
            recs = self.spool.peek(WINDOW)
            if not recs:
                return True
            msgs = [decode_record(r) for r in recs]
            acked, failed = await self._publish(msgs)
            self.spool.commit(acked)
            if failed:
                break
        self.spool.rewind()
        return False

    async def _publish(self, msgs: list[tuple[str, str, bytes]]) -> tuple[int, list[tuple[str, str, bytes]]]:
        """Publish ``msgs`` and await their acknowledgements: (length of the acknowledged prefix, the rest).

        A message after the first failure is returned too, acknowledged or not, so that the spool's cursor
        only moves over a prefix; JetStream drops the copies that were stored (same ``Nats-Msg-Id``)."""
        js, futs = self._js, []
        for subject, msg_id, payload in msgs:
            try:
                futs.append(await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}))
            except Exception as exc:  # noqa: BLE001 - disconnected, buffer full: the rest goes to the spool
                self._stats["errors"] += 1
                self._failure(f"publishing failed ({_why(exc)})", exc)
                break
        if futs:
            _done, pending = await asyncio.wait(futs, timeout=self.opts.ack_timeout)
            if pending:
                self._stats["acks_timed_out"] += len(pending)
                self._failure(f"acknowledgements timed out after {self.opts.ack_timeout:g} s", None)
        acked = 0
        for fut in futs:
            if not fut.done():
                fut.cancel()
                break
            exc = None if fut.cancelled() else fut.exception()
            if fut.cancelled() or exc is not None:
                self._stats["errors"] += 1
                if exc is not None:
                    self._failure(f"publishing failed ({_why(exc)})", exc)
                break
            acked += 1
        for fut in futs[acked:]:
            if not fut.done():
                fut.cancel()
        self._stats["sent"] += acked
        if acked == len(msgs) and self._outage:
            self._outage = False
            self._said = {m for m in self._said if "spooling" not in m}
            self.say(f"nats: the server acknowledges again; sending {self.spool.pending} spooled messages")
        return acked, msgs[acked:]

    def _failure(self, msg: str, exc: BaseException | None) -> None:
        import nats.js.errors as jse

        if isinstance(exc, jse.NoStreamResponseError):
            self._need_stream = True
            msg = f"no stream takes {self.prefix}* (the stream {self.opts.stream} is gone?)"
        self._outage = True
        self._warn(f"{msg}; spooling to {self.opts.spool_dir}")


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc) or 'no detail'}"


def nats_output(opts: NatsOptions, host: str, say: Callable[[str], None] | None = None) -> NatsOutput:
    """Build and start the output (``auditsql run`` calls this before touching the kernel)."""
    return NatsOutput(opts, host, say=say).start()

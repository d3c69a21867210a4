"""What every output is, the buffered writer most outputs are built on, and the fan-out the agent calls.

An output never blocks the reader: ``event``, ``rows`` and ``results`` only enqueue. What an output cannot
keep (its bounded buffer is full, or the destination refused a batch) is counted and handed back by
``drain_loss`` as loss records (``cause = "output_drop"``), which the agent stores in ``audit_loss``: a slow or
failing output costs copies of events, never the local store and never the reader's time.

- :class:`Output`: the protocol (``events``, ``syslog``, ``stdout``, ``nats``, ``results_log``...).
- :class:`BufferedOutput`: a bounded deque and one writer thread calling a blocking ``write_batch(items)``;
  overflow is dropped (the newest items: what is queued stays in order) and counted.
- :class:`Outputs`: the fan-out ``RunSink`` and the scheduler call; it isolates the outputs from each other (an
  output that raises is counted, the others still get the event).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson

__all__ = ["BufferedOutput", "Output", "OutputError", "Outputs", "json_line", "loss_record", "start_all"]

OUTPUT_DROP = "output_drop"


class OutputError(Exception):
    """An output cannot be set up (bad setting, unusable destination); ``str()`` is one line for the user."""


class Output(Protocol):
    """One destination: ``events``, ``syslog``, ``stdout``, ``nats``..."""

    name: str

    def event(self, event: dict, rows: list[tuple[str, tuple]]) -> None:
        """One rendered event (docs/event-json.md) and the table rows it filled; must not block."""

    def rows(self, rows: list[tuple[str, tuple]]) -> None:
        """Rows not tied to one event, as stored: ``audit_loss`` rows and the process tree's updates
        (``process_tree``); must not block."""

    def results(self, lines: list[dict]) -> None:
        """osquery-format result lines (dicts, as the results log writes them); must not block."""

    def flush(self) -> None:
        """Called on every loop tick (about twice a second)."""

    def close(self) -> None:
        """Drain what is possible within a few seconds, then stop."""

    def counters(self) -> dict[str, int]:
        """At least ``sent``, ``dropped``, ``queued``, ``errors``."""

    def drain_loss(self) -> list[dict[str, Any]]:
        """Loss records ``{"time", "cause", "count", "detail"}`` since the last call."""


def loss_record(
    count: int, detail: str, when: float | None = None, cause: str = OUTPUT_DROP
) -> dict[str, Any]:
    """A loss record as :class:`auditsql.kernel.loss.LossAccount` keeps them."""
    return {"time": time.time() if when is None else when, "cause": cause, "count": count, "detail": detail}


def json_line(obj: object) -> bytes:
    """One compact JSON line (newline included); a lone surrogate (bytes that were not UTF-8) is kept, escaped."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


class BufferedOutput:
    """A bounded queue of ``(kind, item)`` pairs and one writer thread that calls ``write_batch``.

    ``kind`` is ``"event"`` (``item`` the rendered event dict) or ``"result"`` (one result line dict).
    Subclasses implement ``write_batch(items)`` (blocking is fine: it runs on the writer thread) and may
    implement ``open()`` (called once, on the caller's thread, before the thread starts; raise
    :class:`OutputError`) and ``shutdown()`` (called on the writer thread after the last batch).

    ``write_batch`` returns nothing when the batch was delivered; it raises to say the whole batch is lost
    (``OSError`` or any exception: counted in ``errors`` and booked as ``output_drop`` with the reason), or it
    calls :meth:`lost` itself for partial losses and returns. One that sends item by item may keep
    ``self._in_flight`` at the number of items of the batch not done yet, so that a writer still stuck when
    :meth:`close` gives up is booked exactly.

    The enqueue side (``event``/``results``) runs on the agent's thread and only appends to a deque; the writer
    wakes when a batch is full or at the next ``flush`` (each loop tick), so there is no per-item signalling.
    """

    #: items handed to one ``write_batch`` call at most
    batch_size = 512
    #: seconds ``close`` waits for the queue to drain
    close_timeout = 3.0

    def __init__(self, name: str, buffer: int = 100000, events: bool = True, results: bool = True) -> None:
        self.name = name
        self.capacity = max(1, int(buffer))
        self.want_events = events
        self.want_results = results
        self._q: deque[tuple[str, Any]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending_loss: dict[str, int] = {}
        self._in_flight = 0
        self.sent = 0
        #: drops counted on the agent's side (buffer full, closed) and on the writer's (failed batches): one
        #: writer per counter, so no increment is lost between threads
        self._dropped_put = 0
        self._dropped_write = 0
        self.errors = 0
        self.last_error: str | None = None

    # -- the agent's side ----------------------------------------------------------------------------------

    def start(self) -> BufferedOutput:
        """Open the destination (:meth:`open`) and start the writer thread."""
        self.open()
        self._thread = threading.Thread(target=self._run, name=f"auditsql-output-{self.name}", daemon=True)
        self._thread.start()
        return self

    def event(self, event: dict, rows: list[tuple[str, tuple]]) -> None:
        if self.want_events:
            self._put("event", event)

    def rows(self, rows: list[tuple[str, tuple]]) -> None:
        pass

    def results(self, lines: list[dict]) -> None:
        if self.want_results:
            for line in lines:
                self._put("result", line)

    def _put(self, kind: str, item: Any) -> None:
        q = self._q
        n = len(q)
        if n >= self.capacity or self._stopping:
            self._dropped_put += 1
            self._book(1, "buffer full" if not self._stopping else "closed")
            return
        q.append((kind, item))
        if n + 1 == self.batch_size:
            self._wake.set()

    def flush(self) -> None:
        if self._q:
            self._wake.set()

    def close(self) -> None:
        """Let the writer drain the queue for up to ``close_timeout`` seconds; what is left is booked lost."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        t = self._thread
        if t is not None:
            t.join(self.close_timeout)
            if t.is_alive():  # stuck in write_batch: leave the daemon thread, count what it did not write
                left = len(self._q) + self._in_flight
                self._q.clear()
                if left:
                    self._dropped_put += left
                    self._book(left, f"not written within {self.close_timeout:g} s of stopping")
        else:
            left = len(self._q)
            self._q.clear()
            if left:
                self._dropped_put += left
                self._book(left, "never started")

    @property
    def dropped(self) -> int:
        return self._dropped_put + self._dropped_write

    def counters(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "dropped": self.dropped,
            "queued": len(self._q) + self._in_flight,
            "errors": self.errors,
        }

    def drain_loss(self) -> list[dict[str, Any]]:
        with self._lock:
            pending, self._pending_loss = self._pending_loss, {}
        now = time.time()
        return [loss_record(n, f"{self.name}: {why}", now) for why, n in pending.items()]

    # -- the writer's side ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Set up the destination; raise :class:`OutputError` with one line."""

    def write_batch(self, items: list[tuple[str, Any]]) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """After the last batch, on the writer thread."""

    def lost(self, count: int, why: str) -> None:
        """Book ``count`` items as lost for ``why`` (from ``write_batch``)."""
        if count > 0:
            self._dropped_write += count
            self._book(count, why)

    def _book(self, count: int, why: str) -> None:
        with self._lock:
            self._pending_loss[why] = self._pending_loss.get(why, 0) + count

    def _run(self) -> None:
        q = self._q
        try:
            while True:
                if not q:
                    if self._stopping:
                        break
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                n = min(len(q), self.batch_size)
                batch = [q.popleft() for _ in range(n)]
                self._in_flight = n
                before = self._dropped_write
                try:
                    self.write_batch(batch)
                except Exception as exc:  # the destination failed: this batch is lost, the next one is tried
                    self.errors += 1
                    self.last_error = _reason(exc)
                    self.lost(n - (self._dropped_write - before), f"cannot write: {self.last_error}")
                else:
                    self.sent += n - (self._dropped_write - before)
                finally:
                    self._in_flight = 0
        finally:
            try:
                self.shutdown()
            except Exception as exc:
                self.errors += 1
                self.last_error = _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Outputs:
    """The fan-out: every output gets each event, each batch of ``audit_loss`` rows and each result batch.

    An output whose method raises (a bug: outputs must not raise) is counted in ``errors`` and booked as
    ``output_drop``; the other outputs and the agent go on.
    """

    def __init__(self, outputs: Sequence[Output] = ()) -> None:
        self.outputs = list(outputs)
        self._faults: dict[str, int] = {}
        self.errors = 0

    def __bool__(self) -> bool:
        return bool(self.outputs)

    def __iter__(self) -> Any:
        return iter(self.outputs)

    def add(self, output: Output) -> None:
        self.outputs.append(output)

    def names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def event(self, event: dict, rows: list[tuple[str, tuple]]) -> None:
        for o in self.outputs:
            try:
                o.event(event, rows)
            except Exception as exc:
                self._fault(o, exc)

    def rows(self, rows: list[tuple[str, tuple]]) -> None:
        self._each(lambda o: o.rows(rows))

    def results(self, lines: list[dict]) -> None:
        if lines:
            self._each(lambda o: o.results(lines))

    def flush(self) -> None:
        self._each(lambda o: o.flush())

    def close(self) -> None:
        """Close every output (each drains for a few seconds, the slow ones in parallel)."""
        threads = [threading.Thread(target=self._close_one, args=(o,), daemon=True) for o in self.outputs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _close_one(self, o: Output) -> None:
        try:
            o.close()
        except Exception as exc:
            self._fault(o, exc)

    def counters(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for o in self.outputs:
            try:
                out[o.name] = dict(o.counters())
            except Exception:
                out[o.name] = {}
        return out

    def drain_loss(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for o in self.outputs:
            try:
                out.extend(o.drain_loss())
            except Exception as exc:
                self._fault(o, exc)
        if self._faults:
            faults, self._faults = self._faults, {}
            now = time.time()
            out.extend(loss_record(n, why, now) for why, n in faults.items())
        return out

    def _each(self, call: Callable[[Output], object]) -> None:
        for o in self.outputs:
            try:
                call(o)
            except Exception as exc:
                self._fault(o, exc)

    def _fault(self, o: Output, exc: BaseException) -> None:
        self.errors += 1
        why = f"{getattr(o, 'name', '?')}: failed: {type(exc).__name__}: {exc}"
        self._faults[why] = self._faults.get(why, 0) + 1


def start_all(outputs: Iterable[BufferedOutput]) -> None:
    """Start each output; on an error, close the ones started and raise it."""
    started: list[BufferedOutput] = []
    try:
        for o in outputs:
            o.start()
            started.append(o)
    except BaseException:
        for o in started:
            o.close()
        raise

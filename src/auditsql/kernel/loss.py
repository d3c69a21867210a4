"""Loss accounting for live sources: what was lost, where, when, and how much.

Six causes are counted, each where it can be observed:

``kernel_lost``
    the kernel's own ``lost`` counter (``auditctl -s``), polled with ``AUDIT_GET`` on a control socket of
    its own (never the reader's socket: replies there would queue behind records). Records the kernel
    dropped because its backlog was full, the rate limit was hit, or a queue overflowed. The counter does
    not say which: :class:`KernelLossReasons` reads the kernel's own log (``/dev/kmsg``), where each loss
    the kernel prints names its reason next to the counter's value, and splits the increase by reason
    (the loss record's ``detail``: ``backlog limit exceeded``, ``rate limit exceeded``...).
``serial_gap``
    serial numbers that never arrived. The kernel numbers every record it emits from one counter, so a
    serial that has not shown up ``settle`` seconds after a later one did is counted lost (records of
    concurrent syscalls may arrive a little out of order, hence the delay). Wrap-safe at 2**32. This is a
    symptom, not a cause: it overlaps the other four.
``enobufs``
    the reader's socket overflowed (``recvmsg`` failed with ``ENOBUFS``). On a multicast socket those
    messages are gone; on the unicast (daemon) socket the kernel keeps them on its retry queue, so this
    is an overrun that may or may not turn into kernel loss.
``truncated``
    a message larger than the receive buffer (``MSG_TRUNC``): the record was kept, cut.
``queue_drop``
    records the reader dropped because the processing side was behind (``--policy drop``).
``proc_connector``
    fork and exit notices of the proc connector (the process tree's source: auditsql.kernel.connector) that
    the kernel dropped because that socket was full.

``auditsql run`` adds the losses after the reader: ``output_drop`` and ``spool_drop`` (copies an output could
not ship) and ``store_full``, events the store could not take because its file system was full (counted here
as they are dropped, booked in ``audit_loss`` once the store can be written again: :meth:`LossAccount.count`).

Every increment can also be kept as a structured loss record ``{"time", "cause", "count", "detail"}``
(a later SQL table stores them); :meth:`LossAccount.drain` hands them over.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .netlink import AuditSocket
from .status import AuditStatus, get_status

__all__ = [
    "CAUSES",
    "DEFAULT_STATS_FILE",
    "KernelLossReasons",
    "KernelLostPoller",
    "LossAccount",
    "UNLOGGED",
    "SerialTracker",
    "format_stats",
    "parse_kmsg",
    "read_stats",
    "write_stats",
]

#: ``output_drop``: an output's bounded buffer overflowed (auditsql.outputs); ``spool_drop``: the NATS spool was
#: full (auditsql.outputs.nats). Both are user-space losses of shipped copies; the local store still has the rows.
CAUSES = (
    "kernel_lost",
    "serial_gap",
    "enobufs",
    "truncated",
    "queue_drop",
    # proc connector notices (forks, exits) the kernel dropped because the socket was full
    # (auditsql.kernel.connector): the process tree's /proc sweep repairs what it can
    "proc_connector",
    "output_drop",
    "spool_drop",
    # events the store could not take: its file system was full ([store] disk_full_action; docs/store.md)
    "store_full",
    # a record the journal held cut short: a kill came in the middle of its write (auditsql.kernel.journal)
    "journal_torn",
    # not a loss: rows the store's retention deleted (age, row count, size), booked so that a user can tell
    # age-out from loss
    "retention",
)

_SERIAL_MOD = 1 << 32
_HALF = 1 << 31


class LossAccount:
    """Thread-safe loss counters plus a bounded list of structured loss records.

    The reader thread and the processing side both add to it; ``max_records`` bounds memory when nobody
    drains (the counters stay exact, ``records_dropped`` says how many records were not kept).
    """

    def __init__(self, clock: Callable[[], float] = time.time, max_records: int = 10000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: deque[dict[str, Any]] = deque()
        self.max_records = max_records
        self.counters: dict[str, int] = dict.fromkeys(CAUSES, 0)
        self.records_dropped = 0

    def add(self, cause: str, count: int = 1, detail: str | None = None, when: float | None = None) -> None:
        if cause not in self.counters:
            raise ValueError(f"unknown loss cause {cause!r}; known: {', '.join(CAUSES)}")
        if count <= 0:
            return
        rec = {
            "time": self._clock() if when is None else when,
            "cause": cause,
            "count": count,
            "detail": detail,
        }
        with self._lock:
            self.counters[cause] += count
            if len(self._records) >= self.max_records:
                self._records.popleft()
                self.records_dropped += 1
            self._records.append(rec)

    def count(self, cause: str, count: int) -> None:
        """Add to a counter without a loss record: for a loss whose record its owner books itself, later
        (``store_full``: the record waits until the store can be written)."""
        if cause not in self.counters:
            raise ValueError(f"unknown loss cause {cause!r}; known: {', '.join(CAUSES)}")
        if count > 0:
            with self._lock:
                self.counters[cause] += count

    def drain(self) -> list[dict[str, Any]]:
        """The loss records added since the last drain, oldest first."""
        with self._lock:
            out = list(self._records)
            self._records.clear()
        return out

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)


#: the kernel's reasons for a lost record, as ``audit_log_lost()`` prints them (kernel/audit.c), matched by a
#: part of the text: (part, the reason as booked)
_REASONS = (
    ("backlog limit exceeded", "backlog limit exceeded"),
    ("rate limit exceeded", "rate limit exceeded"),
    ("hold queue overflow", "kauditd hold queue overflow"),
    ("retry queue overflow", "kauditd retry queue overflow"),
    ("out of memory", "out of memory"),
)
_LOST_PREFIX = "audit: audit_lost="
#: the reason booked for kernel loss when a rate limit is set and the kernel logged no reason in this run
UNLOGGED = "rate limit or backlog limit exceeded (the kernel logged neither)"
KMSG = "/dev/kmsg"


def parse_kmsg(record: str) -> tuple[str, int | str] | None:
    """One ``/dev/kmsg`` record (``PRIO,SEQ,USEC,FLAGS;TEXT`` and continuation lines) -> ``("lost", N)`` for
    the kernel's ``audit: audit_lost=N audit_rate_limit=R audit_backlog_limit=B`` line, ``("reason", R)``
    for the line naming why a record was lost (``audit: backlog limit exceeded``), else None.

    ``audit_log_lost()`` prints the two together (the counter first), rate-limited: at most once a second
    when a rate limit is set, and ``printk_ratelimit()`` (10 lines per 5 s) in any case."""
    head, sep, rest = record.partition(";")
    if not sep or "," not in head:
        return None
    text = rest.partition("\n")[0]
    if not text.startswith("audit: ") or text.startswith("audit: type="):
        return None
    if text.startswith(_LOST_PREFIX):
        digits = text[len(_LOST_PREFIX) :].partition(" ")[0]
        return ("lost", int(digits)) if digits.isdigit() else None
    for part, reason in _REASONS:
        if part in text:
            return "reason", reason
    return None


class KernelLossReasons:
    """Why the kernel's ``lost`` counter went up: read from the kernel's log, ``/dev/kmsg``.

    The kernel counts every lost record in one counter; only its log says why. Each logged loss is a
    sample: the counter's value and the reason. :meth:`split` divides an increase of the counter between
    the reasons sampled inside it; losses the kernel did not log (its printk is rate-limited) go to the
    reason of the next sample, or, after the last one, of the last sample seen. Exact when one reason is
    at work (the usual case: a storm beyond the backlog, or a rate limit); an estimate at the borders when
    several alternate within one poll. ``/dev/kmsg`` is read from its end at the start (earlier losses are
    not ours) and never blocks; where it cannot be read, :attr:`error` says why and the reason is inferred
    as :meth:`split` says.
    """

    def __init__(self, path: str = KMSG) -> None:
        self.error: str | None = None
        self._fd: int | None = None
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self._fd, 0, os.SEEK_END)
        except OSError as exc:
            self.error = f"{path}: {exc.strerror}"
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        #: (counter value, reason) samples not yet used, oldest first
        self._samples: list[tuple[int, str]] = []
        self._lost: int | None = None
        #: the last reason seen, for losses logged without one
        self.last: str | None = None
        #: loss with no reason yet, held back for one :meth:`split` (see there)
        self._held = 0

    def feed(self, record: str) -> None:
        """Take one kmsg record (what :meth:`read` does with each)."""
        got = parse_kmsg(record)
        if got is None:
            return
        kind, value = got
        if kind == "lost":
            self._lost = int(value)
        elif self._lost is not None:
            self._samples.append((self._lost, str(value)))
            self._lost = None
        else:
            self.last = str(value)

    def read(self) -> None:
        """Take every record the kernel logged since the last read."""
        fd = self._fd
        if fd is None:
            return
        while True:
            try:
                data = os.read(fd, 8192)
            except BlockingIOError:
                return
            except BrokenPipeError:
                continue  # records were overwritten before we read them: go on with the next ones
            except OSError as exc:
                self.error = f"{KMSG}: {exc.strerror}"
                self.close()
                return
            if not data:
                return
            self.feed(data.decode("utf-8", "replace"))

    def split(self, before: int, after: int, rate_limit: int | None = None) -> list[tuple[int, str]]:
        """The increase ``before`` -> ``after`` of the counter as (count, reason) parts, in order; reasons
        that follow each other are merged. Reads the log first.

        Loss with no logged reason in this run (the kernel's printk is rate-limited, and was seen to stay
        silent through whole storms) is ``backlog limit exceeded`` when no rate limit is set
        (``rate_limit`` 0: the queue overflows print without a rate limit, so they would have shown).
        With a rate limit set, it is held back until the next call: the kernel may log the reason a moment
        later (at most once a second), and then the held loss goes to that reason, as any loss goes to the
        reason of the next sample. Still unexplained at the next call, or at :meth:`unexplained`, it is
        :data:`UNLOGGED`."""
        self.read()
        held, self._held = self._held, 0
        parts: list[list[Any]] = []
        prev = before - held
        keep: list[tuple[int, str]] = []
        for value, reason in self._samples:
            if value > after:
                keep.append((value, reason))
                continue
            if value > prev:
                _add_part(parts, value - prev, reason)
                prev = value
            self.last = reason
        self._samples = keep
        if after > prev:
            tail = keep[0][1] if keep else self.last
            if tail is None and rate_limit != 0 and not held and after - prev == after - before:
                # nothing explains it yet: wait one call for the kernel's log
                self._held = after - prev
            else:
                _add_part(parts, after - prev, tail)
        guess = "backlog limit exceeded" if rate_limit == 0 else UNLOGGED
        out: list[list[Any]] = []
        for count, reason in parts:
            _add_part(out, count, reason or guess)
        return [(int(c), str(r)) for c, r in out]

    def unexplained(self) -> list[tuple[int, str]]:
        """The loss held back by :meth:`split` (nothing more will explain it): ``[(count, UNLOGGED)]`` or []."""
        held, self._held = self._held, 0
        return [(held, UNLOGGED)] if held else []

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _add_part(parts: list[list[Any]], count: int, reason: str | None) -> None:
    if parts and parts[-1][1] == reason:
        parts[-1][0] += count
    else:
        parts.append([count, reason])


class KernelLostPoller:
    """Polls the kernel's ``lost`` counter on its own control socket and books the increase.

    The first poll sets the baseline (loss before we started is not ours). A counter that went down was
    reset (``auditctl --reset-lost``); what it counts since the reset is booked. With ``reasons`` the
    increase is booked in parts, one per reason the kernel logged (the loss record's ``detail``).
    """

    def __init__(
        self, account: LossAccount, sock: AuditSocket | None = None, reasons: KernelLossReasons | None = None
    ) -> None:
        self.account = account
        self._own = sock is None
        self._sock = sock
        self.reasons = reasons
        self._last: int | None = None
        #: the last status read (for the status line: backlog, lost...), or None
        self.status: AuditStatus | None = None
        self.errors = 0

    def poll(self) -> int:
        """Read the status once; return the lost delta booked (0 on the first poll or on error)."""
        try:
            if self._sock is None:
                self._sock = AuditSocket(timeout=2.0)
            st = get_status(self._sock)
        except OSError:
            self.errors += 1
            return 0
        self.status = st
        lost = st.lost or 0
        last = self._last
        self._last = lost
        if last is None:
            return 0
        if lost < last:
            self.account.add("kernel_lost", lost, f"kernel lost counter was reset (from {last} to 0)")
            return lost
        delta = lost - last
        if delta and self.reasons is not None:
            for count, reason in self.reasons.split(last, lost, st.rate_limit):
                self.account.add("kernel_lost", count, reason)
        else:
            self.account.add("kernel_lost", delta, None)
        return delta

    def close(self) -> None:
        if self._own and self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.reasons is not None:
            for count, reason in self.reasons.unexplained():
                self.account.add("kernel_lost", count, reason)
            self.reasons.close()


class SerialTracker:
    """Counts serial numbers that never arrive, wrap-safe, with a settle delay for reordering.

    :meth:`observe` is called for every record (cheap when the serial is the current one); :meth:`settle`
    periodically books the serials missing for longer than ``settle_seconds``. A gap of more than
    ``track_limit`` serials is booked as one block (a late arrival inside it is not subtracted); a jump
    larger than ``max_gap`` (another boot's counter, a foreign stream) is counted as a jump, not loss.
    """

    def __init__(
        self,
        account: LossAccount,
        settle_seconds: float = 5.0,
        max_gap: int = 1 << 20,
        track_limit: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.settle_seconds = settle_seconds
        self.max_gap = max_gap
        self.track_limit = track_limit
        self._clock = clock
        self._high: int | None = None
        #: missing serial -> when it became missing (monotonic clock)
        self._missing: dict[int, float] = {}
        #: large gaps: (first serial, count, when)
        self._blocks: list[tuple[int, int, float]] = []
        self.jumps = 0
        self.late = 0

    def observe(self, serial: int) -> None:
        high = self._high
        if serial == high:
            return
        if high is None:
            self._high = serial
            return
        d = (serial - high) % _SERIAL_MOD
        if d < _HALF:
            if d > self.max_gap:
                self.jumps += 1
            elif d > self.track_limit:
                self._blocks.append(((high + 1) % _SERIAL_MOD, d - 1, self._clock()))
            elif d > 1:
                now = self._clock()
                missing = self._missing
                for i in range(1, d):
                    missing[(high + i) % _SERIAL_MOD] = now
            self._high = serial
        elif self._missing.pop(serial, None) is not None:
            self.late += 1

    def settle(self, now: float | None = None) -> int:
        """Book the serials missing for longer than the settle delay; return how many."""
        if not self._missing and not self._blocks:
            return 0
        limit = (self._clock() if now is None else now) - self.settle_seconds
        booked = 0
        gone = [s for s, t in self._missing.items() if t <= limit]
        for s in gone:
            del self._missing[s]
        if gone:
            lo, hi = min(gone), max(gone)
            detail = f"serial {lo}" if lo == hi else f"{len(gone)} serials in {lo}..{hi}"
            self.account.add("serial_gap", len(gone), detail)
            booked += len(gone)
        keep = []
        for lo, count, t in self._blocks:
            if t <= limit:
                self.account.add("serial_gap", count, f"serials {lo}..{(lo + count - 1) % _SERIAL_MOD}")
                booked += count
            else:
                keep.append((lo, count, t))
        self._blocks = keep
        return booked

    def flush(self) -> int:
        """At the end: book every serial still missing."""
        return self.settle(float("inf"))

    @property
    def pending(self) -> int:
        """Serials missing but not yet booked."""
        return len(self._missing) + sum(c for _, c, _ in self._blocks)


# -- the stats file: a running listener's counters, for `auditsql ctl -s` ------------------------------------

DEFAULT_STATS_FILE = "/run/auditsql/stats.json"


def write_stats(path: str, stats: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``stats`` as JSON (a running listener does this every second)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(stats, fh, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def read_stats(path: str = DEFAULT_STATS_FILE) -> dict[str, Any] | None:
    """The last counters a listener wrote, or None (no file, or not JSON)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def format_stats(stats: dict[str, Any]) -> list[str]:
    """``auditctl -s``-style lines for a listener's stats (``auditsql ctl -s`` appends them).

    ``auditsql_pid 1234 (unicast, running)``, ``auditsql_keeper_pid 1235 (running)`` with a socket keeper (the
    pid ``auditctl -s`` shows), then one ``auditsql_<cause> N`` line per loss cause; for ``auditsql
    run``, its store's state: ``auditsql_store_writable 1`` (0 while its file system is full),
    ``auditsql_store_free_bytes N`` and ``auditsql_store_space_low 0`` (1 while below ``[store] space_left``).
    """
    pid = stats.get("pid", 0)
    alive = "running" if isinstance(pid, int) and pid > 0 and os.path.exists(f"/proc/{pid}") else "exited"
    lines = [f"auditsql_pid {pid} ({stats.get('source', '?')}, {alive})"]
    keeper = stats.get("keeper")
    if isinstance(keeper, int) and keeper > 0:  # the socket keeper (the registered audit daemon pid)
        state = "running" if os.path.exists(f"/proc/{keeper}") else "exited"
        lines.append(f"auditsql_keeper_pid {keeper} ({state})")
    lines.append(f"auditsql_events {stats.get('events', 0)}")
    loss = stats.get("loss", {})
    lines.extend(f"auditsql_{cause} {loss.get(cause, 0)}" for cause in CAUSES)
    store = stats.get("store")
    if isinstance(store, dict):  # auditsql run's store: can it be written, its file system's room
        lines.append(f"auditsql_store_writable {0 if store.get('full') else 1}")
        if store.get("free_bytes") is not None:
            lines.append(f"auditsql_store_free_bytes {store['free_bytes']}")
        lines.append(f"auditsql_store_space_low {1 if store.get('space_low') else 0}")
    return lines

"""Records → events: group by (node, timestamp, serial), close on EOE, on single-record types, or by window.

Logs mostly lack EOE (auditd only writes it for events the kernel ended with one, and many tools strip it),
and records of different events interleave, so an event is also closed when it has seen no record for
``window`` records (go-libaudit's reassembler bounds its in-flight events the same way). Timestamps do not
close events while reading logs, because logs are not always in time order (sorted or merged files); live
sources call :meth:`Assembler.tick` with the wall clock, which closes events ``window_seconds`` old.

Nothing is dropped silently: a record for an event that was already closed becomes a ``late`` event, an exact
duplicate record is counted, an unparsable line becomes an ``error`` event, and serial numbers that never
appeared (wrap-safe at 2**32) are counted as gaps.
"""

from __future__ import annotations

from collections import OrderedDict

from auditsql.events.event import Event
from auditsql.records.record import Record

__all__ = ["Assembler", "is_single", "EOE"]

EOE = 1320
_SERIAL_MOD = 1 << 32
_HALF = 1 << 31
#: a serial jump larger than this is a restart or another stream, not loss
_MAX_GAP = 1 << 20
#: how many closed event keys are remembered to recognise late records
_CLOSED_MEMORY = 8192


def _first_order(ev: Event) -> int:
    return ev.began


def is_single(rtype: int) -> bool:
    """Types that are a whole event on their own: user-space messages and daemon records.

    1100-1199 user messages (USER_*, CRED_*, LOGIN via PAM...), 1200-1299 auditd's DAEMON_* records,
    2100-2999 user-space anomaly/integrity/MAC/virt/crypto messages. Kernel records (1300-1399, 1400-1499
    SELinux, 1500-1599 AppArmor, 1700-1799 kernel anomalies) can share their serial with a SYSCALL record.
    """
    return 1100 <= rtype <= 1299 or 2100 <= rtype <= 2999


class Assembler:
    """Incremental reassembly. ``push`` returns the events it closed (possibly none)."""

    def __init__(self, window: int = 512, window_seconds: float = 3.0, single_window: int = 16) -> None:
        self.window = window
        self.single_window = single_window
        self._singles: OrderedDict[tuple, Event] = OrderedDict()
        self.window_seconds = window_seconds
        self._pending: OrderedDict[tuple, Event] = OrderedDict()
        #: the wall clock of the latest tick (None before the first): an event's ``seen`` time, so that the
        #: time window counts from arrival, not from the event's own timestamp (replayed or delayed records)
        self._clock: float | None = None
        self._closed: OrderedDict[tuple, None] = OrderedDict()
        self._n = 0
        # serial bookkeeping per node: highest serial seen and serials still missing below it
        self._high: dict[str | None, int] = {}
        self._missing: dict[str | None, set[int]] = {}
        self.stats = {
            "records": 0,
            "events": 0,
            "errors": 0,
            "closed_eoe": 0,
            "closed_single": 0,
            "closed_window": 0,
            "closed_flush": 0,
            "late": 0,
            "duplicates": 0,
            "serial_gaps": 0,
            "serial_jumps": 0,
        }

    # -- input -------------------------------------------------------------------------------------------------

    def push(self, rec: Record) -> list[Event]:
        stats = self.stats
        stats["records"] += 1
        self._n += 1
        out: list[Event] = []
        if rec.error is not None and rec.sec == 0:
            stats["errors"] += 1
            stats["events"] += 1
            out.append(Event.of(rec, "error"))
            return out
        key = (rec.node, rec.sec, rec.msec, rec.serial)
        ev = self._pending.get(key)
        if ev is None and self._singles:
            ev = self._singles.pop(key, None)
            if ev is not None:
                self._pending[key] = ev
        if ev is None:
            if key in self._closed:
                stats["late"] += 1
                stats["events"] += 1
                out.append(Event.of(rec, "late"))
                return out
            self._serial(rec.node, rec.serial)
            if rec.type == EOE:
                # an EOE with nothing before it: an event of its own, so that nothing is lost
                return self._close_new(rec, "eoe", out)
            ev = Event(rec.node, rec.sec, rec.msec, rec.serial, self._n)
            if self._clock is not None:
                ev.seen = self._clock
            ev.records.append(rec)
            if is_single(rec.type):
                # usually an event on its own, but the kernel may add the sending syscall's records
                # (SYSCALL, SOCKADDR, EOE) under the same serial: wait a few records for them
                self._singles[key] = ev
            else:
                self._pending[key] = ev
            return self._expire(out, rec)
        else:
            for r in ev.records:
                if r.text == rec.text:
                    ev.duplicates += 1
                    stats["duplicates"] += 1
                    return self._expire(out, rec)
        ev.records.append(rec)
        if rec.type == EOE:
            del self._pending[key]
            self._emit(ev, "eoe", out)
        else:
            # the window counts from an event's latest record: an event still receiving records stays open
            ev.seq = self._n
            if self._clock is not None:
                ev.seen = self._clock
            self._pending.move_to_end(key)
        return self._expire(out, rec)

    def _close_new(self, rec: Record, how: str, out: list[Event]) -> list[Event]:
        ev = Event(rec.node, rec.sec, rec.msec, rec.serial, self._n)
        ev.records.append(rec)
        self._emit(ev, how, out)
        return self._expire(out, rec)

    def _emit(self, ev: Event, how: str, out: list[Event]) -> None:
        ev.closed_by = how
        self.stats["closed_" + how] += 1
        self.stats["events"] += 1
        closed = self._closed
        closed[(ev.node, ev.sec, ev.msec, ev.serial)] = None
        if len(closed) > _CLOSED_MEMORY:
            closed.popitem(last=False)
        out.append(ev)

    def _expire(self, out: list[Event], rec: Record) -> list[Event]:
        singles = self._singles
        if singles:
            limit = self._n - self.single_window
            while singles:
                key, ev = next(iter(singles.items()))
                if ev.seq > limit:
                    break
                del singles[key]
                self._emit(ev, "single", out)
        pending = self._pending
        if not pending:
            return out
        limit = self._n - self.window
        while pending:
            key, ev = next(iter(pending.items()))
            if ev.seq > limit:
                break
            del pending[key]
            self._emit(ev, "window", out)
        return out

    def tick(self, now: float) -> list[Event]:
        """Close events that received no record for ``window_seconds`` of wall clock (live sources).

        Time counts from when the assembler saw an event's latest record (to the tick's resolution), not from
        the event's timestamp: records replayed from auditd's plugin stream or delayed in a queue carry old
        timestamps and must not be cut off mid-event. Events that arrived before the first tick count from it.
        """
        out: list[Event] = []
        if self._clock is None:
            for ev in self._singles.values():
                ev.seen = now
            for ev in self._pending.values():
                ev.seen = now
        self._clock = now
        oldest = now - self.window_seconds
        singles = self._singles
        while singles:
            key, ev = next(iter(singles.items()))
            if ev.seen >= now - min(1.0, self.window_seconds):
                break
            del singles[key]
            self._emit(ev, "single", out)
        pending = self._pending
        while pending:
            key, ev = next(iter(pending.items()))
            if ev.seen >= oldest:
                break
            del pending[key]
            self._emit(ev, "window", out)
        return out

    def flush(self) -> list[Event]:
        """Close everything (end of input)."""
        out: list[Event] = []
        singles = self._singles
        while singles:
            _, ev = singles.popitem(last=False)
            self._emit(ev, "single", out)
        # end of input: what is left closes in the order the events began
        for ev in sorted(self._pending.values(), key=_first_order):
            self._emit(ev, "flush", out)
        self._pending.clear()
        return out

    # -- serials -----------------------------------------------------------------------------------------------

    def _serial(self, node: str | None, serial: int) -> None:
        high = self._high.get(node)
        if high is None:
            self._high[node] = serial
            return
        d = (serial - high) % _SERIAL_MOD
        if d == 0:
            return
        if d < _HALF:
            # forward (possibly across the 2**32 wrap)
            if 1 < d <= _MAX_GAP:
                missing = self._missing.setdefault(node, set())
                for i in range(1, d):
                    missing.add((high + i) % _SERIAL_MOD)
                if len(missing) > 65536:
                    missing.clear()  # bounded memory: those gaps stay counted
                self.stats["serial_gaps"] += d - 1
            elif d > _MAX_GAP:
                self.stats["serial_jumps"] += 1
            self._high[node] = serial
        else:
            # behind the highest: an out-of-order event filling a gap, if it was one
            missing = self._missing.get(node)
            if missing and serial in missing:
                missing.discard(serial)
                self.stats["serial_gaps"] -= 1

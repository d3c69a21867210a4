"""An event: the records the kernel emitted for one audited action, sharing (node, timestamp, serial)."""

from __future__ import annotations

from auditsql.records.record import Record

__all__ = ["Event"]


class Event:
    """Records of one event, in arrival order, and how the event was closed.

    ``closed_by`` is one of ``eoe`` (an EOE record), ``single`` (a type that is an event on its own),
    ``window`` (no more records came within the assembler's window), ``flush`` (end of input),
    ``late`` (records that arrived after their event had been closed), ``error`` (unparsable line).
    """

    __slots__ = (
        "node",
        "sec",
        "msec",
        "serial",
        "records",
        "closed_by",
        "seq",
        "began",
        "duplicates",
        "seen",
    )

    def __init__(self, node: str | None, sec: int, msec: int, serial: int, seq: int = 0) -> None:
        self.node = node
        self.sec = sec
        self.msec = msec
        self.serial = serial
        self.records: list[Record] = []
        self.closed_by = ""
        #: arrival index of the latest record (assembler bookkeeping)
        self.seq = seq
        #: arrival index of the first record
        self.began = seq
        #: records dropped as exact duplicates of one already in the event
        self.duplicates = 0
        #: wall-clock time of the latest record as the assembler saw it (its last tick), or the event's own time
        #: before any tick: what ``Assembler.tick`` measures the window against
        self.seen = sec + msec / 1000.0

    @classmethod
    def of(cls, record: Record, closed_by: str) -> Event:
        ev = cls(record.node, record.sec, record.msec, record.serial)
        ev.records.append(record)
        ev.closed_by = closed_by
        return ev

    @property
    def id(self) -> str:
        return f"{self.sec}.{self.msec:03d}:{self.serial}"

    @property
    def time(self) -> float:
        return self.sec + self.msec / 1000.0

    def first(self, rtype: int) -> Record | None:
        for r in self.records:
            if r.type == rtype:
                return r
        return None

    def all(self, rtype: int) -> list[Record]:
        return [r for r in self.records if r.type == rtype]

    def __repr__(self) -> str:
        types = ",".join(r.name for r in self.records)
        return f"Event({self.id} node={self.node} [{types}] closed_by={self.closed_by})"

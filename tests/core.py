"""Test helpers over ``auditsql._core``: records as its dicts, events as rendered dicts, with their records.

The native core returns a record as a dict (``text``, ``node``, ``body`` and field tokens as bytes; see
``src/auditsql/_core.pyi``) and an event as its rendered JSON object. These helpers read logs as the
``read`` job does (comment and blank lines skipped, the format sniffed from the head) and give back, where a
test needs them, the records of an event (parsed again from its ``raw`` texts, which are exact).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auditsql import _core

__all__ = [
    "ASSEMBLER_STATS",
    "ID_FIELDS",
    "Asm",
    "as_text",
    "Ev",
    "detect_format",
    "detect_of",
    "event_records",
    "events_and_records",
    "get",
    "is_encoded",
    "name_ids",
    "names",
    "log_lines",
    "parse_text",
    "pipeline_events",
    "raw_bytes",
    "Rendered",
    "rendered_events",
    "records_of_bytes",
    "rid",
    "section_in",
    "section_of",
    "sockaddr_of",
    "text",
]

Record = dict[str, Any]

_SNIFF = 64 * 1024
_ENRICHED_MARK = re.compile(rb'\x1d|[A-Z][A-Z0-9_]+="|ARCH=[a-z]|SYSCALL=[a-z]')
#: the assembler's counters (Python's Assembler.stats), as Pipeline.stats() carries them
ASSEMBLER_STATS = (
    "records",
    "events",
    "errors",
    "closed_eoe",
    "closed_single",
    "closed_window",
    "closed_flush",
    "late",
    "duplicates",
    "serial_gaps",
    "serial_jumps",
)


# -- records ---------------------------------------------------------------------------------------------------


def text(b: bytes | None) -> str | None:
    """Bytes as text, invalid UTF-8 as surrogate escapes (lossless)."""
    return None if b is None else b.decode("utf-8", "surrogateescape")


def get(rec: Record, key: bytes, default: bytes | None = None) -> bytes | None:
    """The first token written for ``key`` (as written, quotes included)."""
    for k, v in rec["fields"]:
        if k == key:
            return v
    return default


def as_text(token: bytes) -> str | None:
    """Any token as text: quotes removed, ``(null)``/``?`` → None, escaped (the typing of a text field such
    as ``op``)."""
    return _core.convert("op", token)


def rid(rec: Record) -> str:
    """``SEC.MSEC:SERIAL`` of a record."""
    return f"{rec['sec']}.{rec['msec']:03d}:{rec['serial']}"


def parse_text(line: str, detect: bool = True) -> list[Record]:
    """The records of one line given as text (no terminator)."""
    assert not line.endswith("\n"), "parse_text takes a line without its terminator"
    return _core.parse_line(line.encode("utf-8", "surrogateescape"), detect)


def detect_format(head: bytes) -> str:
    """``enriched`` when the sample holds auditd's 0x1d separator or an upper-case interpreted key (as
    sources/logfile.py sniffs a log's first 64 KiB)."""
    return "enriched" if _ENRICHED_MARK.search(head) else "raw"


def records_of_bytes(data: bytes, fmt: str = "auto") -> list[Record]:
    """Every record of a log's text, in order (format sniffed from the head unless given)."""
    detect = (fmt if fmt != "auto" else detect_format(data[:_SNIFF])) != "raw"
    out: list[Record] = []
    for line in log_lines(data):
        out.extend(_core.parse_line(line, detect))
    return out


def log_lines(data: bytes) -> Iterator[bytes]:
    """The lines the ``read`` job parses, split at LF (as Python's file iteration splits them), comment and
    blank lines skipped."""
    start = 0
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        end = n if end < 0 else end + 1
        line = data[start:end]
        start = end
        if line[:1] == b"#" or line.isspace():
            continue
        yield line


def raw_bytes(raw: object) -> bytes:
    """One ``raw`` entry of an event (text, or ``{"base64": ...}`` for bytes that are not UTF-8) as bytes."""
    if isinstance(raw, dict):
        return base64.b64decode(raw["base64"])
    assert isinstance(raw, str)
    return raw.encode("utf-8")


def event_records(ev: dict, detect: bool = True) -> list[Record]:
    """An event's records, in arrival order, parsed again from its exact ``raw`` texts."""
    out: list[Record] = []
    for raw in ev["raw"]:
        out.extend(_core.parse_line(raw_bytes(raw), detect))
    return out


def events_and_records(
    data: bytes, fmt: str = "auto", resolve_ids: bool = False
) -> list[tuple[dict, list[Record]]]:
    """A log's rendered events (``render_lines``), each with its records."""
    detect = (fmt if fmt != "auto" else detect_format(data[:_SNIFF])) != "raw"
    return [
        (ev, event_records(ev, detect))
        for ev in _core.render_lines(data, resolve_ids=resolve_ids, format=fmt)
    ]


def detect_of(rec: Record) -> bool:
    """The ``detect`` flag under which the record's text parses back to the record (True when both do)."""
    for detect in (True, False):
        if _core.parse_line(rec["text"], detect) == [rec]:
            return detect
    return True


def sockaddr_of(token: bytes | None, arch: int | None) -> dict | None:
    """What the renderer's summary decodes from a SOCKADDR ``saddr=`` token in an event whose SYSCALL has
    ``arch`` (None: no SYSCALL record); None when there is nothing to decode."""
    lines = [b"type=SYSCALL msg=audit(1.000:1): arch=%x syscall=42\n" % arch] if arch is not None else []
    lines.append(
        b"type=SOCKADDR msg=audit(1.000:1):" + (b" saddr=" + token if token is not None else b"") + b"\n"
    )
    (ev,) = _core.render_lines(b"".join(lines), resolve_ids=False, format="raw")
    return ev["summary"].get("sockaddr")


def section_of(rec: Record, detect: bool | None = None, resolve_ids: bool = False) -> dict:
    """A record's section as the renderer types it, from a one-record event (``render_lines`` of its text,
    parsed as the record was: ``detect`` None finds the flag that gives the record back).

    EXECVE and PROCTITLE sections are replaced by their argument lists in the event JSON; for them the
    fields are typed one by one with ``convert`` (the renderer's typing of every other section, see
    tests/events/test_interpret.py), free words joined as ``_text``."""
    if rec["name"] in ("EXECVE", "PROCTITLE"):
        out: dict[str, object] = {}
        free: list[str] = []
        for k, tok in rec["fields"]:
            if not k:
                free.append(text(tok) or "")
            elif k.decode() not in out:
                out[k.decode()] = _core.convert(k.decode(), tok)
        if free:
            out["_text"] = " ".join(free)
        return out
    if detect is None:
        detect = detect_of(rec)
    evs = _core.render_lines(
        rec["text"] + b"\n", resolve_ids=resolve_ids, format="enriched" if detect else "raw"
    )
    if len(evs) != 1:
        return {}
    sec = evs[0].get(rec["name"])
    if isinstance(sec, list):
        sec = sec[0]
    return sec if isinstance(sec, dict) else {}


def section_in(ev: dict, records: list[Record], rec: Record) -> dict:
    """The section of ``rec`` in a rendered event whose records are ``records`` (SYSCALL, CWD, EXECVE and
    PROCTITLE are one object, every other type a list in record order); {} when it has none (EOE, errors)."""
    name = rec["name"]
    same = [r for r in records if r["name"] == name]
    k = next((i for i, r in enumerate(same) if r == rec), 0)
    v = ev.get(name)
    if isinstance(v, dict):
        return v if k == 0 else {}
    if isinstance(v, list) and k < len(v) and isinstance(v[k], dict):
        return v[k]
    return {}


#: the id fields the renderer names (``AUID`` for ``auid``...), in its order
ID_FIELDS = (
    "auid",
    "uid",
    "euid",
    "suid",
    "fsuid",
    "gid",
    "egid",
    "sgid",
    "fsgid",
    "ouid",
    "ogid",
    "old-auid",
    "new-auid",
)


def name_ids(sec: dict, names: dict[int, str]) -> dict:
    """A copy of a section with uid/gid names from ``names`` added as the renderer adds resolved names: an int
    id field without its upper-case name field gets one, in the section and in a user-space payload ``msg``."""
    out = dict(sec)
    for f in ID_FIELDS:
        v = out.get(f)
        if isinstance(v, int) and f.upper() not in out and v in names:
            out[f.upper()] = names[v]
    msg = out.get("msg")
    if isinstance(msg, dict):
        out["msg"] = name_ids(msg, names)
    return out


def is_encoded(key: str) -> bool:
    """Is ``key`` typed as an *encoded* field (hex decoded to its bytes)? ``41`` is ``A`` only then."""
    return _core.convert(key, b"41") == "A"


# -- the pipeline ----------------------------------------------------------------------------------------------


def batch_events(batch: Any) -> list[dict]:
    """The event dicts of one ``Batch``."""
    return [json.loads(line) for line in batch.json.splitlines() if line]


def pipeline_events(data: bytes, **settings: Any) -> tuple[list[dict], dict[str, int]]:
    """A whole log through a ``Pipeline`` (ids not resolved, no rows unless asked): its events and stats."""
    settings.setdefault("resolve_ids", False)
    settings.setdefault("rows", False)
    p = _core.Pipeline(_core.Settings(**settings))
    out = batch_events(p.feed_lines(data))
    out += batch_events(p.finish())
    return out, p.stats()


@dataclass
class Ev:
    """An event as the assembler closed it, read back from its JSON."""

    json: dict
    records: list[Record] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.json["ID"]

    @property
    def sec(self) -> int:
        return int(self.id.split(".", 1)[0])

    @property
    def msec(self) -> int:
        return int(self.id.split(".", 1)[1].split(":", 1)[0])

    @property
    def serial(self) -> int:
        return int(self.id.rsplit(":", 1)[1])

    @property
    def node(self) -> str | None:
        return self.json.get("NODE")

    @property
    def closed_by(self) -> str:
        """``summary.closed_by``; the renderer leaves it out for ``eoe`` and ``single``, told apart by the last
        record (an event closed by its EOE ends with it; a single-record event closed by its window does not)."""
        s = self.json["summary"]
        if "closed_by" in s:
            return s["closed_by"]
        return "eoe" if self.records and self.records[-1]["type"] == 1320 else "single"

    @property
    def duplicates(self) -> int:
        return self.json["summary"].get("duplicates", 0)

    def all(self, rtype: int) -> list[Record]:
        return [r for r in self.records if r["type"] == rtype]


_RENDERINGS = itertools.count()


class Rendered(dict):
    """An event's JSON object, with the rows the pipeline produced for it (``rows``: ``[(table, row)]``) and
    the row options they were produced with."""

    rows: list[tuple[str, tuple]]
    options: dict[str, Any]
    #: which rendering (one ``rendered_events`` call) the event came from, and its place in it
    source: int
    index: int


def rendered_events(
    data: bytes, fmt: str = "auto", resolve_ids: bool = False, **options: Any
) -> list[Rendered]:
    """A log through a ``Pipeline`` with rows on (row options as ``Settings`` takes them: include_failed_execs,
    stat_executable, audit_sections, uptime_base...): each event's JSON with its rows."""
    p = _core.Pipeline(_core.Settings(format=fmt, resolve_ids=resolve_ids, rows=True, **options))
    out: list[Rendered] = []
    source = next(_RENDERINGS)
    for batch in (p.feed_lines(data), p.finish()):
        for i, d in enumerate(batch_events(batch)):
            ev = Rendered(d)
            ev.rows = batch.rows[batch.event_rows[i] : batch.event_rows[i + 1]]
            ev.options = dict(options)
            ev.source = source
            ev.index = len(out)
            out.append(ev)
    return out


class Asm:
    """The assembler as the deleted Python ``Assembler`` was driven (push a record, tick, flush), through a
    ``Pipeline`` fed one record line at a time."""

    def __init__(
        self, window: int = 512, window_seconds: float = 3.0, single_window: int = 16, detect: bool = True
    ):
        self.detect = detect
        self.p = _core.Pipeline(
            _core.Settings(
                format="enriched" if detect else "raw",
                resolve_ids=False,
                rows=False,
                window=window,
                window_seconds=window_seconds,
                single_window=single_window,
            )
        )

    def _events(self, batch: Any) -> list[Ev]:
        return [Ev(d, event_records(d, self.detect)) for d in batch_events(batch)]

    def push(self, rec: Record) -> list[Ev]:
        return self._events(self.p.feed_lines(rec["text"] + b"\n"))

    def feed(self, data: bytes) -> list[Ev]:
        return self._events(self.p.feed_lines(data))

    def tick(self, now: float) -> list[Ev]:
        return self._events(self.p.tick(now))

    def flush(self) -> list[Ev]:
        return self._events(self.p.finish())

    @property
    def stats(self) -> dict[str, int]:
        s = self.p.stats()
        return {k: s[k] for k in ASSEMBLER_STATS}


def names(records: Iterable[Record]) -> list[str]:
    """The type names of records."""
    return [r["name"] for r in records]

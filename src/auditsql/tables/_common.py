"""Helpers shared by the table mappers: event id/time columns, text decoding, section access.

Every mapper reads one rendered event dict (``auditsql.events.render.Renderer.render``, see
``docs/event-json.md``). Text values in that dict are in the lossless byte-string encoding (``%xx``); SQL
columns hold readable text instead (:func:`text`), and the exact bytes stay available in the JSON columns
(``process_events.argv``, ``audit_events.raw``).
"""

from __future__ import annotations

import base64
import json

import orjson

from auditsql.records.encoding import unescape
from auditsql.records.parser import parse_line, parse_text, split_enrichment
from auditsql.records.record import Record

__all__ = [
    "event_columns",
    "text",
    "first_section",
    "as_int",
    "to_json",
    "raw_records",
    "raw_by_name",
    "token_text",
    "record_message",
    "errno_of",
]


def event_columns(event: dict, uptime_base: float | None) -> tuple[int, int | None, str]:
    """(time, uptime, eid) of an event: the audit event's own timestamp in whole seconds, the seconds since
    boot when the boot time is known, and ``[NODE:]SEC.MSEC:SERIAL``.

    Several tables map the same event (``audit_events``, then ``process_events`` or ``socket_events``...): the
    result is a function of (ID, NODE, uptime_base) only, so the last one is kept and returned again while
    those are equal (the same string objects for one rendered event: the comparison is an identity check)."""
    global _LAST_COLUMNS
    eid = event.get("ID") or "0.000:0"
    node = event.get("NODE")
    last = _LAST_COLUMNS  # one tuple, read once: safe if two threads map events
    if eid == last[0] and node == last[1] and uptime_base == last[2]:
        return last[3]
    cols = _event_columns(eid, node, uptime_base)
    _LAST_COLUMNS = (eid, node, uptime_base, cols)
    return cols


#: (ID, NODE, uptime_base, result) of the last event_columns call; see there
_LAST_COLUMNS: tuple = (None, None, None, None)


def _event_columns(eid: str, node: str | None, uptime_base: float | None) -> tuple[int, int | None, str]:
    dot = eid.find(".")
    colon = eid.find(":", dot + 1)
    try:
        sec = int(eid[:dot])
        msec = int(eid[dot + 1 : colon])
    except ValueError:
        sec, msec = 0, 0
    uptime = None
    if uptime_base is not None and sec:
        uptime = max(0, int(sec + msec / 1000.0 - uptime_base))
    if node:
        eid = f"{node}:{eid}"
    return sec, uptime, eid


def text(value: object) -> str | None:
    """An encoded value (``%xx`` escapes) → readable text for a TEXT column.

    The bytes are decoded as UTF-8; bytes that are not valid UTF-8 become ``\\xNN`` (Python's
    ``backslashreplace``), and a NUL byte becomes ``\\x00``. Everything else is kept as is, control characters
    included (as osquery writes them). Non-text values (numbers) are returned as their text; None stays None.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return str(value)
    if "%" not in value:
        return value
    s = unescape(value).decode("utf-8", "backslashreplace")
    if "\0" in s:
        s = s.replace("\0", "\\x00")
    return s


def first_section(event: dict, name: str) -> dict | None:
    """The first record section ``name`` of the event (a dict), or None."""
    sec = event.get(name)
    if isinstance(sec, list):
        sec = sec[0] if sec else None
    return sec if isinstance(sec, dict) else None


def as_int(value: object, base: int = 10) -> int | None:
    """An int from a typed value: ints as they are, text parsed (``"0x1f"`` with ``base=16``); else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        try:
            return int(value, base)
        except ValueError:
            return None
    return None


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def to_json(value: object) -> str:
    """Compact JSON text for a JSON column (UTF-8 kept as is; the dict's strings are already escaped)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return _ENCODE(value)  # a lone surrogate somewhere: the stdlib encoder keeps it


def raw_records(event: dict) -> list[Record]:
    """The event's records parsed again from ``raw`` (empty without ``raw``). Used for the few tables that
    need a record's text as written (user-space payloads, MAC messages)."""
    out: list[Record] = []
    for item in event.get("raw") or ():
        if isinstance(item, str):
            out.extend(parse_text(item))
        elif isinstance(item, dict) and "base64" in item:
            out.extend(parse_line(base64.b64decode(item["base64"])))
    return out


def raw_by_name(event: dict, names: set[str] | frozenset[str]) -> dict[str, list[Record]]:
    """The event's raw records of the given type names, parsed, grouped by name in arrival order: the k-th
    record of a name is the one behind the k-th object of that name's section (raw and sections both skip
    dropped duplicates). Only raw lines that can hold one of the names are parsed."""
    out: dict[str, list[Record]] = {}
    marks = tuple(f"type={n} " for n in names)
    for item in event.get("raw") or ():
        if isinstance(item, str):
            if not any(m in item for m in marks):
                continue
            recs = parse_text(item)
        elif isinstance(item, dict) and "base64" in item:
            recs = parse_line(base64.b64decode(item["base64"]))
        else:
            continue
        for rec in recs:
            if rec.name in names:
                out.setdefault(rec.name, []).append(rec)
    return out


def token_text(token: str | None) -> str | None:
    """A token as written (surrogate escapes for bytes that were not UTF-8) → valid text (``\\xNN``)."""
    if token is None:
        return None
    try:
        token.encode("utf-8")
    except UnicodeEncodeError:
        return token.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return token


def record_message(rec: Record) -> str:
    """The record as the kernel's netlink message has it: ``audit(SEC.MSEC:SERIAL): body`` (osquery's
    ``raw_data``), without auditd's ENRICHED tail."""
    body = split_enrichment(rec.body)[0]
    return token_text(f"audit({rec.id}): {body}") or ""


def errno_of(summary: dict) -> str | None:
    """The errno name of a failed syscall (``summary.errno``), or None."""
    e = summary.get("errno")
    return e if isinstance(e, str) else None

"""Conformance with libauparse, the reference implementation (linux-audit/audit-userspace).

Goldens: ``linux-audit_audit-userspace/auparse/auparse_test.ref`` (the C test program's stdout) and
``auparse_test.ref.py`` (the same test plan through the Python bindings). Each walked record prints::

    record N of type <num>(<NAME>) has K fields
    line=<n> file=<name|None>
    event time: <sec>.<msec>:<serial>, host=<node|?>
        name=raw (interpreted)          # interpreted value only in Tests 2 and 9 (the buffer array)

What is compared, per walked section (see SOURCE.md for which input each test walks):

* event grouping: number of events, records per event, the event time ``sec.msec:serial`` and host;
* per record: type number and name, field count, then every field's name (in order) and raw value;
* interpreted values (Test 2): every one auditsql also interprets — arch and syscall names, success, exit,
  ``a0``-``a3`` (auditsql's ``ARGV`` hex), decoded ``comm``/``exe``, ``subj``, ``tty``, typed numbers, and
  uid/gid names under a fixed passwd (see ``PASSWD``).

Mapping of auditsql's record to libauparse's walk:

* libauparse's first field is ``type``; free words (``login``, ``user``, ``PAM:``, ``:``) are dropped;
* SELinux ``avc:  denied  { read write } for`` → ``seresult=denied seperms=read,write`` (auditsql renders it
  as ``"denied": ["read", "write"]``);
* a user-space payload ``msg='...'`` is walked as its inner fields (auditsql nests them under ``msg``);
* pre-3.x LOGIN ``old auid=X new auid=Y``: libauparse keeps both as ``auid`` (the qualifier is a dropped free
  word); auditsql folds them into ``old-auid`` / ``new-auid`` (a deliberate choice: two different values must
  not share a key) — mapped back to ``auid`` for the comparison;
* interpreted ``?`` ↔ auditsql's ``null``; numbers ↔ their decimal text;
* uid/gid names: libauparse resolves with the passwd of the machine that produced the golden. Only two
  names are machine-independent — 0 → ``root`` and 4294967295 → ``unset``; auditsql is run with that
  fixed passwd (``PASSWD``) and every other id is absent from it. libauparse prints an id missing from passwd
  as ``unknown(N)``; auditsql then writes no name (the raw id stays): that pair is the documented rule
  ``unknown(N)`` ↔ no name.

Not compared: ``line=``/``file=`` (auditsql records carry no line numbers), Test 1 and Tests 6-8 (the
search/iteration API), Tests 12/13 of the Python ref (descriptor sources). Tests 9 and 10 must equal Tests 2 and
4 (same events, records and raw fields; checked, not counted again; a difference is listed as a mismatch);
the ``test.log`` half of Test 5 must equal Test 4 (same). Events are matched by ``sec.msec:serial``: the
order in which auditsql emits them (when they close) is not compared. The
interpreted uid of a nested ``msg='uid=848: ...'`` is not compared: auditsql does not name ids inside a
user-space payload. ``test3.log`` is only used upstream by ``auparselol_test --check`` (every record re-emitted
once): :func:`lol_check` checks that auditsql's events give back every record of it exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditsql import _core
from tests.conformance.common import CORPUS, Result
from tests.core import Ev, Record, event_records, name_ids, section_of, text

__all__ = ["run", "run_python", "compare_ref", "lol_check", "REF_C", "REF_PY", "PASSWD", "our_walk"]

BASE = CORPUS / "linux-audit_audit-userspace"
REF_C = BASE / "auparse" / "auparse_test.ref"
REF_PY = BASE / "auparse" / "auparse_test.ref.py"
BUF = BASE / "derived" / "auparse_test-buf.log"

#: (uint32)-1: "not set" (auid/ses of processes that never logged in)
UNSET = 4294967295
#: the only uid/gid names that do not depend on the passwd of the machine that ran the golden
PASSWD = {0: "root", UNSET: "unset"}
#: key under which words that are not ``key=value`` are kept (as text)
FREE_TEXT = ""

_ID_NAMES = frozenset(
    (
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
)


class Renderer:
    """Sections as auditsql renders them (ids not resolved by the host), then uid/gid names from
    :data:`PASSWD` only, added as the renderer adds names (``tests.core.name_ids``)."""

    def section(self, rec: Record) -> dict[str, object]:
        return name_ids(section_of(rec), PASSWD)


def renderer() -> Renderer:
    return Renderer()


# -- the golden ------------------------------------------------------------------------------------------------


@dataclass
class GField:
    name: str
    raw: str
    interp: str | None  # None: not printed


@dataclass
class GRecord:
    type_num: int
    type_name: str
    nfields: int
    time: str
    host: str
    fields: list[GField] = field(default_factory=list)


@dataclass
class GEvent:
    nrecords: int
    records: list[GRecord] = field(default_factory=list)


_START = re.compile(r"Starting Test (\d+),")
_EVENT = re.compile(r"event(?: \d+)? has (\d+) records")
_RECORD = re.compile(r"    record \d+ of type (\d+)\((.*)\) has (\d+) fields")
_TIME = re.compile(r"    event time: (\S+), host=(.*)")
_FIELD = re.compile(r"        ([^=]+)=(.*?)(?: \((.*)\))?$")


def parse_ref(path: Path) -> tuple[dict[int, list[GEvent]], dict[int, str]]:
    """Sections of a ref file: test number → walked events, and test number → the section's exact text."""
    events: dict[int, list[GEvent]] = {}
    texts: dict[int, list[str]] = {}
    test = 0
    interp = False
    for line in path.read_text().splitlines():
        m = _START.match(line)
        if m:
            test = int(m.group(1))
            events[test] = []
            texts[test] = []
            interp = test in (2, 9)
            continue
        if not test:
            continue
        texts[test].append(line)
        if line.startswith(f"Test {test} Done"):
            test = 0
            continue
        m = _EVENT.match(line)
        if m:
            events[test].append(GEvent(int(m.group(1))))
            continue
        m = _RECORD.match(line)
        if m:
            events[test][-1].records.append(GRecord(int(m.group(1)), m.group(2), int(m.group(3)), "", ""))
            continue
        m = _TIME.match(line)
        if m:
            rec = events[test][-1].records[-1]
            rec.time, rec.host = m.group(1), m.group(2)
            continue
        if line.startswith("        ") and events.get(test) and events[test][-1].records:
            body = line[8:]
            name, _, rest = body.partition("=")
            i = rest.find(" (")
            if interp and i >= 0 and rest.endswith(")"):
                # `raw (interp)`; the raw value never holds " (" in these logs
                raw, val = rest[:i], rest[i + 2 : -1]
            else:
                raw, val = rest, None
            events[test][-1].records[-1].fields.append(GField(name, raw, val))
    return events, {k: "\n".join(v) for k, v in texts.items()}


# -- auditsql's side -------------------------------------------------------------------------------------------


def assemble(records: Iterable[Record]) -> list[Ev]:
    """The events auditsql assembles from these records (each record's text one line, enrichment detected)."""
    data = b"".join(rec["text"] + b"\n" for rec in records)
    return [
        Ev(ev, event_records(ev)) for ev in _core.render_lines(data, resolve_ids=False, format="enriched")
    ]


def file_records(*paths: Path) -> list[Record]:
    out: list[Record] = []
    for p in paths:
        with open(p, "rb") as f:
            for line in f:
                out.extend(_core.parse_line(line))
    return out


_MISSING = object()
_NOT_NAMED = object()
_QUALIFIED = re.compile(r"(?:^| )(old|new) ([a-z]+)=")


def _text(v: object) -> object:
    """auditsql value → libauparse's interpreted text (``?`` for null, decimal for numbers)."""
    if v is None:
        return "?"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return v


def our_walk(rec: Record, rnd: Renderer) -> list[tuple[str, str, object]]:
    """auditsql's record as libauparse walks it: ``(name, raw token, interpreted value)``."""
    sec = rnd.section(rec)
    walk: list[tuple[str, str, object]] = [("type", rec["name"], rec["name"])]
    folded = {f"{q}-{k}" for q, k in _QUALIFIED.findall(text(rec["body"]) or "")}
    avc_done = False
    for kb, tokb in rec["fields"]:
        k, tok = text(kb) or "", text(tokb) or ""
        if k == FREE_TEXT:
            if tok == "avc:" and not avc_done:
                avc_done = True
                for sk, sv in sec.items():
                    if isinstance(sv, list) and sk not in ("ARGV",):
                        walk.append(("seresult", sk, sk))
                        walk.append(("seperms", ",".join(sv), ",".join(sv)))
                        break
            continue
        if k == "msg" and tok[:1] == "'":
            nested = sec.get("msg")
            for nkb, nvb in _core.parse_nested(tokb):
                nk, nv = text(nkb) or "", text(nvb) or ""
                if nk == FREE_TEXT:
                    continue
                val = nested.get(nk, _MISSING) if isinstance(nested, dict) else _MISSING
                if nk in _ID_NAMES:
                    val = _NOT_NAMED  # auditsql names no id inside a user-space payload
                elif val is not _MISSING:
                    val = _text(val)
                walk.append((nk, nv, val))
            continue
        name = k.split("-", 1)[1] if k in folded else k
        walk.append((name, tok, _interp(rec, k, sec)))
    return walk


def _interp(rec: Record, k: str, sec: dict[str, object]) -> object:
    if rec["type"] == 1300:
        if k == "arch":
            return sec.get("ARCH", _MISSING)
        if k == "syscall":
            return sec.get("SYSCALL", _MISSING)
        if k in ("a0", "a1", "a2", "a3"):
            argv = sec.get("ARGV")
            i = int(k[1])
            return argv[i] if isinstance(argv, list) and i < len(argv) else _MISSING
    v = sec.get(k, _MISSING)
    if k in _ID_NAMES and isinstance(v, int):
        name = sec.get(k.upper())
        # the documented rule: an id absent from passwd has no name in auditsql, `unknown(N)` in libauparse
        return name if name is not None else f"unknown({v})"
    return v if v is _MISSING else _text(v)


# -- comparison ------------------------------------------------------------------------------------------------


def _ours_by_id(events: list[Ev]) -> dict[str, Ev]:
    return {ev.id: ev for ev in events}


def compare_section(
    r: Result, label: str, gold: list[GEvent], events: list[Ev], rnd: Renderer, null_host: str
) -> None:
    """Compare one walked section with auditsql's events for the same input."""
    r.check(f"{label} events", len(gold), len(events))
    ours = _ours_by_id(events)
    for i, gev in enumerate(gold, 1):
        gtime = gev.records[0].time if gev.records else "?"
        where = f"{label} event {i} ({gtime})"
        ev = ours.get(gtime)
        if ev is None:
            r.check(f"{where} present", True, False)
            continue
        r.check(f"{where} records", gev.nrecords, len(ev.records))
        for j, (grec, rec) in enumerate(zip(gev.records, ev.records, strict=False), 1):
            w = f"{where} record {j}"
            r.check(f"{w} type", (grec.type_num, grec.type_name), (rec["type"], rec["name"]))
            r.check(f"{w} time", grec.time, ev.id)
            r.check(f"{w} host", grec.host, text(rec["node"]) if rec["node"] is not None else null_host)
            walk = our_walk(rec, rnd)
            r.check(f"{w} field count", grec.nfields, len(walk))
            if not grec.fields:
                continue  # Test 3 prints no fields
            for n, (gf, (name, raw, val)) in enumerate(zip(grec.fields, walk, strict=False), 1):
                wf = f"{w} field {n} {gf.name}"
                r.check(f"{wf} name", gf.name, name)
                r.check(f"{wf} raw", gf.raw, raw)
                if gf.interp is not None and val is not _NOT_NAMED:
                    r.check(f"{wf} interp", gf.interp, "<none>" if val is _MISSING else val)


def _same_walk(a: list[GEvent], b: list[GEvent]) -> bool:
    """Two walks print the same events, records and raw fields (interpretations aside: the Python Test 9
    prints none)."""

    def strip(evs: list[GEvent]) -> list[object]:
        return [
            (
                e.nrecords,
                [
                    (r.type_num, r.type_name, r.nfields, r.time, r.host, [(f.name, f.raw) for f in r.fields])
                    for r in e.records
                ],
            )
            for e in evs
        ]

    return strip(a) == strip(b)


def _buffer_records() -> list[Record]:
    return file_records(BUF)


def compare_ref(path: Path, source: str) -> Result:
    """Compare every walk section of one ref file (C or Python) with auditsql."""
    r = Result(source)
    gold, texts = parse_ref(path)
    null_host = "?" if path == REF_C else "(null)"
    rnd = renderer()
    logs = BASE / "auparse"
    # Tests 9 and 10 re-walk Tests 2 and 4 through the feed API and must print the same
    for a, b in ((9, 2), (10, 4)):
        if not _same_walk(gold[a], gold[b]):
            r.mismatches.append(f"Test {a} differs from Test {b} (must be equal upstream)")
    compare_section(r, "Test 2 (buffer)", gold[2], assemble(_buffer_records()), rnd, null_host)
    # Test 3: buf[1] alone (USER_LOGIN); record headers only
    compare_section(r, "Test 3 (buf[1])", gold[3], assemble(_buffer_records()[2:]), rnd, null_host)
    compare_section(
        r, "Test 4 (test.log)", gold[4], assemble(file_records(logs / "test.log")), rnd, null_host
    )
    # Test 5 walks test2.log then test.log as one source; its test.log half repeats Test 4
    both = assemble(file_records(logs / "test2.log", logs / "test.log"))
    n2 = len(gold[5]) - len(gold[4])
    first = {ev.id for ev in assemble(file_records(logs / "test2.log"))}
    compare_section(r, "Test 5 (test2.log)", gold[5][:n2], [e for e in both if e.id in first], rnd, null_host)
    if not _same_walk(gold[4], gold[5][n2:]):
        r.mismatches.append("Test 5's test.log half differs from Test 4 (must be equal upstream)")
    compare_section(
        r, "Test 11 (test4.log)", gold[11], assemble(file_records(logs / "test4.log")), rnd, null_host
    )
    return r


def lol_check() -> Result:
    """``auparselol_test -f test3.log --check``: every record of test3.log comes back exactly once."""
    r = Result("libauparse lol test3.log")
    path = BASE / "auparse" / "test3.log"
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    events = assemble(file_records(path))
    out = sorted(text(rec["text"]) for ev in events for rec in ev.records)
    for ln in lines:
        r.check(f"re-emitted once: {ln[:60]}", 1, out.count(ln))
    r.check("records", len(lines), len(out))
    return r


def run() -> Result:
    """libauparse (C) golden ``auparse_test.ref``."""
    return compare_ref(REF_C, "libauparse auparse_test.ref")


def run_python() -> Result:
    """libauparse Python bindings golden ``auparse_test.ref.py``."""
    return compare_ref(REF_PY, "libauparse auparse_test.ref.py")


def run_lol() -> Result:
    return lol_check()


if __name__ == "__main__":
    for res in (run(), run_python(), run_lol()):
        print(f"{res.source}: {res.matched}/{res.compared}")
        for m in res.mismatches:
            print("   ", m[:300])

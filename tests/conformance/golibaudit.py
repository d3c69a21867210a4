"""Conformance with elastic/go-libaudit's goldens: ``auparse`` (per line), ``aucoalesce`` (per event) and the
reassembler's expectations (corpus folder ``elastic_go-libaudit``, see its SOURCE.md).

go-libaudit writes every value as a string, renames and derives some keys, and drops empty values; auditsql
keeps typed values in laurel's shape. Each golden value is therefore compared with *our* value brought into
go-libaudit's notation by the mapping below; values compare as equal strings (lists element by element).

auparse (``run_auparse``, ``auparse/*.log.golden``, one golden element per line = one record of ours)
    ``record_type``     our record type name, lower-cased (``UNKNOWN[1329]`` -> ``unknown[1329]``)
    ``sequence``        our serial (number)
    ``@timestamp``      our ``sec.msec`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (theirs with Go's trailing zeros
                        trimmed, ``...:44.99Z``, is padded back to milliseconds first)
    ``null`` element    (a line go-libaudit rejects) our record has ``error`` set
    ``keys``            our ``key`` value (decoded bytes) split at 0x01; a key written ``key=NAME`` in the
                        log gives ``NAME`` (go-libaudit strips that old ``key=`` prefix: mapped, not ours)
    ``data.<k>``, by key:
      ``arch``                    our arch name (``arch_of``); ``syscall``: our syscall name for that arch
                                  (the number as text when we have no name)
      ``a0``..``a3`` (SYSCALL)    our ``SYSCALL.ARGV[i]`` without ``0x``
      ``a<i>`` (EXECVE)           our decoded argument i of that record (``execve_argv``), up to a NUL
      ``proctitle``               our PROCTITLE argv (decoded bytes) joined with spaces (go-libaudit
                                  replaces the NULs by spaces)
      ``exit``                    our exit number as text; a negative one as our errno name (``EACCES``)
      ``result``                  our ``success``/``res`` value: ``yes``/``1``/``suc*`` -> ``success``,
                                  anything else -> ``fail`` (their normalisation, applied to our value)
      ``subj_user|role|domain|level|category``, ``obj_*``: our ``subj``/``obj`` split at ``:``
      ``seresult``/``seperms``    SELinux AVC: our ``denied``/``granted`` key and its permission list
      ``family``/``addr``/``port``/``path``/``saddr`` (SOCKADDR): our decoded sockaddr (``sockaddr_of``);
                                  family names ``inet``->``ipv4``, ``inet6``->``ipv6``, ``unspec``->``0``;
                                  ``saddr`` (families they do not decode) = our decoded bytes as hex
      ``sig`` (SECCOMP)           the signal name of our number (``SIGSYS``)
      ``old_<k>``/``new_<k>``     LOGIN written ``old auid=`` (space): our ``old-<k>``/``new-<k>``
      ``auid``/``ses``/``old-auid`` = ``unset``: our number is 4294967295 or -1
      any other key               our value of that key (the record's own, or inside ``msg='...'``, which
                                  go-libaudit flattens into ``data``): numbers as decimal text, text
                                  unescaped to its bytes and decoded as UTF-8; our ``0x``/``0o`` numbers
                                  compare by value with theirs read as hex/octal (``"0"`` == ``0x0``,
                                  ``"042775"`` == ``0o42775``)

aucoalesce (``run_aucoalesce``, one YAML case = one event of ours, golden = ``event`` of the case)
    ``@timestamp``, ``sequence``        our ``summary.time``, our ID's serial
    ``record_type``                     our ``summary.type`` lower-cased
    ``result``                          our ``summary.success``: true/false/absent -> success/fail/unknown
    ``session``                         our ``summary.ses`` (4294967295 -> ``unset``)
    ``tags[i]``                         as ``keys`` above
    ``user.ids.<k>``                    our ``summary.<k>``, else the first record field ``<k>``
    ``user.selinux.<part>``             our ``subj`` (summary, else the first record's) split at ``:``
    ``process.pid|ppid|exe|cwd``        our ``summary.pid|ppid|exe|cwd`` (else the first record's field)
    ``process.name``                    our ``summary.comm`` (else the first record's ``comm``)
    ``process.title``                   our ``PROCTITLE.ARGV`` joined with spaces
    ``process.args[i]``                 our ``summary.argv[i]``
    ``file.path|inode|uid|gid|device|mode``: our PATH item with that name (of several, the first with an
                                        inode; a name-only item describes no file): ``inode``, ``ouid``, ``ogid``,
                                        ``rdev`` (go-libaudit's file.device is the PATH ``rdev``), and the
                                        permission bits of ``mode`` (``"0755"``); ``file.selinux.*``: its obj
    ``paths[i].<k>``                    our i-th PATH record, mapped as in auparse
    ``source.ip|port``, ``destination.ip|port``: our ``summary.sockaddr`` address/port, else (user-space
                                        messages) our ``summary.addr``
    ``data.socket_addr|socket_port|socket_family|socket_path``: our ``summary.sockaddr``
    ``data.<k>``                        the first of our records (in event order) that has ``<k>``, mapped as
                                        in auparse
    not compared: go-libaudit's own classification and prose: ``category``, ``summary.*`` (actor/action/
    object/how), ``ecs.*``, ``network.direction``, ``warnings``.

reassembler (``run_reassembler``, ``reassembler/*.log``): the expected ``(serial, record count)`` list of
``TestReassembler`` (restated in the corpus SOURCE.md, repeated in ``REASSEMBLER`` below) is compared with
our events in output order, and the number of lost sequence numbers with our Assembler's ``serial_gaps``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import signal
from pathlib import Path

from auditsql import _core
from auditsql._core import (
    arch_of,
    decode_encoded,
    errno_name,
    execve_argv,
    proctitle_argv,
    syscall_name,
    unescape,
)
from tests.conformance.common import CORPUS, Result, records_of
from tests.core import Record, get, parse_text, pipeline_events, section_of, sockaddr_of

__all__ = [
    "GOLIBAUDIT",
    "REASSEMBLER",
    "auparse_file",
    "case_events",
    "aucoalesce_file",
    "reassembler_file",
    "record_values",
    "run_auparse",
    "run_aucoalesce",
    "run_reassembler",
    "yaml_cases",
]

GOLIBAUDIT = CORPUS / "elastic_go-libaudit"
MISSING = "<missing>"

#: TestReassembler (reassembler_test.go) expectations, as restated in the corpus SOURCE.md:
#: file -> (lost sequence numbers, [(serial, records), ...] in emission order)
REASSEMBLER: dict[str, tuple[int, list[tuple[int, int]]]] = {
    "normal.log": (0, [(58, 2), (59, 5), (60, 5), (61, 4), (62, 1)]),
    "lost_messages.log": (9, [(49, 2), (59, 5), (60, 5), (61, 4), (62, 1)]),
    "out_of_order.log": (0, [(58, 2), (59, 5), (60, 5), (61, 4), (62, 1)]),
    "rollover.log": (0, [(4294967294, 1), (4294967295, 1), (0, 1), (1, 1), (2, 1)]),
}

_UNSET_KEYS = frozenset(("auid", "ses", "old-auid"))
_UNSET = (4294967295, -1)
_FAMILY = {"inet": "ipv4", "inet6": "ipv6", "unspec": "0"}
_CONTEXT = ("user", "role", "domain", "level", "category")
_HEXNUM = re.compile(r"(?:0x)?[0-9a-fA-F]+\Z")
_OCTNUM = re.compile(r"0?[0-7]+\Z")


# -- value notation --------------------------------------------------------------------------------------------


def _text(b: bytes) -> str:
    """Bytes as go-libaudit's JSON shows them (invalid UTF-8 replaced)."""
    return b.decode("utf-8", "replace")


def _plain(v: object) -> object:
    """Our typed value in go-libaudit's notation: numbers as decimal text, escaped text as its bytes."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _text(unescape(v))
    return v


def _cmp(key: str, expected: object, ours: object) -> object:
    """``ours`` rewritten to ``expected`` where the two are the same value in two notations."""
    if not isinstance(expected, str) or not isinstance(ours, str) or expected == ours:
        return ours
    if expected == "unset" and key in _UNSET_KEYS and ours in ("4294967295", "-1"):
        return expected
    if ours.startswith("0x") and _HEXNUM.match(expected) and int(expected, 16) == int(ours, 16):
        return expected
    if ours.startswith("0o") and _OCTNUM.match(expected) and int(expected, 8) == int(ours[2:], 8):
        return expected
    return ours


def _iso(sec: int, msec: int) -> str:
    return _dt.datetime.fromtimestamp(sec, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{msec:03d}Z"


def _their_iso(s: str) -> str:
    """Go's ``2017-03-29T19:48:44.99Z`` -> ``2017-03-29T19:48:44.990Z``."""
    body = s[:-1] if s.endswith("Z") else s
    head, _, frac = body.partition(".")
    return f"{head}.{(frac + '000')[:3]}Z"


def _tags(key: object) -> list[str] | None:
    """Our ``key`` value -> go-libaudit tags: split at 0x01; the old ``key=NAME`` form gives ``NAME``."""
    if not isinstance(key, str):
        return None
    kb = unescape(key)
    if b"\x01" in kb:
        return [_text(p) for p in kb.split(b"\x01")]
    return [_text(kb.split(b"=", 1)[1] if b"=" in kb else kb)]


def _context(value: object, prefix: str, out: dict[str, object]) -> None:
    if isinstance(value, str):
        for part, v in zip(_CONTEXT, _text(unescape(value)).split(":", 4), strict=False):
            out[prefix + part] = v


# -- one record in go-libaudit's notation ----------------------------------------------------------------------


def record_values(rec: Record) -> dict[str, object]:
    """Our record as a go-libaudit ``data`` map (see the module docstring); ``"__tags__"`` holds the tags."""
    arch_num, arch_name = arch_of(get(rec, b"arch"))
    sec = section_of(rec)
    merged: dict[str, object] = {}
    for k, v in sec.items():
        if k == "msg" and isinstance(v, dict):
            merged.update((mk, mv) for mk, mv in v.items() if mk != "_text")
        elif not k.isupper() and k != "_text":
            merged[k] = v
    out: dict[str, object] = {}
    for k, v in merged.items():
        if v is None or v == "" or isinstance(v, list | dict):
            continue
        out[k] = _plain(v)
    r = merged.get("success", merged.get("res"))
    if r is not None:
        rv = str(r).lower()
        out["result"] = "success" if rv in ("yes", "1") or rv.startswith("suc") else "fail"
    _context(merged.get("subj"), "subj_", out)
    _context(merged.get("obj"), "obj_", out)
    for k in ("success", "res", "subj", "obj", "key"):
        out.pop(k, None)
    tags = _tags(merged.get("key"))
    if tags is not None:
        out["__tags__"] = tags
    if arch_name is not None:
        out["arch"] = arch_name
    nr = sec.get("syscall")
    if isinstance(nr, int):
        out["syscall"] = syscall_name(arch_name, nr) or str(nr)
    ex = sec.get("exit")
    if isinstance(ex, int) and ex < 0 and errno_name(-ex):
        out["exit"] = errno_name(-ex)
    name = rec["name"]
    if name == "SECCOMP" and isinstance(sec.get("sig"), int):
        try:
            out["sig"] = signal.Signals(sec["sig"]).name
        except ValueError:
            pass
    if name == "SYSCALL" and isinstance(sec.get("ARGV"), list):
        for i, a in enumerate(sec["ARGV"]):
            out[f"a{i}"] = a[2:] if isinstance(a, str) and a.startswith("0x") else a
    if name == "EXECVE":
        _argc, argv, _warnings = execve_argv([rec["text"]])
        for i, a in enumerate(argv):
            out[f"a{i}"] = _text(a.split(b"\0", 1)[0])
    if name == "PROCTITLE":
        out["proctitle"] = _text(b" ".join(proctitle_argv(get(rec, b"proctitle"))))
    if name == "AVC":
        for verdict in ("denied", "granted"):
            perms = sec.get(verdict)
            if isinstance(perms, list):
                out["seresult"] = verdict
                out["seperms"] = ",".join(str(p) for p in perms)
    if name == "SOCKADDR":
        sa = sockaddr_of(get(rec, b"saddr"), arch_num)
        if sa is not None:
            fam = _FAMILY.get(str(sa["family"]), str(sa["family"]))
            out["family"] = fam
            for k in ("addr", "path"):
                if k in sa:
                    out[k] = _plain(sa[k])
            if "port" in sa:
                out["port"] = str(sa["port"])
            if fam not in ("ipv4", "ipv6", "unix"):
                raw = decode_encoded(get(rec, b"saddr") or b"")
                out["saddr"] = raw.hex() if raw is not None else MISSING
    if name == "LOGIN":
        for k in list(out):
            if k.startswith(("old-", "new-")):
                out.setdefault(k.replace("-", "_", 1), out[k])
    return out


# -- auparse ---------------------------------------------------------------------------------------------------


def auparse_file(golden: Path) -> Result:
    """Compare one ``X.log.golden`` with our records of ``X.log``."""
    res = Result(f"go-libaudit auparse {golden.name}")
    gold = json.loads(golden.read_text())
    recs = records_of(golden.with_suffix(""))
    name = golden.name
    res.check(f"{name} records", len(gold), len(recs))
    for i, g in enumerate(gold):
        where = f"{name}:{i + 1}"
        rec = recs[i] if i < len(recs) else None
        if rec is None:
            res.check(f"{where} record", "present", MISSING)
            continue
        if g is None:
            res.check(f"{where} rejected", True, rec["error"] is not None)
            continue
        res.check(f"{where} record_type", g["record_type"], rec["name"].lower())
        res.check(f"{where} sequence", g["sequence"], rec["serial"])
        res.check(f"{where} @timestamp", _their_iso(g["@timestamp"]), _iso(rec["sec"], rec["msec"]))
        ours = record_values(rec)
        if "keys" in g:
            res.check(f"{where} keys", g["keys"], ours.get("__tags__", MISSING))
        for k, v in g.get("data", {}).items():
            res.check(f"{where} data.{k}", v, _cmp(k, v, ours.get(k, MISSING)))
    return res


def run_auparse() -> Result:
    """All ``auparse/*.log.golden`` files."""
    total = Result("go-libaudit auparse")
    for golden in sorted((GOLIBAUDIT / "auparse").glob("*.log.golden")):
        _add(total, auparse_file(golden))
    return total


# -- aucoalesce ------------------------------------------------------------------------------------------------


def yaml_cases(path: Path) -> dict[str, list[str]]:
    """The ``tests:`` cases of an aucoalesce YAML file: name -> record lines. The files use only a block
    mapping of block scalars (``|`` literal, ``>`` folded) and ``#`` comments, read here without a YAML
    library."""
    cases: dict[str, list[str]] = {}
    styles: dict[str, str] = {}
    name: str | None = None
    for line in path.read_text().splitlines():
        m = re.match(r"^  ([^#\s][^:]*): *([|>])[-+]?\s*$", line)
        if m:
            name = m.group(1)
            styles[name] = m.group(2)
            cases[name] = []
        elif name is not None and line.startswith("    ") and line.strip():
            cases[name].append(line[4:])
        elif line.strip() and not line.startswith(" "):
            name = None
    return {k: (v if styles[k] == "|" else [" ".join(v)]) for k, v in cases.items()}


def case_events(lines: list[str]) -> tuple[list[dict], list[Record]]:
    """One YAML case's lines -> our rendered events and the parsed records."""
    recs = [r for line in lines for r in parse_text(line)]
    data = b"".join(r["text"] + b"\n" for r in recs)
    return _core.render_lines(data, resolve_ids=False, format="enriched"), recs


def _first_field(recs: list[dict[str, object]], key: str) -> object:
    for r in recs:
        if key in r:
            return r[key]
    return MISSING


def _summary_or_records(s: dict, recs: list[dict[str, object]], key: str) -> object:
    """``summary[key]`` in go-libaudit's notation, else the first mapped record's ``key``."""
    v = s.get(key)
    if v is None:
        return _first_field(recs, key)
    if key in ("auid", "ses", "old-auid") and v in _UNSET:
        return "unset"
    return _plain(v)


def _leaves(obj: object, prefix: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_leaves(v, f"{prefix}.{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_leaves(v, f"{prefix}[{i}]"))
    else:
        out.append((prefix, obj))
    return out


_NOT_COMPARED = ("category", "summary", "ecs", "network")


def _coalesce_ours(path: str, ev: dict, mapped: list[dict[str, object]], file_path: object) -> object:
    """Our value for one golden leaf path of an aucoalesce event (see the module docstring); ``mapped`` are
    our records in go-libaudit's notation, ``file_path`` the golden ``file.path``."""
    s: dict = ev["summary"]
    top = re.split(r"[.\[]", path, maxsplit=1)[0]
    rest = path[len(top) + 1 :]
    if path == "@timestamp":
        return s["time"]
    if path == "sequence":
        return int(ev["ID"].rsplit(":", 1)[1])
    if path == "record_type":
        return str(s["type"]).lower()
    if path == "result":
        return {True: "success", False: "fail"}.get(s.get("success"), "unknown")
    if path == "session":
        return _summary_or_records(s, mapped, "ses")
    m = re.fullmatch(r"tags\[(\d+)\]", path)
    if m:
        tags = _tags(s["key"]) if "key" in s else _first_field(mapped, "__tags__")
        if not isinstance(tags, list):
            return MISSING
        i = int(m.group(1))
        return tags[i] if i < len(tags) else MISSING
    if top == "user":
        kind, _, k = rest.partition(".")
        if kind == "ids":
            return _summary_or_records(s, mapped, k)
        if kind == "selinux":
            if "subj" in s:
                ctx: dict[str, object] = {}
                _context(s["subj"], "", ctx)
                return ctx.get(k, MISSING)
            return _first_field(mapped, "subj_" + k)
    if top == "process":
        if rest == "name":
            return _summary_or_records(s, mapped, "comm")
        if rest == "title":
            pt = ev.get("PROCTITLE")
            if not isinstance(pt, dict):
                return MISSING
            return _text(b" ".join(unescape(a) for a in pt["ARGV"]))
        m = re.fullmatch(r"args\[(\d+)\]", rest)
        if m:
            argv = s.get("argv") or []
            i = int(m.group(1))
            return _plain(argv[i]) if i < len(argv) else MISSING
        return _summary_or_records(s, mapped, rest)
    if top == "file":
        named = [r for r in mapped if r.get("__type__") == "PATH" and r.get("name") == file_path]
        if not named:
            return MISSING
        # several items may carry the name (mount: a name-only item, then the file): the one with an inode
        want = next((r for r in named if "inode" in r), named[0])
        k = rest
        if k == "path":
            return want.get("name", MISSING)
        if k == "device":
            return want.get("rdev", MISSING)
        if k in ("uid", "gid"):
            return want.get("o" + k, MISSING)
        if k == "mode":
            mode = want.get("mode")
            return f"{int(str(mode)[2:], 8) & 0o7777:04o}" if isinstance(mode, str) else MISSING
        if k.startswith("selinux."):
            return want.get("obj_" + k[8:], MISSING)
        return want.get(k, MISSING)
    if top == "paths":
        m = re.fullmatch(r"paths\[(\d+)\]\.(.+)", path)
        if m:
            paths = [r for r in mapped if r.get("__type__") == "PATH"]
            i = int(m.group(1))
            return paths[i].get(m.group(2), MISSING) if i < len(paths) else MISSING
    if top in ("source", "destination"):
        sa = s.get("sockaddr")
        if rest == "ip":
            if isinstance(sa, dict) and "addr" in sa:
                return sa["addr"]
            return _plain(s["addr"]) if "addr" in s else MISSING
        if rest == "port":
            return str(sa["port"]) if isinstance(sa, dict) and "port" in sa else MISSING
    if top == "data":
        sa = s.get("sockaddr")
        if rest.startswith("socket_") and isinstance(sa, dict):
            k = rest[7:]
            if k == "family":
                return _FAMILY.get(str(sa["family"]), str(sa["family"]))
            if k in sa:
                return str(sa[k]) if isinstance(sa[k], int) else _plain(sa[k])
            return MISSING
        return _first_field(mapped, rest)
    return MISSING


def aucoalesce_file(golden: Path) -> Result:
    """Compare one ``X.json.golden`` with our events for the cases of ``X.yaml``."""
    res = Result(f"go-libaudit aucoalesce {golden.name}")
    cases = yaml_cases(golden.with_name(golden.name.replace(".json.golden", ".yaml")))
    for case in json.loads(golden.read_text()):
        name = case["test_name"]
        where = f"{golden.name} [{name}]"
        events, recs = case_events(cases.get(name, []))
        if not res.check(f"{where} events", 1, len(events)):
            continue
        ev = events[0]
        mapped = []
        for r in recs:
            vals = record_values(r)
            vals["__type__"] = r["name"]
            mapped.append(vals)
        gold = case["event"]
        file_path = gold.get("file", {}).get("path")
        for path, value in _leaves(gold, ""):
            path = path[1:]
            if re.split(r"[.\[]", path, maxsplit=1)[0] in _NOT_COMPARED:
                continue
            ours = _coalesce_ours(path, ev, mapped, file_path)
            if path == "@timestamp" and isinstance(value, str):
                value = _their_iso(value)
            key = re.split(r"[.\[]", path)[-1]
            res.check(f"{where} {path}", value, _cmp(key, value, ours))
    return res


def run_aucoalesce() -> Result:
    """All ``aucoalesce/*.json.golden`` files."""
    total = Result("go-libaudit aucoalesce")
    for golden in sorted((GOLIBAUDIT / "aucoalesce").glob("*.json.golden")):
        _add(total, aucoalesce_file(golden))
    return total


# -- reassembler -----------------------------------------------------------------------------------------------


def reassembler_file(name: str) -> Result:
    """Our events (serial, records) in output order and ``serial_gaps`` against ``REASSEMBLER[name]``."""
    res = Result(f"go-libaudit reassembler {name}")
    lost, expected = REASSEMBLER[name]
    events, stats = pipeline_events((GOLIBAUDIT / "reassembler" / name).read_bytes(), raw=False)
    ours = [(int(e["ID"].rsplit(":", 1)[1]), e["summary"]["records"]) for e in events]
    res.check(f"{name} events", len(expected), len(ours))
    for i, (serial, count) in enumerate(expected):
        got = ours[i] if i < len(ours) else (MISSING, MISSING)
        res.check(f"{name} event[{i}].serial", serial, got[0])
        res.check(f"{name} event[{i}].records", count, got[1])
    res.check(f"{name} lost", lost, stats["serial_gaps"])
    return res


def run_reassembler() -> Result:
    """The four reassembler logs."""
    total = Result("go-libaudit reassembler")
    for name in REASSEMBLER:
        _add(total, reassembler_file(name))
    return total


def _add(total: Result, part: Result) -> None:
    total.compared += part.compared
    total.matched += part.matched
    total.mismatches.extend(part.mismatches)

"""Event → one JSON-ready dict: laurel-shaped record sections, a derived summary, the raw records.

Shape (documented in docs/event-json.md)::

    {"ID": "SEC.MSEC:SERIAL", "NODE": "...",            # NODE only with a node= prefix
     "SYSCALL": {...}, "EXECVE": {...}, "CWD": {...}, "PROCTITLE": {...},   # one object each
     "PATH": [{...}, ...], "SOCKADDR": [...], "USER_LOGIN": [...], ...     # every other type: a list
     "summary": {...},                                  # interpretation, see summarize()
     "raw": ["type=SYSCALL msg=audit(...): ...", ...]}  # every record's exact text, in arrival order
"""

from __future__ import annotations

import base64
import datetime as _dt

from auditsql.events.event import Event
from auditsql.events.identity import Identities
from auditsql.events.interpret import (
    arch_of,
    errno_name,
    escaped,
    execve_argv,
    proctitle_argv,
    sockaddr_of,
    syscall_name,
)
from auditsql.records.encoding import TRIVIAL, escape
from auditsql.records.record import FREE_TEXT, Record
from auditsql.records.values import (
    K_ENC,
    K_FREE,
    K_INT,
    K_MSG,
    K_SCARG,
    K_TEXT,
    KINDS,
    as_bytes,
    as_text,
    converter,
    kind_of,
)

__all__ = ["Renderer", "SINGLE_SECTIONS"]

SYSCALL, EXECVE, CWD, PATH, SOCKADDR, PROCTITLE, EOE = 1300, 1309, 1307, 1302, 1306, 1327, 1320
#: types rendered as one object (the kernel emits at most one per event); every other type is a list
SINGLE_SECTIONS = frozenset((SYSCALL, EXECVE, CWD, PROCTITLE))
_SYSCALL_ARGS = frozenset(("a0", "a1", "a2", "a3"))
_ID_FIELDS = ("auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "ouid", "ogid")
# LOGIN's previous/new login uid (`old-auid=`, pre-3.x `old auid=`/`new auid=`); auditd's ENRICHED names them
_ID_FIELDS += ("old-auid", "new-auid")
_ID_PAIRS = tuple((f, f.upper()) for f in _ID_FIELDS)
_GROUP_FIELDS = frozenset(("gid", "egid", "sgid", "fsgid", "ogid"))
#: (field, its name field, a group id?) for _names, computed once rather than per section
_ID_NAMES = tuple((f, f.upper(), f in _GROUP_FIELDS) for f in _ID_FIELDS)
_TRIVIAL = TRIVIAL.match
_SUMMARY_INTS = ("pid", "ppid", "auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "ses")
_USER_MSG_KEYS = ("op", "acct", "id", "exe", "hostname", "addr", "terminal", "res", "grantors", "cmd", "cwd")


def _braced(tok: str) -> str | None:
    if len(tok) >= 2 and tok[0] == "{" and tok[-1] == "}":
        inner = tok[1:-1].strip(" ")
        return "{" + inner + "}"
    return as_text(tok)


class Renderer:
    """Builds the JSON dict of events. ``resolve_ids`` adds user/group names from this host's databases
    where the log's ENRICHED tail did not carry them; ``raw`` includes each record's exact text."""

    def __init__(self, resolve_ids: bool = True, raw: bool = True) -> None:
        self.ids = Identities() if resolve_ids else None
        self.raw = raw
        self._cache: dict[tuple[int, str], dict[str, object]] = {}

    # -- sections ----------------------------------------------------------------------------------------------

    def section(self, rec: Record, arch_name: str | None = None) -> dict[str, object]:
        """A record's typed fields. Sections of records whose body repeats verbatim are built once (bounded
        cache; SYSCALL excluded as practically unique); cached dicts are shared and must not be mutated."""
        if rec.type == SYSCALL or rec.error is not None or len(rec.body) > 2048:
            return self._section(rec, arch_name)
        cache = self._cache
        key = (rec.type, rec.body)
        sec = cache.get(key)
        if sec is None:
            if len(cache) >= 8192:
                cache.clear()
            sec = cache[key] = self._section(rec, arch_name)
        return sec

    def _section(self, rec: Record, arch_name: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {}
        free: list[str] = []
        argv: list[str] | None = None
        is_syscall = rec.type == SYSCALL
        kinds = KINDS
        trivial = _TRIVIAL
        # the hot loop: converters inlined by kind (see auditsql.records.values for the rules)
        for k, tok in rec.fields:
            kind = kinds.get(k)
            if kind is None:
                kind = kind_of(k)
            if kind == K_INT:
                if k in out:
                    continue  # a repeated key: the first value is kept, the raw text has all of them
                try:
                    out[k] = int(tok)
                except ValueError:
                    out[k] = as_text(tok)
                continue
            if kind == K_ENC:
                if k in out:
                    continue
                if len(tok) > 1 and tok[0] == '"' and tok[-1] == '"':
                    v = tok[1:-1]
                    out[k] = v if trivial(v) else escape(v)
                elif tok == "(null)" or tok == "?":
                    out[k] = None
                elif tok.isalpha() and (len(tok) & 1 or tok.strip("abcdefABCDEF")):
                    out[k] = tok  # a word that cannot be hex (`success=yes`)
                else:
                    out[k] = as_bytes(tok)
                continue
            if kind == K_FREE:
                free.append(tok)
                continue
            if k in out:
                continue
            if kind == K_TEXT:
                if len(tok) > 1 and tok[0] == '"' and tok[-1] == '"':
                    v = tok[1:-1]
                    out[k] = v if trivial(v) else escape(v)
                else:
                    out[k] = (
                        tok
                        if trivial(tok)
                        and tok != "?"
                        and tok != "(null)"
                        and tok[:1] != "'"
                        and tok[:1] != '"'
                        else as_text(tok)
                    )
                continue
            if kind == K_SCARG and is_syscall:
                if argv is None:
                    argv = []
                try:
                    argv.append(f"0x{int(tok, 16):x}")
                except ValueError:
                    argv.append(as_text(tok) or "")
                continue
            if kind == K_MSG and tok[:1] == "'":
                out[k] = _nested(tok)
                continue
            out[k] = converter(k)(tok)
        if free:
            _free_text(free, out)
        for k, tok in rec.enrich:
            if k not in out:
                out[k] = _braced(tok) if tok[:1] == "{" else as_text(tok)
        if rec.type == SYSCALL:
            if "ARCH" not in out and arch_name:
                out["ARCH"] = arch_name
            if "SYSCALL" not in out:
                nr = out.get("syscall")
                if isinstance(nr, int):
                    name = syscall_name(arch_name, nr)
                    if name:
                        out["SYSCALL"] = name
            if argv is not None:
                out["ARGV"] = argv
        if self.ids is not None:
            self._names(out)
            msg = out.get("msg")
            if isinstance(msg, dict):
                self._names(msg)  # ids in a user-space payload (`msg='... suid=0'`), as libauparse
        return out

    def _names(self, out: dict[str, object]) -> None:
        ids = self.ids
        assert ids is not None
        for f, up, is_group in _ID_NAMES:
            v = out.get(f)
            if isinstance(v, int) and up not in out:
                name = ids.group(v) if is_group else ids.user(v)
                if name is not None:
                    out[up] = name

    def render(self, ev: Event) -> dict[str, object]:
        d: dict[str, object] = {"ID": ev.id}
        if ev.node is not None:
            d["NODE"] = ev.node
        syscall = ev.first(SYSCALL)
        arch_num, arch_name = arch_of(syscall.get("arch") if syscall is not None else None)
        execve: list[Record] = []
        errors: list[str] = []
        for rec in ev.records:
            t = rec.type
            if rec.error is not None:
                errors.append(rec.error)
                if rec.sec == 0:
                    continue
            if t == EOE:
                continue
            if t == EXECVE:
                if not execve:
                    d["EXECVE"] = None  # placeholder: keeps the section in record order
                execve.append(rec)
                continue
            sec = self.section(rec, arch_name)
            if t == PROCTITLE:
                sec = {"ARGV": escaped(proctitle_argv(rec.get("proctitle")))}
            name = rec.name
            if t in SINGLE_SECTIONS and name not in d:
                d[name] = sec
            elif t in SINGLE_SECTIONS:
                # a second SYSCALL/CWD in one event: keep both, as a list
                prev = d[name]
                d[name] = (prev if isinstance(prev, list) else [prev]) + [sec]
            else:
                lst = d.get(name)
                if lst is None:
                    d[name] = [sec]
                else:
                    lst.append(sec)  # type: ignore[union-attr]
        argv_warnings: list[str] = []
        argv: list[bytes] | None = None
        if execve:
            argc, argv, argv_warnings = execve_argv(execve)
            d["EXECVE"] = {"argc": argc, "ARGV": escaped(argv)}
        d["summary"] = self.summarize(ev, d, arch_num, arch_name, argv, argv_warnings + errors)
        if self.raw:
            d["raw"] = [_raw_text(r.text) for r in ev.records]
        return d

    # -- summary -----------------------------------------------------------------------------------------------

    def summarize(
        self,
        ev: Event,
        d: dict[str, object],
        arch_num: int | None,
        arch_name: str | None,
        argv: list[bytes] | None,
        warnings: list[str],
    ) -> dict[str, object]:
        first = ev.records[0]
        s: dict[str, object] = {
            "time": _iso(ev.sec, ev.msec),
            "type": first.name if first.type != EOE or len(ev.records) == 1 else ev.records[-1].name,
            "records": len(ev.records),
        }
        sc = d.get("SYSCALL")
        if isinstance(sc, list):
            sc = sc[0]
        if isinstance(sc, dict):
            s["type"] = "SYSCALL" if first.type == SYSCALL else s["type"]
            if arch_name or arch_num is not None:
                s["arch"] = arch_name or f"0x{arch_num:x}"
            nr = sc.get("syscall")
            if isinstance(nr, int):
                s["syscall"] = syscall_name(arch_name, nr) or sc.get("SYSCALL") or str(nr)
                s["syscall_nr"] = nr
            elif isinstance(nr, str):
                s["syscall"] = nr  # an interpreted log: the name is already there
            succ = sc.get("success")
            if succ in ("yes", "no"):
                s["success"] = succ == "yes"
            ex = sc.get("exit")
            if ex is not None:
                s["exit"] = ex
                if isinstance(ex, int) and ex < 0:
                    en = errno_name(-ex)
                    if en:
                        s["errno"] = en
                elif isinstance(ex, str) and ex.startswith("E"):
                    s["errno"] = ex
            for f in _SUMMARY_INTS:
                v = sc.get(f)
                if v is not None:
                    s[f] = v
            for f in ("tty", "comm", "exe", "subj", "key"):
                v = sc.get(f)
                if v is not None:
                    s[f] = v
            names = {f: sc[up] for f, up in _ID_PAIRS if up in sc}
            if names:
                s["names"] = names
        else:
            self._summarize_other(ev, d, s)
        cwd = d.get("CWD")
        if isinstance(cwd, dict) and "cwd" in cwd:
            s["cwd"] = cwd["cwd"]
        if argv is not None:
            ex_sec = d.get("EXECVE")
            s["argv"] = ex_sec["ARGV"] if isinstance(ex_sec, dict) else escaped(argv)
            s["argc"] = len(argv)
        pt = d.get("PROCTITLE")
        if isinstance(pt, dict) and "argv" not in s:
            s["proctitle"] = pt.get("ARGV")
        paths = d.get("PATH")
        if isinstance(paths, list):
            s["paths"] = [
                {k: p[k] for k in ("name", "nametype", "inode", "mode", "ouid", "ogid") if k in p}
                for p in paths
            ]
        sa_recs = ev.all(SOCKADDR)
        if sa_recs:
            sa = sockaddr_of(sa_recs[0].get("saddr"), arch_num)
            if sa is not None:
                s["sockaddr"] = sa
        if ev.closed_by != "eoe" and ev.closed_by != "single":
            s["closed_by"] = ev.closed_by
        if ev.duplicates:
            s["duplicates"] = ev.duplicates
        if warnings:
            s["warnings"] = warnings
        return s

    def _summarize_other(self, ev: Event, d: dict[str, object], s: dict[str, object]) -> None:
        """A non-syscall event (PAM, daemon, AVC...): the subject and the user-space payload."""
        first = ev.records[0]
        sec = d.get(first.name)
        if isinstance(sec, list):
            sec = sec[0]
        if not isinstance(sec, dict):
            return
        for f in _SUMMARY_INTS:
            v = sec.get(f)
            if v is not None:
                s[f] = v
        msg = sec.get("msg")
        src = msg if isinstance(msg, dict) else sec
        for f in _USER_MSG_KEYS:
            v = src.get(f)
            if v is not None:
                s[f] = v
        res = src.get("res", sec.get("res"))
        if res in ("success", "failed", 1, 0, "1", "0"):
            s["success"] = res in ("success", 1, "1")
        names = {f: sec[up] for f, up in _ID_PAIRS if up in sec}
        if names:
            s["names"] = names


def _nested(tok: str) -> dict[str, object]:
    from auditsql.records.parser import parse_nested

    out: dict[str, object] = {}
    free: list[str] = []
    for k, v in parse_nested(tok):
        if k == FREE_TEXT:
            free.append(v)
        elif k not in out:
            out[k] = converter(k)(v)
    if free:
        out["_text"] = " ".join(free)
    return out


def _free_text(words: list[str], out: dict[str, object]) -> None:
    """Words that are not key=value. SELinux ``avc:  denied  { read write } for`` becomes
    ``"denied": ["read", "write"]`` (as laurel writes it); anything else is kept as ``_text``."""
    if words and words[0] == "avc:" and len(words) >= 3 and words[2] == "{":
        try:
            end = words.index("}")
        except ValueError:
            end = len(words)
        out[words[1]] = words[3:end]
        rest = words[end + 1 :]
        if rest and rest[0] == "for":
            rest = rest[1:]
        words = rest
    if words:
        out["_text"] = " ".join(words)


def _raw_text(text: str) -> object:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return {"base64": base64.b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii")}
    return text


_ISO_CACHE: dict[int, str] = {}


def _iso(sec: int, msec: int) -> str:
    """RFC 3339 UTC time with milliseconds; the second's text is cached (events come in bursts)."""
    base = _ISO_CACHE.get(sec)
    if base is None:
        if len(_ISO_CACHE) > 4096:
            _ISO_CACHE.clear()
        base = _ISO_CACHE[sec] = _dt.datetime.fromtimestamp(sec, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{base}{msec:03d}Z"

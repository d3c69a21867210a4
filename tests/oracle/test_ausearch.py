"""auditsql's reading of the corpus raw logs compared with the auditd package's own tools.

Oracles (Debian auditd 3.0.9): libauparse, driven by ``auparse_dump.py`` under Debian's python3, and
``ausearch --input FILE``. Per corpus log (one test each):

* ``test_auparse``: event grouping — for each (node, timestamp, serial), the sizes of the events built for it,
  compared as sets since both tools regroup interleaved records their own way; each record's type; and, for
  the fields auditsql interprets, its value against ``interpret_field()``: arch and syscall names, success,
  exit (errno name for negative values), every field auditsql decodes as an *encoded* value (exe, comm, cwd,
  name, key, nested ``msg='…'`` fields...), EXECVE argv and argc (hex and split arguments joined), PROCTITLE
  (NULs as spaces), SOCKADDR (family, address, port, path, netlink pid), and uid/gid names for 0 (root, the
  same on every host) and 4294967295 (unset).
* ``test_ausearch``: event grouping and record types per event, as ``ausearch`` prints them.

Each test asserts that every compared value is equal, except the entries of ``KNOWN_DIFFERENCES`` for its file
(each with its reason); an entry that no longer occurs fails too, so the list stays exact. The counts of
compared/matched values are printed in the terminal summary ("oracle comparisons").
"""

from __future__ import annotations

import re
from collections import defaultdict
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path

import pytest

from auditsql import _core
from auditsql._core import arch_of, unescape
from tests.core import (
    Ev,
    Record,
    detect_format,
    event_records,
    get,
    is_encoded,
    name_ids,
    section_in,
    sockaddr_of,
)
from tests.oracle.conftest import CORPUS, auparse_events, ausearch_raw

pytestmark = pytest.mark.oracle

SYSCALL, EXECVE, SOCKADDR, PROCTITLE = 1300, 1309, 1306, 1327

#: folders left out: copies of other folders' logs (see the corpus README, "Overlaps") and reference text
_EXCLUDED_DIRS = ("jorgehermo9_auditd-parser", "linux-audit_audit-documentation")
_RECORD_LINE = re.compile(rb"^(?:node=\S+ )?type=", re.M)


def _corpus_logs() -> list[str]:
    """Every raw log of the corpus: ``*.log``/``*.txt`` files holding auditd record lines."""
    if not CORPUS.is_dir():
        return []
    out = []
    for p in sorted(CORPUS.rglob("*")):
        rel = p.relative_to(CORPUS).as_posix()
        if p.suffix not in (".log", ".txt") or not p.is_file() or rel.startswith(_EXCLUDED_DIRS):
            continue
        if _RECORD_LINE.search(p.read_bytes()):
            out.append(rel)
    return out


LOGS = _corpus_logs()

# -- known differences ------------------------------------------------------------------------------------
#
# (corpus file, difference id) -> why it is expected. A difference id is what a failure prints before ":":
# "group KEY" / "ausearch group KEY" / "ausearch types KEY" (grouping), "L<line> <field>" (a record's field),
# "argv KEY" (EXECVE); "*" matches any characters (fnmatch), and each entry must match at least one difference.

# The kernel writes these records in the context of a syscall, with the SYSCALL's serial; libauparse and ausearch
# close an event as soon as they see one of the types they take for single-record events (types below 1300 such
# as LOGIN and user-space messages, MAC_* 1406-1418) and make a second event of the rest. auditsql keeps one
# event per (node, time, serial), which is what the kernel meant (laurel and go-libaudit group them too).
_SINGLE_TYPE_SPLIT = "auparse/ausearch split a LOGIN/user-space/MAC_IPSEC record from its syscall's records"
# libauparse ends an event at PROCTITLE (the kernel's last record before EOE) and drops an EOE that comes after
# it; auditsql keeps the EOE in its event (ausearch's own grouping agrees with auditsql).
_PROCTITLE_CLOSES = "auparse closes an event at PROCTITLE and drops the EOE after it"
# The log's records of one event are far apart, with records of other times in between: auparse/ausearch close
# an event when records 2 s newer (log time) or the next serial's SYSCALL arrive. auditsql closes events by a
# window of records, not by log time, since logs are not in time order.
_LOG_TIME_WINDOW = (
    "auparse/ausearch close the event early (log-time window); its later records form a 2nd event"
)
# TTY/USER_TTY `data=`: auparse renders keystrokes for display ("eh",<backspace>,<ret>); auditsql gives the bytes
_TTY_DISPLAY = "auparse's TTY data is a display rendering of the keystrokes, auditsql's the exact bytes"
# laurel's synthetic traces quote values the kernel never quotes (success="yes", tty="(none)", subj="..."):
# auparse returns non-encoded fields as written, quotes included; auditsql reads the quoted value.
_QUOTED_PLAIN = "a quoted value in a field that is not encoded: auparse keeps the quotes"
# AppArmor writes its mode after the label, `subj=/usr/sbin/cupsd (enforce)`; auparse ends the value at the space,
# auditsql keeps the whole label with its mode (as hillu's linux-audit-parser does).
_APPARMOR_MODE = "AppArmor `subj=label (enforce)`: auparse drops the mode"
# ausearch's parser (ausearch-parse.c) rejects some records and then prints nothing of their event
_AUSEARCH_REJECTS = "ausearch rejects the event and prints nothing for it"

KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    # grouping
    ("elastic_beats/filebeat-auditd/audit-rhel6.log", "group 1489519382.529:19600354"): _SINGLE_TYPE_SPLIT,
    (
        "elastic_beats/filebeat-auditd/audit-rhel6.log",
        "ausearch group 1489519382.529:19600354",
    ): _SINGLE_TYPE_SPLIT,
    ("linux-audit_audit-userspace/auparse/test.log", "group 1170021601.343:296"): _SINGLE_TYPE_SPLIT,
    ("linux-audit_audit-userspace/auparse/test.log", "ausearch group 1170021601.343:296"): _SINGLE_TYPE_SPLIT,
    ("linux-audit_audit-userspace/auparse/test2.log", "group 1170021601.343:286"): _SINGLE_TYPE_SPLIT,
    (
        "linux-audit_audit-userspace/auparse/test2.log",
        "ausearch group 1170021601.343:286",
    ): _SINGLE_TYPE_SPLIT,
    ("threathunters-io_laurel/record-login.txt", "group 1640027821.949:151316"): _SINGLE_TYPE_SPLIT,
    ("threathunters-io_laurel/record-login.txt", "ausearch group 1640027821.949:151316"): _SINGLE_TYPE_SPLIT,
    ("threathunters-io_laurel/record-service-start.txt", "group 1661853391.646:4486226"): _SINGLE_TYPE_SPLIT,
    ("threathunters-io_laurel/record-service-start.txt", "ausearch group 1661853391.646:4486226"): (
        _SINGLE_TYPE_SPLIT
    ),
    # record-syscall-nullkey.txt is laurel's reordered event: PROCTITLE comes first
    ("threathunters-io_laurel/record-syscall-nullkey.txt", "group 1678283440.683:225"): _PROCTITLE_CLOSES,
    ("threathunters-io_laurel/record-syscall-nullkey.txt", "ausearch group 1678283440.683:225"): (
        "ausearch, like auparse, ends an event at a PROCTITLE record, here the event's first"
    ),
    ("threathunters-io_laurel/record-bind-ipv4-bigendian.txt", "group 1708028025.033:10"): _PROCTITLE_CLOSES,
    ("threathunters-io_laurel/record-execve-long.txt", "group 1615150974.493:21028"): _PROCTITLE_CLOSES,
    ("threathunters-io_laurel/record-execve.txt", "group work:1615114232.375:15558"): _PROCTITLE_CLOSES,
    (
        "threathunters-io_laurel/record-perl-reverse-shell.txt",
        "group 1626611363.720:348501",
    ): _PROCTITLE_CLOSES,
    ("elastic_go-libaudit/auparse/audit-rhel7.log", "group 1481076984.827:17"): _LOG_TIME_WINDOW,
    ("elastic_go-libaudit/auparse/audit-rhel7.log", "ausearch group 1481076984.827:17"): _LOG_TIME_WINDOW,
    ("elastic_go-libaudit/auparse/audit-rhel7.log", "group 1481077231.371:479"): _LOG_TIME_WINDOW,
    ("elastic_go-libaudit/auparse/audit-rhel7.log", "ausearch group 1481077231.371:479"): _LOG_TIME_WINDOW,
    # go-libaudit's reassembler test expects event 60 with 5 records (elastic_go-libaudit/SOURCE.md), as auditsql
    ("elastic_go-libaudit/reassembler/out_of_order.log", "group 1492037291.038:60"): _LOG_TIME_WINDOW,
    (
        "elastic_go-libaudit/reassembler/out_of_order.log",
        "ausearch group 1492037291.038:60",
    ): _LOG_TIME_WINDOW,
    # a lone EOE (hillu's one-line test): auparse and ausearch drop it, auditsql keeps it so nothing is lost
    (
        "hillu_linux-audit-parser-rs/line-eoe.txt",
        "group 1615225617.302:25836",
    ): "a lone EOE is dropped by auparse",
    (
        "hillu_linux-audit-parser-rs/line-eoe.txt",
        "ausearch group 1615225617.302:25836",
    ): "ausearch drops a lone EOE",
    (
        "hillu_linux-audit-parser-rs/line-eoe.txt",
        "ausearch types 1615225617.302:25836",
    ): "ausearch drops a lone EOE",
    # ausearch cannot parse AppArmor AVCs (it expects SELinux's `avc: denied { ... }`) ...
    ("elastic_go-libaudit/auparse/audit-ubuntu16.log", "ausearch * 1524662933.080:61207"): _AUSEARCH_REJECTS,
    (
        "hillu_linux-audit-parser-rs/line-broken-avc-info.txt",
        "ausearch * 1634728455.294:53732",
    ): _AUSEARCH_REJECTS,
    ("threathunters-io_laurel/record-avc-apparmor.txt", "ausearch * 1634728455.294:53732"): _AUSEARCH_REJECTS,
    # ... nor Elastic's trimmed SYSCALL record (no a1-a3, items, euid...)
    (
        "elastic_integrations/auditd-log-pipeline/test-auditd-preparsed-syscall.log",
        "ausearch * 1485893834.891:18877199",
    ): (_AUSEARCH_REJECTS),
    ("elastic_integrations/auditd-log-pipeline/test-auditd-raw.log", "ausearch * 1485893834.891:18877199"): (
        _AUSEARCH_REJECTS
    ),
    # record types
    # `type=CKADDR`: a SOCKADDR record whose type name Elastic's file index truncated; libauparse has no number
    # for the name (-1), auditsql keeps the name as written
    (
        "elastic_integrations/auditd-log-pipeline/test-auditd-raw.log",
        "L45 type",
    ): "truncated type name CKADDR",
    # `type=UNKNOWN[1334]` (written by an auditd that did not know BPF): auparse names the number, auditsql keeps
    # the name as written (the number, 1334, is in the record's type)
    (
        "hillu_linux-audit-parser-rs/line-unknown.txt",
        "L1 type",
    ): "UNKNOWN[1334] kept as written, auparse says BPF",
    # field values
    ("elastic_beats/filebeat-auditd/test.log", "L5 data"): _TTY_DISPLAY,
    ("elastic_go-libaudit/auparse/audit-rhel7.log", "L4[345] data"): _TTY_DISPLAY,
    ("elastic_integrations/auditd-log-pipeline/test-auditd-raw.log", "L5 data"): _TTY_DISPLAY,
    ("hillu_linux-audit-parser-rs/line-tty.txt", "L1 data"): _TTY_DISPLAY,
    # Filebeat's test.log line 12 is an `ausearch -i` record (`arch=x86_64 syscall=execve`) saved as raw: auparse
    # reads the name x86_64 as an unknown ELF machine and "execve" as syscall 0 (read); auditsql takes the names
    ("elastic_beats/filebeat-auditd/test.log", "L12 arch"): "interpreted arch= in a raw record",
    ("elastic_beats/filebeat-auditd/test.log", "L12 syscall"): "interpreted syscall= in a raw record",
    ("threathunters-io_laurel/shell-proc-trace-confusion.txt", "L* success"): _QUOTED_PLAIN,
    ("threathunters-io_laurel/shell-proc-trace-confusion.txt", "L* tty"): _QUOTED_PLAIN,
    ("threathunters-io_laurel/record-weblogic.txt", "L1 success"): _QUOTED_PLAIN,
    ("threathunters-io_laurel/record-weblogic.txt", "L1 subj"): _QUOTED_PLAIN,
    ("threathunters-io_laurel/record-weblogic.txt", "L1 tty"): _QUOTED_PLAIN,
    ("hillu_linux-audit-parser-rs/line-anom-abend-2.txt", "L1 subj"): _APPARMOR_MODE,
    ("hillu_linux-audit-parser-rs/line-broken-subj2.txt", "L1 subj"): _APPARMOR_MODE,
    ("hillu_linux-audit-parser-rs/line-user-auth.txt", "L1 subj"): _APPARMOR_MODE,
    # two records run together inside subj= (a corrupted line): auparse and auditsql cut the garbage differently
    ("hillu_linux-audit-parser-rs/line-daemon-end-2.txt", "L1 subj"): "corrupted line",
    # several rule keys are joined by 0x01 (AUDIT_KEY_SEPARATOR): interpret_field() gives the first key only
    # (`ausearch -i` prints `key=exec key=64bit`); auditsql keeps every key's bytes (`exec%0164bit`)
    (
        "elastic_go-libaudit/auparse/audit-ubuntu17.log",
        "L1 key",
    ): "auparse shows only the first of several keys",
    # pre-3.x LOGIN `old auid=4294967295 new auid=0`: auparse calls both fields "auid" (the first, old, is
    # compared); auditsql names them old-auid and new-auid, like the modern kernel's `old-auid=`
    ("elastic_go-libaudit/auparse/test2.log", "L7 auid"): "old auid= is auparse's auid, auditsql's old-auid",
    ("linux-audit_audit-userspace/derived/auparse_test-buf.log", "L1 auid"): (
        "old auid= is auparse's auid, auditsql's old-auid"
    ),
    # ENRICHED logs: auparse shows the SADDR text of the log's interpreted tail instead of decoding saddr=.
    # Elastic rewrote this record's address bytes (anonymisation) but not the tail: auditsql decodes the bytes,
    # ::2a02:cf40:0, the tail says 2a02:cf40::
    ("elastic_integrations/auditd-log-pipeline/test-auditd-enriched.log", "L2 saddr"): "tail not rewritten",
    # saddr=0100: a 2-byte AF_UNIX address, i.e. an unnamed socket; the tail says "sockaddr len too short"
    ("elastic_integrations/auditd-log-pipeline/test-auditd-enriched.log", "L3 saddr"): (
        "unnamed AF_UNIX socket: auditsql path '', auparse 'len too short'"
    ),
    # a ppc64 (big-endian) record: auparse reads the family in this host's byte order (512), auditsql in the
    # record's arch's (AF_INET)
    (
        "threathunters-io_laurel/record-bind-ipv4-bigendian.txt",
        "L2 saddr",
    ): "auparse ignores the arch's byte order",
}

# -- our side ------------------------------------------------------------------------------------------------


#: names for the only ids that are the same on every host: 0 = root, 4294967295 = unset
_FIXED_IDS = {0: "root", 4294967295: "unset"}


class Ours:
    """A log read by auditsql: records by line number, the events, each record's event and rendered dict."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        detect = detect_format(data[: 64 * 1024]) != "raw"
        self.by_line: dict[int, list[Record]] = {}
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for lineno, line in enumerate(lines, 1):
            # the same lines the read job skips: comments and blank lines
            if line[:1] == b"#" or not line or line.isspace():
                continue
            self.by_line[lineno] = _core.parse_line(line + b"\n", detect)
        self.events: list[Ev] = []
        # each record's event, matched by the record's exact text, occurrences taken in line order
        by_text: dict[bytes, list[tuple[Ev, dict]]] = defaultdict(list)
        for d in _core.render_lines(data, resolve_ids=False):
            ev = Ev(d, event_records(d, detect))
            self.events.append(ev)
            for rec in ev.records:
                by_text[rec["text"]].append((ev, d))
        self.event_of: dict[tuple[int, int], tuple[Ev, dict]] = {}
        for lineno, recs in self.by_line.items():
            for i, rec in enumerate(recs):
                hits = by_text.get(rec["text"])
                if hits:
                    self.event_of[(lineno, i)] = hits.pop(0) if len(hits) > 1 else hits[0]

    def section(self, ev: Ev, d: dict, rec: Record) -> dict:
        """The record's section in its event, with the host-independent id names."""
        return name_ids(section_in(d, ev.records, rec), _FIXED_IDS)

    def groups(self) -> dict[tuple, list[int]]:
        out: dict[tuple, list[int]] = defaultdict(list)
        for ev in self.events:
            if ev.closed_by == "error":
                continue
            out[(ev.node, ev.sec, ev.msec, ev.serial)].append(len(ev.records))
        return out

    def types(self) -> dict[tuple, list[str]]:
        out: dict[tuple, list[str]] = defaultdict(list)
        for ev in self.events:
            if ev.closed_by != "error":
                out[(ev.node, ev.sec, ev.msec, ev.serial)].extend(r["name"] for r in ev.records)
        return out


# -- comparison bookkeeping ------------------------------------------------------------------------------------


class Compare:
    def __init__(self, counts: dict[str, list[int]], ausearch: bool = False) -> None:
        self.counts = counts
        self.ausearch = ausearch
        self.diffs: dict[str, str] = {}

    def check(self, kind: str, diff_id: str, ours: object, oracle: object) -> None:
        c = self.counts.setdefault(kind, [0, 0])
        c[0] += 1
        if ours == oracle:
            c[1] += 1
        else:
            self.diffs[diff_id] = f"ours={ours!r} oracle={oracle!r}"

    def assert_known(self, rel: str) -> None:
        # ids of ausearch's differences start with "ausearch ": each test owns its own entries
        known = [
            pat for f, pat in KNOWN_DIFFERENCES if f == rel and pat.startswith("ausearch ") == self.ausearch
        ]
        unexpected = [f"{d}: {txt}" for d, txt in self.diffs.items() if not any(fnmatch(d, p) for p in known)]
        stale = [p for p in known if not any(fnmatch(d, p) for d in self.diffs)]
        assert not unexpected and not stale, (
            f"{rel}: {len(unexpected)} unexpected difference(s):\n  "
            + "\n  ".join(unexpected)
            + (f"\nKNOWN_DIFFERENCES entries that no longer occur: {stale}" if stale else "")
        )


def _key_str(key: tuple) -> str:
    node, sec, msec, serial = key
    return (f"{node}:" if node else "") + f"{sec}.{msec:03d}:{serial}"


# -- auparse side --------------------------------------------------------------------------------------------


def _is_comment(rec: dict) -> bool:
    # auparse has no comment syntax: a "#" line of laurel's traces becomes a typeless record of its own
    return (rec.get("text") or "").startswith("#")


def _type_name(rec: dict) -> str:
    # get_type_name() raises for numbers libaudit has no name for; auditd writes those as UNKNOWN[n]
    return rec["type"] if rec["type"] is not None else f"UNKNOWN[{rec['typenum']}]"


def _fields(rec: dict) -> dict[str, list]:
    """name -> [raw, interpreted, ftype, error] of the first occurrence of each field name."""
    out: dict[str, list] = {}
    for name, raw, interp, ftype, err in rec["fields"]:
        if name is not None and name not in out:
            out[name] = [raw, interp, ftype, err]
    return out


_ERRNO = re.compile(r"([A-Z][A-Z0-9]+)\((.*)\)\Z")
_ID_FIELDS = ("auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "ouid", "ogid")
_ID_FIELDS += ("old-auid", "new-auid")
#: auparse's family names (libaudit's socktab) -> ours (Python's AF_* names)
_FAMILY = {"local": "unix"}


def _auparse_sockaddr(text: str) -> dict[str, object]:
    """``{ saddr_fam=inet laddr=1.2.3.4 lport=80 }`` -> {family, addr, port} (our summary's names)."""
    inner = text.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1].strip()
    out: dict[str, object] = {}
    m = re.fullmatch(r"(?:saddr_fam=)?unknown-family\((\d+)\)", inner)
    if m:
        # a family libaudit has no name for; auditsql names 0 after the C library's AF_UNSPEC
        return {"family": "unspec"} if m.group(1) == "0" else {"family_nr": int(m.group(1))}
    for word in inner.split(" "):
        k, sep, v = word.partition("=")
        if not sep:
            out.setdefault("_text", []).append(word)  # type: ignore[union-attr]
        elif k in ("saddr_fam", "fam"):  # "fam" in the SADDR text of some ENRICHED tails
            out["family"] = _FAMILY.get(v, v)
        elif k == "nlnk-fam" and v == "16":
            continue  # AF_NETLINK's number again
        elif k == "laddr":
            out["addr"] = v
        elif k in ("lport",):
            out["port"] = int(v) if v.isdigit() else v
        elif k == "path":
            out["path"] = v
        elif k == "nlnk-pid":
            out["pid"] = int(v) if v.isdigit() else v
        else:
            out[k] = v
    return out


def _our_sockaddr(sa: dict[str, object] | None) -> dict[str, object] | None:
    if sa is None:
        return None
    keep = ("family", "addr", "port", "path", "pid")
    return {k: sa[k] for k in keep if k in sa}


def _decoded(value: object) -> str | None:
    """Our escaped text -> the text of its bytes, as the auparse bindings give it (UTF-8)."""
    if value is None:
        return None
    return unescape(str(value)).decode("utf-8", "surrogateescape")


def _compare_auparse(rel: str, ours: Ours, aup: list[dict], cmp: Compare) -> None:
    # grouping: (node, time, serial) -> sorted sizes of the events built for it
    groups: dict[tuple, list[int]] = defaultdict(list)
    events = []
    for ev in aup:
        assert "error" not in ev, f"auparse failed on {rel}: {ev['error']}"
        recs = [r for r in ev["records"] if not _is_comment(r)]
        if not recs:
            continue
        key = (ev["host"], ev["sec"], ev["milli"], ev["serial"])
        groups[key].append(len(recs))
        events.append((key, recs))
    mine = ours.groups()
    for key in sorted(set(groups) | set(mine), key=lambda k: (k[1], k[2], k[3], k[0] or "")):
        cmp.check(
            "grouping", f"group {_key_str(key)}", sorted(mine.get(key, [])), sorted(groups.get(key, []))
        )

    for key, recs in events:
        execve_args: dict[int, str | None] = {}
        execve_pieces: dict[int, dict[int, str | None]] = {}
        execve_argc: str | None = None
        execve_event: tuple[Ev, dict] | None = None
        for rec in recs:
            line = rec["line"]
            mine_recs = ours.by_line.get(line)
            if not mine_recs:
                cmp.check("types", f"L{line} type", None, _type_name(rec))
                continue
            our_rec = mine_recs[0]
            cmp.check("types", f"L{line} type", our_rec["name"], _type_name(rec))
            ev, d = ours.event_of[(line, 0)]
            summary = d["summary"]
            assert isinstance(summary, dict)
            first_syscall = next(iter(ev.all(SYSCALL)), None)
            arch_num, _arch_name = arch_of(get(first_syscall, b"arch") if first_syscall is not None else None)
            section = ours.section(ev, d, our_rec)
            nested = section.get("msg") if isinstance(section.get("msg"), dict) else {}
            f = _fields(rec)
            where = f"L{line}"

            done: set[str] = set()
            if our_rec["type"] == SYSCALL and first_syscall == our_rec:
                done = {"arch", "syscall", "success", "exit"}
                if "arch" in f:
                    cmp.check("arch", f"{where} arch", summary.get("arch"), f["arch"][1])
                if "syscall" in f:
                    cmp.check("syscall", f"{where} syscall", summary.get("syscall"), f["syscall"][1])
                if "success" in f:
                    succ = summary.get("success")
                    ours_succ = None if succ is None else ("yes" if succ else "no")
                    cmp.check("success", f"{where} success", ours_succ, f["success"][1])
                if "exit" in f:
                    interp = f["exit"][1] or ""
                    m = _ERRNO.match(interp)
                    if m:
                        cmp.check("exit", f"{where} exit", summary.get("errno"), m.group(1))
                    else:
                        cmp.check("exit", f"{where} exit", str(summary.get("exit")), interp)

            for name, (raw, interp, _ftype, err) in f.items():
                if name in ("type", "saddr", "proctitle") or not name or name[0].isupper():
                    continue
                if our_rec["type"] == EXECVE and re.fullmatch(r"a\d+(\[\d+\])?", name):
                    continue
                if name in _ID_FIELDS and raw in ("0", "4294967295"):
                    src = section if name in section else nested
                    got = src.get(name.upper())
                    if got is None and src is nested:
                        got = section.get(name.upper())  # an ENRICHED tail names payload ids in the record
                    cmp.check("ids", f"{where} {name}", got, interp)
                    continue
                if name in done:
                    continue
                if not is_encoded(name):
                    continue
                if name in section:
                    value = section[name]
                elif name in nested:
                    value = nested[name]
                else:
                    cmp.check("encoded", f"{where} {name}", "<missing>", interp)
                    continue
                if err is not None or interp is None:
                    cmp.check("encoded", f"{where} {name}", _decoded(value), f"<auparse: {err}>")
                elif value is None and raw == interp and raw in ("(null)", "?"):
                    cmp.check("encoded", f"{where} {name}", raw, interp)  # no value on both sides
                else:
                    cmp.check("encoded", f"{where} {name}", _decoded(value), interp)

            if our_rec["type"] == PROCTITLE and "proctitle" in f:
                pt = d.get("PROCTITLE")
                argv = pt.get("ARGV") if isinstance(pt, dict) else None
                ours_pt = " ".join(_decoded(a) or "" for a in argv) if isinstance(argv, list) else None
                cmp.check("proctitle", f"{where} proctitle", ours_pt, f["proctitle"][1])

            if our_rec["type"] == SOCKADDR and "saddr" in f:
                sa = sockaddr_of(get(our_rec, b"saddr"), arch_num)
                if next(iter(ev.all(SOCKADDR)), None) == our_rec:
                    sa = summary.get("sockaddr")  # type: ignore[assignment]
                interp = f["saddr"][1]
                oracle = _auparse_sockaddr(interp) if interp is not None else f"<auparse: {f['saddr'][3]}>"
                cmp.check("sockaddr", f"{where} saddr", _our_sockaddr(sa), oracle)

            if our_rec["type"] == EXECVE:
                execve_event = (ev, d)
                for name, (_raw, interp, _ftype, _err) in f.items():
                    m = re.fullmatch(r"a(\d+)(?:\[(\d+)\])?", name)
                    if name == "argc":
                        execve_argc = interp
                    elif m and m.group(2) is None:
                        execve_args[int(m.group(1))] = interp
                    elif m:
                        execve_pieces.setdefault(int(m.group(1)), {})[int(m.group(2))] = interp
        if execve_event is not None:
            _ev, d = execve_event
            ex = d.get("EXECVE")
            assert isinstance(ex, dict)
            for idx, parts in execve_pieces.items():
                if all(p is not None for p in parts.values()):
                    execve_args[idx] = "".join(parts[i] for i in sorted(parts))  # type: ignore[misc]
                else:
                    execve_args[idx] = None
            oracle_argv = [execve_args[i] for i in sorted(execve_args)]
            ours_argv = [_decoded(a) for a in ex["ARGV"]]
            cmp.check("execve", f"argv {_key_str(key)}", ours_argv, oracle_argv)
            if execve_argc is not None:
                cmp.check("execve", f"argc {_key_str(key)}", str(ex.get("argc")), execve_argc)


# -- ausearch side -------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^(?:node=(\S+) )?type=(\S+) msg=audit\((\d+)\.(\d+):(\d+)\)")


def _ausearch_groups(text: str) -> tuple[dict[tuple, list[int]], dict[tuple, list[str]]]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    types: dict[tuple, list[str]] = defaultdict(list)
    for block in text.split("----\n"):
        keys: dict[tuple, list[str]] = defaultdict(list)
        for line in block.splitlines():
            m = _HEADER.match(line)
            if m:  # "time->..." lines, and "#" comment lines ausearch passes through as records, are not
                node, tname, sec, msec, serial = m.groups()
                keys[(node, int(sec), int(msec), int(serial))].append(tname)
        for key, names in keys.items():
            groups[key].append(len(names))
            types[key].extend(names)
    return groups, types


# -- tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", LOGS)
def test_auparse(rel: str, oracle_report: dict[str, list[int]]) -> None:
    path = CORPUS / rel
    cmp = Compare(oracle_report)
    _compare_auparse(rel, Ours(path), auparse_events(path), cmp)
    cmp.assert_known(rel)


@pytest.mark.parametrize("rel", LOGS)
def test_ausearch(rel: str, oracle_report: dict[str, list[int]]) -> None:
    path = CORPUS / rel
    cmp = Compare(oracle_report, ausearch=True)
    ours = Ours(path)
    groups, types = _ausearch_groups(ausearch_raw(path))
    mine, my_types = ours.groups(), ours.types()
    for key in sorted(set(groups) | set(mine), key=lambda k: (k[1], k[2], k[3], k[0] or "")):
        ks = _key_str(key)
        cmp.check("grouping", f"ausearch group {ks}", sorted(mine.get(key, [])), sorted(groups.get(key, [])))
        cmp.check("types", f"ausearch types {ks}", sorted(my_types.get(key, [])), sorted(types.get(key, [])))
    cmp.assert_known(rel)


def test_corpus_logs_found() -> None:
    """The parametrization above is not silently empty."""
    assert len(LOGS) == 135

"""Conformance with jorgehermo9/auditd-parser (Rust, nom): its insta snapshots, one per input line.

Golden: ``jorgehermo9_auditd-parser/snapshots/*.snap``. Each snapshot's YAML front matter holds the exact input
line (``info:``) and its body the parser's JSON: ``{"record_type", "timestamp" (epoch ms), "id" (serial),
"node"?, "fields": {...}, "enrichment"?: {...}}`` — 176 snapshots — or ``{"Err": ...}`` for the 44 lines that
parser rejects (auditsql never rejects a line: :func:`rejected` reports what it does with them).

For each parsed snapshot the ``info`` line goes through auditsql's parser (``parse_text``) and each record
section is rendered (``Renderer(resolve_ids=False).section``); compared: record_type, timestamp, id, node, the
set of field keys, every field value, and every enrichment value. Their values are partly interpreted; this
is how auditsql's value is mapped onto theirs (``_expected_of``):

* plain strings: auditsql's typed value as text (ints in decimal); auditsql's text is laurel-escaped
  (``%xx``), so it is unescaped and read as UTF-8 first; hex-encoded fields (exe, name, cwd, proctitle,
  comm, data, ...) are decoded by both; a PROCTITLE's NUL separators read as spaces (their rendering);
* ``null``: auditsql's ``null`` (``(null)``, ``?``), ``(none)`` (auditsql keeps the word), and for uid fields
  4294967295 (they write unset as null, auditsql keeps the number);
* uid/gid fields: their numbers are auditsql's numbers; their ``"root"`` is uid 0 (hard-coded by them, no
  passwd involved);
* ``arch``: auditsql's arch name; ``success``: ``yes``/``no`` as a boolean; ``exit``: the number;
* ``errno``: auditsql's errno name of the number; ``sig``: the signal name (Python's ``signal`` module);
* ``subj``/``obj`` split into SELinux ``user:role:type:level`` (sensitivity and category): auditsql keeps the
  context as one string, split here; AppArmor/unconfined subjects stay strings in both;
* ``mode``: file type and permission words of auditsql's octal number (decoded here, table below);
* capability sets (``cap_fi``, ``cap_fp``, ``new_pe``, ...): capability names of auditsql's hex number
  (``<linux/capability.h>`` names, below); ``perm``/``perm_mask``: AVC permission bits (exec/write/read/attr);
* ``saddr``: auditsql's decoded sockaddr (family, ``address`` = ``ip:port`` or ``[ip6]:port``, path, netlink
  ids); an undecodable family stays the hex string in both;
* ``msg='...'``: nested dict against auditsql's nested dict, the same rules recursively; ``grantors`` is a list
  in theirs, auditsql's comma-separated text split;
* enrichment: auditsql's ENRICHED tail values (as text).

The field-key set: theirs against auditsql's keys, where auditsql's ``a0``-``a3`` of a SYSCALL (rendered as
``ARGV``) count as keys, and auditsql-only keys holding free text (``_text``, AVC ``denied``) and the derived
``ARCH``/``SYSCALL`` names are left out.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass

from auditsql import _core
from auditsql._core import arch_of, errno_name, unescape
from tests.conformance.common import CORPUS, Result
from tests.core import Record, as_text, detect_of, get, parse_text, sockaddr_of, text

__all__ = ["run", "snapshots", "compare_snapshot", "rejected", "Snapshot", "SNAPSHOTS"]

SNAPSHOTS = CORPUS / "jorgehermo9_auditd-parser" / "snapshots"

#: <linux/capability.h> CAP_* numbers 0-40, names without the prefix (their list spelling)
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]
_CAP_KEYS = frozenset(
    ("cap_fi", "cap_fp", "cap_pi", "cap_pp", "cap_pe", "cap_pa", "fi", "fp")
    + tuple(f"{a}_{b}" for a in ("old", "new") for b in ("pi", "pp", "pe", "pa"))
)
#: AVC permission bits (MAY_EXEC, MAY_WRITE, MAY_READ, MAY_APPEND → "attr" as libauparse's print_perm words)
_PERM_BITS = ((1, "exec"), (2, "write"), (4, "read"), (8, "attr"))
_FILE_TYPES = {
    0o140000: "socket",
    0o120000: "symbolic-link",
    0o100000: "regular-file",
    0o060000: "block-device",
    0o040000: "directory",
    0o020000: "character-device",
    0o010000: "fifo",
}
_ATTRS = ((0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky"))
_RWX = ((4, "read"), (2, "write"), (1, "exec"))

#: audit filter lists (``list=`` of CONFIG_CHANGE): AUDIT_FILTER_* numbers, their names
_FILTER_LISTS = {
    "0": "user",
    "1": "task",
    "2": "entry",
    "4": "exit",
    "5": "exclude",
    "6": "fs",
    "7": "io_uring",
}

_MISSING = object()


@dataclass
class Snapshot:
    name: str
    description: str
    info: str
    body: dict


def snapshots() -> Iterator[Snapshot]:
    """Every snapshot, in file-name order."""
    for p in sorted(SNAPSHOTS.glob("*.snap")):
        text = p.read_text()
        _, front, body = text.split("---\n", 2)
        meta: dict[str, str] = {}
        for line in front.splitlines():
            k, _, v = line.partition(": ")
            meta[k] = v
        info = json.loads(meta["info"])
        yield Snapshot(
            p.name, json.loads(meta["description"]).rsplit("/tests/data/", 1)[-1], info, json.loads(body)
        )


# -- value mapping ---------------------------------------------------------------------------------------------


def _text(v: object) -> object:
    """auditsql text (laurel %xx escaping) → the decoded string they would print."""
    if isinstance(v, str):
        return unescape(v).decode("utf-8", "replace")
    return v


def _selinux(ctx: str) -> dict[str, object] | str:
    parts = ctx.split(":")
    if len(parts) < 4:
        return ctx
    user, role, typ = parts[:3]
    level: dict[str, str] = {"sensitivity": parts[3]}
    if len(parts) > 4:
        level["category"] = ":".join(parts[4:])
    return {"level": level, "module": "SELinux", "role": role, "type": typ, "user": user}


def _mode(v: object) -> object:
    if not isinstance(v, str) or not v.startswith("0o"):
        return v
    n = int(v[2:], 8)
    out: dict[str, object] = {"attributes": [name for bit, name in _ATTRS if n & bit]}
    ft = _FILE_TYPES.get(n & 0o170000)
    if ft is not None:
        out["file_type"] = ft
    for who, shift in (("user", 6), ("group", 3), ("other", 0)):
        out[who] = [name for bit, name in _RWX if (n >> shift) & bit]
    return out


def _caps(v: object) -> object:
    if not isinstance(v, str):
        return v
    try:
        n = int(v, 16)
    except ValueError:
        return v
    return [name for i, name in enumerate(CAPABILITIES) if n >> i & 1]


def _perm(v: object) -> object:
    try:
        n = int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return v
    return [name for bit, name in _PERM_BITS if n & bit]


def _hexnum(theirs: str, ours: str) -> str:
    """auditsql normalises hex numbers to ``0x…``; theirs is the text as written: equal when the numbers are."""
    try:
        return theirs if int(theirs, 16) == int(ours, 16) else ours
    except ValueError:
        return ours


def _saddr(token: bytes | None, arch: int | None) -> object:
    sa = sockaddr_of(token, arch)
    if sa is None or "error" in sa:
        return text(token)
    fam = sa.get("family")
    if fam == "inet":
        return {"address": f"{sa['addr']}:{sa['port']}", "family": "AF_INET"}
    if fam == "inet6":
        return {"address": f"[{sa['addr']}]:{sa['port']}", "family": "AF_INET6"}
    if fam == "unix":
        return {"family": "AF_UNIX", "path": _text(sa.get("path"))}
    if fam == "netlink":
        return {"family": "AF_NETLINK", "multicast_groups_mask": sa["groups"], "port_id": sa["pid"]}
    return token


def _is_id(key: str) -> bool:
    return key in ("id", "new_gid", "new_uid", "sauid") or key.endswith(("uid", "gid"))


def expected_of(key: str, theirs: object, ours: object, rec: Record, nested: bool = False) -> object:
    """auditsql's value for ``key`` in their representation (compared with ``==`` to theirs)."""
    if ours is _MISSING:
        return "<missing>"
    if key == "arch" and not nested:
        return arch_of(get(rec, b"arch"))[1]
    if key == "success" and isinstance(ours, str) and isinstance(theirs, bool):
        return {"yes": True, "no": False}.get(ours, ours)
    if key in ("subj", "obj") and isinstance(ours, str):
        return _selinux(ours) if isinstance(theirs, dict) else _text(ours)
    if key == "mode":
        return _mode(ours)
    if key in _CAP_KEYS:
        return _caps(ours)
    if key in ("perm", "perm_mask"):
        return _perm(ours)
    if key == "sig" and isinstance(ours, int):
        try:
            return signal.Signals(ours).name
        except ValueError:
            return str(ours)
    if key == "errno" and isinstance(ours, int):
        return errno_name(ours) or str(ours)
    if key == "saddr":
        return _saddr(get(rec, b"saddr"), arch_of(get(rec, b"arch"))[0])
    if key == "grantors" and isinstance(ours, str) and isinstance(theirs, list):
        return ours.split(",")
    if key == "proctitle" and isinstance(ours, str):
        return str(_text(ours)).replace("\0", " ")
    if key == "res" and not nested and isinstance(ours, int) and theirs in ("success", "failed"):
        return {1: "success", 0: "failed"}.get(ours, str(ours))  # LOGIN/CONFIG_CHANGE `res=1`
    if key == "list" and not nested and isinstance(theirs, str):
        return _FILTER_LISTS.get(str(ours), str(ours))
    if key == "msg" and isinstance(theirs, str) and isinstance(ours, dict):
        # their payload parser gave up (free text, empty value): they keep the payload text
        tok = text(get(rec, b"msg")) or ""
        return _text(tok[1:-1] if tok[:1] == "'" else tok)
    if isinstance(theirs, str) and isinstance(ours, str) and ours.startswith("0x"):
        return _hexnum(theirs, ours)
    if theirs is None:
        if ours is None or ours == "(none)":
            return None
        if _is_id(key) and ours == 4294967295:
            return None
        return ours
    if _is_id(key) and isinstance(ours, str) and ours.isdigit():
        ours = int(ours)  # `id=` of user-space payloads: auditsql keeps laurel's typing (text)
    if _is_id(key) and isinstance(ours, int):
        if theirs == "root" and ours == 0:
            return "root"
        if isinstance(theirs, int):
            return ours
    if key == "exit" and isinstance(theirs, int):
        return ours
    if isinstance(theirs, str):
        if isinstance(ours, int):
            return str(ours)
        if isinstance(ours, str):
            return _text(ours)
    return ours


# -- comparison ------------------------------------------------------------------------------------------------

#: auditsql-only keys that are not fields of the record: free-text words and the derived names
_DERIVED = frozenset(("_text", "ARCH", "SYSCALL", "ARGV"))


def _ours_section(rec: Record) -> dict[str, object]:
    """The record's section as auditsql renders it (a one-record event), with the argument lists spread back
    into their fields: SYSCALL ``ARGV[i]`` → ``a<i>`` (``0x…``), EXECVE ``ARGV[i]`` → ``a<i>`` (decoded),
    PROCTITLE ``ARGV`` → ``proctitle`` (the NUL-separated arguments)."""
    fmt = "enriched" if detect_of(rec) else "raw"
    evs = _core.render_lines(rec["text"] + b"\n", resolve_ids=False, format=fmt)
    d = evs[0] if len(evs) == 1 else {}
    sec = d.get(rec["name"])
    if isinstance(sec, list):
        sec = sec[0]
    out = dict(sec) if isinstance(sec, dict) else {}
    argv = out.pop("ARGV", None) if rec["type"] in (1300, 1309, 1327) else None
    if isinstance(argv, list):
        if rec["type"] == 1327:
            out["proctitle"] = "%00".join(argv)
        else:
            for i, a in enumerate(argv):
                out[f"a{i}"] = a
    return out


def _our_keys(sec: dict[str, object]) -> list[str]:
    """auditsql's field keys: free text (``_text``, AVC ``denied``/``granted`` words), derived names and the
    ENRICHED (upper-case) keys are not fields."""
    return sorted(k for k in sec if k not in _DERIVED and k not in ("denied", "granted") and not k.isupper())


def _compare_fields(
    r: Result, where: str, theirs: dict, ours: dict, rec: Record, nested: bool = False
) -> None:
    r.check(f"{where} keys", sorted(theirs), _our_keys(ours))
    for k, tv in theirs.items():
        ov = ours.get(k, _MISSING)
        if k == "msg" and isinstance(tv, dict):
            if isinstance(ov, dict):
                _compare_fields(r, f"{where} msg", tv, ov, rec, nested=True)
            else:
                r.check(f"{where} msg", tv, ov if ov is not _MISSING else "<missing>")
            continue
        r.check(f"{where} {k}", tv, expected_of(k, tv, ov, rec, nested))


def compare_snapshot(snap: Snapshot, r: Result) -> None:
    """Compare one parsed snapshot (not an ``Err`` one) with auditsql's parse of its ``info`` line."""
    gold = snap.body
    recs = parse_text(snap.info)
    where = f"{snap.description} [{snap.name[26:-5]}]"
    r.check(f"{where} records", 1, len(recs))
    rec = recs[0]
    r.check(f"{where} parse error", None, rec["error"])
    r.check(f"{where} record_type", gold["record_type"], rec["name"])
    r.check(f"{where} timestamp", gold["timestamp"], rec["sec"] * 1000 + rec["msec"])
    r.check(f"{where} id", gold["id"], rec["serial"])
    r.check(f"{where} node", gold.get("node"), text(rec["node"]))
    _compare_fields(r, where, gold["fields"], _ours_section(rec), rec)
    ours_enrich = {text(k): _text(as_text(tok)) for k, tok in rec["enrich"]}
    theirs = gold.get("enrichment", {})
    r.check(f"{where} enrichment keys", sorted(theirs), sorted(ours_enrich))
    for k, tv in theirs.items():
        r.check(f"{where} enrichment {k}", tv, ours_enrich.get(k, "<missing>"))


def run() -> Result:
    """All 176 parsed snapshots."""
    r = Result("auditd-parser snapshots")
    for snap in snapshots():
        if "Err" not in snap.body:
            compare_snapshot(snap, r)
    return r


def rejected() -> dict[str, object]:
    """What auditsql does with the lines auditd-parser rejects (``Err`` snapshots): counts and per-line outcome."""
    lines: list[tuple[str, str]] = []
    for snap in snapshots():
        if "Err" not in snap.body:
            continue
        recs = parse_text(snap.info)
        if len(recs) == 1 and recs[0]["error"] is None:
            outcome = "parsed"
        elif any(rec["error"] for rec in recs):
            outcome = "error record"
        else:
            outcome = f"{len(recs)} records"
        lines.append((snap.description, outcome))
    counts: dict[str, int] = {}
    for _, o in lines:
        counts[o] = counts.get(o, 0) + 1
    return {"lines": len(lines), "outcomes": counts, "per_line": lines}


if __name__ == "__main__":
    res = run()
    print(f"{res.source}: {res.matched}/{res.compared}")
    for m in res.mismatches:
        print("   ", m[:400])
    rj = rejected()
    print("rejected:", rj["lines"], rj["outcomes"])
    for d, o in rj["per_line"]:
        if o != "parsed":
            print("   ", d, o)

"""Conformance with Auditbeat's auditd module (go-libaudit reassembler + aucoalesce + ECS), per event.

Goldens: ``elastic_beats/auditbeat-auditd/X.log-expected.json`` (a JSON array of events); each event's
``event.original`` lists the raw records that formed it, so event grouping is checked exactly. Auditbeat ran
with ``resolve_ids: true`` and hard-coded users (vagrant=1000, alice=1001, oldbob=1002, charlie=1003,
testuser=1004, bob=9999): names are not compared, ids are.

Input: the lines of ``X.log``, plus, appended in golden order, every ``event.original`` line the stored log
lacks (``auditlogin.log`` is an older version than its golden: 2 lines for 3 events, see SOURCE.md). auditsql
reads them (``auditsql._core.render_lines``, ids not resolved), and each golden event is matched with the auditsql
event holding its first original record.

Compared (golden key ↔ auditsql value; a key is compared only where the golden has it):

* grouping: the number of events, and per event the exact ordered list of raw records (``event.original`` ↔
  auditsql's ``raw``);
* ``auditd.sequence`` ↔ serial; ``auditd.message_type`` ↔ the first record's type, lower case;
  ``auditd.session`` ↔ ``ses`` (``""`` when the record has none); ``auditd.result`` / ``event.outcome`` ↔
  ``summary.success`` (true → success, false → fail/failure, absent → unknown);
* ``auditd.data.*``: SYSCALL ``arch``/``syscall`` names, ``exit``, ``tty``, ``a0``-``a3`` (auditsql's ``ARGV`` hex
  without the ``0x``); user-space payload fields (``op``, ``acct``, ``id``, ``hostname``, ``addr``, ``terminal``,
  ``grantors``); LOGIN ``old-ses``, and the pre-3.x ``old ses``/``new ses`` (their ``old_ses``/``new_ses``, auditsql's
  ``old-ses``/``new-ses``);
* ``auditd.paths[i].*`` ↔ PATH record i: every field (``mode`` ``0100664`` ↔ auditsql's ``0o100664``; hex numbers
  by value; ``obj_user/role/domain/level`` ↔ the ``obj`` SELinux context split);
* ``process.pid/ppid/executable/name/args/title/working_directory`` ↔ summary ``pid``/``ppid``/``exe``/``comm``/
  ``argv``/PROCTITLE argv joined by spaces/``cwd``;
* SYSCALL events: ``user.id/effective/saved/filesystem`` and their ``group`` ids ↔ ``uid euid suid fsuid gid
  egid sgid fsgid``; every event: ``user.audit.id`` ↔ ``auid``; LOGIN ``user.old-auid.id`` ↔ ``old-auid``,
  ``user.old_auid.id``/``user.new_auid.id`` (pre-3.x) ↔ ``old-auid``/``new-auid``; ``user.target.id`` ↔ the
  payload's ``id``; ``user.selinux.*`` ↔ ``subj`` split;
* ``file.path/inode/uid/gid/mode`` ↔ the last non-PARENT PATH (``mode`` as 4 octal permission digits);
  ``file.selinux.*`` ↔ its ``obj`` split;
* ``source.ip`` ↔ the payload's ``addr``; ``tags`` ↔ the ``key`` values (split at 0x01).

Not compared (go-libaudit/ECS derivations auditsql does not make, or host-dependent): every ``*.name`` and
``related.user`` (resolved names), ``auditd.summary.*`` (actor/object/how inference), ``event.action``,
``event.category``, ``event.type``, ``event.kind``, ``network.direction``, ``service.type``, ``file.owner``/
``file.group`` names, ``file.device`` (go-libaudit copies the PATH's ``rdev`` there), ``group.target.id`` and, for
non-SYSCALL events, ``user.id``/``user.effective.*`` (go-libaudit infers them from the login uid and the
payload's ``acct`` name resolved against its hard-coded users). :func:`not_compared` counts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from auditsql import _core
from auditsql._core import unescape
from tests.conformance.common import CORPUS, Result
from tests.core import Ev, event_records, text

__all__ = ["run", "compare_file", "GOLDENS", "AUDITBEAT", "not_compared", "input_lines"]

AUDITBEAT = CORPUS / "elastic_beats" / "auditbeat-auditd"
#: log files that have a golden
GOLDENS = tuple(sorted(p.name[: -len("-expected.json")] for p in AUDITBEAT.glob("*.log-expected.json")))

_SYSCALL_IDS = {
    "user.id": "uid",
    "user.effective.id": "euid",
    "user.saved.id": "suid",
    "user.filesystem.id": "fsuid",
    "user.group.id": "gid",
    "user.effective.group.id": "egid",
    "user.saved.group.id": "sgid",
    "user.filesystem.group.id": "fsgid",
}
_PAYLOAD = ("op", "acct", "id", "hostname", "addr", "terminal", "grantors", "exe")
_SKIPPED_PREFIXES = (
    "auditd.summary.",
    "event.action",
    "event.category",
    "event.type",
    "event.kind",
    "network.direction",
    "service.type",
    "related.user",
    "file.owner",
    "file.group",
    "file.device",
    "group.target.",
)

_MISSING = "<missing>"


def _flat(d: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def input_lines(name: str) -> list[str]:
    """The lines fed to auditsql: the log, then golden originals the stored log lacks."""
    lines = [ln for ln in (AUDITBEAT / name).read_text().splitlines() if ln.strip()]
    have = set(lines)
    for ev in json.loads((AUDITBEAT / f"{name}-expected.json").read_text()):
        for ln in ev["event"]["original"]:
            if ln not in have:
                lines.append(ln)
                have.add(ln)
    return lines


def _events(lines: list[str]) -> list[tuple[Ev, dict]]:
    """The lines read by auditsql (enrichment detected, ids not resolved): each event with its JSON."""
    data = b"".join(ln.encode("utf-8", "surrogateescape") + b"\n" for ln in lines)
    evs = _core.render_lines(data, resolve_ids=False, format="enriched")
    return [(Ev(d, event_records(d)), d) for d in evs]


def _text(v: object) -> object:
    if isinstance(v, str):
        return unescape(v).decode("utf-8", "replace")
    if v is None:
        return None
    return str(v)


def _selinux(ctx: object, names: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(ctx, str):
        return {}
    parts = ctx.split(":")
    if len(parts) < 4:
        return {}
    out = dict(zip(names[:4], parts[:4], strict=True))
    if len(parts) > 4:
        out[names[4]] = ":".join(parts[4:])
    return out


def _section(d: dict, name: str) -> dict:
    v = d.get(name)
    if isinstance(v, list):
        v = v[0] if v else {}
    return v if isinstance(v, dict) else {}


def _hex(theirs: object, ours: object) -> object:
    """Hex numbers compared by value (auditsql writes ``0x…``, Auditbeat the text as logged)."""
    if isinstance(theirs, str) and isinstance(ours, str) and ours.startswith("0x"):
        try:
            return theirs if int(theirs, 16) == int(ours, 16) else ours[2:]
        except ValueError:
            return ours
    return ours


def _path_value(key: str, theirs: object, p: dict) -> object:
    if key.startswith("obj_"):
        return _selinux(
            p.get("obj"), ("obj_user", "obj_role", "obj_domain", "obj_level", "obj_category")
        ).get(key, _MISSING)
    v = p.get(key, _MISSING)
    if v is _MISSING:
        return v
    if key == "mode" and isinstance(v, str) and v.startswith("0o"):
        return "0" + v[2:]
    v = _hex(theirs, v)
    return _text(v)


def ours_for(key: str, theirs: object, ev: Ev, d: dict) -> object:
    """auditsql's value for one flattened golden key, or ``None`` when the key is not compared."""
    s = d["summary"]
    first = ev.records[0]
    is_syscall = first["type"] == 1300
    sc = _section(d, "SYSCALL")
    msg = _section(d, first["name"]).get("msg")
    msg = msg if isinstance(msg, dict) else {}
    top = _section(d, first["name"])
    if key == "auditd.sequence":
        return ev.serial
    if key == "auditd.message_type":
        return first["name"].lower()
    if key == "auditd.session":
        ses = s.get("ses", top.get("ses"))
        return "" if ses is None else str(ses)
    if key in ("auditd.result", "event.outcome"):
        succ = s.get("success")
        if succ is None:
            return "unknown"
        if key == "auditd.result":
            return "success" if succ else "fail"
        return "success" if succ else "failure"
    if key.startswith("auditd.data."):
        f = key[len("auditd.data.") :]
        if is_syscall:
            if f in ("a0", "a1", "a2", "a3"):
                argv = sc.get("ARGV") or []
                i = int(f[1])
                return _hex(theirs, argv[i]) if i < len(argv) else _MISSING
            if f in ("arch", "syscall"):
                return s.get(f, _MISSING)
            if f in ("exit", "tty"):
                return _text(sc.get(f, _MISSING))
        if f in _PAYLOAD:
            return _text(msg.get(f, _MISSING))
        if f in ("old_ses", "new_ses"):
            f = f.replace("_", "-")
        if f in ("old-ses", "new-ses", "tty"):
            return _text(top.get(f, _MISSING))
        return None
    if key == "auditd.paths":
        return None  # compared item by item in compare_file
    if key == "process.pid":
        return s.get("pid", _MISSING)
    if key == "process.ppid":
        return s.get("ppid", _MISSING)
    if key == "process.executable":
        return _text(s.get("exe", _MISSING))
    if key == "process.name":
        return _text(s.get("comm", _MISSING))
    if key == "process.args":
        return [_text(a) for a in s.get("argv", [])] or _MISSING
    if key == "process.title":
        pt = _section(d, "PROCTITLE").get("ARGV")
        return " ".join(str(_text(a)) for a in pt) if pt else _MISSING
    if key == "process.working_directory":
        return _text(s.get("cwd", _MISSING))
    if key == "user.audit.id":
        return _text(s.get("auid", top.get("auid", _MISSING)))
    if key in ("user.old-auid.id", "user.old_auid.id"):
        return _text(top.get("old-auid", _MISSING))
    if key == "user.new_auid.id":
        return _text(top.get("new-auid", _MISSING))
    if key == "user.target.id":
        # from the payload's `id=`; without one, go-libaudit resolves `acct=` (a name): not compared
        return _text(msg["id"]) if "id" in msg else None
    if key in _SYSCALL_IDS:
        return _text(sc.get(_SYSCALL_IDS[key], _MISSING)) if is_syscall else None
    if key.startswith("user.selinux."):
        subj = sc.get("subj") if is_syscall else top.get("subj")
        sel = _selinux(subj, ("user", "role", "domain", "level", "category"))
        return sel.get(key[len("user.selinux.") :], _MISSING)
    if key.startswith("file."):
        paths = [p for p in (d.get("PATH") or []) if p.get("nametype") != "PARENT"]
        if not paths:
            return _MISSING
        p = paths[-1]
        f = key[len("file.") :]
        if f == "path":
            return _text(p.get("name", _MISSING))
        if f in ("inode", "uid", "gid"):
            return _text(p.get({"uid": "ouid", "gid": "ogid"}.get(f, f), _MISSING))
        if f == "mode":
            m = p.get("mode")
            return f"{int(m[2:], 8) & 0o7777:04o}" if isinstance(m, str) and m.startswith("0o") else _MISSING
        if f.startswith("selinux."):
            sel = _selinux(p.get("obj"), ("user", "role", "domain", "level", "category"))
            return sel.get(f[len("selinux.") :], _MISSING)
        return None
    if key == "source.ip":
        return _text(msg.get("addr", _MISSING))
    if key == "tags":
        k = s.get("key")
        return unescape(k).decode("utf-8", "replace").split("\x01") if isinstance(k, str) else _MISSING
    return None


def _compared(key: str) -> bool:
    return (key == "process.name" or not key.endswith(".name")) and not key.startswith(_SKIPPED_PREFIXES)


def compare_file(name: str) -> Result:
    """Compare one ``X.log`` with its ``X.log-expected.json``."""
    r = Result(f"auditbeat:{name}")
    gold = json.loads((AUDITBEAT / f"{name}-expected.json").read_text())
    ours = _events(input_lines(name))
    r.check(f"{name} events", len(gold), len(ours))
    by_first = {text(ev.records[0]["text"]): (ev, d) for ev, d in ours}
    by_any = {text(rec["text"]): (ev, d) for ev, d in ours for rec in ev.records}
    for i, g in enumerate(gold):
        orig = g["event"]["original"]
        where = f"{name}#{i} ({g['auditd']['sequence']})"
        hit = by_first.get(orig[0]) or by_any.get(orig[0])
        if hit is None:
            r.check(f"{where} grouping", orig, _MISSING)
            continue
        ev, d = hit
        r.check(f"{where} grouping", orig, d["raw"])
        for key, tv in sorted(_flat(g)):
            if key == "event.original" or not _compared(key):
                continue
            if key == "auditd.paths":
                paths = d.get("PATH") or []
                r.check(f"{where} auditd.paths count", len(tv), len(paths))
                for j, (gp, op) in enumerate(zip(tv, paths, strict=False)):
                    for pk, pv in sorted(gp.items()):
                        r.check(f"{where} auditd.paths[{j}].{pk}", pv, _path_value(pk, pv, op))
                continue
            ov = ours_for(key, tv, ev, d)
            if ov is None:
                continue
            r.check(f"{where} {key}", tv, ov)
    return r


def not_compared() -> dict[str, int]:
    """Golden keys (flattened, per event) that are not compared, with how often they occur."""
    out: dict[str, int] = {}
    for name in GOLDENS:
        gold = json.loads((AUDITBEAT / f"{name}-expected.json").read_text())
        ours = {text(ev.records[0]["text"]): (ev, d) for ev, d in _events(input_lines(name))}
        for g in gold:
            hit = ours.get(g["event"]["original"][0])
            for key, tv in _flat(g):
                if key == "event.original" or key == "auditd.paths":
                    continue
                skip = not _compared(key) or hit is None or ours_for(key, tv, *hit) is None
                if skip:
                    out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def run() -> Result:
    """Every Auditbeat golden, summed."""
    total = Result("auditbeat auditd module")
    for name in GOLDENS:
        r = compare_file(name)
        total.compared += r.compared
        total.matched += r.matched
        total.mismatches.extend(r.mismatches)
    return total


if __name__ == "__main__":
    for n in GOLDENS:
        res = compare_file(n)
        print(f"{res.source}: {res.matched}/{res.compared}")
        for m in res.mismatches:
            print("   ", m[:300])
    print(not_compared())

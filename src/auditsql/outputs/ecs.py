"""A rendered event (docs/event-json.md) as an Elastic Common Schema document, shaped as Auditbeat's auditd module.

Auditbeat (go-libaudit's ``aucoalesce`` plus its ECS mapping) is what Elastic users already index; the field
names and value types here are the ones its golden files show (``elastic_beats/auditbeat-auditd/*.log-expected
.json`` in the corpus; ``tests/outputs/test_ecs.py`` compares against them):

- ``@timestamp``; ``event.kind`` ``"event"``, ``event.module`` ``"auditd"``, ``event.action`` (go-libaudit's
  verb: ``executed``, ``connected-to``, ``logged-in``...), ``event.category`` and ``event.type`` (lists, from
  go-libaudit's ``normalizations.yaml``), ``event.outcome`` (``success``/``failure``/``unknown``),
  ``event.original`` (the raw records);
- ``auditd.message_type`` (the first record's type, lower case), ``auditd.sequence`` (the serial),
  ``auditd.session``, ``auditd.result`` (``success``/``fail``/``unknown``), ``auditd.data`` (the SYSCALL's
  ``a0``..``a3`` in hex, ``arch`` and ``syscall`` names, ``exit``, ``tty``; a user-space message's payload fields;
  the socket address as ``socket_family``/``socket_addr``/``socket_port``/``socket_path``), ``auditd.paths`` (the
  PATH records, values as text, ``obj`` split into ``obj_user``/``obj_role``/``obj_domain``/``obj_level``);
- ``process.pid``, ``ppid`` and ``parent.pid``, ``executable``, ``name``, ``args``, ``title``,
  ``working_directory``;
- ``user.id`` / ``user.effective.id`` / ``user.saved.id`` / ``user.filesystem.id`` and their ``group.id`` (a
  SYSCALL's ``uid euid suid fsuid gid egid sgid fsgid``; for other events ``user.id`` is the login uid when set,
  else ``uid``), ``user.audit.id`` (``auid``), ``user.target.id`` (the payload's ``id``), ``*.name`` where the
  event has the name (ENRICHED logs, ``resolve_ids``), ``user.selinux.*`` (``subj`` split);
- ``file.path``, ``inode``, ``uid``, ``gid``, ``mode`` (4 octal digits), ``file.selinux.*``: the last PATH that
  is not a PARENT;
- ``source.ip``/``port`` and ``destination.ip``/``port`` from the socket address (``connect``/``sendto``/
  ``sendmsg``: destination, egress; ``accept``/``recvfrom``/``recvmsg``: source, ingress; ``bind``: source),
  or ``source.ip`` from a login's ``addr`` (``USER_LOGIN``, ``USER_START``, ``USER_ERR``; ingress);
- ``host.name``, ``tags`` (the rule keys), ``service.type`` ``"auditd"``, ``ecs.version``;
- what Elastic Security reads besides: ``group.id``/``group.name`` (a SYSCALL's ``gid``, as ``user.group``),
  ``host.id`` (:func:`machine_id`), and with the process tree (the event's ``summary.tree``, docs/event-json.md;
  left out without it) ``process.start``, ``process.entity_id`` (:func:`entity_id`), ``process.parent.pid``
  (user-space messages), ``start``, ``entity_id``, ``executable``, ``name``, ``args``, ``args_count``,
  ``command_line``, and ``container.id`` (docs/outputs.md).

Ids are text and pids numbers, as Auditbeat writes them. Escaped byte strings (``%xx``) are decoded to text
(invalid UTF-8 replaced); the exact bytes stay in ``event.original``. Not derived: ``auditd.summary``
(go-libaudit's actor/object inference) and ``related.user``.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import Sequence
from typing import Any

from auditsql._core import unescape

__all__ = ["ECS_VERSION", "entity_id", "machine_id", "to_ecs"]

#: the ECS release whose field definitions the documents follow (every field written is in it, ``process.ppid``
#: and the ``auditd.*`` fields excepted: Auditbeat's, kept for its users)
ECS_VERSION = "9.0.0"
#: where the host id is read (go-sysinfo's, which Auditbeat's ``host.id`` comes from)
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")

_FILE = ("file",)
_PROC = ("process",)
_NET = ("network",)
_AUTH = ("authentication",)
_IAM = ("iam",)
_HOST = ("host",)
_CONF = ("configuration",)

# syscall -> (action, category, type): go-libaudit's normalizations.yaml
_SYSCALLS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}


def _sc(names: str, action: str, category: tuple[str, ...], kind: tuple[str, ...]) -> None:
    for n in names.split():
        _SYSCALLS[n] = (action, category, kind)


_sc("creat", "opened-file", _FILE, ("creation",))
_sc("fallocate truncate ftruncate", "opened-file", _FILE, ("change",))
_sc("open openat openat2 readlink readlinkat", "opened-file", _FILE, ("info",))
_sc("read", "read-file", _FILE, ("info",))
_sc("write", "wrote-to-file", _FILE, ("change",))
_sc(
    "setxattr fsetxattr lsetxattr removexattr fremovexattr lremovexattr",
    "changed-file-attributes-of",
    _FILE,
    ("change",),
)
_sc("chmod fchmod fchmodat fchmodat2", "changed-file-permissions-of", _FILE, ("change",))
_sc("chown fchown fchownat lchown", "changed-file-ownership-of", _FILE, ("change",))
_sc("finit_module init_module", "loaded-kernel-module", ("driver",), ("start",))
_sc("delete_module", "unloaded-kernel-module", ("driver",), ("end",))
_sc("mkdir mkdirat", "created-directory", _FILE, ("creation",))
_sc("mount", "mounted", _FILE, ("creation",))
_sc("rename renameat renameat2", "renamed", _FILE, ("change",))
_sc(
    "access faccessat faccessat2 fstatat newfstatat stat stat64 fstat lstat getxattr lgetxattr fgetxattr",
    "checked-metadata-of",
    _FILE,
    ("info",),
)
_sc("statfs fstatfs", "checked-filesystem-metadata-of", _FILE, ("info",))
_sc("symlink symlinkat", "symlinked", _FILE, ("creation",))
_sc("umount umount2", "unmounted", _FILE, ("deletion",))
_sc("rmdir unlink unlinkat", "deleted", _FILE, ("deletion",))
_sc("utime utimes futimesat futimens utimensat", "changed-timestamp-of", _FILE, ("info",))
_sc("execve execveat", "executed", _PROC, ("start",))
_sc("listen", "listen-for-connections", _NET, ("start",))
_sc("accept accept4", "accepted-connection-from", _NET, ("connection", "start"))
_sc("bind", "bound-socket", _NET, ("start",))
_sc("connect", "connected-to", _NET, ("connection", "start"))
_sc("recv recvfrom recvmsg recvmmsg", "received-from", _NET, ("connection", "info"))
_sc("send sendto sendmsg sendmmsg", "sent-to", _NET, ("connection", "info"))
_sc("kill tkill tgkill", "killed-pid", _PROC, ("end",))
_sc(
    "setuid seteuid setfsuid setreuid setgid setegid setfsgid setregid setresuid setresgid",
    "changed-identity-of",
    _PROC,
    ("change",),
)
_sc("settimeofday clock_settime stime adjtimex", "changed-system-time", _HOST, ("change",))
_sc("mknod mknodat", "make-device", _FILE, ("creation",))
_sc("sethostname setdomainname", "changed-system-name", _HOST, ("change",))
_sc("mmap mmap2 brk", "allocated-memory", _PROC, ("info",))
_sc("sched_setparam sched_setscheduler sched_setattr", "adjusted-scheduling-policy-of", _PROC, ("change",))

# record type -> (action, category, type); Auditbeat's goldens where they differ from the YAML (USER_START)
_TYPES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "ADD_GROUP": ("added-group-account-to", _IAM, ("group", "creation")),
    "ADD_USER": ("added-user-account", _IAM, ("user", "creation")),
    "DEL_GROUP": ("deleted-group-account-from", _IAM, ("group", "deletion")),
    "DEL_USER": ("deleted-user-account", _IAM, ("user", "deletion")),
    "GRP_MGMT": ("modified-group-account", _IAM, ("group", "change")),
    "USER_MGMT": ("modified-user-account", _IAM, ("user", "change")),
    "USER_CHAUTHTOK": ("changed-password", _IAM, ("user", "change")),
    "GRP_CHAUTHTOK": ("changed-group-password", _IAM, ("group", "change")),
    "ROLE_ASSIGN": ("assigned-user-role-to", _IAM, ("user", "change")),
    "ROLE_REMOVE": ("removed-user-role-from", _IAM, ("user", "change")),
    "CRED_ACQ": ("acquired-credentials", _AUTH, ("info",)),
    "CRED_DISP": ("disposed-credentials", _AUTH, ("info",)),
    "CRED_REFR": ("refreshed-credentials", _AUTH, ("info",)),
    "GRP_AUTH": ("authenticated-to-group", _AUTH, ("info",)),
    "LOGIN": ("changed-login-id-to", _AUTH, ("start",)),
    "USER_ACCT": ("was-authorized", _AUTH, ("info",)),
    "USER_AUTH": ("authenticated", _AUTH, ("info",)),
    "USER_END": ("ended-session", ("session",), ("end",)),
    "USER_ERR": ("error", _AUTH, ("info",)),
    "USER_LOGIN": ("logged-in", _AUTH, ("start",)),
    "USER_LOGOUT": ("logged-out", _AUTH, ("end",)),
    "USER_START": ("started-session", ("session",), ("start",)),
    "USER_ROLE_CHANGE": ("changed-role-to", _IAM, ("change",)),
    "USER_CMD": ("ran-command", _PROC, ("start",)),
    "CHGRP_ID": ("changed-group", _PROC, ("change",)),
    "CHUSER_ID": ("changed-user-id", _PROC, ("change",)),
    "SYSTEM_BOOT": ("booted-system", _HOST, ("start",)),
    "SYSTEM_RUNLEVEL": ("changed-to-runlevel", _HOST, ("change",)),
    "SYSTEM_SHUTDOWN": ("shutdown-system", _HOST, ("end",)),
    "SERVICE_START": ("started-service", _PROC, ("start",)),
    "SERVICE_STOP": ("stopped-service", _PROC, ("stop",)),
    "CONFIG_CHANGE": ("changed-audit-configuration", ("process", "configuration"), ("change",)),
    "DAEMON_START": ("started-audit", _PROC, ("start",)),
    "DAEMON_END": ("shutdown-audit", _PROC, ("stop",)),
    "DAEMON_ABORT": ("aborted-auditd-startup", _PROC, ("stop",)),
    "DAEMON_CONFIG": ("changed-auditd-configuration", ("process", "configuration"), ("change",)),
    "DAEMON_ROTATE": ("rotated-audit-logs", _PROC, ("change",)),
    "USYS_CONFIG": ("changed-configuration", _CONF, ("change",)),
    "NETFILTER_CFG": ("loaded-firewall-rule-to", _CONF, ("change",)),
    "MAC_POLICY_LOAD": ("loaded-selinux-policy", _CONF, ("access",)),
    "MAC_STATUS": ("changed-selinux-enforcement", _CONF, ("change",)),
    "MAC_CONFIG_CHANGE": ("changed-selinux-boolean", _CONF, ("change",)),
    "KERN_MODULE": ("loaded-kernel-module", ("driver",), ("start",)),
    "TTY": ("typed", (), ()),
    "USER_TTY": ("typed", (), ()),
    "AVC": ("violated-selinux-policy", (), ()),
    "USER_AVC": ("access-permission", (), ()),
    "SECCOMP": ("violated-seccomp-policy", (), ()),
    "ANOM_ABEND": ("crashed-program", _PROC, ("end",)),
    "ANOM_PROMISCUOUS": ("changed-promiscuous-mode-on-device", (), ()),
}

_OUT = {"connect", "sendto", "sendmsg", "sendmmsg", "send"}
_IN = {"accept", "accept4", "recvfrom", "recvmsg", "recvmmsg", "recv"}
_LOGIN_ADDR = {"USER_LOGIN", "USER_START", "USER_ERR"}
_UNSET = 4294967295
_FAMILIES = {"inet": "ipv4", "inet6": "ipv6", "unix": "unix", "netlink": "netlink"}
_IDS = (
    ("uid", ("id",)),
    ("euid", ("effective", "id")),
    ("suid", ("saved", "id")),
    ("fsuid", ("filesystem", "id")),
    ("gid", ("group", "id")),
    ("egid", ("effective", "group", "id")),
    ("sgid", ("saved", "group", "id")),
    ("fsgid", ("filesystem", "group", "id")),
)
# payload keys that are mapped elsewhere, not copied to auditd.data
_PAYLOAD_SKIP = {"res", "exe", "pid", "uid", "auid", "ses", "subj", "msg", "_text"}
# SYSCALL keys mapped elsewhere
_SYSCALL_SKIP = {
    "arch", "syscall", "success", "ARGV", "ARCH", "SYSCALL", "pid", "ppid", "auid", "uid", "gid", "euid",
    "suid", "fsuid", "egid", "sgid", "fsgid", "ses", "comm", "exe", "subj", "key", "exit",
}  # fmt: skip


def _text(v: object) -> str:
    """A rendered value as ECS text: escaped byte strings decoded, numbers in decimal, hex without ``0x``."""
    if isinstance(v, str):
        if v.startswith("0x") and len(v) > 2:
            return v[2:]
        if v.startswith("0o") and len(v) > 2:
            return "0" + v[2:]
        return unescape(v).decode("utf-8", "replace") if "%" in v else v
    if v is None:
        return ""
    return str(v)


def _str(v: object) -> str:
    if isinstance(v, str):
        return unescape(v).decode("utf-8", "replace") if "%" in v else v
    return str(v)


def _put(d: dict, path: tuple[str, ...], value: object) -> None:
    for k in path[:-1]:
        d = d.setdefault(k, {})
    d[path[-1]] = value


def _first(d: dict, name: str) -> dict:
    v = d.get(name)
    if isinstance(v, list):
        v = v[0] if v else None
    return v if isinstance(v, dict) else {}


def _selinux(ctx: object) -> dict[str, str]:
    if not isinstance(ctx, str):
        return {}
    parts = ctx.split(":")
    if len(parts) < 4:
        return {}
    out = dict(zip(("user", "role", "domain", "level"), parts[:4], strict=True))
    if len(parts) > 4:
        out["category"] = ":".join(parts[4:])
    return out


def machine_id(paths: Sequence[str] = MACHINE_ID_FILES) -> str | None:
    """This host's id for ``host.id``: the first non-empty line of ``/etc/machine-id`` (else D-Bus's copy), as
    Auditbeat reports it; None when neither can be read."""
    for path in paths:
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    return None


def entity_id(host_key: str, pid: int, start: float) -> str | None:
    """``process.entity_id``: the hex SHA-256 of ``host_key`` (UTF-8), then ``pid`` and the start time in
    nanoseconds since the epoch, rounded to the millisecond, each a little-endian signed 64-bit integer.

    Auditbeat's recipe (``x-pack/auditbeat/module/system/process``: SHA-256 of the host id, the pid and the start
    time as little-endian int64, hex), with the whole start time where Auditbeat hashes only its nanoseconds within
    the second. None for a pid or time beyond 64 bits."""
    try:
        tail = struct.pack("<qq", pid, round(start * 1000) * 1_000_000)
    except (struct.error, OverflowError, ValueError):
        return None
    return hashlib.sha256(host_key.encode("utf-8", "surrogateescape") + tail).hexdigest()


def _iso_ms(t: float) -> str | None:
    """UNIX seconds as ISO 8601 UTC with milliseconds; None for a time ``gmtime`` cannot give."""
    ms = round(t * 1000)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    except (OverflowError, OSError, ValueError):
        return None


def _identify(to: dict, key: str | None, pid: int, start: float) -> None:
    """``entity_id`` and ``start`` of the process ``pid`` started at ``start``, into ``to``: each when it can be
    computed (a pid or a time beyond 64 bits has no id, a time beyond ``gmtime`` no ``start``)."""
    eid = entity_id(key, pid, start) if key else None
    if eid is not None:
        to["entity_id"] = eid
    iso = _iso_ms(start)
    if iso is not None:
        to["start"] = iso


def _start(v: object) -> float | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _tree_fields(out: dict, proc: dict, tree: dict, pid: object, key: str | None) -> None:
    """``summary.tree`` (what the process tree knew of the event's process) as ECS fields, into ``proc``
    (``process``) and ``out``; ``key``: the host part of the entity ids."""
    start, pstart, ppid = _start(tree.get("start")), _start(tree.get("parent_start")), tree.get("parent")
    if not isinstance(ppid, int) or isinstance(ppid, bool):
        ppid = None
    if start is not None and isinstance(pid, int):
        _identify(proc, key, pid, start)
    if isinstance(tree.get("container_id"), str):
        out["container"] = {"id": tree["container_id"]}
    if ppid is None or ppid != proc.get("parent", {}).get("pid", ppid):
        return  # the parent facts are of the event's ppid (the pipeline's); anything else is not this parent
    parent: dict[str, Any] = {}
    if "parent" not in proc:  # a user-space message: no ppid of its own
        parent["pid"] = ppid
    if pstart is not None:
        _identify(parent, key, ppid, pstart)
    pexe = tree.get("parent_exe")
    if isinstance(pexe, str):
        parent["executable"] = pexe
        parent["name"] = pexe.rsplit("/", 1)[-1]
    pargs = tree.get("parent_argv")
    if isinstance(pargs, list) and all(isinstance(a, str) for a in pargs):
        parent["args"] = pargs
        parent["args_count"] = len(pargs)
        parent["command_line"] = " ".join(pargs)
    elif isinstance(tree.get("parent_cmdline"), str):
        parent["command_line"] = tree["parent_cmdline"]
    if parent:
        proc.setdefault("parent", {}).update(parent)


def to_ecs(event: dict, host: str | None = None, *, host_id: str | None = None) -> dict[str, Any]:
    """The ECS document for one rendered event (``Renderer(raw=True)`` gives ``event.original``).

    ``host``: ``host.name``; ``host_id``: ``host.id`` (:func:`machine_id`) and the host part of the entity ids.
    The process tree's fields come from the event's ``summary.tree`` (docs/event-json.md; the pipeline adds it
    with the tree on): without it they are not written."""
    s: dict = event.get("summary") or {}
    etype = s.get("type") or ""
    is_syscall = etype == "SYSCALL"
    syscall = s.get("syscall") if is_syscall else None
    sc = _first(event, "SYSCALL")
    first_name = etype if etype else ""
    top = sc if is_syscall else _first(event, first_name)
    msg = top.get("msg") if isinstance(top.get("msg"), dict) else {}

    if is_syscall:
        action, category, kind = _SYSCALLS.get(str(syscall), ("", _PROC, ("info",)))
    else:
        action, category, kind = _TYPES.get(etype, ("", (), ()))
    succ = s.get("success")
    outcome = "unknown" if succ is None else ("success" if succ else "failure")
    if etype == "USER_LOGIN" and succ is not None:
        kind = (*kind, "authentication_success" if succ else "authentication_failure")

    ev: dict[str, Any] = {"kind": "event", "module": "auditd"}
    if action:
        ev["action"] = action
    if category:
        ev["category"] = list(category)
    if kind:
        ev["type"] = list(kind)
    ev["outcome"] = outcome
    raw = event.get("raw")
    if raw:
        ev["original"] = raw

    serial = 0
    eid = event.get("ID")
    if isinstance(eid, str) and ":" in eid:
        try:
            serial = int(eid.rsplit(":", 1)[1])
        except ValueError:
            serial = 0
    ses = s.get("ses", top.get("ses"))
    auditd: dict[str, Any] = {
        "message_type": etype.lower() if etype else "",
        "sequence": serial,
        "session": "" if ses is None else ("unset" if ses == _UNSET else str(ses)),
        "result": "unknown" if succ is None else ("success" if succ else "fail"),
    }
    data: dict[str, str] = {}
    if is_syscall:
        for i, a in enumerate(sc.get("ARGV") or ()):
            data[f"a{i}"] = _text(a)
        if s.get("arch") is not None:
            data["arch"] = str(s["arch"])
        if syscall is not None:
            data["syscall"] = str(syscall)
        if "exit" in sc:
            data["exit"] = str(s["errno"]) if s.get("errno") else _text(sc["exit"])
        for k, v in sc.items():
            if k not in _SYSCALL_SKIP and not isinstance(v, dict | list) and v is not None:
                data[k] = _text(v)
    else:
        for k, v in msg.items():
            if k not in _PAYLOAD_SKIP and v is not None and not isinstance(v, dict | list):
                data[k] = _text(v)
        for k, v in top.items():
            if k not in _PAYLOAD_SKIP and k not in data and not isinstance(v, dict | list) and v is not None:
                if k.isupper() or k in ("auid", "uid"):
                    continue
                data[k] = _text(v)
    out: dict[str, Any] = {"@timestamp": s.get("time"), "event": ev}

    # the socket address
    sa = s.get("sockaddr")
    net_dir = None
    if isinstance(sa, dict) and sa.get("family"):
        fam = sa["family"]
        data["socket_family"] = _FAMILIES.get(fam, str(fam))
        if "addr" in sa:
            data["socket_addr"] = str(sa["addr"])
        if "port" in sa:
            data["socket_port"] = str(sa["port"])
        if "path" in sa:
            data["socket_path"] = _str(sa["path"])
        if fam in ("inet", "inet6") and "addr" in sa:
            end = {"ip": sa["addr"]}
            if "port" in sa:
                end["port"] = sa["port"]
            if syscall in _OUT:
                out["destination"] = end
                net_dir = "egress"
            elif syscall in _IN:
                out["source"] = end
                net_dir = "ingress"
            elif syscall == "bind":
                out["source"] = end
    if etype in _LOGIN_ADDR and msg.get("addr"):
        out["source"] = {"ip": _str(msg["addr"])}
        data.pop("addr", None)
        net_dir = "ingress"
    if net_dir:
        out["network"] = {"direction": net_dir}
    auditd["data"] = data

    paths = event.get("PATH")
    if isinstance(paths, list) and paths:
        ap = []
        for p in paths:
            item: dict[str, str] = {}
            for k, v in p.items():
                if k == "obj":
                    for sk, sv in _selinux(v).items():
                        item[f"obj_{sk}"] = sv
                elif k == "nametype":
                    item["objtype"] = _text(v)
                elif not k.isupper() and not isinstance(v, dict | list):
                    item[k] = _text(v)
            ap.append(item)
        auditd["paths"] = ap
    out["auditd"] = auditd

    # process
    proc: dict[str, Any] = {}
    if "pid" in s:
        proc["pid"] = s["pid"]
    if "ppid" in s:
        proc["ppid"] = s["ppid"]
        proc["parent"] = {"pid": s["ppid"]}
    if s.get("exe") is not None:
        proc["executable"] = _str(s["exe"])
    if s.get("comm") is not None:
        proc["name"] = _str(s["comm"])
    if s.get("argv"):
        proc["args"] = [_str(a) for a in s["argv"]]
        proc["args_count"] = len(s["argv"])
    title = _first(event, "PROCTITLE").get("ARGV")
    if title:
        proc["title"] = " ".join(_str(a) for a in title)
    if s.get("cwd") is not None:
        proc["working_directory"] = _str(s["cwd"])
    node = event.get("NODE")
    tree = s.get("tree")
    if isinstance(tree, dict):
        _tree_fields(out, proc, tree, s.get("pid"), str(node) if node else (host_id or host))
    if proc:
        out["process"] = proc

    # user
    user: dict[str, Any] = {}
    names = s.get("names") if isinstance(s.get("names"), dict) else {}
    if is_syscall:
        for field, path in _IDS:
            if sc.get(field) is not None:
                _put(user, path, _str(sc[field]))
                if names.get(field):
                    _put(user, (*path[:-1], "name"), _str(names[field]))
        if sc.get("gid") is not None:  # ECS's group of the event: the process's (real) group
            out["group"] = {"id": _str(sc["gid"])}
            if names.get("gid"):
                out["group"]["name"] = _str(names["gid"])
    elif etype == "LOGIN":  # the login uid changes: old one -> user, new one -> user.effective
        old, new = top.get("old-auid"), top.get("new-auid", top.get("auid"))
        if old is not None and old != _UNSET:
            user["id"] = _str(old)
        if new is not None:
            _put(user, ("effective", "id"), _str(new))
        if "new-auid" in top:  # the pre-3.x form "old auid=... new auid=...", as Auditbeat names it
            for k in ("old-auid", "new-auid", "old-ses", "new-ses"):
                if top.get(k) is not None:
                    under = k.replace("-", "_")
                    if k.endswith("auid"):
                        _put(user, (under, "id"), _str(top[k]))
                    else:
                        data.pop(k, None)
                        data[under] = _str(top[k])
        elif old is not None:
            _put(user, ("old-auid", "id"), _str(old))
    else:
        auid, uid = s.get("auid", top.get("auid")), s.get("uid", top.get("uid"))
        who = auid if auid is not None and auid != _UNSET else uid
        if who is not None:
            user["id"] = _str(who)
            wname = names.get("auid" if who is auid else "uid")
            if wname:
                user["name"] = _str(wname)
        if uid is not None and uid != who:  # go-libaudit's uid.uid -> user.effective
            _put(user, ("effective", "id"), _str(uid))
    auid = s.get("auid", top.get("auid"))
    if auid is not None:
        _put(user, ("audit", "id"), _str(auid))
        if names.get("auid"):
            _put(user, ("audit", "name"), _str(names["auid"]))
    if msg.get("id") is not None:
        _put(user, ("target", "id"), _str(msg["id"]))
    sel = _selinux(sc.get("subj") if is_syscall else top.get("subj"))
    if sel:
        user["selinux"] = sel
    if user:
        out["user"] = user

    # file: the last PATH that is not a parent directory
    if isinstance(paths, list):
        items = [p for p in paths if p.get("nametype") != "PARENT"]
        if items:
            p = items[-1]
            f: dict[str, Any] = {}
            if p.get("name") is not None:
                f["path"] = _str(p["name"])
            if p.get("inode") is not None:
                f["inode"] = _str(p["inode"])
            if p.get("ouid") is not None:
                f["uid"] = _str(p["ouid"])
            if p.get("ogid") is not None:
                f["gid"] = _str(p["ogid"])
            m = p.get("mode")
            if isinstance(m, str) and m.startswith("0o"):
                try:
                    f["mode"] = f"{int(m[2:], 8) & 0o7777:04o}"
                except ValueError:
                    pass
            fsel = _selinux(p.get("obj"))
            if fsel:
                f["selinux"] = fsel
            if f:
                out["file"] = f

    key = s.get("key")
    if isinstance(key, str):
        out["tags"] = unescape(key).decode("utf-8", "replace").split("\x01")
    if host:
        out["host"] = {"name": host}
    if host_id and not node:
        out.setdefault("host", {})["id"] = host_id
    out["service"] = {"type": "auditd"}
    out["ecs"] = {"version": ECS_VERSION}
    return out

"""Leave the kernel as found: snapshot at start, record every change, undo exactly those changes.

A :class:`KernelSession` reads the audit status (enabled, failure, pid, rate_limit, backlog_limit,
backlog_wait_time) and the rule list when it begins, and writes them with every change it makes - knobs it
set (old and new value), rules it added (their ``audit_rule_data`` bytes), the daemon pid it registered - to
a state file (default ``/run/auditsql/snapshot.json``). The change is written down *before* it is made, so
a run killed at any point leaves a file that says what to undo.

:meth:`KernelSession.restore` (clean exit, SIGINT, SIGTERM) and :func:`restore_from_file` (``auditsql ctl
--restore`` after a crash, or the next ``listen`` start) undo only what auditsql changed, and only where
nobody changed it since: a knob is set back only if it still has the value auditsql gave it, an added
rule is deleted (already gone is fine), the daemon pid is set to 0 only if it is still auditsql's. Rules
and knobs that others changed meanwhile are left alone and reported.

A knob may be set "raise only" (:meth:`KernelSession.set`'s ``raise_only``; a rules file's ``-b``): the current
value is read first and a higher one (or 0, no limit) stays as it is - another consumer (auditd's ``-b 8192``)
set it for its own bursts, and a lower limit beside it would lose its records. The knobs left so are in
:attr:`KernelSession.kept`.

The state file belongs to one process (pid and start time): a second run finding the file of a live owner
refuses to touch it; finding the file of a dead owner (SIGKILL), it undoes that run's changes first.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from .netlink import AUDIT_ADD_RULE, AUDIT_DEL_RULE, AUDIT_LIST_RULES, AuditNetlinkError, AuditSocket
from .status import AuditStatus, get_status, set_status

__all__ = [
    "DEFAULT_STATE_FILE",
    "KNOBS",
    "KernelSession",
    "RestoreReport",
    "SnapshotInUse",
    "exclude_pid_rule",
    "list_rules",
    "process_alive",
    "process_name",
    "raises",
    "restore_from_file",
]

DEFAULT_STATE_FILE = "/run/auditsql/snapshot.json"
STATE_VERSION = 1

#: status fields a snapshot keeps; all but pid are restored with AUDIT_SET as they were
KNOBS = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time")
#: knobs a session may change (pid is registered by the unicast source and recorded separately)
SETTABLE = ("enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time")

# linux/audit.h
AUDIT_FILTER_EXIT = 0x04
AUDIT_FILTER_PREPEND = 0x10
AUDIT_NEVER = 0
AUDIT_PID = 0
AUDIT_EQUAL = 0x40000000
AUDIT_BITMASK_SIZE = 64
AUDIT_MAX_FIELDS = 64
_RULE_HEAD = struct.Struct("=3I")


def raises(current: int, wanted: int) -> bool:
    """Whether a limit of ``wanted`` is above ``current``, 0 being no limit (above every other value)."""
    return current != 0 and (wanted == 0 or wanted > current)


class SnapshotInUse(RuntimeError):
    """The state file belongs to a process that is still running."""


# -- processes ---------------------------------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) process in our pid namespace."""
    stat = _proc_stat(pid)
    if stat is None:
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"x")


def process_name(pid: int) -> str:
    """``/proc/PID/comm``, or ``?``."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip() or "?"
    except OSError:
        return "?"


def process_start(pid: int) -> int | None:
    """The process start time (clock ticks since boot, /proc/PID/stat field 22): tells a reused pid apart."""
    stat = _proc_stat(pid)
    if stat is None:
        return None
    rest = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def _proc_stat(pid: int) -> bytes | None:
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read()
    except OSError:
        return None


# -- rules -------------------------------------------------------------------------------------------------


def exclude_pid_rule(pid: int) -> bytes:
    """``audit_rule_data`` of ``-A never,exit -S all -F pid=PID`` (prepended), as auditctl 3.x encodes it.

    The kernel compares the pid field with the task's thread-group id, so every thread of the process is
    excluded. Delete it with :func:`del_rule_payload` of these bytes.
    """
    mask = struct.pack(f"={AUDIT_BITMASK_SIZE}I", *([0xFFFFFFFF] * AUDIT_BITMASK_SIZE))
    fields = [0] * AUDIT_MAX_FIELDS
    values = [0] * AUDIT_MAX_FIELDS
    flags = [0] * AUDIT_MAX_FIELDS
    fields[0], values[0], flags[0] = AUDIT_PID, pid, AUDIT_EQUAL
    return (
        _RULE_HEAD.pack(AUDIT_FILTER_EXIT | AUDIT_FILTER_PREPEND, AUDIT_NEVER, 1)
        + mask
        + struct.pack(f"={AUDIT_MAX_FIELDS}I", *fields)
        + struct.pack(f"={AUDIT_MAX_FIELDS}I", *values)
        + struct.pack(f"={AUDIT_MAX_FIELDS}I", *flags)
        + struct.pack("=I", 0)
    )


def del_rule_payload(add_payload: bytes) -> bytes:
    """The AUDIT_DEL_RULE payload for a rule added with ``add_payload``: the same, less the prepend flag."""
    (flags,) = struct.unpack_from("=I", add_payload)
    return struct.pack("=I", flags & ~AUDIT_FILTER_PREPEND) + add_payload[4:]


def list_rules(sock: AuditSocket) -> list[bytes]:
    """The kernel's rules as ``audit_rule_data`` payloads, in list order."""
    return [payload for rtype, payload in sock.request(AUDIT_LIST_RULES) if rtype == AUDIT_LIST_RULES]


# -- the session -------------------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    """What a restore did (``actions``), left alone on purpose (``notes``) and failed to do (``problems``)."""

    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _State:
    owner_pid: int
    owner_start: int | None
    taken_at: float
    status: dict[str, int]
    rules: list[str]
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    added_rules: list[str] = field(default_factory=list)
    registered_pid: int = 0
    #: the registered pid is a socket keeper's (auditsql.kernel.keeper): the journal directory it serves
    keeper_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "owner": {"pid": self.owner_pid, "start": self.owner_start},
            "taken_at": self.taken_at,
            "status": self.status,
            "rules": self.rules,
            "changes": self.changes,
            "added_rules": self.added_rules,
            "registered_pid": self.registered_pid,
            "keeper_dir": self.keeper_dir,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _State:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"unknown state file version {d.get('version')!r}")
        return cls(
            owner_pid=int(d["owner"]["pid"]),
            owner_start=d["owner"].get("start"),
            taken_at=float(d["taken_at"]),
            status={k: int(v) for k, v in d["status"].items()},
            rules=[str(r) for r in d["rules"]],
            changes={k: {"from": int(v["from"]), "to": int(v["to"])} for k, v in d["changes"].items()},
            added_rules=[str(r) for r in d["added_rules"]],
            registered_pid=int(d.get("registered_pid", 0)),
            keeper_dir=str(d.get("keeper_dir", "")),
        )

    def owner_alive(self) -> bool:
        if not process_alive(self.owner_pid):
            return False
        start = process_start(self.owner_pid)
        return self.owner_start is None or start == self.owner_start


def _read_state(path: str) -> _State | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable auditsql state file: {exc}") from exc
    try:
        return _State.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not an auditsql state file ({exc})") from exc


def _write_state(path: str, state: _State) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state.to_json(), fh, indent=1, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _status_dict(st: AuditStatus) -> dict[str, int]:
    return {name: int(getattr(st, name) or 0) for name in KNOBS}


class KernelSession:
    """Changes made to the kernel's audit configuration by this process, and how to undo them.

    ``sock`` is the control socket used for every request (a new one by default); ``state_file`` None
    keeps the record in memory only.
    """

    def __init__(self, sock: AuditSocket | None = None, state_file: str | None = DEFAULT_STATE_FILE) -> None:
        self._own_sock = sock is None
        self.sock = sock if sock is not None else AuditSocket()
        self.state_file = state_file
        self.state: _State | None = None
        #: what undoing a crashed run's state file did when this session began, if there was one
        self.recovered: RestoreReport | None = None
        #: raise-only knobs :meth:`set` left as they were, the current value higher: {name: current}
        self.kept: dict[str, int] = {}

    # -- begin -------------------------------------------------------------------------------------------

    def begin(self) -> _State:
        """Undo a dead owner's leftovers (if its state file is there), then snapshot status and rules.

        Raises :class:`SnapshotInUse` if the state file belongs to a live process.
        """
        if self.state_file is not None:
            old = _read_state(self.state_file)
            if old is not None:
                if old.owner_pid == os.getpid():
                    raise SnapshotInUse(f"{self.state_file}: this process already has a session")
                if old.owner_alive():
                    raise SnapshotInUse(
                        f"{self.state_file} belongs to a running auditsql "
                        f"(pid {old.owner_pid}, {process_name(old.owner_pid)}); "
                        "stop it or choose another --state-file"
                    )
                self.recovered = _undo(self.sock, old)
                if self.recovered.ok:
                    _remove(self.state_file)
        st = get_status(self.sock)
        self.state = _State(
            owner_pid=os.getpid(),
            owner_start=process_start(os.getpid()),
            taken_at=time.time(),
            status=_status_dict(st),
            rules=[r.hex() for r in list_rules(self.sock)],
        )
        self._save()
        return self.state

    def adopt(self) -> _State:
        """Take over the state file of a killed run whose socket keeper this run took over: its snapshot (the
        kernel as found before that run changed anything) and its changes stay as they are, to be undone at
        this run's end; nothing is undone now (its rules are still wanted). Owned by this process from now.
        Without a state file: :meth:`begin`."""
        old = _read_state(self.state_file) if self.state_file is not None else None
        if old is None:
            return self.begin()
        if old.owner_pid != os.getpid() and old.owner_alive():
            raise SnapshotInUse(
                f"{self.state_file} belongs to a running auditsql "
                f"(pid {old.owner_pid}, {process_name(old.owner_pid)}); stop it or choose another --state-file"
            )
        old.owner_pid = os.getpid()
        old.owner_start = process_start(os.getpid())
        self.state = old
        self._save()
        return old

    def _save(self) -> None:
        if self.state_file is not None and self.state is not None:
            _write_state(self.state_file, self.state)

    def _need(self) -> _State:
        if self.state is None:
            raise RuntimeError("KernelSession.begin() was not called")
        return self.state

    @property
    def status(self) -> dict[str, int]:
        """The status as found at the start."""
        return dict(self._need().status)

    @property
    def rules(self) -> list[bytes]:
        """The rules as found at the start."""
        return [bytes.fromhex(r) for r in self._need().rules]

    # -- changes -----------------------------------------------------------------------------------------

    def set(self, raise_only: Collection[str] = (), **knobs: int) -> dict[str, int]:
        """AUDIT_SET the knobs that differ from the current value; returns those changed ({name: old}). A knob
        named in ``raise_only`` is set only above its current value (:func:`raises`); else it is noted in
        :attr:`kept`."""
        state = self._need()
        unknown = set(knobs) - set(SETTABLE)
        if unknown:
            raise ValueError(f"a session cannot set {sorted(unknown)}; settable: {', '.join(SETTABLE)}")
        if knobs.get("enabled") == 2 or knobs.get("failure") == 2:
            raise ValueError("enabled=2 and failure=2 cannot be undone; a session does not set them")
        current = get_status(self.sock)
        if current.enabled == 2:
            raise PermissionError("audit is locked (enabled 2): its configuration cannot change until reboot")
        changed: dict[str, int] = {}
        for name, value in knobs.items():
            old = int(getattr(current, name) or 0)
            if old == value:
                continue
            if name in raise_only and not raises(old, value):
                self.kept[name] = old
                continue
            first = state.changes.get(name, {}).get("from", old)
            state.changes[name] = {"from": first, "to": value}
            self._save()
            try:
                set_status(self.sock, **{name: value})
            except BaseException:
                if first == old:
                    del state.changes[name]
                else:
                    state.changes[name]["to"] = old
                self._save()
                raise
            changed[name] = old
        return changed

    def add_rule(self, payload: bytes) -> None:
        """AUDIT_ADD_RULE ``payload`` (``audit_rule_data``); deleted again on restore."""
        state = self._need()
        state.added_rules.append(payload.hex())
        self._save()
        try:
            self.sock.request(AUDIT_ADD_RULE, payload)
        except BaseException:
            state.added_rules.pop()
            self._save()
            raise

    def delete_rule(self, payload: bytes) -> None:
        """AUDIT_DEL_RULE a rule this session added (already gone is fine); no longer undone on restore."""
        state = self._need()
        try:
            self.sock.request(AUDIT_DEL_RULE, del_rule_payload(payload))
        except AuditNetlinkError as exc:
            if exc.errno != errno.ENOENT:
                raise
        if payload.hex() in state.added_rules:
            state.added_rules.remove(payload.hex())
            self._save()

    def remove_rules(self, keep: Collection[bytes] = ()) -> list[str]:
        """Delete the rules this session added, newest first, but those in ``keep`` (kept for
        :meth:`restore`): the first step of a stop, so that nothing more is audited while what was audited
        is read to the end. Returns the problems (a rule already gone is none)."""
        state = self._need()
        problems: list[str] = []
        for hexrule in reversed(list(state.added_rules)):
            payload = bytes.fromhex(hexrule)
            if payload in keep:
                continue
            try:
                self.sock.request(AUDIT_DEL_RULE, del_rule_payload(payload))
            except AuditNetlinkError as exc:
                if exc.errno != errno.ENOENT:
                    problems.append(f"cannot delete a rule auditsql added: {exc.errno_name}")
                    continue
            state.added_rules.remove(hexrule)
            self._save()
        return problems

    def will_register(self, pid: int, keeper_dir: str = "") -> None:
        """Note (before doing it) that ``pid`` registers as the audit daemon; unregistered on restore.
        ``keeper_dir``: ``pid`` is the socket keeper of that journal (it is told to unregister itself)."""
        state = self._need()
        state.registered_pid = pid
        state.keeper_dir = keeper_dir
        self._save()

    def not_registered(self) -> None:
        """The registration did not happen after all."""
        self._need().registered_pid = 0
        self._save()

    # -- restore -----------------------------------------------------------------------------------------

    def restore(self) -> RestoreReport:
        """Undo this session's changes; the state file is removed when everything was undone."""
        if self.state is None:
            return RestoreReport()
        report = _undo(self.sock, self.state)
        if report.ok and self.state_file is not None:
            _remove(self.state_file)
        return report

    def close(self) -> None:
        if self._own_sock:
            self.sock.close()

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _undo(sock: AuditSocket, state: _State) -> RestoreReport:
    report = RestoreReport()
    try:
        st = get_status(sock)
    except OSError as exc:
        report.problems.append(f"cannot read the audit status: {exc}")
        return report

    # 1. the daemon pid. A socket keeper (a killed run's, draining) unregisters itself when told to exit
    if state.registered_pid and st.pid == state.registered_pid and state.keeper_dir:
        from .keeper import KeeperError, stop_keeper

        try:
            if stop_keeper(state.keeper_dir) is not None:
                report.actions.append(f"socket keeper pid {state.registered_pid} stopped (it unregistered)")
                st = get_status(sock)
        except (KeeperError, OSError) as exc:
            report.problems.append(str(exc))
            return report
    # Only the registered process may unregister while it lives; once it is gone any
    #    process can, since the kernel checks the old connection first (AUDIT_REPLACE) and drops it.
    if state.registered_pid and st.pid == state.registered_pid:
        # a crashed run's reader process dies with it (PR_SET_PDEATHSIG), a moment later; until its socket
        # is closed the kernel still sees a live daemon and refuses (EACCES): retry for a few seconds
        deadline = time.monotonic() + 5
        while True:
            try:
                set_status(sock, pid=0)
                report.actions.append(f"pid {state.registered_pid} -> 0 (unregistered)")
                break
            except AuditNetlinkError as exc:
                if exc.errno == errno.EACCES and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                report.problems.append(f"cannot unregister pid {state.registered_pid}: {exc.errno_name}")
                break
    elif state.registered_pid and st.pid:
        report.notes.append(f"pid left at {st.pid}: another daemon registered since")

    # 2. rules, newest first
    for hexrule in reversed(state.added_rules):
        try:
            sock.request(AUDIT_DEL_RULE, del_rule_payload(bytes.fromhex(hexrule)))
            report.actions.append("deleted a rule auditsql added")
        except AuditNetlinkError as exc:
            if exc.errno == errno.ENOENT:
                report.notes.append("a rule auditsql added was already gone")
            else:
                report.problems.append(f"cannot delete a rule auditsql added: {exc.errno_name}")

    # 3. knobs, enabled last (the others cannot change once it is 2, and it is the most visible one)
    try:
        st = get_status(sock)
    except OSError as exc:
        report.problems.append(f"cannot read the audit status: {exc}")
        return report
    for name in sorted(state.changes, key=lambda n: n == "enabled"):
        change = state.changes[name]
        now = int(getattr(st, name) or 0)
        if now == change["from"]:
            continue
        if now != change["to"]:
            report.notes.append(
                f"{name} left at {now}: changed by someone else since auditsql set it to {change['to']}"
            )
            continue
        if st.enabled == 2:
            report.problems.append(f"cannot restore {name}: audit is locked (enabled 2)")
            continue
        try:
            set_status(sock, **{name: change["from"]})
            report.actions.append(f"{name} {now} -> {change['from']}")
        except (AuditNetlinkError, ValueError) as exc:
            report.problems.append(f"cannot restore {name} to {change['from']}: {exc}")
    return report


def restore_from_file(path: str = DEFAULT_STATE_FILE, sock: AuditSocket | None = None) -> RestoreReport:
    """Undo the changes a (crashed) auditsql run recorded in its state file; remove the file when done.

    Raises :class:`SnapshotInUse` if the run is still alive (stop it instead: it restores on exit),
    ``FileNotFoundError`` if there is no state file, ``ValueError`` if the file is not one of ours.
    """
    state = _read_state(path)
    if state is None:
        raise FileNotFoundError(errno.ENOENT, "no auditsql state file (nothing to restore)", path)
    if state.owner_alive() and state.owner_pid != os.getpid():
        raise SnapshotInUse(
            f"{path} belongs to a running auditsql (pid {state.owner_pid}, {process_name(state.owner_pid)}); "
            "stop it (SIGTERM) and it restores the kernel itself"
        )
    own = sock is None
    sock = sock if sock is not None else AuditSocket()
    try:
        report = _undo(sock, state)
    finally:
        if own:
            sock.close()
    if report.ok:
        _remove(path)
    return report

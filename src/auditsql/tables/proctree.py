"""The process tree: every process keyed by (pid, start time), from audited fork/clone/exec/exit and /proc.

Why: ``process_events`` says what ran, but not *who started it* once the parent is gone, and a pid alone
does not name a process (pids are reused). The tree answers "every process whose ancestor is sshd" and "the
chain of this pid at that time" in SQL, over the ``process_tree`` table (one row per process lifetime) and
the ``process_ancestry`` view. docs/process-tree.md has the queries and the design notes.

How:

* :class:`Tracker` keeps the *live* processes in memory: node → pid → :class:`Proc`. A process's key is
  ``(pid, process_start)``: for an audited fork/vfork/clone/clone3 the child is the syscall's return value
  and its start is the event time; a process seeded from ``/proc`` starts at boot time +
  ``starttime``/``CLK_TCK``. The child of a vfork (and of ``posix_spawn``) execs before its parent's
  syscall returns, so its exec event comes first: the exec creates the entry (``source`` ``exec``) and the
  fork that follows completes it, keeping its key.
* Threads are not processes: a ``clone`` with ``CLONE_THREAD`` is skipped (the builtin rules also exclude it
  in the kernel with a ``never`` rule on ``a0&0x10000``). ``clone3``'s flags sit behind a pointer the audit
  record does not show, so a ``clone3`` child is a thread when ``/proc/CALLER/task/CHILD`` exists, a process
  when ``/proc/CHILD`` exists otherwise, and else waits (bounded) for an event of its own (an exec, an exit)
  that proves it is a process; unproven ones are dropped and counted (``clone3_unresolved``).
* Exits: the kernel writes the SYSCALL record of an ``exit_group`` (no ``exit=``; ``a0`` is the status) on
  this kernel, so the builtin rules audit it. A process killed by a signal makes no syscall: a periodic check
  (:meth:`Tracker.sweep`) reads ``/proc/PID/stat`` of every live process and marks the ones gone, zombie, or
  whose start time is later than when the tree last knew the process alive (the pid was reused).
* Memory: an exited process leaves memory at once (its row stays, with ``exit_time``); a live child keeps
  ``(parent, parent_start)``, so chains are resolved in SQL. Work per event is O(1) dict operations.
* Rows are upserts (``INSERT OR REPLACE`` on the unique key ``(node, pid, process_start)``): changed
  processes are collected and written by :meth:`Tracker.drain` on each store tick, so a process born and
  gone within a tick costs one row write.
* Persistence: :meth:`Tracker.reload` reads the rows of processes not yet exited from the store at start,
  keeps those whose ``/proc`` start time still matches, marks the others exited (``exit_source``
  ``restart``); :meth:`Tracker.seed` adds the rest of ``/proc``. Retention spares rows without
  ``exit_time`` (``retention_keep`` below).

:func:`process_start` is the link other tables use: ``socket_events`` and ``process_file_events`` store the
start of the process the tree knows under the event's pid, so ``(pid, process_start)`` joins
``process_tree``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from auditsql.tables._common import event_columns, text
from auditsql.tables.process import PROCESS_EVENTS
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = [
    "FORK_SYSCALLS",
    "TREE_SYSCALLS",
    "PROCESS_TREE",
    "Proc",
    "Tracker",
    "TREE",
    "container_id",
    "enable",
    "disable",
    "process_start",
    "rules",
]

CLONE_THREAD = 0x10000
CLONE_PARENT = 0x8000
FORK_SYSCALLS = frozenset(("fork", "vfork", "clone", "clone3"))
EXIT_SYSCALLS = frozenset(("exit_group",))
#: the syscalls (besides execs) whose events the tracker reads
TREE_SYSCALLS = FORK_SYSCALLS | EXIT_SYSCALLS
#: the key of the builtin rules
RULE_KEY = "auditsql_tree"
#: seconds of slack when comparing a /proc start time (10 ms ticks) with event times (a coarse clock)
START_SLACK = 0.05
#: seconds between two /proc checks of the live processes
SWEEP_INTERVAL = 5.0
#: clone3 children waiting for proof that they are processes, and exits seen before their fork, at most
PENDING_MAX = 65536
#: live processes kept per node at most (a remote node cannot be checked in /proc); the oldest go first
MAX_PROCS = 1_000_000
#: arches whose clone(2) takes the flags as the second argument
_FLAGS_IN_A1 = frozenset(("s390", "s390x"))

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- the table -------------------------------------------------------------------------------------------------


def _key_index(scope: tuple[str, ...]) -> str:
    cols = ", ".join((*scope, "pid", "process_start"))
    return f"CREATE UNIQUE INDEX IF NOT EXISTS process_tree_key ON process_tree({cols});"


def _ancestry_view(scope: tuple[str, ...]) -> str:
    """``process_ancestry``: every (process, ancestor, depth), following (parent, parent_start) within a scope
    (``node``; ``host, node`` in the central store of ``auditsql collect``)."""
    cols = ", ".join(scope)
    a_cols = ", ".join(f"a.{c}" for c in scope)
    join = " AND ".join(f"t.{c} = a.{c}" for c in scope)
    return (
        "CREATE VIEW IF NOT EXISTS process_ancestry AS "
        f"WITH RECURSIVE a({cols}, pid, process_start, ancestor_pid, ancestor_start, depth) AS ("
        f"SELECT {cols}, pid, process_start, parent, parent_start, 1 FROM process_tree WHERE parent IS NOT NULL "
        "UNION ALL "
        f"SELECT {a_cols}, a.pid, a.process_start, t.parent, t.parent_start, a.depth + 1 "
        f"FROM a JOIN process_tree t ON {join} AND t.pid = a.ancestor_pid "
        "AND t.process_start = a.ancestor_start "
        "WHERE t.parent IS NOT NULL AND a.depth < 256) "
        f"SELECT {cols}, pid, process_start, ancestor_pid, ancestor_start, depth FROM a;"
    )


@dataclass(frozen=True)
class TreeTable(Table):
    """A table whose rows are upserted on a unique key, with a helper view; retention keeps live rows."""

    #: SQL condition a row must meet to be deleted by retention (rows of live processes are kept)
    retention_keep: str = "exit_time IS NOT NULL"

    def ddl(self) -> str:
        scope = ("host", "node") if "host" in self.column_names else ("node",)  # the central store
        return super().ddl() + "\n" + _key_index(scope) + "\n" + _ancestry_view(scope)

    def insert_sql(self) -> str:
        return "INSERT OR REPLACE" + super().insert_sql()[len("INSERT") :]


PROCESS_TREE = register(
    TreeTable(
        name="process_tree",
        description="One row per process lifetime, keyed by (`pid`, `process_start`): who started it "
        "(`parent`, `parent_start`), what it runs now, when it exited. Filled from audited "
        "fork/vfork/clone/clone3, exec and exit_group, seeded from /proc at start and kept across restarts "
        "(docs/process-tree.md). A row is updated in place when the process execs or exits.",
        indexes=(("parent", "parent_start"), ("exit_time",)),
        notes=(
            "The view `process_ancestry (node, pid, process_start, ancestor_pid, ancestor_start, depth)` "
            "lists every ancestor of every process (depth 1 is the parent). `parent` is the process that "
            "created this one (a daemon that double-forks keeps its creator; the kernel's ppid becomes 1).",
        ),
        columns=(
            Column("pid", "BIGINT", "Process ID", index=True),
            Column(
                "process_start",
                "DOUBLE",
                "Start time (UNIX seconds): the fork's event time, or boot time + /proc starttime; with "
                "`pid` the process's key",
            ),
            Column(
                "parent", "BIGINT", "PID of the process that created this one (for /proc seeds: the ppid)"
            ),
            Column(
                "parent_start", "DOUBLE", "The parent's `process_start` (NULL when the parent is unknown)"
            ),
            Column("path", "TEXT", "Executable: the last exec's `exe`, else the parent's (a fork runs it)"),
            Column("cmdline", "TEXT", "Command line of the last exec (arguments joined by spaces)"),
            Column("cwd", "TEXT", "Working directory at the last exec (or at the /proc seed)"),
            Column("uid", "BIGINT", "User ID at creation or the last exec"),
            Column("auid", "BIGINT", "Audit user ID"),
            Column("euid", "BIGINT", "Effective user ID"),
            Column("gid", "BIGINT", "Group ID"),
            Column("comm", "TEXT", "Command name (the kernel's 16-byte `comm`)"),
            Column(
                "container_id",
                "TEXT",
                "Container ID (64 hex) from the cgroup path (docker, containerd, cri-o, podman), NULL outside "
                "a container",
            ),
            Column("started", "BIGINT", "`process_start` in whole UNIX seconds"),
            Column("exit_time", "DOUBLE", "When the process exited (UNIX seconds), NULL while it runs"),
            Column("exit_code", "BIGINT", "Exit status given to `exit_group` (NULL when not seen)"),
            Column(
                "exit_source",
                "TEXT",
                "How the exit was learnt: `exit_group`; `proc` (gone from /proc at the periodic check: "
                "`exit_time` is the check); `reuse` (its pid was forked again); `restart` (gone while "
                "auditsql was not running: `exit_time` is the restart)",
            ),
            Column(
                "source",
                "TEXT",
                "How the process became known: `fork` (audited fork/clone), `exec` (its exec came first: "
                "the parent's fork was not seen), `proc` (seeded from /proc)",
            ),
            Column("syscall", "TEXT", "The syscall that created it: fork, vfork, clone, clone3 (else NULL)"),
            Column("execs", "BIGINT", "Successful execs seen in this process"),
            Column("node", "TEXT", "The `node=` name of the events ('' for this host)", hidden=True),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)


# -- rules -----------------------------------------------------------------------------------------------------


def _enabled(flags: object) -> bool:
    if isinstance(flags, bool):
        return flags
    tables = getattr(flags, "tables", flags)
    return bool(getattr(tables, "process_tree", False))


def rules(flags: object) -> list[tuple[str, str]]:
    """The builtin rules of the process tree as (origin, auditctl line), for ``LivePlan.extra_rules``.

    ``flags`` is the ``Config``, its ``[tables]`` section, or a bool (process_tree on). Thread clones are
    excluded in the kernel with a ``never`` rule placed before the rule that audits fork, vfork, clone,
    clone3 and exit_group."""
    if not _enabled(flags):
        return []
    import platform

    flag_arg = "a1" if platform.machine() in _FLAGS_IN_A1 else "a0"
    out: list[tuple[str, str]] = []
    for arch in ("b64", "b32"):
        names = _known_syscalls(arch, ("fork", "vfork", "clone", "clone3", "exit_group"))
        if "clone" in names:
            out.append(
                ("process_tree", f"-a never,exit -F arch={arch} -S clone -F {flag_arg}&{CLONE_THREAD:#x}")
            )
        if names:
            out.append(("process_tree", f"-a always,exit -F arch={arch} -S {','.join(names)} -k {RULE_KEY}"))
    return out


def _known_syscalls(arch: str, names: tuple[str, ...]) -> list[str]:
    """The names the rule compiler knows for ``arch`` on this machine (aarch64 has no fork or vfork)."""
    from auditsql.kernel.rules import RuleError, parse_args

    out = []
    for name in names:
        try:
            parse_args(["-a", "always,exit", "-F", f"arch={arch}", "-S", name])
        except RuleError:
            continue
        out.append(name)
    return out


# -- /proc -----------------------------------------------------------------------------------------------------

_CONTAINER = re.compile(r"(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?(?=/|$)")


def container_id(cgroup: str) -> str | None:
    """The container ID in the text of a ``/proc/PID/cgroup`` file (or one cgroup path), or None.

    Recognised: a 64-hex-digit ID as a path component (``/docker/ID``, cgroupfs kubepods ``/kubepods/.../ID``)
    or after a prefix ending in ``-`` or ``:`` with an optional ``.scope`` (``docker-ID.scope``,
    ``cri-containerd-ID.scope``, ``crio-ID.scope``, ``libpod-ID.scope``, ``...:cri-containerd:ID``). The
    innermost (last) match wins."""
    found = None
    for line in cgroup.splitlines():
        path = line.split(":", 2)[-1] if line.count(":") >= 2 and line[:1].isdigit() else line
        for m in _CONTAINER.finditer(path):
            found = m.group(1)
    return found


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _stat_fields(pid: int) -> tuple[bytes, int, int, str] | None:
    """(state, ppid, starttime ticks, comm) from ``/proc/PID/stat``, or None when it is gone."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    try:
        close = data.rindex(b")")
        comm = data[data.index(b"(") + 1 : close].decode("utf-8", "backslashreplace")
        f = data[close + 2 :].split()
        return f[0], int(f[1]), int(f[19]), comm
    except (ValueError, IndexError):
        return None


def boot_time() -> float:
    """The boot time in UNIX seconds."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


# -- the tracker -----------------------------------------------------------------------------------------------


class Proc:
    """One process the tree knows. ``last_seen``: the latest time it was known alive (UNIX seconds)."""

    __slots__ = (
        "node",
        "pid",
        "start",
        "parent",
        "parent_start",
        "path",
        "argv",
        "cmdline",
        "cwd",
        "uid",
        "auid",
        "euid",
        "gid",
        "comm",
        "container_id",
        "exit_time",
        "exit_code",
        "exit_source",
        "source",
        "syscall",
        "execs",
        "time",
        "eid",
        "last_seen",
        "merged",
    )

    def __init__(self, node: str, pid: int, start: float, source: str) -> None:
        self.node = node
        self.pid = pid
        self.start = start
        self.source = source
        self.parent: int | None = None
        self.parent_start: float | None = None
        self.path: str | None = None
        self.argv: list | None = None
        self.cmdline: str | None = None
        self.cwd: str | None = None
        self.uid = self.auid = self.euid = self.gid = None
        self.comm: str | None = None
        self.container_id: str | None = None
        self.exit_time: float | None = None
        self.exit_code: int | None = None
        self.exit_source: str | None = None
        self.syscall: str | None = None
        self.execs = 0
        self.time = int(start)
        self.eid: str | None = None
        self.last_seen = start
        self.merged = source != "exec"

    def row(self, uptime_base: float | None) -> tuple:
        cmdline = self.cmdline
        if cmdline is None and self.argv is not None:
            cmdline = self.cmdline = " ".join([text(a) or "" for a in self.argv])
        uptime = None
        if uptime_base is not None and self.time:
            uptime = max(0, int(self.time - uptime_base))
        return (
            self.pid,
            self.start,
            self.parent,
            self.parent_start,
            self.path,
            cmdline,
            self.cwd,
            self.uid,
            self.auid,
            self.euid,
            self.gid,
            self.comm,
            self.container_id,
            int(self.start),
            self.exit_time,
            self.exit_code,
            self.exit_source,
            self.source,
            self.syscall,
            self.execs,
            self.node,
            self.time,
            uptime,
            self.eid,
        )


def _event_time(event: dict) -> tuple[float, str]:
    """(event time in UNIX seconds with milliseconds, ``[NODE:]ID``) of a rendered event."""
    eid = event.get("ID") or "0.000:0"
    try:
        t = float(eid[: eid.index(":")])
    except ValueError:
        t = 0.0
    node = event.get("NODE")
    return t, f"{node}:{eid}" if node else eid


class Tracker:
    """The live process tree (see the module docstring). ``live``: events come from this host's kernel, so
    /proc may be consulted; off for imported logs."""

    def __init__(
        self, live: bool = True, fork_events: bool = False, local_names: tuple[str, ...] = ()
    ) -> None:
        self.live = live
        self.fork_events = fork_events
        self.local = frozenset(("", *local_names, *((socket.gethostname(),) if live else ())))
        self.nodes: dict[str, dict[int, Proc]] = {}
        self.dirty: dict[int, Proc] = {}  # id(proc) -> proc, written by drain()
        self.pending: dict[tuple[str, int], tuple] = {}  # clone3 children not yet proven processes
        self.early_exits: dict[tuple[str, int], tuple[float, int | None, str]] = {}
        self.gone_unmerged: dict[tuple[str, int], Proc] = {}  # exited before their fork was seen
        self.boot = boot_time()
        self.next_sweep = 0.0
        self.counters: dict[str, int] = {
            "forks": 0,
            "threads": 0,
            "execs": 0,
            "exits": 0,
            "reused": 0,
            "swept": 0,
            "clone3_unresolved": 0,
            "evicted": 0,
        }

    # -- lookups -----------------------------------------------------------------------------------------------

    def _node(self, node: str | None) -> str:
        return "" if not node or node in self.local else node

    def get(self, node: str | None, pid: int) -> Proc | None:
        procs = self.nodes.get(self._node(node))
        return procs.get(pid) if procs is not None else None

    def size(self) -> int:
        """Live processes in memory (all nodes)."""
        return sum(len(p) for p in self.nodes.values())

    def _procs(self, node: str) -> dict[int, Proc]:
        procs = self.nodes.get(node)
        if procs is None:
            procs = self.nodes[node] = {}
        return procs

    def _add(self, procs: dict[int, Proc], p: Proc) -> None:
        procs[p.pid] = p
        self.dirty[id(p)] = p
        if len(procs) > MAX_PROCS:
            oldest = next(iter(procs.values()))
            self._exit(procs, oldest, time.time(), None, "evicted", count="evicted")

    def _exit(
        self,
        procs: dict[int, Proc],
        p: Proc,
        when: float | None,
        code: int | None,
        how: str,
        eid: str | None = None,
        count: str = "exits",
    ) -> None:
        p.exit_time = when
        p.exit_code = code
        p.exit_source = how
        if when is not None:
            p.time = int(when)
        if eid is not None:
            p.eid = eid
        if procs.get(p.pid) is p:
            del procs[p.pid]
        if not p.merged:
            if len(self.gone_unmerged) >= PENDING_MAX:
                self.gone_unmerged.pop(next(iter(self.gone_unmerged)))
            self.gone_unmerged[(p.node, p.pid)] = p
        self.dirty[id(p)] = p
        self.counters[count] += 1

    # -- events ------------------------------------------------------------------------------------------------

    def on_event(self, event: dict, summary: dict) -> list[tuple[str, tuple]]:
        """Update the tree from one rendered event whose syscall is an exec, a fork or an exit. Returns the
        ``process_events`` fork rows (only when ``fork_events`` is on)."""
        name = summary.get("syscall")
        if name in FORK_SYSCALLS:
            return self.fork(event, summary, name)
        if name in EXIT_SYSCALLS:
            self.exit(event, summary)
            return []
        self.exec(event, summary)
        return []

    def _caller(
        self, procs: dict[int, Proc], node: str, pid: int, summary: dict, t: float, eid: str, use_proc: bool
    ) -> Proc:
        """The process making a syscall: known, a clone3 child now proven, or adopted (from /proc when
        ``use_proc`` and live, else from the event: ``source`` ``exec``)."""
        p = procs.get(pid)
        if p is not None:
            if t > p.last_seen:
                p.last_seen = t
            return p
        pend = self.pending.pop((node, pid), None)
        if pend is not None:
            return self._materialize(procs, node, pid, pend)
        return self._adopt(procs, node, pid, summary, t, eid, use_proc)

    def _adopt(
        self, procs: dict[int, Proc], node: str, pid: int, summary: dict, t: float, eid: str, use_proc: bool
    ) -> Proc:
        p = None
        if use_proc and self.live and node == "":
            p = self._from_proc(pid, t)
            if p is not None:
                # a fork of it that was not seen yet may still complete it (see _forked)
                p.merged = False
                pp = procs.get(p.parent) if p.parent else None
                p.parent_start = pp.start if pp is not None else None
        if p is None:
            p = Proc(node, pid, t, "exec")
            ppid = summary.get("ppid")
            if isinstance(ppid, int):
                p.parent = ppid
                pp = procs.get(ppid)
                p.parent_start = pp.start if pp is not None else None
                if pp is not None:
                    p.container_id = pp.container_id
            p.path = text(summary.get("exe"))
            p.comm = text(summary.get("comm"))
            _creds(p, summary)
            p.eid = eid
        self._add(procs, p)
        return p

    def fork(self, event: dict, summary: dict, name: str) -> list[tuple[str, tuple]]:
        if summary.get("success") is False:
            return []
        child = summary.get("exit")
        caller = summary.get("pid")
        if not isinstance(child, int) or child <= 0 or not isinstance(caller, int):
            return []
        flags = 0
        if name == "clone":
            sc = event.get("SYSCALL")
            argv = sc.get("ARGV") if isinstance(sc, dict) else None
            if argv:
                try:
                    flags = int(argv[1 if summary.get("arch") in _FLAGS_IN_A1 else 0], 16)
                except (ValueError, IndexError, TypeError):
                    flags = 0
            if flags & CLONE_THREAD:
                self.counters["threads"] += 1
                return []
        t, eid = _event_time(event)
        node = self._node(event.get("NODE"))
        procs = self._procs(node)
        existing = procs.get(child)
        if name == "clone3" and (existing is None or existing.merged):
            kind = self._clone3_kind(node, caller, child)
            if kind == "thread":
                self.counters["threads"] += 1
                return []
            if kind == "unknown":
                if len(self.pending) >= PENDING_MAX:
                    self.pending.pop(next(iter(self.pending)))
                    self.counters["clone3_unresolved"] += 1
                self.pending[(node, child)] = (event, summary, name, t, eid)
                return []
        parent = self._caller(procs, node, caller, summary, t, eid, True)
        return self._forked(procs, node, child, parent, event, summary, name, flags, t, eid)

    def _clone3_kind(self, node: str, caller: int, child: int) -> str:
        if not self.live or node != "":
            return "unknown"
        if os.path.exists(f"/proc/{caller}/task/{child}"):
            return "thread"
        if os.path.exists(f"/proc/{child}"):
            return "process"
        return "unknown"

    def _forked(
        self,
        procs: dict[int, Proc],
        node: str,
        child: int,
        parent: Proc,
        event: dict,
        summary: dict,
        name: str,
        flags: int,
        t: float,
        eid: str,
    ) -> list[tuple[str, tuple]]:
        self.counters["forks"] += 1
        if flags & CLONE_PARENT:
            creator_pid, creator_start = parent.parent, parent.parent_start
        else:
            creator_pid, creator_start = parent.pid, parent.start
        c = procs.get(child)
        if c is None:
            c = self.gone_unmerged.pop((node, child), None)  # its exec and exit came before this fork
        if (
            c is not None
            and not c.merged
            and c.parent == creator_pid
            and t <= c.start + START_SLACK
            and c.start - t < 60.0
        ):
            # the child's exec came first (vfork, posix_spawn): complete its entry, keep its key
            c.merged = True
            c.source = "fork"
            c.parent_start = creator_start
            c.syscall = name
            if c.container_id is None:
                c.container_id = parent.container_id
            self.dirty[id(c)] = c
        else:
            if c is not None and c.exit_time is None:
                # the pid was forked again: the process we knew under it is gone
                self._exit(procs, c, t, None, "reuse", count="reused")
            c = Proc(node, child, t, "fork")
            c.parent, c.parent_start = creator_pid, creator_start
            c.path, c.cmdline, c.argv, c.cwd = parent.path, parent.cmdline, parent.argv, parent.cwd
            c.comm = text(summary.get("comm"))
            _creds(c, summary)
            c.container_id = parent.container_id
            c.syscall = name
            c.merged = True
            c.eid = eid
            self._add(procs, c)
            early = self.early_exits.pop((node, child), None)
            if early is not None and early[0] >= t:
                self._exit(procs, c, early[0], early[1], "exit_group", early[2])
        self._child = c
        if not self.fork_events:
            return []
        return [("process_events", self._fork_row(c, parent, summary, name, event))]

    def _fork_row(self, c: Proc, parent: Proc, summary: dict, name: str, event: dict) -> tuple:
        time_, uptime, eid = event_columns(event, self.uptime_base)
        g = summary.get
        if parent.cmdline is None and parent.argv is not None:
            parent.cmdline = " ".join([text(a) or "" for a in parent.argv])
        values: dict[str, Any] = {
            "pid": c.pid,
            "path": text(g("exe")),
            "cwd": parent.cwd,
            "auid": g("auid"),
            "uid": g("uid"),
            "euid": g("euid"),
            "gid": g("gid"),
            "egid": g("egid"),
            "overflows": "",
            "parent": g("pid"),
            "fsuid": g("fsuid"),
            "suid": g("suid"),
            "fsgid": g("fsgid"),
            "sgid": g("sgid"),
            "syscall": name,
            "status": "succeeded",
            "exit_code": g("exit"),
            "ses": g("ses"),
            "tty": text(g("tty")),
            "comm": text(g("comm")),
            "key": text(g("key")),
            "parent_path": parent.path,
            "parent_cmdline": parent.cmdline,
            "process_start": c.start,
            "container_id": c.container_id,
            "time": time_,
            "uptime": uptime,
            "eid": eid,
        }
        return tuple([values.get(n) for n in PROCESS_EVENTS.column_names])

    def _materialize(self, procs: dict[int, Proc], node: str, pid: int, pend: tuple) -> Proc:
        event, summary, name, t, eid = pend
        parent = self._caller(procs, node, summary["pid"], summary, t, eid, True)
        self._forked(procs, node, pid, parent, event, summary, name, 0, t, eid)
        return self._child  # not in procs when it already exited

    def exec(self, event: dict, summary: dict) -> Proc | None:
        """An exec (successful or failed) of ``summary.pid``: the process's image, arguments, credentials."""
        pid = summary.get("pid")
        if not isinstance(pid, int):
            return None
        t, eid = _event_time(event)
        node = self._node(event.get("NODE"))
        procs = self._procs(node)
        p = self._caller(procs, node, pid, summary, t, eid, False)
        if summary.get("success") is False:
            return p
        self.counters["execs"] += 1
        p.path = text(summary.get("exe"))
        argv = summary.get("argv")
        p.argv = argv if isinstance(argv, list) else None
        p.cmdline = None
        cwd = summary.get("cwd")
        if cwd is not None:
            p.cwd = text(cwd)
        p.comm = text(summary.get("comm"))
        _creds(p, summary)
        p.execs += 1
        p.time = int(t)
        p.eid = eid
        self.dirty[id(p)] = p
        return p

    def exit(self, event: dict, summary: dict) -> None:
        """An ``exit_group``: the SYSCALL record of the exiting process (``a0`` is its status)."""
        pid = summary.get("pid")
        if not isinstance(pid, int):
            return
        t, eid = _event_time(event)
        node = self._node(event.get("NODE"))
        procs = self._procs(node)
        sc = event.get("SYSCALL")
        code = None
        if isinstance(sc, dict):
            argv = sc.get("ARGV")
            if argv:
                try:
                    code = int(argv[0], 16) & 0xFF
                except (ValueError, TypeError):
                    code = None
        p = procs.get(pid)
        if p is None:
            pend = self.pending.pop((node, pid), None)
            if pend is not None:
                p = self._materialize(procs, node, pid, pend)
        if p is None:
            # the exit of a vfork child can come before its parent's vfork: remember it for the fork
            if len(self.early_exits) >= PENDING_MAX:
                self.early_exits.pop(next(iter(self.early_exits)))
            self.early_exits[(node, pid)] = (t, code, eid)
            return
        self._exit(procs, p, t, code, "exit_group", eid)

    # -- /proc -------------------------------------------------------------------------------------------------

    def _from_proc(self, pid: int, alive_at: float | None = None) -> Proc | None:
        """A process read from /proc (``source`` ``proc``), or None when it is gone or started after
        ``alive_at`` (then it is not the process an event named)."""
        st = _stat_fields(pid)
        if st is None or st[0] == b"Z":
            return None
        state, ppid, ticks, comm = st
        start = round(self.boot + ticks / _CLK_TCK, 3)
        if alive_at is not None and start > alive_at + START_SLACK:
            return None
        p = Proc("", pid, start, "proc")
        p.comm = comm
        p.parent = ppid if ppid else None
        p.path = _readlink(f"/proc/{pid}/exe")
        raw = _read(f"/proc/{pid}/cmdline")
        if raw:
            p.cmdline = " ".join(
                a.decode("utf-8", "backslashreplace") for a in raw.rstrip(b"\0").split(b"\0")
            )
        p.cwd = _readlink(f"/proc/{pid}/cwd")
        status = _read(f"/proc/{pid}/status") or b""
        for line in status.split(b"\n"):
            if line.startswith(b"Uid:"):
                ids = line.split()
                p.uid, p.euid = int(ids[1]), int(ids[2])
            elif line.startswith(b"Gid:"):
                p.gid = int(line.split()[1])
                break
        lu = _read(f"/proc/{pid}/loginuid")
        if lu:
            try:
                p.auid = int(lu)
            except ValueError:
                pass
        cg = _read(f"/proc/{pid}/cgroup")
        if cg:
            p.container_id = container_id(cg.decode("utf-8", "replace"))
        p.time = int(time.time())
        p.last_seen = time.time()
        return p

    def seed(self) -> int:
        """Add every process of /proc the tree does not know yet (``source`` ``proc``). Returns how many."""
        procs = self._procs("")
        added: list[Proc] = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in procs:
                continue
            p = self._from_proc(pid)
            if p is not None:
                procs[pid] = p
                added.append(p)
        for p in added:
            pp = procs.get(p.parent) if p.parent else None
            if pp is not None:
                p.parent_start = pp.start
            self.dirty[id(p)] = p
        return len(added)

    def reload(self, conn: Any) -> tuple[int, int]:
        """Read the rows of processes not yet exited from the store (an sqlite3 connection): keep the local
        ones whose /proc start time still matches (and every remote node's), mark the others exited
        (``restart``). Returns (kept, exited)."""
        cols = PROCESS_TREE.column_names
        try:
            cur = conn.execute(f"SELECT {', '.join(cols)} FROM process_tree WHERE exit_time IS NULL")
        except Exception:  # no table yet
            return 0, 0
        now = time.time()
        kept = gone = 0
        for r in cur.fetchall():
            row = dict(zip(cols, r, strict=True))
            node = row["node"] or ""
            p = Proc(node, row["pid"], row["process_start"], row["source"] or "proc")
            for attr, col in (
                ("parent", "parent"),
                ("parent_start", "parent_start"),
                ("path", "path"),
                ("cmdline", "cmdline"),
                ("cwd", "cwd"),
                ("uid", "uid"),
                ("auid", "auid"),
                ("euid", "euid"),
                ("gid", "gid"),
                ("comm", "comm"),
                ("container_id", "container_id"),
                ("syscall", "syscall"),
                ("execs", "execs"),
                ("time", "time"),
                ("eid", "eid"),
            ):
                setattr(p, attr, row[col])
            p.execs = p.execs or 0
            p.merged = True
            p.time = p.time or 0
            p.last_seen = max(p.start, p.time + 1.0)
            procs = self._procs(node)
            if node == "" and self.live and not self._same(p):
                p.exit_time, p.exit_source, p.time = now, "restart", int(now)
                self.dirty[id(p)] = p
                gone += 1
                continue
            procs[p.pid] = p
            kept += 1
        return kept, gone

    def _same(self, p: Proc) -> bool:
        """Whether /proc/PID is still the process ``p`` (running, started no later than it was last known
        alive); on success the process is known alive now."""
        st = _stat_fields(p.pid)
        if st is None or st[0] == b"Z":
            return False
        start = self.boot + st[2] / _CLK_TCK
        if start > p.last_seen + START_SLACK:
            return False
        p.last_seen = time.time()
        return True

    def sweep(self, now: float | None = None) -> int:
        """Check every live local process in /proc; mark the gone ones exited (``proc``). Also drop clone3
        children still unproven and old early exits. Returns how many exited."""
        if not self.live:
            return 0
        now = time.time() if now is None else now
        self.boot = boot_time()
        procs = self.nodes.get("", {})
        gone = [p for p in list(procs.values()) if not self._same(p)]
        for p in gone:
            self._exit(procs, p, now, None, "proc", count="swept")
        for key in [k for k, v in self.pending.items() if v[3] < now - SWEEP_INTERVAL]:
            node, pid = key
            pend = self.pending.pop(key)
            if (
                node == ""
                and os.path.exists(f"/proc/{pid}")
                and not os.path.exists(f"/proc/{pend[1]['pid']}/task/{pid}")
            ):
                self._materialize(self._procs(node), node, pid, pend)
            else:
                self.counters["clone3_unresolved"] += 1
        for key in [k for k, v in self.early_exits.items() if v[0] < now - 60.0]:
            del self.early_exits[key]
        for key in [k for k, v in self.gone_unmerged.items() if (v.exit_time or 0) < now - 60.0]:
            del self.gone_unmerged[key]
        return len(gone)

    def due(self, monotonic_now: float) -> bool:
        """Whether a sweep is due (every ``SWEEP_INTERVAL`` seconds)."""
        if monotonic_now >= self.next_sweep:
            self.next_sweep = monotonic_now + SWEEP_INTERVAL
            return True
        return False

    def idle(self, monotonic_now: float) -> None:
        """``RunSink``'s periodic hook: the /proc sweep when due."""
        if self.due(monotonic_now):
            self.sweep()

    # -- rows --------------------------------------------------------------------------------------------------

    uptime_base: float | None = None

    def drain(self) -> list[tuple[str, tuple]]:
        """The ``process_tree`` rows of every process changed since the last call (one per process)."""
        if not self.dirty:
            return []
        base = self.uptime_base
        out = [("process_tree", p.row(base)) for p in self.dirty.values()]
        self.dirty = {}
        return out

    def ext(self, node: str | None, pid: int, ppid: object) -> tuple:
        """``process_events``' extension columns for an exec row: (parent_path, parent_cmdline,
        process_start, container_id)."""
        procs = self.nodes.get(self._node(node))
        if procs is None:
            return (None, None, None, None)
        p = procs.get(pid)
        pp = procs.get(ppid) if isinstance(ppid, int) else None
        pcmd = None
        if pp is not None:
            if pp.cmdline is None and pp.argv is not None:
                pp.cmdline = " ".join([text(a) or "" for a in pp.argv])
            pcmd = pp.cmdline
        return (
            pp.path if pp is not None else None,
            pcmd,
            p.start if p is not None else None,
            p.container_id if p is not None else None,
        )


def _creds(p: Proc, summary: dict) -> None:
    g = summary.get
    p.uid, p.auid, p.euid, p.gid = g("uid"), g("auid"), g("euid"), g("gid")


#: the tracker ``auditsql.tables.rows_for`` feeds; None: the process tree is off (imports, tests)
TREE: Tracker | None = None


def enable(live: bool = True, fork_events: bool = False, uptime_base: float | None = None) -> Tracker:
    """Turn the process tree on with a fresh tracker (``auditsql run``)."""
    global TREE
    TREE = Tracker(live=live, fork_events=fork_events)
    TREE.uptime_base = uptime_base
    return TREE


def disable() -> None:
    global TREE
    TREE = None


def process_start(node: str | None, pid: int) -> float | None:
    """The start time (UNIX seconds) of the process the tree currently knows under ``pid`` on ``node``
    (None or "" for the local host), or None when the tree does not know it (or is off). O(1); never reads
    /proc."""
    tree = TREE
    if tree is None:
        return None
    procs = tree.nodes.get("" if not node or node in tree.local else node)
    if procs is None:
        return None
    p = procs.get(pid)
    return p.start if p is not None else None


def start(
    conn: Any, live: bool = True, fork_events: bool = False, uptime_base: float | None = None
) -> Tracker:
    """Turn the tree on for ``auditsql run``: reload the live processes of the previous run from the store
    (an sqlite3 connection to it), then seed the rest from /proc. The rows to write are in ``drain()``."""
    tree = enable(live=live, fork_events=fork_events, uptime_base=uptime_base)
    kept, gone = tree.reload(conn)
    seeded = tree.seed() if live else 0
    tree.counters.update({"reloaded": kept, "restart_exited": gone, "seeded": seeded})
    return tree

"""The process tree: every process keyed by (pid, start time), from audited fork/clone/exec/exit and /proc.

Why: ``process_events`` says what ran, but not *who started it* once the parent is gone, and a pid alone
does not name a process (pids are reused). The tree answers "every process whose ancestor is sshd" and "the
chain of this pid at that time" in SQL, over the ``process_tree`` table (one row per process lifetime) and
the ``process_ancestry`` view. docs/process-tree.md has the queries and the design notes.

How:

* The tracker (the native core's ``crates/core/src/proctree/``) keeps the *live* processes in memory: node → pid → a process record. A process's key is
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
  (its sweep) reads ``/proc/PID/stat`` of every live process and marks the ones gone, zombie, or
  whose start time is later than when the tree last knew the process alive (the pid was reused).
* Memory: an exited process leaves memory at once (its row stays, with ``exit_time``); a live child keeps
  ``(parent, parent_start)``, so chains are resolved in SQL. Work per event is O(1) dict operations.
* Rows are upserts (``INSERT OR REPLACE`` on the unique key ``(node, pid, process_start)``): changed
  processes are collected and handed out with each pipeline tick, so a process born and
  gone within a tick costs one row write.
* Persistence: the reload (:func:`reload_rows`, ``Pipeline.tree_reload``) reads the rows of processes not yet exited from the store at start,
  keeps those whose ``/proc`` start time still matches, marks the others exited (``exit_source``
  ``restart``); the seed (``Pipeline.tree_seed``) adds the rest of ``/proc``. Retention spares rows without
  ``exit_time`` (``retention_keep`` below).

``process_start`` is the link other tables use: ``socket_events`` and ``process_file_events`` store the
start of the process the tree knows under the event's pid, so ``(pid, process_start)`` joins
``process_tree``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["FORK_SYSCALLS", "TREE_SYSCALLS", "PROCESS_TREE", "rules", "reload_rows"]

CLONE_THREAD = 0x10000
CLONE_PARENT = 0x8000
FORK_SYSCALLS = frozenset(("fork", "vfork", "clone", "clone3"))
EXIT_SYSCALLS = frozenset(("exit_group",))
#: the syscalls (besides execs) whose events the tracker reads
TREE_SYSCALLS = FORK_SYSCALLS | EXIT_SYSCALLS
#: the key of the builtin rules
RULE_KEY = "auditsql_tree"
#: arches whose clone(2) takes the flags as the second argument
_FLAGS_IN_A1 = frozenset(("s390", "s390x"))


# -- the table -------------------------------------------------------------------------------------------------


def _key_index(store: str, scope: tuple[str, ...]) -> str:
    cols = ", ".join((*scope, "pid", "process_start"))  # scope: TreeTable.upsert_key's node, host before it
    return f"CREATE UNIQUE INDEX IF NOT EXISTS process_tree_key ON {store}({cols});"


def _ancestry_view(store: str, scope: tuple[str, ...], out: tuple[str, ...], joins: str) -> str:
    """``process_ancestry``: every (process, ancestor, depth), following (parent, parent_start) within a scope
    (``node``; ``host, node`` in the central store of ``auditsql collect``). ``scope`` names the storage
    table's columns (``host_id`` there), ``out`` the view's, ``joins`` the lookup tables that give them."""
    cols = ", ".join(scope)
    a_cols = ", ".join(f"a.{c}" for c in scope)
    join = " AND ".join(f"t.{c} = a.{c}" for c in scope)
    return (
        "CREATE VIEW IF NOT EXISTS process_ancestry AS "
        f"WITH RECURSIVE a({cols}, pid, process_start, ancestor_pid, ancestor_start, depth) AS ("
        f"SELECT {cols}, pid, process_start, parent, parent_start, 1 FROM {store} WHERE parent IS NOT NULL "
        "UNION ALL "
        f"SELECT {a_cols}, a.pid, a.process_start, t.parent, t.parent_start, a.depth + 1 "
        f"FROM a JOIN {store} t ON {join} AND t.pid = a.ancestor_pid "
        "AND t.process_start = a.ancestor_start "
        "WHERE t.parent IS NOT NULL AND a.depth < 256) "
        f"SELECT {', '.join(out)}, pid, process_start, ancestor_pid, ancestor_start, depth FROM a{joins};"
    )


@dataclass(frozen=True)
class TreeTable(Table):
    """A table whose rows are upserted on a unique key, with a helper view; retention keeps live rows."""

    #: SQL condition a row must meet to be deleted by retention (rows of live processes are kept)
    retention_keep: str = "exit_time IS NOT NULL"
    #: the unique key rows are upserted on (the central stores put ``host`` before it)
    upsert_key: tuple[str, ...] = ("node", "pid", "process_start")

    def ddl(self) -> str:
        scope = ("host", "node") if "host" in self.column_names else ("node",)  # the central store
        stored = tuple(map(self.stored_name, scope))
        joins = self.from_clause()[len(self.storage) :]
        view = _ancestry_view(self.storage, stored, scope, joins)
        return super().ddl() + "\n" + _key_index(self.storage, stored) + "\n" + view

    def insert_sql(self) -> str:
        return "INSERT OR REPLACE" + super().insert_sql()[len("INSERT") :]


PROCESS_TREE = register(
    TreeTable(
        name="process_tree",
        description="One row per process lifetime, keyed by (`pid`, `process_start`): who started it "
        "(`parent`, `parent_start`), what it runs now, when it exited. Filled from forks and exits "
        "(the kernel's proc connector, or audited fork/vfork/clone/clone3 and exit_group: `[tables] tree_source`) "
        "and audited execs, seeded from /proc at start and kept across restarts (docs/process-tree.md). A row is updated in place when the process execs or exits.",
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
                "Start time (UNIX seconds): the fork's time (the proc connector's notice, or the audited "
                "fork's event), or boot time + /proc starttime; with `pid` the process's key",
            ),
            Column(
                "parent", "BIGINT", "PID of the process that created this one (for /proc seeds: the ppid)"
            ),
            Column(
                "parent_start", "DOUBLE", "The parent's `process_start` (NULL when the parent is unknown)"
            ),
            Column("path", "TEXT", "Executable: the last exec's `exe`, else the parent's (a fork runs it)"),
            Column("cmdline", "TEXT", "Command line of the last exec (arguments joined by spaces)"),
            Column(
                "argv",
                "TEXT",
                "Arguments of the last exec as a JSON array of strings, each by `cmdline`'s text rule (as "
                "`process_events.argv`; a fork shares its parent's, a /proc seed has /proc's); kept so that a "
                "process taken back at a restart has its arguments (NULL in rows written before)",
            ),
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
            Column(
                "exit_code",
                "BIGINT",
                "Exit status given to `exit`/`exit_group` (NULL when not seen or killed by a signal)",
            ),
            Column(
                "exit_source",
                "TEXT",
                "How the exit was learnt: `exit_group` (it exited); `signal` (killed by a signal: the proc "
                "connector tells); `proc` (gone from /proc at the periodic check: "
                "`exit_time` is the check); `reuse` (its pid was forked again); `restart` (gone while "
                "auditsql was not running: `exit_time` is the restart)",
            ),
            Column(
                "source",
                "TEXT",
                "How the process became known: `fork` (its fork: the proc connector's notice or the audited "
                "fork/clone), `exec` (its exec came first: "
                "the parent's fork was not seen), `proc` (seeded from /proc)",
            ),
            Column(
                "syscall",
                "TEXT",
                "The audited syscall that created it: fork, vfork, clone, clone3 (NULL when the fork came from the "
                "proc connector, which does not say)",
            ),
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


def rules(flags: object, connector: bool = False) -> list[tuple[str, str]]:
    """The builtin rules of the process tree as (origin, auditctl line), for ``LivePlan.extra_rules``.

    ``flags`` is the ``Config``, its ``[tables]`` section, or a bool (process_tree on). Thread clones are
    excluded in the kernel with a ``never`` rule placed before the rule that audits fork, vfork, clone,
    clone3 and exit_group. None when the tree reads the proc connector (``connector``: auditsql.kernel.connector)
    instead."""
    if not _enabled(flags) or connector:
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


# -- the tracker -----------------------------------------------------------------------------------------------


# -- restart ---------------------------------------------------------------------------------------------------


def reload_rows(conn: Any) -> list[tuple]:
    """The previous run's processes not yet exited, as stored (``PROCESS_TREE`` column order), for the native
    tree's reload (``Pipeline.tree_reload``); empty when the store has no tree yet."""
    cols = ", ".join(PROCESS_TREE.column_names)
    try:
        return conn.execute(f"SELECT {cols} FROM process_tree WHERE exit_time IS NULL").fetchall()
    except Exception:  # no table yet (sqlite3.OperationalError), or a store of another shape
        return []

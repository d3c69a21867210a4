"""``process_events``: one row per ``execve``/``execveat``, osquery's columns plus auditsql's extensions.

Mapping (osquery's ``AuditProcessEventSubscriber`` is the reference, its defects fixed):

* ``cmdline`` is every argument of the ``EXECVE`` records, in numeric order (osquery iterates a sorted map, so
  ``a10`` comes before ``a2``), at full length with split arguments (``aN[0]``, ``aN[1]``...) joined (osquery
  keeps ``aN_len`` and the pieces as separate words), joined by single spaces without quoting, as osquery
  joins them. ``cmdline_size`` is the byte length of that command line. ``argv`` (extension) is the JSON
  array of the arguments in the byte-string encoding of ``docs/event-json.md``, which gives the exact bytes
  back, also where ``cmdline`` is ambiguous (an argument with a space, bytes that are not UTF-8).
* ``path`` is the ``exe=`` of the ``SYSCALL`` record (the new program); ``mode``, ``owner_uid``,
  ``owner_gid`` come from the first ``PATH`` record (the file named in the call: for a script, the script),
  ``mode`` written as the kernel writes it (``0100755``).
* ``atime``/``mtime``/``ctime``/``btime``: osquery ``stat()``s the path when it inserts the row (so the
  times describe the file at insertion, not at the exec, and imported logs would get this host's files).
  auditsql leaves them NULL unless ``STAT_EXECUTABLE`` is set (``auditsql.tables.configure(
  stat_executable=True)``), which does what osquery does (``btime`` 0).
* Failed execs (``success=no``) are not rows unless ``INCLUDE_FAILED_EXECS`` is set
  (``auditsql.tables.configure(include_failed_execs=True)``, which the agent config sets; osquery only
  records successful execs). A failed exec's row has ``status`` ``failed``, ``exit_code`` (``-2``) and ``errno``
  (``ENOENT``); its ``path`` is the name the call was given (the first ``PATH`` record; the ``SYSCALL``
  ``exe=`` is the calling program's), and ``cmdline``/``argv`` are NULL: the kernel writes no ``EXECVE``
  record for an exec that failed.
* ``env``, ``env_count``, ``env_size``: audit does not record the environment; NULL (osquery writes ``""``
  and ``0``).
* ``parent_path``, ``parent_cmdline``, ``process_start``, ``container_id`` (extensions) come from the process
  tree (``auditsql.tables.proctree``), NULL when it is off. With ``[tables] fork_events`` the tree also adds
  fork rows, as osquery's ``--audit_allow_fork_process_events``: ``syscall`` fork/vfork/clone/clone3, ``pid``
  the child, ``parent`` the caller, ``path`` the caller's exe, ``cmdline`` NULL (osquery: empty); threads
  are left out.
"""

from __future__ import annotations

import os
import re

from auditsql.records.encoding import unescape
from auditsql.tables._common import as_int, event_columns, first_section, text, to_json
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["PROCESS_EVENTS", "EXEC_SYSCALLS", "INCLUDE_FAILED_EXECS", "STAT_EXECUTABLE", "process_rows"]

#: record failed execs too (``status='failed'``); osquery records only successful ones. The agent config sets it.
INCLUDE_FAILED_EXECS = False
#: ``stat()`` the executable at insertion for atime/mtime/ctime, as osquery does; off: those columns are NULL
STAT_EXECUTABLE = False

EXEC_SYSCALLS = frozenset(("execve", "execveat"))
_NO_TREE = (None, None, None, None)
# summary warnings that mean the EXECVE records did not add up (see auditsql.events.interpret.execve_argv)
_ARGV_WARNINGS = ("argc", "argument indexes")
_PIECE_WARNING = re.compile(r"a[0-9]+: ")

PROCESS_EVENTS = register(
    Table(
        name="process_events",
        description="Process executions (`execve`, `execveat`) from the audit SYSCALL, EXECVE, CWD and PATH "
        "records of each exec.",
        osquery="process_events",
        indexes=(("path", "time"), ("auid", "time"), ("uid", "time")),
        columns=(
            Column("pid", "BIGINT", "Process (or thread) ID", index=True),
            Column("path", "TEXT", "Path of executed file (the SYSCALL record's `exe`)", index=True),
            Column(
                "mode",
                "TEXT",
                "File mode permissions of the file named in the call, as the kernel writes it (`0100755`)",
            ),
            Column(
                "cmdline",
                "TEXT",
                "Command line arguments (argv): every argument, in order, full length, joined by spaces",
            ),
            Column("cmdline_size", "BIGINT", "Actual size (bytes) of command line arguments", hidden=True),
            Column(
                "env",
                "TEXT",
                "Environment variables delimited by spaces (not recorded by audit: NULL)",
                hidden=True,
            ),
            Column(
                "env_count",
                "BIGINT",
                "Number of environment variables (not recorded by audit: NULL)",
                hidden=True,
            ),
            Column(
                "env_size",
                "BIGINT",
                "Actual size (bytes) of environment list (not recorded by audit: NULL)",
                hidden=True,
            ),
            Column("cwd", "TEXT", "The process current working directory"),
            Column("auid", "BIGINT", "Audit User ID at process start", index=True),
            Column("uid", "BIGINT", "User ID at process start"),
            Column("euid", "BIGINT", "Effective user ID at process start"),
            Column("gid", "BIGINT", "Group ID at process start"),
            Column("egid", "BIGINT", "Effective group ID at process start"),
            Column("owner_uid", "BIGINT", "File owner user ID (`ouid` of the first PATH record)"),
            Column("owner_gid", "BIGINT", "File owner group ID (`ogid` of the first PATH record)"),
            Column("atime", "BIGINT", "File last access in UNIX time (NULL unless stat is enabled)"),
            Column("mtime", "BIGINT", "File modification in UNIX time (NULL unless stat is enabled)"),
            Column("ctime", "BIGINT", "File last metadata change in UNIX time (NULL unless stat is enabled)"),
            Column(
                "btime", "BIGINT", "File creation in UNIX time (NULL; 0 when stat is enabled, as osquery)"
            ),
            Column(
                "overflows",
                "TEXT",
                "List of structures that overflowed: `cmdline` when the EXECVE records "
                "were incomplete (missing pieces, argc mismatch), else empty",
                hidden=True,
            ),
            Column("parent", "BIGINT", "Process parent's PID (`ppid`)", index=True),
            Column("fsuid", "BIGINT", "Filesystem user ID at process start"),
            Column("suid", "BIGINT", "Saved user ID at process start"),
            Column("fsgid", "BIGINT", "Filesystem group ID at process start"),
            Column("sgid", "BIGINT", "Saved group ID at process start"),
            Column("syscall", "TEXT", "Syscall name: execve, execveat"),
            Column(
                "argv",
                "TEXT",
                "JSON array of the arguments, each in the byte-string encoding of "
                "docs/event-json.md (`%xx` escapes; exact bytes)",
                extension=True,
            ),
            Column("argc", "BIGINT", "Number of arguments received", extension=True),
            Column(
                "status",
                "TEXT",
                "`succeeded`, or `failed` (rows of failed execs exist only when enabled)",
                extension=True,
            ),
            Column("exit_code", "BIGINT", "The syscall's return value (0, or -errno)", extension=True),
            Column("errno", "TEXT", "Error name of a failed exec (`ENOENT`), else NULL", extension=True),
            Column("ses", "BIGINT", "Audit session ID", extension=True),
            Column("tty", "TEXT", "Controlling terminal (`pts1`, `(none)`)", extension=True),
            Column("comm", "TEXT", "Command name (the kernel's 16-byte `comm`)", extension=True),
            Column("key", "TEXT", "Key of the audit rule that recorded the event", extension=True),
            Column(
                "parent_path",
                "TEXT",
                "The parent's executable, from the process tree (NULL when the tree is off or does not "
                "know the parent)",
                extension=True,
            ),
            Column(
                "parent_cmdline", "TEXT", "The parent's command line, from the process tree", extension=True
            ),
            Column(
                "process_start",
                "DOUBLE",
                "Start time (UNIX seconds) of the process in the process tree: with `pid`, the key of its "
                "`process_tree` row",
                extension=True,
            ),
            Column(
                "container_id",
                "TEXT",
                "Container ID from the process's cgroup (process tree), NULL outside a container",
                extension=True,
            ),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)


def _mode(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("0o"):
        return "0" + value[2:]
    return text(value)


def process_rows(
    event: dict, summary: dict, uptime_base: float | None, tree: tuple | None = None
) -> list[tuple]:
    """The ``process_events`` row of an exec event (empty for any other event). ``tree``: the process tree's
    (parent_path, parent_cmdline, process_start, container_id) for it (``auditsql.tables.proctree``)."""
    if summary.get("syscall") not in EXEC_SYSCALLS:
        return []
    success = summary.get("success")
    failed = success is False
    if failed and not INCLUDE_FAILED_EXECS:
        return []
    time, uptime, eid = event_columns(event, uptime_base)
    argv = summary.get("argv")
    cmdline = cmdline_size = argv_json = argc = None
    overflows = ""
    if isinstance(argv, list):
        cmdline = " ".join([text(a) or "" for a in argv])
        cmdline_size = sum([len(unescape(a)) if "%" in a else len(a.encode()) for a in argv])
        cmdline_size += max(0, len(argv) - 1)
        argv_json = to_json(argv)
        argc = len(argv)
        for w in summary.get("warnings") or ():
            if w.startswith(_ARGV_WARNINGS) or _PIECE_WARNING.match(w):
                overflows = "cmdline"
                break
    paths = event.get("PATH")
    first_path = paths[0] if isinstance(paths, list) and paths and isinstance(paths[0], dict) else None
    mode = owner_uid = owner_gid = None
    if first_path is not None:
        mode = _mode(first_path.get("mode"))
        owner_uid = as_int(first_path.get("ouid"))
        owner_gid = as_int(first_path.get("ogid"))
    if failed:
        path = text(first_path.get("name")) if first_path is not None else None
    else:
        path = text(summary.get("exe"))
    atime = mtime = ctime = btime = None
    if STAT_EXECUTABLE and path:
        try:
            st = os.stat(path)
        except OSError:
            atime = mtime = ctime = 0
        else:
            atime, mtime, ctime = int(st.st_atime), int(st.st_mtime), int(st.st_ctime)
        btime = 0
    cwd = first_section(event, "CWD")
    exit_code = summary.get("exit")
    g = summary.get
    row = (
        g("pid"),
        path,
        mode,
        cmdline,
        cmdline_size,
        None,
        None,
        None,
        text(cwd.get("cwd")) if cwd is not None else None,
        g("auid"),
        g("uid"),
        g("euid"),
        g("gid"),
        g("egid"),
        owner_uid,
        owner_gid,
        atime,
        mtime,
        ctime,
        btime,
        overflows,
        g("ppid"),
        g("fsuid"),
        g("suid"),
        g("fsgid"),
        g("sgid"),
        g("syscall"),
        argv_json,
        argc,
        "failed" if failed else "succeeded",
        exit_code if isinstance(exit_code, int) else as_int(exit_code),
        g("errno") if failed else None,
        g("ses"),
        text(g("tty")),
        text(g("comm")),
        text(g("key")),
        *(tree or _NO_TREE),
        time,
        uptime,
        eid,
    )
    return [row]

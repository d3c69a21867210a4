"""``process_events``: one row per ``execve``/``execveat``, osquery's columns plus auditsql's extensions.

Mapping (osquery's ``AuditProcessEventSubscriber`` is the reference, its defects fixed):

* ``cmdline`` is every argument of the ``EXECVE`` records, in numeric order (osquery iterates a sorted map, so
  ``a10`` comes before ``a2``), at full length with split arguments (``aN[0]``, ``aN[1]``...) joined (osquery
  keeps ``aN_len`` and the pieces as separate words), joined by single spaces without quoting, as osquery
  joins them. ``cmdline_size`` is the byte length of that command line. ``argv`` (extension) is the JSON
  array of the arguments as text, each by the rule of ``cmdline`` (UTF-8; a byte that is not UTF-8 as
  ``\\xNN``; JSON escapes control characters itself), so ``json_each(argv)`` finds ``g++`` and ``+%s`` as they
  were typed and tells apart what ``cmdline`` cannot (``a "b c"`` and ``a b c``). The percent-encoding of
  the event JSON (``g%2b%2b``) is not used in a SQL column; the exact bytes stay in ``audit_events``
  (``audit_field(blob, 'EXECVE', 'a1')``, ``json_extract(summary, '$.argv')``).
* ``path`` is the ``exe=`` of the ``SYSCALL`` record (the new program); ``mode``, ``owner_uid``,
  ``owner_gid`` come from the first ``PATH`` record (the file named in the call: for a script, the script),
  ``mode`` written as the kernel writes it (``0100755``).
* ``atime``/``mtime``/``ctime``/``btime``: osquery ``stat()``s the path when it inserts the row (so the
  times describe the file at insertion, not at the exec, and imported logs would get this host's files).
  auditsql leaves them NULL unless ``[tables] stat_executable`` is set (``Settings(stat_executable=True)``),
  which does what osquery does (``btime`` 0).
* Failed execs (``success=no``) are not rows unless ``[tables] include_failed_execs`` is set
  (``Settings(include_failed_execs=True)``; osquery only
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

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["PROCESS_EVENTS"]


# summary warnings that mean the EXECVE records did not add up (see auditsql.events.interpret.execve_argv)

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
                "JSON array of the arguments as text, each by the rule of `cmdline` (a byte that is not UTF-8 "
                "as `\\xNN`): `json_each(argv)` finds `g++`, `+%s`, a tab as they are",
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

"""``seccomp_events``: one row per ``SECCOMP`` record (a seccomp filter logged or acted on a syscall).

As osquery's ``SeccompEventSubscriber``: ``arch`` by name in upper case (``X86_64``), ``syscall`` by name,
``code`` by the seccomp action name. Fixed: ``syscall`` is named for every arch auditsql has a table for
(osquery names x86_64 only, and writes other arches' numbers); ``code`` is the action of the return value's
action bits (``SECCOMP_RET_ACTION_FULL``), so ``ERRNO`` with its errno data is ``ERRNO`` (osquery looks the
whole value up and writes ``327681(unknown)``), the data being the extension column ``code_data``; ``comm`` and
``exe`` are decoded (osquery keeps their quotes).
"""

from __future__ import annotations

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["SECCOMP_EVENTS", "SECCOMP_ACTIONS"]

SECCOMP_EVENTS = register(
    Table(
        name="seccomp_events",
        description="Seccomp filter actions that were logged (`SECCOMP` records): the process, the syscall and "
        "what the filter did.",
        osquery="seccomp_events",
        columns=(
            Column(
                "auid",
                "UNSIGNED_BIGINT",
                "Audit user ID (loginuid) of the user who started the analyzed process",
            ),
            Column("uid", "UNSIGNED_BIGINT", "User ID of the user who started the analyzed process"),
            Column("gid", "UNSIGNED_BIGINT", "Group ID of the user who started the analyzed process"),
            Column(
                "ses",
                "UNSIGNED_BIGINT",
                "Session ID of the session from which the analyzed process was invoked",
            ),
            Column("pid", "UNSIGNED_BIGINT", "Process ID", index=True),
            Column(
                "comm",
                "TEXT",
                "Command-line name of the command that was used to invoke the analyzed process",
            ),
            Column("exe", "TEXT", "The path to the executable that was used to invoke the analyzed process"),
            Column("sig", "BIGINT", "Signal value sent to process by seccomp"),
            Column("arch", "TEXT", "Information about the CPU architecture (`X86_64`, `I386`)"),
            Column("syscall", "TEXT", "Type of the system call (its name)"),
            Column("compat", "BIGINT", "Is system call in compatibility mode"),
            Column("ip", "TEXT", "Instruction pointer value"),
            Column("code", "TEXT", "The seccomp action (`KILL_THREAD`, `ERRNO`, `LOG`...)"),
            Column(
                "code_data",
                "BIGINT",
                "The action's data (the low 16 bits: the errno of `ERRNO`)",
                extension=True,
            ),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

#: SECCOMP_RET_* action values (linux/seccomp.h) under SECCOMP_RET_ACTION_FULL
SECCOMP_ACTIONS = {
    0x80000000: "KILL_PROCESS",
    0x00000000: "KILL_THREAD",
    0x00030000: "TRAP",
    0x00050000: "ERRNO",
    0x7FC00000: "USER_NOTIF",
    0x7FF00000: "TRACE",
    0x7FFC0000: "LOG",
    0x7FFF0000: "ALLOW",
}

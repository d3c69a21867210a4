"""``selinux_events`` and ``apparmor_events``: one row per MAC record.

osquery sends record types ``USER_AVC`` and 1400-1417 (``AVC``, ``SELINUX_ERR``, ``MAC_POLICY_LOAD``,
``MAC_STATUS``...) to ``selinux_events``, except an ``AVC`` record with an ``apparmor=`` field, which goes to
``apparmor_events`` with type ``AA``; ``message`` is the record as the kernel sent it
(``audit(SEC.MSEC:SERIAL): body``). auditsql does the same, and:

* ``USER_AVC`` really reaches ``selinux_events`` (osquery's user-message range is checked first, so its
  ``USER_AVC`` rows only ever land in ``user_events``; here they are in both); a ``USER_AVC`` whose payload has
  ``apparmor=`` (D-Bus mediation) goes to ``apparmor_events`` instead;
* the whole SELinux range 1400-1499 is taken (``MAC_CALIPSO_ADD``/``DEL`` too), and the user-space SELinux
  types osquery documents but could not find in its headers: ``USER_SELINUX_ERR``, ``USER_ROLE_CHANGE``,
  ``USER_LABELED_EXPORT``, ``USER_MAC_POLICY_LOAD``;
* AppArmor's own record types 1500-1599 (``APPARMOR_DENIED``... written by older kernels) go to
  ``apparmor_events`` with their type name;
* fields that a record does not have are NULL (osquery writes ``""`` and ``0``).
"""

from __future__ import annotations

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["SELINUX_EVENTS", "APPARMOR_EVENTS"]

SELINUX_EVENTS = register(
    Table(
        name="selinux_events",
        description="SELinux records: AVC decisions (kernel `AVC`, user-space `USER_AVC`), policy loads, "
        "status changes, labeled networking (record types 1400-1499 and the user-space SELinux types).",
        osquery="selinux_events",
        columns=(
            Column(
                "type",
                "TEXT",
                "Event type (the record type name: `AVC`, `USER_AVC`, `MAC_POLICY_LOAD`)",
                index=True,
            ),
            Column(
                "message", "TEXT", "Message: the record as the kernel sent it (`audit(SEC.MSEC:SERIAL): …`)"
            ),
            Column("pid", "BIGINT", "Process ID", extension=True),
            Column("comm", "TEXT", "Command name", extension=True),
            Column("result", "TEXT", "AVC decision: `denied` or `granted`", extension=True),
            Column("permissions", "TEXT", "AVC permissions, space separated (`read write`)", extension=True),
            Column("scontext", "TEXT", "Source (subject) security context", extension=True),
            Column("tcontext", "TEXT", "Target (object) security context", extension=True),
            Column("tclass", "TEXT", "Target object class", extension=True),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

APPARMOR_EVENTS = register(
    Table(
        name="apparmor_events",
        description="AppArmor records: `AVC` records with an `apparmor=` field (how current kernels write "
        "AppArmor events), `USER_AVC` with `apparmor=`, and the record types 1500-1599.",
        osquery="apparmor_events",
        columns=(
            Column(
                "type",
                "TEXT",
                "Event type: `AA` for an AVC record (as osquery), else the record type name",
                index=True,
            ),
            Column("message", "TEXT", "Raw audit message (`audit(SEC.MSEC:SERIAL): …`)"),
            Column("apparmor", "TEXT", "Apparmor Status like ALLOWED, DENIED etc.", index=True),
            Column("operation", "TEXT", "Permission requested by the process"),
            Column("parent", "UNSIGNED_BIGINT", "Parent process PID"),
            Column("profile", "TEXT", "Apparmor profile name"),
            Column("name", "TEXT", "Process name"),
            Column("pid", "UNSIGNED_BIGINT", "Process ID"),
            Column(
                "comm",
                "TEXT",
                "Command-line name of the command that was used to invoke the analyzed process",
            ),
            Column("denied_mask", "TEXT", "Denied permissions for the process"),
            Column("capname", "TEXT", "Capability requested by the process"),
            Column("fsuid", "UNSIGNED_BIGINT", "Filesystem user ID"),
            Column("ouid", "UNSIGNED_BIGINT", "Object owner's user ID"),
            Column("capability", "BIGINT", "Capability number"),
            Column("requested_mask", "TEXT", "Requested access mask"),
            Column("info", "TEXT", "Additional information"),
            Column("error", "TEXT", "Error information"),
            Column("namespace", "TEXT", "AppArmor namespace"),
            Column("label", "TEXT", "AppArmor label"),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

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

import re

from auditsql.tables._common import as_int, event_columns, raw_by_name, record_message, text
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["SELINUX_EVENTS", "APPARMOR_EVENTS", "mac_kind", "mac_rows"]

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

_SELINUX_USER_TYPES = frozenset(
    ("USER_SELINUX_ERR", "USER_ROLE_CHANGE", "USER_LABELED_EXPORT", "USER_MAC_POLICY_LOAD")
)
_AVC_TEXT = re.compile(r"avc:\s+(denied|granted)\s+\{\s*([^}]*?)\s*\}")
_AA_TEXT = (
    "apparmor",
    "operation",
    "profile",
    "name",
    "comm",
    "denied_mask",
    "capname",
    "requested_mask",
    "info",
    "error",
    "namespace",
    "label",
)


def mac_kind(name: str, number: int, sec: object) -> str | None:
    """``selinux``/``apparmor`` for a MAC record section, else None."""
    if number == 1400 or number == 1107:  # AVC, USER_AVC: AppArmor writes these too
        src = sec
        if number == 1107 and isinstance(sec, dict) and isinstance(sec.get("msg"), dict):
            src = sec["msg"]
        if isinstance(src, dict) and "apparmor" in src:
            return "apparmor"
        return "selinux"
    if 1401 <= number <= 1499 or name in _SELINUX_USER_TYPES:
        return "selinux"
    if 1500 <= number <= 1599:
        return "apparmor"
    return None


def _selinux_row(name: str, sec: dict, message: str | None, common: tuple) -> tuple:
    src = sec.get("msg") if isinstance(sec.get("msg"), dict) else sec
    result = perms = None
    for r in ("denied", "granted"):
        v = sec.get(r)
        if isinstance(v, list):
            result, perms = r, " ".join(str(p) for p in v)
            break
    if result is None:
        m = _AVC_TEXT.search(str(src.get("_text") or ""))
        if m:
            result, perms = m.group(1), " ".join(m.group(2).split())
    return (
        name,
        message,
        as_int(sec.get("pid")),
        text(src.get("comm") if src.get("comm") is not None else sec.get("comm")),
        result,
        perms,
        text(src.get("scontext")),
        text(src.get("tcontext")),
        text(src.get("tclass")),
        *common,
    )


def _apparmor_row(name: str, number: int, sec: dict, message: str | None, common: tuple) -> tuple:
    src = sec.get("msg") if isinstance(sec.get("msg"), dict) else sec
    v = {k: text(src.get(k)) for k in _AA_TEXT}
    return (
        "AA" if number == 1400 else name,
        message,
        v["apparmor"],
        v["operation"],
        as_int(src.get("parent")),
        v["profile"],
        v["name"],
        as_int(src.get("pid") if src.get("pid") is not None else sec.get("pid")),
        v["comm"],
        v["denied_mask"],
        v["capname"],
        as_int(src.get("fsuid")),
        as_int(src.get("ouid")),
        as_int(src.get("capability")),
        v["requested_mask"],
        v["info"],
        v["error"],
        v["namespace"],
        v["label"],
        *common,
    )


def mac_rows(
    event: dict, sections: list[tuple[str, int]], uptime_base: float | None
) -> list[tuple[str, tuple]]:
    """Rows for the MAC sections ``(name, type number)`` of the event."""
    common = event_columns(event, uptime_base)
    raws = raw_by_name(event, frozenset(n for n, _ in sections))
    out: list[tuple[str, tuple]] = []
    for name, number in sections:
        secs = event.get(name)
        if not isinstance(secs, list):
            secs = [secs]
        recs = raws.get(name, [])
        for k, sec in enumerate(secs):
            if not isinstance(sec, dict):
                continue
            kind = mac_kind(name, number, sec)
            message = record_message(recs[k]) if k < len(recs) else None
            if kind == "selinux":
                out.append(("selinux_events", _selinux_row(name, sec, message, common)))
            elif kind == "apparmor":
                out.append(("apparmor_events", _apparmor_row(name, number, sec, message, common)))
    return out

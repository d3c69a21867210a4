"""``user_events``: one row per user-space message record (PAM, login, account management...).

osquery's ``UserEventSubscriber`` takes record types ``AUDIT_FIRST_USER_MSG``..``AUDIT_LAST_USER_MSG``
(1100-1199: ``USER_AUTH``, ``USER_ACCT``, ``USER_LOGIN``, ``CRED_ACQ``, ``USER_CMD``...). auditsql also takes
the second user-space range ``AUDIT_FIRST_USER_MSG2``..``AUDIT_LAST_USER_MSG2`` (2100-2999: ``ANOM_LOGIN_*``,
``USER_ROLE_CHANGE``, ``CRYPTO_*``, ``VIRT_*``...), which the kernel relays from programs the same way. The
kernel's own ``LOGIN`` record (1006, a login uid change, written with its SYSCALL record) is not a user-space
message and is not a row (it is in ``audit_events``).

Fixes: ``message`` is the **whole** ``msg='…'`` payload without its quotes (osquery splits records at spaces
and keeps the payload's first word only, ``op=PAM:authentication``); ``path``, ``address`` and
``terminal`` come from the parsed payload (``exe``, ``addr``, ``terminal``; ``?`` is NULL), and the payload's
``op``, ``acct``, ``id``, ``hostname``, ``res`` are columns of their own.
"""

from __future__ import annotations

from auditsql.records._msgtypes import MSG_NUMBERS
from auditsql.tables._common import as_int, event_columns, raw_by_name, text, token_text
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["USER_EVENTS", "is_user_type", "user_rows", "type_number"]

USER_EVENTS = register(
    Table(
        name="user_events",
        description="User-space audit messages (record types 1100-1199 and 2100-2999): PAM authentication "
        "and accounting, logins, credential changes, account management, commands run through sudo...",
        osquery="user_events",
        columns=(
            Column("uid", "BIGINT", "User ID", index=True),
            Column("auid", "BIGINT", "Audit User ID", index=True),
            Column("pid", "BIGINT", "Process (or thread) ID", index=True),
            Column("message", "TEXT", "The whole `msg='…'` payload, without its quotes"),
            Column("type", "INTEGER", "The record type number (1112 for USER_LOGIN)", index=True),
            Column("path", "TEXT", "The program that sent the message (`exe` of the payload)"),
            Column("address", "TEXT", "The remote address (`addr` of the payload)"),
            Column("terminal", "TEXT", "The terminal (`terminal` of the payload)"),
            Column("type_name", "TEXT", "The record type name (`USER_LOGIN`)", extension=True),
            Column("ses", "BIGINT", "Audit session ID", extension=True),
            Column(
                "op",
                "TEXT",
                "The operation (`op` of the payload: `PAM:authentication`, `login`...)",
                extension=True,
            ),
            Column(
                "acct", "TEXT", "The account the message is about (`acct` of the payload)", extension=True
            ),
            Column("id", "TEXT", "The account ID the message is about (`id` of the payload)", extension=True),
            Column("hostname", "TEXT", "The remote host name (`hostname` of the payload)", extension=True),
            Column("res", "TEXT", "The result: `success` or `failed` (`res` of the payload)", extension=True),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

_TYPE_CACHE: dict[str, int] = {}


def type_number(name: str) -> int:
    """A section name → its record type number (``USER_LOGIN`` → 1112, ``UNKNOWN[1420]`` → 1420; else 0)."""
    n = _TYPE_CACHE.get(name)
    if n is None:
        n = MSG_NUMBERS.get(name, 0)
        if not n and name.startswith("UNKNOWN[") and name.endswith("]"):
            n = as_int(name[8:-1]) or 0
        if len(_TYPE_CACHE) < 4096:
            _TYPE_CACHE[name] = n
    return n


def is_user_type(n: int) -> bool:
    return 1100 <= n <= 1199 or 2100 <= n <= 2999


def _payload(token: str | None) -> str | None:
    if token is None:
        return None
    if len(token) >= 2 and token[0] == "'" and token[-1] == "'":
        token = token[1:-1]
    return token_text(token)


def _get(src: dict, sec: dict, key: str) -> object:
    v = src.get(key)
    return sec.get(key) if v is None and src is not sec else v


def user_rows(event: dict, names: list[str], uptime_base: float | None) -> list[tuple]:
    """One ``user_events`` row per record of the user-space section ``names`` of the event."""
    time, uptime, eid = event_columns(event, uptime_base)
    raws = raw_by_name(event, frozenset(names))
    rows: list[tuple] = []
    for name in names:
        secs = event.get(name)
        if not isinstance(secs, list):
            secs = [secs]
        recs = raws.get(name, [])
        for k, sec in enumerate(secs):
            if not isinstance(sec, dict):
                continue
            msg = sec.get("msg")
            src = msg if isinstance(msg, dict) else sec
            message = _payload(recs[k].get("msg")) if k < len(recs) else None
            rows.append(
                (
                    as_int(sec.get("uid")),
                    as_int(sec.get("auid")),
                    as_int(sec.get("pid")),
                    message,
                    type_number(name),
                    text(_get(src, sec, "exe")),
                    text(_get(src, sec, "addr")),
                    text(_get(src, sec, "terminal")),
                    name,
                    as_int(sec.get("ses")),
                    text(_get(src, sec, "op")),
                    text(_get(src, sec, "acct")),
                    text(_get(src, sec, "id")),
                    text(_get(src, sec, "hostname")),
                    text(_get(src, sec, "res")),
                    time,
                    uptime,
                    eid,
                )
            )
    return rows

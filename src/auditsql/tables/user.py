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

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["USER_EVENTS"]

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

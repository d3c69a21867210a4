"""``socket_events``: one row per ``bind``, ``connect``, ``accept``/``accept4`` (and i386 ``socketcall``).

Mapping (osquery's ``SocketEventSubscriber`` is the reference, its defects fixed):

* ``status``: ``succeeded`` (``success=yes``); ``in_progress`` for a ``connect`` that returned ``EINPROGRESS``
  (non-blocking socket); ``no_client`` for an ``accept`` that returned ``EAGAIN``/``EWOULDBLOCK``
  (non-blocking, nobody waiting); ``failed`` otherwise. Failed rows are kept (osquery drops them unless
  ``audit_allow_failed_socket_events``); filter with ``status``. ``success`` (deprecated, as in osquery) is 0
  for ``failed``, else 1.
* The address is the ``SOCKADDR`` record: ``bind`` → ``local_address``/``local_port``; ``connect`` and
  ``accept`` → ``remote_address``/``remote_port`` (for ``accept`` the kernel writes the peer's address). The
  other side is NULL (osquery writes ``"0"``). IPv6 addresses are in their canonical short form
  (``fe80::1``; osquery writes all eight groups). AF_UNIX sockets (kept; osquery drops them unless
  ``audit_allow_unix``) have their path in ``socket``: ``@name`` for an abstract name, ``""`` for an unnamed
  socket. Other families (netlink, packet...) are rows too, with ``family`` set and no address.
* ``fd`` is the socket's file descriptor in decimal (osquery writes the ``a0`` hex digits as they are).
* ``protocol`` is not in these records. It is filled when the event stream also has the ``socket()`` call
  that created the descriptor (a rule on the ``socket`` syscall): the mapper remembers (node, pid, fd) →
  protocol from successful ``socket()`` events (protocol 0 resolved to TCP (6) for stream and UDP (17) for
  datagram inet sockets) and passes it to descriptors ``accept`` returns. NULL otherwise.
* i386's ``socketcall(call, args)``: ``call`` (``a0``) selects bind (2), connect (3), accept (5), accept4
  (18), socket (1); the descriptor is the first argument in the ``SOCKETCALL`` record (``a0``), NULL when the
  event has no ``SOCKETCALL`` record. ``syscall`` is then ``socketcall``.
"""

from __future__ import annotations

from collections import OrderedDict

from auditsql.events.sockaddr import family_name
from auditsql.tables._common import as_int, event_columns, first_section, text
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["SOCKET_EVENTS", "SOCKET_SYSCALLS", "socket_rows", "reset_state"]

SOCKET_EVENTS = register(
    Table(
        name="socket_events",
        description="Socket `bind`, `connect` and `accept`/`accept4` calls (also i386 `socketcall`), from the "
        "audit SYSCALL and SOCKADDR records; failed calls are rows too.",
        osquery="socket_events",
        columns=(
            Column("action", "TEXT", "The socket action: `bind`, `connect`, `accept`", index=True),
            Column("pid", "BIGINT", "Process (or thread) ID", index=True),
            Column("path", "TEXT", "Path of executed file", index=True),
            Column("fd", "TEXT", "The file descriptor of the socket (decimal)"),
            Column("auid", "BIGINT", "Audit User ID", index=True),
            Column(
                "status",
                "TEXT",
                "Either 'succeeded', 'failed', 'in_progress' (connect() on non-blocking "
                "socket) or 'no_client' (null accept() on non-blocking socket)",
            ),
            Column(
                "family", "INTEGER", "The address family ID of the sockaddr (2 inet, 10 inet6, 1 unix...)"
            ),
            Column(
                "protocol",
                "INTEGER",
                "The network protocol ID, when the socket() call was audited; else NULL",
                hidden=True,
            ),
            Column("local_address", "TEXT", "Local address associated with socket (bind)"),
            Column(
                "remote_address",
                "TEXT",
                "Remote address associated with socket (connect, accept)",
                index=True,
            ),
            Column("local_port", "INTEGER", "Local network protocol port number (bind)"),
            Column("remote_port", "INTEGER", "Remote network protocol port number (connect, accept)"),
            Column(
                "socket", "TEXT", "The UNIX domain socket path (`@name` for an abstract name)", hidden=True
            ),
            Column("success", "INTEGER", "Deprecated. Use the 'status' column instead", hidden=True),
            Column(
                "syscall", "TEXT", "Syscall name: bind, connect, accept, accept4, socketcall", extension=True
            ),
            Column(
                "exit_code",
                "BIGINT",
                "The syscall's return value (0, a new descriptor, or -errno)",
                extension=True,
            ),
            Column(
                "errno",
                "TEXT",
                "Error name when the call failed (`ECONNREFUSED`, `EINPROGRESS`)",
                extension=True,
            ),
            Column("ppid", "BIGINT", "Parent process ID", extension=True),
            Column("uid", "BIGINT", "User ID", extension=True),
            Column("euid", "BIGINT", "Effective user ID", extension=True),
            Column("gid", "BIGINT", "Group ID", extension=True),
            Column("ses", "BIGINT", "Audit session ID", extension=True),
            Column("comm", "TEXT", "Command name", extension=True),
            Column("key", "TEXT", "Key of the audit rule that recorded the event", extension=True),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

_ACTIONS = {"bind": "bind", "connect": "connect", "accept": "accept", "accept4": "accept"}
#: syscall names this table reads (``socket`` only feeds the protocol memory)
SOCKET_SYSCALLS = frozenset((*_ACTIONS, "socketcall", "socket"))
#: socketcall(2) call numbers (linux/net.h SYS_*)
_SOCKETCALLS = {1: "socket", 2: "bind", 3: "connect", 5: "accept", 18: "accept4"}
_FAMILY_NUMBERS = {family_name(n): n for n in range(64)}
_AF_INET, _AF_INET6 = 2, 10
_SOCK_STREAM, _SOCK_DGRAM = 1, 2
_IPPROTO_TCP, _IPPROTO_UDP = 6, 17

#: (node, pid, fd) → protocol, from audited socket() calls; bounded
_PROTOCOLS: OrderedDict[tuple[str | None, int, int], int] = OrderedDict()
_PROTOCOLS_MAX = 65536


def reset_state() -> None:
    """Forget the remembered socket protocols (tests, a new import)."""
    _PROTOCOLS.clear()


def _remember(key: tuple[str | None, int, int], protocol: int) -> None:
    _PROTOCOLS[key] = protocol
    _PROTOCOLS.move_to_end(key)
    if len(_PROTOCOLS) > _PROTOCOLS_MAX:
        _PROTOCOLS.popitem(last=False)


def _args(event: dict, name: str) -> tuple[str, list[int | None]]:
    """(call name, its arguments) of the event's syscall; socketcall unpacked from the SOCKETCALL record."""
    sc = first_section(event, "SYSCALL") or {}
    argv = sc.get("ARGV") or []
    args = [as_int(a, 16) for a in argv]
    if name != "socketcall":
        return name, args
    call = _SOCKETCALLS.get(args[0] if args and args[0] is not None else -1, "")
    rec = first_section(event, "SOCKETCALL")
    inner: list[int | None] = []
    if rec is not None:
        i = 0
        while f"a{i}" in rec:
            inner.append(as_int(rec[f"a{i}"], 16))
            i += 1
    return call, inner


def _protocol_of(family: int | None, stype: int | None, protocol: int | None) -> int | None:
    if protocol is None:
        return None
    if protocol == 0 and family in (_AF_INET, _AF_INET6) and stype is not None:
        base = stype & 0xF
        if base == _SOCK_STREAM:
            return _IPPROTO_TCP
        if base == _SOCK_DGRAM:
            return _IPPROTO_UDP
    return protocol


def socket_rows(event: dict, summary: dict, uptime_base: float | None) -> list[tuple]:
    """The ``socket_events`` row of a bind/connect/accept event (empty for any other event)."""
    name = summary.get("syscall")
    if name not in SOCKET_SYSCALLS:
        return []
    call, args = _args(event, name)
    g = summary.get
    node = event.get("NODE")
    pid = g("pid")
    exit_code = g("exit")
    exit_code = exit_code if isinstance(exit_code, int) else as_int(exit_code)
    success = g("success")
    if success is None:  # no success= field (an odd or interpreted log): judge by the return value
        success = not (isinstance(exit_code, int) and exit_code < 0)
    fd = args[0] if args else None
    if call == "socket":
        if success is True and isinstance(pid, int) and isinstance(exit_code, int) and len(args) >= 3:
            proto = _protocol_of(args[0], args[1], args[2])
            if proto is not None:
                _remember((node, pid, exit_code), proto)
        return []
    action = _ACTIONS.get(call)
    if action is None:
        return []
    protocol = _PROTOCOLS.get((node, pid, fd)) if isinstance(pid, int) and fd is not None else None
    errno = g("errno") if isinstance(g("errno"), str) else None
    if success is True:
        status = "succeeded"
        if (
            action == "accept"
            and protocol is not None
            and isinstance(pid, int)
            and isinstance(exit_code, int)
        ):
            _remember((node, pid, exit_code), protocol)
    elif action == "connect" and errno == "EINPROGRESS":
        status = "in_progress"
    elif action == "accept" and errno in ("EAGAIN", "EWOULDBLOCK"):
        status = "no_client"
    else:
        status = "failed"
    family = local_address = remote_address = local_port = remote_port = sock_path = None
    sa = summary.get("sockaddr")
    if isinstance(sa, dict):
        fam = sa.get("family")
        family = sa.get("family_nr") if "family_nr" in sa else _FAMILY_NUMBERS.get(fam) if fam else None
        if "path" in sa:
            sock_path = text(sa["path"])
        addr = sa.get("addr")
        port = sa.get("port") if fam in ("inet", "inet6") else None
        if addr is not None or port is not None:
            if action == "bind":
                local_address, local_port = addr, port
            else:
                remote_address, remote_port = addr, port
    time, uptime, eid = event_columns(event, uptime_base)
    return [
        (
            action,
            pid,
            text(g("exe")),
            str(fd) if fd is not None else None,
            g("auid"),
            status,
            family,
            protocol,
            local_address,
            remote_address,
            local_port,
            remote_port,
            sock_path,
            0 if status == "failed" else 1,
            name,
            exit_code,
            errno,
            g("ppid"),
            g("uid"),
            g("euid"),
            g("gid"),
            g("ses"),
            text(g("comm")),
            text(g("key")),
            time,
            uptime,
            eid,
        )
    ]

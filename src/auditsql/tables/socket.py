"""``socket_events``: one row per ``bind``, ``connect``, ``accept``/``accept4`` (and i386 ``socketcall``), and
per ``sendto``/``sendmsg`` that names a destination (opt-in: ``[tables] udp_sends``).

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
* ``accept``: ``remote_*`` is the peer (the ``SOCKADDR``); ``local_port`` is the listening socket's port,
  known when the mapper saw the successful ``bind`` of that descriptor ((node, pid, fd) → address, bounded),
  in the process or its parent (the ``ppid`` of the accept: pre-fork servers), or when the socket was already
  listening when auditsql started (:func:`seed_listeners` reads ``/proc/net/tcp{,6}`` and ``/proc/PID/fd``).
  ``local_address`` is the bound address unless it is the wildcard (``0.0.0.0``, ``::``: the connection's
  own local address is then not known). NULL otherwise: a bind to port 0, a socket passed from another
  process (systemd socket activation), a descriptor renumbered by ``dup2``. See docs/connections.md.
* ``sendto``/``sendmsg`` (rules from :func:`rules`): a row only when the call named a destination, i.e. the
  kernel wrote a ``SOCKADDR`` (a send on a connected socket writes none; its ``connect`` is the row).
  ``remote_*`` is the destination. ``sendmmsg`` is left out: its ``SOCKADDR`` holds only the last message's
  destination.
* ``process_start`` links the row to ``process_tree`` (``auditsql.tables.proctree.process_start``).
* i386's ``socketcall(call, args)``: ``call`` (``a0``) selects bind (2), connect (3), accept (5), accept4
  (18), socket (1), sendto (11), sendmsg (16); the descriptor is the first argument in the ``SOCKETCALL``
  record (``a0``), NULL when the event has no ``SOCKETCALL`` record. ``syscall`` is then ``socketcall``.
"""

from __future__ import annotations

import ipaddress
import os
from collections import OrderedDict

from auditsql.events.sockaddr import family_name
from auditsql.tables._common import as_int, event_columns, first_section, text
from auditsql.tables.proctree import process_start
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = [
    "SOCKET_EVENTS",
    "SOCKET_SYSCALLS",
    "UDP_KEY",
    "socket_rows",
    "reset_state",
    "rules",
    "seed_listeners",
]

SOCKET_EVENTS = register(
    Table(
        name="socket_events",
        description="Socket `bind`, `connect` and `accept`/`accept4` calls (also i386 `socketcall`), and "
        "`sendto`/`sendmsg` calls that name a destination (opt-in), from the audit SYSCALL and SOCKADDR "
        "records; failed calls are rows too.",
        osquery="socket_events",
        columns=(
            Column(
                "action",
                "TEXT",
                "The socket action: `bind`, `connect`, `accept`, `sendto`, `sendmsg`",
                index=True,
            ),
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
            Column(
                "local_address",
                "TEXT",
                "Local address associated with socket (bind; accept: the listening socket's bound address "
                "when known and not the wildcard)",
            ),
            Column(
                "remote_address",
                "TEXT",
                "Remote address associated with socket (connect, accept: the peer, sendto/sendmsg: the "
                "destination)",
                index=True,
            ),
            Column(
                "local_port",
                "INTEGER",
                "Local network protocol port number (bind; accept: the listening port when known)",
            ),
            Column(
                "remote_port",
                "INTEGER",
                "Remote network protocol port number (connect, accept, sendto/sendmsg)",
            ),
            Column(
                "socket", "TEXT", "The UNIX domain socket path (`@name` for an abstract name)", hidden=True
            ),
            Column("success", "INTEGER", "Deprecated. Use the 'status' column instead", hidden=True),
            Column(
                "syscall",
                "TEXT",
                "Syscall name: bind, connect, accept, accept4, sendto, sendmsg, socketcall",
                extension=True,
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
            Column(
                "process_start",
                "DOUBLE",
                "Start time (UNIX seconds) of the process, the key of its `process_tree` row with `pid`; "
                "NULL when the tree does not know it",
                extension=True,
            ),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

_ACTIONS = {
    "bind": "bind",
    "connect": "connect",
    "accept": "accept",
    "accept4": "accept",
    "sendto": "sendto",
    "sendmsg": "sendmsg",
}
#: syscall names this table reads (``socket`` only feeds the protocol memory)
SOCKET_SYSCALLS = frozenset((*_ACTIONS, "socketcall", "socket"))
#: socketcall(2) call numbers (linux/net.h SYS_*)
_SOCKETCALLS = {1: "socket", 2: "bind", 3: "connect", 5: "accept", 11: "sendto", 16: "sendmsg", 18: "accept4"}
_FAMILY_NUMBERS = {family_name(n): n for n in range(64)}
_AF_INET, _AF_INET6 = 2, 10
_SOCK_STREAM, _SOCK_DGRAM = 1, 2
_IPPROTO_TCP, _IPPROTO_UDP = 6, 17
_WILDCARDS = frozenset(("0.0.0.0", "::"))
#: the key of the ``sendto``/``sendmsg`` rules
UDP_KEY = "auditsql_udp"

#: (node, pid, fd) → protocol, from audited socket() calls; bounded
_PROTOCOLS: OrderedDict[tuple[str | None, int, int], int] = OrderedDict()
_PROTOCOLS_MAX = 65536
#: (node, pid, fd) → (bound address, port) of sockets that may listen: successful binds with a port, and the
#: listening sockets found in /proc at start (:func:`seed_listeners`); bounded
_LISTENERS: OrderedDict[tuple[str | None, int, int], tuple[str | None, int]] = OrderedDict()
_LISTENERS_MAX = 65536


def reset_state() -> None:
    """Forget the remembered socket protocols and bound addresses (tests, a new import)."""
    _PROTOCOLS.clear()
    _LISTENERS.clear()


def _remember(key: tuple[str | None, int, int], protocol: int) -> None:
    _PROTOCOLS[key] = protocol
    _PROTOCOLS.move_to_end(key)
    if len(_PROTOCOLS) > _PROTOCOLS_MAX:
        _PROTOCOLS.popitem(last=False)


def _remember_bound(key: tuple[str | None, int, int], addr: str | None, port: int) -> None:
    _LISTENERS[key] = (addr, port)
    _LISTENERS.move_to_end(key)
    if len(_LISTENERS) > _LISTENERS_MAX:
        _LISTENERS.popitem(last=False)


def _start_of(node: str | None, pid: object) -> float | None:
    """``process_start`` of (node, pid) from the process tree (``auditsql.tables.proctree``), or None."""
    return process_start(node, pid) if isinstance(pid, int) else None


def rules(udp_sends: bool) -> list[tuple[str, str]]:
    """The rules ``[tables] udp_sends`` adds: ``sendto``/``sendmsg`` for both arches, keyed ``auditsql_udp``.

    The kernel cannot tell a send that names a destination from one that does not (the address is the 5th
    argument of ``sendto`` and inside ``msghdr`` for ``sendmsg``; rules see ``a0``..``a3`` only), so every
    such call is audited and the ones without a ``SOCKADDR`` record make no row (docs/connections.md)."""
    if not udp_sends:
        return []
    origin = "[tables] udp_sends"
    return [
        (origin, f"-a always,exit -F arch=b64 -S sendto,sendmsg -k {UDP_KEY}"),
        (origin, f"-a always,exit -F arch=b32 -S sendto,sendmsg -k {UDP_KEY}"),
    ]


def _parse_proc_net(path: str, v6: bool) -> dict[int, tuple[str, int]]:
    """inode → (local address, port) of the listening sockets (state 0A) in a /proc/net/tcp{,6} file."""
    out: dict[int, tuple[str, int]] = {}
    try:
        with open(path, encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                f = line.split()
                if len(f) < 10 or f[3] != "0A":
                    continue
                hexaddr, _, hexport = f[1].partition(":")
                raw = bytes.fromhex(hexaddr)
                # the kernel prints each 32-bit word in host byte order (little-endian here)
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                addr = str(ipaddress.IPv6Address(raw) if v6 else ipaddress.IPv4Address(raw))
                out[int(f[9])] = (addr, int(hexport, 16))
    except (OSError, ValueError):
        return out
    return out


def seed_listeners(proc: str = "/proc") -> int:
    """Remember the TCP sockets listening now, by (None, pid, fd), so that ``accept`` rows of servers started
    before auditsql get their ``local_port``. Reads ``/proc/net/tcp``, ``/proc/net/tcp6`` and the
    ``/proc/PID/fd`` links of every process; returns how many (pid, fd) pairs it remembered. Sockets in other
    network namespaces are not in this namespace's ``/proc/net`` and stay unknown."""
    socks = _parse_proc_net(f"{proc}/net/tcp", False)
    socks.update(_parse_proc_net(f"{proc}/net/tcp6", True))
    if not socks:
        return 0
    wanted = {f"socket:[{ino}]": v for ino, v in socks.items()}
    n = 0
    try:
        pids = [d for d in os.listdir(proc) if d.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        fddir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fddir}/{fd}")
            except OSError:
                continue
            hit = wanted.get(target)
            if hit is not None:
                _remember_bound((None, int(pid), int(fd)), hit[0], hit[1])
                n += 1
    return n


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
    """The ``socket_events`` row of a bind/connect/accept event, or of a sendto/sendmsg that named a
    destination (empty for any other event)."""
    name = summary.get("syscall")
    if name not in SOCKET_SYSCALLS:
        return []
    sa = summary.get("sockaddr")
    if (name == "sendto" or name == "sendmsg") and not isinstance(sa, dict):
        return []  # no destination named: the common case, kept cheap
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
        if success is True and isinstance(pid, int) and isinstance(exit_code, int):
            _LISTENERS.pop((node, pid, exit_code), None)  # a new socket on that number: forget the old one
            if len(args) >= 3:
                proto = _protocol_of(args[0], args[1], args[2])
                if proto is not None:
                    _remember((node, pid, exit_code), proto)
        return []
    action = _ACTIONS.get(call)
    if action is None:
        return []
    if (action == "sendto" or action == "sendmsg") and not isinstance(sa, dict):
        return []  # socketcall(SYS_SENDTO) without a destination
    protocol = _PROTOCOLS.get((node, pid, fd)) if isinstance(pid, int) and fd is not None else None
    errno = g("errno") if isinstance(g("errno"), str) else None
    if success is True:
        status = "succeeded"
        if action == "accept" and isinstance(pid, int) and isinstance(exit_code, int):
            _LISTENERS.pop((node, pid, exit_code), None)  # the new descriptor is a connection
            if protocol is not None:
                _remember((node, pid, exit_code), protocol)
    elif action == "connect" and errno == "EINPROGRESS":
        status = "in_progress"
    elif action == "accept" and errno in ("EAGAIN", "EWOULDBLOCK"):
        status = "no_client"
    else:
        status = "failed"
    family = local_address = remote_address = local_port = remote_port = sock_path = None
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
                if success is True and port and isinstance(pid, int) and fd is not None:
                    _remember_bound((node, pid, fd), addr, port)
            else:
                remote_address, remote_port = addr, port
    if action == "accept" and isinstance(pid, int) and fd is not None:
        bound = _LISTENERS.get((node, pid, fd))
        if bound is None:
            ppid = g("ppid")
            if isinstance(ppid, int):
                bound = _LISTENERS.get((node, ppid, fd))  # a pre-fork server: the parent bound it
        if bound is not None:
            local_port = bound[1]
            if bound[0] not in _WILDCARDS:
                local_address = bound[0]
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
            _start_of(node, pid),
            time,
            uptime,
            eid,
        )
    ]

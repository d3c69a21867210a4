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

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["SOCKET_EVENTS", "UDP_KEY", "rules"]

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

_AF_INET, _AF_INET6 = 2, 10
_SOCK_STREAM, _SOCK_DGRAM = 1, 2
_IPPROTO_TCP, _IPPROTO_UDP = 6, 17
#: the key of the ``sendto``/``sendmsg`` rules
UDP_KEY = "auditsql_udp"


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

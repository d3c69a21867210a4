"""The proc connector: the kernel's fork and exit notices, for the process tree, instead of audit rules.

The process tree must see every fork and every exit. Audited, each one costs the kernel a SYSCALL, a PROCTITLE
and an EOE record formatted as text, and costs auditsql their parsing, assembly and storage: under a fork
storm, three events for every exec. The proc connector (``NETLINK_CONNECTOR``, group ``CN_IDX_PROC``, the
kernel's ``CONFIG_PROC_EVENTS``) sends a small fixed-size notice instead. The native reader reads this socket
beside the audit socket and puts its fork and exit notices in the same frame stream (journaled, ordered before
the audit records of the same receive call); the tree applies a fork at once and holds an exit back until a
later audit record shows the process's own records are in (``crates/core/src/netlink/connector.rs``).

Linux 6.6 and later filter notices per socket: this one asks for forks and exits only. On older kernels every
notice comes (exec, uid, comm...) and the reader skips the others.

:func:`open_proc_connector` opens and subscribes the socket, or raises :class:`SourceError` with one line.
"""

from __future__ import annotations

import os
import platform
import socket
import struct

from auditsql.kernel.sources import SO_RCVBUFFORCE, SourceError

__all__ = ["open_proc_connector", "PROC_RCVBUF"]

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXIT = 0x80000000
NLMSG_DONE = 3
#: the connector socket's receive buffer: about 40,000 notices
PROC_RCVBUF = 4 << 20


def _filters_per_socket(release: str) -> bool:
    """Linux 6.6 added ``struct proc_input`` (an op and an event mask); older kernels take the op alone and
    ignore a longer message."""
    try:
        major, minor = (int(x) for x in release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 6)


def subscribe_message(pid: int, release: str) -> bytes:
    """The netlink message that subscribes a connector socket to fork and exit notices."""
    op = struct.pack("I", PROC_CN_MCAST_LISTEN)
    if _filters_per_socket(release):
        op += struct.pack("I", PROC_EVENT_FORK | PROC_EVENT_EXIT)
    cn = struct.pack("IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
    return struct.pack("IHHII", 16 + len(cn), NLMSG_DONE, 0, 0, pid) + cn


def open_proc_connector() -> socket.socket:
    """A connector socket bound to the proc group and subscribed to fork and exit notices (non-blocking use is
    the reader's). :class:`SourceError` when the kernel has no proc connector or refuses (not root)."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    except OSError as exc:
        raise SourceError(f"no proc connector (NETLINK_CONNECTOR): {exc.strerror}") from exc
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, PROC_RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PROC_RCVBUF)
        sock.bind((0, CN_IDX_PROC))
        sock.send(subscribe_message(sock.getsockname()[0] or os.getpid(), platform.release()))
    except OSError as exc:
        sock.close()
        raise SourceError(f"cannot subscribe to the proc connector: {exc.strerror}") from exc
    return sock

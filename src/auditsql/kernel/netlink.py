"""A small, pure-stdlib NETLINK_AUDIT client.

Only what is needed to talk to the kernel's audit control interface: frame a
request, send it to the kernel (port id 0) and collect the replies that carry
the request's sequence number.

Reply ordering on current kernels
---------------------------------
For requests that produce data (``AUDIT_GET``, ``AUDIT_GET_FEATURE``,
``AUDIT_LIST_RULES``) the kernel queues the data from a separate kernel
thread (``audit_send_reply`` / ``audit_send_list_thread``), which only runs
after the request has been processed - so the ACK (an ``NLMSG_ERROR`` with
error 0) normally arrives *before* the data.  :meth:`AuditSocket.request`
therefore waits for both: the ACK (when ``NLM_F_ACK`` was asked for) and, for
request types known to answer with data, the data itself (one message, or a
multipart stream up to ``NLMSG_DONE``).  Replies are matched by sequence
number; stale replies (an older sequence number, e.g. one that arrived after a
previous request timed out) are skipped and counted.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

# the linux/audit.h control messages, from the generated constants (tools/gen_constants.py)
from auditsql.kernel._ruleconsts import (
    AUDIT_ADD_RULE,
    AUDIT_DEL_RULE,
    AUDIT_GET,
    AUDIT_GET_FEATURE,
    AUDIT_LIST_RULES,
    AUDIT_SET,
    AUDIT_SET_FEATURE,
    AUDIT_SIGNAL_INFO,
    AUDIT_TTY_GET,
    AUDIT_USER,
)

__all__ = [
    "AUDIT_ADD_RULE",
    "AUDIT_DEL_RULE",
    "AUDIT_GET",
    "AUDIT_GET_FEATURE",
    "AUDIT_LIST_RULES",
    "AUDIT_SET",
    "AUDIT_SET_FEATURE",
    "AUDIT_USER",
    "NETLINK_AUDIT",
    "NLMSG_DONE",
    "NLMSG_ERROR",
    "NLMSG_HDRLEN",
    "NLMSG_NOOP",
    "NLMSG_OVERRUN",
    "NLM_F_ACK",
    "NLM_F_MULTI",
    "NLM_F_REQUEST",
    "AuditNetlinkError",
    "AuditNetlinkProtocolError",
    "AuditNetlinkTimeout",
    "AuditSocket",
    "nlmsg_align",
    "pack_nlmsg",
    "parse_nlmsgs",
]

# --- protocol / message types ------------------------------------------------
NETLINK_AUDIT = 9

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10

# struct nlmsghdr { __u32 nlmsg_len; __u16 nlmsg_type; __u16 nlmsg_flags;
#                   __u32 nlmsg_seq; __u32 nlmsg_pid; }  -- host byte order
_NLMSGHDR = struct.Struct("=IHHII")
NLMSG_HDRLEN = _NLMSGHDR.size  # 16
NLMSG_ALIGNTO = 4
_ERRNO = struct.Struct("=i")

#: Request types whose data reply comes as a single message of this type.
_SINGLE_REPLY = {
    AUDIT_GET: AUDIT_GET,
    AUDIT_GET_FEATURE: AUDIT_GET_FEATURE,
    AUDIT_SIGNAL_INFO: AUDIT_SIGNAL_INFO,
    AUDIT_TTY_GET: AUDIT_TTY_GET,
}
#: Request types whose data reply is a multipart stream ended by NLMSG_DONE.
_MULTI_REPLY = frozenset({AUDIT_LIST_RULES})

DEFAULT_TIMEOUT = 5.0
RECV_BUFSIZE = 1 << 16


class AuditNetlinkError(OSError):
    """The kernel answered a request with a negative errno."""

    def __init__(self, err: int, errno_name: str, msg_type: int) -> None:
        super().__init__(err, f"{errno_name} ({os.strerror(err)}) in reply to message type {msg_type}")
        self.errno_name = errno_name
        self.msg_type = msg_type

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errno, self.errno_name, self.msg_type))


class AuditNetlinkProtocolError(ValueError):
    """A datagram that does not parse as netlink messages (short, truncated...)."""


class AuditNetlinkTimeout(TimeoutError):
    """No (complete) answer from the kernel within the timeout."""


def nlmsg_align(n: int) -> int:
    return (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)


def pack_nlmsg(msg_type: int, payload: bytes = b"", flags: int = 0, seq: int = 0, pid: int = 0) -> bytes:
    """One netlink message: header + payload, padded to the 4-byte alignment.

    ``nlmsg_len`` counts the header and the payload but not the trailing pad.
    """
    length = NLMSG_HDRLEN + len(payload)
    msg = _NLMSGHDR.pack(length, msg_type, flags, seq & 0xFFFFFFFF, pid) + payload
    return msg + b"\0" * (nlmsg_align(length) - length)


def unpack_nlmsghdr(data: bytes, offset: int = 0) -> tuple[int, int, int, int, int]:
    """(len, type, flags, seq, pid) of the header at ``offset``."""
    if len(data) - offset < NLMSG_HDRLEN:
        raise AuditNetlinkProtocolError(
            f"short netlink header: {len(data) - offset} bytes at offset {offset}, need {NLMSG_HDRLEN}"
        )
    return _NLMSGHDR.unpack_from(data, offset)


def parse_nlmsgs(data: bytes) -> Iterator[tuple[int, int, int, int, bytes]]:
    """Yield ``(type, flags, seq, pid, payload)`` for each message in a datagram.

    Raises :class:`AuditNetlinkProtocolError` for a short header, an
    ``nlmsg_len`` below the header size, or one running past the datagram.
    Trailing alignment padding (fewer than 16 bytes of zeros) is tolerated.
    """
    offset = 0
    end = len(data)
    while offset < end:
        if end - offset < NLMSG_HDRLEN and not any(data[offset:]):
            return  # padding only
        length, msg_type, flags, seq, pid = unpack_nlmsghdr(data, offset)
        if length < NLMSG_HDRLEN:
            raise AuditNetlinkProtocolError(f"nlmsg_len {length} below header size at offset {offset}")
        if offset + length > end:
            raise AuditNetlinkProtocolError(
                f"truncated netlink message: nlmsg_len {length} at offset {offset}, "
                f"only {end - offset} bytes left"
            )
        yield msg_type, flags, seq, pid, bytes(data[offset + NLMSG_HDRLEN : offset + length])
        offset += nlmsg_align(length)


def parse_error_payload(payload: bytes) -> tuple[int, int | None]:
    """``NLMSG_ERROR`` payload -> (error, original message type or None).

    struct nlmsgerr { int error; struct nlmsghdr msg; ... }.  ``error`` is 0
    for an ACK, -errno for a failure; the audit subsystem also returns a
    positive value for a few requests (the old ``lost`` counter when resetting
    it).
    """
    if len(payload) < _ERRNO.size:
        raise AuditNetlinkProtocolError(f"NLMSG_ERROR payload of {len(payload)} bytes, need >= 4")
    (err,) = _ERRNO.unpack_from(payload)
    orig_type = None
    if len(payload) >= _ERRNO.size + NLMSG_HDRLEN:
        orig_type = _NLMSGHDR.unpack_from(payload, _ERRNO.size)[1]
    return err, orig_type


def errno_name(err: int) -> str:
    return errno.errorcode.get(err, f"E{err}")


class AuditSocket:
    """A NETLINK_AUDIT socket bound to an automatic port id.

    >>> with AuditSocket() as s:                      # doctest: +SKIP
    ...     s.request(AUDIT_GET)
    [(1000, b'...')]

    ``sock`` may be any object with ``sendto``, ``recvmsg``, ``settimeout``
    and ``close`` (for tests); by default a real netlink socket is opened.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, sock: Any = None) -> None:
        self.timeout = timeout
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
            try:
                sock.bind((0, 0))
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._sock.settimeout(timeout)
        self._seq = 0
        #: datagrams whose sender port id was not 0 (not the kernel); ignored.
        self.foreign_messages = 0
        #: replies for another (older) sequence number; ignored.
        self.stale_messages = 0
        #: the ``error`` value of the last ACK (0, or a positive value that
        #: some AUDIT_SET requests return, e.g. the old lost counter).
        self.last_ack: int | None = None

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> AuditSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def portid(self) -> int:
        return self._sock.getsockname()[0]

    # -- I/O ---------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        if self._seq == 0:
            self._seq = 1
        return self._seq

    def send(self, msg_type: int, payload: bytes = b"", flags: int = NLM_F_REQUEST | NLM_F_ACK) -> int:
        """Send one message to the kernel; returns its sequence number."""
        if self._sock is None:
            raise ValueError("I/O on a closed AuditSocket")
        seq = self._next_seq()
        self._sock.sendto(pack_nlmsg(msg_type, payload, flags, seq), (0, 0))
        return seq

    def _recv(self, deadline: float) -> Iterator[tuple[int, int, int, int, bytes]]:
        """Receive one datagram from the kernel and yield its messages."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuditNetlinkTimeout(f"no complete reply from the kernel within {self.timeout}s")
            self._sock.settimeout(remaining)
            try:
                data, _anc, msg_flags, addr = self._sock.recvmsg(RECV_BUFSIZE)
            except (TimeoutError, BlockingIOError) as exc:
                raise AuditNetlinkTimeout(
                    f"no complete reply from the kernel within {self.timeout}s"
                ) from exc
            sender = addr[0] if isinstance(addr, tuple) and addr else addr
            if sender != 0:
                self.foreign_messages += 1
                continue
            if msg_flags & socket.MSG_TRUNC:
                raise AuditNetlinkProtocolError(
                    f"netlink datagram larger than {RECV_BUFSIZE} bytes was truncated"
                )
            yield from parse_nlmsgs(data)
            return

    def request(
        self,
        msg_type: int,
        payload: bytes = b"",
        flags: int = NLM_F_REQUEST | NLM_F_ACK,
    ) -> list[tuple[int, bytes]]:
        """Send a request and return the data replies as ``[(type, payload)]``.

        The ACK itself is not returned (its value is kept in
        :attr:`last_ack`).  An ``NLMSG_ERROR`` with a negative errno raises
        :class:`AuditNetlinkError`.  ``NLMSG_DONE`` ends a multipart reply and
        is not returned either.
        """
        seq = self.send(msg_type, payload, flags)
        self.last_ack = None
        want_ack = bool(flags & NLM_F_ACK)
        want_single = _SINGLE_REPLY.get(msg_type)
        want_multi = msg_type in _MULTI_REPLY
        got_ack = False
        got_data = not (want_single or want_multi)
        replies: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + self.timeout

        while not (got_data and (got_ack or not want_ack)):
            for rtype, rflags, rseq, _rpid, rpayload in self._recv(deadline):
                if rseq != seq:
                    self.stale_messages += 1
                    continue
                if rtype == NLMSG_ERROR:
                    err, _orig = parse_error_payload(rpayload)
                    if err < 0:
                        raise AuditNetlinkError(-err, errno_name(-err), msg_type)
                    self.last_ack = err
                    got_ack = True
                elif rtype == NLMSG_DONE:
                    got_data = True
                elif rtype == NLMSG_NOOP:
                    continue
                elif rtype == NLMSG_OVERRUN:
                    raise AuditNetlinkProtocolError("NLMSG_OVERRUN: the kernel dropped part of the reply")
                else:
                    replies.append((rtype, rpayload))
                    if want_single and rtype == want_single and not (rflags & NLM_F_MULTI):
                        got_data = True
        return replies

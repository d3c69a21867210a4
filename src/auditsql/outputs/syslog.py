"""``[output.syslog]``: RFC 5424 messages over the local syslog datagram socket (``/dev/log``).

Each event or scheduled query result line is one message::

    <86>1 2026-03-01T10:00:00.123456Z web1 auditsql 4242 result - {"name":"execs",...}

``PRI`` is facility * 8 + severity (``authpriv`` and informational: 86), ``VERSION`` 1, ``TIMESTAMP`` the time the
message is sent (UTC, microseconds), ``HOSTNAME`` this host's name, ``APP-NAME`` ``app_name``, ``PROCID``
auditsql's pid, ``MSGID`` ``event`` or ``result``, no structured data (``-``), and the JSON line as ``MSG``
(UTF-8, no BOM: journald and rsyslog show a BOM as bytes).

A datagram is all or nothing, and receivers have limits (the socket's send buffer; rsyslog's 8 KiB
``$MaxMessageSize`` by default). A message longer than ``max_bytes`` (64 KiB) is **truncated** at a UTF-8
boundary, never split (the halves would not be JSON). If the socket refuses it as too long (``EMSGSIZE``) it is
truncated to 8 KiB and sent again. Each truncation is counted (``truncated``) and booked in ``audit_loss`` as
``output_drop`` ``syslog: truncated to N bytes``: the full line is in the results log or the event stream.

A missing or refusing socket (no syslog daemon, ``ECONNREFUSED``, ``ENOENT``) never blocks: the messages are
counted as errors and lost (``output_drop`` ``syslog: cannot send: ...``), and the connection is tried again at
most once a second. A send waits at most ``timeout`` seconds (a stalled daemon); then the buffer takes over.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

from auditsql.outputs.base import BufferedOutput, OutputError, json_line

__all__ = ["FACILITIES", "SEVERITY_INFO", "SyslogOutput", "format_message"]

FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}
SEVERITY_INFO = 6
MAX_BYTES = 65536
#: the retry size after EMSGSIZE: rsyslog's default maximum message size
FALLBACK_BYTES = 8192
_RETRY_CONNECT = 1.0


def _printusascii(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and all(33 <= ord(c) <= 126 for c in text)


def format_message(
    pri: int, hostname: str, app_name: str, procid: int | str, msgid: str, msg: bytes, when: float
) -> bytes:
    """One RFC 5424 message (no structured data)."""
    ts = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = f"<{pri}>1 {ts} {hostname or '-'} {app_name or '-'} {procid} {msgid} - "
    return head.encode("ascii", "replace") + msg


def _truncate(data: bytes, limit: int) -> bytes:
    return data[:limit].decode("utf-8", "ignore").encode("utf-8") if len(data) > limit else data


class SyslogOutput(BufferedOutput):
    """RFC 5424 datagrams to the unix socket ``path``."""

    def __init__(
        self,
        path: str = "/dev/log",
        facility: str = "authpriv",
        app_name: str = "auditsql",
        events: bool = False,
        results: bool = True,
        buffer: int = 100000,
        max_bytes: int = MAX_BYTES,
        timeout: float = 1.0,
        hostname: str | None = None,
        clock: Any = time.time,
    ) -> None:
        if facility not in FACILITIES:
            raise OutputError(
                f"output.syslog.facility: unknown facility {facility!r} (known: {', '.join(FACILITIES)})"
            )
        if not _printusascii(app_name, 48):
            raise OutputError(
                f"output.syslog.app_name: {app_name!r} must be 1 to 48 printable ASCII characters, no spaces "
                "(RFC 5424 APP-NAME)"
            )
        super().__init__("syslog", buffer, events=events, results=results)
        self.path = path
        self.pri = FACILITIES[facility] * 8 + SEVERITY_INFO
        self.app_name = app_name
        self.hostname = (hostname or socket.gethostname() or "-").split()[0][:255]
        self.procid = os.getpid()
        self.max_bytes = max(480, int(max_bytes))
        self.timeout = timeout
        self.clock = clock
        self.truncated = 0
        self._sock: socket.socket | None = None
        self._next_connect = 0.0

    def _connect(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        now = time.monotonic()
        if now < self._next_connect:
            return None
        self._next_connect = now + _RETRY_CONNECT
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError as exc:
            s.close()
            self.errors += 1
            self.last_error = exc.strerror or str(exc)
            return None
        self._sock = s
        return s

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def write_batch(self, items: list[tuple[str, Any]]) -> None:
        now = self.clock()
        total = len(items)
        for i, (kind, item) in enumerate(items):
            self._in_flight = total - i  # this item and the rest of the batch are not done yet
            sock = self._connect()
            if sock is None:
                self.lost(len(items) - i, f"cannot send: {self.last_error or 'not connected'}")
                return
            body = json_line(item)[:-1]
            msgid = "event" if kind == "event" else "result"
            data = format_message(self.pri, self.hostname, self.app_name, self.procid, msgid, body, now)
            if len(data) > self.max_bytes:
                data = _truncate(data, self.max_bytes)
                self._truncated(self.max_bytes)
            try:
                sock.send(data)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE and len(data) > FALLBACK_BYTES:
                    try:
                        sock.send(_truncate(data, FALLBACK_BYTES))
                        self._truncated(FALLBACK_BYTES)
                        continue
                    except OSError as exc2:
                        exc = exc2
                self.errors += 1
                self.last_error = (
                    exc.strerror or str(exc) if not isinstance(exc, TimeoutError) else "timed out"
                )
                self.lost(1, f"cannot send: {self.last_error}")
                if not isinstance(exc, TimeoutError):
                    self._drop_socket()

    def _truncated(self, limit: int) -> None:
        self.truncated += 1
        self._book(1, f"truncated to {limit} bytes")

    def counters(self) -> dict[str, int]:
        c = super().counters()
        c["truncated"] = self.truncated
        return c

    def shutdown(self) -> None:
        self._drop_socket()

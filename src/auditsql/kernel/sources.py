"""Live record sources: the kernel (unicast daemon socket or multicast), or auditd's plugin stream.

One interface, :class:`LiveSource`: ``start()``, then ``feed(pipeline, timeout)`` hands what arrived to the
native pipeline (``auditsql._core.Pipeline``) and returns its :class:`~auditsql._core.Batch`, ``stop()``;
``counters`` says what the reader saw.

Two reader models (``reader=``):

- ``native`` (the kernel sources): a thread of the native core (``auditsql._core.Reader``,
  crates/core/src/netlink/) drains the socket with ``recvmmsg`` into a byte buffer (up to 512 MiB) while
  the pipeline catches up, and never takes the GIL; ``Pipeline.pump`` takes the frames and processes them
  without Python seeing them. It replaces the forked reader process (one process, no pipe, no second
  exclusion rule). With ``policy="drop"`` it holds at most ``queue_size`` records and drops (and counts,
  ``queue_drops``) the rest; with ``block`` it stops reading when the buffer is full, so the kernel's socket
  buffer and backlog fill, as with auditd.
- ``thread``: a Python thread hands raw messages to a bounded queue (the plugin stream on stdin, a pipe).
  When the queue is full the ``policy`` decides: ``block`` (the reader waits) or ``drop`` (counted as
  ``queue_drop``).

Kernel facts this module relies on (Linux 4.x-6.x, checked on 6.18):

- every audit record is one netlink message in one datagram; the payload is the text ``audit(SEC.MSEC:
  SERIAL): ...`` without a trailing NUL, and the record type is ``nlmsg_type``;
- on the unicast (daemon) socket ``nlmsg_len`` does *not* count the 16-byte header (a historical quirk
  auditd depends on); on multicast it is the full length. The payload is therefore taken from the
  datagram length, never from ``nlmsg_len``;
- the largest records are EXECVE argument chunks, about 7.5 kB; the receive buffer is 64 KiB and a
  datagram cut short (``MSG_TRUNC``) is kept and counted;
- a full socket buffer makes the next ``recvmsg`` fail with ``ENOBUFS`` (counted; reading continues);
- a daemon registers with ``AUDIT_SET pid`` *from the socket that is to receive the records*; the kernel
  checks the previous daemon first (it sends it an ``AUDIT_REPLACE`` message): a dead one is dropped, a
  live one makes the request fail with ``EEXIST``;
- multicast (group ``AUDIT_NLGRP_READLOG``) needs ``CAP_AUDIT_READ`` and gets a copy of every record
  whether or not a daemon is registered.
"""

from __future__ import annotations

import errno
import os
import queue
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from auditsql._core import Batch, Pipeline

from .keeper import DEFAULT_CAP, DEFAULT_SECONDS, KeeperError, KeeperLink, spawn
from .loss import LossAccount
from .netlink import (
    AUDIT_SET,
    NETLINK_AUDIT,
    NLM_F_ACK,
    NLM_F_REQUEST,
    NLMSG_ERROR,
    AuditNetlinkError,
    AuditSocket,
    errno_name,
    pack_nlmsg,
    parse_error_payload,
)
from .snapshot import KernelSession, process_alive, process_name
from .status import AuditStatus, build_set_payload, get_status

__all__ = [
    "AUDIT_NLGRP_READLOG",
    "AUDIT_REPLACE",
    "DaemonBusy",
    "KeeperPlan",
    "LiveSource",
    "NetlinkSource",
    "PluginSource",
    "POLICIES",
    "SOURCES",
    "SourceError",
    "choose_source",
    "open_source",
]

AUDIT_NLGRP_READLOG = 1
AUDIT_REPLACE = 1329
#: the first record type; 1000-1099 are control messages, 1-15 netlink's own
AUDIT_FIRST_RECORD = 1100
#: userspace's MAX_AUDIT_MESSAGE_LENGTH (8970) + header, rounded up generously
RECV_SIZE = 1 << 16
DEFAULT_RCVBUF = 8 << 20
DEFAULT_QUEUE = 65536
POLICIES = ("block", "drop")
SOURCES = ("auto", "unicast", "multicast", "plugin")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_HDR = struct.Struct("=IHHII")


_POLL = 0.25
_ITEM_TEXT = 0  # queue item type for a text line (plugin stream)


#: reader models (see the module docstring)
READERS = ("native", "thread")
DEFAULT_READER = "native"
#: what the native reader holds at most while the pipeline catches up
NATIVE_BUFFER = 512 << 20


class SourceError(RuntimeError):
    """A live source cannot start; the message is one line for the user."""


class DaemonBusy(SourceError):
    """Another live process is registered as the kernel's audit daemon."""

    def __init__(self, pid: int, comm: str) -> None:
        super().__init__(
            f"the kernel's audit socket belongs to pid {pid} ({comm}); stop it, or read alongside it "
            "with --source multicast (or auto)"
        )
        self.pid = pid
        self.comm = comm


class LiveSource:
    """Base: a reader thread feeding a bounded queue; :meth:`get` parses on the caller's side.

    Subclasses implement :meth:`_open`, :meth:`_read` (one item, or None on a poll timeout; raise
    ``EOFError`` at the end of the stream) and :meth:`_close`.
    """

    name = "live"

    def __init__(
        self,
        queue_size: int = DEFAULT_QUEUE,
        policy: str = "block",
        loss: LossAccount | None = None,
        reader: str = "thread",
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        if reader not in READERS:
            raise ValueError(f"reader must be one of {READERS}, not {reader!r}")
        self.policy = policy
        #: "native": the core's reader thread; "thread": a Python reader thread and a bounded queue
        self.reader = reader
        self.queue_size = queue_size
        self.loss = loss if loss is not None else LossAccount()
        self._queue: queue.Queue[tuple[int, bytes, int]] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: set when the stream ended (EOF) or the reader failed; ``error`` says why in the second case
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.counters: dict[str, int] = {
            "messages": 0,  # records received
            "bytes": 0,
            "truncated": 0,  # MSG_TRUNC
            "enobufs": 0,  # socket buffer overruns
            "queue_drops": 0,  # dropped under --policy drop
            "queue_full": 0,  # times the queue was full (block: the reader waited)
            "ignored": 0,  # control messages and AUDIT_REPLACE pings
            "foreign": 0,  # datagrams not from the kernel
            "errors": 0,  # unparsable datagrams, other receive errors
            "proc_notices": 0,  # proc connector forks and exits (auditsql.kernel.connector)
            "proc_enobufs": 0,  # proc connector socket overruns: notices the kernel dropped
        }
        self._booked = {"truncated": 0, "enobufs": 0, "queue_drops": 0, "proc_enobufs": 0}
        #: items received before the reader thread started (e.g. during registration)
        self._early: list[tuple[int, bytes, int]] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._open()
        if self.reader == "native":
            self._start_native()
            return
        self._thread = threading.Thread(target=self._run, name=f"auditsql-{self.name}-reader", daemon=True)
        self._thread.start()

    def _start_native(self) -> None:  # pragma: no cover - only sources that support the native reader
        raise NotImplementedError

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading; what was read stays for :meth:`feed` to hand over."""
        native = getattr(self, "_native", None)
        if native is not None:
            native.stop()
            self._sync_native()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()
        self.book()

    def _open(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self) -> tuple[int, bytes, int] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- reader thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for item in self._early:
                self._offer(item)
            self._early.clear()
            read = self._read
            offer = self._offer
            stop = self._stop
            while not stop.is_set():
                item = read()
                if item is not None:
                    offer(item)
        except EOFError:
            pass
        except BaseException as exc:  # the processing side reports it
            self.error = exc
        finally:
            self.finished.set()

    def _offer(self, item: tuple[int, bytes, int]) -> None:
        q = self._queue
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            self.counters["queue_full"] += 1
        if self.policy == "drop":
            self.counters["queue_drops"] += 1
            return
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    # -- processing side ---------------------------------------------------------------------------------

    def get(self, timeout: float = _POLL, max_items: int = 1024) -> list[tuple[int, bytes, int]]:
        """The next queued messages of the thread model, as ``(type, payload, truncated length or 0)``; type 0
        is a text line (the plugin stream). Waits up to ``timeout`` for the first, takes what else is there (up
        to ``max_items``). An empty list on timeout."""
        items, self._early = self._early, []
        if items:
            return items
        q = self._queue
        try:
            items = [q.get(timeout=timeout)]
        except queue.Empty:
            return []
        try:
            while len(items) < max_items:
                items.append(q.get_nowait())
        except queue.Empty:
            pass
        return items

    def feed(self, pipeline: Pipeline, timeout: float = _POLL) -> Batch:
        """Hand what arrived (waiting up to ``timeout`` for the first message) to ``pipeline``; its batch.
        ``batch.records`` is 0 when nothing came."""
        native = getattr(self, "_native", None)
        if native is None:
            return pipeline.feed_frames(self.get(timeout))
        if self._early:
            items, self._early = self._early, []
            return pipeline.feed_frames(items)
        b = pipeline.pump(native, timeout)
        if native.finished() and not native.pending():
            self._sync_native()
            err = native.error()
            if err is not None and self.error is None and not self._stop.is_set():
                self.error = err
            self.finished.set()
        return b

    def _sync_native(self) -> None:
        """The native reader's counters into ``counters``."""
        native = getattr(self, "_native", None)
        if native is not None:
            self.counters.update(native.counters())

    def pending(self) -> int:
        """Messages read and not yet taken."""
        native = getattr(self, "_native", None)
        if native is not None:
            return native.pending() + len(self._early)
        return self._queue.qsize() + len(self._early)

    def drained(self) -> bool:
        """The stream ended and everything read was taken."""
        return self.finished.is_set() and self.pending() == 0

    def book(self) -> None:
        """Move the reader's loss counters into the loss account (as aggregated loss records)."""
        self._sync_native()
        for counter, cause in (
            ("truncated", "truncated"),
            ("enobufs", "enobufs"),
            ("queue_drops", "queue_drop"),
            ("proc_enobufs", "proc_connector"),
        ):
            now = self.counters[counter]
            delta = now - self._booked[counter]
            if delta > 0:
                self._booked[counter] = now
                self.loss.add(cause, delta, f"{self.name} reader")


class NetlinkSource(LiveSource):
    """The kernel's records over NETLINK_AUDIT: ``unicast`` (as the audit daemon) or ``multicast``.

    Unicast registers this process with ``AUDIT_SET pid`` once, on the reader's socket, through
    ``session`` (which records it so that it is undone), and refuses when another live process is
    registered (:class:`DaemonBusy`). A stale registration (the process is gone) is taken over. The pid is
    never re-sent; :meth:`stop` closes the socket and the session's restore unregisters. With a socket keeper
    (``keeper``, auditsql.kernel.keeper) the keeper is the process registered, on this socket, and :meth:`stop`
    tells it to unregister and exit; or the socket is a killed run's, handed over by its keeper, registered
    already.
    """

    def __init__(
        self,
        mode: str,
        session: KernelSession | None = None,
        rcvbuf: int = DEFAULT_RCVBUF,
        queue_size: int = DEFAULT_QUEUE,
        policy: str = "block",
        loss: LossAccount | None = None,
        sock: Any = None,
        reader: str = DEFAULT_READER,
        journal: tuple[str, int] | None = None,
        proc_sock: Any = None,
        keeper: KeeperPlan | KeeperLink | None = None,
    ) -> None:
        if mode not in ("unicast", "multicast"):
            raise ValueError(f"mode must be unicast or multicast, not {mode!r}")
        super().__init__(queue_size, policy, loss, reader)
        self.name = mode
        self.mode = mode
        self.session = session
        self.rcvbuf = rcvbuf
        self._sock = sock
        self._given_sock = sock is not None
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)
        #: the receive buffer the kernel granted (twice what was asked, as Linux books overhead), or None
        self.rcvbuf_effective: int | None = None
        #: how the buffer size was set: "force" (SO_RCVBUFFORCE), "capped" (SO_RCVBUF, up to rmem_max)
        self.rcvbuf_how: str | None = None
        #: the pid of a stale daemon registration taken over, or None
        self.took_over: int | None = None
        #: control replies (NLMSG_ERROR) seen by the reader: (type, seq, payload); used while registering
        self._controls: list[tuple[int, int, bytes]] = []
        #: (directory, first position): the native reader journals every record there before it is processed
        #: (auditsql.kernel.journal); the thread model does not journal
        self.journal = journal if reader == "native" else None
        #: a subscribed proc connector socket (auditsql.kernel.connector) whose fork and exit notices the native
        #: reader reads too, for the process tree; closed with the source
        self.proc_sock = proc_sock
        #: unicast with a journal: the socket keeper to start (a plan) or taken over from a killed run (a link;
        #: its socket is already registered); auditsql.kernel.keeper
        self._keeper_plan = keeper if isinstance(keeper, KeeperPlan) and mode == "unicast" else None
        self.keeper: KeeperLink | None = keeper if isinstance(keeper, KeeperLink) else None

    # -- open --------------------------------------------------------------------------------------------

    def _open(self) -> None:
        if self.keeper is not None and self.keeper.fd is not None and self._sock is None:
            # the killed run's socket, still registered (to the keeper): read on where the keeper stopped
            self._sock = socket.socket(fileno=self.keeper.fd)
            self.keeper.fd = None
            self._sock.settimeout(_POLL)
            return
        if self._sock is None:
            try:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
            except OSError as exc:
                raise SourceError(f"cannot open a NETLINK_AUDIT socket: {exc.strerror}") from exc
            self._set_rcvbuf()
            try:
                self._sock.bind((0, AUDIT_NLGRP_READLOG if self.mode == "multicast" else 0))
            except OSError as exc:
                self._sock.close()
                self._sock = None
                if self.mode == "multicast" and exc.errno == errno.EPERM:
                    raise SourceError(
                        "joining the audit multicast group needs CAP_AUDIT_READ (run as root)"
                    ) from exc
                raise SourceError(f"cannot bind the NETLINK_AUDIT socket: {exc.strerror}") from exc
        self._sock.settimeout(_POLL)
        if self.mode == "unicast":
            self._register()

    # -- reader process ----------------------------------------------------------------------------------

    def _start_native(self) -> None:
        """The core's reader thread on (a duplicate of) the bound, registered socket; records that arrived
        while registering (``_early``) are handed to it: journaled and held first."""
        from auditsql._core import Reader

        early, self._early = self._early, []
        try:
            self._native = Reader(
                self._sock.fileno(),
                self.policy,
                buffer_bytes=NATIVE_BUFFER,
                buffer_frames=self.queue_size if self.policy == "drop" else None,
                journal=self.journal,
                early=early,
                proc_fd=self.proc_sock.fileno() if self.proc_sock is not None else None,
            )
        except OSError as exc:
            raise SourceError(f"cannot start the netlink reader: {exc.strerror or exc}") from exc

    def _set_rcvbuf(self) -> None:
        sock = self._sock
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            self.rcvbuf_how = "force"
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
                self.rcvbuf_how = "capped"
            except OSError:
                self.rcvbuf_how = None
        try:
            self.rcvbuf_effective = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError:
            self.rcvbuf_effective = None

    def _register(self) -> None:
        own_ctl = self.session is None
        ctl = self.session.sock if self.session is not None else AuditSocket()
        try:
            st = get_status(ctl)
            me = os.getpid()
            if st.pid and st.pid != me:
                if process_alive(st.pid):
                    raise DaemonBusy(st.pid, process_name(st.pid))
                self.took_over = st.pid
            daemon = me
            if self._keeper_plan is not None:
                p = self._keeper_plan
                try:
                    self.keeper = spawn(self._sock.fileno(), p.journal_dir, p.state_file, p.cap, p.seconds)
                except KeeperError as exc:
                    raise SourceError(str(exc)) from None
                daemon = self.keeper.pid
            if self.session is not None:
                keeper_dir = self._keeper_plan.journal_dir if self._keeper_plan is not None else ""
                self.session.will_register(daemon, keeper_dir)
            try:
                self._set_pid(daemon)
            except (AuditNetlinkError, SourceError) as exc:
                if self.session is not None:
                    self.session.not_registered()
                self._stop_keeper()
                if not isinstance(exc, AuditNetlinkError):
                    raise
                if exc.errno == errno.EEXIST:
                    now = get_status(ctl).pid or 0
                    raise DaemonBusy(now, process_name(now)) from exc
                if exc.errno == errno.EPERM:
                    raise SourceError(
                        "registering as the audit daemon needs CAP_AUDIT_CONTROL (run as root)"
                    ) from exc
                raise SourceError(f"cannot register as the audit daemon: {exc}") from exc
        finally:
            if own_ctl:
                ctl.close()

    def _set_pid(self, pid: int, timeout: float = 5.0) -> None:
        """AUDIT_SET pid on the reader's own socket; records arriving meanwhile are kept for the reader."""
        sock = self._sock
        if self.keeper is not None:
            # the keeper registers itself (the kernel registers the sender) on this socket; the ACK comes here
            try:
                seq = self.keeper.register()
            except KeeperError as exc:
                raise SourceError(str(exc)) from None
        else:
            seq = 0x5A51  # any: this socket sends nothing else
            sock.sendto(
                pack_nlmsg(AUDIT_SET, build_set_payload(pid=pid), NLM_F_REQUEST | NLM_F_ACK, seq), (0, 0)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self._read()
            if item is not None:
                self._early.append(item)
                continue
            for msg_type, rseq, payload in self._controls:
                if msg_type == NLMSG_ERROR and rseq == seq:
                    err, _ = parse_error_payload(payload)
                    self._controls.clear()
                    if err < 0:
                        raise AuditNetlinkError(-err, errno_name(-err), AUDIT_SET)
                    return
            self._controls.clear()
        raise SourceError("the kernel did not answer AUDIT_SET pid within 5 s")

    # -- read --------------------------------------------------------------------------------------------

    def _read(self) -> tuple[int, bytes, int] | None:
        counters = self.counters
        try:
            # MSG_TRUNC in: netlink returns the datagram's real length even when it did not fit
            n, _anc, flags, addr = self._sock.recvmsg_into([self._buf], 0, socket.MSG_TRUNC)
        except TimeoutError:
            return None
        except BlockingIOError:
            return None
        except InterruptedError:
            return None
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                counters["enobufs"] += 1
                return None
            if self._stop.is_set() or exc.errno == errno.EBADF:
                raise EOFError from exc
            raise
        if addr and addr[0] != 0:
            counters["foreign"] += 1
            return None
        if n < _HDR.size:
            counters["errors"] += 1
            return None
        _nlen, msg_type, _nflags, seq, _npid = _HDR.unpack_from(self._buf)
        got = min(n, RECV_SIZE)
        if msg_type < AUDIT_FIRST_RECORD or msg_type == AUDIT_REPLACE:
            if msg_type == NLMSG_ERROR:
                self._controls.append((msg_type, seq, bytes(self._view[_HDR.size : got])))
            counters["ignored"] += 1
            return None
        trunc = 0
        if flags & socket.MSG_TRUNC or n > RECV_SIZE:
            counters["truncated"] += 1
            trunc = n
        counters["messages"] += 1
        counters["bytes"] += n
        # the payload runs to the end of the datagram (see the module doc on nlmsg_len)
        return msg_type, bytes(self._view[_HDR.size : got]), trunc

    def _close(self) -> None:
        self._stop_keeper()
        if self._sock is not None and not self._given_sock:
            self._sock.close()
        self._sock = None
        if self.proc_sock is not None:
            self.proc_sock.close()
            self.proc_sock = None

    def _stop_keeper(self) -> None:
        """A stop: the keeper unregisters and exits (the kernel's registration is its own to end)."""
        keeper, self.keeper = self.keeper, None
        if keeper is not None:
            if keeper.fd is not None:
                os.close(keeper.fd)
            keeper.stop()


class PluginSource(LiveSource):
    """auditd's plugin stream (``plugins.d``, ``format = string``): one record per line on ``stream``.

    auditd starts the plugin with the records on its standard input and ends it by closing that (and
    SIGTERM); SIGHUP means "reload your configuration" and must not kill the plugin (the CLI ignores it).
    """

    name = "plugin"

    def __init__(
        self,
        stream: BinaryIO | None = None,
        queue_size: int = DEFAULT_QUEUE,
        policy: str = "block",
        loss: LossAccount | None = None,
    ) -> None:
        super().__init__(queue_size, policy, loss)
        self.stream = stream if stream is not None else sys.stdin.buffer
        #: standard input is read with os.read on its descriptor, not through its BufferedReader: a daemon
        #: thread blocked in a buffered readline holds the reader's lock, and CPython aborts at exit
        #: ("could not acquire lock for <_io.BufferedReader name='<stdin>'>") when auditd's SIGTERM comes
        #: while the pipe is still open
        self._fd: int | None = None
        self._lines: list[bytes] = []
        self._tail = b""

    def _open(self) -> None:
        if self.stream is sys.stdin.buffer:
            try:
                self._fd = self.stream.fileno()
            except (OSError, ValueError):
                self._fd = None

    def _readline(self) -> bytes:
        if self._fd is None:
            return self.stream.readline()
        while not self._lines:
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                line, self._tail = self._tail, b""
                return line
            parts = (self._tail + chunk).split(b"\n")
            self._tail = parts.pop()
            self._lines = [p + b"\n" for p in reversed(parts)]
        return self._lines.pop()

    def _read(self) -> tuple[int, bytes, int] | None:
        line = self._readline()
        if not line:
            raise EOFError
        if line == b"\n":
            return None
        self.counters["messages"] += 1
        self.counters["bytes"] += len(line)
        return _ITEM_TEXT, line, 0

    def stop(self, timeout: float = 0.2) -> None:
        """Stop without waiting long for the reader thread: it is blocked reading standard input, which auditd
        (or a shell) may keep open after SIGTERM; what it already read is queued and drained by the loop."""
        super().stop(timeout)

    def _close(self) -> None:
        pass


def choose_source(requested: str, status: AuditStatus) -> tuple[str, str | None]:
    """``auto`` -> multicast when a live process (auditd...) is the audit daemon, unicast otherwise.

    Returns the mode and, for auto, why it was chosen.
    """
    if requested != "auto":
        return requested, None
    pid = status.pid or 0
    if pid and pid != os.getpid() and process_alive(pid):
        return "multicast", f"pid {pid} ({process_name(pid)}) is the audit daemon"
    if pid and pid != os.getpid():
        return "unicast", f"the registered daemon pid {pid} is gone"
    return "unicast", "no audit daemon is registered"


def open_source(
    mode: str,
    session: KernelSession | None = None,
    policy: str = "block",
    queue_size: int = DEFAULT_QUEUE,
    rcvbuf: int = DEFAULT_RCVBUF,
    loss: LossAccount | None = None,
    stream: BinaryIO | None = None,
    reader: str = DEFAULT_READER,
    journal: tuple[str, int] | None = None,
    proc_sock: Any = None,
    keeper: KeeperPlan | KeeperLink | None = None,
) -> LiveSource:
    """A source for ``mode`` (unicast, multicast or plugin), not started. ``reader`` and ``journal`` apply to
    the kernel sources (the plugin stream is always read by a thread, and not journaled)."""
    if mode == "plugin":
        return PluginSource(stream, queue_size, policy, loss)
    return NetlinkSource(
        mode,
        session,
        rcvbuf,
        queue_size,
        policy,
        loss,
        reader=reader,
        journal=journal,
        proc_sock=proc_sock,
        keeper=keeper,
    )


@dataclass(frozen=True)
class KeeperPlan:
    """The socket keeper a unicast source starts: the journal it drains into, the state file it restores
    from when no agent comes back, and its limits (auditsql.kernel.keeper)."""

    journal_dir: str
    state_file: str | None
    cap: int = DEFAULT_CAP
    seconds: float = DEFAULT_SECONDS

"""Live record sources: the kernel (unicast daemon socket or multicast), or auditd's plugin stream.

One interface, :class:`LiveSource`: ``start()``, then ``get(timeout)`` returns the next raw messages
``(type, payload, truncated length)`` for the native pipeline (``auditsql._core.Pipeline.feed_frames``), ``stop()``;
``counters`` says what the reader saw.

Three reader models (``reader=``):

- ``process`` (the default for the kernel sources): a forked reader process does nothing but drain the
  socket into a pipe, buffering in its own memory (up to 512 MiB) while the processing side catches up.
  It shares no GIL with the processing side, so the kernel's queue is emptied as fast as a bare read loop
  can. Measured with ``benchmarks/live.py`` on this 2-vCPU VM: 100 % of a 200,000-connect storm recorded
  with backlog_wait_time 0, and storm throughput on par with auditd RAW. With ``policy="drop"`` it holds at
  most ``queue_size`` messages that the pipe has not taken yet and drops (and counts, ``queue_drops``) the
  rest: user space then never holds more than the pipe (1 MiB), the processing side's read-ahead (8 MiB)
  and those messages.
- ``inline``: ``get()`` drains the socket itself, non-blocking, then the caller processes the batch. One
  thread; while the caller works, the kernel queues records in the socket buffer (8 MiB, forced) and its
  backlog. A slow batch overruns the socket (ENOBUFS), after which kauditd was seen to hold records back
  for a minute while audited processes waited.
- ``thread``: a dedicated reader thread hands raw messages to a bounded queue; when the queue is full the
  ``policy`` decides: ``block`` (the reader waits; the kernel's socket buffer and backlog fill up and,
  with ``backlog_wait_time``, audited processes wait) or ``drop`` (the message is dropped and counted as
  a ``queue_drop`` loss). Every ``recv`` must win the GIL back from the busy processing thread: in the
  200,000-connect loss test it recorded 45 %. The plugin source (a pipe) uses it.

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
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from typing import Any, BinaryIO

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
#: reader process → processing side: record type (0: the reader's counters), truncated length, payload length
_FRAME = struct.Struct("=HII")
#: what the reader process holds at most while the processing side catches up
_CHILD_BUFFER = 512 << 20
#: set in the reader process by SIGUSR1: hand over what is buffered and end
_FLUSH = [False]


def _ask_flush(_signum: int, _frame: object) -> None:
    _FLUSH[0] = True


def _die_with_parent() -> None:
    """The reader process gets SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _parse_counters(blob: bytes) -> dict[str, int]:
    import ast

    try:
        d = ast.literal_eval(blob.decode())
    except (ValueError, SyntaxError):
        return {}
    return {k: v for k, v in d.items() if isinstance(k, str) and isinstance(v, int)}


_POLL = 0.25
_ITEM_TEXT = 0  # queue item type for a text line (plugin stream)


#: reader models (see the module docstring); the kernel sources default to inline
READERS = ("inline", "thread", "process")
DEFAULT_READER = "process"


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
        #: "inline": get() reads the socket itself; "thread": a reader thread and a bounded queue
        self.reader = reader
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
        }
        self._booked = {"truncated": 0, "enobufs": 0, "queue_drops": 0}
        #: items received before the reader thread started (e.g. during registration)
        self._early: list[tuple[int, bytes, int]] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._open()
        if self.reader == "process":
            self._start_process()
            return
        if self.reader == "inline":
            self._inline_ready()
            return
        self._thread = threading.Thread(target=self._run, name=f"auditsql-{self.name}-reader", daemon=True)
        self._thread.start()

    def _inline_ready(self) -> None:  # pragma: no cover - only sources that support inline reading
        raise NotImplementedError

    def _start_process(self) -> None:  # pragma: no cover - only sources that support a reader process
        raise NotImplementedError

    def _stop_process(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def _wait_readable(self, timeout: float) -> bool:  # pragma: no cover - inline sources
        raise NotImplementedError

    def stop(self, timeout: float = 2.0) -> None:
        if self.reader == "process":
            self._stop_process()
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
        """The next queued messages, as ``(type, payload, truncated length or 0)``; type 0 is a text line
        (the plugin stream). Waits up to ``timeout`` for the first, takes what else is there (up to
        ``max_items``). An empty list on timeout. Parsing is the pipeline's (``Pipeline.feed_frames``)."""
        if self.reader != "thread":
            return self._drain(timeout, max_items)
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

    def _drain(self, timeout: float, max_items: int) -> list[tuple[int, bytes, int]]:
        """Inline reading: what the socket holds now (waiting up to ``timeout`` for the first message)."""
        items, self._early = self._early, []
        if self.finished.is_set() or self._stop.is_set():
            return items
        read = self._read
        try:
            waited = False
            while len(items) < max_items:
                item = read()
                if item is not None:
                    items.append(item)
                    continue
                if items or waited or timeout <= 0:
                    break
                waited = True
                if not self._wait_readable(timeout):
                    break
        except EOFError:
            self.finished.set()
        except Exception as exc:  # the processing side reports it, as with the thread
            self.error = exc
            self.finished.set()
        return items

    def pending(self) -> int:
        """Messages queued and not yet taken (always 0 when reading inline: the kernel holds them)."""
        return self._queue.qsize()

    def drained(self) -> bool:
        """The stream ended and everything queued was taken."""
        return self.finished.is_set() and self._queue.empty()

    def book(self) -> None:
        """Move the reader's loss counters into the loss account (as aggregated loss records)."""
        for counter, cause in (
            ("truncated", "truncated"),
            ("enobufs", "enobufs"),
            ("queue_drops", "queue_drop"),
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
    never re-sent; :meth:`stop` closes the socket and the session's restore unregisters.
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
        reader: str = "thread",
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

    # -- open --------------------------------------------------------------------------------------------

    def _open(self) -> None:
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

    def _inline_ready(self) -> None:
        # registration is done (it needed the timeout); from now on reads never block, get() polls instead
        self._sock.settimeout(0)
        self._poll = select.poll()
        self._poll.register(self._sock.fileno(), select.POLLIN)

    def _wait_readable(self, timeout: float) -> bool:
        if self._sock is None:
            return False
        try:
            return bool(self._poll.poll(max(0, int(timeout * 1000))))
        except InterruptedError:
            return False

    # -- reader process ----------------------------------------------------------------------------------

    def _start_process(self) -> None:
        """Fork a reader that only drains the socket into a pipe, buffering in its own memory when the
        processing side falls behind (up to ``_CHILD_BUFFER``; beyond, messages are dropped and counted as
        ``queue_drops``). It shares no GIL with the processing side, so the kernel's socket is drained at the
        rate a bare read loop reaches (``benchmarks/live.py``: a bare Python reader kept up with a
        200,000-connect storm)."""
        r, w = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: a 1 MiB pipe (the default maximum)
        except OSError:
            pass
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; exercised by the kernel tests
            code = 0
            try:
                os.close(r)
                # the parent's signal handlers are not ours: die on SIGTERM, leave Ctrl-C to the parent
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                signal.signal(signal.SIGUSR1, _ask_flush)
                _die_with_parent()
                self._child_loop(w)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        self._child: int | None = pid
        self._pipe = r
        os.set_blocking(r, False)
        self._pbuf = bytearray()
        self._leftover: list[tuple[int, bytes, int]] = []
        # the parent keeps no copy of the socket: the kernel's daemon connection lives and dies with the child
        if self._sock is not None and not self._given_sock:
            self._sock.close()
        self._sock = None
        self._ppoll = select.poll()
        self._ppoll.register(r, select.POLLIN)

    @property
    def reader_pid(self) -> int | None:
        """The reader process's pid (``reader="process"``, while running), else None."""
        return getattr(self, "_child", None)

    def _child_loop(self, w: int) -> None:  # pragma: no cover - runs in the forked reader
        self._sock.settimeout(0)
        os.set_blocking(w, False)
        poll = select.poll()
        poll.register(self._sock.fileno(), select.POLLIN)
        out = bytearray()
        for msg_type, data, trunc in self._early:
            out += _FRAME.pack(msg_type, trunc, len(data)) + data
        self._early = []
        read = self._read
        last_counts = 0.0
        # policy drop: hold at most queue_size messages not yet written to the pipe (their end offsets in
        # the stream written so far); beyond that, drop and count. Policy block holds up to _CHILD_BUFFER.
        held: deque[int] | None = deque() if self.policy == "drop" else None
        limit = self._queue.maxsize
        written = 0
        counters = self.counters
        while True:
            got = False
            while len(out) < _CHILD_BUFFER:
                item = read()
                if item is None:
                    break
                got = True
                msg_type, data, trunc = item
                if held is not None:
                    if len(held) >= limit:
                        counters["queue_full"] += 1
                        counters["queue_drops"] += 1
                        continue
                    out += _FRAME.pack(msg_type, trunc, len(data))
                    out += data
                    held.append(written + len(out))
                    continue
                out += _FRAME.pack(msg_type, trunc, len(data))
                out += data
            else:
                # buffer full: keep draining the kernel, count what cannot be kept
                while read() is not None:
                    self.counters["queue_drops"] += 1
            now = time.monotonic()
            if now - last_counts >= 0.5:
                blob = repr(self.counters).encode()
                out += _FRAME.pack(0, 0, len(blob)) + blob
                last_counts = now
            if _FLUSH[0]:
                # the processing side is stopping: hand over everything, then end
                while (item := read()) is not None:
                    msg_type, data, trunc = item
                    out += _FRAME.pack(msg_type, trunc, len(data)) + data
                blob = repr(self.counters).encode()
                out += _FRAME.pack(0, 0, len(blob)) + blob
                os.set_blocking(w, True)
                try:
                    while out:
                        n = os.write(w, out)
                        del out[:n]
                except BrokenPipeError:
                    pass
                return
            if out:
                try:
                    n = os.write(w, out)
                    del out[:n]
                    if held is not None:
                        written += n
                        while held and held[0] <= written:
                            held.popleft()
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    return
            if not got:
                poll.poll(20 if out else 200)

    def _stop_process(self) -> None:
        """Ask the reader to hand over what it holds, take it (``get()`` returns it after ``stop()``), end it."""
        pid = getattr(self, "_child", None)
        if pid is None:
            return
        self._child = None
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        buf = self._pbuf
        while True:
            if time.monotonic() >= deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            if not self._ppoll.poll(200):
                continue
            try:
                chunk = os.read(self._pipe, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buf += chunk
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(self._pipe)
        self._leftover = self._frames(1 << 62)

    def _drain(self, timeout: float, max_items: int) -> list[tuple[int, bytes, int]]:
        if self.reader != "process":
            return super()._drain(timeout, max_items)
        if getattr(self, "_child", None) is None:
            left = getattr(self, "_leftover", [])
            self._leftover = left[max_items:]
            return left[:max_items]
        buf = self._pbuf
        try:
            if len(buf) < _FRAME.size and not self._ppoll.poll(max(0, int(timeout * 1000))):
                return []
            while len(buf) < (8 << 20):
                chunk = os.read(self._pipe, 1 << 20)
                if not chunk:
                    self.error = SourceError("the reader process ended")
                    self.finished.set()
                    break
                buf += chunk
        except BlockingIOError:
            pass
        return self._frames(max_items)

    def _frames(self, max_items: int) -> list[tuple[int, bytes, int]]:
        """Complete frames from the pipe buffer (the reader's counters are applied, not returned)."""
        items: list[tuple[int, bytes, int]] = []
        buf = self._pbuf
        pos = 0
        end = len(buf)
        size = _FRAME.size
        while pos + size <= end and len(items) < max_items:
            msg_type, trunc, n = _FRAME.unpack_from(buf, pos)
            if pos + size + n > end:
                break
            data = bytes(buf[pos + size : pos + size + n])
            pos += size + n
            if msg_type == 0:
                self.counters.update(_parse_counters(data))
                continue
            items.append((msg_type, data, trunc))
        del buf[:pos]
        return items

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
            if self.session is not None:
                self.session.will_register(me)
            try:
                self._set_pid(me)
            except AuditNetlinkError as exc:
                if self.session is not None:
                    self.session.not_registered()
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
        seq = 0x5A51  # any: this socket sends nothing else
        sock.sendto(pack_nlmsg(AUDIT_SET, build_set_payload(pid=pid), NLM_F_REQUEST | NLM_F_ACK, seq), (0, 0))
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
        if self._sock is not None and not self._given_sock:
            self._sock.close()
        self._sock = None


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
) -> LiveSource:
    """A source for ``mode`` (unicast, multicast or plugin), not started. ``reader`` applies to the kernel
    sources (the plugin stream is always read by a thread)."""
    if mode == "plugin":
        return PluginSource(stream, queue_size, policy, loss)
    return NetlinkSource(mode, session, rcvbuf, queue_size, policy, loss, reader=reader)

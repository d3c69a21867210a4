"""A bounded on-disk FIFO of byte records: the NATS output's spool while the server is unreachable.

Layout (one directory, mode 0700; files 0600, an existing one open to group or others made 0600 at open)
    ``NNNNNNNNNNNNNNNNNNNN.seg`` segment files, numbered in order, each a run of records
    ``<u32 length><u32 crc32><payload>`` (little endian); a new segment starts when the current one reaches
    ``segment_bytes``. ``cursor`` holds ``{"segment": N, "offset": BYTES}``: where the first record not yet
    acknowledged starts. Segments wholly before the cursor are deleted.

Reading and committing
    :meth:`Spool.peek` returns the next records after those already peeked, without consuming them;
    :meth:`Spool.commit` consumes the first ``n`` peeked records (they were acknowledged) and moves the cursor;
    :meth:`Spool.rewind` forgets what was peeked, so the next ``peek`` starts again at the cursor (a send
    failed). Records come back in the order they were appended, also across restarts.

Bound
    ``max_bytes`` bounds the total size of the segment files. :meth:`Spool.append` stores what fits and returns
    how many records it stored; the caller counts the rest as lost (``spool_drop``).

Durability (fsync policy)
    Appends and the cursor are written with ``write(2)`` at once, so they survive the process being killed
    (``kill -9``): the page cache keeps them. :meth:`Spool.sync` ``fdatasync``\\ s the open segment and
    ``fsync``\\ s the cursor; the NATS output calls it about once a second while the spool changes, and on close.
    A power failure or kernel crash can therefore lose the last second of spooled records, and can move the
    cursor back by up to a second (those records are sent again; JetStream drops the copies by message id
    within its duplicate window). A record cut short by a crash (torn tail) fails its length or CRC check when
    the spool is opened: the segment is truncated there and ``torn`` counts the bytes cut.

Thread safety: every method takes one lock, so the agent's thread may append while the sender thread peeks.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from collections import deque

from auditsql.private import DIR_MODE, FILE_MODE, make_private

__all__ = ["DEFAULT_SEGMENT_BYTES", "Spool", "SpoolError"]

#: a new segment starts when the current one reaches this size (smaller when max_bytes is small)
DEFAULT_SEGMENT_BYTES = 16 << 20
_HEAD = struct.Struct("<II")
_CHUNK = 1 << 20
_SUFFIX = ".seg"


class SpoolError(Exception):
    """The spool directory cannot be used; ``str()`` is one line naming the cause and the fix."""


def _seg_name(n: int) -> str:
    return f"{n:020d}{_SUFFIX}"


class Spool:
    """A FIFO of byte records in ``directory``, at most ``max_bytes`` on disk. Call :meth:`open` first."""

    def __init__(self, directory: str, max_bytes: int, segment_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(DEFAULT_SEGMENT_BYTES, max_bytes // 8))
        self._lock = threading.Lock()
        #: segment number -> size in bytes, in order
        self._segs: dict[int, int] = {}
        self._wfd: int | None = None
        self._wseg = 0
        self._fds: dict[int, int] = {}
        self._cur = (0, 0)  # committed cursor (segment, offset)
        self._rd = (0, 0)  # position after the last peeked record
        self._peeked: deque[tuple[int, int]] = deque()  # end position of each peeked record
        self._dirty = False
        #: records stored and not yet committed
        self.pending = 0
        #: records appended, committed, refused (full) since open; bytes cut from torn tails at open
        self.appended = 0
        self.committed = 0
        self.refused = 0
        self.torn = 0

    # -- opening -----------------------------------------------------------------------------------------------

    def open(self) -> Spool:
        """Create the directory (0700) if missing, check the segments from the cursor on, count the records."""
        d = self.directory
        fix = "set [output.nats] spool_dir to a writable directory, or run as root"
        try:
            os.makedirs(d, mode=DIR_MODE, exist_ok=True)
            if not os.access(d, os.W_OK | os.X_OK):
                raise SpoolError(f"cannot write the spool {d}: permission denied ({fix})")
            names = sorted(n for n in os.listdir(d) if n.endswith(_SUFFIX) and n[: -len(_SUFFIX)].isdigit())
            make_private(os.path.join(d, n) for n in [*names, "cursor"])
        except PermissionError:
            raise SpoolError(f"cannot create the spool {d}: permission denied ({fix})") from None
        except OSError as exc:
            raise SpoolError(f"cannot create the spool {d}: {exc.strerror} ({fix})") from None
        cur = self._read_cursor()
        with self._lock:
            for name in names:
                n = int(name[: -len(_SUFFIX)])
                path = os.path.join(d, name)
                if n < cur[0]:
                    os.unlink(path)  # consumed before a crash, not yet deleted
                    continue
                self._segs[n] = os.path.getsize(path)
            if not self._segs or cur[0] not in self._segs:
                first = min(self._segs) if self._segs else cur[0]
                cur = (first, 0)
            self._cur = self._rd = cur
            for n in list(self._segs):
                start = cur[1] if n == cur[0] else 0
                self.pending += self._check(n, start)
            self._wseg = max(self._segs) if self._segs else cur[0]
            self._open_writer(self._wseg)
        return self

    def _read_cursor(self) -> tuple[int, int]:
        try:
            with open(os.path.join(self.directory, "cursor"), encoding="ascii") as fh:
                c = json.load(fh)
            return int(c["segment"]), int(c["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0

    def _check(self, n: int, start: int) -> int:
        """Count the whole records of segment ``n`` from ``start``; truncate a torn tail."""
        fd = self._fd(n)
        size = self._segs[n]
        off, count = start, 0
        while off < size:
            head = os.pread(fd, _HEAD.size, off)
            if len(head) < _HEAD.size:
                break
            length, crc = _HEAD.unpack(head)
            if off + _HEAD.size + length > size:
                break
            body = os.pread(fd, length, off + _HEAD.size)
            if zlib.crc32(body) != crc:
                break
            off += _HEAD.size + length
            count += 1
        if off < size:
            self.torn += size - off
            os.truncate(os.path.join(self.directory, _seg_name(n)), off)
            self._segs[n] = off
        return count

    def _fd(self, n: int) -> int:
        fd = self._fds.get(n)
        if fd is None:
            fd = self._fds[n] = os.open(
                os.path.join(self.directory, _seg_name(n)), os.O_RDONLY | os.O_CLOEXEC
            )
        return fd

    def _open_writer(self, n: int) -> None:
        if self._wfd is not None:
            os.close(self._wfd)
        path = os.path.join(self.directory, _seg_name(n))
        self._wfd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        self._wseg = n
        self._segs.setdefault(n, 0)

    # -- writing -----------------------------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        """Bytes on disk (segment files)."""
        return sum(self._segs.values())

    def append(self, records: list[bytes]) -> int:
        """Append ``records`` in order; returns how many were stored (the rest did not fit in ``max_bytes``)."""
        if not records:
            return 0
        with self._lock:
            if self._wfd is None:
                raise SpoolError(f"the spool {self.directory} is closed")
            used = sum(self._segs.values())
            stored = 0
            buf: list[bytes] = []
            size = self._segs[self._wseg]
            for rec in records:
                need = _HEAD.size + len(rec)
                if used + need > self.max_bytes:
                    break
                if size and size + need > self.segment_bytes:
                    self._write(buf)
                    buf = []
                    self._open_writer(self._wseg + 1)
                    size = 0
                buf.append(_HEAD.pack(len(rec), zlib.crc32(rec)) + rec)
                size += need
                used += need
                stored += 1
            self._write(buf)
            self.pending += stored
            self.appended += stored
            self.refused += len(records) - stored
            self._dirty = True
            return stored

    def _write(self, buf: list[bytes]) -> None:
        if not buf:
            return
        data = b"".join(buf)
        view = memoryview(data)
        assert self._wfd is not None
        try:
            while view:
                k = os.write(self._wfd, view)
                view = view[k:]
        except OSError as exc:
            raise SpoolError(f"cannot write the spool {self.directory}: {exc.strerror}") from None
        self._segs[self._wseg] += len(data)

    # -- reading -----------------------------------------------------------------------------------------------

    def peek(self, n: int) -> list[bytes]:
        """Up to ``n`` records after those already peeked (none: the spool is empty or all are peeked)."""
        out: list[bytes] = []
        with self._lock:
            seg, off = self._rd
            while len(out) < n:
                size = self._segs.get(seg)
                if size is None:
                    break
                if off >= size:
                    if seg + 1 in self._segs:
                        seg, off = seg + 1, 0
                        continue
                    break
                fd = self._fd(seg)
                chunk = os.pread(fd, min(_CHUNK, size - off), off)
                pos = 0
                while len(out) < n and pos + _HEAD.size <= len(chunk):
                    length, _crc = _HEAD.unpack_from(chunk, pos)
                    end = pos + _HEAD.size + length
                    if end > len(chunk):
                        if pos == 0:  # a record larger than the chunk
                            chunk = os.pread(fd, _HEAD.size + length, off)
                            end = _HEAD.size + length
                        else:
                            break
                    out.append(bytes(chunk[pos + _HEAD.size : end]))
                    pos = end
                    self._peeked.append((seg, off + pos))
                off += pos
            self._rd = (seg, off)
        return out

    def commit(self, n: int) -> None:
        """Consume the first ``n`` peeked records (acknowledged): move the cursor, delete used-up segments."""
        if n <= 0:
            return
        with self._lock:
            n = min(n, len(self._peeked))
            pos = self._cur
            for _ in range(n):
                pos = self._peeked.popleft()
            self._cur = pos
            self.pending -= n
            self.committed += n
            for seg in [s for s in self._segs if s < pos[0]]:
                self._drop_segment(seg)
            if not self._peeked and self.pending == 0 and pos[0] == self._wseg and pos[1] > 0:
                # everything consumed: start the segment afresh rather than let it grow
                self._drop_segment(self._wseg)
                self._open_writer(self._wseg + 1)
                self._cur = self._rd = (self._wseg, 0)
            self._write_cursor()

    def rewind(self) -> None:
        """Forget the peeked records: the next :meth:`peek` starts again at the first uncommitted record."""
        with self._lock:
            self._peeked.clear()
            self._rd = self._cur

    def _drop_segment(self, seg: int) -> None:
        fd = self._fds.pop(seg, None)
        if fd is not None:
            os.close(fd)
        if seg == self._wseg and self._wfd is not None:
            os.close(self._wfd)
            self._wfd = None
        self._segs.pop(seg, None)
        try:
            os.unlink(os.path.join(self.directory, _seg_name(seg)))
        except FileNotFoundError:
            pass

    def _write_cursor(self, sync: bool = False) -> None:
        path = os.path.join(self.directory, "cursor")
        tmp = path + ".tmp"
        data = json.dumps({"segment": self._cur[0], "offset": self._cur[1]}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        try:
            os.write(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self._dirty = True

    # -- durability, closing -----------------------------------------------------------------------------------

    def sync(self) -> None:
        """``fdatasync`` the open segment and ``fsync`` the cursor, if anything changed since the last call."""
        with self._lock:
            if not self._dirty:
                return
            if self._wfd is not None:
                os.fdatasync(self._wfd)
            self._write_cursor(sync=True)
            dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._dirty = False

    def close(self) -> None:
        """Sync and close the files (idempotent)."""
        if self._wfd is None and not self._fds:
            return
        try:
            self.sync()
        finally:
            with self._lock:
                for fd in self._fds.values():
                    os.close(fd)
                self._fds.clear()
                if self._wfd is not None:
                    os.close(self._wfd)
                    self._wfd = None

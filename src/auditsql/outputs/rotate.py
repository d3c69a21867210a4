"""Size-based rotation of an append-only log file, named and counted as osquery's filesystem logger does.

osquery (``plugins/logger/filesystem_logger.cpp``, ``LogRotate``; flags ``--logger_rotate``,
``--logger_rotate_size`` 25 MiB, ``--logger_rotate_max_files`` 25): before each line is written, if the file has
reached ``rotate_size`` bytes it is rotated: ``PATH.1`` is the newest rotated file, kept uncompressed; older ones
are ``PATH.2.zst``, ``PATH.3.zst``... (``PATH.N`` becomes ``PATH.N+1``; ``PATH.1`` is compressed into
``PATH.2.zst``); files numbered above ``rotate_max_files`` are deleted; then ``PATH`` becomes ``PATH.1`` and a
new ``PATH`` is started. So at most ``rotate_max_files`` rotated files are kept beside the live file.

auditsql does the same, except that the compression is gzip (``PATH.2.gz``...), the standard library having no
zstd in Python 3.11; ``zcat`` and ``zgrep`` read them. Compressing a 25 MiB file takes a fraction of a second,
so it runs on a thread of its own: the writer only renames. Until it is done the file is ``PATH.2`` (plain);
it becomes ``PATH.2.gz`` atomically (written as ``PATH.2.gz.tmp``, then renamed). A ``PATH.2`` left by a crash
is compressed when the file is next opened. New files get mode 0600 in a 0700 directory (osquery's
``--logger_mode`` is 0640; the lines carry what events carry: command lines, users, paths), and an existing file,
rotated ones included, open to group or others is made 0600 when opened (:mod:`auditsql.private`).
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import threading
from collections.abc import Iterable

from auditsql.private import DIR_MODE, FILE_MODE, make_private

__all__ = ["RotatingFile", "rotated_names"]


def rotated_names(path: str, count: int) -> list[str]:
    """The names of rotated files 1..count: ``PATH.1``, ``PATH.2.gz``, ``PATH.3.gz``..."""
    return [path + ".1"][:count] + [f"{path}.{i}.gz" for i in range(2, count + 1)]


class RotatingFile:
    """Appends lines to ``path``; with ``rotate``, rotates it by size as described above.

    ``open`` raises ``OSError``; the callers turn it into their one-line error. Not thread-safe: one writer.
    """

    def __init__(
        self,
        path: str,
        rotate: bool = True,
        rotate_size: int = 25 * 1024 * 1024,
        rotate_max_files: int = 25,
        mode: int = FILE_MODE,
        dir_mode: int = DIR_MODE,
    ) -> None:
        self.path = path
        self.rotate_enabled = rotate
        self.rotate_size = max(1, int(rotate_size))
        self.max_files = max(1, int(rotate_max_files))
        self.mode = mode
        self.dir_mode = dir_mode
        self.size = 0
        self.rotations = 0
        #: compressions that failed (the plain file is kept under its temporary name)
        self.compress_errors = 0
        self._fd: int | None = None
        self._compressor: threading.Thread | None = None

    def open(self) -> RotatingFile:
        parent = os.path.dirname(os.path.abspath(self.path))
        if os.path.lexists(parent) and not os.path.isdir(parent):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), parent)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=self.dir_mode, exist_ok=True)
            os.chmod(parent, self.dir_mode)
        if os.path.isdir(self.path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
        make_private([self.path, self.path + ".2", *rotated_names(self.path, self.max_files)])
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
        self.size = os.fstat(self._fd).st_size
        if os.path.exists(self.path + ".2"):  # a compression a crash interrupted
            self._compress_later(self.path + ".2", self.path + ".2.gz")
        return self

    def write_lines(self, lines: Iterable[bytes]) -> int:
        """Write each line (with its newline), rotating first whenever the file has reached the size."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"{self.path} is not open")
        chunk: list[bytes] = []
        pending = 0
        written = 0
        limit = self.rotate_size if self.rotate_enabled else None
        for line in lines:
            if limit is not None and self.size + pending >= limit and self.size + pending > 0:
                if chunk:
                    self._write(b"".join(chunk))
                    chunk.clear()
                    pending = 0
                self.rotate()
            chunk.append(line)
            pending += len(line)
            written += 1
        if chunk:
            self._write(b"".join(chunk))
        return written

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self.size += n

    def rotate(self) -> None:
        """Rotate now: shift the rotated files, drop the ones beyond ``rotate_max_files``, start a new file."""
        self.wait()  # the previous compression must be done before its file moves again
        path = self.path
        # shift PATH.N.gz -> PATH.N+1.gz, oldest first; delete those beyond max_files
        k = 2
        while os.path.exists(f"{path}.{k}.gz"):
            k += 1
        for i in range(k - 1, 1, -1):
            src = f"{path}.{i}.gz"
            if i + 1 > self.max_files:
                _unlink(src)
            else:
                os.replace(src, f"{path}.{i + 1}.gz")
        if os.path.exists(path + ".1"):
            if self.max_files >= 2:
                os.replace(path + ".1", path + ".2")
                self._compress_later(path + ".2", path + ".2.gz")
            else:
                _unlink(path + ".1")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.replace(path, path + ".1")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
        self.size = 0
        self.rotations += 1

    def _compress_later(self, src: str, dst: str) -> None:
        t = threading.Thread(target=self._compress, args=(src, dst), name="auditsql-rotate-gzip", daemon=True)
        self._compressor = t
        t.start()

    def _compress(self, src: str, dst: str) -> None:
        tmp = dst + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self.mode)
            with (
                open(src, "rb") as fin,
                os.fdopen(fd, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb") as gz,
            ):
                shutil.copyfileobj(fin, gz, 1 << 20)
            os.replace(tmp, dst)
            os.unlink(src)
        except OSError:
            self.compress_errors += 1
            _unlink(tmp)

    def wait(self) -> None:
        """Wait for a running compression."""
        t = self._compressor
        if t is not None:
            t.join()
            self._compressor = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.wait()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

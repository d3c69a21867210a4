"""auditd log files and streams (raw or ENRICHED), and the auditd plugin stream on stdin, → records."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from auditsql.records.parser import parse_line
from auditsql.records.record import Record

__all__ = ["LogSource", "InputError", "detect_format", "FORMATS"]

FORMATS = ("auto", "raw", "enriched")
_SNIFF = 64 * 1024
_ENRICHED_MARK = re.compile(rb'\x1d|[A-Z][A-Z0-9_]+="|ARCH=[a-z]|SYSCALL=[a-z]')


class InputError(Exception):
    """A file that cannot be read as an audit log: the message is one line for the user."""


def detect_format(head: bytes) -> str:
    """``enriched`` when the sample holds auditd's 0x1d separator or an upper-case interpreted key
    (``UID="root"``, ``ARCH=x86_64``), however it is attached (space, 0x1d, or glued to the value)."""
    return "enriched" if _ENRICHED_MARK.search(head) else "raw"


@dataclass
class LogSource:
    """One file or stream. ``records()`` yields every record of every line; comment and blank lines are
    skipped and counted (laurel's and auditd-parser's test logs carry ``#`` comments)."""

    path: str
    fmt: str = "auto"
    stats: dict[str, int] = field(default_factory=lambda: {"lines": 0, "skipped_lines": 0, "bytes": 0})
    detected: str = ""

    def open(self) -> tuple[BinaryIO, int]:
        if self.path == "-":
            return sys.stdin.buffer, 0
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such file") from None
        except PermissionError:
            raise InputError(f"{self.path}: permission denied (run as a user that can read it)") from None
        if os.path.isdir(self.path):
            raise InputError(f"{self.path}: is a directory, not a log file")
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed by records()
        except PermissionError:
            raise InputError(f"{self.path}: permission denied (run as a user that can read it)") from None
        except OSError as e:
            raise InputError(f"{self.path}: cannot open: {e.strerror}") from None
        return f, st.st_size

    def records(self, progress: Callable[[int], None] | None = None) -> Iterator[Record]:
        f, _size = self.open()
        try:
            yield from self._records(f, progress)
        finally:
            if f is not sys.stdin.buffer:
                f.close()

    def _records(self, f: BinaryIO, progress: Callable[[int], None] | None) -> Iterator[Record]:
        stats = self.stats
        head = f.peek(_SNIFF)[:_SNIFF] if hasattr(f, "peek") else b""
        if b"\0" in head:
            raise InputError(f"{self.path}: binary data (NUL bytes), not an auditd text log")
        fmt = self.fmt if self.fmt != "auto" else detect_format(head)
        self.detected = fmt
        detect = fmt != "raw"
        lines = 0
        skipped = 0
        nbytes = 0
        tick = 0
        try:
            for line in f:
                lines += 1
                n = len(line)
                nbytes += n
                c = line[:1]
                if c == b"#" or line.isspace() or not n:
                    skipped += 1
                    continue
                if b"\0" in line:
                    raise InputError(f"{self.path}:{lines}: binary data (NUL bytes), not an auditd text log")
                yield from parse_line(line, detect)
                if progress is not None:
                    tick += n
                    if tick >= 1 << 20:
                        progress(tick)
                        tick = 0
        except OSError as e:
            raise InputError(f"{self.path}: read error: {e.strerror}") from None
        finally:
            if progress is not None and tick:
                progress(tick)
            stats["lines"] += lines
            stats["skipped_lines"] += skipped
            stats["bytes"] += nbytes

"""auditd log files and streams (raw or ENRICHED), read in chunks for the native pipeline.

Parsing happens in the core (``auditsql._core.Pipeline.feed_lines``): this module opens the file, refuses what
is plainly not a text log, and hands out chunks. A log that holds a run of NUL bytes (a file preallocated and
cut short by a crash) is read on: the core turns the run into one error record and goes on with the next line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["LogSource", "InputError", "FORMATS", "CHUNK", "not_audit_message"]

FORMATS = ("auto", "raw", "enriched")
#: bytes handed to the pipeline at a time
CHUNK = 1 << 20
_SNIFF = 4096


class InputError(Exception):
    """A file that cannot be read as an audit log: the message is one line for the user."""


@dataclass
class LogSource:
    """One file or stream (``-``: standard input)."""

    path: str
    fmt: str = "auto"

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
            f = open(self.path, "rb")  # noqa: SIM115 - closed by chunks()
        except PermissionError:
            raise InputError(f"{self.path}: permission denied (run as a user that can read it)") from None
        except OSError as e:
            raise InputError(f"{self.path}: cannot open: {e.strerror}") from None
        return f, st.st_size

    def chunks(self, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The file's bytes in chunks of about :data:`CHUNK`. A file whose first line holds a NUL byte and no
        ``type=`` (a compressed or binary file) is refused with :class:`InputError`."""
        f, _size = self.open()
        try:
            first = True
            while True:
                try:
                    chunk = f.read(CHUNK) if f is not sys.stdin.buffer else f.read1(CHUNK)  # type: ignore[attr-defined]
                except OSError as e:
                    raise InputError(f"{self.path}: read error: {e.strerror}") from None
                if not chunk:
                    return
                if first:
                    first = False
                    head = chunk[:_SNIFF]
                    line = head.split(b"\n", 1)[0]
                    if b"\0" in line and b"type=" not in head:
                        raise InputError(f"{self.path}: binary data (NUL bytes), not an auditd text log")
                if progress is not None:
                    progress(len(chunk))
                yield chunk
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def not_audit_message(errors: int, records: int) -> str:
    """The one line for an input that is mostly not audit records (a syslog file, say): more than half of the
    lines were error events. They are kept (nothing is dropped), and the command exits non-zero."""
    return (
        f"{errors} of {records} lines are not audit records (is this an auditd log? a syslog file holds kernel "
        "audit messages only when no audit daemon runs); they are kept as error events"
    )

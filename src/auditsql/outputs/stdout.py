"""``[output.stdout]``: events and/or scheduled query results as JSON lines on standard output.

For containers and pipelines (``auditsql run | jq``); the status lines stay on stderr. The writer thread writes
to the stdout file descriptor, so a reader that does not keep up fills the bounded buffer and the overflow is
counted (``output_drop``) instead of stalling the agent. A closed pipe is an error: the batch is counted lost.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from auditsql.outputs.base import BufferedOutput, json_line

__all__ = ["StdoutOutput"]


class StdoutOutput(BufferedOutput):
    """JSON lines to file descriptor ``fd`` (1: standard output)."""

    def __init__(
        self, events: bool = True, results: bool = False, buffer: int = 100000, fd: int | None = None
    ) -> None:
        super().__init__("stdout", buffer, events=events, results=results)
        self.fd = sys.stdout.fileno() if fd is None else fd

    def write_batch(self, items: list[tuple[str, Any]]) -> None:
        view = memoryview(b"".join(json_line(item) for _kind, item in items))
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

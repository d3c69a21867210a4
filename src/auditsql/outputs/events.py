"""``[output.events]``: every event as one JSON line in a file, laurel's shape or ECS, rotated by size.

The laurel shape is the rendered event as it is (docs/event-json.md: laurel's record sections plus ``summary``
and ``raw``), the line ``auditsql read`` writes; ``ecs`` maps it to Elastic Common Schema as Auditbeat does
(:mod:`auditsql.outputs.ecs`), with what the process tree knew of the event's process (the event's
``summary.tree``, written by the pipeline as the event closed). Serialising and writing happen on the output's writer thread
(:class:`~auditsql.outputs.base.BufferedOutput`); the agent only enqueues the dict, so a slow disk costs
buffered events (counted in ``audit_loss`` as ``output_drop`` when the buffer is full), never the reader's time.
Rotation is the results log's, osquery's scheme (:mod:`auditsql.outputs.rotate`).
"""

from __future__ import annotations

import socket
from typing import Any

from auditsql.outputs.base import BufferedOutput, OutputError, json_line
from auditsql.outputs.ecs import machine_id, to_ecs
from auditsql.outputs.rotate import RotatingFile

__all__ = ["FORMATS", "EventsOutput"]

FORMATS = ("laurel", "ecs")


class EventsOutput(BufferedOutput):
    """Event JSON lines to ``path``."""

    def __init__(
        self,
        path: str,
        format: str = "laurel",
        rotate: bool = True,
        rotate_size: int = 104857600,
        rotate_max_files: int = 10,
        buffer: int = 100000,
        host: str | None = None,
        name: str = "events",
        host_id: str | None = None,
    ) -> None:
        if format not in FORMATS:
            raise OutputError(f"output.events.format: expected one of {', '.join(FORMATS)}, got {format!r}")
        super().__init__(name, buffer, events=True, results=False)
        self.path = path
        self.format = format
        self.host = host or socket.gethostname()
        #: ECS only: ``host.id`` and the host part of ``process.entity_id`` (this host's machine id)
        self.host_id = (host_id or machine_id()) if format == "ecs" else None
        self.file = RotatingFile(path, rotate, rotate_size, rotate_max_files)

    def open(self) -> None:
        try:
            self.file.open()
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise OutputError(
                f"cannot write the event stream {self.path}: {why} (set [output.events] path to a writable "
                "file, or run as root)"
            ) from None

    def write_batch(self, items: list[tuple[str, Any]]) -> None:
        if self.format == "ecs":
            host, host_id = self.host, self.host_id
            lines = [json_line(to_ecs(ev, host, host_id=host_id)) for _kind, ev in items]
        else:
            lines = [json_line(item) for _kind, item in items]
        self.file.write_lines(lines)

    def shutdown(self) -> None:
        self.file.close()

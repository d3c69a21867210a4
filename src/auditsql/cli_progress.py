"""Reading a log file through the pipeline, with a progress bar on stderr for big files on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from auditsql.events.assembler import Assembler
from auditsql.events.render import Renderer
from auditsql.pipeline import process
from auditsql.sources.logfile import LogSource

__all__ = ["process_file", "PROGRESS_MIN"]

#: files at least this big get a progress bar (when stderr is a terminal)
PROGRESS_MIN = 4 * 1024 * 1024


def process_file(
    src: LogSource, emit: Callable[[dict], None], assembler: Assembler, renderer: Renderer
) -> None:
    """Push every record of ``src`` through ``assembler`` and ``renderer`` into ``emit`` (no final flush)."""
    f, size = src.open()
    if f is not sys.stdin.buffer:
        f.close()
    if size < PROGRESS_MIN or not sys.stderr.isatty():
        process(src.records(), emit, assembler, renderer, flush=False)
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(os.path.basename(src.path), total=size)
        process(src.records(lambda n: bar.advance(task, n)), emit, assembler, renderer, flush=False)

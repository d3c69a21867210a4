"""Reading a log file through the native pipeline, with a progress bar on stderr for big files on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from auditsql._core import Batch, Pipeline
from auditsql.sources.logfile import LogSource

__all__ = ["process_file", "PROGRESS_MIN"]

#: files at least this big get a progress bar (when stderr is a terminal)
PROGRESS_MIN = 4 * 1024 * 1024


def process_file(src: LogSource, pipeline: Pipeline, on_batch: Callable[[Batch], None]) -> str | None:
    """Feed every chunk of ``src`` to ``pipeline`` and hand each batch to ``on_batch``; the file's end is
    marked (its partial last line), open events stay open (no final flush: that is ``pipeline.finish()``).
    Returns the format detected for the file ("raw", "enriched"; None when it was empty)."""
    f, size = src.open()
    if f is not sys.stdin.buffer:
        f.close()
    if size < PROGRESS_MIN or not sys.stderr.isatty():
        for chunk in src.chunks():
            on_batch(pipeline.feed_lines(chunk))
        detected = pipeline.detected
        on_batch(pipeline.end_file())
        return detected
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
        for chunk in src.chunks(lambda n: bar.advance(task, n)):
            on_batch(pipeline.feed_lines(chunk))
        detected = pipeline.detected
        on_batch(pipeline.end_file())
    return detected

"""JSON lines: one object per event, batched writes."""

from __future__ import annotations

import json
from typing import BinaryIO

import orjson

__all__ = ["JsonLinesWriter"]

_OPTS = orjson.OPT_APPEND_NEWLINE


class JsonLinesWriter:
    """Writes dicts as JSON lines to a binary stream, flushing every ``batch`` objects."""

    def __init__(self, out: BinaryIO, batch: int = 256) -> None:
        self.out = out
        self.batch = batch
        self._buf: list[bytes] = []
        self.written = 0
        #: objects orjson refused (a string that is not valid UTF-8) and the stdlib encoder wrote instead
        self.fallbacks = 0

    def write(self, obj: dict) -> None:
        try:
            b = orjson.dumps(obj, option=_OPTS)
        except TypeError:
            # lone surrogates (bytes that were not UTF-8 in a place nothing escaped): keep them, \\udcXX
            self.fallbacks += 1
            b = (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        self._buf.append(b)
        if len(self._buf) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self.out.write(b"".join(self._buf))
            self.written += len(self._buf)
            self._buf.clear()
        self.out.flush()

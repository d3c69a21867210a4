"""Scheduled query results in osquery's results log *event format*: one JSON line per row.

The keys, their order and their types are osquery's (``osquery/core/query.cpp``: ``serializeEvent`` and
``addLegacyFieldsAndDecorations``, rapidjson writer, compact)::

    {"name":"execs","hostIdentifier":"web1","calendarTime":"Wed Nov 25 08:00:00 2026 UTC",
     "unixTime":1795593600,"epoch":0,"counter":0,"numerics":false,"decorations":{},
     "columns":{"cmdline":"/bin/echo hi","pid":"4242"},"action":"added"}

- ``calendarTime`` is C ``asctime`` of the UTC time, trimmed, plus ``" UTC"`` (osquery's ``getAsciiTime``);
- ``unixTime``, ``epoch`` and ``counter`` are JSON numbers, ``numerics`` is ``false``;
- ``columns`` holds every value as a string (osquery's ``--logger_numerics=false`` default): SQL NULL is ``""``
  (``--nullvalue``), integers in decimal, floats as boost ``lexical_cast`` writes a double (17 significant
  digits) with ``.0`` added when there is no decimal point (``castVariant``), blobs as UTF-8 text; keys are
  sorted (osquery's row is a ``std::map``), a duplicate column name keeps the last value;
- ``decorations`` is always written (osquery leaves it out when no decorator is configured), its keys sorted
  (osquery's decorations are a ``std::map``); with ``decorations_top_level`` (osquery's
  ``--decorations_top_level``) they are top-level keys in its place instead;
- a differential query's rows that left its result set are ``"action":"removed"`` lines, written before the
  ``added`` ones of the same run (osquery's ``serializeDiffResults``).

Snapshot queries write osquery's snapshot line: ``{"snapshot":[rows],"action":"snapshot","name":...,
"hostIdentifier":...,"calendarTime":...,"unixTime":...,"epoch":...,"counter":...,"numerics":false,
"decorations":{}}`` (``serializeQueryLogItem``: the rows first, then the common keys); with
``snapshot_event_type`` (osquery's ``--logger_snapshot_event_type``) one event-format line per row instead,
``"action":"snapshot"``. With ``snapshot_path`` (osquery's ``osqueryd.snapshots.log`` beside
``osqueryd.results.log``) snapshot lines go to that file instead, rotated the same way.

Rotation is osquery's filesystem logger's (``--logger_rotate``): ``results.jsonl.1``, ``results.jsonl.2.gz``...
up to ``rotate_max_files`` rotated files (:mod:`auditsql.outputs.rotate`). The results log is written
synchronously, on the agent's thread, when a scheduled query has run: it is the record of truth for scheduled
queries, a few lines per run, and a write error ends the run with one line rather than losing results quietly.
The same line dicts are then handed to ``forward`` (the other outputs' ``results``), which only enqueues.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

import orjson

from auditsql.outputs.rotate import RotatingFile

__all__ = [
    "ResultsLog",
    "ResultsLogError",
    "calendar_time",
    "column_text",
    "host_identifier",
    "row_columns",
]


class ResultsLogError(Exception):
    """The results log cannot be opened or written; ``str()`` is one line for the user."""


def calendar_time(t: float) -> str:
    """osquery's ``calendarTime``: ``"Mon May  2 22:27:32 2016 UTC"`` (asctime of UTC, day space-padded)."""
    return time.asctime(time.gmtime(int(t))) + " UTC"


def host_identifier(kind: str = "hostname", specified: str = "") -> str:
    """osquery's ``--host_identifier``: ``hostname`` (gethostname), ``uuid`` (``system_info.uuid``: the DMI
    product UUID, else /etc/machine-id as a UUID; osquery generates and stores a random one when the hardware
    has none) or ``specified`` (the hostname when empty, as osquery)."""
    if kind == "hostname":
        return socket.gethostname().strip()
    if kind == "specified":
        return specified or socket.gethostname().strip()  # osquery falls back to the hostname
    if kind == "uuid":  # system_info's uuid, as osquery's (auditsql.tables.host)
        from auditsql.tables.host import identity

        return identity().uuid or socket.gethostname().strip()
    raise ValueError(f"unknown host identifier kind {kind!r}")


def column_text(value: object) -> str:
    """A SQL value as osquery writes it with ``numerics`` false."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        s = format(value, ".17g")
        return s if "." in s else s + ".0"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def row_columns(names: Sequence[str], row: Sequence[object]) -> dict[str, str]:
    """``{column: text}`` sorted by column name; a repeated name keeps its last value (a std::map)."""
    d: dict[str, str] = {}
    for name, value in zip(names, row, strict=True):
        d[name] = column_text(value)
    return dict(sorted(d.items()))


def _dumps(obj: dict) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # a lone surrogate (bytes that were not UTF-8): keep it, escaped
        return (json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


class ResultsLog:
    """Appends result lines to ``path`` (``None``/``""``: discard) or to an open binary stream.

    ``host`` is the ``hostIdentifier``, or a function giving it (osquery reads the hostname anew for every
    run of a query, since it may change while running). ``rotate``, ``rotate_size`` and ``rotate_max_files``
    are osquery's ``--logger_rotate*`` (for a path). ``forward`` gets every batch of line dicts (the other
    outputs), also when there is no file."""

    def __init__(
        self,
        path: str | None,
        host: str | Callable[[], str],
        epoch: int = 0,
        decorations: dict[str, str] | None = None,
        stream: BinaryIO | None = None,
        rotate: bool = False,
        rotate_size: int = 26214400,
        rotate_max_files: int = 25,
        forward: Callable[[list[dict]], object] | None = None,
        snapshot_event_type: bool = False,
        decorations_top_level: bool = False,
        snapshot_path: str | None = None,
    ) -> None:
        self.path = path or None
        #: where snapshot lines go when not to ``path`` (osquery's ``osqueryd.snapshots.log``)
        self.snapshot_path = (snapshot_path or None) if self.path else None
        self.host = host
        self.epoch = epoch
        #: the configured (static) decorations; :meth:`set_decorations` adds the decorators' over them
        self.static_decorations = dict(decorations or {})
        self.decorations = dict(sorted(self.static_decorations.items()))
        self.snapshot_event_type = snapshot_event_type
        self.decorations_top_level = decorations_top_level
        self._out: BinaryIO | None = stream
        self._file: RotatingFile | None = None
        self._snap_file: RotatingFile | None = None
        self._rotations = 0
        self._own = False
        self.rotate = rotate
        self.rotate_size = rotate_size
        self.rotate_max_files = rotate_max_files
        self.forward = forward
        #: lines written
        self.lines = 0

    def open(self) -> ResultsLog:
        """Create the directory (0700) and the file (0600) if missing, and open it for appending (an existing
        file open to group or others is made 0600: :mod:`auditsql.outputs.rotate`)."""
        if self._out is not None or self._file is not None or self.path is None:
            return self
        self._file = self._open_file(self.path)
        if self.snapshot_path is not None:
            self._snap_file = self._open_file(self.snapshot_path)
        self._own = True
        return self

    def _open_file(self, path: str) -> RotatingFile:
        fix = "pass --results-log with a writable path, or run as root"
        if os.path.isdir(path):
            raise ResultsLogError(f"cannot use {path} as the results log: it is a directory ({fix})")
        f = RotatingFile(path, self.rotate, self.rotate_size, self.rotate_max_files)
        try:
            f.open()
        except PermissionError:
            raise ResultsLogError(f"cannot write the results log {path}: permission denied ({fix})") from None
        except OSError as exc:
            raise ResultsLogError(f"cannot write the results log {path}: {exc.strerror} ({fix})") from None
        return f

    def set_decorations(self, decorations: dict[str, str]) -> None:
        """The decorators' columns, over the configured decorations, keys sorted."""
        self.decorations = dict(sorted({**self.static_decorations, **decorations}.items()))

    def _head(self, name: str, when: float, counter: int) -> dict[str, object]:
        head: dict[str, object] = {
            "name": name,
            "hostIdentifier": self.host() if callable(self.host) else self.host,
            "calendarTime": calendar_time(when),
            "unixTime": int(when),
            "epoch": self.epoch,
            "counter": counter,
            "numerics": False,
        }
        if self.decorations_top_level:
            for k, v in self.decorations.items():
                head.setdefault(k, v)
        else:
            head["decorations"] = self.decorations
        return head

    def event_dicts(
        self, name: str, counter: int, rows: Iterable[dict[str, str]], when: float, action: str = "added"
    ) -> list[dict]:
        """The event-format line dicts for ``rows`` (already ``{column: text}``)."""
        head = self._head(name, when, counter)
        return [{**head, "columns": cols, "action": action} for cols in rows]

    def snapshot_dict(self, name: str, counter: int, rows: list[dict[str, str]], when: float) -> dict:
        return {"snapshot": rows, "action": "snapshot", **self._head(name, when, counter)}

    def event_lines(
        self, name: str, counter: int, rows: Iterable[dict[str, str]], when: float
    ) -> list[bytes]:
        """The ``added`` lines for ``rows`` (already ``{column: text}``)."""
        return [_dumps(d) for d in self.event_dicts(name, counter, rows, when)]

    def snapshot_line(self, name: str, counter: int, rows: list[dict[str, str]], when: float) -> bytes:
        return _dumps(self.snapshot_dict(name, counter, rows, when))

    def added(self, name: str, counter: int, rows: Iterable[dict[str, str]], when: float) -> int:
        """Write one ``added`` line per row; returns the number of lines."""
        dicts = self.event_dicts(name, counter, rows, when)
        self._write(dicts)
        return len(dicts)

    def removed(self, name: str, counter: int, rows: Iterable[dict[str, str]], when: float) -> int:
        """Write one ``removed`` line per row (a differential query's rows that went away)."""
        dicts = self.event_dicts(name, counter, rows, when, "removed")
        self._write(dicts)
        return len(dicts)

    def snapshot(self, name: str, counter: int, rows: list[dict[str, str]], when: float) -> int:
        if self.snapshot_event_type:
            dicts = self.event_dicts(name, counter, rows, when, "snapshot")
            self._write(dicts, snapshot=True)
            return len(dicts)
        self._write([self.snapshot_dict(name, counter, rows, when)], snapshot=True)
        return 1

    def _write(self, dicts: list[dict], snapshot: bool = False) -> None:
        if not dicts:
            return
        self.lines += len(dicts)
        target = self._snap_file if snapshot and self._snap_file is not None else self._file
        if self._out is not None or target is not None:
            lines = [_dumps(d) for d in dicts]
            try:
                if target is not None:
                    target.write_lines(lines)
                else:
                    assert self._out is not None
                    self._out.write(b"".join(lines))
                    self._out.flush()
            except OSError as exc:
                where = self.snapshot_path if target is self._snap_file and snapshot else self.path
                raise ResultsLogError(f"cannot write the results log {where}: {exc.strerror}") from None
        if self.forward is not None:
            self.forward(dicts)

    @property
    def rotations(self) -> int:
        """Rotations done (osquery's scheme, :mod:`auditsql.outputs.rotate`)."""
        files = (self._file, self._snap_file)
        return self._rotations + sum(f.rotations for f in files if f is not None)

    def close(self) -> None:
        for f in (self._file, self._snap_file):
            if f is not None:
                f.close()
                self._rotations += f.rotations
        self._file = self._snap_file = None
        if self._out is not None and self._own:
            self._out.close()
        self._out = None

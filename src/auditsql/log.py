"""auditsql's own messages: one line each on stderr, ``auditsql: message``, filtered by level.

Levels are ``debug``, ``info``, ``warning``, ``error`` (``[log] level``, ``--log-level``; default ``info``).
Errors that end a command are always written. Under systemd, stderr is a journal stream (systemd sets
``JOURNAL_STREAM`` to the device and inode of that stream); then each line starts with its sd-daemon
priority, ``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug, which journald strips and records as
the message's priority (``journalctl -p warning -u auditsql``). Elsewhere the lines are plain.
"""

from __future__ import annotations

import os

import click

__all__ = ["LEVELS", "debug", "error", "info", "journal_stream", "log", "set_level", "warning"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_PRIORITY = {"debug": "<7>", "info": "<6>", "warning": "<4>", "error": "<3>"}
_threshold = LEVELS["info"]
_journal: bool | None = None


def set_level(level: str) -> None:
    """The lowest level written; raises ``ValueError`` for an unknown name."""
    global _threshold
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (known: {', '.join(LEVELS)})")
    _threshold = LEVELS[level]


def journal_stream() -> bool:
    """Whether stderr is the journal stream systemd gave us (``JOURNAL_STREAM`` matches fd 2)."""
    global _journal
    if _journal is None:
        _journal = False
        value = os.environ.get("JOURNAL_STREAM", "")
        dev, _, ino = value.partition(":")
        if dev.isdigit() and ino.isdigit():
            try:
                st = os.fstat(2)
            except OSError:
                st = None
            _journal = st is not None and st.st_dev == int(dev) and st.st_ino == int(ino)
    return _journal


def log(level: str, msg: str) -> None:
    """Write ``auditsql: msg`` on stderr if ``level`` passes the threshold (errors always do)."""
    n = LEVELS.get(level, 20)
    if n < _threshold and n < LEVELS["error"]:
        return
    prefix = _PRIORITY.get(level, "<6>") if journal_stream() else ""
    try:
        click.echo(f"{prefix}auditsql: {msg}", err=True)
    except (BrokenPipeError, ValueError):  # stderr closed: nothing else to tell
        pass


def debug(msg: str) -> None:
    log("debug", msg)


def info(msg: str) -> None:
    log("info", msg)


def warning(msg: str) -> None:
    log("warning", msg)


def error(msg: str) -> None:
    log("error", msg)

"""Files that hold events are private: mode 0600 (directories auditsql creates for them: 0700).

Audit events name users, commands and their arguments (a password typed on a command line, a token in a
URL), file paths and addresses. Every file auditsql writes them to - the store and SQLite's ``-wal`` and
``-shm`` beside it, the event and results logs with their rotated files, the NATS spool, ``listen
--output`` - is created 0600 whatever the umask, and one found readable or writable by group or others is
made 0600 when auditsql opens it for writing (said once, on stderr). Directories that already exist keep
their modes: they may be shared (``/var/log``, ``/tmp``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from auditsql import log

__all__ = ["DIR_MODE", "FILE_MODE", "make_private", "open_private", "tighten", "tightened_line"]

#: the mode of a file holding events
FILE_MODE = 0o600
#: the mode of a directory auditsql creates for such files
DIR_MODE = 0o700
#: the permission bits of group and others
_SHARED = 0o077


def tighten(paths: Iterable[str]) -> list[tuple[str, int]]:
    """Make each existing regular file of ``paths`` that group or others may access mode 0600 (a missing one,
    and what is no regular file - ``/dev/null``, a FIFO - are left alone). Returns ``(path, old mode)`` of the
    files changed; raises ``OSError`` when a chmod fails."""
    changed = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISREG(st.st_mode) and mode & _SHARED:
            os.chmod(path, FILE_MODE)
            changed.append((path, mode))
    return changed


def tightened_line(changed: list[tuple[str, int]]) -> str:
    """The one line that says what :func:`tighten` changed: ``PATH was mode 0644 (readable by others): made
    0600, and PATH-wal, ...``."""
    (first, mode), rest = changed[0], changed[1:]
    who = "others" if mode & 0o007 else "its group"
    also = (", and " + ", ".join(os.path.basename(p) for p, _ in rest)) if rest else ""
    return (
        f"{first} was mode {mode:04o} (open to {who}; audit events can hold secrets): made {FILE_MODE:04o}"
        + also
    )


def make_private(paths: Iterable[str]) -> None:
    """:func:`tighten` ``paths`` and say so in one line (a warning on stderr) if a file was changed; raises
    ``OSError`` when a chmod fails."""
    changed = tighten(paths)
    if changed:
        log.warning(tightened_line(changed))


def open_private(path: str, flags: int) -> int:
    """``os.open(path, flags)`` of a file holding events: created 0600, made 0600 first if it exists open to
    group or others (said once). Returns the descriptor; raises ``OSError``."""
    make_private([path])
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)

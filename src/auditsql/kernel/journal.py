"""The raw-frame journal of ``auditsql run`` (docs/reliability.md, "kill -9"): nothing read is lost to a kill.

The native reader appends every record it takes off the socket to ``DB.journal/`` (segments of 32 MiB, 0600 in
a 0700 directory; one ``write(2)`` per receive call, page cache only) before the pipeline can process it
(``auditsql_core::netlink::journal``). Each store commit writes, in the same transaction, the pipeline's mark
(``Pipeline.mark()``: the journal position of the oldest record whose event is still open, the position
processed to, and the open events' keys; the ``audit_journal`` row) and deletes the segments wholly below it.
At the next start, before the socket's records are processed, the journal is replayed from the committed mark
through the same pipeline: below the position processed to, only the records of the events open at the
commit are taken again (the others' events are stored), so nothing is stored twice; the store's dedupe
drops any event that comes again all the same (counted). A torn last record (a write the kill cut short) is
cut off and counted (``journal_torn`` in ``audit_loss``). A clean stop deletes the journal.

What a kill still loses, without the socket keeper (auditsql.kernel.keeper, which holds the registered
socket and journals it until the next start takes it over): the records in the socket's receive buffer that
the reader had not taken yet, and what the kernel audited while no daemon was registered, unless the kernel
holds it (its hold queue, only when booted with ``audit=1``). With it: only the records the reader had taken
off the socket and not yet written (one wake-up's, within microseconds of the receive).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auditsql._core import Batch, JournalReplay, Pipeline, journal_clear, journal_recover, journal_release
from auditsql.private import DIR_MODE

__all__ = ["REPLAY_FRAMES", "Journal", "JournalError", "Mark", "journal_dir", "open_journal"]

#: records handed to the pipeline per replay step
REPLAY_FRAMES = 4096

#: the store's mark: (start, end, open events' keys), see the module doc
Mark = tuple[int, int, bytes]


class JournalError(Exception):
    """The journal cannot be used; the message is one line for the user."""


def journal_dir(db: str) -> str:
    """The journal directory of the store ``db``."""
    return db + ".journal"


@dataclass
class Journal:
    """One run's journal: where it is, where the reader writes first, and what the start replayed."""

    dir: str
    #: the store's mark at the start (None: no commit with the journal yet)
    mark: Mark | None
    #: the journal position the reader's first record gets (past everything of earlier runs)
    start: int
    #: a torn last record cut off at the start (bytes)
    torn_bytes: int = 0
    #: what the replay did: frames, records left out (their events were stored), events the store's dedupe
    #: dropped, bytes missing (segments deleted under the mark), bytes of damaged segment tails skipped
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("replayed_frames", "replay_skipped", "replay_duplicates", "missing_bytes", "damaged_bytes"), 0
        )
    )

    def reader_args(self) -> tuple[str, int]:
        """The native reader's ``journal`` argument."""
        return (self.dir, self.start)

    def replay(self, pipeline: Pipeline, take: Callable[[Batch], None], present: Callable[[], int]) -> None:
        """Replay the journal from the mark through ``pipeline``, each batch to ``take``; ``present()``: the
        events the store left out so far (its dedupe), to count the replay's."""
        start = self.mark[0] if self.mark is not None else 0
        try:
            r = JournalReplay(self.dir, start, self.start)  # the running reader writes from self.start
        except OSError as exc:
            raise JournalError(f"cannot read the journal {self.dir}: {exc.strerror or exc}") from None
        before_skipped = pipeline.stats()["replay_skipped"]
        before_present = present()
        if self.mark is not None:
            pipeline.begin_replay(self.mark[1], self.mark[2])
        try:
            while True:
                n = r.frames
                try:
                    b = pipeline.replay(r, REPLAY_FRAMES)
                except OSError as exc:
                    raise JournalError(f"cannot read the journal {self.dir}: {exc.strerror or exc}") from None
                take(b)
                if r.frames == n:
                    break
        finally:
            pipeline.end_replay()
        c = self.counts
        c["replayed_frames"] += r.frames
        c["replay_skipped"] += pipeline.stats()["replay_skipped"] - before_skipped
        c["replay_duplicates"] += present() - before_present
        c["missing_bytes"] += r.missing_bytes
        c["damaged_bytes"] += r.torn_bytes

    def release(self, below: int) -> None:
        """Delete the segments wholly below ``below`` (after a commit); a failure waits for the next one."""
        try:
            journal_release(self.dir, below)
        except OSError:
            pass

    def clear(self) -> None:
        """A clean stop: everything is stored, the journal goes."""
        try:
            journal_clear(self.dir)
        except OSError:
            pass

    def stats(self, reader: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``journal`` object of the stats file."""
        out: dict[str, Any] = {"dir": self.dir, "torn_bytes": self.torn_bytes, **self.counts}
        if reader is not None:
            out["bytes"] = reader.get("journal_bytes", 0)
            out["errors"] = reader.get("journal_errors", 0)
        return out


def open_journal(db: str, mark: Mark | None) -> Journal:
    """The journal of the store ``db`` (its directory made 0700 if missing), its torn tail cut off; the store's
    ``mark`` as committed. :class:`JournalError` with one line when it cannot be written."""
    path = journal_dir(db)
    fix = "fix its permissions, or set [store] journal = false"
    try:
        os.mkdir(path, DIR_MODE)
        os.chmod(path, DIR_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise JournalError(f"cannot create the journal directory {path}: {exc.strerror} ({fix})") from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise JournalError(f"cannot use the journal directory {path}: {exc.strerror} ({fix})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise JournalError(f"cannot use the journal directory {path}: it is not a directory ({fix})")
    if not os.access(path, os.W_OK | os.X_OK):
        raise JournalError(f"cannot write the journal directory {path}: permission denied ({fix})")
    try:
        rec = journal_recover(path)
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc} ({fix})") from None
    start = max(int(rec["end"]), mark[1] if mark is not None else 0)
    return Journal(path, mark, start, torn_bytes=int(rec["torn_bytes"]))

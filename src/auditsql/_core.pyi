"""auditsql._core: the native event path (crates/core), bound by crates/py.

The hot path crosses this boundary in batches: bytes in (log text, netlink frames), a :class:`Batch` out
(event JSON lines, table rows, counters). The inspection functions at the end take one record or value at a
time; they serve tests, ``auditsql explain`` and debugging, never the event path.
"""

from collections.abc import Sequence
from typing import Any

class CoreError(Exception):
    """A bad argument to the core (an unknown setting, a closed reader); never raised for bad input data."""

# -- the pipeline --------------------------------------------------------------------------------------------

class Settings:
    """Everything the pipeline is told once, at the edge (documented defaults)."""

    def __init__(
        self,
        *,
        format: str = "auto",  # "auto" | "raw" | "enriched": how ENRICHED tails are detected in log text
        resolve_ids: bool = True,  # add user/group names where the log did not carry them
        raw: bool = True,  # the "raw" array of exact record texts in the event JSON
        events_json: bool = True,  # Batch.json carries the event JSON lines
        rows: bool = True,  # Batch.rows carries table rows
        window: int = 512,  # records an event may wait without a new record of its own
        window_seconds: float = 3.0,  # wall-clock seconds, for live sources (tick)
        single_window: int = 16,
        include_failed_execs: bool = False,
        stat_executable: bool = False,
        process_tree: bool = False,
        fork_events: bool = False,
        live: bool = False,  # the process tree reads /proc (seed, sweep, clone3)
        uptime_base: float | None = None,  # boot time of the machine that produced the events
    ) -> None: ...

class Batch:
    """What one call produced."""

    #: records taken in (parsed lines and messages, error records included)
    records: int
    #: events closed
    events: int
    #: compact JSON of each event, one per line (b"" when Settings.events_json is off)
    json: bytes
    #: (table, row) in the order they were produced; a row's values in the registry's column order. Made
    #: Python objects on first read; empty when a StoreWriter took them before
    rows: list[tuple[str, tuple[Any, ...]]]
    #: how many rows the batch carried (whoever took them)
    row_count: int
    #: for event i, rows[event_rows[i]:event_rows[i+1]] are its rows (len = events + 1); rows after
    #: event_rows[-1] belong to no event (process tree updates)
    event_rows: list[int]
    #: raw text of AUDIT_CONFIG_CHANGE records seen (the coexistence watcher reads them)
    config_changes: list[bytes]
    #: (node, serial) of the records in arrival order, a repeat of the previous pair left out (serial trackers)
    serials: list[tuple[str | None, int]]

def release_memory() -> None:
    """Gives the memory the native core freed back to the OS (the agent calls it when a burst is over)."""

class StoreWriter:
    """The store's inserts, natively, on Python's own sqlite3 connection and SQLite library (no Python object
    per row). Raises CoreError when ``conn`` cannot be used so (the store then uses executemany)."""

    def __init__(
        self,
        conn: Any,
        sql: dict[str, str],
        path: str,
        module_file: str,
        dedupe: dict[str, Any] | None = None,
    ) -> None:
        """``dedupe``: ``EventDedupe.spec()``; the events held already are then left out, as Python's
        dedupe leaves them out."""
    def add(self, batch: Batch) -> int:
        """Takes the batch's rows (less the events held already); returns how many."""
    def present(self) -> tuple[int, int]:
        """Events and rows left out since the writer was made."""
    def pending(self) -> int: ...
    def write(self) -> list[tuple[str, int]]:
        """Inserts every waiting row inside the caller's transaction; rows per table. Rows stay held until
        clear()."""
    def clear(self) -> None: ...
    def close(self) -> None:
        """Finalizes the statements (before the connection closes)."""

class Pipeline:
    """Owns the assembler, renderer caches, row mappers, process tree and counters."""

    def __init__(self, settings: Settings) -> None: ...
    def feed_lines(self, data: bytes) -> Batch:
        """Log text in any chunking: complete lines are parsed, a trailing partial line waits for the next
        call (or finish())."""
    def end_file(self) -> Batch:
        """The end of one log file: its partial last line is parsed; the next file's format is detected anew
        (open events stay open)."""
    @property
    def detected(self) -> str | None:
        """ "enriched" or "raw" for the current log text; None before any."""
    def feed_frames(self, frames: Sequence[tuple[int, bytes, int]]) -> Batch:
        """Netlink messages (type, payload, truncated length or 0)."""
    def pump(self, reader: Reader, timeout: float, max_frames: int = 4096) -> Batch:
        """Take what the native reader holds (waiting up to timeout for the first frame, GIL released) and
        process it without Python seeing the frames."""
    def mark(self) -> tuple[int, int, bytes]:
        """Where the processing stands in the journal: (the first record of the oldest open event, the position
        processed to, the open events' keys); committed with the store's rows."""
    def begin_replay(self, end: int, open: bytes) -> None:
        """Before a replay from a mark: below ``end`` only the records of the ``open`` events are taken."""
    def end_replay(self) -> None: ...
    def replay(self, journal: JournalReplay, max_frames: int = 4096) -> Batch:
        """Up to max_frames records of the journal, processed (GIL released)."""
    def tick(self, now: float) -> Batch:
        """Close events older than window_seconds (wall clock, UNIX seconds)."""
    def finish(self) -> Batch:
        """End of input: the partial line, then every open event."""
    def stats(self) -> dict[str, int]:
        """Assembler and parser counters (records, events, errors, closed_*, late, duplicates, serial_gaps,
        serial_jumps, lines, skipped_lines, bytes, ...)."""
    # the process tree (Settings.process_tree)
    def tree_start(self, rows: list[tuple[Any, ...]]) -> tuple[int, int, int]:
        """Reload the previous run's live processes (PROCESS_TREE rows), then seed from /proc: (kept, exited,
        seeded), also in tree_counters()."""
    def tree_reload(self, rows: list[tuple[Any, ...]]) -> tuple[int, int]: ...
    def tree_seed(self) -> int: ...
    def tree_idle(self, monotonic_now: float) -> Batch: ...
    def tree_counters(self) -> dict[str, int]: ...
    def tree_size(self) -> int: ...
    def seed_listeners(self, proc_root: str = "/proc") -> int:
        """Remember the TCP sockets listening now, for the accept rows of servers started before auditsql."""

class JournalReplay:
    """The journal's records from a position on (``Pipeline.replay`` reads them)."""

    def __init__(self, dir: str, start: int, until: int) -> None:
        """The records from ``start`` to ``until`` (where the running reader's records begin)."""
    frames: int
    bytes: int
    torn_bytes: int
    missing_bytes: int

def journal_recover(dir: str) -> dict[str, int]:
    """At start: {"segments", "end", "torn_bytes"}; a torn last record is cut off."""

def journal_release(dir: str, below: int) -> int:
    """Delete the segments wholly below ``below``; how many."""

def journal_clear(dir: str) -> int:
    """Delete every segment; how many."""

def keeper_drain(
    fd: int, wake: int, dir: str, start: int, cap_bytes: int, seconds: float | None = None
) -> tuple[str, dict[str, int]]:
    """The socket keeper's drain, without the GIL: journal what the audit socket ``fd`` receives into ``dir``
    from position ``start`` until ``wake`` is readable (``"woken"``), ``cap_bytes`` are journaled (``"cap"``)
    or ``seconds`` pass (``"deadline"``); and {frames, bytes, end, enobufs, ignored, journal_errors}."""

class Reader:
    """The native netlink reader: a thread that drains an audit netlink socket into a buffer. It reads a
    duplicate of ``fd`` (bound, and registered for unicast): the caller keeps its own socket."""

    def __init__(
        self,
        fd: int,
        policy: str = "block",
        buffer_bytes: int = 512 << 20,
        buffer_frames: int | None = None,
        journal: tuple[str, int] | None = None,
        early: list[tuple[int, bytes, int]] = ...,
        segment_bytes: int = 32 << 20,
    ) -> None:
        """``journal``: (directory, first position): each receive call's records are appended there (one write)
        before they can be taken; ``early``: records received before the thread started, held first."""
    def counters(self) -> dict[str, int]: ...
    def pending(self) -> int: ...
    def finished(self) -> bool: ...
    def error(self) -> OSError | None: ...
    def stop(self) -> None: ...
    def take_frames(self, timeout: float, max_frames: int = 4096) -> list[tuple[int, bytes, int]]:
        """Tests only: the frames held, as Python objects."""

# -- inspection (one record or value at a time: tests, debugging) ----------------------------------------------

def parse_line(line: bytes, detect: bool = True) -> list[dict[str, Any]]:
    """The records of one line: {"text": bytes, "node": bytes|None, "type": int, "name": str, "sec", "msec",
    "serial": int, "body": bytes, "fields": [(bytes, bytes)], "enrich": [(bytes, bytes)], "error": str|None}."""

def parse_netlink(msg_type: int, payload: bytes) -> dict[str, Any]: ...
def parse_nested(token: bytes) -> list[tuple[bytes, bytes]]: ...
def split_enrichment(body: bytes) -> tuple[bytes, bytes | None]: ...
def escape(data: bytes) -> str: ...
def unescape(text: str) -> bytes: ...
def decode_encoded(token: bytes) -> bytes | None: ...
def convert(key: str, token: bytes) -> Any:
    """A field token typed as the event JSON types it."""

def arch_of(token: bytes | None) -> tuple[int | None, str | None]: ...
def syscall_name(arch: str | None, nr: int) -> str | None: ...
def errno_name(n: int) -> str | None: ...
def execve_argv(records: list[bytes]) -> tuple[int | None, list[bytes], list[str]]:
    """argc, argv and warnings from EXECVE record lines."""

def proctitle_argv(token: bytes | None) -> list[bytes]: ...
def decode_sockaddr(data: bytes, big_endian: bool = False) -> dict[str, Any]: ...
def family_name(family: int) -> str: ...
def render_lines(data: bytes, resolve_ids: bool = False, format: str = "auto") -> list[dict[str, Any]]:
    """A whole log's events as dicts (assemble, render, flush): what ``auditsql read`` writes."""

def rows_of(event_json: bytes, **options: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """The table rows of one event JSON object (no process tree)."""

class StoreFunctions:
    """The store's SQL functions over event blobs (``audit_events.blob``), with a store's own dictionaries
    ([(version, bytes)]) beside the compiled-in ones. A blob that cannot be read gives ``{"error": ...}``
    (JSON functions) or None; nothing raises for bad data."""

    def __init__(self, dictionaries: list[tuple[int, bytes]] = ...) -> None: ...
    def newest_dictionary(self) -> int: ...
    def dictionary(self, version: int) -> bytes | None: ...
    def audit_raw_json(self, blob: bytes | None) -> str | None: ...
    def audit_raw_bytes(self, blob: bytes | None) -> bytes | None: ...
    def audit_json(self, blob: bytes | None) -> str | None: ...
    def audit_summary(self, blob: bytes | None) -> str | None: ...
    def audit_sections(self, blob: bytes | None) -> str | None: ...
    def audit_field(self, blob: bytes | None, rtype: str, field: str) -> Any: ...

def encode_raw_json(raw_json: str | None, closed_by: str | None, duplicates: int | None) -> bytes:
    """The blob of an event of an older store (its ``raw`` JSON array, ``closed_by``, duplicates)."""

class RawJsonEncoder:
    """:func:`encode_raw_json` with one codec for every call (its dictionaries loaded once): the upgrade of an
    older store, one call per event."""

    def __init__(self) -> None: ...
    def __call__(self, raw_json: str | None, closed_by: str | None, duplicates: int | None) -> bytes: ...

def table_columns() -> dict[str, list[str]]:
    """Per table the core fills, its column names in order (checked against the registry)."""

"""Query result output modes, byte for byte like ``osqueryi`` (osquery/devtools/printer.cpp and shell.cpp).

Every value is printed as SQLite's text form of it, as osqueryi does (``sqlite3_column_text``): integers in
decimal, reals as SQLite writes them (``%!.15g``: ``1.0``, ``0.1``, ``1.0e+20``), text as is, NULL as the null
value (``""`` by default, osquery's ``--nullvalue``).

``json``  ``osqueryi --json``: an array, one compact object per row on its own line indented by two spaces,
          ``[`` and ``]`` on their own lines; **every value a JSON string** (osquery's ``Row`` is a map of
          string to string), keys in byte order (the ``Row`` is a ``std::map``; a repeated column name keeps the
          last value); strings escaped like rapidjson (``\\" \\\\ \\b \\f \\n \\r \\t``, other control bytes
          ``\\u00XX``, ``/`` and non-ASCII unescaped). No rows prints ``[``, an empty line, ``]``.
``csv``   osqueryi's ``--csv``/``.mode csv`` writer with a comma: a header line, a field is double-quoted when it
          is empty or holds a byte <= 0x20, ``"``, ``'``, a comma or a byte >= 0x7f (inner ``"`` doubled); NULL is
          the null value unquoted; no rows prints nothing (the header comes with the first row). (osqueryi 5 actually separates ``--csv`` fields with ``|``, its ``--separator``
          default overriding the comma; auditsql keeps the comma its name promises.)
``line``  ``.mode line``: ``column = value`` lines with the names right-aligned to the longest (at least 5), a
          blank line between rows.
``table`` osqueryi's default "pretty" mode: an ASCII grid (``+---+``, ``| name |``), columns as wide as their
          longest value or name, in query order. No rows prints nothing. The widths come from the first
          :data:`TABLE_SIZING_ROWS` rows (or fewer, once they hold :data:`TABLE_SIZING_CHARS` characters); the
          rows after them are written as they come, and a longer value there widens only its own line.

:func:`write_result` writes a result piece by piece as its rows come, so a result is never all in memory (the
table mode holds its sizing rows). When reading the rows fails midway (the time limit), what was written is
closed first (the JSON array's ``]``, the table's bottom line), so ``--json`` output stays valid JSON.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain

__all__ = [
    "MODES",
    "TABLE_SIZING_CHARS",
    "TABLE_SIZING_ROWS",
    "render",
    "to_bytes",
    "value_text",
    "write_result",
]

MODES = ("table", "json", "csv", "line")
#: rows the table mode reads before it sizes its columns and starts writing
TABLE_SIZING_ROWS = 1000
#: characters of values after which the table mode sizes its columns with fewer rows
TABLE_SIZING_CHARS = 4 << 20

#: takes each piece of output text in turn
Write = Callable[[str], object]

_mem = sqlite3.connect(":memory:", check_same_thread=False)
_mem_lock = threading.Lock()


def value_text(v: object, nullvalue: str = "") -> str:
    """A SQLite value as ``sqlite3_column_text`` gives it (NULL → ``nullvalue``)."""
    if v is None:
        return nullvalue
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        with _mem_lock:
            r = _mem.execute("SELECT CAST(? AS TEXT)", (v,)).fetchone()[0]
        return nullvalue if r is None else r
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "surrogateescape")
    return str(v)


def to_bytes(text: str) -> bytes:
    """Encode output text; bytes that were not UTF-8 in the store go out as they were (like osqueryi)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def render(
    cols: Sequence[str], rows: Iterable[Sequence[object]], mode: str = "table", nullvalue: str = ""
) -> str:
    """The text of a result in one of ``MODES``."""
    parts: list[str] = []
    write_result(parts.append, cols, rows, mode, nullvalue)
    return "".join(parts)


def write_result(
    write: Write,
    cols: Sequence[str],
    rows: Iterable[Sequence[object]],
    mode: str = "table",
    nullvalue: str = "",
) -> None:
    """Write a result in one of ``MODES`` through ``write``, piece by piece as ``rows`` yields them."""
    writer = _WRITERS.get("table" if mode == "pretty" else mode)
    if writer is None:
        raise ValueError(f"unknown output mode {mode}")
    writer(write, cols, iter(rows), nullvalue)


# -- json -----------------------------------------------------------------------------------------------------

_JESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _JESC.setdefault(chr(_c), f"\\u{_c:04X}")
_JNEED = re.compile(r'["\\\x00-\x1f]')


def _jstr(s: str) -> str:
    return '"' + _JNEED.sub(lambda m: _JESC[m.group()], s) + '"'


def _json_row(cols: Sequence[str], row: Sequence[object], nullvalue: str) -> str:
    obj: dict[str, str] = {}
    for c, v in zip(cols, row, strict=False):
        obj[c] = value_text(v, nullvalue)
    return "  {" + ",".join(_jstr(k) + ":" + _jstr(obj[k]) for k in sorted(obj)) + "}"


def _write_json(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], nullvalue: str) -> None:
    write("[\n")
    sep = ""
    try:
        for row in rows:
            write(sep + _json_row(cols, row, nullvalue))
            sep = ",\n"
    finally:
        write("\n]\n")  # the array is closed even when reading the rows failed


# -- csv ------------------------------------------------------------------------------------------------------

_CSV_NEED = re.compile(r"[\x00-\x20\"',\x7f-\U0010ffff]")


def _csv(s: str | None, nullvalue: str) -> str:
    if s is None:
        return nullvalue
    if not s or _CSV_NEED.search(s):
        return '"' + s.replace('"', '""') + '"'
    return s


def _write_csv(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], nullvalue: str) -> None:
    head = ",".join(_csv(c, nullvalue) for c in cols) + "\n"  # written with the first row
    for row in rows:
        line = ",".join(_csv(None if v is None else value_text(v), nullvalue) for v in row) + "\n"
        write(head + line)
        head = ""


# -- line -----------------------------------------------------------------------------------------------------


def _write_line(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], nullvalue: str) -> None:
    w = max([5] + [len(c.encode("utf-8", "surrogateescape")) for c in cols])
    sep = ""  # a blank line between rows
    for row in rows:
        write(
            sep + "".join(f"{c:>{w}} = {value_text(v, nullvalue)}\n" for c, v in zip(cols, row, strict=False))
        )
        sep = "\n"


# -- table ----------------------------------------------------------------------------------------------------


def _write_table(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], nullvalue: str) -> None:
    texts = ([value_text(v, nullvalue) for v in row] for row in rows)
    first, failure = _sizing_rows(texts)
    if first:
        widths = _widths(cols, first)
        sep = "+" + "".join("-" * (w + 2) + "+" for w in widths) + "\n"
        write(sep + _table_line(cols, widths) + sep)
        try:
            for line in chain(first, () if failure is not None else texts):
                write(_table_line(line, widths))
        finally:
            write(sep)  # the grid is closed even when reading the rows failed
    if failure is not None:
        raise failure


def _sizing_rows(texts: Iterator[list[str]]) -> tuple[list[list[str]], Exception | None]:
    """The rows that size the table's columns, and the failure that cut them short (None: none did)."""
    first: list[list[str]] = []
    chars = 0
    try:
        for line in texts:
            first.append(line)
            chars += sum(len(t) for t in line)
            if len(first) >= TABLE_SIZING_ROWS or chars >= TABLE_SIZING_CHARS:
                break
    except Exception as e:  # noqa: BLE001 - the rows read so far are written, then the failure goes on
        return first, e
    return first, None


def _widths(cols: Sequence[str], rows: list[list[str]]) -> list[int]:
    widths = [len(c) for c in cols]
    for row in rows:
        for i, t in enumerate(row):
            if len(t) > widths[i]:
                widths[i] = len(t)
    return widths


def _table_line(texts: Sequence[str], widths: Sequence[int]) -> str:
    return "".join(f"| {t}{' ' * max(w - len(t), 0)} " for t, w in zip(texts, widths, strict=True)) + "|\n"


_WRITERS: dict[str, Callable[[Write, Sequence[str], Iterator[Sequence[object]], str], None]] = {
    "json": _write_json,
    "csv": _write_csv,
    "line": _write_line,
    "table": _write_table,
}

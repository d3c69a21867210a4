"""Query result output modes, byte for byte like ``osqueryi`` (osquery/devtools/printer.cpp and shell.cpp).

Every value is printed as SQLite's text form of it, as osqueryi does (``sqlite3_column_text``): integers in
decimal, reals as SQLite writes them (``%!.15g``: ``1.0``, ``0.1``, ``1.0e+20``), text as is, NULL as the null
value (``""`` by default, osquery's ``--nullvalue`` and ``.nullvalue``).

``pretty``  osqueryi's default mode (also called ``table``): an ASCII grid (``+---+``, ``| name |``), columns
            as wide as their longest value or name counted in UTF-8 characters (osquery's ``utf8StringSize``), in
            query order; the header is always there (``--noheader`` does not touch it, as in osqueryi); a
            repeated column name shows the last value under each (osquery's ``Row`` is a map). No rows prints
            nothing. The widths come from the first :data:`TABLE_SIZING_ROWS` rows (or fewer, once they hold
            :data:`TABLE_SIZING_CHARS` characters); the rows after them are written as they come, and a longer
            value there widens only its own line (osqueryi holds every row first).
``json``    ``osqueryi --json``: an array, one compact object per row on its own line indented by two spaces,
            ``[`` and ``]`` on their own lines; **every value a JSON string** (osquery's ``Row`` is a map of
            string to string), keys in byte order (a repeated column name keeps the last value); strings
            escaped like rapidjson (``\\" \\\\ \\b \\f \\n \\r \\t``, other control bytes ``\\u00XX``, ``/`` and
            non-ASCII unescaped). No rows prints ``[``, an empty line, ``]``.
``json_pretty`` ``osqueryi --json_pretty``: rapidjson's PrettyWriter with a two-space indent: each row an
            object over several lines, ``"key": "value"`` members in byte order. No rows prints ``[]``.
``csv``     osqueryi's csv writer: a header line (unless ``--noheader``), fields joined by the separator (``,``
            unless one is given), a field double-quoted (inner ``"`` doubled) when it is empty or holds a byte
            <= 0x20, ``"``, ``'``, a byte >= 0x7f, or the separator's first byte; NULL is the null value unquoted.
            (osqueryi 5's ``--csv`` joins with ``|``, its ``--separator`` default overriding the comma it set;
            auditsql's ``--csv`` keeps the comma its name promises, as osqueryi's ``.mode csv`` does.)
``list``    values joined by the separator (``|`` unless one is given), no quoting; a header line of the
            column names unless ``--noheader``.
``line``    ``column = value`` lines with the names right-aligned to the longest name in bytes (at least 5), a
            blank line between rows.
``column``  sqlite3's column mode: left-aligned columns two spaces apart, each as wide as the longest of its
            name, 10, and its first row's value, in bytes; longer values are cut to that width; a header and a
            line of dashes unless ``--noheader``.

In every mode but ``pretty`` and the JSON ones, the header comes with the first row: no rows prints nothing.

:func:`write_result` writes a result piece by piece as its rows come, so a result is never all in memory (the
pretty mode holds its sizing rows). When reading the rows fails midway (the time limit), what was written is
closed first (the JSON array's ``]``, the grid's bottom line), so ``--json`` output stays valid JSON.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

__all__ = [
    "MODES",
    "MODE_ALIASES",
    "TABLE_SIZING_CHARS",
    "TABLE_SIZING_ROWS",
    "Style",
    "mode_name",
    "render",
    "to_bytes",
    "value_text",
    "write_result",
    "write_styled",
]

#: the output modes, osqueryi's names
MODES = ("pretty", "json", "json_pretty", "csv", "list", "line", "column")
#: other names a mode is known by (``table`` was auditsql's name for ``pretty``; the plurals are sqlite3's)
MODE_ALIASES = {"table": "pretty", "lines": "line", "columns": "column"}
#: the separator of the modes that join values, when none is given
DEFAULT_SEPARATORS = {"csv": ",", "list": "|"}
#: rows the pretty mode reads before it sizes its columns and starts writing
TABLE_SIZING_ROWS = 1000
#: characters of values after which the pretty mode sizes its columns with fewer rows
TABLE_SIZING_CHARS = 4 << 20
#: the widest line of dashes under a header in column mode (sqlite3's literal)
COLUMN_DASHES = 93
#: the columns whose widths column mode keeps (sqlite3's ``actualWidth[100]``)
COLUMN_WIDTHS = 100

#: takes each piece of output text in turn
Write = Callable[[str], object]

_mem = sqlite3.connect(":memory:", check_same_thread=False)
_mem_lock = threading.Lock()


def mode_name(name: str) -> str | None:
    """The mode ``name`` stands for (one of ``MODES``), or None."""
    name = MODE_ALIASES.get(name, name)
    return name if name in MODES else None


@dataclass(frozen=True)
class Style:
    """How a result is printed: the mode and osqueryi's settings (``--header``, ``--separator``,
    ``--nullvalue``). ``separator`` None is the mode's own (``,`` for csv, ``|`` for list)."""

    mode: str = "pretty"
    header: bool = True
    separator: str | None = None
    nullvalue: str = ""

    @property
    def sep(self) -> str:
        if self.separator is not None:
            return self.separator
        return DEFAULT_SEPARATORS.get(self.mode, "|")


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


def _blen(text: str) -> int:
    """The length of ``text`` in bytes, as printed."""
    return len(text) if text.isascii() else len(to_bytes(text))


def _bkey(text: str) -> bytes | str:
    """A sort key giving byte order (osquery's ``std::map`` of names)."""
    return text if text.isascii() else to_bytes(text)


_CONT = re.compile("[\udc80-\udcbf]")


def utf8_size(text: str) -> int:
    """osquery's ``utf8StringSize``: the characters of UTF-8 text; a stray byte that is not UTF-8 counts one,
    a stray continuation byte (0x80-0xbf) none, unless it starts the text."""
    if text.isascii():
        return len(text)
    n = len(text) - len(_CONT.findall(text))
    return n + 1 if _CONT.match(text) else n


def render(
    cols: Sequence[str],
    rows: Iterable[Sequence[object]],
    mode: str = "pretty",
    nullvalue: str = "",
    *,
    header: bool = True,
    separator: str | None = None,
) -> str:
    """The text of a result in one of ``MODES`` (or an alias)."""
    parts: list[str] = []
    write_result(parts.append, cols, rows, mode, nullvalue, header=header, separator=separator)
    return "".join(parts)


def write_result(
    write: Write,
    cols: Sequence[str],
    rows: Iterable[Sequence[object]],
    mode: str = "pretty",
    nullvalue: str = "",
    *,
    header: bool = True,
    separator: str | None = None,
) -> None:
    """Write a result in one of ``MODES`` (or an alias) through ``write``, piece by piece as ``rows`` yields
    them."""
    name = mode_name(mode)
    if name is None:
        raise ValueError(f"unknown output mode {mode}")
    style = Style(name, header, separator, nullvalue)
    _WRITERS[name](write, cols, iter(rows), style)


def write_styled(write: Write, cols: Sequence[str], rows: Iterable[Sequence[object]], style: Style) -> None:
    """:func:`write_result` with the settings of ``style``."""
    write_result(
        write, cols, rows, style.mode, style.nullvalue, header=style.header, separator=style.separator
    )


def _map_row(cols: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """A row as osquery's ``Row`` holds it: a map of column name to value, the last of a repeated name."""
    return dict(zip(cols, texts, strict=False))


# -- json -----------------------------------------------------------------------------------------------------

_JESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _JESC.setdefault(chr(_c), f"\\u{_c:04X}")
_JNEED = re.compile(r'["\\\x00-\x1f]')


def _jstr(s: str) -> str:
    return '"' + _JNEED.sub(lambda m: _JESC[m.group()], s) + '"'


def _json_members(cols: Sequence[str], row: Sequence[object], nullvalue: str) -> list[tuple[str, str]]:
    obj = _map_row(cols, [value_text(v, nullvalue) for v in row])
    return [(_jstr(k), _jstr(obj[k])) for k in sorted(obj, key=_bkey)]


def _write_json(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    write("[\n")
    sep = ""
    try:
        for row in rows:
            members = _json_members(cols, row, st.nullvalue)
            write(sep + "  {" + ",".join(k + ":" + v for k, v in members) + "}")
            sep = ",\n"
    finally:
        write("\n]\n")  # the array is closed even when reading the rows failed


def _write_json_pretty(
    write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style
) -> None:
    opening = "[\n"
    try:
        for row in rows:
            members = _json_members(cols, row, st.nullvalue)
            write(opening + "  {\n" + ",\n".join(f"    {k}: {v}" for k, v in members) + "\n  }")
            opening = ",\n"
    finally:  # the array is closed even when reading the rows failed
        write("[]\n" if opening == "[\n" else "\n]\n")


# -- csv, list ------------------------------------------------------------------------------------------------

_CSV_NEED = re.compile(r"[\x00-\x20\"'\x7f-\U0010ffff]")


def _csv(s: str, sep: str) -> str:
    """One csv field as osqueryi's ``output_csv`` writes it (its separator test looks at the first byte of the
    separator anywhere in the field, and for a longer separator compares it with the field's start)."""
    if not s or _CSV_NEED.search(s) or (sep and sep[0] in s and (len(sep) == 1 or s.startswith(sep))):
        return '"' + s.replace('"', '""') + '"'
    return s


def _write_csv(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    sep, nullvalue = st.sep, st.nullvalue
    head = sep.join(_csv(c, sep) for c in cols) + "\n" if st.header else ""  # written with the first row
    for row in rows:
        write(head + sep.join(nullvalue if v is None else _csv(value_text(v), sep) for v in row) + "\n")
        head = ""


def _write_list(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    sep, nullvalue = st.sep, st.nullvalue
    head = sep.join(cols) + "\n" if st.header else ""  # written with the first row
    for row in rows:
        write(head + sep.join(value_text(v, nullvalue) for v in row) + "\n")
        head = ""


# -- line, column ---------------------------------------------------------------------------------------------


def _write_line(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    w = max([5] + [_blen(c) for c in cols])
    names = [" " * (w - _blen(c)) + c + " = " for c in cols]  # printf's %*s pads bytes
    sep = ""  # a blank line between rows
    for row in rows:
        write(sep + "".join(f"{n}{value_text(v, st.nullvalue)}\n" for n, v in zip(names, row, strict=False)))
        sep = "\n"


def _fit(text: str, width: int) -> str:
    """printf's ``%-*.*s``: ``text`` cut to ``width`` bytes and padded to it with spaces."""
    b = to_bytes(text)[:width]
    return b.decode("utf-8", "surrogateescape") + " " * (width - len(b))


def _column_line(texts: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(_fit(t, w) for t, w in zip(texts, widths, strict=False)) + "\n"


def _write_column(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    widths: list[int] | None = None
    for row in rows:
        texts = [value_text(v, st.nullvalue) for v in row]
        head = ""
        if widths is None:
            first = [max(_blen(c), 10, _blen(t)) for c, t in zip(cols, texts, strict=False)]
            # sqlite3 keeps the widths of its first COLUMN_WIDTHS columns; the later ones are 10 wide after the
            # header line
            widths = first[:COLUMN_WIDTHS] + [10] * (len(first) - COLUMN_WIDTHS)
            if st.header:
                dashes = "-" * COLUMN_DASHES
                head = _column_line(cols, first) + _column_line([dashes] * len(widths), widths)
        write(head + _column_line(texts, widths))


# -- pretty ---------------------------------------------------------------------------------------------------


def _write_pretty(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    if len(set(cols)) == len(cols):
        texts: Iterator[list[str]] = ([value_text(v, st.nullvalue) for v in row] for row in rows)
    else:  # a repeated name: each place shows the last value of that name, as osquery's Row map holds it
        texts = (_by_name(cols, [value_text(v, st.nullvalue) for v in row]) for row in rows)
    first, failure = _sizing_rows(texts)
    if first:
        widths = _widths(cols, first)
        sep = "+" + "".join("-" * (w + 2) + "+" for w in widths) + "\n"
        write(sep + _pretty_line(cols, widths) + sep)
        try:
            for line in chain(first, () if failure is not None else texts):
                write(_pretty_line(line, widths))
        finally:
            write(sep)  # the grid is closed even when reading the rows failed
    if failure is not None:
        raise failure


def _by_name(cols: Sequence[str], texts: list[str]) -> list[str]:
    row = _map_row(cols, texts)
    return [row[c] for c in cols]


def _sizing_rows(texts: Iterator[list[str]]) -> tuple[list[list[str]], Exception | None]:
    """The rows that size the grid's columns, and the failure that cut them short (None: none did)."""
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
    widths = [utf8_size(c) for c in cols]
    for row in rows:
        for i, t in enumerate(row):
            n = utf8_size(t)
            if n > widths[i]:
                widths[i] = n
    return widths


def _pretty_line(texts: Sequence[str], widths: Sequence[int]) -> str:
    return (
        "".join(f"| {t}{' ' * max(w - utf8_size(t), 0)} " for t, w in zip(texts, widths, strict=True)) + "|\n"
    )


_WRITERS: dict[str, Callable[[Write, Sequence[str], Iterator[Sequence[object]], Style], None]] = {
    "pretty": _write_pretty,
    "json": _write_json,
    "json_pretty": _write_json_pretty,
    "csv": _write_csv,
    "list": _write_list,
    "line": _write_line,
    "column": _write_column,
}

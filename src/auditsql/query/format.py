"""Query result output modes, byte for byte like ``osqueryi`` (osquery/devtools/printer.cpp and shell.cpp).

Every value is printed as osqueryi prints SQLite's text form of it (``sqlite3_column_text``, a C string): integers
in decimal, reals as SQLite writes them (``%!.15g``: ``1.0``, ``0.1``, ``1.0e+20``), text as is up to a NUL byte
(a C string ends there), NULL as the null value.

osqueryi has two null values: ``FLAGS_nullvalue`` (the ``--nullvalue`` flag, whole) for the pretty and JSON
modes (shell.cpp ``shell_callback``, ``MODE_Pretty``; printer.cpp ``generateRow``), and the shell's own
``nullvalue[20]`` (the flag's first 19 bytes, then ``.nullvalue``) for the others. :class:`Style` holds both.
The separator is the shell's ``separator[20]``: ``--separator`` (default ``|``, for ``--csv`` too: osqueryi sets
a comma, then copies the flag over it), or ``.separator``, cut to 19 bytes; ``.mode csv`` sets ``,``.

The pretty and JSON modes gather the rows of every statement of one input (shell.cpp ``shell_exec`` prints them
in ``pretty_print_if_needed`` after its last statement): one grid or one array for ``SELECT 1; SELECT 2;``. The
other modes write each statement's rows as they come, a header for each statement. :func:`write_results` takes
the statements of one input.

``pretty``  osqueryi's default mode (also called ``table``): an ASCII grid (``+---+``, ``| name |``), columns
            as wide as their longest value or name counted in UTF-8 characters (osquery's ``utf8StringSize``), in
            the order of the first statement that gave a row; the header is always there (``--noheader`` does not
            touch it, as in osqueryi); a repeated column name shows the last value under each (osquery's ``Row``
            is a map). A row of a later statement without one of those columns shows the null value, padded to
            the byte length of the column's name (printer.cpp ``generateRow``). No rows prints nothing. The
            widths come from every row, so the grid is written after the last one: the rows wait in memory, and
            past :data:`GRID_MEMORY_CHARS` characters in a temporary file.
``json``    ``osqueryi --json``: an array, one compact object per row on its own line indented by two spaces,
            ``[`` and ``]`` on their own lines; **every value a JSON string** (osquery's ``Row`` is a map of
            string to string), keys in byte order (a repeated column name keeps the last value); strings
            escaped like rapidjson (``\\" \\\\ \\b \\f \\n \\r \\t``, other control bytes ``\\u00XX``, ``/`` and
            non-ASCII unescaped). No rows prints ``[``, an empty line, ``]``.
``json_pretty`` ``osqueryi --json_pretty``: rapidjson's PrettyWriter with a two-space indent: each row an
            object over several lines, ``"key": "value"`` members in byte order. No rows prints ``[]``.
``csv``     osqueryi's csv writer: a header line (unless ``--noheader``), fields joined by the separator, a
            field double-quoted (inner ``"`` doubled) when it is empty or holds a byte <= 0x20, ``"``, ``'``, a
            byte >= 0x7f, or the separator's first byte; NULL is the null value unquoted.
``list``    values joined by the separator, no quoting; a header line of the column names unless
            ``--noheader``.
``line``    ``column = value`` lines with the names right-aligned to the longest name in bytes (at least 5), a
            blank line between rows.
``column``  sqlite3's column mode: left-aligned columns two spaces apart, each as wide as the longest of its
            name, 10, and its first row's value, in bytes; longer values are cut to that width; a header and a
            line of dashes unless ``--noheader``.

In csv, list, line and column modes the header comes with a statement's first row: no rows prints nothing.

When reading the rows fails midway (the time limit), what was gathered or written is closed first (the JSON
array's ``]``, the grid of the rows read so far), as osqueryi prints before its error, so ``--json`` output stays
valid JSON.
"""

from __future__ import annotations

import pickle
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

__all__ = [
    "CSV_SEPARATOR",
    "DEFAULT_SEPARATOR",
    "GRID_MEMORY_CHARS",
    "MODES",
    "MODE_ALIASES",
    "SETTING_BYTES",
    "Style",
    "mode_name",
    "render",
    "setting_text",
    "to_bytes",
    "value_text",
    "write_result",
    "write_results",
    "write_styled",
]

#: the output modes, osqueryi's names
MODES = ("pretty", "json", "json_pretty", "csv", "list", "line", "column")
#: other names a mode is known by (``table`` was auditsql's name for ``pretty``; the plurals are sqlite3's)
MODE_ALIASES = {"table": "pretty", "lines": "line", "columns": "column"}
#: the separator when none is given: osqueryi's ``--separator`` default, for every mode (shell.cpp
#: ``SHELL_FLAG(string, separator, "|", ...)``; ``launchIntoShell`` copies it over the comma ``--csv`` set)
DEFAULT_SEPARATOR = "|"
#: the separator ``.mode csv`` sets (shell.cpp ``do_meta_command``, ``.mode csv``)
CSV_SEPARATOR = ","
#: the bytes osqueryi keeps of the shell's separator and null value (shell.cpp ``callback_data``:
#: ``char separator[20]``, ``char nullvalue[20]``, filled by ``sqlite3_snprintf``)
SETTING_BYTES = 19
#: the modes that gather the rows of every statement of an input and print them at the end (shell.cpp
#: ``pretty_print_if_needed``: ``--json`` and ``--json_pretty`` are the pretty mode printed another way)
GATHERING_MODES = ("pretty", "json", "json_pretty")
#: characters of values the pretty mode holds in memory before the next rows wait in a temporary file
GRID_MEMORY_CHARS = 4 << 20
#: the widest line of dashes under a header in column mode (sqlite3's literal)
COLUMN_DASHES = 93
#: the columns whose widths column mode keeps (sqlite3's ``actualWidth[100]``)
COLUMN_WIDTHS = 100

#: takes each piece of output text in turn
Write = Callable[[str], object]
#: one statement's result: its column names and its rows
Result = tuple[Sequence[str], Iterable[Sequence[object]]]

_mem = sqlite3.connect(":memory:", check_same_thread=False)
_mem_lock = threading.Lock()


def mode_name(name: str) -> str | None:
    """The mode ``name`` stands for (one of ``MODES``), or None."""
    name = MODE_ALIASES.get(name, name)
    return name if name in MODES else None


def setting_text(text: str) -> str:
    """``text`` as osqueryi keeps a separator or null value: up to a NUL, at most :data:`SETTING_BYTES` bytes
    (cut between bytes, as ``sqlite3_snprintf`` cuts; a cut UTF-8 character goes out as its first bytes)."""
    text = _c_str(text)
    if len(text) <= SETTING_BYTES // 4:
        return text
    return to_bytes(text)[:SETTING_BYTES].decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Style:
    """How a result is printed: the mode and osqueryi's settings.

    ``separator`` and ``nullvalue`` are the shell's (osqueryi's ``p->separator``, ``p->nullvalue``: the list,
    csv, line and column modes); ``grid_nullvalue`` is the ``--nullvalue`` flag, which the pretty and JSON
    modes print (``FLAGS_nullvalue``; ``.nullvalue`` does not change it). :meth:`from_flags` builds them from
    the command line as osqueryi does."""

    mode: str = "pretty"
    header: bool = True
    separator: str = DEFAULT_SEPARATOR
    nullvalue: str = ""
    grid_nullvalue: str = ""

    @classmethod
    def from_flags(
        cls, mode: str = "pretty", header: bool = True, separator: str | None = None, nullvalue: str = ""
    ) -> Style:
        """The settings of ``osqueryi --MODE --header --separator S --nullvalue N`` (shell.cpp
        ``launchIntoShell``): the shell's separator and null value are the flags' first 19 bytes, the pretty
        and JSON modes print the whole ``--nullvalue``."""
        sep = DEFAULT_SEPARATOR if separator is None else separator
        return cls(mode, header, setting_text(sep), setting_text(nullvalue), nullvalue)


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


def _c_str(text: str) -> str:
    """``text`` as C reads it: up to its first NUL."""
    return text.partition("\x00")[0] if "\x00" in text else text


def cell_text(v: object, nullvalue: str = "") -> str:
    """A value as osqueryi prints it: :func:`value_text` up to a NUL byte (osqueryi prints the C string
    ``sqlite3_column_text`` returns, with ``%s`` or as a ``std::string`` built from it)."""
    return _c_str(value_text(v, nullvalue))


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
    separator: str = DEFAULT_SEPARATOR,
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
    separator: str = DEFAULT_SEPARATOR,
) -> None:
    """Write one result in one of ``MODES`` (or an alias) through ``write``; ``nullvalue`` in every mode."""
    name = mode_name(mode)
    if name is None:
        raise ValueError(f"unknown output mode {mode}")
    write_results(write, [(cols, rows)], Style(name, header, separator, nullvalue, nullvalue))


def write_styled(write: Write, cols: Sequence[str], rows: Iterable[Sequence[object]], style: Style) -> None:
    """Write one result with the settings of ``style``."""
    write_results(write, [(cols, rows)], style)


def write_results(write: Write, results: Iterable[Result], style: Style) -> None:
    """Write the results of the statements of one input as osqueryi's ``shell_exec`` prints them: the pretty
    and JSON modes gather every statement's rows into one grid or array, written when the last statement ends
    (or fails: what was gathered is written, then the failure goes on); the other modes write each statement's
    rows as they come. ``results`` is read lazily: a statement may start (and fail) after the rows before it
    were written."""
    if style.mode in GATHERING_MODES:
        _GATHERERS[style.mode](write, results, style)
        return
    writer = _WRITERS[style.mode]
    for cols, rows in results:
        writer(write, [_c_str(c) for c in cols], iter(rows), style)


def _map_row(cols: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """A row as osquery's ``Row`` holds it: a map of column name to value, the last of a repeated name."""
    return dict(zip(cols, texts, strict=False))


def _gathered_rows(results: Iterable[Result], nullvalue: str) -> Iterator[dict[str, str]]:
    """Every row of every statement as osquery's ``Row`` map, NULL as ``nullvalue`` (shell.cpp
    ``shell_callback``, ``MODE_Pretty``)."""
    for cols, rows in results:
        names = [_c_str(c) for c in cols]
        for row in rows:
            yield _map_row(names, [cell_text(v, nullvalue) for v in row])


# -- json -----------------------------------------------------------------------------------------------------

_JESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _JESC.setdefault(chr(_c), f"\\u{_c:04X}")
_JNEED = re.compile(r'["\\\x00-\x1f]')


def _jstr(s: str) -> str:
    return '"' + _JNEED.sub(lambda m: _JESC[m.group()], s) + '"'


def _json_members(row: dict[str, str]) -> list[tuple[str, str]]:
    return [(_jstr(k), _jstr(row[k])) for k in sorted(row, key=_bkey)]


def _write_json(write: Write, results: Iterable[Result], st: Style) -> None:
    """printer.cpp ``jsonPrint``."""
    write("[\n")
    sep = ""
    try:
        for row in _gathered_rows(results, st.grid_nullvalue):
            write(sep + "  {" + ",".join(k + ":" + v for k, v in _json_members(row)) + "}")
            sep = ",\n"
    finally:
        write("\n]\n")  # the array is closed even when reading the rows failed


def _write_json_pretty(write: Write, results: Iterable[Result], st: Style) -> None:
    """printer.cpp ``jsonPrettyPrint`` (rapidjson's PrettyWriter)."""
    opening = "[\n"
    try:
        for row in _gathered_rows(results, st.grid_nullvalue):
            members = _json_members(row)
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
    sep, nullvalue = st.separator, st.nullvalue
    head = sep.join(_csv(c, sep) for c in cols) + "\n" if st.header else ""  # written with the first row
    for row in rows:
        write(head + sep.join(nullvalue if v is None else _csv(cell_text(v), sep) for v in row) + "\n")
        head = ""


def _write_list(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    sep, nullvalue = st.separator, st.nullvalue
    head = sep.join(cols) + "\n" if st.header else ""  # written with the first row
    for row in rows:
        write(head + sep.join(cell_text(v, nullvalue) for v in row) + "\n")
        head = ""


# -- line, column ---------------------------------------------------------------------------------------------


def _write_line(write: Write, cols: Sequence[str], rows: Iterator[Sequence[object]], st: Style) -> None:
    w = max([5] + [_blen(c) for c in cols])
    names = [" " * (w - _blen(c)) + c + " = " for c in cols]  # printf's %*s pads bytes
    sep = ""  # a blank line between rows
    for row in rows:
        write(sep + "".join(f"{n}{cell_text(v, st.nullvalue)}\n" for n, v in zip(names, row, strict=False)))
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
        texts = [cell_text(v, st.nullvalue) for v in row]
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


class _Grid:
    """The rows of the pretty mode, gathered until the last one sizes the columns (printer.cpp ``prettyPrint``,
    ``computeRowLengths``): the first :data:`GRID_MEMORY_CHARS` characters in memory, the rest in a temporary
    file."""

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self.lengths: dict[str, int] = {}
        self.held: list[dict[str, str]] = []
        self.chars = 0
        self.spill: IO[bytes] | None = None
        self.spilled = 0

    def add(self, cols: Sequence[str], row: dict[str, str]) -> None:
        if self.columns is None:  # the columns of the first statement that gave a row, in its order
            self.columns = list(cols)
        lengths = self.lengths
        for k, t in row.items():
            n = utf8_size(t)
            if n > lengths.get(k, 0):
                lengths[k] = n
        if self.spill is None and self.chars < GRID_MEMORY_CHARS:
            self.held.append(row)
            self.chars += sum(len(t) for t in row.values())
            return
        if self.spill is None:
            self.spill = tempfile.TemporaryFile(prefix="auditsql-grid-")  # noqa: SIM115 - closed by close()
        pickle.dump(row, self.spill, protocol=pickle.HIGHEST_PROTOCOL)
        self.spilled += 1

    def rows(self) -> Iterator[dict[str, str]]:
        yield from self.held
        if self.spill is not None:
            self.spill.seek(0)
            for _ in range(self.spilled):
                yield pickle.load(self.spill)  # noqa: S301 - our own rows, written above

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()

    def write(self, write: Write, nullvalue: str) -> None:
        if not self.held or self.columns is None:
            return  # no rows: nothing (prettyPrint)
        cols, lengths = self.columns, self.lengths
        for k in self.held[0]:  # computeRowLengths(results.front(), lengths, true): the names count too
            lengths[k] = max(lengths.get(k, 0), utf8_size(k))
        sep = "+" + "".join("-" * (lengths[c] + 2) + "+" for c in cols) + "\n"  # generateToken
        head = "|" + "".join(f" {c}{' ' * (lengths[c] - utf8_size(c))} |" for c in cols) + "\n"
        write(sep + head + sep)
        null_pad = utf8_size(nullvalue)
        for row in self.rows():  # generateRow
            parts = []
            for c in cols:
                t = row.get(c)
                if (
                    t is None
                ):  # a column the row's statement lacks: the null value, padded to the name's bytes
                    # (size_t arithmetic: one character more than the name leaves no space; more than that
                    # makes osqueryi's std::string throw, and it aborts)
                    parts.append(f"| {nullvalue}{' ' * max(_blen(c) - null_pad + 1, 0)}")
                else:
                    parts.append(f"| {t}{' ' * (lengths[c] - utf8_size(t) + 1)}")
            write("".join(parts) + "|\n")
        write(sep)


def _write_pretty(write: Write, results: Iterable[Result], st: Style) -> None:
    grid = _Grid()
    try:
        for cols, rows in results:
            names = [_c_str(c) for c in cols]
            for row in rows:
                grid.add(names, _map_row(names, [cell_text(v, st.grid_nullvalue) for v in row]))
    finally:  # what was gathered is written even when reading the rows failed (shell_exec prints, then errs)
        try:
            grid.write(write, st.grid_nullvalue)
        finally:
            grid.close()


_WRITERS: dict[str, Callable[[Write, Sequence[str], Iterator[Sequence[object]], Style], None]] = {
    "csv": _write_csv,
    "list": _write_list,
    "line": _write_line,
    "column": _write_column,
}
_GATHERERS: dict[str, Callable[[Write, Iterable[Result], Style], None]] = {
    "pretty": _write_pretty,
    "json": _write_json,
    "json_pretty": _write_json_pretty,
}

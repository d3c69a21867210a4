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
          longest value or name, in query order. No rows prints nothing.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence

__all__ = ["MODES", "render", "to_bytes", "value_text"]

MODES = ("table", "json", "csv", "line")

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
    cols: Sequence[str], rows: Sequence[Sequence[object]], mode: str = "table", nullvalue: str = ""
) -> str:
    """The text of a result in one of ``MODES``."""
    if mode == "json":
        return render_json(cols, rows, nullvalue)
    if mode == "csv":
        return render_csv(cols, rows, nullvalue)
    if mode == "line":
        return render_line(cols, rows, nullvalue)
    if mode in ("table", "pretty"):
        return render_table(cols, rows, nullvalue)
    raise ValueError(f"unknown output mode {mode}")


# -- json -----------------------------------------------------------------------------------------------------

_JESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _c in range(0x20):
    _JESC.setdefault(chr(_c), f"\\u{_c:04X}")
_JNEED = re.compile(r'["\\\x00-\x1f]')


def _jstr(s: str) -> str:
    return '"' + _JNEED.sub(lambda m: _JESC[m.group()], s) + '"'


def render_json(cols: Sequence[str], rows: Sequence[Sequence[object]], nullvalue: str = "") -> str:
    lines = []
    for row in rows:
        obj: dict[str, str] = {}
        for c, v in zip(cols, row, strict=False):
            obj[c] = value_text(v, nullvalue)
        lines.append("  {" + ",".join(_jstr(k) + ":" + _jstr(obj[k]) for k in sorted(obj)) + "}")
    return "[\n" + ",\n".join(lines) + "\n]\n"


# -- csv ------------------------------------------------------------------------------------------------------

_CSV_NEED = re.compile(r"[\x00-\x20\"',\x7f-\U0010ffff]")


def _csv(s: str | None, nullvalue: str) -> str:
    if s is None:
        return nullvalue
    if not s or _CSV_NEED.search(s):
        return '"' + s.replace('"', '""') + '"'
    return s


def render_csv(cols: Sequence[str], rows: Sequence[Sequence[object]], nullvalue: str = "") -> str:
    if not rows:
        return ""
    out = [",".join(_csv(c, nullvalue) for c in cols)]
    for row in rows:
        out.append(",".join(_csv(None if v is None else value_text(v), nullvalue) for v in row))
    return "\n".join(out) + "\n"


# -- line -----------------------------------------------------------------------------------------------------


def render_line(cols: Sequence[str], rows: Sequence[Sequence[object]], nullvalue: str = "") -> str:
    w = max([5] + [len(c.encode("utf-8", "surrogateescape")) for c in cols])
    blocks = []
    for row in rows:
        blocks.append(
            "".join(f"{c:>{w}} = {value_text(v, nullvalue)}\n" for c, v in zip(cols, row, strict=False))
        )
    return "\n".join(blocks)


# -- table ----------------------------------------------------------------------------------------------------


def render_table(cols: Sequence[str], rows: Sequence[Sequence[object]], nullvalue: str = "") -> str:
    if not rows:
        return ""
    texts = [[value_text(v, nullvalue) for v in row] for row in rows]
    widths = [len(c) for c in cols]
    for row in texts:
        for i, t in enumerate(row):
            if len(t) > widths[i]:
                widths[i] = len(t)
    sep = "+" + "".join("-" * (w + 2) + "+" for w in widths) + "\n"
    head = "|" + "".join(f" {c}{' ' * (w - len(c))} |" for c, w in zip(cols, widths, strict=True)) + "\n"
    body = "".join(
        "".join(f"| {t}{' ' * (w - len(t) + 1)}" for t, w in zip(row, widths, strict=True)) + "|\n"
        for row in texts
    )
    return sep + head + sep + body + sep

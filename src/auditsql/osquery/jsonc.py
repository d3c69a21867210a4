"""osquery's JSON: ``//`` and ``/* */`` comments and trailing commas allowed (rapidjson's comment and
trailing-comma flags, as osquery parses its configuration), a backslash at the end of a line inside a string
continues it (osquery's packs write long queries so), errors with the line and column.

Comments and trailing commas are blanked, not removed, and the newlines of continued strings are put back
after the string, so a parse error's line is the file's.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsoncError", "loads", "strip"]


class JsoncError(ValueError):
    """The text is not JSON; ``line``, ``col`` (1-based) and ``msg`` say where and why."""

    def __init__(self, msg: str, line: int, col: int) -> None:
        super().__init__(f"{line}:{col}: {msg}")
        self.msg, self.line, self.col = msg, line, col


def strip(text: str) -> str:
    """``text`` with comments and trailing commas replaced by spaces (newlines kept)."""
    out = list(text)
    i, n = 0, len(text)
    last_comma = -1  # index of a comma not yet followed by a value
    while i < n:
        c = text[i]
        if c == '"':
            last_comma = -1
            i += 1
            continued = 0
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out[i] = out[i + 1] = ""
                    continued += 1
                i += 2 if text[i] == "\\" else 1
            if i < n and continued:
                out[i] = '"' + "\n" * continued
            i += 1
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
        elif c == ",":
            last_comma = i
            i += 1
        elif c in "}]":
            if last_comma >= 0:
                out[last_comma] = " "
            last_comma = -1
            i += 1
        elif c.isspace():
            i += 1
        else:
            last_comma = -1
            i += 1
    return "".join(out)


def loads(text: str) -> Any:
    """Parse osquery's JSON; :class:`JsoncError` with the line and column when it does not parse."""
    try:
        return json.loads(strip(text))
    except json.JSONDecodeError as exc:
        raise JsoncError(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise JsoncError("nested too deeply", 1, 1) from None


def looks_like_json(text: str) -> bool:
    """The first thing in ``text`` past blanks and comments is ``{`` (a TOML file cannot start so)."""
    return strip(text).lstrip().startswith("{")

"""``auditsql shell``: an interactive SQL shell over the store, in the manner of ``osqueryi``.

Interactive (stdin is a terminal): prompt-toolkit line editing, history in ``~/.auditsql_history`` (mode 0600),
Tab completion of dot commands, table names and column names. A statement may span lines; it runs when a line
ends it with ``;``. Ctrl-C clears the line or stops a running query; Ctrl-D (EOF), ``.quit`` or ``.exit`` leave
with status 0.

Piped (stdin is not a terminal): statements and dot commands are read line by line, the same way, without
prompts; a last statement without ``;`` still runs at EOF. The exit status is 1 if any statement or command
failed (like ``sqlite3`` and ``osqueryi``), else 0.

Dot commands are osqueryi's (osquery/devtools/shell.cpp): ``.all``, ``.headers``, ``.mode``, ``.nullvalue``,
``.separator``, ``.show``, ``.print``, ``.tables``, ``.schema``, ... Their arguments are split as osqueryi
splits them: on spaces, ``'...'`` and ``"..."`` quote, and ``\\t``, ``\\n``, ``\\r``, ``\\\\`` and ``\\NNN``
(octal) are resolved outside single quotes. A command may be shortened to a prefix no other command shares.

A failing statement or command prints one line (``auditsql: ...``) on stderr and the shell goes on.
"""

from __future__ import annotations

import os
import sqlite3
import string
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

from auditsql.query.engine import Engine, QueryError, split_statements
from auditsql.query.format import (
    CSV_SEPARATOR,
    MODES,
    Result,
    Style,
    mode_name,
    setting_text,
    to_bytes,
    write_results,
)

__all__ = ["DOT_COMMANDS", "HELP", "HISTORY_FILE", "Shell", "parse_bool", "run_shell", "split_dot_command"]

HISTORY_FILE = "~/.auditsql_history"
PROMPT = "auditsql> "
CONTINUE = "     ...> "

HELP = """\
Enter SQL statements ending with ';' (read-only: SELECT, WITH, EXPLAIN, read PRAGMAs), or a dot command:
.all TABLE        Select all from a table
.exit, .quit      Leave the shell (so does Ctrl-D)
.features         osquery's feature flags: not in auditsql
.headers ON|OFF   Turn display of headers on or off (list, csv and column modes)
.help             Show this message
.mode [MODE]      Set the output mode; without MODE, show it. MODE is one of:
                    pretty       Pretty printed SQL results (default; also: table)
                    json         An array of row objects, one a line (osqueryi --json)
                    json_pretty  An indented array of row objects (osqueryi --json_pretty)
                    csv          Comma-separated values (sets the separator to ',')
                    list         Values delimited by the .separator string
                    line         One value per line
                    column       Left-aligned columns
.nullvalue STR    Use STR in place of NULL values (list, csv, line, column; pretty and JSON: --nullvalue)
.print STR...     Print literal STR
.schema [TABLE]   Show the CREATE statements of all tables, or of TABLE
.separator STR    Change the separator of the list and csv modes
.show             Show the current values of the settings (also: .summary)
.tables [PREFIX]  List the tables (all, or those whose name starts with PREFIX)
.version          Show the versions of auditsql and SQLite
Live tables (audit_status, audit_rules) are read from the kernel when a statement names them.
"""

#: each dot command and the usage line shown when its arguments are wrong
DOT_USAGE = {
    ".all": ".all TABLE",
    ".exit": ".exit",
    ".features": ".features",
    ".headers": ".headers on|off",
    ".help": ".help",
    ".mode": ".mode [" + "|".join(MODES) + "]",
    ".nullvalue": ".nullvalue STR",
    ".print": ".print STR...",
    ".quit": ".quit",
    ".schema": ".schema [TABLE]",
    ".separator": ".separator STR",
    ".show": ".show",
    ".tables": ".tables [PREFIX]",
    ".version": ".version",
}
DOT_COMMANDS = tuple(sorted(DOT_USAGE))
#: other names osqueryi knows the commands by
DOT_ALIASES = {".header": ".headers", ".summary": ".show"}
#: the text osqueryi takes for true and false (osquery's ``tryTo<bool>``); digits are a number, 0 false
_BOOLS = {
    "1": True, "0": False, "y": True, "yes": True, "n": False, "no": False, "t": True, "true": True,
    "f": False, "false": False, "ok": True, "disable": False, "enable": True, "on": True, "off": False,
}  # fmt: skip
#: the width of the names in ``.show`` (osqueryi's ``%13.13s``)
SHOW_WIDTH = 13


def parse_bool(text: str) -> bool | None:
    """osqueryi's ``booleanValue``: a number (decimal, or hex after ``0x``) is true unless 0; else one of
    osquery's words for true and false, in any case. None: neither."""
    hexa = text.startswith("0x")
    digits = text[2:] if hexa else text
    if all(c in string.hexdigits for c in digits) if hexa else (digits.isascii() and digits.isdigit()):
        return (int(digits or "0", 16 if hexa else 10) & 0xFFFFFFFF) != 0
    return _BOOLS.get(text.lower())


#: C's isspace() in the C locale: the separators of a dot command's words
_SPACE = " \t\n\v\f\r"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def _resolve_backslashes(token: str) -> str:
    r"""sqlite3's ``resolve_backslashes``: ``\n \t \r \\`` and up to three octal digits; a backslash before
    any other character is dropped. A NUL ends the token (it ends the C string)."""
    out: list[str] = []
    i = 0
    while i < len(token):
        c = token[i]
        if c == "\\":
            i += 1
            if i >= len(token):
                break
            c = token[i]
            if c in _ESCAPES:
                c = _ESCAPES[c]
            elif "0" <= c <= "7":
                v = int(c)
                for _ in range(2):
                    if i + 1 < len(token) and "0" <= token[i + 1] <= "7":
                        i += 1
                        v = v * 8 + int(token[i])
                v &= 0xFF
                if v == 0:
                    break
                c = chr(v) if v < 0x80 else chr(0xDC00 + v)  # a byte, as surrogateescape holds it
        out.append(c)
        i += 1
    return "".join(out)


def split_dot_command(line: str) -> list[str]:
    """A dot command line split into words as osqueryi's ``do_meta_command`` splits it (the leading ``.`` is
    kept on the first word)."""
    words: list[str] = []
    i, n = 1, len(line)
    while i < n and len(words) < 50:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            break
        if line[i] in "'\"":
            delim = line[i]
            i += 1
            start = i
            while i < n and line[i] != delim:
                if line[i] == "\\" and delim == '"' and i + 1 < n:
                    i += 1
                i += 1
            word = line[start:i]
            i += 1  # past the closing quote
            words.append(_resolve_backslashes(word) if delim == '"' else word)
        else:
            start = i
            while i < n and line[i] not in _SPACE:
                i += 1
            words.append(_resolve_backslashes(line[start:i]))
    if words:
        words[0] = "." + words[0]
    return words


def _c_string(text: str) -> str:
    """osqueryi's ``output_c_string``: ``text`` in double quotes, C escapes, other bytes outside printable
    ASCII in octal."""
    out = ['"']
    for b in to_bytes(text):
        ch = chr(b)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    out.append('"')
    return "".join(out)


class Shell:
    """Reads lines, runs statements and dot commands, writes results. Used by both the interactive loop and
    the piped mode; ``feed(line)`` returns False when the shell should stop. The output settings start from
    ``style`` and change with ``.mode``, ``.headers``, ``.separator`` and ``.nullvalue``."""

    def __init__(self, engine: Engine, out: IO[bytes], err: IO[bytes], style: Style | str = "pretty") -> None:
        if isinstance(style, str):
            style = Style(mode_name(style) or style)
        self.engine = engine
        self.out = out
        self.err = err
        #: the output settings (``.mode csv`` sets the separator to a comma)
        self.style = style
        self.pending: list[str] = []
        self.errors = 0

    # -- output ------------------------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        if text:
            self.out.write(to_bytes(text))
            self.out.flush()

    def error(self, msg: str) -> None:
        self.errors += 1
        self.err.write(to_bytes(f"auditsql: {msg}\n"))
        self.err.flush()

    # -- input -------------------------------------------------------------------------------------------------

    @property
    def continuing(self) -> bool:
        return bool(self.pending)

    def feed(self, line: str) -> bool:
        """Take one input line (without its newline). Returns False to stop (.quit/.exit)."""
        if not self.pending:
            if not line.strip():
                return True
            if line.lstrip().startswith("."):
                return self.dot(line.strip(_SPACE))
        self.pending.append(line)
        text = "\n".join(self.pending)
        if ";" in line and sqlite3.complete_statement(text):
            self.pending = []
            self.run_sql(text)
        return True

    def finish(self) -> None:
        """End of input: run a last statement left without ``;``."""
        text = "\n".join(self.pending)
        self.pending = []
        if text.strip():
            self.run_sql(text)

    def cancel(self) -> None:
        self.pending = []

    def run_sql(self, text: str) -> None:
        """Run the statements of ``text`` as osqueryi's ``shell_exec`` runs one input: in turn, stopping at the
        first that fails; the pretty and JSON modes print the rows of all of them as one grid or array."""
        try:
            write_results(self.write_piece, self._results(split_statements(text)), self.style)
        except QueryError as e:
            self.out.flush()
            self.error(str(e))
        except KeyboardInterrupt:
            self.out.flush()
            self.error("query interrupted")
        else:
            self.out.flush()

    def _results(self, stmts: list[str]) -> Iterator[Result]:
        for stmt in stmts:
            rows = self.engine.rows(stmt)
            yield rows.columns, rows

    def write_piece(self, text: str) -> None:
        """Write a piece of a result (flushed when the statement ends, or by the buffer as it fills)."""
        self.out.write(to_bytes(text))

    # -- dot commands ------------------------------------------------------------------------------------------

    def command(self, word: str) -> str | None:
        """The dot command ``word`` names: itself, an alias, or a prefix of one command only (as osqueryi and
        sqlite3 take ``.tab`` and ``.q``). None (and an error line) when it names none or several."""
        word = DOT_ALIASES.get(word, word)
        if word in DOT_USAGE:
            return word
        names = {DOT_ALIASES.get(c, c) for c in (*DOT_USAGE, *DOT_ALIASES) if c.startswith(word)}
        if len(names) == 1 and len(word) > 1:
            return names.pop()
        if len(names) > 1 and len(word) > 1:
            self.error(f"ambiguous command {word}: {', '.join(sorted(names))}")
        else:
            self.error(f"unknown command {word}: .help lists the commands")
        return None

    def dot(self, line: str) -> bool:
        words = split_dot_command(line)
        if not words:
            return True
        cmd = self.command(words[0])
        if cmd is None:
            return True
        if cmd in (".quit", ".exit"):
            return False
        handler, counts = self._handlers()[cmd]
        args = words[1:]
        if len(args) not in counts:
            self.error(f"usage: {DOT_USAGE[cmd]}")
        else:
            handler(args)
        return True

    def _handlers(self) -> dict[str, tuple[Callable[[list[str]], None], range]]:
        many = range(0, 50)
        return {
            ".all": (self._all, range(1, 2)),
            ".features": (self._features, range(0, 1)),
            ".headers": (self._headers, range(1, 2)),
            ".help": (lambda args: self.write(HELP), many),
            ".mode": (self._mode, range(0, 2)),
            ".nullvalue": (self._nullvalue, range(1, 2)),
            ".print": (lambda args: self.write(" ".join(args) + "\n"), many),
            ".schema": (self._schema, range(0, 2)),
            ".separator": (self._separator, range(1, 2)),
            ".show": (self._show, range(0, 1)),
            ".tables": (self._tables, range(0, 2)),
            ".version": (lambda args: self.write(self._version()), range(0, 1)),
        }

    def _all(self, args: list[str]) -> None:
        self.run_sql(f"SELECT * FROM {args[0]}")

    def _features(self, args: list[str]) -> None:
        self.error(
            ".features lists osquery's disable_*/enable_* flags: auditsql has none (.show lists the shell's "
            "settings, `auditsql status` the agent's)"
        )

    def _headers(self, args: list[str]) -> None:
        value = parse_bool(args[0])
        if value is None:
            self.error(f".headers {args[0]}: give on or off")
        else:
            self.style = replace(self.style, header=value)

    def _mode(self, args: list[str]) -> None:
        if not args:
            self.write(f"{self.style.mode}\n")
            return
        m = mode_name(args[0])
        if m is None:
            self.error(f"unknown mode {args[0]}: choose one of {', '.join(MODES)}")
            return
        self.style = replace(self.style, mode=m)
        if m == "csv":  # as osqueryi's .mode csv: the separator becomes a comma (and stays for list)
            self.style = replace(self.style, separator=CSV_SEPARATOR)

    def _nullvalue(self, args: list[str]) -> None:
        # osqueryi's p->nullvalue (19 bytes): the list, csv, line and column modes; the pretty and JSON modes
        # keep printing the --nullvalue flag (shell.cpp shell_callback, MODE_Pretty: FLAGS_nullvalue)
        self.style = replace(self.style, nullvalue=setting_text(args[0]))

    def _separator(self, args: list[str]) -> None:
        self.style = replace(self.style, separator=setting_text(args[0]))

    def _schema(self, args: list[str]) -> None:
        tables = self.engine.tables
        ddl = self.engine.ddl
        if not args:
            self.write("".join(ddl(n) + "\n" for n in sorted(tables)))
        elif args[0] in tables:
            self.write(ddl(args[0]) + "\n")
        else:
            names = [n for n in sorted(tables) if n.startswith(args[0])]
            if names:
                self.write("".join(ddl(n) + "\n" for n in names))
            else:
                self.error(f"unknown table {args[0]}: .tables lists the tables")

    def _tables(self, args: list[str]) -> None:
        prefix = args[0] if args else ""
        self.write("".join(f"  => {n}\n" for n in sorted(self.engine.tables) if n.startswith(prefix)))

    def _version(self) -> str:
        from auditsql import __version__

        return f"auditsql {__version__}\n{self.engine.version()}\n"

    def _show(self, args: list[str]) -> None:
        """osqueryi's ``.show``: the versions, then the settings as ``%13.13s: value`` lines; its "Shell
        settings" block is osqueryi's, line for line."""

        def line(name: str, value: str) -> str:
            return f"{name[:SHOW_WIDTH]:>{SHOW_WIDTH}}: {value}\n"

        timeout = self.engine.timeout
        self.write(
            self._version()
            + "\nGeneral settings:\n"
            + line("Database", self.engine.db_path)
            + line("Timeout", f"{timeout:g} s" if timeout else "none")
            + "\nShell settings:\n"
            + line("echo", "off")
            + line("headers", "on" if self.style.header else "off")
            + line("mode", self.style.mode)
            + line("nullvalue", _c_string(self.style.nullvalue))
            + line("output", "stdout")
            + line("separator", _c_string(self.style.separator))
            + line("width", "")
        )


# -- completion -----------------------------------------------------------------------------------------------


def _completer(engine: Engine):  # type: ignore[no-untyped-def]
    import re

    from prompt_toolkit.completion import Completer, Completion

    tables = sorted(engine.tables)
    all_columns = sorted({c for t in engine.tables.values() for c in t.column_names})
    keywords = [
        "SELECT",
        "FROM",
        "WHERE",
        "GROUP BY",
        "ORDER BY",
        "LIMIT",
        "JOIN",
        "AND",
        "OR",
        "NOT",
        "LIKE",
        "COUNT",
        "DISTINCT",
        "DESC",
        "ASC",
        "HAVING",
        "WITH",
    ]

    class SqlCompleter(Completer):
        def get_completions(self, document, complete_event) -> Iterator[Completion]:  # type: ignore[no-untyped-def]
            text = document.text_before_cursor
            stripped = text.lstrip()
            if stripped.startswith("."):
                parts = stripped.split()
                if len(parts) <= 1 and not stripped.endswith(" "):
                    word = parts[0] if parts else "."
                    yield from (Completion(c, -len(word)) for c in DOT_COMMANDS if c.startswith(word))
                    return
                word = "" if stripped.endswith(" ") else parts[-1]
                if parts[0] in (".all", ".schema", ".tables"):
                    yield from (Completion(t, -len(word)) for t in tables if t.startswith(word))
                elif parts[0] == ".mode":
                    yield from (Completion(m, -len(word)) for m in MODES if m.startswith(word))
                elif parts[0] in (".headers", ".header"):
                    yield from (Completion(b, -len(word)) for b in ("off", "on") if b.startswith(word))
                return
            word = document.get_word_before_cursor(WORD=False)
            if word and not (word[-1].isalnum() or word[-1] == "_"):
                word = ""
            before = text[: len(text) - len(word)]
            if re.search(r"\b(from|join|into|table)\s+$", before, re.I):
                cands: Iterable[str] = tables
            else:
                buf = document.text
                used = [t for t in tables if re.search(rf"\b{t}\b", buf)]
                cols = (
                    sorted({c for t in used for c in engine.tables[t].column_names}) if used else all_columns
                )
                cands = [*cols, *tables, *keywords]
            low = word.lower()
            for c in cands:
                if c.lower().startswith(low) and c != word:
                    yield Completion(c, -len(word))

    return SqlCompleter()


# -- loops ----------------------------------------------------------------------------------------------------


def _history_path() -> str:
    path = os.path.expanduser(HISTORY_FILE)
    if not os.path.exists(path):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:
            pass
    return path


def interactive(shell: Shell, pt_input: Any = None, pt_output: Any = None) -> int:
    """The prompt-toolkit loop (``pt_input``/``pt_output`` let tests drive it without a terminal)."""
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
    except ImportError:  # a broken install: still a usable shell, without history and completion
        return _plain_interactive(shell)

    path = _history_path()
    history = FileHistory(path) if os.access(path, os.W_OK) else InMemoryHistory()
    session: PromptSession[str] = PromptSession(
        history=history,
        completer=_completer(shell.engine),
        complete_while_typing=False,
        input=pt_input,
        output=pt_output,
    )
    shell.write(f"auditsql shell on {shell.engine.db_path}. Enter .help for help, Ctrl-D to leave.\n")
    while True:
        try:
            line = session.prompt(CONTINUE if shell.continuing else PROMPT)
        except KeyboardInterrupt:
            shell.cancel()
            continue
        except EOFError:
            shell.finish()
            return 0
        if not shell.feed(line):
            return 0


def _plain_interactive(shell: Shell) -> int:
    shell.write(f"auditsql shell on {shell.engine.db_path} (no prompt_toolkit: no history or completion).\n")
    while True:
        try:
            line = input(CONTINUE if shell.continuing else PROMPT)
        except KeyboardInterrupt:
            shell.write("\n")
            shell.cancel()
            continue
        except EOFError:
            shell.write("\n")
            shell.finish()
            return 0
        if not shell.feed(line):
            return 0


def piped(shell: Shell, stream: IO[bytes]) -> int:
    for raw in stream:
        line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
        if not shell.feed(line):
            return 1 if shell.errors else 0
    shell.finish()
    return 1 if shell.errors else 0


def run_shell(
    db_path: str,
    *,
    store: str | None = None,
    timeout: float | None = None,
    style: Style | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
) -> int:
    """Open the store read-only (``store``: a PostgreSQL URL, else the SQLite file ``db_path``) and run the shell;
    returns the exit status. Raises ``QueryError`` when the store cannot be opened."""
    from auditsql.query.engine import DEFAULT_TIMEOUT

    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    engine: Engine
    if store is not None:
        from auditsql.query.pg import PgEngine

        engine = PgEngine(store, timeout=limit)  # type: ignore[assignment]
    else:
        engine = Engine(db_path, timeout=limit)
    shell = Shell(engine, stdout or sys.stdout.buffer, stderr or sys.stderr.buffer, style or Style())
    try:
        inp = stdin or sys.stdin.buffer
        if stdin is None and sys.stdin.isatty() and sys.stdout.isatty():
            return interactive(shell)
        return piped(shell, inp)
    finally:
        engine.close()

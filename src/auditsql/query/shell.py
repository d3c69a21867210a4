"""``auditsql shell``: an interactive SQL shell over the store, in the manner of ``osqueryi``.

Interactive (stdin is a terminal): prompt-toolkit line editing, history in ``~/.auditsql_history`` (mode 0600),
Tab completion of dot commands, table names and column names. A statement may span lines; it runs when a line
ends it with ``;``. Ctrl-C clears the line or stops a running query; Ctrl-D (EOF), ``.quit`` or ``.exit`` leave
with status 0.

Piped (stdin is not a terminal): statements and dot commands are read line by line, the same way, without
prompts; a last statement without ``;`` still runs at EOF. The exit status is 1 if any statement or command
failed (like ``sqlite3`` and ``osqueryi``), else 0.

A failing statement or command prints one line (``auditsql: ...``) on stderr and the shell goes on.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from auditsql.query.engine import Engine, QueryError, split_statements
from auditsql.query.format import MODES, to_bytes, write_result

__all__ = ["HELP", "HISTORY_FILE", "Shell", "run_shell"]

HISTORY_FILE = "~/.auditsql_history"
PROMPT = "auditsql> "
CONTINUE = "     ...> "
DOT_COMMANDS = (".exit", ".help", ".mode", ".quit", ".schema", ".tables")
_MODE_ALIASES = {"pretty": "table", "lines": "line"}

HELP = """\
Enter SQL statements ending with ';' (read-only: SELECT, WITH, EXPLAIN, read PRAGMAs), or a dot command:
.tables [PREFIX]  List the tables (all, or those whose name starts with PREFIX)
.schema [TABLE]   Show the CREATE statements of all tables, or of TABLE
.mode [MODE]      Set the output mode: table (default), json, csv, line; without MODE, show it
.help             Show this message
.quit, .exit      Leave the shell (so does Ctrl-D)
Live tables (audit_status, audit_rules) are read from the kernel when a statement names them.
"""


class Shell:
    """Reads lines, runs statements and dot commands, writes results. Used by both the interactive loop and
    the piped mode; ``feed(line)`` returns False when the shell should stop."""

    def __init__(self, engine: Engine, out: IO[bytes], err: IO[bytes], mode: str = "table") -> None:
        self.engine = engine
        self.out = out
        self.err = err
        self.mode = mode
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
                return self.dot(line.strip())
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
        for stmt in split_statements(text):
            try:
                rows = self.engine.rows(stmt)
                write_result(self.write_piece, rows.columns, rows, self.mode)
            except QueryError as e:
                self.out.flush()
                self.error(str(e))
            except KeyboardInterrupt:
                self.out.flush()
                self.error("query interrupted")
            else:
                self.out.flush()

    def write_piece(self, text: str) -> None:
        """Write a piece of a result (flushed when the statement ends, or by the buffer as it fills)."""
        self.out.write(to_bytes(text))

    # -- dot commands ------------------------------------------------------------------------------------------

    def dot(self, line: str) -> bool:
        parts = line.split()
        cmd, args = parts[0], parts[1:]
        if cmd not in DOT_COMMANDS:  # a unique abbreviation, as osqueryi and sqlite3 take them (.tab, .q)
            full = [c for c in DOT_COMMANDS if c.startswith(cmd)]
            if len(full) == 1 and len(cmd) > 1:
                cmd = full[0]
        tables = self.engine.tables
        if cmd in (".quit", ".exit"):
            return False
        if cmd == ".help":
            self.write(HELP)
        elif cmd == ".tables":
            prefix = args[0] if args else ""
            self.write("".join(f"  => {n}\n" for n in sorted(tables) if n.startswith(prefix)))
        elif cmd == ".schema":
            if not args:
                self.write("".join(tables[n].ddl() + "\n" for n in sorted(tables)))
            elif args[0] in tables:
                self.write(tables[args[0]].ddl() + "\n")
            else:
                names = [n for n in sorted(tables) if n.startswith(args[0])]
                if names:
                    self.write("".join(tables[n].ddl() + "\n" for n in names))
                else:
                    self.error(f"unknown table {args[0]}: .tables lists the tables")
        elif cmd == ".mode":
            if not args:
                self.write(f"{self.mode}\n")
            else:
                m = _MODE_ALIASES.get(args[0], args[0])
                if m in MODES:
                    self.mode = m
                else:
                    self.error(f"unknown mode {args[0]}: choose one of {', '.join(MODES)}")
        else:
            self.error(f"unknown command {cmd}: .help lists the commands")
        return True


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
                if parts[0] in (".schema", ".tables"):
                    yield from (Completion(t, -len(word)) for t in tables if t.startswith(word))
                elif parts[0] == ".mode":
                    yield from (Completion(m, -len(word)) for m in MODES if m.startswith(word))
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
    timeout: float | None = None,
    mode: str = "table",
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
) -> int:
    """Open the store read-only and run the shell; returns the exit status. Raises ``QueryError`` when the
    store cannot be opened."""
    from auditsql.query.engine import DEFAULT_TIMEOUT

    engine = Engine(db_path, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
    shell = Shell(engine, stdout or sys.stdout.buffer, stderr or sys.stderr.buffer, mode)
    try:
        inp = stdin or sys.stdin.buffer
        if stdin is None and sys.stdin.isatty() and sys.stdout.isatty():
            return interactive(shell)
        return piped(shell, inp)
    finally:
        engine.close()

"""The store's commands: ``auditsql query``, ``auditsql shell`` and ``auditsql import``."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import click

from auditsql.cli_progress import process_file
from auditsql.query.format import MODE_ALIASES, MODES, Style, mode_name
from auditsql.sources.logfile import FORMATS, InputError, LogSource, not_audit_message
from auditsql.store.sqlite import DEFAULT_DB

__all__ = ["import_logs", "query", "shell", "style_options"]

_DEFAULT_TIMEOUT = 30.0


def _fail(msg: str, code: int = 1) -> NoReturn:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(code)


def _db_option(help_text: str):  # type: ignore[no-untyped-def]
    return click.option("--db", default=DEFAULT_DB, show_default=True, metavar="PATH", help=help_text)


def _check_timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        _fail(f"--timeout {value:g}: give a number of seconds, or 0 for no limit", 2)
    return value


def _timeout_option():  # type: ignore[no-untyped-def]
    return click.option(
        "--timeout",
        type=float,
        default=_DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        callback=_check_timeout,
        help="Stop a statement after the database spent this long computing its rows (0: no limit; PostgreSQL: "
        "its statement_timeout).",
    )


def _store_option():  # type: ignore[no-untyped-def]
    return click.option(
        "--store",
        metavar="URL",
        help="Read the PostgreSQL central store of `auditsql collect` (postgresql://USER@HOST/DB; read-only "
        "transactions; docs/fleet.md) instead of the SQLite file of --db.",
    )


def _check_store(ctx: click.Context, store: str | None) -> None:
    """One line and exit 2 for a --store that is not a PostgreSQL URL, or given with --db."""
    if store is None:
        return
    from auditsql.store.pg.connect import is_url

    if not is_url(store):
        _fail(f"--store takes a postgresql:// URL (got {store!r}); a SQLite file is --db FILE", 2)
    if ctx.get_parameter_source("db") is click.core.ParameterSource.COMMANDLINE:
        _fail(
            "--db and --store are both given: read one store (--db FILE for SQLite, --store URL for PostgreSQL)",
            2,
        )


#: the output format flags: (flag names, mode, help); two different ones are refused
_MODE_FLAGS = (
    (("--json",), "json", "An array of row objects, one a line, every value a string (`osqueryi --json`)."),
    (
        ("--json_pretty", "--json-pretty"),
        "json_pretty",
        "An indented array of row objects (`osqueryi --json_pretty`).",
    ),
    (
        ("--csv",),
        "csv",
        "CSV with a header line, joined by --separator: `|` unless given, as `osqueryi --csv` (--separator , for "
        "commas).",
    ),
    (("--list",), "list", "Values joined by the separator, `|` unless --separator (`osqueryi --list`)."),
    (("--line",), "line", "One `column = value` line per value, rows apart (`osqueryi --line`)."),
    (("--table",), "pretty", "An ASCII table, osqueryi's pretty mode (the default)."),
)


def _chosen_mode(kwargs: dict[str, Any], mode_option: str | None = None) -> str:
    """The mode the format flags in ``kwargs`` (taken out of it) and ``--mode`` choose (default ``pretty``); two
    different ones are one error."""
    given = [(names[0], m) for names, m, _ in _MODE_FLAGS if kwargs.pop(f"mode_{m}")]
    if mode_option is not None:
        given.insert(0, (f"--mode {mode_option}", mode_name(mode_option) or mode_option))
    if len({m for _, m in given}) > 1:
        _fail(f"{' and '.join(label for label, _ in given)} are both given: choose one output format", 2)
    return given[0][1] if given else "pretty"


def _mode_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    for names, m, help_text in reversed(_MODE_FLAGS):
        command = click.option(*names, f"mode_{m}", is_flag=True, help=help_text)(command)
    return command


def style_options(*, mode_option: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """osqueryi's output flags as the command's ``style`` argument (a :class:`~auditsql.query.format.Style`):
    the format flags (``--json``, ``--json_pretty``, ``--csv``, ``--list``, ``--line``, ``--table``: two different
    ones are refused in one line, not silently decided by their order as osqueryi takes the first of list, line,
    csv), ``--header/--noheader``, ``--separator``, ``--nullvalue``, and with
    ``mode_option`` the shell's ``--mode MODE``."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def command(*args: Any, header: bool, separator: str | None, nullvalue: str, **kwargs: Any) -> Any:
            mode = _chosen_mode(kwargs, kwargs.pop("mode_option", None))
            return f(*args, style=Style.from_flags(mode, header, separator, nullvalue), **kwargs)

        command = click.option(
            "--nullvalue",
            default="",
            metavar="STR",
            help="Print STR for NULL values (default: nothing; list, csv, line and column modes: its first 19 bytes).",
        )(command)
        command = click.option(
            "--separator",
            metavar="STR",
            help="The separator of --list and --csv (default `|`, for --csv too, as in osqueryi; cut to 19 bytes).",
        )(command)
        command = click.option(
            "--header/--noheader",
            default=True,
            show_default=True,
            help="Print the column names first (--list, --csv; the table always has them, as in osqueryi).",
        )(command)
        if mode_option:
            command = click.option(
                "--mode",
                "mode_option",
                type=click.Choice([*MODES, *MODE_ALIASES]),
                help="The output mode to start in (`.mode` changes it) [default: pretty].",
            )(command)
        return _mode_flags(command)

    return decorate


@click.command()
@click.argument("sql")
@_db_option("The store to read (opened read-only).")
@_store_option()
@style_options()
@_timeout_option()
@click.pass_context
def query(ctx: click.Context, sql: str, db: str, store: str | None, style: Style, timeout: float) -> None:
    """Run read-only SQL over the store and print the rows as they come (SQL `-`: read it from stdin).

    Several statements separated by `;` run in turn, each printing its rows. The output is what
    `osqueryi --FLAGS "SQL"` prints for the same rows. With --store, the PostgreSQL central store."""
    from auditsql.query.engine import Engine, QueryError, split_statements
    from auditsql.query.format import to_bytes, write_results

    _check_store(ctx, store)
    if sql == "-":
        sql = sys.stdin.read()
    stmts = split_statements(sql)
    if not stmts:
        _fail('no SQL statement given (e.g. auditsql query "SELECT * FROM process_events LIMIT 5")')
    try:
        if store is not None:
            from auditsql.query.pg import PgEngine

            engine: Any = PgEngine(store, timeout=timeout or None)
        else:
            engine = Engine(db, timeout=timeout or None)
    except QueryError as e:
        _fail(str(e), e.code)
    out = sys.stdout.buffer

    def write(text: str) -> None:
        out.write(to_bytes(text))

    try:

        def results() -> Iterator[Any]:
            for stmt in stmts:
                rows = engine.rows(stmt)
                yield rows.columns, rows

        # one input, as osqueryi's shell_exec runs it: the pretty and JSON modes print every statement's rows as
        # one grid or array; the first statement that fails stops the rest
        write_results(write, results(), style)
        out.flush()
    except QueryError as e:
        _flush(out)
        _fail(str(e), e.code)
    except BrokenPipeError:
        _quiet_exit()
    except KeyboardInterrupt:
        _flush(out)
        _fail("query interrupted", 130)
    finally:
        engine.close()


def _flush(out: Any) -> None:
    """Flush the rows written before a failure; a reader that went away is not an error of ours."""
    try:
        out.flush()
    except BrokenPipeError:
        _quiet_exit()


@click.command()
@_db_option("The store to read (opened read-only).")
@_store_option()
@style_options(mode_option=True)
@_timeout_option()
@click.pass_context
def shell(ctx: click.Context, db: str, store: str | None, style: Style, timeout: float) -> None:
    """An interactive SQL shell over the store, with osqueryi's dot commands (.help lists them).

    With stdin not a terminal, statements are read from it line by line (scripts, pipes). With --store, the
    PostgreSQL central store."""
    from auditsql.query.engine import QueryError
    from auditsql.query.shell import run_shell

    _check_store(ctx, store)
    try:
        rc = run_shell(db, store=store, timeout=timeout or 0, style=style)
    except QueryError as e:
        _fail(str(e), e.code)
    except BrokenPipeError:
        _quiet_exit()
    sys.exit(rc)


@click.command("import")
@click.argument("files", nargs=-1, required=True)
@_db_option("The store to write (created, mode 0600, if missing).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Log format: auditd raw, ENRICHED, or detect per file.",
)
@click.option(
    "--resolve-ids/--no-resolve-ids",
    default=False,
    show_default=True,
    help="Name users and groups from THIS host's databases. Off by default: an imported log usually comes from "
    "another host, whose uid 1000 is not ours (ENRICHED logs carry their own names).",
)
@click.option(
    "--window", default=512, show_default=True, help="Records an open event waits before it closes."
)
@click.option(
    "--include-failed-execs",
    is_flag=True,
    default=False,
    help="Also store failed execs in process_events (status failed, exit_code, errno), like `run`'s "
    "[tables] include_failed_execs.",
)
def import_logs(
    files: tuple[str, ...], db: str, fmt: str, resolve_ids: bool, window: int, include_failed_execs: bool
) -> None:
    """Load auditd logs (FILE... or - for stdin, raw or ENRICHED) into the store's tables.

    Prints a summary line on stderr: records, events (and how many the store held already: an event is stored
    once, so importing a file again adds nothing) and rows per table."""
    from auditsql._core import Batch, Pipeline, Settings
    from auditsql.store.sqlite import Store, StoreError

    sources = [LogSource(p, fmt) for p in files]
    for src in sources:
        if src.path != "-" and not os.path.exists(src.path):
            _fail(f"{src.path}: no such file")
    if window < 1:
        _fail("--window must be at least 1")
    try:
        store = Store(db, batch_rows=20000, batch_seconds=5.0)
        store.create_schema()
    except StoreError as e:
        _fail(str(e), e.code)
    pipeline = Pipeline(
        Settings(
            format=fmt,
            resolve_ids=resolve_ids,
            events_json=False,
            window=window,
            include_failed_execs=include_failed_execs,
        )
    )
    events = 0

    def store_batch(batch: Batch) -> None:
        nonlocal events
        events += batch.events
        if batch.row_count:
            store.insert_batch(batch)

    failed = False
    try:
        # two stages on two cores: the pipeline (a thread of its own; the core releases the GIL) and the store's
        # writes (here; the native writer releases it too)
        for item in _produced(sources, pipeline):
            if isinstance(item, InputError):
                failed = True
                click.echo(f"auditsql: {item}", err=True)
            else:
                store_batch(item)
        store.close()
    except StoreError as e:
        _fail(str(e), e.code)
    except KeyboardInterrupt:
        try:
            store.close()
        except StoreError:
            pass
        _fail(f"interrupted: {sum(store.counts.values())} rows stored in {db}", 130)
    st = pipeline.stats()
    per = ", ".join(f"{n}={k}" for n, k in sorted(store.counts.items()) if k)
    present = f" ({store.events_present} already in the store)" if store.events_present else ""
    click.echo(
        f"auditsql: imported {st['records']} records, {events} events{present}, {sum(store.counts.values())} rows"
        + (f" ({per})" if per else "")
        + f" into {db}",
        err=True,
    )
    if st["records"] and st["not_audit"] * 2 > st["records"] and st["errors"] < st["records"]:
        _fail(not_audit_message(st["not_audit"], st["records"]))
    if st["records"] and st["errors"] == st["records"]:
        _fail("no audit records found: every line failed to parse (is this an auditd log?)")
    if failed:
        sys.exit(1)


def _produced(sources: list[LogSource], pipeline: Any) -> Iterator[Any]:
    """The batches of every source and the final flush, from a thread that runs the pipeline while the caller
    stores what came before (at most :data:`_AHEAD` batches ahead); a source that cannot be read is yielded as its
    :class:`InputError` and the next one goes on. Any other error of the pipeline is raised here."""
    import queue
    import threading

    q: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)
    done = object()

    def produce() -> None:
        try:
            for src in sources:
                try:
                    process_file(src, pipeline, q.put)
                except InputError as e:
                    q.put(e)
            q.put(pipeline.finish())
        except BaseException as e:  # handed to the caller, raised there
            q.put(_Failed(e))
        finally:
            q.put(done)

    # a daemon: when the caller stops (an error of the store, Ctrl-C) the process ends without waiting for it
    threading.Thread(target=produce, name="auditsql-import", daemon=True).start()
    while (item := q.get()) is not done:
        if isinstance(item, _Failed):
            raise item.error
        yield item


#: batches the pipeline thread may run ahead of the store (each holds one chunk of the log's rows)
_AHEAD = 4


class _Failed:
    """An exception of the pipeline thread, on its way to the caller."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _quiet_exit() -> NoReturn:
    # the reader went away (| head): not an error of ours
    try:
        sys.stdout = None  # type: ignore[assignment]
    finally:
        os._exit(0)

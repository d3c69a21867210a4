"""The command line: parse arguments, call the modules. Nothing depends on this module."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

import click

from auditsql import __version__
from auditsql._core import Batch, Pipeline, Settings
from auditsql.cli_collect import collect
from auditsql.cli_ctl import ctl
from auditsql.cli_explain import explain
from auditsql.cli_fleet import fleet
from auditsql.cli_listen import listen
from auditsql.cli_progress import process_file
from auditsql.cli_query import import_logs, query, shell
from auditsql.cli_run import run
from auditsql.private import open_private
from auditsql.sources.logfile import FORMATS, InputError, LogSource, not_audit_message

#: the pipeline's input counters, printed per file by ``read --stats``
_INPUT_STATS = frozenset(("lines", "skipped_lines", "bytes", "frames", "nul_runs", "not_audit"))


def fail(msg: str, code: int = 1) -> None:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditsql")
def main() -> None:
    """auditsql: Linux audit events as JSON and SQL."""


main.add_command(ctl)
main.add_command(explain)
main.add_command(listen)
main.add_command(query)
main.add_command(shell)
main.add_command(import_logs)
main.add_command(run)
main.add_command(collect)
main.add_command(fleet)


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Log format: auditd raw, ENRICHED (0x1d-separated interpretations), or detect per file.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write JSON lines here instead of stdout."
)
@click.option(
    "--no-raw", is_flag=True, help="Leave out each record's raw text (smaller output, not lossless)."
)
@click.option(
    "--resolve-ids/--no-resolve-ids",
    default=True,
    show_default=True,
    help="Add user/group names from this host where the log does not carry them.",
)
@click.option(
    "--window", default=512, show_default=True, help="Records an open event waits before it closes."
)
@click.option("--stats", "show_stats", is_flag=True, help="Print reading and assembly counters to stderr.")
def read(
    files: tuple[str, ...],
    fmt: str,
    output: str | None,
    no_raw: bool,
    resolve_ids: bool,
    window: int,
    show_stats: bool,
) -> None:
    """Read auditd logs (FILE... or - for stdin) and print one JSON object per event."""
    out: BinaryIO
    if output:
        try:
            out = os.fdopen(open_private(output, os.O_WRONLY | os.O_TRUNC), "wb")
        except OSError as e:
            fail(f"{output}: cannot write: {e.strerror} (choose a writable path with --output)")
            return
    else:
        out = sys.stdout.buffer
    if window < 1:
        fail("--window must be at least 1", 2)
    pipeline = Pipeline(
        Settings(format=fmt, resolve_ids=resolve_ids, raw=not no_raw, rows=False, window=window)
    )

    def write(batch: Batch) -> None:
        if batch.json:
            out.write(batch.json)

    sources = [LogSource(p, fmt) for p in files]
    for src in sources:
        if src.path != "-" and not os.path.exists(src.path):
            fail(f"{src.path}: no such file")
    failed = False
    detected: list[str] = []
    try:
        for src in sources:
            before = pipeline.stats()
            try:
                found = process_file(src, pipeline, write)
            except InputError as e:
                failed = True
                click.echo(f"auditsql: {e}", err=True)
                continue
            after = pipeline.stats()
            part = (
                f"{src.path}: lines={after['lines'] - before['lines']} "
                f"skipped={after['skipped_lines'] - before['skipped_lines']} format={found or fmt}"
            )
            if after["nul_runs"] > before["nul_runs"]:
                part += f" nul_runs={after['nul_runs'] - before['nul_runs']}"
            detected.append(part)
        write(pipeline.finish())
        out.flush()
    except BrokenPipeError:
        # the reader went away (| head): not an error of ours
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            os._exit(0)
    finally:
        if output:
            out.close()
    st = pipeline.stats()
    if show_stats:
        parts = [f"{k}={v}" for k, v in st.items() if k not in _INPUT_STATS]
        click.echo("auditsql: " + " ".join(parts + detected), err=True)
    if st["records"] and st["not_audit"] * 2 > st["records"] and st["errors"] < st["records"]:
        fail(not_audit_message(st["not_audit"], st["records"]))
    if st["records"] and st["errors"] == st["records"]:
        fail("no audit records found: every line failed to parse (is this an auditd log?)", 1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

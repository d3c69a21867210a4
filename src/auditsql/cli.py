"""The command line: parse arguments, call the modules. Nothing depends on this module."""

from __future__ import annotations

import importlib
import os
import sys
from typing import BinaryIO

import click

from auditsql._core import Batch, Pipeline, Settings
from auditsql.cli_progress import process_file
from auditsql.private import open_private
from auditsql.sources.logfile import FORMATS, InputError, LogSource, not_audit_message

#: the pipeline's input counters, printed per file by ``read --stats``
_INPUT_STATS = frozenset(("lines", "skipped_lines", "bytes", "frames", "nul_runs", "not_audit"))
#: the pipeline's counters that only a live run's journal replay moves, not printed for logs
_LIVE_STATS = frozenset(("replay_skipped",))


def fail(msg: str, code: int = 1) -> None:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(code)


#: the subcommands defined in modules of their own, imported when used: the agent (`auditsql run`) does not
#: load NATS, asyncio or the shell unless its configuration asks for them (memory: docs/native-core.md)
_LAZY_COMMANDS = {
    "check-config": "auditsql.cli_check:check_config",
    "collect": "auditsql.cli_collect:collect",
    "ctl": "auditsql.cli_ctl:ctl",
    "explain": "auditsql.cli_explain:explain",
    "fleet": "auditsql.cli_fleet:fleet",
    "import": "auditsql.cli_query:import_logs",
    "listen": "auditsql.cli_listen:listen",
    "query": "auditsql.cli_query:query",
    "run": "auditsql.cli_run:run",
    "shell": "auditsql.cli_query:shell",
}


class LazyGroup(click.Group):
    """A click group whose subcommands in :data:`_LAZY_COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = _LAZY_COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, attr = where.split(":")
        command = getattr(importlib.import_module(module), attr)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="auditsql", prog_name="auditsql")
def main() -> None:
    """auditsql: Linux audit events as JSON and SQL."""


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
        parts = [f"{k}={v}" for k, v in st.items() if k not in _INPUT_STATS and k not in _LIVE_STATS]
        click.echo("auditsql: " + " ".join(parts + detected), err=True)
    if st["records"] and st["not_audit"] * 2 > st["records"] and st["errors"] < st["records"]:
        fail(not_audit_message(st["not_audit"], st["records"]))
    if st["records"] and st["errors"] == st["records"]:
        fail("no audit records found: every line failed to parse (is this an auditd log?)", 1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""``auditsql fleet query``: one read-only SELECT on every agent over NATS, the answers as one table.

The connection options come from ``[output.nats]`` of ``--config FILE`` (server, credentials, TLS, subject
prefix), ``--nats URL`` overriding the server. The table has ``host`` as its first column and is printed in
``osqueryi``'s formats (:mod:`auditsql.query.format`). Every host that refused, failed, timed out or did not
answer is one line on stderr, and makes the exit status 1. See :mod:`auditsql.fleet.query` and docs/fleet.md.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

import click

from auditsql.cli_query import style_options

if TYPE_CHECKING:
    from auditsql.query.format import Style

__all__ = ["fleet"]


def _fail(msg: str, code: int = 1) -> NoReturn:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(code)


@click.group()
def fleet() -> None:
    """Fleet-wide queries over NATS (agents run with [fleet] queries = true)."""


@fleet.command("query")
@click.argument("sql")
@click.option(
    "--hosts",
    metavar="A,B",
    help="Ask only these hosts (comma-separated); default: every agent that answers.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for the answers; agents stop their query a little before.",
)
@click.option("--nats", "url", metavar="URL", help="NATS server(s), comma-separated; overrides the config.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML configuration whose [output.nats] gives the connection (credentials, TLS, subject prefix).",
)
@style_options()
def query(
    sql: str, hosts: str | None, timeout: float, url: str | None, config_file: str | None, style: Style
) -> None:
    """Run read-only SQL on every agent (SQL `-`: read it from stdin) and print one table with a host column."""
    from auditsql.config import Config, ConfigError, load_config
    from auditsql.fleet.connect import NatsOptions
    from auditsql.fleet.query import FleetError, run_fleet_query
    from auditsql.query.format import to_bytes, write_styled

    if sql == "-":
        sql = sys.stdin.read()
    try:
        config = load_config(config_file) if config_file else Config()
    except ConfigError as exc:
        _fail(str(exc), 2)
    opts = NatsOptions.from_config(config.output.nats)
    if url:
        opts = replace(opts, url=url)
    names = [h.strip() for h in hosts.split(",") if h.strip()] if hosts else None
    if hosts is not None and not names:
        _fail("--hosts is empty: give host names separated by commas, or leave it out to ask every agent", 2)
    try:
        result = run_fleet_query(opts, sql, hosts=names, timeout=timeout)
    except FleetError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("fleet query interrupted", 130)
    cols, rows = result.table()
    try:
        out = sys.stdout.buffer
        if any(a.status == "ok" for a in result.answers):
            write_styled(lambda text: out.write(to_bytes(text)), cols, rows, style)
        out.flush()
    except BrokenPipeError:
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            os._exit(0)
    for line in result.problems():
        click.echo(f"auditsql: {line}", err=True)
    if not result.answers:
        extra = f"; {result.note}" if result.note else ""
        _fail(
            f"no agent answered within {timeout:g} s (agents answer with [fleet] queries = true, connected to "
            f"{opts.url}, subject prefix {opts.subject_prefix}{extra})"
        )
    if result.failed:
        sys.exit(1)

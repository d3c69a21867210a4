"""``auditsql check-config FILE``: read a configuration as ``auditsql run`` would, without running.

auditsql's TOML (or JSON) and osquery's configuration alike (docs/osquery.md). Prints the summary
``auditsql run`` prints at start (what has no meaning here), then one line per scheduled query or decorator
that will not run, and why. Exit status 0 when ``auditsql run`` would accept it, 2 (one line on stderr) when
it would not: a file that does not parse, a pack file that does not exist, a bad value, a scheduled query
that does not compile against auditsql's tables.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

__all__ = ["check_config"]


def _fail(msg: str) -> NoReturn:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(2)


@click.command("check-config")
@click.argument("path", type=click.Path())
@click.option("--flagfile", type=click.Path(dir_okay=False), help="osquery's flags file, read with it.")
def check_config(path: str, flagfile: str | None) -> None:
    """Check a configuration (auditsql's TOML, or osquery's osquery.conf) without running: exit 0 or 2."""
    import auditsql.tables as tables
    from auditsql.config import ConfigError, load
    from auditsql.query.schedule import Job, check_queries

    try:
        config, details = load(path, flagfile)
    except ConfigError as exc:
        _fail(str(exc))
    dec = config.decorators
    jobs = [Job(q.name, q.query, 1) for q in config.schedule.values()]
    jobs += [
        Job(f"decorator {n}", sql, 1)
        for n, sql in enumerate([*dec.load, *dec.always, *(q for qs in dec.interval.values() for q in qs)], 1)
    ]
    problems = check_queries(jobs, (t.ddl() for t in tables.REGISTRY.values()))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        _fail(f"{path}: {problems[0]}{more}")
    n = len(config.schedule)
    lines = list(config.notes) or [
        f"{path}: {n} of {n} scheduled {'query runs' if n == 1 else 'queries run'} here"
    ]
    for line in lines:
        click.echo(f"auditsql: {line}")
    for line in details:
        click.echo(f"  {line}")

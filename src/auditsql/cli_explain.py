"""``auditsql explain``: what ``[kernel] pushdown`` would load for a query or a configuration's schedule.

Prints, per query, which ``WHERE`` predicates the kernel takes (as rule fields) and which stay in SQL; per
table whether its builtin rule is filtered or why not; then the rules in the form ``auditctl -l`` lists them
once loaded (:mod:`auditsql.query.pushdown`). Nothing touches the kernel, so no root is needed. A query SQLite
rejects, or a bad configuration, is one line and exit status 2.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

__all__ = ["explain"]


def _fail(msg: str, code: int = 2) -> NoReturn:
    click.echo(f"auditsql: {msg}", err=True)
    sys.exit(code)


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--config",
    "--config_path",
    "config_file",
    type=click.Path(),
    help="Explain every scheduled query of this configuration together (and SQL, if given, with them).",
)
@click.option("--flagfile", type=click.Path(dir_okay=False), help="osquery's flags file, read with --config.")
def explain(sql: str | None, config_file: str | None, flagfile: str | None) -> None:
    """Show the audit rules pushdown would load for SQL (or a configuration's schedule) and what stays in SQL.

    SQL `-` reads the query from stdin."""
    from auditsql.config import Config, ConfigError, load_config
    from auditsql.query.pushdown import analyze
    from auditsql.query.pushdown import explain as explain_text
    from auditsql.query.schedule import Job, check_queries
    from auditsql.tables import REGISTRY

    if sql is None and config_file is None and flagfile is None:
        _fail('explain needs a query or --config FILE (e.g. auditsql explain "SELECT * FROM process_events")')
    try:
        config = load_config(config_file, flagfile) if config_file or flagfile else Config()
    except ConfigError as exc:
        _fail(str(exc))
    if sql == "-":
        sql = sys.stdin.read()
    queries = [(q.name, q.query) for q in config.schedule.values()]
    if sql is not None:
        if not sql.strip():
            _fail("empty query")
        queries.append(("(command line)", sql))
    if not queries:
        _fail(
            f"{config.source or config_file or flagfile}: no scheduled query to explain (add [schedule.NAME] query = ...)"
        )
    jobs = [Job(name, q, 1) for name, q in queries]
    problems = check_queries(jobs, (t.ddl() for t in REGISTRY.values()))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        first = problems[0].replace("schedule.(command line).query: ", "")
        _fail(f"the query does not compile: {first}{more}")
    pd = analyze(queries, include_failed_execs=config.tables.include_failed_execs)
    head = [f"note: {line}" for line in config.notes]
    if config_file and not config.kernel.pushdown:
        head.append(
            f"note: {config_file} has [kernel] pushdown = false: auditsql run loads the builtin rules unchanged; "
            "with pushdown = true it would load:"
        )
    if config.kernel.rules != "builtin":
        head.append(
            f"note: [kernel] rules = {config.kernel.rules!r}: pushdown rewrites only the builtin rules; "
            "auditsql run loads that rules file unchanged"
        )
    click.echo("".join(line + "\n" for line in head) + explain_text(pd), nl=False)

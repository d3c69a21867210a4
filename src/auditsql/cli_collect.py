"""``auditsql collect``: the fleet collector (:mod:`auditsql.fleet.collector`) on the command line.

Connection settings come from ``[output.nats]`` of ``--config FILE`` (the agents' file works as is), then from
the flags. SIGINT and SIGTERM stop it after the batch in hand is committed.

The central store is a SQLite file (``--db``, one collector) or PostgreSQL (``--store postgresql://...``, any
number of collectors on one durable consumer; ``--retention``). ``--migrate`` creates or upgrades the store's
schema (PostgreSQL: and applies retention), then exits, with no NATS server needed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from typing import Any

import click
from click.core import ParameterSource

from auditsql.agent import say
from auditsql.fleet.collector import (
    DEFAULT_CENTRAL_DB,
    DEFAULT_DURABLE,
    CollectError,
    Collector,
    central_tables,
)
from auditsql.fleet.connect import NatsOptions
from auditsql.store.pg.connect import is_url
from auditsql.store.pg.schema import SCHEMA_VERSION
from auditsql.store.sqlite import SCHEMA_VERSION as STORE_VERSION

__all__ = ["collect"]

_FLAGS = (
    "stream",
    "subject_prefix",
    "user",
    "password",
    "token",
    "creds",
    "nkeys_seed",
    "tls_ca",
    "tls_cert",
    "tls_key",
)


@click.command()
@click.option("--nats", "url", help="Server URL(s), comma-separated.  [default: [output.nats] url]")
@click.option("--db", default=DEFAULT_CENTRAL_DB, show_default=True, help="The central store (SQLite file).")
@click.option(
    "--store",
    metavar="URL",
    help="The central store in PostgreSQL (postgresql://USER:PASSWORD@HOST:PORT/DB) instead of --db.",
)
@click.option(
    "--retention",
    "retention_specs",
    multiple=True,
    metavar="[TABLE=]DAYS",
    help="PostgreSQL: drop day partitions older than DAYS (every table, or TABLE); repeatable.",
)
@click.option(
    "--migrate",
    is_flag=True,
    help="Create or upgrade the store's schema, then exit (PostgreSQL: and apply --retention; run it as the "
    "owner).",
)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file: [output.nats].")
@click.option("--stream", help="The JetStream stream.  [default: AUDITSQL]")
@click.option("--subject-prefix", help="Subjects consumed: PREFIX.>  [default: auditsql]")
@click.option("--durable", default=DEFAULT_DURABLE, show_default=True, help="The durable consumer's name.")
@click.option("--user", help="User name.")
@click.option("--password", help="Password.")
@click.option("--token", help="Authentication token.")
@click.option("--creds", help="A NATS credentials file.")
@click.option("--nkeys-seed", help="An nkey seed file.")
@click.option("--tls-ca", help="CA certificate file.")
@click.option("--tls-cert", help="Client certificate file.")
@click.option("--tls-key", help="Client key file.")
@click.option(
    "--batch", default=1000, show_default=True, type=click.IntRange(min=1), help="Messages per fetch."
)
@click.option(
    "--status-interval", default=10.0, show_default=True, type=click.FloatRange(min=0), help="0: none."
)
@click.option("--stats-file", help="Counters and latency percentiles, JSON, rewritten every second.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
def collect(
    url: str | None,
    db: str,
    store: str | None,
    retention_specs: tuple[str, ...],
    migrate: bool,
    config_file: str | None,
    durable: str,
    batch: int,
    status_interval: float,
    stats_file: str | None,
    duration: float | None,
    **flags: Any,
) -> None:
    """Consume every agent's rows from NATS JetStream into one central store (each table gains `host`):
    a SQLite file (--db) or PostgreSQL (--store postgresql://..., collectors scale out).

    Query a SQLite store with `auditsql query --db PATH` or `auditsql shell --db PATH`.
    """
    explicit_db = click.get_current_context().get_parameter_source("db") is not ParameterSource.DEFAULT
    if store is not None and explicit_db:
        say("--db (a SQLite file) and --store (PostgreSQL) name two central stores: pass one of them")
        sys.exit(2)
    if store is not None and not is_url(store):
        say(f"--store takes a postgresql:// URL (got {store!r}); a SQLite file is --db FILE")
        sys.exit(2)
    if retention_specs and store is None:
        say("--retention needs --store postgresql://...")
        sys.exit(2)
    try:
        retention = parse_retention(retention_specs)
    except ValueError as exc:
        say(str(exc))
        sys.exit(2)
    opts = NatsOptions()
    if config_file:
        from auditsql.config import ConfigError, load_config

        try:
            opts = NatsOptions.from_config(load_config(config_file).output.nats)
        except ConfigError as exc:
            say(str(exc))
            sys.exit(2)
    changes = {k: v for k, v in flags.items() if k in _FLAGS and v is not None}
    if url is not None:
        changes["url"] = url
    opts = replace(opts, **changes)
    col = Collector(
        opts,
        db,
        durable=durable,
        batch=batch,
        say=say,
        stats_file=stats_file,
        status_interval=status_interval,
        store=store,
        retention=retention,
    )
    if migrate:
        sys.exit(_migrate(col))
    sys.exit(asyncio.run(_main(col, duration)))


def parse_retention(specs: tuple[str, ...]) -> dict[str, int]:
    """``("30", "audit_events=7")`` → days by central table (the bare number for every partitioned table).
    ValueError (one line) for a malformed spec or an unknown table."""
    tables = [t.name for t in central_tables()]
    out: dict[str, int] = {}
    default: int | None = None
    for spec in specs:
        name, sep, days = spec.rpartition("=")
        try:
            n = int(days)
        except ValueError:
            n = -1
        if n < 1 or (sep and not name):
            raise ValueError(f"--retention {spec}: expected [TABLE=]DAYS with DAYS a whole number >= 1")
        if not name:
            default = n
        elif name not in tables:
            raise ValueError(
                f"--retention {spec}: no table {name} in the central store ({', '.join(tables)})"
            )
        else:
            out[name] = n
    if default is not None:
        out = {t: out.get(t, default) for t in tables}
    return out


def _migrate(col: Collector) -> int:
    try:
        col.open_store(migrate_only=True)
    except CollectError as exc:
        say(str(exc))
        return exc.code
    finally:
        col.close()
    version = SCHEMA_VERSION if col.pg is not None else STORE_VERSION
    say(f"{col.where}: the auditsql schema is at version {version}")
    return 0


async def _main(col: Collector, duration: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        col.open_store()
        return await col.run(stop, duration)
    except CollectError as exc:
        say(str(exc))
        return 2 if "credentials" in str(exc) else exc.code
    finally:
        col.close()

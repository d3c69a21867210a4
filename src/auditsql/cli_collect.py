"""``auditsql collect``: the fleet collector (:mod:`auditsql.fleet.collector`) on the command line.

Connection settings come from ``[output.nats]`` of ``--config FILE`` (the agents' file works as is), then from
the flags. SIGINT and SIGTERM stop it after the batch in hand is committed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from typing import Any

import click

from auditsql.agent import say
from auditsql.fleet.collector import DEFAULT_CENTRAL_DB, DEFAULT_DURABLE, CollectError, Collector
from auditsql.fleet.connect import NatsOptions

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
@click.option("--db", default=DEFAULT_CENTRAL_DB, show_default=True, help="The central store.")
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
    config_file: str | None,
    durable: str,
    batch: int,
    status_interval: float,
    stats_file: str | None,
    duration: float | None,
    **flags: Any,
) -> None:
    """Consume every agent's rows from NATS JetStream into one central store (each table gains `host`).

    Query it with `auditsql query --db PATH` or `auditsql shell --db PATH`.
    """
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
    )
    sys.exit(asyncio.run(_main(col, duration)))


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
        return 2 if "credentials" in str(exc) else 1
    finally:
        col.close()

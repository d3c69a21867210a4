"""``auditsql listen``: live events from the kernel (or auditd's plugin stream) as JSON lines.

The kernel side, the loss accounts and the loop are :mod:`auditsql.agent`'s (shared with ``auditsql run``);
this module parses the options and writes each event as a JSON line (:class:`JsonSink`).
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import sys
import threading
from typing import Any, BinaryIO

import click
import orjson
from click.core import ParameterSource

from auditsql._core import Batch, Pipeline, Settings
from auditsql.agent import LivePlan, run_live, say
from auditsql.kernel.loss import DEFAULT_STATS_FILE
from auditsql.kernel.snapshot import DEFAULT_STATE_FILE
from auditsql.kernel.sources import DEFAULT_QUEUE, DEFAULT_RCVBUF, POLICIES, SOURCES
from auditsql.private import open_private

__all__ = ["listen"]


def _args_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Options from a file (shell words, ``#`` comments) become defaults; the command line still wins.

    auditd 3.0 passes a plugin at most two arguments (``args = listen --args-file=FILE``)."""
    if value is None or ctx.resilient_parsing:
        return value
    try:
        with open(value, encoding="utf-8") as fh:
            words = shlex.split(fh.read(), comments=True)
    except OSError as exc:
        raise click.BadParameter(f"{value}: {exc.strerror}") from exc
    except ValueError as exc:
        raise click.BadParameter(f"{value}: {exc}") from exc
    if any(w == "--args-file" or w.startswith("--args-file=") for w in words):
        raise click.BadParameter(f"{value}: an args file cannot name another")
    assert ctx.command is not None
    sub = ctx.command.make_context(ctx.info_name, words, parent=ctx.parent)
    ctx.default_map = {
        name: v
        for name, v in sub.params.items()
        if sub.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    return value


@click.command()
@click.option(
    "--args-file",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_args_file,
    help="Read options from this file (for auditd's plugins.d, which passes at most two arguments).",
)
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default="auto",
    show_default=True,
    help="unicast: be the kernel's audit daemon; multicast: read alongside one (needs CAP_AUDIT_READ); "
    "plugin: read auditd's plugin stream on stdin; auto: multicast when a daemon runs, else unicast.",
)
@click.option(
    "--rules", "rules_file", type=click.Path(dir_okay=False), help="Load these rules while listening."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write JSON lines here, not to stdout.")
@click.option(
    "--policy",
    type=click.Choice(POLICIES),
    default="block",
    show_default=True,
    help="When processing falls behind: block the reader (the kernel queues, then waits) or drop and count.",
)
@click.option(
    "--stats-interval",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between status lines on stderr (0: none).",
)
@click.option(
    "--state-file",
    default=DEFAULT_STATE_FILE,
    show_default=True,
    help="Where the kernel snapshot and auditsql's changes are kept until they are undone.",
)
@click.option(
    "--stats-file",
    default=DEFAULT_STATS_FILE,
    show_default=True,
    help="Counters (events, losses by cause) rewritten every second, for `auditsql ctl -s`.",
)
@click.option(
    "--exclude-self/--no-exclude-self",
    default=True,
    show_default=True,
    help="Add a rule (removed on exit) so that auditsql's own system calls are never audited.",
)
@click.option("--queue-size", type=click.IntRange(min=1), default=DEFAULT_QUEUE, show_default=True)
@click.option(
    "--rcvbuf",
    type=click.IntRange(min=4096),
    default=DEFAULT_RCVBUF,
    show_default=True,
    help="Socket buffer.",
)
@click.option(
    "--backlog-limit",
    type=click.IntRange(min=0, max=0xFFFFFFFF),
    help="Set while listening, as given (a rules file's -b only raises the limit).",
)
@click.option("--rate-limit", type=click.IntRange(min=0, max=0xFFFFFFFF), help="Set while listening.")
@click.option("--backlog-wait-time", type=click.IntRange(min=0, max=0xFFFFFFFF), help="Set while listening.")
@click.option("--loss-output", type=click.Path(dir_okay=False), help="Write loss records (JSON lines) here.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--no-raw", is_flag=True, help="Leave out each record's raw text.")
@click.option("--resolve-ids/--no-resolve-ids", default=True, show_default=True)
def listen(
    source: str,
    rules_file: str | None,
    output: str | None,
    policy: str,
    stats_interval: float,
    state_file: str,
    stats_file: str,
    exclude_self: bool,
    queue_size: int,
    rcvbuf: int,
    backlog_limit: int | None,
    rate_limit: int | None,
    backlog_wait_time: int | None,
    loss_output: str | None,
    duration: float | None,
    no_raw: bool,
    resolve_ids: bool,
) -> None:
    """Print live audit events as JSON lines; leave the kernel as found on exit, SIGINT and SIGTERM."""
    stop = threading.Event()
    _install_signals(stop)
    knobs = {
        k: v
        for k, v in (
            ("backlog_limit", backlog_limit),
            ("rate_limit", rate_limit),
            ("backlog_wait_time", backlog_wait_time),
        )
        if v is not None
    }
    if source == "plugin" and (rules_file or knobs):
        say("--rules and kernel settings need a kernel source: with --source plugin auditd owns the kernel")
        sys.exit(2)
    out: BinaryIO = sys.stdout.buffer
    loss_out: BinaryIO | None = None
    try:
        if output:
            out = os.fdopen(open_private(output, os.O_WRONLY | os.O_APPEND), "ab")
        if loss_output:
            loss_out = os.fdopen(open_private(loss_output, os.O_WRONLY | os.O_APPEND), "ab")
    except OSError as exc:
        say(f"{exc.filename}: cannot write: {exc.strerror}")
        sys.exit(1)
    code = 0
    try:
        plan = LivePlan(
            source=source,
            rules_file=rules_file,
            knobs=knobs,
            exclude_self=exclude_self,
            state_file=state_file,
            policy=policy,
            queue_size=queue_size,
            rcvbuf=rcvbuf,
        )
        sink = JsonSink(out, loss_out)
        pipeline = Pipeline(Settings(resolve_ids=resolve_ids, raw=not no_raw, rows=False))
        code = run_live(plan, sink, pipeline, stop, stats_interval, duration, stats_file)
    finally:
        if output:
            out.close()
        if loss_out is not None:
            loss_out.close()
    sys.exit(code)


def _install_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    # auditd sends plugins SIGHUP to reload their configuration; we have none to reload
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


class JsonSink:
    """``listen``'s sink: each event as a JSON line; loss records to ``--loss-output``."""

    def __init__(self, out: BinaryIO, loss_out: BinaryIO | None) -> None:
        self.out = out
        self.loss_out = loss_out

    def batch(self, b: Batch) -> None:
        if b.json:
            self.out.write(b.json)

    def flush(self) -> None:
        self.out.flush()

    def idle(self, now: float) -> None:
        pass

    def loss(self, records: list[dict[str, Any]]) -> None:
        if self.loss_out is None or not records:
            return
        try:
            self.loss_out.write(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records))
            self.loss_out.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def stats(self) -> dict[str, Any]:
        return {}

    def status_parts(self) -> list[str]:
        return []

    def finish(self) -> None:
        pass

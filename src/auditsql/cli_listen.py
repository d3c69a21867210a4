"""``auditsql listen``: live events from the kernel (or auditd's plugin stream) as JSON lines.

Wires a live source (:mod:`auditsql.kernel.sources`) through the assembler and renderer to the JSON
lines writer, keeps the loss accounts (:mod:`auditsql.kernel.loss`), and leaves the kernel as it found it
(:mod:`auditsql.kernel.snapshot`) on exit, SIGINT and SIGTERM.
"""

from __future__ import annotations

import errno
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import click
import orjson
from click.core import ParameterSource

from auditsql.events.assembler import Assembler
from auditsql.events.render import Renderer
from auditsql.kernel.loss import DEFAULT_STATS_FILE, KernelLostPoller, LossAccount, SerialTracker, write_stats
from auditsql.kernel.netlink import AuditNetlinkError
from auditsql.kernel.snapshot import (
    DEFAULT_STATE_FILE,
    KernelSession,
    RestoreReport,
    SnapshotInUse,
    exclude_pid_rule,
    process_alive,
    process_name,
)
from auditsql.kernel.sources import (
    DEFAULT_QUEUE,
    DEFAULT_RCVBUF,
    POLICIES,
    SOURCES,
    DaemonBusy,
    LiveSource,
    NetlinkSource,
    SourceError,
    choose_source,
    open_source,
)
from auditsql.kernel.status import get_status
from auditsql.outputs.jsonl import JsonLinesWriter

__all__ = ["listen"]

_TICK = 0.5  # seconds between assembler.tick() calls (closes events without EOE)
_POLL_LOST = 1.0  # seconds between kernel lost-counter polls


class _Stop(Exception):
    """A user error that ends the command with one line."""


def _say(msg: str) -> None:
    click.echo(f"auditsql: {msg}", err=True)


@dataclass
class _RulesFile:
    """What ``--rules FILE`` asks for: rules to add (``audit_rule_data``), knobs to set, lines skipped."""

    rules: list[tuple[str, bytes]] = field(default_factory=list)  # (FILE:LINE, payload)
    knobs: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _load_rules(path: str) -> _RulesFile:
    """Parse a rules file with auditsql's auditctl-compatible parser; all or nothing.

    Rules to add (``-a``, ``-A``, ``-w``) are loaded and removed again on exit; ``-b``, ``-r`` and
    ``--backlog_wait_time`` are set and restored; ``-D`` (it would delete other people's rules), ``-e``,
    ``-f`` and the other commands are skipped with a note. A rule to delete is an error.
    """
    from auditsql.kernel.control import ControlError, parse_rules_file

    try:
        lines, errors, _cont = parse_rules_file(path)
    except OSError as exc:
        raise _Stop(f"{path}: cannot read: {exc.strerror}") from exc
    except ControlError as exc:
        raise _Stop(str(exc)) from exc
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise _Stop(f"{errors[0]}{more}; nothing loaded")
    out = _RulesFile()
    for line in lines:
        where = f"{path}:{line.lineno}"
        cmd = line.command
        for action in cmd.actions:
            kind = action[0]
            if kind == "set" and action[1] in ("backlog_limit", "rate_limit", "backlog_wait_time"):
                out.knobs[str(action[1])] = int(action[2])  # type: ignore[call-overload]
            elif kind in ("ignore_errors", "continue_on_errors"):
                continue
            elif kind == "delete_all":
                out.notes.append(f"{where}: -D skipped (auditsql removes only the rules it added)")
            elif kind == "set":
                out.notes.append(
                    f"{where}: {line.text.strip()} skipped (listen manages enabled; failure stays)"
                )
            else:
                out.notes.append(f"{where}: {line.text.strip()} skipped")
        if cmd.rule is not None and not cmd.deprecated:
            if cmd.rule_op != "add":
                raise _Stop(
                    f"{where}: only rules to add (-a, -A, -w) can be loaded while listening; nothing loaded"
                )
            data = cmd.rule.encode()
            out.rules.append((where, data + b"\0" * (-len(data) % 4)))
    return out


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
@click.option("--backlog-limit", type=click.IntRange(min=0, max=0xFFFFFFFF), help="Set while listening.")
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
        _say("--rules and kernel settings need a kernel source: with --source plugin auditd owns the kernel")
        sys.exit(2)
    out: BinaryIO = sys.stdout.buffer
    loss_out: BinaryIO | None = None
    try:
        if output:
            out = open(output, "ab")  # noqa: SIM115 - closed below
        if loss_output:
            loss_out = open(loss_output, "ab")  # noqa: SIM115 - closed below
    except OSError as exc:
        _say(f"{exc.filename}: cannot write: {exc.strerror}")
        sys.exit(1)
    code = 0
    try:
        code = _listen(
            stop,
            source,
            rules_file,
            out,
            loss_out,
            policy,
            stats_interval,
            state_file,
            stats_file,
            exclude_self,
            queue_size,
            rcvbuf,
            knobs,
            duration,
            Renderer(resolve_ids=resolve_ids, raw=not no_raw),
        )
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


def _listen(
    stop: threading.Event,
    requested: str,
    rules_file: str | None,
    out: BinaryIO,
    loss_out: BinaryIO | None,
    policy: str,
    stats_interval: float,
    state_file: str,
    stats_file: str,
    exclude_self: bool,
    queue_size: int,
    rcvbuf: int,
    knobs: dict[str, int],
    duration: float | None,
    renderer: Renderer,
) -> int:
    loss = LossAccount()
    session: KernelSession | None = None
    src: LiveSource | None = None
    code = 0
    try:
        rules = _load_rules(rules_file) if rules_file else _RulesFile()
        for note in rules.notes:
            _say(note)
        knobs = {**rules.knobs, **knobs}  # the command line wins
        if requested == "plugin":
            mode, why = "plugin", None
        else:
            if os.geteuid() != 0:
                raise _Stop("listening to the kernel needs root (CAP_AUDIT_CONTROL or CAP_AUDIT_READ)")
            session = KernelSession(state_file=state_file)
            session.begin()
            if session.recovered is not None:
                _report("undid a crashed run's changes", session.recovered)
            found = session.status
            if found["enabled"] == 2 and (rules.rules or knobs or exclude_self):
                raise _Stop(
                    "audit is locked (enabled 2): rules and settings cannot change until reboot; "
                    "use --no-exclude-self and no --rules"
                )
            now = get_status(session.sock)
            mode, why = choose_source(requested, now)
            if mode == "unicast" and now.pid and now.pid != os.getpid() and process_alive(now.pid):
                raise DaemonBusy(now.pid, process_name(now.pid))
            if exclude_self:
                try:
                    session.add_rule(exclude_pid_rule(os.getpid()))
                except AuditNetlinkError as exc:
                    if mode != "multicast":
                        raise
                    _say(
                        f"cannot add the self-exclusion rule ({exc.errno_name}); auditsql's syscalls may be audited"
                    )
            for where, payload in rules.rules:
                try:
                    session.add_rule(payload)
                except AuditNetlinkError as exc:
                    if exc.errno != errno.EEXIST:
                        raise _Stop(f"{where}: the kernel refused the rule: {exc.strerror}") from exc
                    _say(f"{where}: the rule is already loaded; left as it is")
        src = open_source(mode, session, policy, queue_size, rcvbuf, loss)
        src.start()
        if session is not None:
            changes = dict(knobs)
            if session.status["enabled"] == 0:
                changes["enabled"] = 1
            session.set(**changes)
        _say(_describe(src, why))
        code = _loop(stop, src, session, out, loss_out, loss, stats_interval, duration, renderer, stats_file)
    except _Stop as exc:
        _say(str(exc))
        code = 1
    except SnapshotInUse as exc:
        _say(str(exc))
        code = 1
    except SourceError as exc:
        _say(str(exc))
        code = 1
    except AuditNetlinkError as exc:
        _say(f"the kernel refused: {exc.strerror}")
        code = 1
    except ValueError as exc:  # an unreadable state file, a refused setting
        _say(str(exc))
        code = 1
    except PermissionError as exc:
        _say(str(exc))
        code = 1
    finally:
        if src is not None:
            src.stop()
        if session is not None:
            report = session.restore()
            _report("kernel restore", report, quiet_ok=True)
            if not report.ok:
                code = code or 1
            session.close()
    return code


def _describe(src: LiveSource, why: str | None) -> str:
    parts = [f"listening ({src.name}", f"pid {os.getpid()}"]
    if isinstance(src, NetlinkSource):
        if src.rcvbuf_effective is not None:
            parts.append(f"rcvbuf {src.rcvbuf_effective}")
        if src.took_over is not None:
            parts.append(f"took over from stale pid {src.took_over}")
    if why:
        parts.append(why)
    parts.append(f"policy {src.policy})")
    return "; ".join(parts)


def _report(what: str, report: RestoreReport, quiet_ok: bool = False) -> None:
    for note in report.notes:
        _say(f"{what}: {note}")
    for problem in report.problems:
        _say(f"{what}: FAILED: {problem}")
    if report.actions and not quiet_ok:
        _say(f"{what}: " + ", ".join(report.actions))


def _loop(
    stop: threading.Event,
    src: LiveSource,
    session: KernelSession | None,
    out: BinaryIO,
    loss_out: BinaryIO | None,
    loss: LossAccount,
    stats_interval: float,
    duration: float | None,
    renderer: Renderer,
    stats_file: str | None = None,
) -> int:
    writer = JsonLinesWriter(out)
    assembler = Assembler()
    trackers: dict[str | None, SerialTracker] = {}
    poller = KernelLostPoller(loss) if session is not None else None
    if poller is not None:
        poller.poll()  # baseline
    push, render, write = assembler.push, renderer.render, writer.write
    started = time.monotonic()
    end = started + duration if duration is not None else None
    next_tick = next_poll = started
    next_stats = started + stats_interval if stats_interval else None
    last_events, last_stats = 0, started
    code = 0
    try:
        while not stop.is_set():
            recs = src.get(timeout=0.2)
            for rec in recs:
                tr = trackers.get(rec.node)
                if tr is None:
                    tr = trackers[rec.node] = SerialTracker(loss)
                if rec.serial:
                    tr.observe(rec.serial)
                for ev in push(rec):
                    write(render(ev))
            now = time.monotonic()
            if not recs or now >= next_tick:
                for ev in assembler.tick(time.time()):
                    write(render(ev))
                writer.flush()
                next_tick = now + _TICK
            if now >= next_poll:
                if poller is not None:
                    poller.poll()
                src.book()
                for tr in trackers.values():
                    tr.settle()
                _write_loss(loss, loss_out)
                _write_stats(stats_file, src, assembler, loss)
                next_poll = now + _POLL_LOST
            if next_stats is not None and now >= next_stats:
                events = assembler.stats["events"]
                rate = (events - last_events) / max(now - last_stats, 1e-9)
                _say(_status_line(rate, events, src, loss, poller))
                last_events, last_stats = events, now
                next_stats = now + stats_interval
            if src.error is not None:
                _say(f"the {src.name} reader failed: {src.error}")
                code = 1
                break
            if src.drained():
                break
            if end is not None and now >= end:
                break
    except BrokenPipeError:
        # the consumer went away (| head): stop quietly, the kernel is restored by the caller
        sys.stdout = None  # type: ignore[assignment]
        return 0
    finally:
        if poller is not None:
            poller.poll()
            poller.close()
    # the kernel side is stopped by the caller; drain what was queued, close every event
    src.stop()
    try:
        while True:
            recs = src.get(timeout=0)
            if not recs:
                break
            for rec in recs:
                if rec.serial and rec.node in trackers:
                    trackers[rec.node].observe(rec.serial)
                for ev in push(rec):
                    write(render(ev))
        for ev in assembler.flush():
            write(render(ev))
        writer.flush()
    except BrokenPipeError:
        sys.stdout = None  # type: ignore[assignment]
        return code
    for tr in trackers.values():
        tr.flush()
    _write_loss(loss, loss_out)
    _write_stats(stats_file, src, assembler, loss)
    _say("stopped; " + _status_line(None, assembler.stats["events"], src, loss, poller))
    return code


def _status_line(
    rate: float | None, events: int, src: LiveSource, loss: LossAccount, poller: KernelLostPoller | None
) -> str:
    c = loss.snapshot()
    parts = [] if rate is None else [f"{rate:.1f} events/s"]
    parts.append(f"events {events}")
    parts.append(f"records {src.counters['messages']}")
    parts.append(f"kernel lost {c['kernel_lost']}")
    if poller is not None and poller.status is not None:
        parts.append(f"backlog {poller.status.backlog}")
    parts.append(f"user drops {src.counters['queue_drops']}")
    parts.append(f"enobufs {src.counters['enobufs']}")
    parts.append(f"truncated {src.counters['truncated']}")
    parts.append(f"serial gaps {c['serial_gap']}")
    parts.append(f"queue {src.pending()}")
    return ", ".join(parts)


def _write_loss(loss: LossAccount, loss_out: BinaryIO | None) -> None:
    records = loss.drain()
    if loss_out is None or not records:
        return
    try:
        loss_out.write(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records))
        loss_out.flush()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise


def _write_stats(path: str | None, src: LiveSource, assembler: Assembler, loss: LossAccount) -> None:
    if not path:
        return
    stats = {
        "pid": os.getpid(),
        "source": src.name,
        "time": time.time(),
        "events": assembler.stats["events"],
        "loss": loss.snapshot(),
        "reader": dict(src.counters),
    }
    try:
        write_stats(path, stats)
    except OSError:
        pass  # counters are a convenience; never stop listening for them

"""The live agent shared by ``auditsql listen`` and ``auditsql run``.

:func:`run_live` does the kernel side once for both commands: load a rules file (all or nothing), snapshot the
kernel (:class:`~auditsql.kernel.snapshot.KernelSession`), refuse when audit is locked or another daemon owns
the socket, add the self-exclusion rule and the rules, start the live source
(:mod:`auditsql.kernel.sources`), set the knobs, then run :func:`loop` until SIGINT/SIGTERM, the end of the
stream or ``duration``; and it always restores the kernel. What happens to each assembled event is a
:class:`Sink`'s business: ``listen`` writes JSON lines (``cli_listen.JsonSink``), ``run`` stores table rows and
runs scheduled queries (:class:`RunSink`).

The loop keeps the loss accounts (:mod:`auditsql.kernel.loss`): kernel ``lost`` polled on its own socket,
serial gaps per node, the reader's ENOBUFS / truncation / queue drops; hands the loss records to the sink,
rewrites the stats file every second and prints a one-line status every ``stats_interval`` seconds.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

import orjson

from auditsql import log as _log
from auditsql._core import Batch, Pipeline, release_memory
from auditsql.kernel.coexist import KernelWatch
from auditsql.kernel.journal import Journal, JournalError
from auditsql.kernel.keeper import KeeperError, KeeperLink
from auditsql.kernel.loss import KernelLossReasons, KernelLostPoller, LossAccount, SerialTracker, write_stats
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
    DaemonBusy,
    KeeperPlan,
    LiveSource,
    NetlinkSource,
    SourceError,
    choose_source,
    open_source,
)
from auditsql.kernel.status import get_status
from auditsql.outputs.results_log import ResultsLogError
from auditsql.store.sqlite import StoreError, StoreFull, free_bytes

__all__ = [
    "LivePlan",
    "RulesFile",
    "RunSink",
    "Sink",
    "Stop",
    "boot_time",
    "builtin_rules_path",
    "compile_rule_lines",
    "load_rules",
    "loop",
    "run_live",
    "RAISED_BY_RULES",
    "kept_line",
    "plan_knobs",
    "say",
    "status_line",
]

TICK = 0.5  # seconds between pipeline.tick() calls (closes events without EOE)
#: settings a rules file (the built-in one's ``-b 4096`` too) only raises: a higher limit someone else set
#: (auditd's ``-b 8192``) stays; ``--backlog-limit`` / ``[kernel] backlog_limit`` set exactly what they say
RAISED_BY_RULES = frozenset({"backlog_limit"})
POLL_LOST = 1.0  # seconds between kernel lost-counter polls
#: when the load stops (a 0.2 s wait found nothing) after this many records, the native core's freed memory
#: goes back to the OS: what a burst made the reader buffer is not kept for ever (docs/native-core.md)
RELEASE_AFTER_RECORDS = 50_000
#: under a steady load it goes back this often (seconds): freed pages are not kept while the load lasts
RELEASE_EVERY = 30.0
#: at a stop, the longest wait for the kernel's queue to empty once the rules are gone, and the quiet time
#: (no record read, the queue empty) that ends it
DRAIN_SECONDS = 5.0
DRAIN_QUIET = 0.05


class Stop(Exception):
    """A user error that ends the command with one line; ``code`` the exit code (1, or 2: the store's file
    system is full and ``[store] disk_full_action = "stop"``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def say(msg: str, level: str = "info") -> None:
    """One line on stderr, ``auditsql: msg``, through :mod:`auditsql.log` (levels; journald priorities)."""
    _log.log(level, msg)


def builtin_rules_path() -> str:
    """The embedded default rules file (osquery's process and socket auditing)."""
    return str(resources.files("auditsql") / "data" / "default.rules")


def boot_time() -> float:
    """The boot time in UNIX seconds (``uptime = time - boot_time()``)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


# -- rules files -----------------------------------------------------------------------------------------------


@dataclass
class RulesFile:
    """What a rules file asks for: rules to add (``audit_rule_data``), knobs to set, lines skipped."""

    rules: list[tuple[str, bytes]] = field(default_factory=list)  # (FILE:LINE, payload)
    knobs: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def compile_rule_lines(lines: Iterable[tuple[str, str]], purpose: str = "while listening") -> RulesFile:
    """Compile (origin, auditctl rule line) pairs, all or nothing: a :class:`RulesFile` with only rules.

    Only rules to add (``-a``, ``-A``, ``-w``) are accepted; an error is :class:`Stop` ``ORIGIN: message``.
    """
    from auditsql.kernel.rules import RuleError, parse_args, split_rule_line

    out = RulesFile()
    for origin, text in lines:
        argv = split_rule_line(text)
        if argv is None:
            continue
        try:
            cmd = parse_args(argv)
        except RuleError as exc:
            raise Stop(f"{origin}: {exc}; nothing loaded") from None
        if cmd.rule is None or cmd.rule_op != "add" or cmd.actions:
            raise Stop(f"{origin}: only rules to add (-a, -A, -w) can be loaded {purpose}: {text.strip()}")
        data = cmd.rule.encode()
        out.rules.append((origin, data + b"\0" * (-len(data) % 4)))
    return out


def load_rules(path: str, purpose: str = "while listening", manages: str = "listen") -> RulesFile:
    """Parse a rules file with auditsql's auditctl-compatible parser; all or nothing.

    Rules to add (``-a``, ``-A``, ``-w``) are loaded and removed again on exit; ``-r`` and
    ``--backlog_wait_time`` are set and restored, ``-b`` only raises the backlog limit (:data:`RAISED_BY_RULES`;
    restored too); ``-D`` (it would delete other people's rules), ``-e``,
    ``-f`` and the other commands are skipped with a note. A rule to delete is an error.
    """
    from auditsql.kernel.control import ControlError, parse_rules_file

    try:
        lines, errors, _cont = parse_rules_file(path)
    except OSError as exc:
        raise Stop(f"{path}: cannot read: {exc.strerror}") from exc
    except ControlError as exc:
        raise Stop(str(exc)) from exc
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise Stop(f"{errors[0]}{more}; nothing loaded")
    out = RulesFile()
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
                    f"{where}: {line.text.strip()} skipped ({manages} manages enabled; failure stays)"
                )
            else:
                out.notes.append(f"{where}: {line.text.strip()} skipped")
        if cmd.rule is not None and not cmd.deprecated:
            if cmd.rule_op != "add":
                raise Stop(f"{where}: only rules to add (-a, -A, -w) can be loaded {purpose}; nothing loaded")
            data = cmd.rule.encode()
            out.rules.append((where, data + b"\0" * (-len(data) % 4)))
    return out


# -- the kernel side -------------------------------------------------------------------------------------------


@dataclass
class LivePlan:
    """What :func:`run_live` sets up. The texts differ between ``listen`` and ``run``."""

    source: str = "auto"
    rules_file: str | None = None
    knobs: dict[str, int] = field(default_factory=dict)
    exclude_self: bool = True
    state_file: str | None = DEFAULT_STATE_FILE
    policy: str = "block"
    queue_size: int = DEFAULT_QUEUE
    rcvbuf: int = DEFAULT_RCVBUF
    #: the first word of the start line: "listening (unicast; pid ...)"
    verb: str = "listening"
    #: where rules are loaded, for the rules-file messages; and the command managing ``enabled``
    purpose: str = "while listening"
    manages: str = "listen"
    #: how to run without changing a locked kernel
    locked_hint: str = "use --no-exclude-self and no --rules"
    #: appended to the start line
    details: list[str] = field(default_factory=list)
    #: settings of rules loaded other than from ``rules_file`` (pushdown's copy of the built-in ``-b``): as a
    #: rules file's, :data:`RAISED_BY_RULES` only raised; ``knobs`` win
    rule_knobs: dict[str, int] = field(default_factory=dict)
    #: rules features add (process tree, file watches, UDP sends, pushdown): (origin label, auditctl line),
    #: loaded after the rules file in this order (a ``-A`` line is prepended by the kernel)
    extra_rules: list[tuple[str, str]] = field(default_factory=list)
    #: the raw-frame journal (``auditsql run``, [store] journal): the reader writes it, the loop replays it first
    journal: Journal | None = None
    #: a subscribed proc connector socket for the process tree (auditsql.kernel.connector): the reader reads its
    #: fork and exit notices (the kernel sources only; closed with the source)
    proc_sock: Any = None
    #: the socket keeper (unicast with a journal): one to start, or a killed run's taken over
    keeper: KeeperPlan | KeeperLink | None = None


class Sink(Protocol):
    """Where the loop's output goes."""

    def batch(self, b: Batch) -> None:
        """What the pipeline produced: events (JSON lines), their table rows, the process tree's rows."""

    def flush(self) -> None:
        """Every tick (about twice a second, and whenever the source is idle)."""

    def idle(self, now: float) -> None:
        """After each flush, with the monotonic time: periodic work."""

    def loss(self, records: list[dict[str, Any]]) -> None:
        """Loss records, about once a second."""

    def status_parts(self) -> list[str]:
        """Extra parts of the status line, after ``events N``."""

    def stats(self) -> dict[str, Any]:
        """Extra keys of the stats file (``auditsql run``: ``store``)."""

    def finish(self) -> None:
        """After the last event, before the final status line."""


def run_live(
    plan: LivePlan,
    sink: Sink,
    pipeline: Pipeline,
    stop: threading.Event,
    stats_interval: float,
    duration: float | None = None,
    stats_file: str | None = None,
    loss: LossAccount | None = None,
) -> int:
    """Set up the kernel and the source per ``plan``, run :func:`loop` with ``pipeline`` (the native event
    path, built from the command's settings), restore the kernel; the exit code. ``loss``: the loss account
    (the sink's too, when it counts losses of its own), else a new one."""
    loss = LossAccount() if loss is None else loss
    #: a killed run's socket keeper this run took over (its registered socket, its rules kept)
    link = plan.keeper if isinstance(plan.keeper, KeeperLink) else None
    session: KernelSession | None = None
    src: LiveSource | None = None
    code = 0
    try:
        rules = load_rules(plan.rules_file, plan.purpose, plan.manages) if plan.rules_file else RulesFile()
        if plan.extra_rules:
            rules.rules.extend(compile_rule_lines(plan.extra_rules, plan.purpose).rules)
        for note in rules.notes:
            say(note)
        knobs, floors = plan_knobs({**rules.knobs, **plan.rule_knobs}, plan.knobs)
        if plan.source == "plugin":
            # auditd owns the kernel: features' rules (extra_rules) are auditd's to load (docs/operations.md)
            mode, why = "plugin", None
        else:
            if os.geteuid() != 0:
                raise Stop("listening to the kernel needs root (CAP_AUDIT_CONTROL or CAP_AUDIT_READ)")
            session = KernelSession(state_file=plan.state_file)
            if link is not None:
                session.adopt()  # the killed run's snapshot and changes: undone at this run's end
            else:
                session.begin()
            if session.recovered is not None:
                report("undid a crashed run's changes", session.recovered)
            found = session.status
            if found["enabled"] == 2 and (rules.rules or knobs or plan.exclude_self):
                raise Stop(
                    f"audit is locked (enabled 2): rules and settings cannot change until reboot; {plan.locked_hint}"
                )
            now = get_status(session.sock)
            mode, why = ("unicast", None) if link is not None else choose_source(plan.source, now)
            if link is not None:
                wanted = (
                    [exclude_pid_rule(os.getpid()), exclude_pid_rule(link.pid)] if plan.exclude_self else []
                )
                kept, added, deleted = adopt_rules(session, wanted, rules.rules)
                say(
                    f"took over the socket keeper (pid {link.pid}) of a killed run: it journaled "
                    f"{link.drained[0]} records ({link.drained[1]} bytes, enobufs {link.drained[2]}) meanwhile; "
                    f"its rules kept: {kept} kept, {added} added, "
                    f"{deleted} deleted"
                )
                if link.drained[2]:  # its socket buffer overflowed while it drained
                    loss.add("enobufs", link.drained[2], "socket keeper")
            elif mode == "unicast" and now.pid and now.pid != os.getpid() and process_alive(now.pid):
                raise DaemonBusy(now.pid, process_name(now.pid))
            elif plan.exclude_self:
                try:
                    session.add_rule(exclude_pid_rule(os.getpid()))
                except AuditNetlinkError as exc:
                    if mode != "multicast":
                        raise
                    say(
                        f"cannot add the self-exclusion rule ({exc.errno_name}); auditsql's syscalls may be audited"
                    )
            for where, payload in rules.rules if link is None else ():
                _add_rule(session, where, payload)
        journal = plan.journal.reader_args() if plan.journal is not None else None
        src = open_source(
            mode,
            session,
            plan.policy,
            plan.queue_size,
            plan.rcvbuf,
            loss,
            journal=journal,
            proc_sock=plan.proc_sock,
            keeper=plan.keeper,
        )
        src.start()
        keeper = src.keeper if isinstance(src, NetlinkSource) else None
        keep = [exclude_pid_rule(os.getpid())] if plan.exclude_self else []
        if keeper is not None and plan.exclude_self:
            keep.append(exclude_pid_rule(keeper.pid))
            if session is not None and link is None:
                try:  # the keeper's own system calls (its drain) are not audited either
                    session.add_rule(keep[-1])
                except AuditNetlinkError as exc:
                    say(f"cannot add the keeper's self-exclusion rule ({exc.errno_name})")
        if session is not None:
            changes = dict(knobs)
            if session.status["enabled"] == 0:
                changes["enabled"] = 1
            session.set(raise_only=floors, **changes)
            for name, value in session.kept.items():
                say(kept_line(name, value, changes[name]))
        say(describe(src, why, plan.verb) + "".join(f"; {d}" for d in plan.details))
        code = loop(
            stop, src, session, sink, pipeline, loss, stats_interval, duration, stats_file, keep, plan.journal
        )
    except Stop as exc:
        say(str(exc), "error")
        code = exc.code
        if src is not None:  # the counters as they stand (what the stop dropped included)
            _write_stats(stats_file, src, pipeline, loss, sink)
    except (SnapshotInUse, SourceError, JournalError, KeeperError) as exc:
        say(str(exc), "error")
        code = 1
    except AuditNetlinkError as exc:
        say(f"the kernel refused: {exc.strerror}", "error")
        code = 1
    except ValueError as exc:  # an unreadable state file, a refused setting
        say(str(exc), "error")
        code = 1
    except PermissionError as exc:
        say(str(exc), "error")
        code = 1
    finally:
        if src is not None:
            src.stop()
        if session is not None:
            rep = session.restore()
            report("kernel restore", rep, quiet_ok=True)
            if not rep.ok:
                code = code or 1
            session.close()
    return code


def _add_rule(session: KernelSession, where: str, payload: bytes) -> None:
    try:
        session.add_rule(payload)
    except AuditNetlinkError as exc:
        if exc.errno != errno.EEXIST:
            raise Stop(f"{where}: the kernel refused the rule: {exc.strerror}") from exc
        say(f"{where}: the rule is already loaded; left as it is")


def adopt_rules(
    session: KernelSession, exclusions: list[bytes], rules: list[tuple[str, bytes]]
) -> tuple[int, int, int]:
    """A run taking over a killed run's keeper: the rules that run loaded and this one wants stay loaded
    (no window without them); those missing are added, then those no longer wanted (the killed run's own
    self-exclusion) deleted. (kept, added, deleted)."""
    loaded = [bytes.fromhex(h) for h in session.state.added_rules] if session.state is not None else []
    kept = added = 0
    for where, payload in [("self-exclusion", p) for p in exclusions] + rules:
        if payload in loaded:
            loaded.remove(payload)
            kept += 1
            continue
        _add_rule(session, where, payload)
        added += 1
    for payload in loaded:
        try:
            session.delete_rule(payload)
        except AuditNetlinkError as exc:
            say(f"cannot delete a rule of the killed run ({exc.errno_name})", "warning")
    return kept, added, len(loaded)


def plan_knobs(from_rules: dict[str, int], given: dict[str, int]) -> tuple[dict[str, int], frozenset[str]]:
    """The knobs to set (``given`` - the command line, the configuration - win over the rules'), and the names
    of those only to raise: :data:`RAISED_BY_RULES` as the rules asked for them."""
    floors = frozenset(n for n in from_rules if n in RAISED_BY_RULES and n not in given)
    return {**from_rules, **given}, floors


def kept_line(name: str, current: int, asked: int) -> str:
    """What the run says of a raise-only knob it left higher than asked (``KernelSession.kept``)."""
    now = f"{current} (no limit)" if current == 0 else str(current)
    return f"{name} stays {now}: above the {asked} asked for (auditsql only raises it)"


def describe(src: LiveSource, why: str | None, verb: str = "listening") -> str:
    parts = [f"{verb} ({src.name}", f"pid {os.getpid()}"]
    if isinstance(src, NetlinkSource):
        if src.keeper is not None:
            parts.append(f"keeper pid {src.keeper.pid}")
        if src.rcvbuf_effective is not None:
            parts.append(f"rcvbuf {src.rcvbuf_effective}")
        if src.took_over is not None:
            parts.append(f"took over from stale pid {src.took_over}")
    if why:
        parts.append(why)
    parts.append(f"policy {src.policy})")
    return "; ".join(parts)


def report(what: str, rep: RestoreReport, quiet_ok: bool = False) -> None:
    for note in rep.notes:
        say(f"{what}: {note}")
    for problem in rep.problems:
        say(f"{what}: FAILED: {problem}", "error")
    if rep.actions and not quiet_ok:
        say(f"{what}: " + ", ".join(rep.actions))


# -- the loop --------------------------------------------------------------------------------------------------


def loop(
    stop: threading.Event,
    src: LiveSource,
    session: KernelSession | None,
    sink: Sink,
    pipeline: Pipeline,
    loss: LossAccount,
    stats_interval: float,
    duration: float | None,
    stats_file: str | None = None,
    keep_rules: Collection[bytes] = (),
    journal: Journal | None = None,
) -> int:
    """Read, process and store until ``stop`` (or ``duration``, or the source ends); then stop auditing
    (the session's rules but ``keep_rules`` are deleted), read what was audited to the end, stop the source
    and close every event. The exit code. ``journal``: replayed first (what an earlier run read and did not
    store), before any record of the source."""
    trackers: dict[str | None, SerialTracker] = {}
    poller = KernelLostPoller(loss, reasons=KernelLossReasons()) if session is not None else None
    if poller is not None:
        poller.poll()  # baseline
    # others (auditd, augenrules, auditctl) change the kernel meanwhile: keep auditsql's rules and enabled
    keeper = getattr(src, "keeper", None)
    daemon = keeper.pid if keeper is not None else None
    watch = KernelWatch(session, src.name, say, daemon_pid=daemon) if session is not None else None
    if watch is not None:
        watch.check(poller.status if poller is not None else None)

    def take(b: Batch) -> None:
        for node, serial in b.serials:
            tr = trackers.get(node)
            if tr is None:
                tr = trackers[node] = SerialTracker(loss)
            tr.observe(serial)
        if watch is not None:
            for text in b.config_changes:
                watch.record(text)
        if b.events or b.rows:
            sink.batch(b)

    if journal is not None:
        replay_journal(journal, pipeline, take, sink, loss)
    journal_failed = False

    started = time.monotonic()
    end = started + duration if duration is not None else None
    next_tick = next_poll = started
    next_stats = started + stats_interval if stats_interval else None
    last_events, last_stats = 0, started
    code = 0
    #: records handled since the native core last gave its freed memory back (done when the load stops)
    since_release = 0
    next_release = started + RELEASE_EVERY
    try:
        while not stop.is_set():
            b = src.feed(pipeline, 0.2)
            got = b.records
            take(b)
            since_release += got
            now = time.monotonic()
            if since_release and (
                (not got and since_release >= RELEASE_AFTER_RECORDS) or now >= next_release
            ):
                release_memory()
                since_release = 0
                next_release = now + RELEASE_EVERY
            if not got or now >= next_tick:
                take(pipeline.tick(time.time()))
                sink.flush()
                sink.idle(now)
                next_tick = now + TICK
            if now >= next_poll or (watch is not None and watch.due):
                if poller is not None:
                    poller.poll()
                if watch is not None:
                    watch.check(poller.status if poller is not None else None, now)
                src.book()
                if journal is not None and not journal_failed and src.counters.get("journal_errors"):
                    journal_failed = True
                    say(f"cannot write the journal {journal.dir}: it is off until the next start", "error")
                for tr in trackers.values():
                    tr.settle()
                sink.loss(loss.drain())
                _write_stats(stats_file, src, pipeline, loss, sink, journal)
                next_poll = now + POLL_LOST
            if next_stats is not None and now >= next_stats:
                events = pipeline.stats()["events"]
                rate = (events - last_events) / max(now - last_stats, 1e-9)
                say(status_line(rate, events, src, loss, poller, sink.status_parts()))
                last_events, last_stats = events, now
                next_stats = now + stats_interval
            if src.error is not None:
                say(f"the {src.name} reader failed: {src.error}", "error")
                code = 1
                break
            if src.drained():
                break
            if end is not None and now >= end:
                break
        if session is not None and code == 0:
            drain_kernel(session, src, pipeline, take, keep_rules)
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
            b = src.feed(pipeline, 0)
            take(b)
            if not b.records:
                break
        take(pipeline.finish())
        sink.flush()
    except BrokenPipeError:
        sys.stdout = None  # type: ignore[assignment]
        return code
    for tr in trackers.values():
        tr.flush()
    sink.loss(loss.drain())
    _write_stats(stats_file, src, pipeline, loss, sink, journal)
    sink.finish()
    say("stopped; " + status_line(None, pipeline.stats()["events"], src, loss, poller, sink.status_parts()))
    return code


def replay_journal(
    journal: Journal, pipeline: Pipeline, take: Callable[[Batch], None], sink: Sink, loss: LossAccount
) -> None:
    """The start of a run with a journal: what an earlier run read and did not store, processed first; one
    line says what it found. A torn last record (cut by a kill) is counted as lost (``journal_torn``)."""
    store = getattr(sink, "store", None)
    journal.replay(pipeline, take, lambda: int(getattr(store, "events_present", 0)))
    c = journal.counts
    if journal.torn_bytes:
        loss.add(
            "journal_torn", 1, f"{journal.torn_bytes} bytes of a record cut short by a kill ({journal.dir})"
        )
    if c["replayed_frames"] or journal.torn_bytes:
        say(
            f"journal: replayed {c['replayed_frames']} records an earlier run had read "
            f"({c['replay_skipped']} left out: their events were stored; {c['replay_duplicates']} events the store "
            f"held already); torn {journal.torn_bytes} bytes"
        )


def drain_kernel(
    session: KernelSession,
    src: LiveSource,
    pipeline: Pipeline,
    take: Callable[[Batch], None],
    keep_rules: Collection[bytes],
) -> None:
    """The first steps of a stop: delete the rules (nothing more is audited), then read until the kernel's
    queue is empty and nothing more comes (at most :data:`DRAIN_SECONDS`). Stopping the reader first would
    leave what the kernel audited meanwhile to no daemon: lost, and counted nowhere."""
    for problem in session.remove_rules(keep_rules):
        say(problem, "warning")
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline and src.error is None:
        b = src.feed(pipeline, DRAIN_QUIET)
        take(b)
        if b.records:
            continue
        try:
            backlog = get_status(session.sock).backlog or 0
        except OSError:
            return
        if not backlog:
            return


def status_line(
    rate: float | None,
    events: int,
    src: LiveSource,
    loss: LossAccount,
    poller: KernelLostPoller | None,
    extra: Iterable[str] = (),
) -> str:
    c = loss.snapshot()
    parts = [] if rate is None else [f"{rate:.1f} events/s"]
    parts.append(f"events {events}")
    parts.extend(extra)
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


#: the loop's latest statistics (events, loss, reader counters, queue), refreshed about once a second; the
#: Prometheus collector (auditsql.metrics) reads it at scrape time
live_stats: dict[str, Any] = {}


def _write_stats(
    path: str | None,
    src: LiveSource,
    pipeline: Pipeline,
    loss: LossAccount,
    sink: Sink | None = None,
    journal: Journal | None = None,
) -> None:
    keeper = getattr(src, "keeper", None)
    stats = {
        "pid": os.getpid(),
        "keeper": keeper.pid if keeper is not None else 0,
        "source": src.name,
        "time": time.time(),
        "events": pipeline.stats()["events"],
        "loss": loss.snapshot(),
        "reader": dict(src.counters),
        "queue": src.pending(),
    }
    if sink is not None:
        stats.update(sink.stats())
    if journal is not None:
        stats["journal"] = journal.stats(src.counters)
    live_stats.update(stats)
    if not path:
        return
    try:
        write_stats(path, stats)
    except OSError:
        pass  # counters are a convenience; never stop for them


# -- auditsql run: events to table rows, scheduled queries ------------------------------------------------------


#: seconds between two attempts to write to a store whose file system is full (``disk_full_action = "drop"``):
#: meanwhile batches are dropped and counted without touching the disk
FULL_RETRY = 5.0
#: seconds between two checks of the free space on the store's file system (``[store] space_left``)
SPACE_CHECK = 5.0
#: seconds between two warnings that the store's file system is below ``space_left``
SPACE_WARN_EVERY = 600.0
#: ``[store] disk_full_action`` choices
DISK_FULL_ACTIONS = ("drop", "stop")


def _size(n: float) -> str:
    """Bytes for a person: ``512 B``, ``1.5 MiB``, ``3.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


@dataclass
class _Full:
    """While the store's file system is full (``disk_full_action = "drop"``): since when, what was dropped."""

    since: float  # monotonic
    wall: float  # UNIX time of the first drop (the store_full row's time)
    reason: str  # SQLite's message
    retry_at: float = 0.0
    events: int = 0
    rows: int = 0


class RunSink:
    """``auditsql run``'s sink: store each batch's table rows (the native pipeline mapped them); loss records to
    ``audit_loss``; scheduled queries and retention on idle ticks.

    ``loss_rows(records)`` is ``auditsql.tables``'; ``store`` is an ``auditsql.store.sqlite.Store``; ``scheduler``
    an ``auditsql.query.schedule.Scheduler`` or None. Store and results-log failures end the run with one line
    (:class:`Stop`).

    A full file system (:class:`~auditsql.store.sqlite.StoreFull`) is ``disk_full_action``'s: ``"stop"`` ends the
    run (:class:`Stop`, exit code 2); ``"drop"`` drops the failed batch and every batch after it, counting their
    events in ``loss`` (the run's :class:`~auditsql.kernel.loss.LossAccount`) as ``store_full``, tries a write
    again every ``full_retry`` seconds, and once one commits says so in one line and books the outage as one
    ``store_full`` row of ``audit_loss`` (the loss rows that came meanwhile are held until then). ``space_left``
    (bytes, percent of the file system) warns, at most every ``space_warn_every`` seconds, when the store's file
    system has less room left.

    ``outputs`` (an ``auditsql.outputs.base.Outputs`` fan-out, or None) gets every event's JSON object with its
    rows, the rows of no event (the process tree's) and the ``audit_loss`` rows; what the outputs lose
    (``output_drop``, ``spool_drop``) is stored in ``audit_loss`` with the loop's own losses. They are closed
    (drained for a few seconds) by :meth:`finish`. The pipeline must carry event JSON when there are outputs
    (``Settings(events_json=bool(outputs))``). Outputs get the events while the store is full, too.
    """

    def __init__(
        self,
        store: Any,
        loss_rows: Callable[[list[dict[str, Any]]], list[tuple]],
        uptime_base: float | None = None,
        scheduler: Any = None,
        expiry: int | None = None,
        max_rows: int | None = None,
        retention_interval: float = 60.0,
        max_size: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        outputs: Any = None,
        row_sources: Iterable[Any] = (),
        loss: LossAccount | None = None,
        disk_full_action: str = "drop",
        space_left: tuple[int, float] = (0, 0.0),
        full_retry: float = FULL_RETRY,
        space_warn_every: float = SPACE_WARN_EVERY,
        journal_mark: Callable[[], tuple[int, int, bytes]] | None = None,
    ) -> None:
        if disk_full_action not in DISK_FULL_ACTIONS:
            raise ValueError(f"disk_full_action: expected one of {', '.join(DISK_FULL_ACTIONS)}")
        self.store = store
        #: the pipeline's journal mark (``Pipeline.mark``): handed to the store before each batch, committed with it
        self.journal_mark = journal_mark
        #: what writes rows of its own on idle ticks, not tied to one event (the process tree's /proc sweep):
        #: each has ``idle(monotonic_now) -> Batch`` (its rows after the last event index)
        self.row_sources = list(row_sources)
        self.outputs = outputs or None
        self._fan = outputs.event if outputs else None
        #: losses the outputs reported, by cause (the loop's LossAccount does not see them)
        self.output_loss: dict[str, int] = {}
        self.loss_rows = loss_rows
        self.uptime_base = uptime_base
        self.scheduler = scheduler
        self.expiry = expiry or None
        self.max_rows = max_rows or None
        self.max_size = max_size or None
        self.retention_interval = retention_interval
        self._monotonic = monotonic
        self._next_retention = monotonic() + retention_interval
        #: rows handed to the store, a batch dropped on a full file system's included (``source_rows``: rows of
        #: no event, the process tree's)
        self.rows = 0
        self.source_rows = 0
        self.deleted = 0
        #: the run's loss account: ``store_full`` is counted there as events are dropped
        self.account = LossAccount() if loss is None else loss
        self.disk_full_action = disk_full_action
        self.full_retry = full_retry
        #: events and rows dropped because the store's file system was full, since the start
        self.full_events = 0
        self.full_rows = 0
        #: the outage under way, or None
        self._full: _Full | None = None
        #: ``audit_loss`` rows that wait for the store to be written again
        self._held: list[tuple] = []
        self.space_left = space_left
        self.space_warn_every = space_warn_every
        self._next_space_check = 0.0
        self._next_space_warn = 0.0
        #: free bytes on the store's file system at the last check (None: not checked), below space_left?
        self.free_bytes: int | None = None
        self.space_low = False

    @property
    def full(self) -> bool:
        """Whether the store's file system is full (batches are dropped)."""
        return self._full is not None

    def _path(self) -> str:
        return str(getattr(self.store, "path", "the store"))

    # -- a full file system --------------------------------------------------------------------------------

    def _on_full(self, exc: Any) -> None:
        """A write failed for lack of room (``exc``: a StoreFull): its rows are gone, its loss rows held."""
        events, rows = exc.events, exc.rows - len(exc.loss_rows)
        self._held.extend(exc.loss_rows)
        if self.disk_full_action == "stop":
            self._full = self._full or _Full(self._monotonic(), time.time(), exc.reason)  # for the stats file
            self._dropped(events, rows)
            raise Stop(
                f"the store's file system is full ({exc.path}): stopping (disk_full_action = stop)", 2
            ) from None
        now = self._monotonic()
        if self._full is None:
            self._full = _Full(now, time.time(), exc.reason)
            say(
                f"the store's file system is full ({exc.path}: {exc.reason}): dropping events, counted as "
                f"store_full, until it can be written again (disk_full_action = drop; a retry every "
                f"{self.full_retry:g} s)",
                "error",
            )
        self._full.retry_at = now + self.full_retry
        self._dropped(events, rows)

    def _dropped(self, events: int, rows: int) -> None:
        self.full_events += events
        self.full_rows += rows
        self.account.count("store_full", events)
        if self._full is not None:
            self._full.events += events
            self._full.rows += rows

    def _outage_record(self, full: _Full, now: float) -> dict[str, Any]:
        secs = now - full.since
        return {
            "time": full.wall,
            "cause": "store_full",
            "count": full.events,
            "detail": f"{full.events} events ({full.rows} rows) not stored: {self._path()}'s file system was "
            f"full for {secs:.0f} s ({full.reason})",
        }

    def _retry(self, put: Callable[[], object] | None = None) -> None:
        """While full: write the outage's ``store_full`` row, the held loss rows and ``put()``'s rows, and commit
        them at once; success ends the outage (one line), failure drops ``put()``'s rows as the others."""
        full = self._full
        assert full is not None
        now = self._monotonic()
        probe = self.loss_rows([self._outage_record(full, now)]) if full.rows or full.events else []
        if not probe and not self._held and put is None:
            full.retry_at = now + self.full_retry  # nothing to write: nothing tells that there is room
            return
        held, self._held = self._held, []
        try:
            self.store.insert([("audit_loss", r) for r in held + probe])
            if put is not None:
                put()
            self.store.flush()
        except StoreFull as exc:
            back = [r for r in exc.loss_rows if r not in probe]
            if len(back) < len(exc.loss_rows) or not probe:
                # the outage's row was not written: made anew at the next retry, with the counts of then
                exc.rows -= len(exc.loss_rows) - len(back)
                exc.loss_rows = back
            else:
                # an earlier commit (the buffer was full) wrote it: the outage so far is booked, this is a new one
                self._resumed(full, now)
            self._on_full(exc)
            return
        except StoreError as exc:
            raise Stop(str(exc)) from None
        self.rows += len(probe)
        self._resumed(full, now)

    def _resumed(self, full: _Full, now: float) -> None:
        self._full = None
        say(f"store writable again after {now - full.since:.0f} s; {full.events} events dropped", "warning")

    def _commit(self, force: bool = False) -> None:
        """Commit the store's buffer; while full, retry (when due, or ``force``)."""
        if self._full is not None:
            if force or self._monotonic() >= self._full.retry_at:
                self._retry()
            return
        self._guarded(self.store.flush)

    def commit(self) -> None:
        """Commit what the store buffers (before a scheduled query, at start); see :meth:`_commit`."""
        self._commit()

    def _guarded(self, write: Callable[[], object]) -> None:
        """``write()`` against the store: a full file system is handled as ``disk_full_action`` says, any other
        store error ends the run with its one line."""
        try:
            write()
        except StoreFull as exc:
            self._on_full(exc)
        except StoreError as exc:
            raise Stop(str(exc)) from None

    # -- the Sink ------------------------------------------------------------------------------------------

    def batch(self, b: Batch) -> None:
        total = b.row_count
        if not total:
            return
        bounds = b.event_rows
        own = bounds[-1]
        rows = None if self.outputs is None else b.rows
        full = self._full
        if full is not None and self._monotonic() < full.retry_at:
            self._dropped(b.events, total)  # not even tried: the store's file system is full
        else:

            def put() -> None:
                if self.journal_mark is not None:
                    self.store.journal_mark = self.journal_mark()
                if rows is None:
                    # no Python object per row: the store's native writer takes them
                    self.store.insert_batch(b)
                else:
                    self.store.insert(rows)
                self.rows += own
                self.source_rows += total - own

            if full is not None:
                self._retry(put)
            else:
                self._guarded(put)
        if self.outputs is not None:
            assert rows is not None
            if self._fan is not None and b.events:
                lines = b.json.splitlines()
                for i, line in enumerate(lines):
                    self._fan(orjson.loads(line), rows[bounds[i] : bounds[i + 1]])
            if own < len(rows):
                self.outputs.rows(rows[own:])

    def flush(self) -> None:
        if self._full is not None:
            self._commit()
        else:
            self._guarded(self.store.tick)
        if self.outputs is not None:
            self.outputs.flush()

    def idle(self, now: float) -> None:
        for source in self.row_sources:
            self.batch(source.idle(now))
        if self.scheduler is not None:
            try:
                errors = self.scheduler.run_due(now)
            except StoreFull as exc:
                self._on_full(exc)
                errors = []
            except (StoreError, ResultsLogError) as exc:
                raise Stop(str(exc)) from None
            for err in errors:
                say(str(err))
        if (self.expiry or self.max_rows or self.max_size) and now >= self._next_retention:
            self._next_retention = now + self.retention_interval
            self._retention()
        if self.space_left != (0, 0.0) and now >= self._next_space_check:
            self._next_space_check = now + SPACE_CHECK
            self._check_space(now)

    def _retention(self) -> None:
        if self._full is not None:
            return  # deleting needs room too; the next pass after the outage does it
        try:
            deleted = self.store.retention(self.expiry, self.max_rows, max_size=self.max_size)
        except StoreFull as exc:
            if exc.events or exc.rows:  # its first flush dropped a batch
                self._on_full(exc)
            return  # else only the deletion was refused: tried again at the next pass
        except StoreError as exc:
            raise Stop(str(exc)) from None
        self.deleted += sum(deleted.values())
        # every deletion is booked, by cause, so that age-out is never taken for loss (or missed)
        when = time.time()
        self.loss(
            [
                {
                    "time": when,
                    "cause": "retention",
                    "count": sum(per.values()),
                    "detail": f"{cause}: " + ", ".join(f"{t} {n}" for t, n in sorted(per.items())),
                }
                for cause, per in getattr(self.store, "last_retention", {}).items()
            ]
        )

    def _check_space(self, now: float) -> None:
        """One warning line when the store's file system has less than ``space_left`` free (again at most every
        ``space_warn_every`` s while it stays so), one line when it has more again."""
        got = free_bytes(self._path())
        if got is None:
            return
        free, total = got
        self.free_bytes = free
        least, percent = self.space_left
        limit = max(least, int(total * percent / 100))
        shown = f"{percent:g}%" if percent else _size(least)
        low = free < limit
        if low and (not self.space_low or now >= self._next_space_warn):
            self._next_space_warn = now + self.space_warn_every
            say(
                f"the store's file system has {_size(free)} left, below space_left ({shown}): {self._path()}",
                "warning",
            )
        elif not low and self.space_low:
            say(f"the store's file system has {_size(free)} free again, above space_left ({shown})")
        self.space_low = low

    def loss(self, records: list[dict[str, Any]], forward: bool = True) -> None:
        if self.outputs is not None:
            theirs = self.outputs.drain_loss()
            for r in theirs:
                self.output_loss[r["cause"]] = self.output_loss.get(r["cause"], 0) + r["count"]
            records = records + theirs
        if not records:
            return
        rows = [("audit_loss", r) for r in self.loss_rows(records)]
        self.rows += len(rows)
        if self._full is not None:
            self._held.extend(r for _, r in rows)  # stored once the store can be written again
        else:
            self._guarded(lambda: self.store.insert(rows))
        if self.outputs is not None and forward:
            self.outputs.rows(rows)

    def status_parts(self) -> list[str]:
        parts = [f"rows {self.rows}"]
        present = getattr(self.store, "events_present", 0)
        if present:
            parts.append(f"already stored {present}")
        if self.output_loss:
            parts.append(f"output drops {sum(self.output_loss.values())}")
        if self.full_events or self._full is not None:
            parts.append(f"store full drops {self.full_events}")
        return parts

    def stats(self) -> dict[str, Any]:
        return {
            "store": {
                "full": self._full is not None,
                "free_bytes": self.free_bytes,
                "space_low": self.space_low,
                "dropped_rows": self.full_rows,
            }
        }

    def finish(self) -> None:
        self._commit(force=True)
        if self.scheduler is not None:
            try:
                errors = self.scheduler.run_all(snapshots=False)
            except StoreFull as exc:
                self._on_full(exc)
                errors = []
            except (StoreError, ResultsLogError) as exc:
                raise Stop(str(exc)) from None
            for err in errors:
                say(str(err))
        if self.outputs is not None:  # drain them, then store what they could not deliver
            self.outputs.close()
            self.loss([], forward=False)  # the outputs are closed
            self._commit(force=self._full is not None and bool(self._held))
        if self._full is not None:
            say(
                f"the store's file system is still full ({self._path()}): {self._full.events} events dropped "
                "since it filled are counted in the stats file, not in audit_loss",
                "error",
            )

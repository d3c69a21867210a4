"""``auditsql run``: the main job. Live events into the SQL tables, scheduled queries into the results log.

Embedded defaults (:mod:`auditsql.config`), so no configuration is needed: live source ``auto``, osquery's
process and socket rules (``src/auditsql/data/default.rules``), the store ``/var/lib/auditsql/auditsql.db``,
the results log ``/var/log/auditsql/results.jsonl``. ``--config FILE`` overrides any default, flags override
the file. Everything that can be checked is checked before the kernel is touched: the configuration, the
scheduled queries against the schema, root, the rules file, the store and the results log.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from auditsql.agent import LivePlan, RunSink, Stop, boot_time, builtin_rules_path, load_rules, run_live, say
from auditsql.config import Config, ConfigError, load_config, to_toml, with_overrides
from auditsql.kernel.sources import POLICIES, SOURCES
from auditsql.log import set_level as set_log_level
from auditsql.tables.proctree import RULE_KEY as TREE_KEY
from auditsql.tables.proctree import rules as proctree_rules

if TYPE_CHECKING:
    from auditsql.config import KernelConfig
    from auditsql.kernel.keeper import KeeperLink
    from auditsql.kernel.sources import KeeperPlan

__all__ = ["run"]


def _flag_overrides(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} for the flags given (None: not given)."""
    table = {
        "kernel": {
            "source": "source",
            "rules": "rules",
            "policy": "policy",
            "exclude_self": "exclude_self",
            "backlog_limit": "backlog_limit",
            "state_file": "state_file",
        },
        "store": {"db": "db", "resolve_ids": "resolve_ids"},
        "results_log": {"path": "results_log", "host_identifier": "host_identifier"},
        "status": {"interval": "status_interval", "stats_file": "stats_file"},
        "metrics": {"listen": "metrics"},
        "log": {"level": "log_level"},
    }
    out: dict[str, dict[str, Any]] = {}
    for section, keys in table.items():
        out[section] = {key: params[p] for key, p in keys.items() if params.get(p) is not None}
    return out


@click.command()
@click.option(
    "--config",
    "--config_path",
    "--config-path",
    "config_file",
    type=click.Path(),
    help="Configuration: auditsql's TOML (or JSON), or osquery's osquery.conf (or a directory of *.conf).",
)
@click.option(
    "--flagfile",
    type=click.Path(dir_okay=False),
    help="osquery's flags file (--name=value lines), mapped as the config's options (docs/osquery.md).",
)
@click.option("--db", help="The SQLite store.  [default: /var/lib/auditsql/auditsql.db]")
@click.option(
    "--results-log", help="Scheduled query results ('' for none).  [default: /var/log/auditsql/results.jsonl]"
)
@click.option(
    "--rules", help="Rules file (auditctl syntax), 'builtin' (osquery's) or 'none'.  [default: builtin]"
)
@click.option("--source", type=click.Choice(SOURCES), help="Live source.  [default: auto]")
@click.option("--policy", type=click.Choice(POLICIES), help="When processing falls behind.  [default: block]")
@click.option(
    "--status-interval", type=click.FloatRange(min=0), help="Seconds between status lines (0: none)."
)
@click.option("--state-file", help="Kernel snapshot file.  [default: /run/auditsql/snapshot.json]")
@click.option("--stats-file", help="Counters file for `auditsql ctl -s` ('' for none).")
@click.option("--exclude-self/--no-exclude-self", default=None, help="Never audit auditsql's own syscalls.")
@click.option("--backlog-limit", type=click.IntRange(min=0, max=0xFFFFFFFF), help="Kernel backlog limit.")
@click.option("--host-identifier", type=click.Choice(("hostname", "uuid", "specified")))
@click.option("--resolve-ids/--no-resolve-ids", default=None, help="Add user/group names from this host.")
@click.option("--duration", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--metrics", metavar="HOST:PORT", help="Serve Prometheus metrics on HOST:PORT (/metrics).")
@click.option(
    "--log-level", type=click.Choice(("debug", "info", "warning", "error")), help="Lowest level of messages."
)
@click.option("--print-config", is_flag=True, help="Print the effective configuration (TOML) and exit.")
def run(
    config_file: str | None, flagfile: str | None, duration: float | None, print_config: bool, **flags: Any
) -> None:
    """The main job: live audit events into SQL tables, scheduled queries into an osquery-format results log.

    Leaves the kernel as found on exit, SIGINT and SIGTERM.
    """
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = load_config(config_file, flagfile) if config_file or flagfile else Config()
        config = with_overrides(config, _flag_overrides(flags))
    except ConfigError as exc:
        say(str(exc), "error")
        sys.exit(2)
    set_log_level(config.log.level)
    if print_config:
        notes = "".join(f"# auditsql: {line}\n" for line in config.notes)
        click.echo(notes + to_toml(config), nl=False)
        sys.exit(0)
    for line in config.notes:  # what an osquery configuration holds that has no meaning here, once
        say(line, "warning")
    sys.exit(_run(config, stop, duration))


def _keeper(k: KernelConfig, jdir: str) -> KeeperPlan | KeeperLink | None:
    """The socket keeper of a unicast run with a journal: a killed run's, taken over, or a new one to start.
    A killed run's keeper that this run does not take (another source, keeper off) is told to exit."""
    from auditsql.kernel.keeper import attach, stop_keeper
    from auditsql.kernel.sources import KeeperPlan

    if not (k.keeper and k.source in ("auto", "unicast")):
        pid = stop_keeper(jdir)
        if pid is not None:
            say(f"stopped the socket keeper (pid {pid}) of a killed run")
        return None
    link = attach(jdir)
    if link is not None:
        return link
    return KeeperPlan(os.path.abspath(jdir), k.state_file, k.keeper_bytes, k.keeper_seconds)


def _run(config: Config, stop: threading.Event, duration: float | None) -> int:
    import auditsql.tables as tables
    from auditsql._core import Pipeline, Settings
    from auditsql.config import parse_space
    from auditsql.kernel.journal import JournalError, journal_dir, open_journal
    from auditsql.kernel.keeper import KeeperError
    from auditsql.kernel.loss import LossAccount
    from auditsql.metrics import MetricsError, parse_listen
    from auditsql.outputs.base import OutputError
    from auditsql.outputs.results_log import ResultsLog, ResultsLogError, host_identifier
    from auditsql.query.schedule import Decorators, Job, Scheduler, check_queries, splay
    from auditsql.store.schedule_state import ScheduleState, ScheduleStateError
    from auditsql.store.sqlite import Store, StoreError

    k, st = config.kernel, config.store
    jobs = [
        Job(
            q.name,
            q.query,
            splay(q.interval, config.scheduler.splay_percent),
            q.snapshot,
            removed=q.removed,
            denylist=q.denylist,
            discovery=tuple(q.discovery),
        )
        for q in config.schedule.values()
    ]
    dec = config.decorators
    decorators = Decorators(
        tuple(dec.load), tuple(dec.always), {int(secs): tuple(qs) for secs, qs in dec.interval.items()}
    )
    checked = jobs + [
        Job(f"decorator {n}", sql, 1)
        for n, sql in enumerate([*dec.load, *dec.always, *(q for qs in dec.interval.values() for q in qs)], 1)
    ]
    problems = check_queries(checked, (t.ddl() for t in tables.REGISTRY.values()))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        say(f"{config.source or 'configuration'}: {problems[0]}{more}", "error")
        return 2
    from auditsql.tables import file as file_table
    from auditsql.tables import socket as socket_table

    try:  # connections and file events (docs/connections.md, docs/file-events.md): checked before anything
        feature_rules = socket_table.rules(config.tables.udp_sends) + file_table.rules(
            list(config.file_events.paths), config.file_events.permissions
        )
    except file_table.FileWatchError as exc:
        say(str(exc), "error")
        return 2

    rules_file: str | None
    if k.rules == "none":
        rules_file = None
    elif k.rules == "builtin":
        # under auditd (plugin source) auditd owns the kernel: the built-in rules are auditd's business
        rules_file = None if k.source == "plugin" else builtin_rules_path()
    else:
        rules_file = k.rules
    knobs = {
        name: v
        for name in ("backlog_limit", "rate_limit", "backlog_wait_time")
        if (v := getattr(k, name)) is not None
    }
    pushdown: list[tuple[str, str]] = []
    rule_knobs: dict[
        str, int
    ] = {}  # pushdown's copy of the built-in rules' -b: only raised, as a rules file's
    if k.pushdown and k.rules == "builtin" and k.source != "plugin":
        from auditsql.query import pushdown as pd  # docs/pushdown.md: the builtin rules, filtered

        pushdown, rules_file, rule_knobs = pd.rules(config), None, pd.knobs()
    if k.source == "plugin" and (rules_file or knobs):
        say(
            "rules and kernel settings need a kernel source: with source plugin auditd owns the kernel",
            "error",
        )
        return 2
    if k.source != "plugin" and os.geteuid() != 0:
        say(
            "auditsql run reads the kernel's audit events and needs root (CAP_AUDIT_CONTROL or CAP_AUDIT_READ); "
            "as auditd's plugin use --source plugin",
            "error",
        )
        return 1
    if config.metrics.listen:
        try:
            parse_listen(config.metrics.listen)
        except MetricsError as exc:
            say(str(exc), "error")
            return 2
    store = results = scheduler = journal = keeper = None
    responder = None
    outputs = metrics = None
    try:
        if rules_file:
            load_rules(rules_file, "by auditsql run", "run")  # fail before touching anything
        store = Store(st.db)
        store.create_schema()
        rl = config.results_log
        host: str | Callable[[], str] = host_identifier(rl.host_identifier, rl.specified_identifier)
        if rl.host_identifier == "hostname":
            host = host_identifier  # read anew for every run of a query, as osquery
        outputs = _outputs(config, host_identifier(rl.host_identifier, rl.specified_identifier))
        results = ResultsLog(
            rl.path,
            host,
            rl.epoch,
            rl.decorations,
            rotate=rl.rotate,
            rotate_size=rl.rotate_size,
            rotate_max_files=rl.rotate_max_files,
            forward=outputs.results if outputs else None,
            snapshot_event_type=rl.snapshot_event_type,
            snapshot_path=rl.snapshot_path,
            decorations_top_level=rl.decorations_top_level,
        ).open()
        live = [t.name for t in tables.live_tables()]
        if jobs:
            try:  # each query's state across restarts, in the store (osquery keeps it in its database)
                state: ScheduleState | None = ScheduleState(st.db)
            except ScheduleStateError as exc:
                say(f"{exc}: the scheduled queries keep their state in memory only", "warning")
                state = None
            scheduler = Scheduler(
                st.db,
                jobs,
                results,
                event_tables=[t.name for t in tables.event_tables()],
                live_tables=live,
                refresh_live=store.refresh_live,
                before_run=store.flush,
                decorators=decorators,
                denylist_duration=config.scheduler.denylist_duration,
                pack_refresh_interval=config.scheduler.pack_refresh_interval,
                state=state,
            )
            for err in scheduler.start():  # a decorator that failed: said, the agent goes on
                say(str(err), "warning")
        if config.fleet.queries:
            from auditsql.fleet.query import start_responder

            responder = start_responder(
                config, host_identifier(rl.host_identifier, rl.specified_identifier), say
            )
        uptime_base = boot_time()
        pipeline = Pipeline(
            Settings(
                resolve_ids=st.resolve_ids,
                events_json=bool(outputs),
                include_failed_execs=config.tables.include_failed_execs,
                stat_executable=config.tables.stat_executable,
                process_tree=config.tables.process_tree,
                fork_events=config.tables.fork_events,
                live=True,
                uptime_base=uptime_base,
                tree_key=TREE_KEY,
            )
        )
        loss = LossAccount()
        if st.journal and k.source != "plugin":  # docs/reliability.md: nothing read is lost to a kill
            # a killed run's socket keeper first: it stops writing the journal before it is opened
            keeper = _keeper(k, journal_dir(st.db))
            journal = open_journal(st.db, store.journal_position())
            store.on_journal_commit = journal.release
        sink = RunSink(
            store,
            tables.loss_rows,
            uptime_base=uptime_base,
            scheduler=scheduler,
            expiry=st.events_expiry,
            max_rows=st.events_max,
            max_size=st.max_size,
            retention_interval=st.retention_interval,
            outputs=outputs,
            loss=loss,
            disk_full_action=st.disk_full_action,
            space_left=parse_space(st.space_left),
            journal_mark=pipeline.mark if journal is not None else None,
        )
        if scheduler is not None:
            scheduler.before_run = sink.commit  # a full store's file system is the sink's to handle
        details = [
            f"db {st.db}",
            f"results log {rl.path or '(none)'}",
            f"{len(jobs)} scheduled {'query' if len(jobs) == 1 else 'queries'}",
        ]
        if outputs:
            details.append("outputs " + ", ".join(outputs.names()))
        if config.tables.process_tree:
            _start_tree(store, pipeline, sink)
        if config.metrics.listen:
            metrics = _metrics(config.metrics.listen, store, outputs, sink, results)
            details.append(f"metrics http://{config.metrics.listen}/metrics")
        plan = LivePlan(
            source=k.source,
            rules_file=rules_file,
            knobs=knobs,
            rule_knobs=rule_knobs,
            exclude_self=k.exclude_self,
            state_file=k.state_file,
            policy=k.policy,
            queue_size=k.queue_size,
            rcvbuf=k.rcvbuf,
            verb="running",
            purpose="by auditsql run",
            manages="run",
            locked_hint="use --rules none and --no-exclude-self",
            details=details,
            journal=journal,
            keeper=keeper,
        )
        plan.proc_sock = _tree_connector(config, k.source, details)
        plan.extra_rules += proctree_rules(config, connector=plan.proc_sock is not None) + feature_rules
        pipeline.seed_listeners()  # the ports of servers already listening, for their accept rows
        plan.extra_rules += pushdown  # last: its never rules must shadow only its own rules
        code = run_live(
            plan,
            sink,
            pipeline,
            stop,
            config.status.interval,
            duration,
            config.status.stats_file or None,
            loss,
        )
        if journal is not None and code == 0:
            store.flush()
            journal.clear()  # a clean stop: everything read is stored
    except (Stop, StoreError, ResultsLogError, JournalError, KeeperError) as exc:
        say(str(exc), "error")
        code = getattr(exc, "code", 1)
    except (OutputError, MetricsError) as exc:  # before the kernel was touched
        say(str(exc), "error")
        code = 2
    finally:
        if outputs is not None:
            outputs.close()  # already drained by RunSink.finish on a normal stop
        if metrics is not None:
            metrics.close()
        if responder is not None:
            responder.stop()
        if scheduler is not None:
            scheduler.close()
        if store is not None:
            try:
                store.close()
            except StoreError as exc:
                say(str(exc), "error")
                code = 1
        if results is not None:
            results.close()
    return code


def _tree_connector(config: Config, source: str, details: list[str]) -> Any:
    """The proc connector socket the process tree reads forks and exits from (``[tables] tree_source``;
    auditsql.kernel.connector), or None when the tree uses audit rules; the start line says which."""
    t = config.tables
    if not t.process_tree or source == "plugin" or t.tree_source == "audit":
        return None
    if t.fork_events:
        if t.tree_source == "connector":
            raise Stop(
                "[tables] tree_source = connector cannot give fork_events' rows: use auto or audit", code=2
            )
        return None
    from auditsql.kernel.connector import open_proc_connector
    from auditsql.kernel.sources import SourceError

    try:
        sock = open_proc_connector()
    except SourceError as exc:
        if t.tree_source == "connector":
            raise Stop(str(exc)) from exc
        details.append(f"process tree from audit rules ({exc})")
        return None
    details.append("process tree from the proc connector")
    return sock


class _TreeSweep:
    """The process tree's periodic /proc check, as one of ``RunSink.row_sources``."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def idle(self, monotonic_now: float) -> Any:
        return self.pipeline.tree_idle(monotonic_now)


def _start_tree(store: Any, pipeline: Any, sink: RunSink) -> None:
    """The process tree (docs/process-tree.md), kept by the pipeline: reload it from the store and seed it from
    /proc, store those rows before the first event; the sink lets it check /proc for exits on idle ticks."""
    import time

    from auditsql.tables.proctree import reload_rows

    pipeline.tree_start(reload_rows(store.conn))
    sink.row_sources.append(_TreeSweep(pipeline))
    sink.batch(pipeline.tree_idle(time.monotonic()))
    sink.commit()


def _outputs(config: Config, host: str) -> Any:
    """The configured outputs (``auditsql.outputs.build``), started; None when there are none."""
    from auditsql.outputs.build import build_outputs

    outs = build_outputs(config, host, say)
    return outs if outs else None


def _metrics(listen: str, store: Any, outputs: Any, sink: RunSink, results: Any) -> Any:
    """Start the Prometheus endpoint (``auditsql.metrics``) over the agent's own counters."""
    from auditsql.agent import live_stats
    from auditsql.kernel.loss import CAUSES
    from auditsql.metrics import AgentCollector, start_metrics

    def stats() -> dict[str, Any]:
        st = dict(live_stats)
        loss = dict(st.get("loss") or {})
        for cause, n in list(sink.output_loss.items()):
            loss[cause] = loss.get(cause, 0) + n
        st["loss"] = loss
        st.update(sink.stats())  # the store's state now, not a second ago
        return st

    collector = AgentCollector(
        stats,
        rows=lambda: dict(store.counts),
        outputs=outputs.counters if outputs else dict,
        results_lines=lambda: results.lines,
        causes=CAUSES,
    )
    return start_metrics(listen, collector)

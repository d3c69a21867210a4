"""The configuration of ``auditsql run``: embedded defaults, an optional TOML (or JSON) file, then flags.

Every key has a default here, so ``auditsql run`` needs no file. A file given with ``--config`` overrides the
keys it names; a command-line flag overrides both. The dataclasses below are the single source of truth: the
loader checks keys and types against them and ``docs/configuration.md`` is generated from them
(``python3 -m auditsql.config > docs/configuration.md``; a test fails when the committed page is stale).

Errors are :class:`ConfigError`, one line naming the file, the line where it can be told (TOML and JSON syntax
errors always; unknown keys and bad values where the key is found in the text) and the key.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from auditsql.kernel.loss import DEFAULT_STATS_FILE
from auditsql.kernel.snapshot import DEFAULT_STATE_FILE
from auditsql.kernel.sources import DEFAULT_QUEUE, DEFAULT_RCVBUF, POLICIES, SOURCES
from auditsql.store.sqlite import DEFAULT_DB, DEFAULT_EXPIRY, DEFAULT_MAX_ROWS, DEFAULT_MAX_SIZE

__all__ = [
    "Config",
    "EventsOutputConfig",
    "FileEventsConfig",
    "FleetConfig",
    "LogConfig",
    "MetricsConfig",
    "NatsOutputConfig",
    "OUTPUTS",
    "OutputConfig",
    "StdoutOutputConfig",
    "SyslogOutputConfig",
    "ConfigError",
    "DecoratorsConfig",
    "SchedulerConfig",
    "build",
    "load",
    "DEFAULT_RESULTS_LOG",
    "HOST_IDENTIFIERS",
    "KernelConfig",
    "ResultsLogConfig",
    "ScheduledQuery",
    "StatusConfig",
    "StoreConfig",
    "TablesConfig",
    "load_config",
    "parse_config",
    "parse_space",
    "render_doc",
    "to_toml",
]

DEFAULT_RESULTS_LOG = "/var/log/auditsql/results.jsonl"
#: osquery's --host_identifier choices that make sense here (``instance`` and ``ephemeral`` do not persist)
HOST_IDENTIFIERS = ("hostname", "uuid", "specified")
#: osquery's schedule_default_interval
DEFAULT_INTERVAL = 3600


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line for the user: names taken from the file (a pack called
    ``"a\nb"``) cannot break it, as line breaks and other control characters are shown escaped."""

    def __str__(self) -> str:
        return _one_line(super().__str__())


def _one_line(text: str) -> str:
    """``text`` with line breaks and other C0 control characters (tab aside) escaped (``\n``, ``\x1b``)."""
    if text.isprintable() or all(c.isprintable() or c == "\t" for c in text):
        return text
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


def _opt(default: Any, doc: str, **meta: Any) -> Any:
    """A config key: its default, its documentation, and checks (``choices``, ``min``, ``flag``, ``none``)."""
    meta["doc"] = doc
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class KernelConfig:
    """Where events come from and what auditsql changes in the kernel while it runs (all undone on exit)."""

    source: str = _opt(
        "auto",
        "`unicast`: register as the kernel's audit daemon; `multicast`: read beside one (auditd) with "
        "CAP_AUDIT_READ; `plugin`: read auditd's plugin stream on stdin; `auto`: multicast when a daemon is "
        "registered, else unicast.",
        choices=SOURCES,
        flag="--source",
    )
    rules: str = _opt(
        "builtin",
        "Rules to load while running, in auditctl syntax: `builtin` (the embedded default: osquery's "
        "process and socket auditing, see `src/auditsql/data/default.rules`), `none`, or a rules file path. "
        "Rules are removed and `-b`/`-r`/`--backlog_wait_time` settings restored on exit.",
        flag="--rules",
    )
    policy: str = _opt(
        "block",
        "When processing falls behind: `block` the reader (the kernel queues, then makes audited processes "
        "wait) or `drop` and count the records (user drops).",
        choices=POLICIES,
        flag="--policy",
    )
    exclude_self: bool = _opt(
        True,
        "Add a rule (removed on exit) so that auditsql's own system calls are never audited.",
        flag="--exclude-self/--no-exclude-self",
    )
    queue_size: int = _opt(DEFAULT_QUEUE, "Records queued between the reader thread and processing.", min=1)
    rcvbuf: int = _opt(DEFAULT_RCVBUF, "Netlink socket receive buffer, bytes.", min=4096)
    backlog_limit: int | None = _opt(
        None,
        "Kernel backlog limit while running, set as given (unset: the rules file's -b, which only raises the "
        "limit - a higher one, or 0 (none), stays - else as found).",
        min=0,
        flag="--backlog-limit",
    )
    rate_limit: int | None = _opt(
        None, "Kernel rate limit, messages/s, while running (unset: as found).", min=0
    )
    backlog_wait_time: int | None = _opt(
        None, "Kernel backlog wait time while running (unset: as found).", min=0
    )
    state_file: str = _opt(
        DEFAULT_STATE_FILE,
        "Where the kernel snapshot and auditsql's changes are kept until undone (`auditsql ctl --restore`).",
        flag="--state-file",
    )
    keeper: bool = _opt(
        True,
        "With `unicast` and `[store] journal`: start the socket keeper, a small process that registers as the "
        "audit daemon on auditsql's socket and holds it, so that a `kill -9` of auditsql loses nothing the "
        "kernel audits until the next start takes the socket over (it journals meanwhile); see "
        "docs/reliability.md.",
    )
    keeper_seconds: float = _opt(
        600.0,
        "How long a keeper whose auditsql was killed journals before it gives up: it then unregisters, undoes "
        "the killed run's changes to the kernel and exits (the journal stays for the next start).",
        min=1,
    )
    keeper_bytes: int = _opt(
        256 << 20,
        "How much a keeper whose auditsql was killed journals at most (bytes) before it gives up the same way.",
        min=1 << 20,
    )
    pushdown: bool = _opt(
        False,
        "Compile the scheduled queries' `WHERE` predicates on kernel-filterable columns (path, uids, success, "
        "syscall...) into the audit rules, so the kernel never builds excluded events; the store then holds "
        "only what some scheduled query can return for the tables they read (docs/pushdown.md, "
        "`auditsql explain`).",
    )


@dataclass(frozen=True)
class StoreConfig:
    """The SQLite store the tables live in."""

    db: str = _opt(
        DEFAULT_DB,
        "The database file (directory created 0700, file 0600).",
        flag="--db",
    )
    events_expiry: int = _opt(
        DEFAULT_EXPIRY,
        "Delete rows whose event time is older than this many seconds (osquery's `events_expiry`, 3600 "
        "there); 0 keeps them.",
        min=0,
    )
    events_max: int = _opt(
        DEFAULT_MAX_ROWS,
        "Keep at most this many rows per table, the newest (osquery's `events_max`, 50000 there); 0: no limit.",
        min=0,
    )
    max_size: int = _opt(
        DEFAULT_MAX_SIZE,
        "Keep the store's pages in use under this many bytes: the oldest events go first (rows of live "
        "processes stay), each deletion a `retention` row of `audit_loss`; 0: no limit.",
        min=0,
    )
    retention_interval: float = _opt(60.0, "Seconds between retention passes.", min=1)
    disk_full_action: str = _opt(
        "drop",
        "What to do when the store's file system is full (auditd's `disk_full_action`): `drop` keeps reading "
        "the kernel (audited programs never wait on auditsql), drops the events the store cannot take and "
        "counts them (`store_full` in the stats, `ctl -s`, metrics, and in `audit_loss` once the store can be "
        "written), tries again every 5 s and goes on by itself when there is room; `stop` ends the run with "
        'one line and exit status 2, the kernel restored (docs/store.md, "A full disk").',
        choices=("drop", "stop"),
    )
    space_left: str = _opt(
        "75M",
        "Warn (one line, again every 10 minutes while it lasts; `auditsql_store_space_low` in the metrics and "
        "`ctl -s`) when the store's file system has less free space than this: bytes with an optional `K`, "
        "`M`, `G` or `T` (powers of 1024; auditd's `space_left` is 75 MB too), or a percentage of the file "
        "system's size (`5%`); `0`: no warning.",
        check="space",
    )
    resolve_ids: bool = _opt(
        True,
        "Resolve numeric ids to user and group names from this host where the event does not carry them.",
        flag="--resolve-ids/--no-resolve-ids",
    )
    journal: bool = _opt(
        True,
        "Journal every record the kernel hands over (`DB.journal/`, private segments of 32 MiB, page cache "
        "only: no fsync) before it is processed, commit the journal position with the rows, and replay from "
        "it at the next start: a `kill -9` loses nothing auditsql had read (a power loss can, as auditd's "
        "`flush = none`). `false`: a kill loses the last second of events (`batch_seconds`) "
        "(docs/reliability.md).",
    )


@dataclass(frozen=True)
class TablesConfig:
    """How events become table rows."""

    include_failed_execs: bool = _opt(
        False,
        "Also store failed execs in `process_events` (`status = 'failed'`, `exit_code`, `errno`); osquery "
        "records only successful ones.",
    )
    stat_executable: bool = _opt(
        False,
        "`stat()` the executable when its row is stored, for `atime`/`mtime`/`ctime` (what osquery does; the "
        "times then describe the file at storage, not at the exec).",
    )
    process_tree: bool = _opt(
        True,
        "Follow forks, execs and exits (threads left out) and keep the process tree: the `process_tree` "
        "table, seeded from /proc at start and kept in the store across restarts (docs/process-tree.md).",
    )
    fork_events: bool = _opt(
        False,
        "Also store fork rows in `process_events` (osquery's `--audit_allow_fork_process_events`); needs "
        "`process_tree`.",
    )
    tree_source: str = _opt(
        "auto",
        "Where the process tree learns of forks and exits: `connector`, the kernel's proc connector (no audit "
        "rule: the cheapest, and forks and exits are not stored as audit events); `audit`, audit rules on "
        "fork/vfork/clone/clone3/exit_group (their events are stored in `audit_events`); `auto`, the connector "
        "when the kernel has one and `fork_events` is off (fork rows need the audited fork), else audit rules "
        "(docs/process-tree.md).",
        choices=("auto", "connector", "audit"),
    )
    udp_sends: bool = _opt(
        False,
        "Audit `sendto`/`sendmsg` calls that carry an address (UDP and other datagrams) as `socket_events` "
        "rows. The kernel cannot tell a call with an address from one without (the address is behind a "
        "pointer), so every sendto/sendmsg on the host is audited, TCP sends included: costly "
        "(docs/connections.md).",
    )


@dataclass(frozen=True)
class FileEventsConfig:
    """`process_file_events`: kernel watch rules on the paths below (`-w PATH -p wa`); nothing else is audited
    for it (osquery audits every process's read/write system calls instead)."""

    paths: list = _opt([], "Files and directories to watch (a directory covers its whole subtree).")
    permissions: str = _opt(
        "wa", "The watch permissions: `r` read, `w` write, `x` execute, `a` attribute change."
    )


@dataclass(frozen=True)
class ResultsLogConfig:
    """Scheduled query results, one JSON line per row in osquery's event format."""

    path: str = _opt(
        DEFAULT_RESULTS_LOG,
        "The results log (directory created 0700, file 0600); an empty string writes none.",
        flag="--results-log",
    )
    host_identifier: str = _opt(
        "hostname",
        "`hostIdentifier` of each line, as osquery's `--host_identifier`: `hostname`, `uuid` (the DMI product "
        "UUID, else /etc/machine-id) or `specified` (`specified_identifier`).",
        choices=HOST_IDENTIFIERS,
        flag="--host-identifier",
    )
    specified_identifier: str = _opt("", 'The host identifier when `host_identifier = "specified"`.')
    epoch: int = _opt(0, "`epoch` of each line (osquery's `--schedule_epoch`).", min=0)
    decorations: dict = _opt(
        {},
        "Static `decorations` added to every line, a table of strings (osquery's decorators are queries; "
        "osquery leaves the key out when there are none, auditsql always writes it).",
    )
    rotate: bool = _opt(True, "Rotate the results log by size, as osquery's `--logger_rotate`.")
    rotate_size: int = _opt(
        26214400, "Rotate when the file reaches this many bytes (osquery's `--logger_rotate_size`).", min=1
    )
    rotate_max_files: int = _opt(25, "Rotated files kept (osquery's `--logger_rotate_max_files`).", min=1)
    snapshot_path: str = _opt(
        "",
        "Write snapshot query lines to this file instead of `path` (osquery's filesystem logger writes "
        "`osqueryd.snapshots.log` beside `osqueryd.results.log`); empty: to `path`.",
    )
    snapshot_event_type: bool = _opt(
        False,
        'Write a snapshot query\'s rows as one line each, `"action": "snapshot"` with `columns` (osquery\'s '
        "`--logger_snapshot_event_type`), instead of one line with a `snapshot` array.",
    )
    decorations_top_level: bool = _opt(
        False,
        "Put decorations at the top level of each line instead of in `decorations` (osquery's "
        "`--decorations_top_level`).",
    )


@dataclass(frozen=True)
class EventsOutputConfig:
    """`[output.events]`: every event as one JSON line (laurel's shape, or ECS for Elastic)."""

    enabled: bool = _opt(False, "Write the event stream.")
    path: str = _opt("/var/log/auditsql/events.jsonl", "The file (directory created 0700, file 0600).")
    format: str = _opt(
        "laurel",
        "`laurel`: the event JSON of docs/event-json.md; `ecs`: Elastic Common Schema, as Auditbeat.",
        choices=("laurel", "ecs"),
    )
    rotate: bool = _opt(True, "Rotate by size.")
    rotate_size: int = _opt(104857600, "Rotate when the file reaches this many bytes.", min=1)
    rotate_max_files: int = _opt(10, "Rotated files kept.", min=1)
    buffer: int = _opt(
        100000, "Events held in memory while the writer is behind; more are counted as lost.", min=1
    )


@dataclass(frozen=True)
class SyslogOutputConfig:
    """`[output.syslog]`: RFC 5424 messages to the local syslog socket."""

    enabled: bool = _opt(False, "Send to syslog.")
    socket: str = _opt("/dev/log", "The local syslog datagram socket.")
    facility: str = _opt("authpriv", "Syslog facility name (`authpriv`, `local0`...`local7`, `daemon`...).")
    app_name: str = _opt("auditsql", "APP-NAME of each message.")
    events: bool = _opt(False, "Send every event.")
    results: bool = _opt(True, "Send scheduled query results.")
    buffer: int = _opt(
        100000, "Messages held in memory while the socket is behind; more are counted as lost.", min=1
    )


@dataclass(frozen=True)
class StdoutOutputConfig:
    """`[output.stdout]`: JSON lines on standard output."""

    enabled: bool = _opt(False, "Write to standard output.")
    events: bool = _opt(True, "Write every event.")
    results: bool = _opt(False, "Write scheduled query results.")
    buffer: int = _opt(
        100000, "Lines held in memory while stdout is behind; more are counted as lost.", min=1
    )


@dataclass(frozen=True)
class NatsOutputConfig:
    """`[output.nats]`: table rows and scheduled query results to NATS JetStream (docs/fleet.md)."""

    enabled: bool = _opt(False, "Publish to NATS JetStream.")
    url: str = _opt("nats://127.0.0.1:4222", "Server URL; several, comma-separated, for a cluster.")
    host: str = _opt(
        "",
        "This agent's identity in subjects and the `host` column; empty: the results log's host identifier.",
    )
    subject_prefix: str = _opt("auditsql", "Subjects are `PREFIX.HOST.TABLE`.")
    stream: str = _opt("AUDITSQL", "The JetStream stream (created over `PREFIX.>` when missing).")
    events: bool = _opt(True, "Publish event table rows.")
    results: bool = _opt(True, "Publish scheduled query results.")
    spool_dir: str = _opt(
        "/var/lib/auditsql/spool", "The on-disk queue used while the server is unreachable."
    )
    spool_max_bytes: int = _opt(
        1073741824, "Spool size bound; beyond it messages are counted as lost.", min=4096
    )
    ack_timeout: float = _opt(5.0, "Seconds to wait for a publish acknowledgement.", min=0.1)
    buffer: int = _opt(100000, "Messages held in memory before the spool takes them.", min=1)
    creds: str = _opt("", "A NATS credentials file (JWT and nkey seed).")
    nkeys_seed: str = _opt("", "An nkey seed file.")
    user: str = _opt("", "User name.")
    password: str = _opt("", "Password.")
    token: str = _opt("", "Authentication token.")
    tls_ca: str = _opt("", "CA certificate file for TLS.")
    tls_cert: str = _opt("", "Client certificate file for TLS.")
    tls_key: str = _opt("", "Client key file for TLS.")


@dataclass(frozen=True)
class OutputConfig:
    """Outputs besides the store and the results log, each with its own buffer and counters."""

    events: EventsOutputConfig = field(default_factory=EventsOutputConfig)
    syslog: SyslogOutputConfig = field(default_factory=SyslogOutputConfig)
    stdout: StdoutOutputConfig = field(default_factory=StdoutOutputConfig)
    nats: NatsOutputConfig = field(default_factory=NatsOutputConfig)


@dataclass(frozen=True)
class FleetConfig:
    """Fleet-wide queries over NATS (the `[output.nats]` connection settings; docs/fleet.md)."""

    queries: bool = _opt(False, "Answer read-only fleet queries (`auditsql fleet query`).")
    query_timeout: float = _opt(10.0, "Seconds a fleet query may run here before it is interrupted.", min=0.1)
    max_rows: int = _opt(100000, "Rows returned at most per answer (the answer says when it was cut).", min=1)
    tables: list = _opt(
        [],
        "Tables a fleet query may read (defence in depth beside NATS permissions); empty: every table.",
    )


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics."""

    listen: str = _opt("", "HOST:PORT to serve `/metrics` on; empty: no metrics.", flag="--metrics")


@dataclass(frozen=True)
class LogConfig:
    """auditsql's own messages (stderr; the journal under systemd)."""

    level: str = _opt(
        "info", "Lowest level written.", choices=("debug", "info", "warning", "error"), flag="--log-level"
    )


@dataclass(frozen=True)
class StatusConfig:
    """The status line and counters."""

    interval: float = _opt(
        10.0,
        "Seconds between one-line status reports on stderr (events/s, rows, kernel lost, user drops); 0: none.",
        min=0,
        flag="--status-interval",
    )
    stats_file: str = _opt(
        DEFAULT_STATS_FILE,
        "Counters rewritten every second, shown by `auditsql ctl -s`; an empty string writes none.",
        flag="--stats-file",
    )


@dataclass(frozen=True)
class SchedulerConfig:
    """How scheduled queries are timed (osquery's `schedule_*` and `pack_*` flags)."""

    splay_percent: int = _opt(
        0,
        "Spread each query's interval by up to this percent, at random, once at start (osquery's "
        "`schedule_splay_percent`, 10 there and in a translated osquery configuration); 0: exact intervals.",
        min=0,
    )
    denylist_duration: int = _opt(
        0,
        "Seconds a query interrupted by the time limit is kept from running (see `denylist`; osquery's "
        "watchdog denylists for a day, 86400, the value a translated osquery configuration gets); 0: never.",
        min=0,
    )
    pack_refresh_interval: int = _opt(
        3600,
        "Seconds between checks of a query's `discovery` queries (osquery's `pack_refresh_interval`).",
        min=1,
    )


@dataclass(frozen=True)
class DecoratorsConfig:
    """osquery's decorators: queries whose first row's columns are added to every results-log line's
    `decorations` (docs/osquery.md)."""

    load: list = _opt([], "Run once at start.")
    always: list = _opt([], "Run before every scheduled query's run.")
    interval: dict = _opt(
        {},
        'Seconds (a multiple of 60) to the queries run at that interval, e.g. `{60 = ["SELECT ..."]}`.',
        values="list",
    )


@dataclass(frozen=True)
class ScheduledQuery:
    """One ``[schedule.NAME]`` entry (osquery's ``schedule`` shape)."""

    name: str
    query: str = _opt(MISSING, "The SQL (required).")
    interval: int = _opt(
        DEFAULT_INTERVAL, "Seconds between runs (osquery's schedule_default_interval).", min=1
    )
    snapshot: bool = _opt(
        False,
        'Log every row of each run as one osquery snapshot line (`"action": "snapshot"`) instead of the '
        "rows new since the previous run.",
    )
    removed: bool = _opt(
        True,
        'Log rows that left the result set as `"action": "removed"` lines (a query reading no event table is '
        "differential, as osquery's: each run logs the rows added and removed since the previous run; event "
        "rows are only ever `added`).",
    )
    denylist: bool = _opt(
        True,
        "A run interrupted by the time limit keeps the query from running for `[scheduler] denylist_duration` "
        "seconds (osquery's watchdog denylist); `false`: it runs again at its next interval.",
    )
    discovery: list = _opt(
        [],
        "SQL queries that must all return rows for this query to run, checked every "
        "`[scheduler] pack_refresh_interval` seconds (an osquery pack's `discovery`).",
    )
    description: str = _opt("", "Free text.")


@dataclass(frozen=True)
class Config:
    kernel: KernelConfig = field(default_factory=KernelConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    tables: TablesConfig = field(default_factory=TablesConfig)
    results_log: ResultsLogConfig = field(default_factory=ResultsLogConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    file_events: FileEventsConfig = field(default_factory=FileEventsConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    decorators: DecoratorsConfig = field(default_factory=DecoratorsConfig)
    schedule: dict[str, ScheduledQuery] = field(default_factory=dict)
    #: the file the configuration came from, or None
    source: str | None = None
    #: what an osquery configuration holds that has no meaning here: summary lines (docs/osquery.md)
    notes: tuple[str, ...] = ()


SECTIONS: dict[str, type] = {
    "kernel": KernelConfig,
    "store": StoreConfig,
    "tables": TablesConfig,
    "results_log": ResultsLogConfig,
    "status": StatusConfig,
    "file_events": FileEventsConfig,
    "fleet": FleetConfig,
    "metrics": MetricsConfig,
    "log": LogConfig,
    "scheduler": SchedulerConfig,
    "decorators": DecoratorsConfig,
}
#: ``[output.NAME]``: the output types
OUTPUTS: dict[str, type] = {
    "events": EventsOutputConfig,
    "syslog": SyslogOutputConfig,
    "stdout": StdoutOutputConfig,
    "nats": NatsOutputConfig,
}
_TOP_KEYS = (*SECTIONS, "output", "schedule")


# -- loading -------------------------------------------------------------------------------------------------


def load_config(path: str | None, flagfile: str | None = None) -> Config:
    """Read ``path`` over the defaults: auditsql's TOML, or JSON - auditsql's own keys, or an osquery
    configuration (told by its content, not its name; also a directory of ``*.conf`` files), translated by
    :mod:`auditsql.osquery.translate` together with an osquery ``flagfile``."""
    return load(path, flagfile)[0]


def load(path: str | None, flagfile: str | None = None) -> tuple[Config, list[str]]:
    """:func:`load_config`, and for an osquery configuration one line per query or decorator not run."""
    if path is not None and not os.path.isdir(path):
        text = read_text(path)
        from auditsql.osquery import is_native_json, looks_like_json

        native = not looks_like_json(text)
        if not native:
            doc = json_object(text, path)
            native = is_native_json(doc)
            if native:
                config = _build(doc, _Locator(text, path))
        else:
            config = parse_config(text, path)
        if native:
            if flagfile is not None:
                raise ConfigError(
                    f"--flagfile {flagfile}: osquery flags go with an osquery configuration; {path} is "
                    "auditsql's own (set the keys there)"
                )
            return config, []
    from auditsql.osquery.translate import translate

    tr = translate(path, flagfile)
    return tr.config, tr.details


def read_text(path: str) -> str:
    """A configuration file's text (UTF-8, a leading byte order mark dropped); :class:`ConfigError` when it
    cannot be read or is not UTF-8."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark some editors write
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def json_object(text: str, path: str) -> dict[str, Any]:
    """JSON as osquery reads it (``//`` and ``/* */`` comments, trailing commas): an object, or
    :class:`ConfigError` with the line and column."""
    from auditsql.osquery.jsonc import JsoncError, loads

    try:
        doc = loads(text)
    except JsoncError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.col}: invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: invalid JSON: the configuration must be an object")
    return doc


_AT = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def parse_config(text: str, path: str = "<config>", json_syntax: bool = False) -> Config:
    if json_syntax:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: invalid JSON: the configuration must be an object")
    else:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = _AT.match(str(exc))
            if m:
                raise ConfigError(f"{path}:{m['line']}:{m['col']}: invalid TOML: {m['msg']}") from None
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _build(raw, _Locator(text, path))


class _Locator:
    """Best effort: the line of ``[section] key = ...`` (or ``"key":`` in JSON) in the text, for messages."""

    def __init__(self, text: str, path: str) -> None:
        self.lines = text.splitlines()
        self.path = path

    def where(self, *keys: str) -> str:
        line = self._find(keys)
        return f"{self.path}:{line}" if line else self.path

    def _find(self, keys: tuple[str, ...]) -> int | None:
        if not keys:
            return None
        *table, key = keys
        want_table = ".".join(table)
        current = ""
        qkey = re.escape(key)
        key_re = re.compile(rf"""^\s*(?:{qkey}|"{qkey}"|'{qkey}')\s*[=:]""")
        dotted_re = re.compile(rf"""^\s*{re.escape(".".join(keys))}\s*=""")
        header_re = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
        json_re = re.compile(rf'"{qkey}"\s*:')
        for n, line in enumerate(self.lines, 1):
            h = header_re.match(line)
            if h:
                current = re.sub(r"\s*\.\s*", ".", h.group(1)).replace('"', "")
                if current == ".".join(keys):
                    return n
                continue
            if current == want_table and key_re.match(line):
                return n
            if current == "" and dotted_re.match(line):
                return n
        for n, line in enumerate(self.lines, 1):  # JSON, or a key the simple scan missed
            if json_re.search(line):
                return n
        return None


def _type_name(v: object) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return type(v).__name__


def _shown(v: object) -> str:
    """A value as it would be written in TOML (for messages)."""
    try:
        return _toml_value(v)
    except TypeError:
        return repr(v)


def _check_value(f: Any, value: object, name: str, loc: _Locator, keys: tuple[str, ...]) -> object:
    meta = f.metadata
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    where = loc.where(*keys)

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {name}: expected {expected}, got {_type_name(value)} ({_shown(value)})")

    given = value

    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise bad("true or false")
    elif kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad("a number")
        value = float(value)
    elif kind.startswith("str"):
        if not isinstance(value, str):
            raise bad("a string")
    elif kind.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("an array of strings")
    elif kind.startswith("dict") and meta.get("values") == "list":
        if not isinstance(value, dict):
            raise bad("a table of arrays of strings")
        for k, v in value.items():
            if not (k.isdigit() and int(k) > 0 and int(k) % 60 == 0):
                raise ConfigError(f"{loc.where(*keys, k)}: {name}.{k}: expected seconds, a multiple of 60")
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(
                    f"{loc.where(*keys, k)}: {name}.{k}: expected an array of strings, "
                    f"got {_type_name(v)} ({_shown(v)})"
                )
    elif kind.startswith("dict"):
        if not isinstance(value, dict):
            raise bad("a table of strings")
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConfigError(
                    f"{loc.where(*keys, k)}: {name}.{k}: expected a string, got {_type_name(v)} ({_shown(v)})"
                )
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{where}: {name}: expected one of {', '.join(choices)}, got {_shown(value)}")
    low = meta.get("min")
    if low is not None and isinstance(value, int | float) and value < low:
        raise ConfigError(f"{where}: {name}: must be >= {low}, got {_shown(given)}")
    check = meta.get("check")
    if check is not None:
        try:
            _CHECKS[check](value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {name}: {exc}, got {_shown(given)}") from None
    return value


_SPACE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SPACE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]?(?:i?b)?)\s*", re.IGNORECASE)


def parse_space(text: str) -> tuple[int, float]:
    """``[store] space_left``: ``"75M"`` -> (78643200, 0.0), ``"5%"`` -> (0, 5.0), ``"0"`` -> (0, 0.0). Sizes take
    ``K``, ``M``, ``G``, ``T`` (powers of 1024, ``B``/``iB`` allowed after them); ValueError when it is neither."""
    m = _SPACE_RE.fullmatch(text)
    if m is None:
        raise ValueError("expected a size (75M, 1G, 0) or a percentage (5%)")
    number, unit = float(m.group(1)), m.group(2).lower()
    if unit == "%":
        if number > 100:
            raise ValueError("a percentage is at most 100%")
        return 0, number
    unit = unit.removesuffix("b").removesuffix("i")
    return int(number * _SPACE_UNITS[unit]), 0.0


#: value checks beyond the type, by a key's ``check`` metadata: a ValueError's text is the message
_CHECKS = {"space": parse_space}


def _unknown(loc: _Locator, keys: tuple[str, ...], known: list[str], scope: str) -> ConfigError:
    return ConfigError(
        f"{loc.where(*keys)}: unknown key '{'.'.join(keys)}' (known {scope}: {', '.join(known)})"
    )


def _section(cls: type, raw: object, name: str, loc: _Locator) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{loc.where(name)}: {name}: expected a table, got {_type_name(raw)} ({_shown(raw)})"
        )
    known = {f.name: f for f in fields(cls)}
    values: dict[str, object] = {}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            raise _unknown(loc, (name, key), list(known), f"in [{name}]")
        values[key] = _check_value(f, value, f"{name}.{key}", loc, (name, key))
    return cls(**values)


def _schedule(raw: object, loc: _Locator) -> dict[str, ScheduledQuery]:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{loc.where('schedule')}: schedule: expected a table, got {_type_name(raw)} ({_shown(raw)})"
        )
    out: dict[str, ScheduledQuery] = {}
    known = {f.name: f for f in fields(ScheduledQuery) if f.name != "name"}
    for qname, entry in raw.items():
        scope = f"schedule.{qname}"
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{loc.where('schedule', qname)}: {scope}: expected a table with query and interval, "
                f"got {_type_name(entry)} ({_shown(entry)})"
            )
        values: dict[str, object] = {}
        for key, value in entry.items():
            f = known.get(key)
            if f is None:
                raise _unknown(loc, ("schedule", qname, key), list(known), "in a scheduled query")
            values[key] = _check_value(f, value, f"{scope}.{key}", loc, ("schedule", qname, key))
        if "query" not in values:
            raise ConfigError(f"{loc.where('schedule', qname)}: {scope}: missing key 'query'")
        if not str(values["query"]).strip():
            raise ConfigError(f"{loc.where('schedule', qname, 'query')}: {scope}.query: empty query")
        out[qname] = ScheduledQuery(name=qname, **values)  # type: ignore[arg-type]
    return out


def _outputs(raw: object, loc: _Locator) -> OutputConfig:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{loc.where('output')}: output: expected a table, got {_type_name(raw)} ({_shown(raw)})"
        )
    parts: dict[str, Any] = {}
    for name, value in raw.items():
        cls = OUTPUTS.get(name)
        if cls is None:
            raise ConfigError(
                f"{loc.where('output', name)}: unknown output type '{name}' in [output.{name}] "
                f"(known: {', '.join(OUTPUTS)})"
            )
        parts[name] = _section(cls, value, f"output.{name}", loc)
    return OutputConfig(**parts)


def build(raw: dict[str, Any], path: str) -> Config:
    """A Config from ``{section: {key: value}, "schedule": {...}}`` (values checked as a file's are); errors
    name ``path`` (the osquery translation builds its settings so)."""
    return _build(raw, _Locator("", path))


def _build(raw: dict[str, Any], loc: _Locator) -> Config:
    parts: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            parts[key] = _section(SECTIONS[key], value, key, loc)
        elif key == "schedule":
            parts[key] = _schedule(value, loc)
        elif key == "output":
            parts[key] = _outputs(value, loc)
        else:
            raise _unknown(loc, (key,), list(_TOP_KEYS), "at the top level")
    return Config(**parts, source=loc.path)


# -- flags ---------------------------------------------------------------------------------------------------


def with_overrides(config: Config, overrides: dict[str, dict[str, Any]]) -> Config:
    """``config`` with ``{section: {key: value}}`` replaced (the flags given on the command line)."""
    out = config
    for section, values in overrides.items():
        if values:
            out = replace(out, **{section: replace(getattr(out, section), **values)})
    return out


# -- output --------------------------------------------------------------------------------------------------


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def to_toml(config: Config) -> str:
    """The effective configuration as TOML (unset optional keys as comments)."""
    out: list[str] = []
    for name, cls in SECTIONS.items():
        section = getattr(config, name)
        out.append(f"[{name}]")
        for f in fields(cls):
            v = getattr(section, f.name)
            out.append(f"# {f.name} =  (unset)" if v is None else f"{f.name} = {_toml_value(v)}")
        out.append("")
    for name, cls in OUTPUTS.items():
        section = getattr(config.output, name)
        out.append(f"[output.{name}]")
        for f in fields(cls):
            out.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
        out.append("")
    for q in config.schedule.values():
        out.append(f"[schedule.{_toml_key(q.name)}]")
        for f in fields(ScheduledQuery):
            if f.name != "name":
                out.append(f"{f.name} = {_toml_value(getattr(q, f.name))}")
        out.append("")
    return "\n".join(out)


_DOC_HEAD = """\
# Configuration of `auditsql run`

<!-- Generated from src/auditsql/config.py by `python3 -m auditsql.config > docs/configuration.md`;
     tests/agent/test_config.py fails when this page is stale. -->

`auditsql run` needs no configuration: every key below has a default. `--config FILE` reads a TOML file (or
JSON with the same keys) whose keys override the defaults; command-line flags override both. A JSON file with
osquery's keys (`options`, `schedule`, `packs`, `decorators`, `file_paths`), a directory of them, and
`--flagfile osquery.flags` are osquery's configuration, read as it is: see [docs/osquery.md](osquery.md).
The format is told by the content, not the name. `auditsql run --print-config` prints the effective
configuration as TOML (and, for an osquery configuration, the summary of what has no meaning here) and exits;
`auditsql check-config FILE` checks a configuration without running.
An unknown key, a value of the wrong type or out of range, or a syntax error stops `auditsql run` before it
touches the kernel, with one line naming the file, the line and the key.

See `examples/auditsql.toml` for a commented example.

With no configuration, `auditsql run` reads the kernel's audit events (multicast beside a running auditd,
else as the audit daemon), loads osquery's process and socket rules, stores every event in
`/var/lib/auditsql/auditsql.db` (the tables of `docs/tables.md`), runs no scheduled query, and prints a status
line every 10 s on stderr. SIGTERM or SIGINT commits the store, runs every scheduled query a last time, closes
the results log and puts the kernel back as found (rules removed, settings restored, daemon pid released).
Errors - not root, audit locked (`enabled 2`), another daemon owning the socket with `source = "unicast"`, an
unwritable database or results log, a bad configuration or scheduled query - are one line on stderr and a
non-zero exit status (2 for configuration errors, 1 otherwise), with the kernel untouched.
"""

_DOC_SCHEDULE = """\
## `[schedule.NAME]`

Scheduled queries, osquery's `schedule` shape (`{"schedule": {"NAME": {"query": ..., "interval": ...}}}` in a
JSON file). Each query runs every `interval` seconds, the first time `interval` seconds after the start, and
once more when `auditsql run` stops. Every row it returns is written to the results log as one JSON line in
osquery's *event format*.

| key | type | default | meaning |
|---|---|---|---|
{rows}

### Only new rows: how event tables are shadowed

osquery's event tables return, to a scheduled query, only the events that arrived since that query's previous
run (its "events optimization"). auditsql does the same with SQLite's name resolution: an unqualified table
name is looked up in the `temp` schema before `main`. Before each run the scheduler, on its own read-only
connection, creates for every event table `T` (every table but the live ones)

```sql
CREATE TEMP VIEW T AS SELECT * FROM main.T WHERE rowid > :last AND rowid <= :now
```

where `:now` is the table's largest rowid at the start of this run and `:last` the one at the start of the
previous run of *the same query* (at the first run: when `auditsql run` started, so the first run covers the
rows stored since the start; after a restart: where the query read up to before it, so no row is skipped or
logged twice across restarts). The query text is run unchanged, so it sees only the new rows; a query may still
read everything by naming `main.T`. Rows are inserted with increasing rowids, so no row is returned twice or
skipped; if retention emptied a table (its largest rowid went down) the range starts again from 0.
`snapshot = true` queries see whole tables. Queries naming a live table (`audit_status`, `audit_rules`) get it
refreshed from the kernel first. A query taking longer than 60 s is interrupted; an error is reported on stderr
and the query runs again at its next interval (covering the rows it missed).

### Results log lines

One line per row, keys in osquery's order (its `serializeEvent`), for example:

```json
{"name":"execs","hostIdentifier":"web1","calendarTime":"Wed Nov 25 08:00:00 2026 UTC","unixTime":1795593600,\
"epoch":0,"counter":0,"numerics":false,"decorations":{},"columns":{"cmdline":"/bin/echo hi","pid":"4242"},\
"action":"added"}
```

- `calendarTime`: the run's time, UTC, C `asctime` form plus ` UTC` (`"Mon May  2 22:27:32 2016 UTC"`);
  `unixTime`: the same as an integer;
- `counter`: per query; an event query's is `0` for its first run that returned rows, then incremented by
  one for every run that returned rows; a differential query's is `0` for its first run (all its rows
  `added`), then incremented by one for every run whose result set changed (osquery's `addNewResults`);
  snapshot lines always carry `0`, as osquery's;
- `numerics`: always `false`: every value in `columns` is a string (SQL NULL is `""`, osquery's
  `--nullvalue` default; a float is written with 17 significant digits and at least one decimal, osquery's
  `castVariant`); `columns` keys are sorted by name (osquery keeps a row in a sorted map);
- `decorations`: the `[results_log.decorations]` table and the `[decorators]` queries' columns, keys sorted,
  `{}` when there are none (osquery omits the key when no decorator is configured; auditsql always writes
  it, so every line has the same keys); top-level keys instead with `decorations_top_level`;
- `snapshot = true` lines have `"snapshot": [rows...]` and `"action": "snapshot"` instead of `columns`
  (`snapshot_event_type`: one line per row with `columns` and `"action": "snapshot"`);
- a query that reads no event table (only live tables, or none) is differential, as osquery's: each run logs
  the rows added since the previous run and, unless `removed = false`, the rows removed
  (`"action": "removed"`, written first).

### Across restarts

As osquery keeps it in its database, each scheduled query's state is kept in the store (the `audit_schedule`
table, one row per query name, written after each run's lines): its SQL, the `epoch`, the `counter`, a
differential query's previous result set, and the rowids an event query has read up to. After a restart a
differential query logs only what changed since its last run, an event query goes on after the last row it
read, and the counters go on. A query whose SQL changed starts afresh (every row `added`, counter `0`, event
rows from this start on); another `epoch` (`[results_log] epoch`, osquery's `schedule_epoch`) starts the
results and the counters afresh, event rows still going on where they were read. The state of a query no
longer scheduled is deleted after a week without a run (osquery's `Config::purge`). A crash between a run's
lines and its state logs that run again after the restart rather than losing it.

The results log is rotated by size as osquery's filesystem logger rotates (`rotate`, `rotate_size`,
`rotate_max_files` in `[results_log]`): `PATH.1` is the newest rotated file, `PATH.2.gz`... the older ones
(docs/outputs.md).
"""


def render_doc() -> str:
    """docs/configuration.md."""
    out = [_DOC_HEAD]
    for name, cls in SECTIONS.items():
        out.append(f"## `[{name}]`\n")
        out.append((cls.__doc__ or "").strip() + "\n")
        out.append("| key | type | default | flag | meaning |")
        out.append("|---|---|---|---|---|")
        for f in fields(cls):
            out.append(_doc_row(f, with_flag=True))
        out.append("")
    for name, cls in OUTPUTS.items():
        out.append(f"## `[output.{name}]`\n")
        out.append((cls.__doc__ or "").strip() + "\n")
        out.append("| key | type | default | meaning |")
        out.append("|---|---|---|---|")
        for f in fields(cls):
            out.append(_doc_row(f, with_flag=False))
        out.append("")
    rows = "\n".join(_doc_row(f, with_flag=False) for f in fields(ScheduledQuery) if f.name != "name")
    out.append(_DOC_SCHEDULE.replace("{rows}", rows))
    return "\n".join(out)


def _doc_row(f: Any, with_flag: bool) -> str:
    meta = f.metadata
    kind = f.type if isinstance(f.type, str) else str(f.type)
    kind = {
        "dict": "table",
        "list": "array of strings",
        "int | None": "integer",
        "int": "integer",
        "float": "number",
        "str": "string",
    }.get(kind, kind.replace("bool", "boolean"))
    if f.default is not MISSING:
        default = "unset" if f.default is None else f"`{_toml_value(f.default)}`"
    elif f.default_factory is not MISSING:
        default = f"`{_toml_value(f.default_factory())}`"
    else:
        default = "required"
    doc = meta["doc"]
    if meta.get("choices"):
        doc += " One of " + ", ".join(f"`{c}`" for c in meta["choices"]) + "."
    cells = [f"`{f.name}`", kind, default]
    if with_flag:
        cells.append(f"`{meta['flag']}`" if meta.get("flag") else "")
    cells.append(doc)
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    print(render_doc(), end="")

"""``auditsql run``'s configuration: defaults, file overrides, flag overrides, exact error messages, the doc."""

from __future__ import annotations

import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditsql.config import (
    Config,
    ConfigError,
    KernelConfig,
    ResultsLogConfig,
    ScheduledQuery,
    StatusConfig,
    StoreConfig,
    TablesConfig,
    load_config,
    parse_config,
    render_doc,
    to_toml,
    with_overrides,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keep_signals() -> Iterator[None]:
    """``auditsql run`` installs SIGINT/SIGTERM/SIGHUP handlers; put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def run_cli(*args: str) -> tuple[int, str, str]:
    from auditsql.cli import main

    res = CliRunner().invoke(main, ["run", *args])
    return res.exit_code, res.stdout, res.stderr


def err(text: str, path: str = "cfg.toml", json_syntax: bool = False) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path, json_syntax=json_syntax)
    return str(info.value)


# -- defaults --------------------------------------------------------------------------------------------------


def test_defaults() -> None:
    c = Config()
    assert c.kernel == KernelConfig(
        source="auto",
        rules="builtin",
        policy="block",
        exclude_self=True,
        queue_size=65536,
        rcvbuf=8388608,
        backlog_limit=None,
        rate_limit=None,
        backlog_wait_time=None,
        state_file="/run/auditsql/snapshot.json",
    )
    assert c.store == StoreConfig(
        db="/var/lib/auditsql/auditsql.db",
        events_expiry=604800,
        events_max=1000000,
        retention_interval=60.0,
        resolve_ids=True,
    )
    assert c.tables == TablesConfig(include_failed_execs=False, stat_executable=False)
    assert c.results_log == ResultsLogConfig(
        path="/var/log/auditsql/results.jsonl",
        host_identifier="hostname",
        specified_identifier="",
        epoch=0,
        decorations={},
    )
    assert c.status == StatusConfig(interval=10.0, stats_file="/run/auditsql/stats.json")
    assert c.schedule == {}
    assert parse_config("", "empty.toml") == Config(source="empty.toml")


def test_builtin_rules_are_osquerys() -> None:
    from auditsql.agent import builtin_rules_path, load_rules

    text = Path(builtin_rules_path()).read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "-b 4096",
        "-a always,exit -F arch=b64 -S execve,execveat,bind,connect,accept,accept4",
        "-a always,exit -F arch=b32 -S execve,execveat,bind,connect,accept4",
    ]
    rules = load_rules(builtin_rules_path(), "by auditsql run", "run")
    assert rules.knobs == {"backlog_limit": 4096}
    assert rules.notes == []
    assert [where.rsplit(":", 1)[1] for where, _ in rules.rules] == ["19", "20"]


# -- overrides -------------------------------------------------------------------------------------------------

FULL = """\
[kernel]
source = "multicast"
rules = "/etc/audit/rules.d/x.rules"
policy = "drop"
exclude_self = false
queue_size = 1000
rcvbuf = 65536
backlog_limit = 8192
rate_limit = 100
backlog_wait_time = 0
state_file = "/tmp/s.json"

[store]
db = "/tmp/a.db"
events_expiry = 0
events_max = 10
retention_interval = 5
resolve_ids = false

[tables]
include_failed_execs = true
stat_executable = true

[results_log]
path = ""
host_identifier = "specified"
specified_identifier = "web-1"
epoch = 7
decorations = { dc = "east", "rack id" = "r1" }

[status]
interval = 0
stats_file = ""

[schedule.execs]
query = "SELECT * FROM process_events"
interval = 30
description = "every exec"

[schedule."status snapshot"]
query = "SELECT * FROM audit_status"
snapshot = true
removed = false
"""


def test_every_key_overrides_its_default() -> None:
    c = parse_config(FULL, "full.toml")
    assert c == Config(
        kernel=KernelConfig(
            source="multicast",
            rules="/etc/audit/rules.d/x.rules",
            policy="drop",
            exclude_self=False,
            queue_size=1000,
            rcvbuf=65536,
            backlog_limit=8192,
            rate_limit=100,
            backlog_wait_time=0,
            state_file="/tmp/s.json",
        ),
        store=StoreConfig(
            db="/tmp/a.db", events_expiry=0, events_max=10, retention_interval=5.0, resolve_ids=False
        ),
        tables=TablesConfig(include_failed_execs=True, stat_executable=True),
        results_log=ResultsLogConfig(
            path="",
            host_identifier="specified",
            specified_identifier="web-1",
            epoch=7,
            decorations={"dc": "east", "rack id": "r1"},
        ),
        status=StatusConfig(interval=0.0, stats_file=""),
        schedule={
            "execs": ScheduledQuery(
                name="execs", query="SELECT * FROM process_events", interval=30, description="every exec"
            ),
            "status snapshot": ScheduledQuery(
                name="status snapshot",
                query="SELECT * FROM audit_status",
                interval=3600,
                snapshot=True,
                removed=False,
            ),
        },
        source="full.toml",
    )
    # every key of every section is in FULL: nothing left at its default by accident
    for name in ("kernel", "store", "tables", "results_log", "status"):
        assert getattr(c, name) != getattr(Config(), name)


def test_print_config_round_trips() -> None:
    c = parse_config(FULL, "full.toml")
    again = parse_config(to_toml(c), "full.toml")
    assert again == c
    assert parse_config(to_toml(Config()), "x") == Config(source="x")


def test_partial_file_keeps_other_defaults() -> None:
    c = parse_config('[store]\ndb = "/tmp/x.db"\n', "p.toml")
    assert c.store == StoreConfig(db="/tmp/x.db")
    assert c.kernel == KernelConfig()
    assert c.results_log == ResultsLogConfig()


def test_flags_override_the_file(tmp_path: Path, keep_signals: None) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        '[store]\ndb = "/from/file.db"\nresolve_ids = true\n[kernel]\nsource = "multicast"\nrules = "none"\n'
        '[results_log]\npath = "/from/file.jsonl"\n[status]\ninterval = 3\n'
    )
    code, out, errtext = run_cli(
        "--config",
        str(cfg),
        "--db",
        "/from/flag.db",
        "--source",
        "unicast",
        "--no-resolve-ids",
        "--results-log",
        "",
        "--status-interval",
        "0.5",
        "--no-exclude-self",
        "--backlog-limit",
        "100",
        "--print-config",
    )
    assert (code, errtext) == (0, "")
    got = tomllib.loads(out)
    assert got["store"]["db"] == "/from/flag.db"
    assert got["store"]["resolve_ids"] is False
    assert got["kernel"]["source"] == "unicast"
    assert got["kernel"]["rules"] == "none"  # from the file: no flag given
    assert got["kernel"]["exclude_self"] is False
    assert got["kernel"]["backlog_limit"] == 100
    assert got["results_log"]["path"] == ""
    assert got["status"]["interval"] == 0.5


def test_with_overrides_ignores_flags_not_given() -> None:
    c = parse_config('[store]\ndb = "/a.db"\n', "c.toml")
    assert with_overrides(c, {"store": {}, "kernel": {}}) == c
    assert with_overrides(c, {"store": {"db": "/b.db"}}).store.db == "/b.db"


def test_osquery_json_shape(tmp_path: Path) -> None:
    path = tmp_path / "osquery.json"
    path.write_text(
        '{\n  "schedule": {\n    "execs": {"query": "SELECT pid FROM process_events;", "interval": 60}\n  }\n}\n'
    )
    c = load_config(str(path))
    assert c.schedule == {
        "execs": ScheduledQuery(name="execs", query="SELECT pid FROM process_events;", interval=60)
    }
    assert c.store == StoreConfig()


def test_example_config_loads() -> None:
    c = load_config(str(ROOT / "examples" / "auditsql.toml"))
    assert sorted(c.schedule) == ["audit_loss", "audit_status", "outbound_connections", "shells"]
    assert c.schedule["audit_status"].snapshot is True
    assert c.results_log.decorations == {"environment": "production"}
    assert c.status.interval == 60.0
    assert c.file_events.paths[0] == "/etc/passwd"
    assert (c.output.events.format, c.output.nats.enabled, c.fleet.queries) == ("ecs", False, False)
    from auditsql.query.schedule import Job, check_queries
    from auditsql.tables import REGISTRY

    jobs = [Job(q.name, q.query, q.interval) for q in c.schedule.values()]
    assert check_queries(jobs, [t.ddl() for t in REGISTRY.values()]) == []


def test_doc_is_current() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == render_doc(), (
        "docs/configuration.md is stale: python3 -m auditsql.config > docs/configuration.md"
    )


def test_doc_names_every_key() -> None:
    doc = render_doc()
    for cls in (KernelConfig, StoreConfig, TablesConfig, ResultsLogConfig, StatusConfig, ScheduledQuery):
        for name in cls.__dataclass_fields__:
            if name != "name":
                assert f"| `{name}` |" in doc


# -- errors: exact messages ------------------------------------------------------------------------------------


def test_toml_syntax_error_has_line_and_column() -> None:
    assert err("[store]\ndb = \n") == "cfg.toml:2:6: invalid TOML: Invalid value"
    assert err("[store\n") == "cfg.toml:1:7: invalid TOML: Expected ']' at the end of a table declaration"


def test_json_syntax_error_has_line_and_column() -> None:
    assert err('{"schedule": \n {"q": }}', "o.json", True) == "o.json:2:8: invalid JSON: Expecting value"
    assert err("[1]", "o.json", True) == "o.json: invalid JSON: the configuration must be an object"


def test_unknown_keys_are_named() -> None:
    assert err("[stor]\ndb = 'x'\n") == (
        "cfg.toml:1: unknown key 'stor' (known at the top level: kernel, store, tables, results_log, status, "
        "file_events, fleet, metrics, log, scheduler, decorators, output, schedule)"
    )
    assert err("[store]\ndb = 'x'\n\ndbb = 'y'\n") == (
        "cfg.toml:4: unknown key 'store.dbb' (known in [store]: db, events_expiry, events_max, "
        "max_size, retention_interval, disk_full_action, space_left, resolve_ids, journal)"
    )
    assert err("store.dbb = 1\n") == (
        "cfg.toml:1: unknown key 'store.dbb' (known in [store]: db, events_expiry, events_max, "
        "max_size, retention_interval, disk_full_action, space_left, resolve_ids, journal)"
    )
    assert err("[schedule.q1]\nquery = 'select 1'\nplatform = 'linux'\n") == (
        "cfg.toml:3: unknown key 'schedule.q1.platform' (known in a scheduled query: query, interval, "
        "snapshot, removed, denylist, discovery, description)"
    )
    assert err('{"options": {"host_identifier": "uuid"}}', "osquery.json", True) == (
        "osquery.json:1: unknown key 'options' (known at the top level: kernel, store, tables, results_log, "
        "status, file_events, fleet, metrics, log, scheduler, decorators, output, schedule)"
    )


def test_bad_types_and_values() -> None:
    assert err("[store]\nevents_max = '10'\n") == (
        'cfg.toml:2: store.events_max: expected an integer, got a string ("10")'
    )
    assert err("[store]\nevents_max = true\n") == (
        "cfg.toml:2: store.events_max: expected an integer, got a boolean (true)"
    )
    assert err("[store]\nevents_max = 1.5\n") == (
        "cfg.toml:2: store.events_max: expected an integer, got a float (1.5)"
    )
    assert err("[kernel]\nexclude_self = 'yes'\n") == (
        'cfg.toml:2: kernel.exclude_self: expected true or false, got a string ("yes")'
    )
    assert err("[status]\ninterval = 'often'\n") == (
        'cfg.toml:2: status.interval: expected a number, got a string ("often")'
    )
    assert err("[store]\ndb = 5\n") == "cfg.toml:2: store.db: expected a string, got an integer (5)"
    assert err("[kernel]\nsource = 'fast'\n") == (
        'cfg.toml:2: kernel.source: expected one of auto, unicast, multicast, plugin, got "fast"'
    )
    assert err("[results_log]\nhost_identifier = 'ip'\n") == (
        'cfg.toml:2: results_log.host_identifier: expected one of hostname, uuid, specified, got "ip"'
    )
    assert err("[status]\ninterval = -1\n") == "cfg.toml:2: status.interval: must be >= 0, got -1"
    assert err("[kernel]\nrcvbuf = 100\n") == "cfg.toml:2: kernel.rcvbuf: must be >= 4096, got 100"
    assert err("store = 3\n") == "cfg.toml:1: store: expected a table, got an integer (3)"
    assert err("[results_log.decorations]\na = 1\n") == (
        "cfg.toml:2: results_log.decorations.a: expected a string, got an integer (1)"
    )


def test_bad_schedule_entries() -> None:
    assert err("[schedule.q1]\ninterval = 5\n") == "cfg.toml:1: schedule.q1: missing key 'query'"
    assert err("[schedule.q1]\nquery = '  '\n") == "cfg.toml:2: schedule.q1.query: empty query"
    assert err("[schedule.q1]\nquery = 'select 1'\ninterval = 0\n") == (
        "cfg.toml:3: schedule.q1.interval: must be >= 1, got 0"
    )
    assert err("[schedule.q1]\nquery = 'select 1'\ninterval = 1.5\n") == (
        "cfg.toml:3: schedule.q1.interval: expected an integer, got a float (1.5)"
    )
    assert err("schedule = 3\n") == "cfg.toml:1: schedule: expected a table, got an integer (3)"
    assert err("[schedule]\nq1 = 'select 1'\n") == (
        'cfg.toml:2: schedule.q1: expected a table with query and interval, got a string ("select 1")'
    )


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.toml"))
    assert str(info.value) == f"{tmp_path}/nope.toml: cannot read: No such file or directory"
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(bad))
    assert str(info.value) == f"{bad}: not UTF-8 text (byte 5)"


# -- the command: one line, non-zero exit, nothing touched -----------------------------------------------------


def test_cli_config_error_is_one_line(tmp_path: Path, keep_signals: None) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[store]\ndb = 'x'\nbogus = 1\n")
    code, out, errtext = run_cli("--config", str(cfg))
    assert (code, out) == (2, "")
    assert errtext == (
        f"auditsql: {cfg}:3: unknown key 'store.bogus' (known in [store]: db, events_expiry, events_max, "
        "max_size, retention_interval, disk_full_action, space_left, resolve_ids, journal)\n"
    )


def test_cli_bad_scheduled_query_is_one_line(tmp_path: Path, keep_signals: None) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "[schedule.a]\nquery = 'SELECT nope FROM process_events'\n"
        "[schedule.b]\nquery = 'SELECT * FROM proces_events'\n"
    )
    code, out, errtext = run_cli("--config", str(cfg), "--db", str(tmp_path / "db"))
    assert (code, out) == (2, "")
    assert errtext == f"auditsql: {cfg}: schedule.a.query: no such column: nope (and 1 more)\n"
    assert not (tmp_path / "db").exists()


def test_cli_needs_root(tmp_path: Path, keep_signals: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    code, out, errtext = run_cli("--db", str(tmp_path / "db" / "a.db"), "--results-log", "")
    assert (code, out) == (1, "")
    assert errtext == (
        "auditsql: auditsql run reads the kernel's audit events and needs root (CAP_AUDIT_CONTROL or "
        "CAP_AUDIT_READ); as auditd's plugin use --source plugin\n"
    )
    assert not (tmp_path / "db").exists()


def test_cli_unwritable_db_and_results_log(tmp_path: Path, keep_signals: None) -> None:
    # the plugin source (auditd's stream on stdin) reaches the store without touching the kernel
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "file").write_text("")
    code, out, errtext = run_cli("--source", "plugin", "--db", str(ro / "file" / "a.db"), "--results-log", "")
    assert (code, out) == (1, "")
    assert errtext == (
        f"auditsql: cannot create database {ro}/file/a.db: Not a directory (pass --db with a writable path, "
        "or run as root)\n"
    )
    code, out, errtext = run_cli(
        "--source", "plugin", "--db", str(tmp_path / "ok.db"), "--results-log", str(ro / "file" / "r.jsonl")
    )
    assert (code, out) == (1, "")
    assert errtext == (
        f"auditsql: cannot write the results log {ro}/file/r.jsonl: Not a directory (pass --results-log with "
        "a writable path, or run as root)\n"
    )


def test_cli_plugin_source_refuses_kernel_settings(tmp_path: Path, keep_signals: None) -> None:
    code, out, errtext = run_cli("--source", "plugin", "--rules", "/dev/null", "--db", str(tmp_path / "a.db"))
    assert (code, out) == (2, "")
    assert errtext == (
        "auditsql: rules and kernel settings need a kernel source: with source plugin auditd owns the kernel\n"
    )


def test_cli_bad_rules_file_loads_nothing(tmp_path: Path, keep_signals: None) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text("-a always,exit -F arch=b64 -S execve\n-a always,exit -S nosuchcall\n")
    code, out, errtext = run_cli("--rules", str(rules), "--db", str(tmp_path / "db" / "a.db"))
    assert (code, out) == (1, "")
    assert errtext == f"auditsql: {rules}:2: Syscall name unknown: nosuchcall; nothing loaded\n"
    assert not (tmp_path / "db").exists()


def test_store_full_keys() -> None:
    from auditsql.config import parse_space

    assert (Config().store.disk_full_action, Config().store.space_left) == ("drop", "75M")
    assert [parse_space(t) for t in ("75M", "1G", "512KiB", "2 MB", "100", "0", "5%", "12.5%")] == [
        (75 << 20, 0.0),
        (1 << 30, 0.0),
        (512 << 10, 0.0),
        (2 << 20, 0.0),
        (100, 0.0),
        (0, 0.0),
        (0, 5.0),
        (0, 12.5),
    ]
    cfg = parse_config("[store]\ndisk_full_action = 'stop'\nspace_left = '10%'\n")
    assert (cfg.store.disk_full_action, cfg.store.space_left) == ("stop", "10%")
    assert err("[store]\nspace_left = 'lots'\n") == (
        'cfg.toml:2: store.space_left: expected a size (75M, 1G, 0) or a percentage (5%), got "lots"'
    )
    assert err("[store]\nspace_left = '120%'\n") == (
        'cfg.toml:2: store.space_left: a percentage is at most 100%, got "120%"'
    )
    assert err("[store]\ndisk_full_action = 'suspend'\n") == (
        'cfg.toml:2: store.disk_full_action: expected one of drop, stop, got "suspend"'
    )


def test_a_config_error_is_one_line_whatever_the_names() -> None:
    # a name from the file (a pack, a query) holding a line break or an escape cannot split the message
    assert str(ConfigError('packs."a\nb": bad\x1b[31m\tx é')) == 'packs."a\\nb": bad\\x1b[31m\tx é'
    assert str(ConfigError("plain")) == "plain"

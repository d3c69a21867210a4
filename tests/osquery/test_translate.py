"""osquery configurations into auditsql's Config: every shared file, options and flags, packs, decorators,
file paths, config directories, and one-line errors for bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditsql.config import Config, ConfigError, ScheduledQuery, load, load_config
from auditsql.osquery.options import OPTIONS, parse_flagfile
from auditsql.osquery.packs import machine_shard, platform_ok, query_name, shard_ok, version_ok
from auditsql.osquery.translate import translate, watch_paths
from tests.corpus import REPO

OSQ = REPO.parent / "shared" / "osquery"
PACKS = OSQ / "packs"


def check_config(*args: str) -> tuple[int, str, str]:
    from auditsql.cli import main

    res = CliRunner().invoke(main, ["check-config", *args])
    return res.exit_code, res.stdout, res.stderr


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# -- every shared file ----------------------------------------------------------------------------------------

HEADLINES = {
    "osquery.example.conf": "1 of 1 scheduled query runs here",
    "packs/hardware-monitoring.conf": "0 of 17 scheduled queries run here; 9 use tables auditsql does not have "
    "(acpi_tables, cpuid, file, hardware_events, hash, kernel_info, …): skipped; 8 are for other platforms "
    "(darwin, windows): skipped",
    "packs/incident-response.conf": "0 of 35 scheduled queries run here; 18 use tables auditsql does not have "
    "(arp_cache, block_devices, crontab, disk_encryption, etc_hosts, iptables, …): skipped; 17 are for other "
    "platforms (darwin): skipped",
    "packs/it-compliance.conf": "1 of 32 scheduled queries run here; 11 use tables auditsql does not have "
    "(apt_sources, chrome_extensions, deb_packages, disk_encryption, iptables, kernel_info, …): skipped; 20 are "
    "for other platforms (darwin, windows, gentoo): skipped",
    "packs/osquery-monitoring.conf": "0 of 3 scheduled queries run here; 3 use tables auditsql does not have "
    "(osquery_events, osquery_info, osquery_schedule, processes, time): skipped",
    "packs/ossec-rootkit.conf": "0 of 60 scheduled queries run here; 60 use tables auditsql does not have "
    "(file): skipped",
    "packs/osx-attacks.conf": "0 of 74 scheduled queries run here; 74 are for other platforms (darwin): skipped",
    "packs/unwanted-chrome-extensions.conf": "0 of 14 scheduled queries run here; 14 are for other platforms "
    "(windows,darwin): skipped",
    "packs/vuln-management.conf": "1 of 18 scheduled queries run here; 10 use tables auditsql does not have "
    "(users, apt_sources, chrome_extensions, deb_packages, firefox_addons, kernel_info, …): skipped; 7 are for "
    "other platforms (darwin): skipped",
    "packs/windows-attacks.conf": "0 of 14 scheduled queries run here; 14 are for other platforms (windows): "
    "skipped",
    "packs/windows-hardening.conf": "0 of 39 scheduled queries run here; 39 are for other platforms (windows): "
    "skipped",
    "tests/config.d-extra_options.conf": "0 of 0 scheduled queries run here",
    "tests/config.d-osquery.conf": "0 of 1 scheduled query runs here; 1 uses tables auditsql does not have "
    "(time): skipped",
    "tests/test_inline_pack.conf": "0 of 6 scheduled queries run here; 2 use tables auditsql does not have "
    "(launchd, osquery_info): skipped; 1 does not compile here (no such column: environment): skipped; 3 have "
    "discovery queries on tables auditsql does not have (processes, osquery_info): skipped",
    "tests/test_pack.conf": "0 of 3 scheduled queries run here; 1 uses tables auditsql does not have "
    "(osquery_info): skipped; 2 are for other platforms (invalid, whatever): skipped",
    "tests/test_parse_items.conf": "0 of 2 scheduled queries run here; 2 use tables auditsql does not have "
    "(kernel_modules, launchd): skipped",
}


def test_every_shared_file_is_listed() -> None:
    found = {str(p.relative_to(OSQ)) for p in OSQ.rglob("*.conf")}
    assert found == {*HEADLINES, "tests/test_noninline_packs.conf"}


@pytest.mark.parametrize("name", sorted(HEADLINES))
def test_every_shared_file_loads_and_is_summarized(name: str) -> None:
    path = str(OSQ / name)
    code, out, err = check_config(path)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"auditsql: {path}: {HEADLINES[name]}"


def test_a_pack_named_by_a_bare_name_that_is_not_there_is_reported() -> None:
    # osquery's own test input names a pack file "lester" that its test mock provides: osquery warns and goes
    # on, and so does auditsql (a path with a directory that does not exist is an error: see below)
    path = str(OSQ / "tests" / "test_noninline_packs.conf")
    code, out, err = check_config(path)
    assert (code, err) == (0, "")
    assert f"packs.tester: no pack file lester beside {path}: skipped" in out


def test_the_example_config_exactly() -> None:
    path = str(OSQ / "osquery.example.conf")
    config, details = load(path)
    assert config.schedule == {
        "system_info": ScheduledQuery(
            name="system_info",
            query="SELECT hostname, cpu_brand, physical_memory FROM system_info;",
            interval=3600,
        )
    }
    assert config.decorators.load == ["SELECT uuid AS host_uuid FROM system_info;"]
    assert config.scheduler.splay_percent == 10  # osquery's default
    assert config.scheduler.denylist_duration == 86400
    assert config.notes == (
        f"{path}: 1 of 1 scheduled query runs here",
        "decorators: 1 of 2 run here; the others use tables auditsql does not have (logged_in_users)",
        "keys with no meaning here, ignored: feature_vectors",
    )
    assert details == [
        "decorator 'SELECT user AS username FROM logged_in_users ORDER BY time DESC LIMIT 1;': uses tables "
        "auditsql does not have (logged_in_users)"
    ]


def test_parse_items_decorators_and_file_paths() -> None:
    path = str(OSQ / "tests" / "test_parse_items.conf")
    config = load_config(path)
    assert config.decorators.load == [
        "select uuid as hostuuid from system_info",
        "select 'test' as load_test",
    ]
    assert config.decorators.always == ["select 'test' as always_test"]
    assert config.decorators.interval == {"60": ["select 'test' as internal_60_test"]}
    assert config.file_events.paths == ["/dev/random", "/dev/null", "/dev", "/dev/zero"]
    assert config.notes[1:] == (
        "decorators: 4 of 8 run here; the others use tables auditsql does not have (logged_in_users, "
        "osquery_info, time)",
        "decorators: interval 61 is not a multiple of 60 (1 skipped)",
        "keys with no meaning here, ignored: list, dictionary, file_paths_query, file_accesses, exclude_paths, "
        "events, views",
        "file paths: file_paths.config_files: 1 is not a path: ignored",
        "file paths: file_paths.config_files: ['error', 'invalid'] is not a path: ignored",
        "file paths: file_paths.config_files: {'error': 'invalid'} is not a path: ignored",
    )


def test_every_pack_by_path_and_by_glob(tmp_path: Path) -> None:
    """The packs as an osquery.conf names them: by path (relative to the config's directory) and "*"."""
    packs = {p.stem: f"packs/{p.name}" for p in sorted(PACKS.glob("*.conf"))}
    shutil.copytree(PACKS, tmp_path / "packs")
    import json

    by_path = load_config(write(tmp_path / "a.conf", json.dumps({"packs": packs})))
    by_glob = load_config(
        write(tmp_path / "b.conf", json.dumps({"packs": {"*": str(tmp_path / "packs/*.conf")}}))
    )
    assert (
        list(by_path.schedule)
        == list(by_glob.schedule)
        == [
            "pack_it-compliance_os_version",
            "pack_vuln-management_os_version",
        ]
    )
    assert by_path.notes[0] == (
        f"{tmp_path / 'a.conf'}: 2 of 306 scheduled queries run here; 111 use tables auditsql does not have "
        "(file, users, kernel_modules, kernel_info, apt_sources, chrome_extensions, …): skipped; 193 are for "
        "other platforms (darwin, windows, windows,darwin, gentoo): skipped"
    )


# -- the schedule and packs -------------------------------------------------------------------------------------

SCHEDULE = """{
  "schedule": {
    // every per-query key, numbers and booleans as strings
    "execs": {"query": "SELECT pid, path FROM process_events", "interval": "60", "snapshot": "false",
              "removed": "false", "denylist": "0", "description": "execs", "version": "1.4.5",
              "platform": "linux", "shard": "100", "value": "ignored"},
    "mac": {"query": "SELECT 1", "platform": "darwin"},
    "win": {"query": "SELECT 1", "platform": "windows"},
    "future": {"query": "SELECT 1", "version": "99.0.0"},
    "weekly": {"query": "SELECT 1", "interval": 604801},
    "never": {"query": "SELECT 1", "interval": 0},
    "default": {"query": "SELECT count(*) AS n FROM audit_rules", "snapshot": true}
  },
  "packs": {
    "p": {"interval": 120, "platform": "posix", "version": "2.0",
          "discovery": ["SELECT 1 FROM audit_status"],
          "queries": {"socks": {"query": "SELECT * FROM socket_events"},
                      "own": {"query": "SELECT 1", "interval": "30", "blacklist": false}}},
    "elsewhere": {"platform": "windows", "queries": {"a": {"query": "SELECT 1"}}}
  },
  "options": {"schedule_default_interval": "900", "pack_delimiter": "/"}
}"""


def test_schedule_and_pack_keys(tmp_path: Path) -> None:
    config, details = load(write(tmp_path / "o.conf", SCHEDULE))
    q = ScheduledQuery
    assert config.schedule == {
        "execs": q("execs", "SELECT pid, path FROM process_events", 60, False, False, False, [], "execs"),
        "default": q("default", "SELECT count(*) AS n FROM audit_rules", 900, True),
        "pack/p/socks": q(
            "pack/p/socks", "SELECT * FROM socket_events", 120, discovery=["SELECT 1 FROM audit_status"]
        ),
        "pack/p/own": q(
            "pack/p/own", "SELECT 1", 30, denylist=False, discovery=["SELECT 1 FROM audit_status"]
        ),
    }
    assert details == [
        "mac: is for another platform (darwin): skipped",
        "win: is for another platform (windows): skipped",
        "future: needs an osquery newer than 5.12.1 (99.0.0): skipped",
        "weekly: has an interval outside 1..604800 (604801): skipped",
        "never: has an interval outside 1..604800 (0): skipped",
        "pack/elsewhere/a: is for another platform (windows): skipped",
    ]
    assert config.notes[0] == (
        f"{tmp_path / 'o.conf'}: 4 of 10 scheduled queries run here; 3 are for other platforms (windows, "
        "darwin): skipped; 1 needs an osquery newer than 5.12.1 (99.0.0): skipped; 2 have an interval outside "
        "1..604800 (0, 604801): skipped"
    )


def test_shard_is_osquerys() -> None:
    # getMachineShard: the SHA-1's first byte of the hostname, * 100 / 255
    assert machine_shard("web1") == int(hashlib.sha1(b"web1").hexdigest()[:2], 16) * 100 // 255 == 59
    assert (shard_ok(0, 59), shard_ok(58, 59), shard_ok(59, 59), shard_ok(100, 59)) == (
        True,
        False,
        True,
        True,
    )


def test_a_pack_outside_the_shard_is_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.conf",
        '{"packs": {"few": {"shard": "10", "queries": {"a": {"query": "SELECT 1"}}},'
        ' "all": {"shard": 100, "queries": {"b": {"query": "SELECT 1", "shard": 58}, "c": {"query": "SELECT 2"}}}}}',
    )
    tr = translate(path, hostname="web1")
    assert list(tr.config.schedule) == ["pack_all_c"]
    assert tr.details == [
        "pack_few_a: is outside this host's shard: skipped",
        "pack_all_b: is outside this host's shard: skipped",
    ]


def test_platform_and_version_checks_are_osquerys() -> None:
    ok = ["", "null", "all", "any", "linux", "posix", "ubuntu", "centos", "linux,darwin", "darwin,posix"]
    no = ["darwin", "windows", "freebsd", "gentoo", "none", "lol", "windows,darwin"]
    assert [platform_ok(p) for p in ok] == [True] * len(ok)
    assert [platform_ok(p) for p in no] == [False] * len(no)
    assert [version_ok(v) for v in ("", "1.5.0", "1.5.1-26", "5.12.1", "5.12.2", "9.9.9")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert query_name(None, "q") == "q"
    assert query_name("p", "q") == "pack_p_q"


def test_file_paths_globs(tmp_path: Path) -> None:
    assert watch_paths("/etc/%%") == ["/etc"]  # a directory watch covers its subtree
    assert watch_paths("/etc/ssh/%") == ["/etc/ssh"]
    assert watch_paths("/etc/passwd") == ["/etc/passwd"]
    for d in ("home1", "home2", "other"):
        (tmp_path / d / ".ssh").mkdir(parents=True)
    assert watch_paths(f"{tmp_path}/home%/.ssh/%%") == [f"{tmp_path}/home1/.ssh", f"{tmp_path}/home2/.ssh"]
    assert watch_paths(f"{tmp_path}/nothing%/x") == []


# -- options and flags ------------------------------------------------------------------------------------------

OPTIONS_CONF = """{
  "options": {
    "host_identifier": "uuid",
    "schedule_splay_percent": "20",
    "schedule_epoch": 7,
    "events_expiry": "3600",
    "events_max": 50000,
    "logger_path": "/var/log/osquery",
    "logger_rotate": "true",
    "logger_rotate_size": "1048576",
    "logger_rotate_max_files": 3,
    "logger_snapshot_event_type": true,
    "logger_plugin": "filesystem,stdout,tls",
    "decorations_top_level": "false",
    "disable_events": false,
    "disable_subscribers": "process_file_events,user_events",
    "audit_allow_config": true,
    "audit_allow_process_events": "true",
    "audit_allow_sockets": false,
    "audit_allow_fork_process_events": "1",
    "audit_persist": true,
    "audit_backlog_limit": "8192",
    "audit_backlog_wait_time": 0,
    "pack_refresh_interval": 600,
    "watchdog_memory_limit": "350",
    "watchdog_utilization_limit": 130,
    "disable_watchdog": false,
    "database_path": "/var/osquery/osquery.db",
    "custom_team": "blue",
    "kernel.pushdown": "true",
    "store.db": "/tmp/x.db"
  },
  "file_paths": {"etc": ["/etc/%%"]}
}"""


def test_options_map(tmp_path: Path) -> None:
    path = write(tmp_path / "o.conf", OPTIONS_CONF)
    c = load_config(path)
    d = Config()
    assert (c.results_log.host_identifier, c.results_log.epoch, c.results_log.path) == (
        "uuid",
        7,
        "/var/log/osquery/osqueryd.results.log",
    )
    assert c.results_log.snapshot_path == "/var/log/osquery/osqueryd.snapshots.log"
    assert (c.results_log.rotate, c.results_log.rotate_size, c.results_log.rotate_max_files) == (
        True,
        1048576,
        3,
    )
    assert (c.results_log.snapshot_event_type, c.results_log.decorations_top_level) == (True, False)
    assert (c.store.events_expiry, c.store.events_max, c.store.db) == (3600, 50000, "/tmp/x.db")
    assert (c.kernel.backlog_limit, c.kernel.backlog_wait_time, c.kernel.pushdown, c.kernel.rules) == (
        8192,
        0,
        True,
        "builtin",
    )
    assert c.tables.fork_events is True
    assert (c.scheduler.splay_percent, c.scheduler.pack_refresh_interval) == (20, 600)
    assert (c.output.stdout.enabled, c.output.stdout.events, c.output.stdout.results) == (True, False, True)
    assert c.output.syslog == d.output.syslog
    assert c.file_events.paths == []  # process_file_events disabled
    assert c.notes[1:] == (
        "options ignored, a logger plugin auditsql does not have (results go to the results log): "
        "logger_plugin=tls",
        "options ignored, auditsql's tables are not separate subscribers (use [kernel] rules): "
        "disable_subscribers=user_events",
        "options ignored, the builtin rules audit sockets (use [kernel] rules): audit_allow_sockets",
        "options ignored, auditsql has no worker process for a watchdog to restart; bound it with systemd "
        "(MemoryMax=, CPUQuota= in the unit): watchdog_memory_limit, watchdog_utilization_limit, disable_watchdog",
        "options ignored, no meaning here: database_path, custom_team",
        "file paths: 1 not watched (process_file_events disabled)",
    )


def test_disable_events_and_audit_allow_config(tmp_path: Path) -> None:
    c = load_config(write(tmp_path / "a.conf", '{"options": {"audit_allow_config": "false"}}'))
    assert c.kernel.rules == "none"
    c = load_config(
        write(tmp_path / "b.conf", '{"options": {"disable_events": "true"}, "file_paths": {"x": ["/etc"]}}')
    )
    assert (c.kernel.rules, c.tables.process_tree, c.file_events.paths) == ("none", False, [])


def test_flagfile(tmp_path: Path) -> None:
    conf = write(tmp_path / "osquery.conf", '{"options": {"events_max": "10"}, "schedule": {}}')
    flags = write(
        tmp_path / "osquery.flags",
        f"# osquery flags\n--config_path={conf}\n--events_max=99\n--events_expiry=60\n--host_identifier=specified\n"
        "--specified_identifier=web-7\n--watchdog_memory_limit=200\n--verbose\n--nologger_rotate\n\n",
    )
    assert parse_flagfile("--a=1\n-b\n--nologger_rotate\n", "f") == [
        ("a", "1", 1),
        ("b", True, 2),
        ("logger_rotate", False, 3),
    ]
    c = load_config(None, flags)
    assert c.store.events_max == 10  # the config's options override the flagfile's, as osquery's
    assert c.store.events_expiry == 60
    assert (c.results_log.host_identifier, c.results_log.specified_identifier) == ("specified", "web-7")
    assert (c.log.level, c.results_log.rotate) == ("debug", False)
    code, out, err = check_config(conf, "--flagfile", flags)
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "auditsql: options ignored, auditsql has no worker process for a watchdog to restart; bound it with "
        "systemd (MemoryMax=, CPUQuota= in the unit): watchdog_memory_limit"
    ]


def test_every_mapped_option_is_documented() -> None:
    doc = (REPO / "docs" / "osquery.md").read_text()
    missing = [name for name in OPTIONS if f"`{name}`" not in doc]
    assert missing == []


# -- config directories -----------------------------------------------------------------------------------------


def test_config_d_merges_as_osquery(tmp_path: Path) -> None:
    main = tmp_path / "osquery.conf"
    main.write_text(
        '{"options": {"custom_optionA": "main", "events_max": "5"}, "schedule": {"execs": {"query": "SELECT * FROM process_events"}}}'
    )
    (tmp_path / "osquery.conf.d").mkdir()
    shutil.copy(OSQ / "tests" / "config.d-osquery.conf", tmp_path / "osquery.conf.d" / "osquery.conf")
    shutil.copy(
        OSQ / "tests" / "config.d-extra_options.conf", tmp_path / "osquery.conf.d" / "extra_options.conf"
    )
    config = load_config(str(main))
    assert list(config.schedule) == ["execs"]
    assert config.store.events_max == 5
    assert config.notes == (
        f"{main}: 1 of 2 scheduled queries run here; 1 uses tables auditsql does not have (time): skipped",
        "options ignored, no meaning here: custom_optionA, custom_optionC, custom_optionD, custom_optionB",
        "keys with no meaning here, ignored: additional_monitoring",
    )
    # a directory: its *.conf files in name order
    config = load_config(str(tmp_path / "osquery.conf.d"))
    assert (
        config.notes[0]
        == f"{tmp_path / 'osquery.conf.d'}: 0 of 1 scheduled query runs here; 1 uses tables auditsql does not have (time): skipped"
    )


# -- bad input: one line, exit 2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "options": {\n    "a": 1\n    "b": 2\n  }\n}',
            "{p}:4:5: invalid JSON: Expecting ',' delimiter",
        ),
        (
            '{"options": {"schedule_splay_percent": "ten"}}',
            "{p}:1: options.schedule_splay_percent: expected a whole number >= 0, got 'ten'",
        ),
        (
            '{"options": {"host_identifier": "mac"}}',
            "{p}:1: options.host_identifier: expected hostname, uuid, specified, instance or ephemeral, got 'mac'",
        ),
        (
            '{"options": {"logger_rotate": "maybe"}}',
            "{p}:1: options.logger_rotate: expected true or false, got 'maybe'",
        ),
        (
            '{"schedule": {"q": {"query": "SELECT 1", "interval": "often"}}}',
            "{p}: schedule.q.interval: expected a whole number >= 0, got 'often'",
        ),
        (
            '{"packs": {"x": "/nonexistent/x.conf"}}',
            "{p}: packs.x: the pack file /nonexistent/x.conf does not exist",
        ),
        ('{"packs": {"x": 3}}', "{p}: packs.x: expected a pack object or a pack file path"),
        ('{"options": {"kernel.pushdown": "perhaps"}}', "{p}: options.kernel.pushdown: bad value 'perhaps'"),
        (
            '{"options": {"nosuch.key": "1"}}',
            "{p}: options: unknown auditsql section 'nosuch' (known: kernel, store, tables, results_log, status, file_events, fleet, metrics, log, scheduler, decorators)",
        ),
        ('{"schedule": ["SELECT 1"]}', "{p}: schedule: expected an object of queries"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path / "bad.conf", text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(info.value) == message.format(p=p)
    assert check_config(p) == (2, "", f"auditsql: {message.format(p=p)}\n")


def test_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.conf", "{}")
    flags = write(tmp_path / "f.flags", "--events_max=12\n--events_expiry=soon\n")
    assert check_config(conf, "--flagfile", flags) == (
        2,
        "",
        f"auditsql: {flags}:2: --events_expiry: expected a whole number >= 0, got 'soon'\n",
    )
    flags = write(tmp_path / "g.flags", "events_max 12\n")
    assert check_config(conf, "--flagfile", flags) == (
        2,
        "",
        f"auditsql: {flags}:1: not a flag (expected --name=value): 'events_max 12'\n",
    )


def test_toml_still_toml_and_native_json_still_native(tmp_path: Path) -> None:
    toml = write(tmp_path / "a.conf", "[store]\nevents_max = 3\n")
    assert load_config(toml).store.events_max == 3
    js = write(tmp_path / "b.txt", '// mine\n{"store": {"events_max": 4}}')
    assert load_config(js).store.events_max == 4
    assert load_config(js).notes == ()
    with pytest.raises(ConfigError) as info:
        load_config(js, write(tmp_path / "f", "--events_max=1\n"))
    assert str(info.value).endswith("is auditsql's own (set the keys there)")


def test_run_print_config_shows_the_summary_first() -> None:
    from auditsql.cli import main

    path = str(OSQ / "osquery.example.conf")
    res = CliRunner().invoke(main, ["run", "--config_path", path, "--print-config"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[:4] == [
        f"# auditsql: {path}: 1 of 1 scheduled query runs here",
        "# auditsql: decorators: 1 of 2 run here; the others use tables auditsql does not have (logged_in_users)",
        "# auditsql: keys with no meaning here, ignored: feature_vectors",
        "[kernel]",
    ]
    assert (
        '[schedule.system_info]\nquery = "SELECT hostname, cpu_brand, physical_memory FROM system_info;"'
        in (res.stdout)
    )


# -- never a traceback ----------------------------------------------------------------------------------------

_keys = st.sampled_from(
    [
        "options",
        "schedule",
        "packs",
        "decorators",
        "file_paths",
        "queries",
        "query",
        "interval",
        "platform",
        "version",
        "shard",
        "snapshot",
        "removed",
        "denylist",
        "discovery",
        "load",
        "always",
        "60",
        "61",
        "*",
        "host_identifier",
        "logger_plugin",
        "events_max",
        "kernel.pushdown",
        "x",
    ]
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 700000)
    | st.sampled_from(
        [
            "",
            "1",
            "60",
            "true",
            "no",
            "linux",
            "darwin",
            "9.9.9",
            "SELECT 1",
            "SELECT * FROM process_events",
            "select * from nope",
            "/etc/%%",
            "%",
            "x",
        ]
    )
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_keys, _values, max_size=6))
def test_any_document_translates_or_is_one_line(tmp_path: Path, doc: dict) -> None:
    import json

    path = write(tmp_path / "fuzz.conf", json.dumps(doc))
    try:
        translate(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(path)


_query = st.dictionaries(
    st.sampled_from(["query", "interval", "platform", "version", "shard", "snapshot", "removed", "denylist"]),
    _scalars,
    max_size=5,
)
_pack = st.fixed_dictionaries(
    {},
    optional={
        "queries": st.dictionaries(st.text(max_size=3), _query | _scalars, max_size=3),
        "discovery": st.lists(_scalars, max_size=2) | _scalars,
        "platform": _scalars,
        "version": _scalars,
        "shard": _scalars,
        "interval": _scalars,
        "file_paths": st.dictionaries(
            st.text(max_size=2), st.lists(_scalars, max_size=2) | _scalars, max_size=2
        ),
    },
)
_doc = st.fixed_dictionaries(
    {},
    optional={
        "options": st.dictionaries(_keys | st.sampled_from(sorted(OPTIONS)), _scalars, max_size=4) | _scalars,
        "schedule": st.dictionaries(st.text(max_size=3), _query | _scalars, max_size=3) | _scalars,
        "packs": st.dictionaries(st.text(max_size=3), _pack | _scalars, max_size=3) | _scalars,
        "decorators": st.fixed_dictionaries(
            {},
            optional={
                "load": st.lists(_scalars, max_size=2) | _scalars,
                "always": st.lists(_scalars, max_size=2) | _scalars,
                "interval": st.dictionaries(
                    st.sampled_from(["60", "61", "0", "x", "120"]),
                    st.lists(_scalars, max_size=2) | _scalars,
                    max_size=2,
                )
                | _scalars,
            },
        )
        | _scalars,
        "file_paths": st.dictionaries(
            st.text(max_size=2), st.lists(_scalars, max_size=2) | _scalars, max_size=2
        )
        | _scalars,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_doc)
def test_any_osquery_shaped_document_translates_or_is_one_line(tmp_path: Path, doc: dict) -> None:
    import json

    path = write(tmp_path / "fuzz.conf", json.dumps(doc))
    try:
        translate(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(path)


def test_check_config_on_toml(tmp_path: Path) -> None:
    ok = write(tmp_path / "a.toml", "[schedule.q]\nquery = 'SELECT pid FROM process_events'\n")
    assert check_config(ok) == (0, f"auditsql: {ok}: 1 of 1 scheduled query runs here\n", "")
    bad = write(tmp_path / "b.toml", "[schedule.q]\nquery = 'SELECT pid FROM processes'\n")
    assert check_config(bad) == (2, "", f"auditsql: {bad}: schedule.q.query: no such table: processes\n")
    assert check_config(str(tmp_path / "none.conf")) == (
        2,
        "",
        f"auditsql: {tmp_path / 'none.conf'}: cannot read: No such file or directory\n",
    )


def test_explain_takes_an_osquery_config_and_flagfile(tmp_path: Path) -> None:
    from auditsql.cli import main

    tool = tmp_path / "tool"  # one hard link, canonical: a path pushdown can filter on
    shutil.copy("/usr/bin/true", tool)
    conf = write(
        tmp_path / "osquery.conf",
        json.dumps(
            {"schedule": {"few": {"query": f"SELECT path FROM process_events WHERE path != '{tool}'"}}}
        ),
    )
    flags = write(tmp_path / "osquery.flags", f"--config_path={conf}\n--kernel.pushdown=true\n")
    res = CliRunner().invoke(main, ["explain", "--flagfile", flags])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == f"note: {conf}: 1 of 1 scheduled query runs here"
    assert f"-a always,exit -F arch=b64 -S execve,execveat -F exe!={tool}" in res.stdout.splitlines()


def test_a_byte_order_mark_is_not_in_the_way(tmp_path: Path) -> None:
    path = tmp_path / "bom.conf"
    path.write_bytes(b'\xef\xbb\xbf{"options": {"events_max": "7"}}')
    assert load_config(str(path)).store.events_max == 7

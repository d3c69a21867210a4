"""osquery's options (the config's ``options`` and a flagfile's ``--name=value`` lines) mapped onto auditsql's
configuration, each declared once in :data:`OPTIONS`.

An option is either *mapped* (it sets an auditsql key, or changes how the configuration is translated),
*the same here* (its value is what auditsql does anyway: nothing to do, nothing reported), or has *no
meaning here* (reported once in the summary, never an error). A value that is not of the option's type
(``"schedule_splay_percent": "ten"``) is an :class:`OptionError`. osquery writes numbers and booleans as
strings as often as not: ``"60"``, ``"true"``; both are accepted, as gflags accepts them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPTIONS", "OptionError", "Options", "apply_option", "parse_flagfile"]


class OptionError(ValueError):
    """An option's value is not of its type; ``str()`` names the option, the value and what was expected."""


#: osquery's schedule_default_interval
DEFAULT_INTERVAL = 3600
#: osquery's pack_delimiter
DEFAULT_DELIMITER = "_"

WATCHDOG_NOTE = (
    "auditsql has no worker process for a watchdog to restart; bound it with systemd "
    "(MemoryMax=, CPUQuota= in the unit)"
)
NO_MEANING = "no meaning here"


@dataclass
class Options:
    """What the options set: ``overrides`` ``{section: {key: value}}`` over auditsql's defaults, how packs are
    translated, and the options reported (name -> why they are ignored)."""

    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_interval: int = DEFAULT_INTERVAL
    pack_delimiter: str = DEFAULT_DELIMITER
    splay_percent: int = 10
    disable_decorators: bool = False
    no_file_events: bool = False
    ignored: dict[str, str] = field(default_factory=dict)

    def set(self, section: str, key: str, value: Any) -> None:
        self.overrides.setdefault(section, {})[key] = value

    def ignore(self, name: str, why: str = NO_MEANING) -> None:
        self.ignored[name] = why


# -- value types -------------------------------------------------------------------------------------------

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise OptionError(f"{name}: expected true or false, got {value!r}")


def as_uint(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    raise OptionError(f"{name}: expected a whole number >= 0, got {value!r}")


def as_str(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise OptionError(f"{name}: expected a string, got {value!r}")


# -- the table ---------------------------------------------------------------------------------------------

Apply = Callable[[Options, str, Any], None]


def _to(section: str, key: str, conv: Callable[[str, object], Any]) -> Apply:
    def apply(o: Options, name: str, value: Any) -> None:
        o.set(section, key, conv(name, value))

    return apply


def _same_when(expected: bool, why: str = NO_MEANING) -> Apply:
    """A boolean whose ``expected`` value is what auditsql does; the other is reported."""

    def apply(o: Options, name: str, value: Any) -> None:
        if as_bool(name, value) != expected:
            o.ignore(name, why)

    return apply


def _host_identifier(o: Options, name: str, value: Any) -> None:
    v = as_str(name, value)
    if v in ("hostname", "uuid", "specified"):
        o.set("results_log", "host_identifier", v)
    elif v in ("instance", "ephemeral"):
        o.ignore(name, f"{v} identifiers are osquery's own database's; the hostname is used")
    else:
        raise OptionError(f"{name}: expected hostname, uuid, specified, instance or ephemeral, got {v!r}")


def _splay(o: Options, name: str, value: Any) -> None:
    o.splay_percent = as_uint(name, value)


def _default_interval(o: Options, name: str, value: Any) -> None:
    v = as_uint(name, value)
    if v < 1:
        raise OptionError(f"{name}: must be >= 1, got {value!r}")
    o.default_interval = v


def _delimiter(o: Options, name: str, value: Any) -> None:
    o.pack_delimiter = as_str(name, value)


def _logger_path(o: Options, name: str, value: Any) -> None:
    directory = as_str(name, value)
    o.set("results_log", "path", os.path.join(directory, "osqueryd.results.log"))
    o.set("results_log", "snapshot_path", os.path.join(directory, "osqueryd.snapshots.log"))


def _logger_plugin(o: Options, name: str, value: Any) -> None:
    for plugin in (p.strip() for p in as_str(name, value).split(",")):
        if plugin == "filesystem":
            continue
        if plugin == "stdout":
            o.overrides.setdefault("output.stdout", {}).update(enabled=True, events=False, results=True)
        elif plugin == "syslog":
            o.overrides.setdefault("output.syslog", {}).update(enabled=True, events=False, results=True)
        elif plugin:
            o.ignore(
                f"{name}={plugin}", "a logger plugin auditsql does not have (results go to the results log)"
            )


def _verbose(o: Options, name: str, value: Any) -> None:
    if as_bool(name, value):
        o.set("log", "level", "debug")


def _disable_decorators(o: Options, name: str, value: Any) -> None:
    o.disable_decorators = as_bool(name, value)


def _disable_events(o: Options, name: str, value: Any) -> None:
    if as_bool(name, value):
        o.set("kernel", "rules", "none")
        o.set("tables", "process_tree", False)
        o.no_file_events = True
        o.ignore(name, "no audit rules are loaded: the event tables get only what other rules produce")


def _audit_allow_config(o: Options, name: str, value: Any) -> None:
    if not as_bool(name, value):
        o.set("kernel", "rules", "none")


def _disable_subscribers(o: Options, name: str, value: Any) -> None:
    for sub in (s.strip() for s in as_str(name, value).split(",")):
        if sub == "process_file_events":
            o.no_file_events = True
        elif sub:
            o.ignore(f"{name}={sub}", "auditsql's tables are not separate subscribers (use [kernel] rules)")


def _backlog(key: str) -> Apply:
    def apply(o: Options, name: str, value: Any) -> None:
        v = as_uint(name, value)
        if v > 0xFFFFFFFF:
            raise OptionError(f"{name}: must be <= 4294967295, got {value!r}")
        o.set("kernel", key, v)

    return apply


#: osquery option name -> how it applies; names not here are reported as having no meaning here
OPTIONS: dict[str, Apply] = {
    "host_identifier": _host_identifier,
    "specified_identifier": _to("results_log", "specified_identifier", as_str),
    "schedule_splay_percent": _splay,
    "schedule_default_interval": _default_interval,
    "schedule_epoch": _to("results_log", "epoch", as_uint),
    "pack_delimiter": _delimiter,
    "pack_refresh_interval": _to("scheduler", "pack_refresh_interval", as_uint),
    "events_expiry": _to("store", "events_expiry", as_uint),
    "events_max": _to("store", "events_max", as_uint),
    "events_optimize": _same_when(True, "auditsql's scheduled queries always see only new event rows"),
    "logger_path": _logger_path,
    "logger_rotate": _to("results_log", "rotate", as_bool),
    "logger_rotate_size": _to("results_log", "rotate_size", as_uint),
    "logger_rotate_max_files": _to("results_log", "rotate_max_files", as_uint),
    "logger_snapshot_event_type": _to("results_log", "snapshot_event_type", as_bool),
    "logger_plugin": _logger_plugin,
    "logger_numerics": _same_when(False, "auditsql writes every column value as a string"),
    "decorations_top_level": _to("results_log", "decorations_top_level", as_bool),
    "disable_decorators": _disable_decorators,
    "verbose": _verbose,
    "utc": _same_when(True, "auditsql's times are always UTC"),
    "disable_events": _disable_events,
    "disable_subscribers": _disable_subscribers,
    "disable_audit": _same_when(False, "auditsql reads the kernel's audit events whatever it says"),
    "audit_allow_config": _audit_allow_config,
    "audit_allow_process_events": _same_when(True, "the builtin rules audit execs (use [kernel] rules)"),
    "audit_allow_sockets": _same_when(True, "the builtin rules audit sockets (use [kernel] rules)"),
    "audit_allow_fork_process_events": _to("tables", "fork_events", as_bool),
    "audit_allow_fim_events": _same_when(True, "file_paths always become watch rules here"),
    "audit_allow_user_events": _same_when(True, "user_events always has what the kernel sends"),
    "audit_allow_selinux_events": _same_when(True, "selinux_events always has what the kernel sends"),
    "audit_allow_apparmor_events": _same_when(True, "apparmor_events always has what the kernel sends"),
    "audit_allow_seccomp_events": _same_when(True, "seccomp_events always has what the kernel sends"),
    "audit_persist": _same_when(True, "auditsql keeps the audit socket for as long as it runs"),
    "audit_backlog_limit": _backlog("backlog_limit"),
    "audit_backlog_wait_time": _backlog("backlog_wait_time"),
}
for _name in (
    "watchdog_level",
    "watchdog_memory_limit",
    "watchdog_utilization_limit",
    "watchdog_delay",
    "watchdog_latency_limit",
    "watchdog_forced_shutdown_delay",
    "watchdog_max_delay",
    "disable_watchdog",
    "enable_watchdog_debug",
):
    OPTIONS[_name] = lambda o, name, value: o.ignore(name, WATCHDOG_NOTE)

#: auditsql's own keys, ``SECTION.KEY`` (``"kernel.pushdown": true``): osquery ignores names it lacks
_OWN = re.compile(r"^(?P<section>[a-z_]+(?:\.[a-z_]+)?)\.(?P<key>[a-z_]+)$")


def apply_option(o: Options, name: str, value: Any) -> None:
    """Apply osquery option ``name`` = ``value`` to ``o`` (OptionError for a bad value)."""
    if isinstance(value, list | dict) or value is None:
        raise OptionError(f"{name}: expected a string, number or boolean, got {value!r}")
    m = _OWN.match(name)
    if m:
        o.overrides.setdefault(m["section"], {})[m["key"]] = value
        return
    apply = OPTIONS.get(name)
    if apply is None:
        o.ignore(name)
    else:
        apply(o, name, value)


def parse_flagfile(text: str, path: str) -> list[tuple[str, str | bool, int]]:
    """A gflags flagfile: ``--name=value``, ``--name`` (true), ``--noname`` (false), ``#`` comments; one
    flag a line. Returns (name, value, line number); OptionError for a line that is not a flag."""
    out: list[tuple[str, str | bool, int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"--?([A-Za-z0-9_.]+)(?:=(.*))?", line)
        if m is None:
            raise OptionError(f"{path}:{n}: not a flag (expected --name=value): {line!r}")
        name, value = m[1], m[2]
        if value is None:
            if name.startswith("no") and (name[2:] in OPTIONS or name[2:].startswith("audit_")):
                out.append((name[2:], False, n))
            else:
                out.append((name, True, n))
        else:
            out.append((name, value, n))
    return out

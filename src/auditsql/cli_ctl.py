"""``auditsql ctl``: an auditctl-compatible front end to the kernel (status, rules).

It takes auditctl's options with auditctl's semantics (order matters: ``-F arch=`` before ``-S``, the
list before ``-F``, ...), talks NETLINK_AUDIT itself (no auditctl, no libaudit), and prints ``-s`` and
``-l`` text for text as auditctl does.  Errors are one line ``auditsql: ...`` and a non-zero exit.
Differences from auditctl on purpose: a rules file (``-R``) is checked whole before anything is loaded and
a failing line loads nothing (``-c``/``-i`` - in the file or before ``-R`` - continue past errors instead);
a locked configuration (``enabled 2``) is an error, not a message with exit 0; ``--restore`` undoes
what a crashed auditsql run left in the kernel; and ``-s`` appends, after auditctl's lines, the counters of a
running or last ``auditsql listen`` (``auditsql_*`` lines, only when its stats file exists).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import click

from auditsql import __version__
from auditsql.kernel.control import ControlError, execute, explain, load_rules_file
from auditsql.kernel.loss import DEFAULT_STATS_FILE, format_stats, read_stats
from auditsql.kernel.netlink import AuditNetlinkError, AuditNetlinkTimeout, AuditSocket
from auditsql.kernel.rules import RuleError, parse_args
from auditsql.kernel.status import get_status

__all__ = ["ctl", "run"]

USAGE = """\
usage: auditsql ctl [options]   (auditctl's options and meaning)
    -a <l,a>                 append a rule to the end of list l with action a
    -A <l,a>                 add a rule at the beginning of list l with action a
    -d <l,a>                 delete the rule from list l with action a
                             l=task,exit,user,exclude,filesystem,io_uring  a=never,always
    -S syscall               syscall name or number, comma lists, or all
    -F f=v                   field, operator (=,!=,<,>,<=,>=,&,&=), value
    -C f=f                   compare two fields (=,!=)
    -k <key>                 set the key of the rule
    -w <path>, -W <path>     insert, remove a watch at path
    -p [r|w|x|a]             permissions of the watch
    -D [-k key]              delete all rules (with the key)
    -l [-i | -k key]         list the rules
    -s [-i]                  report the status; then, if `auditsql listen` or `run` runs or ran, its
                             counters: auditsql_pid, auditsql_events and one auditsql_<cause> line per
                             loss cause (docs/loss.md; store_full: the store's file system was full),
                             for `run` its store's state (auditsql_store_writable, _free_bytes,
                             _space_low), read from its stats file: $AUDITSQL_STATS_FILE, else
                             /run/auditsql/stats.json
    -e [0..2]                set enabled (2 locks the configuration until reboot)
    -f [0..2]                set failure (0 silent, 1 printk, 2 panic)
    -r <rate>                set the rate limit in messages/sec (0 none)
    -b <backlog>             set the backlog limit
    --backlog_wait_time <t>  set the backlog wait time
    --reset-lost             reset the lost record counter
    --reset_backlog_wait_time_actual
    --loginuid-immutable     make loginuids unchangeable once set
    -R <file> [-c | -i]      load a rules file (nothing if a line is wrong; -c/-i: continue past errors)
    -m text                  send a user-space message
    -t, -q <mount,subtree>   trim, make equivalent (directory watches)
    --signal <signal>        send a signal to the audit daemon
    --restore [file]         undo what a crashed auditsql run changed (its snapshot file)
    -v, -h                   version, help
"""

#: CAP_AUDIT_CONTROL in the capability sets of /proc/self/status (linux/capability.h).
CAP_AUDIT_CONTROL = 30


def _can_control() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_AUDIT_CONTROL & 1)
    except OSError:
        pass
    return os.geteuid() == 0


def _write(stream: TextIO, text: str) -> None:
    if not text:
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()
    else:
        stream.write(text)


def _fail(stderr: TextIO, message: str, code: int = 1) -> int:
    _write(stderr, f"auditsql: {message}\n")
    return code


def _rules_file_args(argv: list[str]) -> tuple[str, bool] | None:
    """``[-c|-i] -R FILE [-c|-i]`` -> (file, continue); None if argv is not a rules-file load."""
    if "-R" not in argv:
        return None
    rest = list(argv)
    cont = False
    for flag in ("-c", "-i"):
        while flag in rest:
            rest.remove(flag)
            cont = True
    if len(rest) != 2 or rest[0] != "-R":
        return None
    return rest[1], cont


def run(argv: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``auditsql ctl ARGV``; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if not argv:
        _write(err, USAGE)
        return 1
    if argv in (["-h"], ["--help"]):
        _write(out, USAGE)
        return 0
    if argv == ["-v"]:
        _write(out, f"auditsql {__version__} (auditctl 3.0.9 compatible)\n")
        return 0
    if not _can_control():
        return _fail(err, "ctl needs root (CAP_AUDIT_CONTROL) to talk to the kernel's audit subsystem", 4)
    try:
        with AuditSocket() as sock:
            return _run(sock, argv, out, err)
    except AuditNetlinkTimeout as exc:
        return _fail(err, f"the kernel did not answer: {exc}")
    except AuditNetlinkError as exc:
        return _fail(err, explain(exc, "audit request"))
    except OSError as exc:
        return _fail(err, f"cannot open the kernel audit socket (NETLINK_AUDIT): {exc.strerror or exc}")


def _run(sock: AuditSocket, argv: list[str], out: TextIO, err: TextIO) -> int:
    if argv[0] == "--restore":
        return _restore(sock, argv[1:], out, err)
    rules_file = _rules_file_args(argv)
    if rules_file is not None:
        path, cont = rules_file
        try:
            report = load_rules_file(sock, path, continue_on_errors=cont)
        except ControlError as exc:
            return _fail(err, str(exc))
        _write(out, report.stdout)
        for line in report.stderr:
            _write(err, f"auditsql: {line}\n")
        for line in report.errors:
            _write(err, f"auditsql: {line}\n")
        return report.exit_code

    status = get_status(sock)
    try:
        cmd = parse_args(argv, features=status.feature_bitmap or 0)
    except RuleError as exc:
        return _fail(err, str(exc))
    for warning in cmd.warnings:
        _write(err, f"auditsql: {warning}\n")
    if cmd.deprecated:
        return 0
    if any(a[0] == "help" for a in cmd.actions):
        _write(out, USAGE)
        return 0
    if any(a[0] == "version" for a in cmd.actions):
        _write(out, f"auditsql {__version__} (auditctl 3.0.9 compatible)\n")
        return 0
    changes = cmd.rule is not None or any(a[0] in ("delete_all", "set") for a in cmd.actions)
    if changes and status.enabled == 2:
        return _fail(
            err,
            "The audit system is in immutable mode (enabled 2, set with -e 2): no rule or setting "
            "changes are allowed until reboot",
        )
    try:
        result = execute(sock, cmd)
    except ControlError as exc:
        return _fail(err, str(exc))
    _write(out, result.stdout)
    if any(a[0] == "status" for a in cmd.actions):
        _write(out, _listener_stats())
    for line in result.stderr:
        _write(err, line + "\n")
    return 0


def _listener_stats() -> str:
    """The ``auditsql_*`` lines of a running or last ``auditsql listen`` (its stats file), or ""."""
    stats = read_stats(os.environ.get("AUDITSQL_STATS_FILE") or DEFAULT_STATS_FILE)
    return "".join(f"{line}\n" for line in format_stats(stats)) if stats is not None else ""


def _restore(sock: AuditSocket, args: list[str], out: TextIO, err: TextIO) -> int:
    from auditsql.kernel import snapshot

    if len(args) > 1:
        return _fail(err, "--restore takes at most one argument, the snapshot file")
    path = args[0] if args else snapshot.DEFAULT_STATE_FILE
    try:
        report = snapshot.restore_from_file(path, sock=sock)
    except FileNotFoundError:
        return _fail(err, f"{path}: no auditsql snapshot file, nothing to restore")
    except (snapshot.SnapshotInUse, ValueError) as exc:
        return _fail(err, str(exc))
    for line in report.actions + report.notes:
        _write(out, line + "\n")
    for line in report.problems:
        _write(err, f"auditsql: {line}\n")
    return 0 if report.ok else 1


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": [],
    }
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def ctl(args: tuple[str, ...]) -> None:
    """auditctl-compatible kernel control: -s, -l, -a/-d/-D, -w, -e/-f/-r/-b, -R FILE..."""
    sys.exit(run(list(args)))

"""Kernel rule control over NETLINK_AUDIT: list, add, delete rules; run auditctl commands and rules files.

:func:`execute` runs one parsed :class:`~auditsql.kernel.rules.Command` (what one ``auditctl`` command line
asks for) and returns the text auditctl would print.  :func:`load_rules_file` reads a whole rules file
(``auditctl -R``), parses *every* line before it touches the kernel, and loads nothing if a line is wrong
- unless the file (or the caller) asks to continue on errors with ``-c``/``-i`` - and rolls back what it
already changed if the kernel refuses a line part way.  Errors name the file, the line and the cause.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass, field

from . import _ruleconsts as K
from ._ruleconsts import (
    AUDIT_ADD_RULE,
    AUDIT_DEL_RULE,
    AUDIT_LIST_RULES,
    AUDIT_MAKE_EQUIV,
    AUDIT_SET_FEATURE,
    AUDIT_TRIM,
    AUDIT_USER,
)
from .netlink import AuditNetlinkError, AuditSocket
from .rules import (
    Command,
    Rule,
    RuleError,
    format_rule,
    format_rules,
    parse_args,
    split_rule_line,
)
from .status import format_status, get_features, get_status, set_status

__all__ = [
    "ControlError",
    "LoadReport",
    "add_rule",
    "delete_all_rules",
    "delete_rule",
    "execute",
    "list_rules",
    "load_rules_file",
    "parse_rules_file",
]


class ControlError(Exception):
    """A command the kernel (or the local checks before it) refused; ``str()`` is one explanatory line."""


def _pad4(data: bytes) -> bytes:
    """auditctl sends NLMSG_SPACE(size) bytes: the rule padded with zeros to a multiple of 4."""
    return data + b"\0" * (-len(data) % 4)


def explain(exc: OSError, what: str) -> str:
    """One line for a netlink error, with the likely cause."""
    code = exc.errno
    name = errno.errorcode.get(code or 0, str(code))
    reason = os.strerror(code) if code else str(exc)
    if code == errno.EPERM:
        return (
            f"{what}: {reason} ({name}): the audit configuration is locked (enabled 2, set with -e 2) "
            "until reboot, or this process lacks CAP_AUDIT_CONTROL"
        )
    if code == errno.ECONNREFUSED:
        return f"{what}: The audit system is disabled (this kernel has no audit support)"
    if code == errno.EEXIST:
        return f"{what}: Rule exists"
    if code == errno.ENOENT and "delete" in what:
        return f"{what}: No rule matches"
    return f"{what}: {reason} ({name})"


# ----------------------------------------------------------------------------------------------------------
# Rules over netlink


def list_rules(sock: AuditSocket) -> list[bytes]:
    """The kernel's rules as ``audit_rule_data`` payloads, in list order (AUDIT_LIST_RULES, multipart)."""
    return [payload for rtype, payload in sock.request(AUDIT_LIST_RULES) if rtype == AUDIT_LIST_RULES]


def add_rule(sock: AuditSocket, data: bytes) -> None:
    """AUDIT_ADD_RULE with ``data`` (``Rule.encode()``), padded like auditctl's message."""
    sock.request(AUDIT_ADD_RULE, _pad4(data))


def delete_rule(sock: AuditSocket, data: bytes) -> None:
    """AUDIT_DEL_RULE: the kernel deletes the rule equal to ``data`` (list, action, fields, mask)."""
    sock.request(AUDIT_DEL_RULE, _pad4(data))


def key_matches(data: bytes, key: str) -> bool:
    """auditctl -k KEY (with -l and -D): KEY is a substring of the rule's key field(s)."""
    if not key:
        return True
    rule = Rule.decode(data)
    return any(
        key in (f.text or b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        for f in rule.fields
        if f.field & ~K.AUDIT_OPERATORS == K.AUDIT_FILTERKEY
    )


def delete_all_rules(sock: AuditSocket, key: str = "") -> list[bytes]:
    """auditctl -D [-k KEY]: delete every rule (with KEY); returns the deleted rules' bytes."""
    deleted = []
    for data in list_rules(sock):
        if key_matches(data, key):
            delete_rule(sock, data)
            deleted.append(data)
    return deleted


def _rule_request(sock: AuditSocket, op: str, rule: Rule) -> None:
    """Add or delete like auditctl, with its retry for kernels without directory watches."""
    send = add_rule if op == "add" else delete_rule
    try:
        send(sock, rule.encode())
    except AuditNetlinkError as exc:
        if exc.errno == errno.EINVAL and rule.fields and rule.fields[0].field == K.AUDIT_DIR:
            rule.fields[0].field = K.AUDIT_WATCH
            send(sock, rule.encode())
        else:
            raise


# ----------------------------------------------------------------------------------------------------------
# Commands


@dataclass
class Output:
    """What a command prints: ``stdout`` text, ``stderr`` lines (auditctl's informational messages)."""

    stdout: str = ""
    stderr: list[str] = field(default_factory=list)


def _user_message(text: str) -> str:
    """The AUDIT_USER body auditctl -m sends (libaudit's audit_log_user_message format)."""
    try:
        exe = os.readlink("/proc/self/exe")
    except OSError:
        exe = "?"
    exe_text = (
        f'"{exe}"' if all(0x21 <= ord(c) < 0x7F and c != '"' for c in exe) else exe.encode().hex().upper()
    )
    try:
        tty = os.ttyname(0)
        terminal = tty.removeprefix("/dev/")
        hostname = os.uname().nodename if terminal.startswith(("pts", "tty")) else "?"
    except OSError:
        terminal, hostname = "?", "?"
    return f"text={text} exe={exe_text} hostname={hostname} addr=? terminal={terminal} res=success"


def execute(sock: AuditSocket, cmd: Command) -> Output:
    """Run one command's actions, then its rule; return what auditctl prints.  Raises ControlError."""
    out = Output()
    for action in cmd.actions:
        kind = action[0]
        try:
            if kind == "set":
                _, knob, value = action
                if knob in ("enabled", "failure") and value == 2:
                    set_status(sock, allow_irreversible=True, **{str(knob): int(value)})  # type: ignore[arg-type]
                else:
                    set_status(sock, **{str(knob): int(value)})  # type: ignore[arg-type]
            elif kind == "status":
                out.stdout += format_status(get_status(sock), get_features(sock), interpret=bool(action[1]))
            elif kind == "list":
                key, interpret = str(action[1]), bool(action[2])
                rules = [Rule.decode(d) for d in list_rules(sock) if key_matches(d, key)]
                out.stdout += format_rules(rules, interpret=interpret)
            elif kind == "delete_all":
                key = str(action[1])
                delete_all_rules(sock, key)
                rules = [Rule.decode(d) for d in list_rules(sock) if key_matches(d, key)]
                out.stdout += format_rules(rules)
            elif kind == "message":
                sock.request(AUDIT_USER, _user_message(str(action[1])).encode() + b"\0")
            elif kind == "reset_lost":
                lost = set_status(sock, lost=0)
                out.stderr.append(f"lost: {lost}")
            elif kind == "reset_backlog_wait_time_actual":
                value = set_status(sock, backlog_wait_time_actual=0)
                out.stderr.append(f"backlog_wait_time_actual: {value}")
            elif kind == "loginuid_immutable":
                bit = 1 << K.AUDIT_FEATURE_LOGINUID_IMMUTABLE
                sock.request(AUDIT_SET_FEATURE, struct.pack("=4I", K.AUDIT_FEATURE_VERSION, bit, bit, bit))
            elif kind == "trim":
                sock.request(AUDIT_TRIM)
            elif kind == "make_equivalent":
                mount, sub = str(action[1]).encode(), str(action[2]).encode()
                sock.request(AUDIT_MAKE_EQUIV, struct.pack("=2I", len(mount), len(sub)) + mount + sub)
            elif kind == "signal":
                import signal as signal_mod

                pid = get_status(sock).pid
                if not pid:
                    raise ControlError("Auditd is not running")
                try:
                    os.kill(pid, getattr(signal_mod, f"SIG{action[1]}"))
                except OSError as exc:
                    raise ControlError(f"Failed sending signal to auditd ({exc.strerror})") from exc
        except AuditNetlinkError as exc:
            raise ControlError(explain(exc, _describe(action))) from exc
    if cmd.rule is not None and cmd.rule_op is not None:
        what = ("add" if cmd.rule_op == "add" else "delete") + " rule " + format_rule(cmd.rule)
        try:
            _rule_request(sock, cmd.rule_op, cmd.rule)
        except AuditNetlinkError as exc:
            raise ControlError(explain(exc, what)) from exc
    elif cmd.print_status:
        out.stdout += format_status(get_status(sock))  # the AUDIT_GET reply auditctl prints after a change
    return out


def _describe(action: tuple[object, ...]) -> str:
    if action[0] == "set":
        return f"set {action[1]} to {action[2]}"
    return str(action[0]).replace("_", " ")


# ----------------------------------------------------------------------------------------------------------
# Rules files


@dataclass
class FileLine:
    lineno: int
    text: str
    command: Command
    #: continue on errors here (a -c/-i line came before, or the caller asked)
    cont: bool = False


@dataclass
class LoadReport:
    """What loading a rules file did: output, errors (one line each), rules added, lines skipped."""

    stdout: str = ""
    stderr: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    added: list[bytes] = field(default_factory=list)
    loaded_lines: int = 0
    exit_code: int = 0


def _check_file(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise ControlError(f"audit rules file {path} doesn't exist") from exc
    except OSError as exc:
        raise ControlError(f"Error opening {path} ({exc.strerror})") from exc
    import stat as stat_mod

    if st.st_uid != 0:
        raise ControlError(f"Error - {path} isn't owned by root")
    if st.st_mode & stat_mod.S_IWOTH:
        raise ControlError(f"Error - {path} is world writable")
    if not stat_mod.S_ISREG(st.st_mode):
        raise ControlError(f"Error - {path} is not a regular file")


def parse_rules_file(
    path: str,
    *,
    continue_on_errors: bool = False,
    features: int = K.AUDIT_FEATURE_BITMAP_ALL,
    machine: str | None = None,
) -> tuple[list[FileLine], list[str], bool]:
    """Parse every line of a rules file: (commands, error lines ``FILE:LINE: cause``, continue mode).

    ``-c``/``-i`` lines switch to continue-on-errors from that line on, as in auditctl; so does
    ``continue_on_errors``.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    lines: list[FileLine] = []
    errors: list[str] = []
    cont = continue_on_errors
    for lineno, bline in enumerate(raw.split(b"\n"), 1):
        text = bline.decode("utf-8", "surrogateescape")
        argv = split_rule_line(text)
        if argv is None:
            continue
        try:
            cmd = parse_args(argv, lineno=lineno, features=features, machine=machine)
        except RuleError as exc:
            errors.append(f"{path}:{lineno}: {exc}")
            if not cont:
                break
            continue
        if any(a[0] in ("ignore_errors", "continue_on_errors") for a in cmd.actions):
            cont = True
        lines.append(FileLine(lineno, text, cmd, cont))
    return lines, errors, cont


_LINE_ACTIONS = {
    "set",
    "status",
    "list",
    "delete_all",
    "message",
    "reset_lost",
    "reset_backlog_wait_time_actual",
    "loginuid_immutable",
    "trim",
    "make_equivalent",
    "signal",
    "ignore_errors",
    "continue_on_errors",
    "version",
}


def load_rules_file(
    sock: AuditSocket,
    path: str,
    *,
    continue_on_errors: bool = False,
    machine: str | None = None,
) -> LoadReport:
    """``auditctl -R FILE``, all or nothing.

    Every line is parsed first; a wrong line loads nothing (unless in continue mode).  Then the lines run
    in order; if the kernel refuses one (a duplicate rule, a watch on a missing directory, audit locked),
    what this file already changed is undone - rules it added are deleted, knobs it set are set back,
    rules it deleted with ``-D`` are added again - and nothing stays loaded.  In continue mode (``-c``/``-i``
    in the file, or ``continue_on_errors``) the bad lines are reported and the others load; the exit code
    is 1 after errors unless the file said ``-i``.
    """
    _check_file(path)
    report = LoadReport()
    status = get_status(sock)
    if status.enabled == 2:
        raise ControlError(
            f"{path}: The audit system is in immutable mode (enabled 2), no rule changes allowed until reboot"
        )
    features = status.feature_bitmap or 0
    lines, errors, cont = parse_rules_file(
        path, continue_on_errors=continue_on_errors, features=features, machine=machine
    )
    ignore_only = any(a[0] == "ignore_errors" for fl in lines for a in fl.command.actions) and not (
        continue_on_errors or any(a[0] == "continue_on_errors" for fl in lines for a in fl.command.actions)
    )
    if errors and not cont:
        report.errors = [*errors[:1]]
        report.errors[0] += f" (nothing from {path} was loaded)"
        report.exit_code = 1
        return report
    report.errors.extend(errors)

    before_rules = list_rules(sock)
    knobs_before = status
    changed_knobs: dict[str, int] = {}
    deleted: list[bytes] = []
    for fl in lines:
        cmd = fl.command
        for w in cmd.warnings:
            report.stderr.append(f"{path}:{fl.lineno}: {w}")
        if cmd.deprecated:
            continue
        try:
            for action in cmd.actions:
                if action[0] == "set":
                    knob = str(action[1])
                    changed_knobs.setdefault(knob, int(getattr(knobs_before, knob)))
                if action[0] == "delete_all":
                    deleted.extend(d for d in list_rules(sock) if key_matches(d, str(action[1])))
            out = execute(sock, cmd)
            report.stdout += out.stdout
            report.stderr.extend(out.stderr)
            if cmd.rule is not None and cmd.rule_op == "add":
                report.added.append(cmd.rule.encode())
            report.loaded_lines += 1
        except ControlError as exc:
            message = f"{path}:{fl.lineno}: {exc}"
            if fl.cont:
                report.errors.append(message)
                continue
            problems = _rollback(sock, report.added, changed_knobs, deleted, before_rules)
            suffix = (
                f" (nothing from {path} was loaded)" if not problems else f" (rollback failed: {problems})"
            )
            report.errors.append(message + suffix)
            report.added = []
            report.exit_code = 1
            return report
    if report.errors and not ignore_only:
        report.exit_code = 1
    return report


def _rollback(
    sock: AuditSocket,
    added: list[bytes],
    knobs: dict[str, int],
    deleted: list[bytes],
    before: list[bytes],
) -> str:
    """Undo a partial load; returns '' or a description of what could not be undone."""
    problems = []
    for data in reversed(added):
        try:
            delete_rule(sock, data)
        except AuditNetlinkError as exc:
            if exc.errno != errno.ENOENT:
                problems.append(explain(exc, "delete rule"))
    if deleted:
        present = list_rules(sock)
        for data in before:
            if data in deleted and data not in present:
                try:
                    add_rule(sock, data)
                except AuditNetlinkError as exc:
                    problems.append(explain(exc, "re-add rule"))
    for knob, value in knobs.items():
        try:
            set_status(sock, allow_irreversible=True, **{knob: value})  # type: ignore[arg-type]
        except AuditNetlinkError as exc:
            problems.append(explain(exc, f"set {knob} back to {value}"))
    return "; ".join(problems)

"""SQL tables: declarations (see :mod:`auditsql.tables.registry`) and the mapping from events to rows.

Importing this package declares every table in ``REGISTRY``. The store and the agent use:

* :func:`rows_for` — the rows one rendered event (``Renderer.render``'s dict, docs/event-json.md) fills;
* :func:`event_tables`, :func:`live_tables` — the tables by kind;
* :func:`live_rows` — the current rows of a live table, read from the kernel;
* :func:`loss_rows` — ``audit_loss`` rows from ``auditsql.kernel.loss`` loss records;
* :func:`configure` — the mapping options the agent config sets (failed execs, stat of executables).
"""

from __future__ import annotations

from auditsql.tables import audit, file, mac, process, proctree, seccomp, socket, user
from auditsql.tables.audit import LiveTableError, audit_event_row, loss_row, rules_rows, status_rows
from auditsql.tables.file import file_rows, is_file_event
from auditsql.tables.mac import mac_kind, mac_rows
from auditsql.tables.process import EXEC_SYSCALLS, process_rows
from auditsql.tables.proctree import TREE_SYSCALLS
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, REGISTRY, Column, Table, get, register
from auditsql.tables.seccomp import seccomp_rows
from auditsql.tables.socket import SOCKET_SYSCALLS, socket_rows
from auditsql.tables.user import is_user_type, type_number, user_rows

__all__ = [
    "REGISTRY",
    "Column",
    "Table",
    "COMMON_EVENT_COLUMNS",
    "LiveTableError",
    "get",
    "register",
    "rows_for",
    "event_tables",
    "live_tables",
    "live_rows",
    "loss_rows",
    "configure",
]

_NOT_RECORDS = frozenset(("ID", "NODE", "summary", "raw"))
# section name -> (user-space message?, MAC record candidate?, seccomp?)
_CATEGORY: dict[str, tuple[bool, bool, bool]] = {}
_NONE = (False, False, False)
for _name in ("SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "SOCKADDR", "SOCKETCALL", "EOE", "BPRM_FCAPS"):
    _CATEGORY[_name] = _NONE


def _category(name: str) -> tuple[bool, bool, bool]:
    cat = _CATEGORY.get(name)
    if cat is None:
        n = type_number(name)
        cat = (is_user_type(n), mac_kind(name, n, None) is not None, n == 1326)
        if len(_CATEGORY) < 4096:
            _CATEGORY[name] = cat
    return cat


def rows_for(event: dict, uptime_base: float | None = None) -> list[tuple[str, tuple]]:
    """(table name, row) for every row one rendered event fills: always one ``audit_events`` row, then
    ``process_events``, ``socket_events``, ``user_events``, ``selinux_events``, ``apparmor_events``,
    ``seccomp_events`` rows as the event's records call for. ``uptime_base`` is the boot time (UNIX
    seconds) of the machine that produced the event, for ``uptime``; None leaves ``uptime`` NULL."""
    summary = event.get("summary")
    if not isinstance(summary, dict):
        summary = {}
    out: list[tuple[str, tuple]] = [("audit_events", audit_event_row(event, summary, uptime_base))]
    if "SYSCALL" in event:
        name = summary.get("syscall")
        if name in EXEC_SYSCALLS:
            tree = proctree.TREE
            ext = None
            if tree is not None:
                try:
                    tree.exec(event, summary)
                    ext = tree.ext(event.get("NODE"), summary.get("pid"), summary.get("ppid"))
                except Exception:  # a tree bug must not cost the exec row; counted
                    tree.counters["errors"] = tree.counters.get("errors", 0) + 1
            out.extend(("process_events", r) for r in process_rows(event, summary, uptime_base, ext))
        elif name in SOCKET_SYSCALLS:
            out.extend(("socket_events", r) for r in socket_rows(event, summary, uptime_base))
        elif name in TREE_SYSCALLS and proctree.TREE is not None:
            out.extend(proctree.TREE.on_event(event, summary))
        if "PATH" in event and is_file_event(event, summary):
            out.extend(("process_file_events", r) for r in file_rows(event, summary, uptime_base))
    users: list[str] | None = None
    macs: list[tuple[str, int]] | None = None
    has_seccomp = False
    for key in event:
        if key in _NOT_RECORDS:
            continue
        is_user, is_mac, is_seccomp = _category(key)
        if is_user:
            if users is None:
                users = []
            users.append(key)
        if is_mac:
            if macs is None:
                macs = []
            macs.append((key, type_number(key)))
        if is_seccomp:
            has_seccomp = True
    if users:
        out.extend(("user_events", r) for r in user_rows(event, users, uptime_base))
    if macs:
        out.extend(mac_rows(event, macs, uptime_base))
    if has_seccomp:
        out.extend(("seccomp_events", r) for r in seccomp_rows(event, uptime_base))
    return out


def event_tables() -> list[Table]:
    """Tables filled from events (kind ``events``) and counters (kind ``internal``), in declaration order."""
    return [t for t in REGISTRY.values() if t.kind in ("events", "internal")]


def live_tables() -> list[Table]:
    """Tables read from the kernel when queried (kind ``live``)."""
    return [t for t in REGISTRY.values() if t.kind == "live"]


def live_rows(name: str) -> list[tuple]:
    """The current rows of the live table ``name`` (``audit_status``, ``audit_rules``), read from the kernel.
    Raises :class:`LiveTableError` (one line: cause and fix) when the kernel cannot be asked."""
    if name == "audit_status":
        return status_rows()
    if name == "audit_rules":
        return rules_rows()
    raise KeyError(f"{name} is not a live table")


def loss_rows(records: list[dict]) -> list[tuple]:
    """``audit_loss`` rows for loss records ``{"time", "cause", "count", "detail"}``
    (``auditsql.kernel.loss.LossAccount.drain``)."""
    return [loss_row(r) for r in records]


def configure(
    include_failed_execs: bool | None = None,
    stat_executable: bool | None = None,
    audit_sections: bool | None = None,
    process_tree: bool | None = None,
    fork_events: bool | None = None,
) -> None:
    """Set the mapping options (None leaves one as it is): rows for failed execs in ``process_events``
    (off by default, as osquery), ``stat()`` of the executable for its times (off), and the typed record
    sections in ``audit_events.sections`` (on); the process tree (a live tracker, ``process_tree`` rows; off
    unless set) and its fork rows in ``process_events`` (off)."""
    if process_tree is not None:
        if not process_tree:
            proctree.disable()
        elif proctree.TREE is None:
            proctree.enable()
    if fork_events is not None and proctree.TREE is not None:
        proctree.TREE.fork_events = bool(fork_events)
    if include_failed_execs is not None:
        process.INCLUDE_FAILED_EXECS = bool(include_failed_execs)
    if stat_executable is not None:
        process.STAT_EXECUTABLE = bool(stat_executable)
    if audit_sections is not None:
        audit.AUDIT_EVENTS_SECTIONS = bool(audit_sections)


# keep the family modules referenced (their import declares the tables)
_MODULES = (audit, file, mac, process, proctree, seccomp, socket, user)
# the registry in reading order (osquery's tables first, then auditsql's own): `.tables`, docs/tables.md
_ORDER = (
    "process_events",
    "socket_events",
    "process_file_events",
    "process_tree",
    "user_events",
    "selinux_events",
    "apparmor_events",
    "seccomp_events",
    "audit_events",
    "audit_loss",
    "audit_status",
    "audit_rules",
)
_declared = dict(REGISTRY)
REGISTRY.clear()
REGISTRY.update({n: _declared[n] for n in _ORDER if n in _declared})
REGISTRY.update({n: t for n, t in _declared.items() if n not in REGISTRY})
del _declared

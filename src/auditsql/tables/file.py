"""``process_file_events``: file changes under watched paths, osquery's columns plus auditsql's extensions.

osquery's table audits every process's ``open``/``read``/``write``/``close``... calls and follows each
descriptor in user space; auditsql asks the kernel to filter instead: one watch rule per configured path
(``-w PATH -p wa -k auditsql_file``, :func:`rules`), and the kernel reports only the calls that touch it. A
directory watch covers its whole subtree, files created after start included. See docs/file-events.md.

Mapping, from the SYSCALL record, the CWD record and the PATH records with their ``nametype``:

* ``operation`` (osquery's names where osquery has one): ``create`` (a new file: ``open``/``creat`` with
  ``O_CREAT`` that made it, ``mknod``), ``open+truncate`` (opened for writing with ``O_TRUNC``), ``write``
  (opened for writing: the kernel's watches see the ``open``, not the ``write()`` calls that follow), ``open``
  (opened for reading, with ``-p r`` only), ``truncate``, ``unlink``, ``rmdir``, ``mkdir``, ``rename``,
  ``link``, ``symlink``, ``chmod``, ``chown``, ``setxattr``, ``removexattr``; any other call a watch reports
  (``bind`` of a UNIX socket, ``acct``...) is named by its syscall.
* ``path``/``dest_path``: ``rename``: the old name and the new one; ``link``: the existing file and the new
  link; ``symlink``: the link's target as written (not resolved) and the new link; otherwise ``path`` is the
  file and ``dest_path`` NULL.
* Names are made absolute as osquery does: a relative name is joined to the CWD record's directory, then
  normalized lexically (``.``, ``..``, doubled ``/``). A name relative to a directory descriptor (``openat``
  with a real ``dirfd``) or a call on a descriptor (``fchmod``: the PATH record has no name) is looked up in a
  bounded memory of (node, device, inode) → path filled from earlier events; if that fails the name is kept
  as written (or NULL). ``partial`` is ``"true"`` whenever ``path``/``dest_path`` did not come from this
  event's own records alone (osquery: ``"true"`` for processes it did not follow from their start).
* ``inode``, ``mode`` (``0100644``, as ``process_events.mode``) describe the ``path`` file (for ``rename`` the
  file moved), from its PATH record.
"""

from __future__ import annotations

import posixpath
from collections import OrderedDict

from auditsql.tables._common import as_int, event_columns, first_section, text
from auditsql.tables.proctree import process_start
from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = [
    "PROCESS_FILE_EVENTS",
    "FILE_SYSCALLS",
    "FILE_KEY",
    "FileWatchError",
    "is_file_event",
    "file_rows",
    "rules",
    "reset_state",
]

#: the key of the watch rules :func:`rules` writes
FILE_KEY = "auditsql_file"

_TIME, _UPTIME, _EID = COMMON_EVENT_COLUMNS

PROCESS_FILE_EVENTS = register(
    Table(
        name="process_file_events",
        description="File changes under the watched paths (`[file_events] paths`, kernel watch rules "
        "`-w PATH -p wa`): creates, writes, truncates, renames, links, unlinks, mode, owner and extended "
        "attribute changes, from the SYSCALL, CWD and PATH records.",
        osquery="process_file_events",
        indexes=(("path", "time"),),
        notes=(
            "osquery declares the id columns TEXT; here they are numbers (a query comparing them to text "
            "still matches). `partial` is the text `true`/`false`, as in osquery. See docs/file-events.md.",
        ),
        columns=(
            Column(
                "operation",
                "TEXT",
                "Operation type: `create`, `write`, `open+truncate`, `truncate`, `unlink`, `rmdir`, `mkdir`, "
                "`rename`, `link`, `symlink`, `chmod`, `chown`, `setxattr`, `removexattr` (`open` with `-p r`)",
                index=True,
            ),
            Column("pid", "BIGINT", "Process ID", index=True),
            Column("ppid", "BIGINT", "Parent process ID"),
            _TIME,
            Column("executable", "TEXT", "The executable path (the SYSCALL record's `exe`)"),
            Column(
                "partial",
                "TEXT",
                "`true` when `path`/`dest_path` could not be resolved from this event's records alone "
                "(a name relative to a directory descriptor, a call on a descriptor), else `false`",
            ),
            Column("cwd", "TEXT", "The current working directory of the process"),
            Column("path", "TEXT", "The path associated with the event (rename: the old name)"),
            Column(
                "dest_path",
                "TEXT",
                "The destination path: rename: the new name; link, symlink: the new link; else NULL",
            ),
            Column("uid", "BIGINT", "The uid of the process performing the action"),
            Column("gid", "BIGINT", "The gid of the process performing the action"),
            Column("auid", "BIGINT", "Audit user ID of the process using the file", index=True),
            Column("euid", "BIGINT", "Effective user ID of the process using the file"),
            Column("egid", "BIGINT", "Effective group ID of the process using the file"),
            Column("fsuid", "BIGINT", "Filesystem user ID of the process using the file"),
            Column("fsgid", "BIGINT", "Filesystem group ID of the process using the file"),
            Column("suid", "BIGINT", "Saved user ID of the process using the file"),
            Column("sgid", "BIGINT", "Saved group ID of the process using the file"),
            _UPTIME,
            _EID,
            Column("syscall", "TEXT", "Syscall name (`openat`, `renameat2`, `fchmod`...)", extension=True),
            Column("success", "INTEGER", "1 if the call succeeded, else 0", extension=True),
            Column(
                "exit_code",
                "BIGINT",
                "The syscall's return value (a descriptor, 0, or -errno)",
                extension=True,
            ),
            Column("errno", "TEXT", "Error name when the call failed (`EACCES`)", extension=True),
            Column("key", "TEXT", "Key of the audit rule that recorded the event", extension=True),
            Column("inode", "BIGINT", "Inode number of the `path` file", extension=True),
            Column(
                "mode",
                "TEXT",
                "File mode of the `path` file as the kernel writes it (`0100644`)",
                extension=True,
            ),
            Column(
                "process_start",
                "DOUBLE",
                "Start time (UNIX seconds) of the process, the key of its `process_tree` row with `pid`; "
                "NULL when the tree does not know it",
                extension=True,
            ),
        ),
    )
)

# syscall → operation class; "open" is decided from the flags, "unlink" may become "rmdir"
_OPS: dict[str, str] = {
    **dict.fromkeys(("open", "openat", "openat2", "creat", "open_by_handle_at"), "open"),
    **dict.fromkeys(("truncate", "ftruncate", "truncate64", "ftruncate64"), "truncate"),
    **dict.fromkeys(("unlink", "unlinkat"), "unlink"),
    "rmdir": "rmdir",
    **dict.fromkeys(("rename", "renameat", "renameat2"), "rename"),
    **dict.fromkeys(("link", "linkat"), "link"),
    **dict.fromkeys(("symlink", "symlinkat"), "symlink"),
    **dict.fromkeys(("mkdir", "mkdirat"), "mkdir"),
    **dict.fromkeys(("mknod", "mknodat"), "create"),
    **dict.fromkeys(("chmod", "fchmod", "fchmodat", "fchmodat2"), "chmod"),
    **dict.fromkeys(("chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"), "chown"),
    **dict.fromkeys(("setxattr", "lsetxattr", "fsetxattr"), "setxattr"),
    **dict.fromkeys(("removexattr", "lremovexattr", "fremovexattr"), "removexattr"),
}
#: syscalls whose events become rows whenever they carry PATH records (whatever rule recorded them)
FILE_SYSCALLS = frozenset(_OPS)
# which argument holds the directory descriptor a relative name is resolved against: (source, destination)
_DIRFD: dict[str, tuple[int | None, int | None]] = {
    **dict.fromkeys(
        ("openat", "openat2", "unlinkat", "mkdirat", "mknodat", "fchmodat", "fchmodat2", "fchownat"),
        (0, None),
    ),
    **dict.fromkeys(("renameat", "renameat2", "linkat"), (0, 2)),
    "symlinkat": (None, 1),
}
_AT_FDCWD = 0xFFFFFF9C  # -100 as the kernel prints a 32-bit int argument
_AT_REMOVEDIR = 0x200
_O_ACCMODE, _O_CREAT, _O_TRUNC = 0o3, 0o100, 0o1000
_CREAT_FLAGS = 0o1 | _O_CREAT | _O_TRUNC  # creat(2) is open(O_WRONLY|O_CREAT|O_TRUNC)

#: (node, dev, inode) → absolute path, from the names events resolved; bounded
_INODES: OrderedDict[tuple[str | None, str | None, int], str] = OrderedDict()
_INODES_MAX = 65536


class FileWatchError(ValueError):
    """A ``[file_events]`` setting the kernel would refuse; the message is one line with cause and fix."""


def reset_state() -> None:
    """Forget the remembered inode paths (tests, a new import)."""
    _INODES.clear()


def _escape(path: str) -> str:
    # auditctl's rule-line syntax: "\ " is a space, "\\" a backslash
    return path.replace("\\", "\\\\").replace(" ", "\\ ")


def rules(paths: list[str], permissions: str = "wa") -> list[tuple[str, str]]:
    """One watch rule per path: ``(origin, "-w PATH -p PERMS -k auditsql_file")``.

    Checked here, before the kernel is touched, with one-line errors (:class:`FileWatchError`): the path
    must be absolute, without a newline, and its parent directory must exist (the kernel refuses a watch
    whose parent is missing with ENOENT; a missing file in an existing directory is fine, and is reported
    once it is created). ``permissions`` is a non-empty subset of ``rwxa``."""
    perms = permissions or ""
    if not perms or any(c not in "rwxa" for c in perms) or len(set(perms)) != len(perms):
        raise FileWatchError(
            f"[file_events] permissions {permissions!r}: use letters from rwxa (r read, w write, x execute, "
            "a attribute change), e.g. 'wa'"
        )
    out: list[tuple[str, str]] = []
    for path in paths:
        origin = f"[file_events] paths: {path}"
        if not isinstance(path, str) or not path.startswith("/"):
            raise FileWatchError(f"{origin}: not an absolute path; write it from / (e.g. /etc/passwd)")
        if any(c in path for c in "\n\0\x04\x07"):
            raise FileWatchError(
                f"{origin}: a newline, NUL, \\x04 or \\x07 cannot be written in a rule line; remove the entry"
            )
        norm = path.rstrip("/") or "/"
        parent = posixpath.dirname(norm) or "/"
        if not posixpath.isdir(parent):
            raise FileWatchError(
                f"{origin}: its directory {parent} does not exist and the kernel needs it to place the watch; "
                "create it or watch an existing ancestor instead"
            )
        out.append((origin, f"-w {_escape(norm)} -p {perms} -k {FILE_KEY}"))
    return out


def _start_of(node: str | None, pid: object) -> float | None:
    """``process_start`` of (node, pid) from the process tree (``auditsql.tables.proctree``), or None."""
    return process_start(node, pid) if isinstance(pid, int) else None


def _has_file_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    return key == FILE_KEY or FILE_KEY in key.split("%01")


def is_file_event(event: dict, summary: dict) -> bool:
    """Whether the event makes a ``process_file_events`` row: it has PATH records, and its syscall is one of
    :data:`FILE_SYSCALLS` or its rule's key is ``auditsql_file``."""
    if "PATH" not in event:
        return False
    return summary.get("syscall") in FILE_SYSCALLS or _has_file_key(summary.get("key"))


def _mode(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("0o"):
        return "0" + value[2:]
    return text(value)


def _remember(key: tuple[str | None, str | None, int], path: str) -> None:
    _INODES[key] = path
    _INODES.move_to_end(key)
    if len(_INODES) > _INODES_MAX:
        _INODES.popitem(last=False)


def _ino_key(node: str | None, item: dict | None) -> tuple[str | None, str | None, int] | None:
    if item is None:
        return None
    ino = item.get("inode")
    if not isinstance(ino, int):
        return None
    dev = item.get("dev")
    return (node, dev if isinstance(dev, str) else None, ino)


def _is_cwd(dirfd: int | None) -> bool:
    return dirfd is None or (dirfd & 0xFFFFFFFF) == _AT_FDCWD


def _resolve(
    node: str | None, item: dict | None, dirfd: int | None, parent: dict | None, cwd: str | None
) -> tuple[str | None, bool]:
    """(absolute path or the name as written, resolved from this event alone?) of one PATH item."""
    if item is None:
        return None, False
    name = text(item.get("name"))
    if not name:
        key = _ino_key(node, item)
        known = _INODES.get(key) if key is not None else None
        return known, False
    if name.startswith("/"):
        return posixpath.normpath(name), True
    if _is_cwd(dirfd):
        if cwd:
            return posixpath.normpath(posixpath.join(cwd, name)), True
        return name, False
    key = _ino_key(node, parent)
    known = _INODES.get(key) if key is not None else None
    if known is not None:
        return posixpath.normpath(posixpath.join(known, name)), False
    return name, False


def _first(items: list[dict], nametype: str) -> dict | None:
    for it in items:
        if it.get("nametype") == nametype:
            return it
    return None


def _last(items: list[dict], nametype: str) -> dict | None:
    for it in reversed(items):
        if it.get("nametype") == nametype:
            return it
    return None


def _subject(items: list[dict]) -> dict | None:
    for it in items:
        if it.get("nametype") != "PARENT":
            return it
    return items[0] if items else None


def _open_flags(name: str, args: list[int | None], event: dict) -> int | None:
    if name == "creat":
        return _CREAT_FLAGS
    if name == "open":
        return args[1] if len(args) > 1 else None
    if name in ("openat", "open_by_handle_at"):
        return args[2] if len(args) > 2 else None
    if name == "openat2":
        how = event.get("OPENAT2")
        rec = how[0] if isinstance(how, list) and how else how
        if isinstance(rec, dict):
            return as_int(rec.get("oflag"), 16)
    return None


def _learn(
    node: str | None,
    op: str,
    subject: dict | None,
    dest: dict | None,
    path: str | None,
    whole: bool,
    dest_path: str | None,
    dest_whole: bool,
    cwd: str | None,
    parents: list[dict],
    src_fd: int | None,
    dest_fd: int | None,
) -> None:
    """Update the inode → path memory after a successful call: the directories named relative to the CWD,
    the file's new name (rename, link, create...), and forget what was unlinked."""
    if parents:
        for par, fd in ((parents[0], src_fd), (parents[-1], dest_fd)):
            key = _ino_key(node, par)
            if key is not None and _is_cwd(fd):
                ppath, pwhole = _resolve(node, par, fd, None, cwd)
                if pwhole and ppath:
                    _remember(key, ppath)
    if op == "unlink" or op == "rmdir":
        key = _ino_key(node, subject)
        if key is not None:
            _INODES.pop(key, None)
        return
    if dest is not None:
        key = _ino_key(node, dest)
        if key is not None and dest_whole and dest_path:
            _remember(key, dest_path)
        return
    key = _ino_key(node, subject)
    if key is not None and whole and path:
        _remember(key, path)


def file_rows(event: dict, summary: dict, uptime_base: float | None) -> list[tuple]:
    """The ``process_file_events`` row of a file event (see :func:`is_file_event`); empty for others."""
    paths = event.get("PATH")
    if not isinstance(paths, list) or not paths:
        return []
    items = [p for p in paths if isinstance(p, dict)]
    if not items:
        return []
    g = summary.get
    name = g("syscall")
    name = name if isinstance(name, str) else ""
    op = _OPS.get(name)
    if op is None and not _has_file_key(g("key")):
        return []
    sc = first_section(event, "SYSCALL") or {}
    args = [as_int(a, 16) for a in sc.get("ARGV") or ()]
    node = event.get("NODE")
    cwd = text(g("cwd"))
    src_arg, dest_arg = _DIRFD.get(name, (None, None))
    src_fd = args[src_arg] if src_arg is not None and src_arg < len(args) else None
    dest_fd = args[dest_arg] if dest_arg is not None and dest_arg < len(args) else None
    parents = [it for it in items if it.get("nametype") == "PARENT"]
    src_parent = parents[0] if parents else None
    dest_parent = parents[-1] if parents else None
    subject = dest = None
    symlink_target: str | None = None
    if op == "rename":
        dest = _last(items, "CREATE")
        subject = None
        if dest is not None and isinstance(dest.get("inode"), int):
            for it in items:
                if it.get("nametype") == "DELETE" and it.get("inode") == dest.get("inode"):
                    subject = it
                    break
        if subject is None:
            subject = _first(items, "DELETE") or _subject(items)
    elif op == "link":
        dest = _last(items, "CREATE")
        subject = next((it for it in items if it.get("nametype") not in ("PARENT", "CREATE")), None)
    elif op == "symlink":
        dest = _last(items, "CREATE")
        target = next((it for it in items if it.get("nametype") not in ("PARENT", "CREATE")), None)
        symlink_target = text(target.get("name")) if target is not None else None
        subject = dest
    elif op == "open":
        created = _first(items, "CREATE")
        if created is not None:
            op, subject = "create", created
        else:
            subject = _subject(items)
            flags = _open_flags(name, args, event)
            if flags is None:
                op = "write"
            elif (flags & _O_ACCMODE) in (1, 2):
                op = "open+truncate" if flags & _O_TRUNC else "write"
            else:
                op = "open"
    elif op == "unlink" or op == "rmdir":
        subject = _first(items, "DELETE") or _subject(items)
        if name == "unlinkat" and len(args) > 2 and args[2] is not None and args[2] & _AT_REMOVEDIR:
            op = "rmdir"
    elif op in ("mkdir", "create"):
        subject = _first(items, "CREATE") or _subject(items)
    elif op is not None:
        subject = _subject(items)
    else:  # a call a watch reported that has no name of its own here
        created, deleted = _first(items, "CREATE"), _first(items, "DELETE")
        if created is not None:
            op, subject = "create", created
        elif deleted is not None:
            op, subject = "unlink", deleted
        else:
            op, subject = name or "unknown", _subject(items)
    if dest_arg is None:
        dest_fd = src_fd
    if op == "symlink":
        path: str | None = symlink_target
        whole = symlink_target is not None
    else:
        path, whole = _resolve(node, subject, src_fd, src_parent, cwd)
    dest_path, dest_whole = (
        _resolve(node, dest, dest_fd, dest_parent, cwd) if dest is not None else (None, True)
    )
    partial = not (whole and dest_whole)
    success = g("success")
    exit_code = g("exit")
    exit_code = exit_code if isinstance(exit_code, int) else as_int(exit_code)
    if success is None:
        success = not (isinstance(exit_code, int) and exit_code < 0)
    if success is True:
        _learn(node, op, subject, dest, path, whole, dest_path, dest_whole, cwd, parents, src_fd, dest_fd)
    described = subject if op != "symlink" else dest
    inode = mode = None
    if described is not None:
        inode = described.get("inode") if isinstance(described.get("inode"), int) else None
        mode = _mode(described.get("mode"))
    time, uptime, eid = event_columns(event, uptime_base)
    pid = g("pid")
    errno = g("errno") if success is not True and isinstance(g("errno"), str) else None
    return [
        (
            op,
            pid,
            g("ppid"),
            time,
            text(g("exe")),
            "true" if partial else "false",
            cwd,
            path,
            dest_path,
            g("uid"),
            g("gid"),
            g("auid"),
            g("euid"),
            g("egid"),
            g("fsuid"),
            g("fsgid"),
            g("suid"),
            g("sgid"),
            uptime,
            eid,
            name or None,
            1 if success is True else 0,
            exit_code,
            errno,
            text(g("key")),
            inode,
            mode,
            _start_of(node, pid),
        )
    ]

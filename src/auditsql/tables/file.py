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

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = ["PROCESS_FILE_EVENTS", "FILE_KEY", "FileWatchError", "rules"]

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
# which argument holds the directory descriptor a relative name is resolved against: (source, destination)
_O_ACCMODE, _O_CREAT, _O_TRUNC = 0o3, 0o100, 0o1000


class FileWatchError(ValueError):
    """A ``[file_events]`` setting the kernel would refuse; the message is one line with cause and fix."""


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

"""``process_file_events`` (the native core's file mapper; the rules: ``auditsql.tables.file``): exact rows from real watch events, and the watch rules.

``file_socket_kernel.log`` (beside this file) holds the records this machine's kernel wrote for
``-w /tmp/auditsql-fe/w -p wa -k auditsql_file`` and ``-w /tmp/auditsql-fe/later -p wa`` (a path that did not
exist when the rule was loaded) while a script created, wrote, truncated, renamed, chmod-ed, chown-ed,
linked, unlinked... files there (captured with ``auditsql listen``, unchanged). The corpus events are
go-libaudit's and wazuh's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auditsql.tables as T
from auditsql.kernel.rules import parse_args, split_rule_line
from auditsql.tables import file as file_table
from tests.tables.test_rows import (
    CORPUS,
    _default_options,  # noqa: F401  (the autouse fixture: fresh options, state)
    render_file,
    render_lines,
    rows,
    rows_for,
)

KERNEL_LOG = Path(__file__).with_name("file_socket_kernel.log")
GOLIB_YAML = CORPUS / "elastic_go-libaudit" / "aucoalesce" / "ubuntu-17.04-linux-4.10.0.yaml"
WAZUH = CORPUS / "wazuh_wazuh" / "auditd.ini"
PY = "/root/.pyenv/versions/3.11.7/bin/python3.11"
W = "/tmp/auditsql-fe/w"


def kernel_rows() -> list[dict]:
    return [r for ev in render_file(KERNEL_LOG) for r in rows(ev, "process_file_events")]


def yaml_event(name: str) -> list[str]:
    """The record lines of one go-libaudit aucoalesce test (a YAML block scalar)."""
    lines = GOLIB_YAML.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"  {name}: |") + 1
    out = []
    for ln in lines[start:]:
        if not ln.startswith("    "):
            break
        out.append(ln[4:])
    return out


def test_columns_are_osquerys_then_extensions() -> None:
    assert T.get("process_file_events").column_names == (
        "operation",
        "pid",
        "ppid",
        "time",
        "executable",
        "partial",
        "cwd",
        "path",
        "dest_path",
        "uid",
        "gid",
        "auid",
        "euid",
        "egid",
        "fsuid",
        "fsgid",
        "suid",
        "sgid",
        "uptime",
        "eid",
        "syscall",
        "success",
        "exit_code",
        "errno",
        "key",
        "inode",
        "mode",
        "process_start",
    )


def test_create_row_whole() -> None:
    (ev,) = [e for e in render_file(KERNEL_LOG) if e["ID"] == "1795603951.329:6456268"]
    assert rows(ev, "process_file_events", uptime_base=1795600000.0) == [
        {
            "operation": "create",
            "pid": 19157,
            "ppid": 19071,
            "time": 1795603951,
            "executable": PY,
            "partial": "false",
            "cwd": "/tmp/auditsql-fe",
            "path": f"{W}/a.txt",
            "dest_path": None,
            "uid": 0,
            "gid": 0,
            "auid": 4294967295,
            "euid": 0,
            "egid": 0,
            "fsuid": 0,
            "fsgid": 0,
            "suid": 0,
            "sgid": 0,
            "uptime": 3951,
            "eid": "1795603951.329:6456268",
            "syscall": "openat",
            "success": 1,
            "exit_code": 4,
            "errno": None,
            "key": "auditsql_file",
            "inode": 2147234,
            "mode": "0100644",
            "process_start": None,
        }
    ]


def test_every_operation_of_the_kernel_capture() -> None:
    got = [
        (r["operation"], r["syscall"], r["path"], r["dest_path"], r["partial"], r["inode"], r["success"])
        for r in kernel_rows()
    ]
    assert got == [
        ("create", "openat", f"{W}/a.txt", None, "false", 2147234, 1),
        ("write", "openat", f"{W}/a.txt", None, "false", 2147234, 1),  # O_WRONLY|O_APPEND
        ("write", "openat", f"{W}/a.txt", None, "false", 2147234, 1),  # O_RDWR
        ("open+truncate", "openat", f"{W}/a.txt", None, "false", 2147234, 1),
        ("truncate", "truncate", f"{W}/a.txt", None, "false", 2147234, 1),
        ("rename", "rename", f"{W}/a.txt", f"{W}/b.txt", "false", 2147234, 1),
        ("chmod", "chmod", f"{W}/b.txt", None, "false", 2147234, 1),
        ("chown", "chown", f"{W}/b.txt", None, "false", 2147234, 1),
        ("write", "openat", f"{W}/b.txt", None, "false", 2147234, 1),  # absolute name
        # fchmod: the PATH record has no name; the path is the one the inode had in an earlier event
        ("chmod", "fchmod", f"{W}/b.txt", None, "true", 2147234, 1),
        ("mkdir", "mkdir", f"{W}/sub", None, "false", 2147236, 1),
        ("create", "openat", f"{W}/sub/deep", None, "false", 2147238, 1),  # in a directory made after start
        ("symlink", "symlink", "b.txt", f"{W}/sl", "false", 2147239, 1),  # the target as written
        ("link", "link", f"{W}/b.txt", f"{W}/hard", "false", 2147234, 1),
        ("setxattr", "setxattr", f"{W}/b.txt", None, "false", 2147234, 1),
        ("removexattr", "removexattr", f"{W}/b.txt", None, "false", 2147234, 1),
        ("create", "openat", f"{W}/other", None, "false", 2147240, 1),
        # rename over an existing file: the file moved is the DELETE with the CREATE's inode
        ("rename", "rename", f"{W}/other", f"{W}/existing", "false", 2147240, 1),
        # openat(dirfd, "rel.txt"): the directory's path is known from the mkdir above (its inode)
        ("create", "openat", f"{W}/sub/rel.txt", None, "true", 2147193, 1),
        ("unlink", "unlinkat", f"{W}/sub/rel.txt", None, "true", 2147193, 1),
        ("unlink", "unlink", f"{W}/hard", None, "false", 2147234, 1),
        ("unlink", "unlink", f"{W}/sl", None, "false", 2147239, 1),
        ("unlink", "unlink", f"{W}/sub/deep", None, "false", 2147238, 1),
        ("rmdir", "rmdir", f"{W}/sub", None, "false", 2147236, 1),
        ("unlink", "unlink", f"{W}/existing", None, "false", 2147240, 1),  # cwd inside the watch
        (
            "create",
            "openat",
            "/tmp/auditsql-fe/later",
            None,
            "false",
            2147193,
            1,
        ),  # watched before it existed
        ("unlink", "unlink", "/tmp/auditsql-fe/later", None, "false", 2147193, 1),
        ("open+truncate", "openat", f"{W}/b.txt", None, "false", 2147234, 0),  # as uid 4242: EACCES
    ]


def test_failed_open_has_errno_and_ids() -> None:
    r = kernel_rows()[-1]
    picked = {k: r[k] for k in ("uid", "euid", "fsuid", "gid", "exit_code", "errno", "success", "mode")}
    assert picked == {
        "uid": 4242,
        "euid": 4242,
        "fsuid": 4242,
        "gid": 4242,
        "exit_code": -13,
        "errno": "EACCES",
        "success": 0,
        "mode": "0100640",
    }


def test_socket_and_exec_events_are_not_file_rows() -> None:
    tables = {name for ev in render_file(KERNEL_LOG) for name, _ in rows_for(ev)}
    assert tables == {"audit_events", "process_file_events", "socket_events"}
    counts = [len(rows(ev, "process_file_events")) for ev in render_file(KERNEL_LOG)]
    assert counts.count(1) == 28 and counts.count(0) == 16


def test_dirfd_name_without_memory_is_partial_and_as_written() -> None:
    # the openat(dirfd, "rel.txt") event alone: the directory's inode was never seen
    evs = render_file(KERNEL_LOG)
    (ev,) = [e for e in evs if e["ID"] == "1795603951.341:6456286"]
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["path"], r["partial"]) == ("create", "rel.txt", "true")


def test_fd_call_without_memory_has_no_path() -> None:
    (ev,) = [e for e in render_file(KERNEL_LOG) if e["ID"] == "1795603951.333:6456277"]
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["syscall"], r["path"], r["partial"], r["inode"]) == (
        "chmod",
        "fchmod",
        None,
        "true",
        2147234,
    )


def test_go_libaudit_unlink_and_rename_from_vim() -> None:
    got = []
    for name in ("unlink syscall", "rename syscall"):
        (ev,) = render_lines(yaml_event(name))
        (r,) = rows(ev, "process_file_events")
        got.append(
            (r["operation"], r["path"], r["dest_path"], r["partial"], r["executable"], r["key"], r["auid"])
        )
    assert got == [
        (
            "unlink",
            "/etc/audit/rules.d/.audit.rules.swp",
            None,
            "false",
            "/usr/bin/vim.basic",
            "auditconfig",
            1001,
        ),
        (
            "rename",
            "/etc/audit/rules.d/audit.rules",
            "/etc/audit/rules.d/audit.rules~",
            "false",
            "/usr/bin/vim.basic",
            "auditconfig",
            1001,
        ),
    ]


def test_wazuh_touch_open_syscall_creates() -> None:
    # wazuh's auditd.ini test: touch (open(2), syscall 2, flags 0x941) under a `-w ... -k audit-wazuh-w` watch
    line = next(
        ln
        for ln in WAZUH.read_text(encoding="utf-8").split("\n")
        if "malware.py" in ln and "nametype=CREATE" in ln
    )
    text = line.split(" = ", 1)[1]
    parts = [text.split(" type=")[0], *("type=" + p for p in text.split(" type=")[1:])]
    (ev,) = render_lines(parts)
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["syscall"], r["path"], r["cwd"], r["executable"], r["key"]) == (
        "create",
        "open",
        "/var/log/audit/tmp_directory1/malware.py",
        "/var/log/audit",
        "/bin/touch",
        "audit-wazuh-w",
    )


OPENAT = (
    "type=SYSCALL msg=audit(1795603951.333:1): arch=c000003e syscall=257 success=yes exit=4 a0=ffffff9c "
    "a1=7f25c45e3050 a2={flags:x} a3=0 items=1 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 "
    'sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)',
    'type=CWD msg=audit(1795603951.333:1): cwd="/srv/a b"',
    'type=PATH msg=audit(1795603951.333:1): item=0 name="{name}" inode=7 dev=fe:00 mode=0100644 ouid=0 '
    "ogid=0 rdev=00:00 nametype=NORMAL",
)


@pytest.mark.parametrize(
    ("flags", "name", "op", "path"),
    [
        (0o1, "f", "write", "/srv/a b/f"),
        (0o2 | 0o1000, "./x/../f", "open+truncate", "/srv/a b/f"),
        (0o0, "f", "open", "/srv/a b/f"),  # read access: only with -p r
        (0o0 | 0o1000, "//abs//f", "open", "//abs/f"),  # O_TRUNC without write access does not truncate
    ],
)
def test_open_flags_and_cwd_join(flags: int, name: str, op: str, path: str) -> None:
    (ev,) = render_lines([ln.format(flags=flags, name=name) for ln in OPENAT])
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["path"], r["partial"], r["key"]) == (op, path, "false", None)


def test_unlinkat_removedir_is_rmdir() -> None:
    lines = [
        OPENAT[0].format(flags=0x200).replace("syscall=257", "syscall=263").replace("exit=4", "exit=0"),
        OPENAT[1],
        OPENAT[2].format(name="/srv/d").replace("nametype=NORMAL", "nametype=DELETE"),
    ]
    (ev,) = render_lines(lines)
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["syscall"], r["path"]) == ("rmdir", "unlinkat", "/srv/d")


def test_other_call_under_the_watch_key_is_named_by_its_syscall() -> None:
    # bind(2) of a UNIX socket in a watched directory: bind is in the kernel's write class
    lines = [
        OPENAT[0].format(flags=0x10).replace("syscall=257", "syscall=49").replace("exit=4", "exit=0")
        .replace("key=(null)", 'key="auditsql_file"'),
        OPENAT[1],
        OPENAT[2].format(name="/srv/s.sock").replace("nametype=NORMAL", "nametype=CREATE"),
    ]  # fmt: skip
    (ev,) = render_lines(lines)
    (r,) = rows(ev, "process_file_events")
    assert (r["operation"], r["syscall"], r["path"]) == ("create", "bind", "/srv/s.sock")


# -- watch rules ------------------------------------------------------------------------------------------


def test_rules_one_watch_per_path(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    got = file_table.rules([str(tmp_path / "d") + "/", str(tmp_path / "not yet")], "wa")
    assert got == [
        (f"[file_events] paths: {tmp_path}/d/", f"-w {tmp_path}/d -p wa -k auditsql_file"),
        (f"[file_events] paths: {tmp_path}/not yet", f"-w {tmp_path}/not\\ yet -p wa -k auditsql_file"),
    ]
    assert file_table.rules([], "wa") == []


@pytest.mark.parametrize(
    ("paths", "perms", "message"),
    [
        (["etc/passwd"], "wa", "[file_events] paths: etc/passwd: not an absolute path; write it from / "),
        (
            ["/nonexistent-dir-h2/x"],
            "wa",
            "[file_events] paths: /nonexistent-dir-h2/x: its directory /nonexistent-dir-h2 does not exist",
        ),
        (["/etc"], "wq", "[file_events] permissions 'wq': use letters from rwxa"),
        (["/etc"], "", "[file_events] permissions '': use letters from rwxa"),
    ],
)
def test_rules_errors_are_one_line(paths: list[str], perms: str, message: str) -> None:
    with pytest.raises(file_table.FileWatchError) as info:
        file_table.rules(paths, perms)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\0\x04\x07/"),
        min_size=1,
        max_size=40,
    )
)
def test_rule_line_gives_the_path_back(name: str) -> None:
    # any file name (spaces, backslashes, tabs, quotes, non-ASCII) in /tmp survives the rule-line syntax
    path = "/tmp/" + name
    if name in (".", ".."):
        return
    ((_, line),) = file_table.rules([path], "wa")
    argv = split_rule_line(line)
    assert argv is not None
    cmd = parse_args(argv, is_dir=lambda p: False)
    assert cmd.rule is not None
    texts = [f.text for f in cmd.rule.fields if f.text is not None]
    assert texts[0] == os.fsencode(path.rstrip("/") or "/")
    assert texts[-1] == b"auditsql_file"

"""Event → table rows (the native core's row mappers): exact column values from real corpus events.

Every event is rendered (ids not resolved) from a ../shared/corpus log (the file is named at each test) or
from real lines of one, changed where a test needs a shape the corpus lacks (said at each place). Rows come
from ``auditsql._core``: the pipeline's, produced with the events (state carried from event to event, as in
a run), or ``rows_of`` of one event when a test changes the options after rendering.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auditsql.tables as T
from auditsql import _core
from tests import storedb
from tests.core import Rendered, rendered_events
from tests.corpus import CORPUS
from tests.records.test_encoding import _LINES

LAUREL = CORPUS / "threathunters-io_laurel"
HILLU = CORPUS / "hillu_linux-audit-parser-rs"
GOLIB = CORPUS / "elastic_go-libaudit"


def lines_of(path: Path) -> list[str]:
    """The file's lines (not str.splitlines: that also splits at the ENRICHED separator 0x1d)."""
    return path.read_text(encoding="utf-8").rstrip("\n").split("\n")


def corpus_logs() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".log", ".txt"))


#: the row mapping options (``tables.configure`` before the native core): failed execs, stat, sections
OPTIONS: dict[str, bool] = {}


def configure(**options: bool) -> None:
    """Set row mapping options for the events rendered, and the rows computed, from now on."""
    OPTIONS.update(options)


def render_file(path: Path) -> list[Rendered]:
    return rendered_events(path.read_bytes(), **OPTIONS)


def render_lines(lines: list[str]) -> list[Rendered]:
    data = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    return rendered_events(data, fmt="enriched", **OPTIONS)


def event(path: Path, eid: str | None = None) -> dict:
    evs = render_file(path)
    if eid is None:
        assert len(evs) == 1
        return evs[0]
    (ev,) = [e for e in evs if e["ID"] == eid]
    return ev


#: per rendering, the events whose rows a test asked for (the mappers' state comes from those, in order)
_ASKED: dict[int, set[int]] = {}


def rows_for(ev: dict, uptime_base: float | None = None) -> list[tuple[str, tuple]]:
    """The rows of one event as the mappers give them after the events whose rows the test asked for before
    (state such as a socket's protocol carries from event to event): the pipeline's rows when the test asked
    for every earlier event of the same rendering (with the options now in force), else ``rows_of`` of the
    event's JSON alone."""
    if isinstance(ev, Rendered):
        asked = _ASKED.setdefault(ev.source, set())
        in_order = all(i in asked for i in range(ev.index))
        asked.add(ev.index)
        if in_order and uptime_base is None and ev.options == OPTIONS:
            return ev.rows
    return _core.rows_of(json.dumps(ev).encode(), uptime_base=uptime_base, **OPTIONS)


_FUNCS = _core.StoreFunctions()


def rows(ev: dict, table: str, uptime_base: float | None = None) -> list[dict]:
    """The rows of ``table`` the event fills, as dicts; an ``audit_events`` row also gets the columns its view
    derives from ``blob`` (summary, sections, raw), as a query reads them."""
    cols = T.get(table).stored_names
    out = []
    for name, row in rows_for(ev, uptime_base):
        assert len(row) == len(T.get(name).stored_names), name
        if name == table:
            d = dict(zip(cols, row, strict=True))
            if table == "audit_events":
                blob = d["blob"]
                d["summary"] = _FUNCS.audit_summary(blob)
                d["sections"] = _FUNCS.audit_sections(blob)
                d["raw"] = _FUNCS.audit_raw_json(blob)
            out.append(d)
    return out


def tables_of(ev: dict) -> list[str]:
    return [name for name, _ in rows_for(ev)]


@pytest.fixture
def failed_execs() -> Iterator[None]:
    configure(include_failed_execs=True)
    try:
        yield
    finally:
        configure(include_failed_execs=False)


@pytest.fixture(autouse=True)
def _default_options() -> Iterator[None]:
    OPTIONS.clear()
    _ASKED.clear()
    yield
    OPTIONS.clear()
    _ASKED.clear()


# -- process_events ---------------------------------------------------------------------------------------


def test_execve_row_laurel_record_execve() -> None:
    ev = event(LAUREL / "record-execve.txt")
    assert tables_of(ev) == ["audit_events", "process_events"]
    assert rows(ev, "process_events") == [
        {
            "pid": 10884,
            "path": "/usr/bin/whoami",
            "mode": "0100755",
            "cmdline": "whoami",
            "cmdline_size": 6,
            "env": None,
            "env_count": None,
            "env_size": None,
            "cwd": "/home/user/tmp",
            "auid": 1000,
            "uid": 0,
            "euid": 0,
            "gid": 0,
            "egid": 0,
            "owner_uid": 0,
            "owner_gid": 0,
            "atime": None,
            "mtime": None,
            "ctime": None,
            "btime": None,
            "overflows": "",
            "parent": 10883,
            "fsuid": 0,
            "suid": 0,
            "fsgid": 0,
            "sgid": 0,
            "syscall": "execve",
            "argv": '["whoami"]',
            "argc": 1,
            "status": "succeeded",
            "exit_code": 0,
            "errno": None,
            "ses": 1,
            "tty": "pts1",
            "comm": "whoami",
            "key": None,
            "parent_path": None,
            "parent_cmdline": None,
            "process_start": None,
            "container_id": None,
            "time": 1615114232,
            "uptime": None,
            "eid": "work:1615114232.375:15558",
        }
    ]


def test_uptime_is_event_time_minus_boot_time() -> None:
    ev = event(LAUREL / "record-execve.txt")
    # the event is at 1615114232.375; a boot 100.5 s before it
    (row,) = rows(ev, "process_events", uptime_base=1615114131.875)
    assert (row["time"], row["uptime"]) == (1615114232, 100)


def test_long_split_argument_is_whole_in_cmdline() -> None:
    # record-execve-long.txt: argc=2, a1 split in pieces (a1_len=16384 hex digits = 8192 bytes) over records
    ev = event(LAUREL / "record-execve-long.txt")
    (row,) = rows(ev, "process_events")
    # the argument straight from the log text: the pieces' hex digits, in piece order
    pieces = re.findall(
        r"a1\[(\d+)\]=([0-9A-F]+)", (LAUREL / "record-execve-long.txt").read_text(encoding="utf-8")
    )
    arg1 = bytes.fromhex("".join(h for _, h in sorted(pieces, key=lambda p: int(p[0])))).decode("ascii")
    assert (len(pieces), len(arg1), arg1[:3], arg1[-3:]) == (3, 8192, "baa", "aag")
    assert row["cmdline"] == "/bin/echo " + arg1
    assert json.loads(row["argv"]) == ["/bin/echo", arg1]
    assert (row["cmdline_size"], row["argc"], row["overflows"]) == (8202, 2, "")
    assert (row["path"], row["pid"], row["parent"]) == ("/usr/bin/echo", 8832, ev["SYSCALL"]["ppid"])


# the SYSCALL/CWD/PATH/PROCTITLE/EOE records of laurel's record-execve.txt with a new EXECVE record: 12
# arguments (osquery orders a10, a11 before a2), hex-encoded ones (a space, a byte that is not UTF-8, a tab),
# and `%`/`+` which the JSON encoding escapes
EXECVE_12 = (
    'node=work type=EXECVE msg=audit(1615114232.375:15558): argc=12 a0="printf" a1="%s+%d" a2="two" '
    'a3="three" a4=68656C6C6F20776F726C64 a5=FF41 a6="six" a7="seven" a8="eight" a9=610962 a10="ten" '
    'a11="eleven"'
)


def _execve_with(execve_line: str) -> dict:
    lines = lines_of(LAUREL / "record-execve.txt")
    lines[1] = execve_line
    (ev,) = render_lines(lines)
    return ev


def test_eleven_or_more_arguments_stay_in_order() -> None:
    ev = _execve_with(EXECVE_12)
    (row,) = rows(ev, "process_events")
    assert row["cmdline"] == ("printf %s+%d two three hello world \\xffA six seven eight a\tb ten eleven")
    # argv: each argument as text, by the rule of cmdline (the exact bytes stay in audit_events)
    assert json.loads(row["argv"]) == [
        "printf",
        "%s+%d",
        "two",
        "three",
        "hello world",
        "\\xffA",
        "six",
        "seven",
        "eight",
        "a\tb",
        "ten",
        "eleven",
    ]
    assert " ".join(json.loads(row["argv"])) == row["cmdline"]
    assert row["cmdline_size"] == 68  # the exact bytes: \xff is one
    assert (row["argc"], row["overflows"]) == (12, "")


def test_argc_mismatch_reports_overflow() -> None:
    # the EXECVE record claims 3 arguments and has 1 (records lost or cut)
    ev = _execve_with('node=work type=EXECVE msg=audit(1615114232.375:15558): argc=3 a0="whoami"')
    (row,) = rows(ev, "process_events")
    assert (row["cmdline"], row["argc"], row["overflows"]) == ("whoami", 1, "cmdline")


# A failed execve of a missing file as the kernel writes it (success=no exit=-2 and no EXECVE record, the
# PATH item of the name with nametype=UNKNOWN), built from the records of laurel's record-execve.txt.
FAILED_EXEC = [
    "node=work type=SYSCALL msg=audit(1615114233.001:15560): arch=c000003e syscall=59 success=no exit=-2 "
    "a0=63b29337fd18 a1=63b293387d58 a2=63b293375640 a3=fffffffffffff000 items=1 ppid=10883 pid=10885 "
    'auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm="bash" '
    'exe="/usr/bin/bash" key=(null)',
    'node=work type=CWD msg=audit(1615114233.001:15560): cwd="/home/user/tmp"',
    'node=work type=PATH msg=audit(1615114233.001:15560): item=0 name="/usr/bin/nosuchprog" nametype=UNKNOWN '
    "cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0",
    'node=work type=PROCTITLE msg=audit(1615114233.001:15560): proctitle="bash"',
    "node=work type=EOE msg=audit(1615114233.001:15560):",
]


def test_failed_exec_is_no_row_by_default() -> None:
    (ev,) = render_lines(FAILED_EXEC)
    assert tables_of(ev) == ["audit_events"]


def test_failed_exec_row_when_enabled(failed_execs: None) -> None:
    (ev,) = render_lines(FAILED_EXEC)
    (row,) = rows(ev, "process_events")
    picked = {k: row[k] for k in ("pid", "path", "mode", "cmdline", "argv", "argc", "cwd", "status")}
    assert picked == {
        "pid": 10885,
        "path": "/usr/bin/nosuchprog",
        "mode": None,
        "cmdline": None,
        "argv": None,
        "argc": None,
        "cwd": "/home/user/tmp",
        "status": "failed",
    }
    assert (row["exit_code"], row["errno"], row["comm"], row["owner_uid"]) == (-2, "ENOENT", "bash", None)


def test_stat_executable_like_osquery(tmp_path: Path) -> None:
    # the exe of the event is this host's /usr/bin/whoami only by name: stat() is what osquery does
    ev = event(LAUREL / "record-execve.txt")
    configure(stat_executable=True)
    try:
        (row,) = rows(ev, "process_events")
    finally:
        configure(stat_executable=False)
    import os

    try:
        st = os.stat("/usr/bin/whoami")
        want = (int(st.st_atime), int(st.st_mtime), int(st.st_ctime), 0)
    except OSError:
        want = (0, 0, 0, 0)
    assert (row["atime"], row["mtime"], row["ctime"], row["btime"]) == want


# -- socket_events ----------------------------------------------------------------------------------------


def test_unix_connect_failed_enoent_nscd() -> None:
    ev = event(LAUREL / "record-nscd.txt")
    assert tables_of(ev) == ["audit_events", "socket_events"]
    assert rows(ev, "socket_events") == [
        {
            "action": "connect",
            "pid": 3736674,
            "path": "/usr/bin/ls",
            "fd": "4",
            "auid": 1000,
            "status": "failed",
            "family": 1,
            "protocol": None,
            "local_address": None,
            "remote_address": None,
            "local_port": None,
            "remote_port": None,
            "socket": "/var/run/nscd/socket",
            "success": 0,
            "syscall": "connect",
            "exit_code": -2,
            "errno": "ENOENT",
            "ppid": 1064378,
            "uid": 1000,
            "euid": 1000,
            "gid": 1000,
            "ses": 2,
            "comm": "ls",
            "key": None,
            "process_start": None,
            "time": 1705071450,
            "uptime": None,
            "eid": "1705071450.879:29498378",
        }
    ]


def test_bind_ipv4_big_endian_ppc64() -> None:
    ev = event(LAUREL / "record-bind-ipv4-bigendian.txt")
    (row,) = rows(ev, "socket_events")
    picked = {
        k: row[k]
        for k in (
            "action",
            "status",
            "family",
            "local_address",
            "local_port",
            "remote_address",
            "remote_port",
        )
    }
    assert picked == {
        "action": "bind",
        "status": "succeeded",
        "family": 2,
        "local_address": "0.0.0.0",
        "local_port": 55555,
        "remote_address": None,
        "remote_port": None,
    }
    assert (row["fd"], row["path"], row["syscall"], row["success"]) == ("3", "/usr/bin/nc.openbsd", "bind", 1)


def test_nonblocking_connect_in_progress() -> None:
    # go-libaudit lost_messages.log serial 49: connect() = -115 (EINPROGRESS)
    ev = event(GOLIB / "reassembler" / "lost_messages.log", "1492037289.295:49")
    (row,) = rows(ev, "socket_events")
    picked = {k: row[k] for k in ("action", "status", "success", "family", "remote_address", "remote_port")}
    assert picked == {
        "action": "connect",
        "status": "in_progress",
        "success": 1,
        "family": 2,
        "remote_address": "169.254.169.254",
        "remote_port": 80,
    }
    assert (row["exit_code"], row["errno"], row["fd"]) == (-115, "EINPROGRESS", "6")
    assert row["path"] == "/usr/bin/python2.7;58d1ccfb (deleted)"


def test_ipv6_connect_in_progress_short_form() -> None:
    # laurel record-connect.txt: php connects to memcached on [::1]:11211, non-blocking
    ev = event(LAUREL / "record-connect.txt", "1723819442.459:2482682")
    (row,) = rows(ev, "socket_events")
    assert (row["family"], row["remote_address"], row["remote_port"], row["status"], row["fd"]) == (
        10,
        "::1",
        11211,
        "in_progress",
        "8",
    )


# lost_messages.log serial 62: postfix pickup accept(6, NULL, NULL) = 11
ACCEPT = (
    "type=SYSCALL msg=audit(1492037298.883:62): arch=c000003e syscall=43 success=yes exit=11 a0=6 a1=0 a2=0 "
    "a3=186a0 items=0 ppid=1229 pid=12992 auid=4294967295 uid=89 gid=89 euid=89 suid=89 fsuid=89 egid=89 "
    'sgid=89 fsgid=89 tty=(none) ses=4294967295 comm="pickup" exe="/usr/libexec/postfix/pickup" '
    "subj=system_u:system_r:postfix_pickup_t:s0 key=(null)"
)


def test_accept_without_address() -> None:
    (ev,) = render_lines([ACCEPT])
    (row,) = rows(ev, "socket_events")
    picked = {
        k: row[k] for k in ("action", "syscall", "status", "fd", "exit_code", "family", "remote_address")
    }
    assert picked == {
        "action": "accept",
        "syscall": "accept",
        "status": "succeeded",
        "fd": "6",
        "exit_code": 11,
        "family": None,
        "remote_address": None,
    }


def test_nonblocking_accept_no_client() -> None:
    # the same accept on a non-blocking socket with nobody waiting: success=no exit=-11 (EAGAIN)
    line = ACCEPT.replace("success=yes exit=11", "success=no exit=-11")
    (ev,) = render_lines([line])
    (row,) = rows(ev, "socket_events")
    assert (row["status"], row["success"], row["errno"], row["exit_code"]) == ("no_client", 1, "EAGAIN", -11)


def test_accept4_with_peer_address_and_protocol_from_socket_call() -> None:
    # socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) = 6, then accept4(6, ...) = 7 from 10.1.2.3:40000, then a
    # connect on descriptor 7: the protocol (TCP) follows the descriptors. Lines built from ACCEPT.
    sock = ACCEPT.replace(":62)", ":60)").replace(
        "syscall=43 success=yes exit=11 a0=6 a1=0 a2=0", ("syscall=41 success=yes exit=6 a0=2 a1=80001 a2=0")
    )
    acc = ACCEPT.replace(":62)", ":61)").replace(
        "syscall=43 success=yes exit=11", "syscall=288 success=yes exit=7"
    )
    acc_addr = "type=SOCKADDR msg=audit(1492037298.883:61): saddr=02009C400A0102030000000000000000"
    conn = ACCEPT.replace(":62)", ":63)").replace(
        "syscall=43 success=yes exit=11 a0=6", ("syscall=42 success=no exit=-111 a0=7")
    )
    conn_addr = "type=SOCKADDR msg=audit(1492037298.883:63): saddr=020000507F0000010000000000000000"
    evs = render_lines([sock, acc, acc_addr, conn, conn_addr])
    got = [
        (
            r["action"],
            r["syscall"],
            r["fd"],
            r["status"],
            r["protocol"],
            r["remote_address"],
            r["remote_port"],
        )
        for e in evs
        for r in rows(e, "socket_events")
    ]
    assert got == [
        ("accept", "accept4", "6", "succeeded", 6, "10.1.2.3", 40000),
        ("connect", "connect", "7", "failed", 6, "127.0.0.1", 80),
    ]


def test_unix_socket_path_abstract_and_unnamed() -> None:
    # laurel record-nscd.txt's connect with other AF_UNIX addresses: a path (hillu line-sockaddr-unix-2.txt's
    # saddr), an abstract name (a NUL, then the name) and an unnamed socket (the family only)
    lines = lines_of(LAUREL / "record-nscd.txt")
    path_saddr = (
        (HILLU / "line-sockaddr-unix-2.txt").read_text(encoding="utf-8").split("saddr=")[1].split("\x1d")[0]
    )
    got = []
    for saddr in (path_saddr, "0100" + "00" + b"/tmp/.X11-unix/X0".hex().upper(), "0100"):
        ls = list(lines)
        ls[1] = f"type=SOCKADDR msg=audit(1705071450.879:29498378): saddr={saddr}"
        (ev,) = render_lines(ls)
        (row,) = rows(ev, "socket_events")
        got.append((row["family"], row["socket"], row["remote_address"], row["status"]))
    assert got == [
        (1, "/tmp/{9e2cb087-9744-417b-845f-05ca6ce457c1}", None, "failed"),
        (1, "@/tmp/.X11-unix/X0", None, "failed"),
        (1, "", None, "failed"),
    ]


def test_i386_socketcall_connect() -> None:
    # i386 socketcall(SYS_CONNECT=3, args): the SYSCALL header of go-libaudit test3.log's i386 SECCOMP
    # process (sshd, arch=40000003) with the SOCKETCALL record the kernel writes (nargs, the call's args)
    lines = [
        "type=SYSCALL msg=audit(1433785727.186:10263): arch=40000003 syscall=102 success=yes exit=0 a0=3 "
        "a1=bfc9a3c0 a2=b76f8ff4 a3=0 items=0 ppid=1 pid=11217 auid=20003 uid=22 gid=22 euid=22 suid=22 "
        'fsuid=22 egid=22 sgid=22 fsgid=22 tty=(none) ses=21 comm="sshd" exe="/usr/sbin/sshd" key=(null)',
        "type=SOCKETCALL msg=audit(1433785727.186:10263): nargs=3 a0=5 a1=bfc9a3c0 a2=10",
        "type=SOCKADDR msg=audit(1433785727.186:10263): saddr=02000016C0A800010000000000000000",
        "type=EOE msg=audit(1433785727.186:10263):",
    ]
    (ev,) = render_lines(lines)
    (row,) = rows(ev, "socket_events")
    picked = {
        k: row[k] for k in ("action", "syscall", "fd", "status", "remote_address", "remote_port", "pid")
    }
    assert picked == {
        "action": "connect",
        "syscall": "socketcall",
        "fd": "5",
        "status": "succeeded",
        "remote_address": "192.168.0.1",
        "remote_port": 22,
        "pid": 11217,
    }


def test_netlink_bind_is_a_row_without_address() -> None:
    # laurel record-nscd.txt's records as a bind (49) of a netlink socket (pid 0, groups 0), which osquery
    # drops and auditsql keeps with the family only
    ls = lines_of(LAUREL / "record-nscd.txt")
    ls[0] = ls[0].replace("syscall=42 success=no exit=-2", "syscall=49 success=yes exit=0")
    ls[1] = "type=SOCKADDR msg=audit(1705071450.879:29498378): saddr=100000000000000000000000"
    (ev,) = render_lines(ls)
    (row,) = rows(ev, "socket_events")
    picked = {k: row[k] for k in ("action", "status", "family", "local_address", "local_port", "socket")}
    assert picked == {
        "action": "bind",
        "status": "succeeded",
        "family": 16,
        "local_address": None,
        "local_port": None,
        "socket": None,
    }


# -- user_events ------------------------------------------------------------------------------------------


def test_user_login_whole_message() -> None:
    ev = event(HILLU / "line-user-login.txt")
    assert tables_of(ev) == ["audit_events", "user_events"]
    assert rows(ev, "user_events") == [
        {
            "uid": 0,
            "auid": 1000,
            "pid": 1712,
            "message": 'op=login id=1000 exe="/usr/sbin/sshd" hostname=other-host.invalid addr=10.10.10.10 '
            "terminal=ssh res=success",
            "type": 1112,
            "path": "/usr/sbin/sshd",
            "address": "10.10.10.10",
            "terminal": "ssh",
            "type_name": "USER_LOGIN",
            "ses": 764,
            "op": "login",
            "acct": None,
            "id": "1000",
            "hostname": "other-host.invalid",
            "res": "success",
            "time": 1725003193,
            "uptime": None,
            "eid": "1725003193.327:117286",
        }
    ]


def test_user_auth_message_and_payload_columns() -> None:
    ev = event(HILLU / "line-user-auth.txt")
    (row,) = rows(ev, "user_events")
    assert row["message"] == (
        'op=PAM:authentication grantors=pam_permit acct="user" exe="/usr/sbin/cupsd" hostname=localhost '
        "addr=::1 terminal=cups res=success"
    )
    picked = {k: row[k] for k in ("type", "type_name", "op", "acct", "address", "terminal", "path", "res")}
    assert picked == {
        "type": 1100,
        "type_name": "USER_AUTH",
        "op": "PAM:authentication",
        "acct": "user",
        "address": "::1",
        "terminal": "cups",
        "path": "/usr/sbin/cupsd",
        "res": "success",
    }


def test_user_message_audit_1x_form() -> None:
    # audit-userspace test.log style payload `msg='uid=848: exe="/bin/login" (hostname=?, addr=?, ...)'`
    lines = [
        "type=USER_LOGIN msg=audit(1143146623.787:142): login pid=2027 uid=0 auid=848 msg='uid=848: "
        'exe="/bin/login" (hostname=?, addr=?, terminal=tty3 res=success)\''
    ]
    (ev,) = render_lines(lines)
    (row,) = rows(ev, "user_events")
    assert row["message"] == 'uid=848: exe="/bin/login" (hostname=?, addr=?, terminal=tty3 res=success)'
    assert (
        row["uid"],
        row["auid"],
        row["pid"],
        row["path"],
        row["terminal"],
        row["address"],
        row["res"],
    ) == (
        0,
        848,
        2027,
        "/bin/login",
        "tty3",
        None,
        "success",
    )


def test_user_message_with_bytes_that_are_not_utf8() -> None:
    # hillu line-user-acct.txt with the account name's bytes replaced by 0xff 0x41 (Latin-1 ÿA): the
    # line cannot be read as UTF-8; message and acct keep the bytes as \xff
    line = (
        (HILLU / "line-user-acct.txt").read_bytes().splitlines()[0].replace(b'acct="user"', b'acct="\xffA"')
    )
    (ev,) = rendered_events(line + b"\n", fmt="enriched")
    assert isinstance(ev["raw"][0], dict) and base64.b64decode(ev["raw"][0]["base64"]) == line
    (row,) = rows(ev, "user_events")
    assert row["acct"] == "\\xffA"
    assert 'acct="\\xffA"' in row["message"]
    con = sqlite3.connect(":memory:")
    con.executescript(T.get("user_events").ddl())
    con.execute(T.get("user_events").insert_sql(), tuple(row.values()))


def test_every_user_range_type_is_a_row() -> None:
    # 1100-1199 and 2100-2999 from the wrapped/INI-less corpus logs; LOGIN (1006) is not a user message
    seen: dict[str, int] = {}
    for p in corpus_logs():
        for e in render_file(p):
            for row in rows(e, "user_events"):
                seen[row["type_name"]] = row["type"]
                assert 1100 <= row["type"] <= 1199 or 2100 <= row["type"] <= 2999
    assert "LOGIN" not in seen
    assert {"USER_AUTH", "USER_ACCT", "USER_LOGIN", "CRED_ACQ", "USER_CMD", "USER_ROLE_CHANGE"} <= set(seen)
    assert seen["CRYPTO_KEY_USER"] == 2404


# -- selinux_events, apparmor_events, seccomp_events ------------------------------------------------------


def test_selinux_avc_denied() -> None:
    ev = event(HILLU / "line-avc-denied.txt")
    assert tables_of(ev) == ["audit_events", "selinux_events"]
    assert rows(ev, "selinux_events") == [
        {
            "type": "AVC",
            "message": 'audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm="laurel" '
            "capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 "
            "tclass=capability permissive=1",
            "pid": 15381,
            "comm": "laurel",
            "result": "denied",
            "permissions": "setuid",
            "scontext": "system_u:system_r:auditd_t:s0",
            "tcontext": "system_u:system_r:auditd_t:s0",
            "tclass": "capability",
            "time": 1631798689,
            "uptime": None,
            "eid": "1631798689.083:65686",
        }
    ]


def test_user_avc_is_user_and_selinux_event() -> None:
    ev = event(HILLU / "line-user-avc-2.txt")
    assert tables_of(ev) == ["audit_events", "user_events", "selinux_events"]
    (row,) = rows(ev, "selinux_events")
    assert row["type"] == "USER_AVC"
    assert row["message"] == (
        "audit(1725042134.780:89813047): pid=1183 uid=81 auid=4294967295 ses=4294967295 "
        "subj=system_u:system_r:system_dbusd_t:s0-s0:c0.c1023 msg='avc:  received policyload notice "
        '(seqno=96)  exe="/usr/bin/dbus-daemon" sauid=81 hostname=? addr=? terminal=?\''
    )


def test_apparmor_avc_in_syscall_event() -> None:
    ev = event(LAUREL / "record-avc-apparmor.txt")
    assert tables_of(ev) == ["audit_events", "apparmor_events"]
    assert rows(ev, "apparmor_events") == [
        {
            "type": "AA",
            "message": 'audit(1634728455.294:53732): apparmor="STATUS" operation="profile_replace" '
            'info="same as current profile, skipping" profile="unconfined" '
            'name="snap-update-ns.amazon-ssm-agent" pid=3981295 comm="apparmor_parser"',
            "apparmor": "STATUS",
            "operation": "profile_replace",
            "parent": None,
            "profile": "unconfined",
            "name": "snap-update-ns.amazon-ssm-agent",
            "pid": 3981295,
            "comm": "apparmor_parser",
            "denied_mask": None,
            "capname": None,
            "fsuid": None,
            "ouid": None,
            "capability": None,
            "requested_mask": None,
            "info": "same as current profile, skipping",
            "error": None,
            "namespace": None,
            "label": None,
            "time": 1634728455,
            "uptime": None,
            "eid": "1634728455.294:53732",
        }
    ]


def test_apparmor_denied() -> None:
    ev = event(GOLIB / "auparse" / "audit-ubuntu16.log", "1524662933.080:61207")
    (row,) = rows(ev, "apparmor_events")
    picked = {
        k: row[k]
        for k in ("type", "apparmor", "operation", "profile", "pid", "comm", "requested_mask", "denied_mask")
    }
    assert picked == {
        "type": "AA",
        "apparmor": "DENIED",
        "operation": "ptrace",
        "profile": "docker-default",
        "pid": 5571,
        "comm": "metricbeat",
        "requested_mask": "trace",
        "denied_mask": "trace",
    }


def test_seccomp_i386_kill() -> None:
    # go-libaudit auparse/test3.log line 17
    ev = event(GOLIB / "auparse" / "test3.log", "1433785727.186:10262")
    assert tables_of(ev) == ["audit_events", "seccomp_events"]
    assert rows(ev, "seccomp_events") == [
        {
            "auid": 20003,
            "uid": 22,
            "gid": 22,
            "ses": 21,
            "pid": 11217,
            "comm": "sshd",
            "exe": "/usr/sbin/sshd",
            "sig": 31,
            "arch": "I386",
            "syscall": "getpgid",
            "compat": 0,
            "ip": "0xb7670aac",
            "code": "KILL_THREAD",
            "code_data": 0,
            "time": 1433785727,
            "uptime": None,
            "eid": "1433785727.186:10262",
        }
    ]


def test_seccomp_log_and_errno_actions() -> None:
    # the SECCOMP message quoted in osquery's auditeventpublisher.h (qemu, SECCOMP_RET_LOG), and the same
    # with SECCOMP_RET_ERRNO | EPERM (osquery writes `327681(unknown)` for it)
    body = (
        'auid=65876 uid=0 gid=0 ses=12684 pid=18204 comm="qemu-system-x86" exe="/usr/bin/qemu-system-x86_64" '
        "sig=0 arch=c000003e syscall=271 compat=0 ip=0x7f6ba2cdd811 code=0x7ffc0000"
    )
    lines = [
        f"type=SECCOMP msg=audit(1600000000.001:1): {body}",
        f"type=SECCOMP msg=audit(1600000000.002:2): {body.replace('code=0x7ffc0000', 'code=0x50001')}",
    ]
    got = [
        (r["arch"], r["syscall"], r["code"], r["code_data"])
        for e in render_lines(lines)
        for r in rows(e, "seccomp_events")
    ]
    assert got == [("X86_64", "ppoll", "LOG", 0), ("X86_64", "ppoll", "ERRNO", 1)]


# -- audit_events, audit_loss -----------------------------------------------------------------------------


def test_audit_events_row_keeps_everything() -> None:
    ev = event(LAUREL / "record-execve.txt")
    (row,) = rows(ev, "audit_events")
    raw = lines_of(LAUREL / "record-execve.txt")
    summary = json.loads(row.pop("summary"))
    sections = json.loads(row.pop("sections"))
    assert json.loads(row.pop("raw")) == raw
    assert summary == ev["summary"]
    assert sections == {k: v for k, v in ev.items() if k not in ("ID", "NODE", "summary", "raw")}
    # the records once, compressed: their exact bytes come back
    blob = row.pop("blob")
    assert len(blob) < sum(len(r) for r in raw) / 2
    assert _FUNCS.audit_raw_bytes(blob) == "".join(r + "\n" for r in raw).encode()
    assert row == {
        "type": "SYSCALL",
        "types": "SYSCALL,EXECVE,CWD,PATH,PROCTITLE",
        "record_count": 7,
        "node": "work",
        "syscall": "execve",
        "success": 1,
        "pid": 10884,
        "auid": 1000,
        "key": None,
        "closed_by": "eoe",
        "time": 1615114232,
        "uptime": None,
        "eid": "work:1615114232.375:15558",
    }


def test_audit_events_closed_by() -> None:
    login = event(HILLU / "line-user-login.txt")
    avc = event(HILLU / "line-avc-denied.txt")
    (err,) = render_lines(["hello"])
    got = [rows(e, "audit_events")[0] for e in (login, avc, err)]
    assert [(r["type"], r["closed_by"], r["success"], r["time"], r["eid"]) for r in got] == [
        ("USER_LOGIN", "single", 1, 1725003193, "1725003193.327:117286"),
        ("AVC", "flush", None, 1631798689, "1631798689.083:65686"),
        ("", "error", None, 0, "0.000:0"),
    ]
    assert json.loads(got[2]["raw"]) == ["hello"]


def test_every_corpus_event_is_an_audit_events_row_and_inserts() -> None:
    con = storedb.connect(":memory:")
    for t in T.REGISTRY.values():
        con.executescript(t.ddl())
    events = 0
    for p in corpus_logs():
        for e in render_file(p):
            events += 1
            out = rows_for(e)
            assert out[0][0] == "audit_events"
            for name, row in out:
                con.execute(T.get(name).insert_sql(), row)
    assert con.execute("select count(*) from audit_events").fetchone() == (events,)
    # every event's records come back exact from the blob, through the view's derived raw column
    raws = [json.loads(r) for (r,) in con.execute("select raw from audit_events order by rowid")]
    assert len(raws) == events and all(isinstance(r, list) and r for r in raws)
    assert events > 600


def test_loss_rows() -> None:
    recs = [
        {"time": 1700000000.75, "cause": "kernel_lost", "count": 12, "detail": None},
        {"time": 1700000001.0, "cause": "serial_gap", "count": 2, "detail": "serials 10-11"},
    ]
    assert T.loss_rows(recs) == [
        (1700000000, "kernel_lost", 12, None),
        (1700000001, "serial_gap", 2, "serials 10-11"),
    ]
    assert T.get("audit_loss").column_names == ("time", "cause", "count", "detail")


def test_table_kinds_and_schema() -> None:
    assert [t.name for t in T.event_tables()] == [
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
    ]
    assert [t.name for t in T.live_tables()] == ["system_info", "os_version", "audit_status", "audit_rules"]
    with pytest.raises(KeyError):
        T.live_rows("process_events")
    con = sqlite3.connect(":memory:")
    for t in T.REGISTRY.values():
        con.executescript(t.ddl())
    indexed = {r[0] for r in con.execute("select name from sqlite_master where type='index'")}
    assert {
        "process_events_time",
        "process_events_eid",
        "process_events_pid",
        "process_events_path_time",
        "process_events_auid_time",
        "socket_events_remote_address",
        "socket_events_action",
        "user_events_type",
        "audit_events_time",
    } <= indexed
    # a column that leads a composite index gets no index of its own: the composite serves its lookups
    assert T.get("process_events").covered == {"path", "auid"}
    assert not {"process_events_path", "process_events_auid"} & indexed
    plan = " ".join(
        str(r) for r in con.execute("EXPLAIN QUERY PLAN SELECT * FROM process_events WHERE path = '/bin/sh'")
    )
    assert "USING INDEX process_events_path_time (path=?)" in plan


def test_osquery_columns_present() -> None:
    # every column of osquery's specs (posix/process_events, socket_events, user_events; linux/selinux_events,
    # apparmor_events, seccomp_events) is declared, not marked ext
    specs = {
        "process_events": "pid path mode cmdline cmdline_size env env_count env_size cwd auid uid euid gid egid "
        "owner_uid owner_gid atime mtime ctime btime overflows parent time uptime eid fsuid suid fsgid sgid "
        "syscall",
        "socket_events": "action pid path fd auid status family protocol local_address remote_address "
        "local_port remote_port socket time uptime eid success",
        "user_events": "uid auid pid message type path address terminal time uptime eid",
        "selinux_events": "type message time uptime eid",
        "apparmor_events": "type message time uptime eid apparmor operation parent profile name pid comm "
        "denied_mask capname fsuid ouid capability requested_mask info error namespace label",
        "seccomp_events": "time uptime auid uid gid ses pid comm exe sig arch syscall compat ip code",
    }
    for table, cols in specs.items():
        declared = {c.name: c for c in T.get(table).columns}
        for name in cols.split():
            assert name in declared, (table, name)
            assert not declared[name].extension, (table, name)
    hidden = {c.name for c in T.get("process_events").columns if c.hidden}
    assert hidden == {"cmdline_size", "env", "env_count", "env_size", "overflows", "eid"}
    # failed execs are no process_events row unless asked (osquery's default)
    (failed,) = render_lines(FAILED_EXEC)
    assert [name for name, _ in _core.rows_of(json.dumps(failed).encode())] == ["audit_events"]


def test_apparmor_user_avc_and_legacy_type() -> None:
    # Not in the corpus, written in the formats of dbus-daemon's AppArmor mediation (USER_AVC with an
    # apparmor= payload) and of kernels before 4.x (APPARMOR_DENIED, type 1503, same fields as the AVC form)
    lines = [
        "type=USER_AVC msg=audit(1700000000.100:10): pid=713 uid=103 auid=4294967295 ses=4294967295 "
        'subj=unconfined msg=\'apparmor="DENIED" operation="dbus_method_call" bus="system" '
        'path="/org/freedesktop/hostname1" interface="org.freedesktop.DBus.Properties" member="GetAll" '
        'mask="send" name=":1.7" pid=2041 label="snap.foo.bar" peer_pid=1 peer_label="unconfined" '
        'exe="/usr/bin/dbus-daemon" sauid=103 hostname=? addr=? terminal=?\'',
        'type=APPARMOR_DENIED msg=audit(1700000000.200:11): apparmor="DENIED" operation="open" parent=1 '
        'profile="/usr/sbin/cupsd" name="/etc/shadow" pid=1200 comm="cupsd" requested_mask="r" '
        'denied_mask="r" fsuid=0 ouid=0',
    ]
    evs = render_lines(lines)
    assert [tables_of(e) for e in evs] == [
        ["audit_events", "user_events", "apparmor_events"],
        ["audit_events", "apparmor_events"],
    ]
    got = [
        (r["type"], r["apparmor"], r["operation"], r["pid"], r["label"], r["profile"], r["name"], r["parent"])
        for e in evs
        for r in rows(e, "apparmor_events")
    ]
    assert got == [
        ("USER_AVC", "DENIED", "dbus_method_call", 2041, "snap.foo.bar", None, ":1.7", None),
        ("APPARMOR_DENIED", "DENIED", "open", 1200, None, "/usr/sbin/cupsd", "/etc/shadow", 1),
    ]


def test_core_fills_the_registry_tables_with_their_columns() -> None:
    # the native mappers' tables and column order are the registry's (rows are inserted by position)
    cols = _core.table_columns()
    assert set(cols) == {
        "process_events",
        "socket_events",
        "process_file_events",
        "user_events",
        "selinux_events",
        "apparmor_events",
        "seccomp_events",
        "audit_events",
    }
    for table, names in cols.items():
        # a row holds the stored columns (audit_events' summary, sections and raw are derived on read)
        assert tuple(names) == T.get(table).stored_names, table


def test_rows_of_options_and_errors() -> None:
    ev = event(LAUREL / "record-execve.txt")
    data = json.dumps(ev).encode()
    # rows_of maps the JSON alone: the blob of records is the pipeline's (it holds the event)
    ((_, row), _) = _core.rows_of(data)
    assert dict(zip(T.get("audit_events").stored_names, row, strict=True))["blob"] is None
    ((_, piped), _) = rows_for(ev)
    assert row[:10] == piped[:10] and row[11:] == piped[11:] and isinstance(piped[10], bytes)
    with pytest.raises(_core.CoreError):
        _core.rows_of(data, audit_sections=False)
    with pytest.raises(_core.CoreError):
        _core.rows_of(data, no_such_option=True)
    with pytest.raises(_core.CoreError):
        _core.rows_of(b"[1, 2]")


#: lines of corpus logs of every kind (execs, sockets, files, users, MAC, seccomp), for the mix below
_CORPUS_LINES = [
    ln
    for p in (
        LAUREL / "record-execve.txt",
        LAUREL / "record-nscd.txt",
        LAUREL / "record-avc-apparmor.txt",
        HILLU / "line-user-login.txt",
        HILLU / "line-avc-denied.txt",
        GOLIB / "auparse" / "test3.log",
    )
    for ln in p.read_bytes().splitlines()
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(_LINES, st.sampled_from(_CORPUS_LINES)), max_size=12), st.sampled_from(["auto", "raw"])
)
def test_any_input_renders_and_maps_without_error(lines: list[bytes], fmt: str) -> None:
    # bad input data never raises across the boundary: every event renders, and maps to rows (an audit_events
    # row first), in the pipeline and through rows_of
    data = b"\n".join(lines) + b"\n"
    for ev in rendered_events(data, fmt=fmt):
        assert ev.rows[0][0] == "audit_events"
        assert [name for name, _ in _core.rows_of(json.dumps(ev).encode())][0] == "audit_events"

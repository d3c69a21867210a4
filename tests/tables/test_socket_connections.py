"""``socket_events`` connections (the native core's socket mapper): the listening port of ``accept`` rows, non-blocking
connects, ``sendto``/``sendmsg`` with a destination, the /proc seed of listening sockets, the UDP rules.

``file_socket_kernel.log`` (beside this file) holds records this machine's kernel wrote (captured with
``auditsql listen``, unchanged) for a process running as uid 4242 that did: a listening socket bound to
127.0.0.1:47001, a non-blocking connect to it and one to the closed port 47002 (both ``EINPROGRESS``), an
accept, a UDP ``sendto`` with an address, a ``connect`` and a ``send`` (a ``sendto`` without address) on that
socket, an IPv6 ``sendmsg`` with an address, and a ``sendmmsg`` (that failed: EBADF).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql._core import Pipeline, Settings
from auditsql.tables import REGISTRY
from auditsql.tables import socket as socket_table
from tests.tables.test_rows import (
    ACCEPT,
    _default_options,  # noqa: F401  (the autouse fixture: fresh options, state)
    render_file,
    render_lines,
    rows,
    rows_for,
)

#: the /proc seed of listeners is the native mapper's (rows::Mapper::seed_listeners): auditsql._core has no
#: function that seeds it from another /proc root, so these tests wait for one (or move to Rust)

KERNEL_LOG = Path(__file__).with_name("file_socket_kernel.log")
PY = "/root/.pyenv/versions/3.11.7/bin/python3.11"
COLS = ("action", "status", "fd", "protocol", "local_address", "local_port", "remote_address", "remote_port")


def picked(r: dict) -> tuple:
    return tuple(r[c] for c in COLS)


def test_kernel_capture_rows() -> None:
    got = [picked(r) for ev in render_file(KERNEL_LOG) for r in rows(ev, "socket_events")]
    assert got == [
        ("bind", "succeeded", "4", 6, "127.0.0.1", 47001, None, None),
        ("connect", "in_progress", "5", 6, None, None, "127.0.0.1", 47001),  # a listener: accepted below
        ("accept", "succeeded", "4", 6, "127.0.0.1", 47001, "127.0.0.1", 53806),
        ("connect", "in_progress", "7", 6, None, None, "127.0.0.1", 47002),  # a closed port: the same row
        ("sendto", "succeeded", "8", 17, None, None, "127.0.0.1", 47003),
        ("connect", "succeeded", "8", 17, None, None, "127.0.0.1", 47003),
        # the send() on the connected socket (sendto without address) is no row
        ("sendmsg", "succeeded", "9", 17, None, None, "::1", 47004),
        # sendmmsg is not mapped (its SOCKADDR holds only the last message's destination)
    ]


def test_sendto_row_whole() -> None:
    (ev,) = [e for e in render_file(KERNEL_LOG) if e["ID"] == "1795603951.345:6456305"]
    assert rows(ev, "socket_events") == [
        {
            "action": "sendto",
            "pid": 19199,
            "path": PY,
            "fd": "8",
            "auid": 4294967295,
            "status": "succeeded",
            "family": 2,
            "protocol": None,  # this event alone: the socket() call was not seen
            "local_address": None,
            "remote_address": "127.0.0.1",
            "local_port": None,
            "remote_port": 47003,
            "socket": None,
            "success": 1,
            "syscall": "sendto",
            "exit_code": 1,
            "errno": None,
            "ppid": 19157,
            "uid": 4242,
            "euid": 4242,
            "gid": 4242,
            "ses": 4294967295,
            "comm": "python3",
            "key": "auditsql_udp",
            "process_start": None,
            "time": 1795603951,
            "uptime": None,
            "eid": "1795603951.345:6456305",
        }
    ]


def test_sendto_without_address_is_only_an_audit_event() -> None:
    (ev,) = [e for e in render_file(KERNEL_LOG) if e["ID"] == "1795603951.345:6456307"]
    assert [name for name, _ in rows_for(ev)] == ["audit_events"]


# accept/bind/socket lines built from test_rows.ACCEPT (go-libaudit lost_messages.log serial 62, postfix
# pickup, pid 12992, ppid 1229): serials and syscalls changed
def _line(serial: int, syscall: int, rest: str, pid: int = 12992, ppid: int = 1229) -> str:
    return (
        ACCEPT.replace(":62)", f":{serial})")
        .replace("syscall=43 success=yes exit=11 a0=6", f"syscall={syscall} {rest}")
        .replace("pid=12992", f"pid={pid}")
        .replace("ppid=1229 ", f"ppid={ppid} ")
    )


def _saddr(serial: int, hexaddr: str) -> str:
    return f"type=SOCKADDR msg=audit(1492037298.883:{serial}): saddr={hexaddr}"


BIND_ANY_80 = "02000050000000000000000000000000"  # 0.0.0.0:80
BIND_LO_8080 = "02001F907F0000010000000000000000"  # 127.0.0.1:8080
BIND_PORT0 = "020000007F0000010000000000000000"  # 127.0.0.1:0
PEER = "02009C400A0102030000000000000000"  # 10.1.2.3:40000


def accepts(lines: list[str]) -> list[tuple]:
    return [
        (r["fd"], r["local_address"], r["local_port"], r["remote_address"], r["remote_port"])
        for ev in render_lines(lines)
        for r in rows(ev, "socket_events")
        if r["action"] == "accept"
    ]


def test_accept_gets_the_port_of_the_bind_of_its_descriptor() -> None:
    lines = [
        _line(1, 49, "success=yes exit=0 a0=6"),
        _saddr(1, BIND_ANY_80),
        _line(2, 49, "success=yes exit=0 a0=7"),
        _saddr(2, BIND_LO_8080),
        _line(3, 43, "success=yes exit=11 a0=6"),
        _saddr(3, PEER),
        _line(4, 288, "success=yes exit=12 a0=7"),
        _saddr(4, PEER),
        _line(5, 43, "success=yes exit=13 a0=9"),  # fd 9: never bound here
        _saddr(5, PEER),
    ]
    assert accepts(lines) == [
        ("6", None, 80, "10.1.2.3", 40000),  # the wildcard is not the connection's local address
        ("7", "127.0.0.1", 8080, "10.1.2.3", 40000),
        ("9", None, None, "10.1.2.3", 40000),
    ]


def test_pre_fork_worker_inherits_the_parents_bind() -> None:
    lines = [
        _line(1, 49, "success=yes exit=0 a0=6", pid=100, ppid=1),
        _saddr(1, BIND_LO_8080),
        _line(2, 43, "success=yes exit=11 a0=6", pid=101, ppid=100),  # a worker the master forked
        _saddr(2, PEER),
        _line(3, 43, "success=yes exit=11 a0=6", pid=201, ppid=200),  # another tree: unknown
        _saddr(3, PEER),
    ]
    assert accepts(lines) == [
        ("6", "127.0.0.1", 8080, "10.1.2.3", 40000),
        ("6", None, None, "10.1.2.3", 40000),
    ]


def test_failed_or_port0_binds_and_reused_descriptors_are_forgotten() -> None:
    lines = [
        _line(1, 49, "success=no exit=-98 a0=6"),  # EADDRINUSE: not bound
        _saddr(1, BIND_LO_8080),
        _line(2, 43, "success=yes exit=11 a0=6"),
        _saddr(2, PEER),
        _line(3, 49, "success=yes exit=0 a0=7"),  # port 0: the kernel picks one audit does not show
        _saddr(3, BIND_PORT0),
        _line(4, 43, "success=yes exit=11 a0=7"),
        _saddr(4, PEER),
        _line(5, 49, "success=yes exit=0 a0=8"),
        _saddr(5, BIND_LO_8080),
        _line(6, 41, "success=yes exit=8 a0=2 a1=1 a2=0"),  # socket() = 8: a new socket on that number
        _line(7, 43, "success=yes exit=11 a0=8"),
        _saddr(7, PEER),
    ]
    assert accepts(lines) == [
        ("6", None, None, "10.1.2.3", 40000),
        ("7", None, None, "10.1.2.3", 40000),
        ("8", None, None, "10.1.2.3", 40000),
    ]


def test_socketcall_sendto_with_and_without_address() -> None:
    # i386 socketcall(SYS_SENDTO=11, args): the SOCKETCALL record, with and without a SOCKADDR
    head = (
        "type=SYSCALL msg=audit(1433785727.186:{s}): arch=40000003 syscall=102 success=yes exit=5 a0=b "
        "a1=bfc9a3c0 a2=b76f8ff4 a3=0 items=0 ppid=1 pid=11217 auid=20003 uid=22 gid=22 euid=22 suid=22 "
        'fsuid=22 egid=22 sgid=22 fsgid=22 tty=(none) ses=21 comm="dig" exe="/usr/bin/dig" key=(null)'
    )
    call = (
        "type=SOCKETCALL msg=audit(1433785727.186:{s}): nargs=6 a0=4 a1=bfc9a3c0 a2=5 a3=0 a4=bfc9a400 a5=10"
    )
    lines = [
        head.format(s=1),
        call.format(s=1),
        "type=SOCKADDR msg=audit(1433785727.186:1): saddr=02000035C0A800010000000000000000",
        head.format(s=2),
        call.format(s=2),
    ]
    got = [
        (r["action"], r["syscall"], r["fd"], r["remote_address"], r["remote_port"])
        for ev in render_lines(lines)
        for r in rows(ev, "socket_events")
    ]
    assert got == [("sendto", "socketcall", "4", "192.168.0.1", 53)]


def test_udp_rules() -> None:
    assert socket_table.rules(False) == []
    assert socket_table.rules(True) == [
        ("[tables] udp_sends", "-a always,exit -F arch=b64 -S sendto,sendmsg -k auditsql_udp"),
        ("[tables] udp_sends", "-a always,exit -F arch=b32 -S sendto,sendmsg -k auditsql_udp"),
    ]
    from auditsql.agent import compile_rule_lines

    assert len(compile_rule_lines(socket_table.rules(True)).rules) == 2


# -- /proc seed ------------------------------------------------------------------------------------------

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _proc_line(i: int, hexaddr: str, port: int, state: str, inode: int) -> str:
    return (
        f"{i:4}: {hexaddr}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000"
        f"     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
    )


def _v4(addr: str) -> str:
    return ipaddress.IPv4Address(addr).packed[::-1].hex().upper()


def _v6(addr: str) -> str:
    raw = ipaddress.IPv6Address(addr).packed
    return "".join(raw[i : i + 4][::-1].hex().upper() for i in range(0, 16, 4))


def fake_proc(root: Path, tcp: list[str], tcp6: list[str], fds: dict[int, dict[int, str]]) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(HEADER + "".join(tcp))
    (root / "net" / "tcp6").write_text(HEADER + "".join(tcp6))
    for pid, table in fds.items():
        d = root / str(pid) / "fd"
        d.mkdir(parents=True)
        for fd, target in table.items():
            (d / str(fd)).symlink_to(target)
    (root / "self").mkdir()
    return root


def seeded_accepts(proc: Path, lines: list[str]) -> tuple[int, list[tuple]]:
    """How many listeners the pipeline seeds from ``proc``, and the accept rows of ``lines`` after that."""
    p = Pipeline(Settings(resolve_ids=False, events_json=False))
    n = p.seed_listeners(str(proc))
    data = "".join(line + "\n" for line in lines).encode()
    names = REGISTRY["socket_events"].column_names
    out = []
    for b in (p.feed_lines(data), p.finish()):
        for table, row in b.rows:
            r = dict(zip(names, row, strict=True)) if table == "socket_events" else {}
            if r.get("action") == "accept":
                out.append(
                    (r["fd"], r["local_address"], r["local_port"], r["remote_address"], r["remote_port"])
                )
    return n, out


def test_seed_listeners_from_proc(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path / "proc",
        [
            _proc_line(0, _v4("0.0.0.0"), 22, "0A", 1001),
            _proc_line(1, _v4("127.0.0.1"), 5432, "0A", 1002),
            _proc_line(2, _v4("127.0.0.1"), 40000, "01", 1003),  # established: not a listener
        ],
        [_proc_line(0, _v6("::1"), 8443, "0A", 1004)],
        {
            100: {3: "socket:[1001]", 4: "socket:[1003]", 5: "/dev/null"},
            200: {7: "socket:[1002]", 8: "socket:[1004]"},
        },
    )
    lines = [
        _line(1, 43, "success=yes exit=11 a0=8", pid=200),
        _saddr(1, PEER),
        _line(2, 43, "success=yes exit=12 a0=7", pid=200),
        _saddr(2, PEER),
        _line(3, 43, "success=yes exit=13 a0=3", pid=100),
        _saddr(3, PEER),
        _line(4, 43, "success=yes exit=14 a0=4", pid=100),  # fd 4 was not listening: no port
        _saddr(4, PEER),
    ]
    assert seeded_accepts(proc, lines) == (
        3,
        [
            ("8", "::1", 8443, "10.1.2.3", 40000),
            ("7", "127.0.0.1", 5432, "10.1.2.3", 40000),
            ("3", None, 22, "10.1.2.3", 40000),  # a wildcard listener: the local address is not known
            ("4", None, None, "10.1.2.3", 40000),
        ],
    )


def test_seed_listeners_without_proc(tmp_path: Path) -> None:
    assert seeded_accepts(tmp_path / "missing", []) == (0, [])


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.ip_addresses(v=4).map(lambda a: (False, str(a))),
        st.ip_addresses(v=6).map(lambda a: (True, str(a))),
    ),
    st.integers(0, 65535),
    st.integers(1, 2**32 - 1),
)
def test_proc_net_line_round_trip(
    tmp_path_factory: pytest.TempPathFactory, a: tuple, port: int, inode: int
) -> None:
    v6, addr = a
    line = _proc_line(0, _v6(addr) if v6 else _v4(addr), port, "0A", inode)
    proc = fake_proc(
        tmp_path_factory.mktemp("p") / "proc",
        [] if v6 else [line],
        [line] if v6 else [],
        {300: {9: f"socket:[{inode}]"}},
    )
    accept = [_line(1, 43, "success=yes exit=11 a0=9", pid=300), _saddr(1, PEER)]
    local = None if addr in ("0.0.0.0", "::") else addr  # wildcards name no local address
    assert seeded_accepts(proc, accept) == (1, [("9", local, port, "10.1.2.3", 40000)])

"""Writes events.json: the rendered events of the hand-built cases of tests/tables/test_rows.py,
test_file_events.py and test_socket_connections.py, for the Rust unit tests of crates/core/src/rows.

Run from the repository root: python3 crates/core/src/rows/testdata/make_events.py (the corpus at
../shared/corpus).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(ROOT / "src"))

from auditsql.events.assembler import Assembler  # noqa: E402
from auditsql.events.render import Renderer  # noqa: E402
from auditsql.pipeline import process  # noqa: E402
from auditsql.records.parser import parse_line, parse_text  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
LAUREL = CORPUS / "threathunters-io_laurel"
HILLU = CORPUS / "hillu_linux-audit-parser-rs"
GOLIB_YAML = CORPUS / "elastic_go-libaudit" / "aucoalesce" / "ubuntu-17.04-linux-4.10.0.yaml"
WAZUH = CORPUS / "wazuh_wazuh" / "auditd.ini"


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").rstrip("\n").split("\n")


def render_records(records: list) -> list[dict]:
    out: list[dict] = []
    process(records, out.append, Assembler(), Renderer(resolve_ids=False))
    return out


def render_lines(lines: list[str]) -> list[dict]:
    return render_records([r for line in lines for r in parse_text(line)])


CASES: dict[str, list[dict]] = {}

# -- test_rows.py --------------------------------------------------------------------------------------
EXECVE_12 = (
    'node=work type=EXECVE msg=audit(1615114232.375:15558): argc=12 a0="printf" a1="%s+%d" a2="two" '
    'a3="three" a4=68656C6C6F20776F726C64 a5=FF41 a6="six" a7="seven" a8="eight" a9=610962 a10="ten" '
    'a11="eleven"'
)


def execve_with(execve_line: str) -> list[dict]:
    lines = lines_of(LAUREL / "record-execve.txt")
    lines[1] = execve_line
    return render_lines(lines)


CASES["record_execve"] = render_lines(lines_of(LAUREL / "record-execve.txt"))
CASES["execve_12"] = execve_with(EXECVE_12)
CASES["argc_mismatch"] = execve_with('node=work type=EXECVE msg=audit(1615114232.375:15558): argc=3 a0="whoami"')
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
CASES["failed_exec"] = render_lines(FAILED_EXEC)

ACCEPT = (
    "type=SYSCALL msg=audit(1492037298.883:62): arch=c000003e syscall=43 success=yes exit=11 a0=6 a1=0 a2=0 "
    "a3=186a0 items=0 ppid=1229 pid=12992 auid=4294967295 uid=89 gid=89 euid=89 suid=89 fsuid=89 egid=89 "
    'sgid=89 fsgid=89 tty=(none) ses=4294967295 comm="pickup" exe="/usr/libexec/postfix/pickup" '
    "subj=system_u:system_r:postfix_pickup_t:s0 key=(null)"
)
CASES["accept"] = render_lines([ACCEPT])
CASES["accept_no_client"] = render_lines([ACCEPT.replace("success=yes exit=11", "success=no exit=-11")])
sock = ACCEPT.replace(":62)", ":60)").replace(
    "syscall=43 success=yes exit=11 a0=6 a1=0 a2=0", "syscall=41 success=yes exit=6 a0=2 a1=80001 a2=0"
)
acc = ACCEPT.replace(":62)", ":61)").replace("syscall=43 success=yes exit=11", "syscall=288 success=yes exit=7")
acc_addr = "type=SOCKADDR msg=audit(1492037298.883:61): saddr=02009C400A0102030000000000000000"
conn = ACCEPT.replace(":62)", ":63)").replace("syscall=43 success=yes exit=11 a0=6", "syscall=42 success=no exit=-111 a0=7")
conn_addr = "type=SOCKADDR msg=audit(1492037298.883:63): saddr=020000507F0000010000000000000000"
CASES["accept4_protocol"] = render_lines([sock, acc, acc_addr, conn, conn_addr])

nscd = lines_of(LAUREL / "record-nscd.txt")
path_saddr = (HILLU / "line-sockaddr-unix-2.txt").read_text(encoding="utf-8").split("saddr=")[1].split("\x1d")[0]
unix = []
for saddr in (path_saddr, "0100" + "00" + b"/tmp/.X11-unix/X0".hex().upper(), "0100"):
    ls = list(nscd)
    ls[1] = f"type=SOCKADDR msg=audit(1705071450.879:29498378): saddr={saddr}"
    unix += render_lines(ls)
CASES["unix_paths"] = unix
CASES["socketcall_connect"] = render_lines(
    [
        "type=SYSCALL msg=audit(1433785727.186:10263): arch=40000003 syscall=102 success=yes exit=0 a0=3 "
        "a1=bfc9a3c0 a2=b76f8ff4 a3=0 items=0 ppid=1 pid=11217 auid=20003 uid=22 gid=22 euid=22 suid=22 "
        'fsuid=22 egid=22 sgid=22 fsgid=22 tty=(none) ses=21 comm="sshd" exe="/usr/sbin/sshd" key=(null)',
        "type=SOCKETCALL msg=audit(1433785727.186:10263): nargs=3 a0=5 a1=bfc9a3c0 a2=10",
        "type=SOCKADDR msg=audit(1433785727.186:10263): saddr=02000016C0A800010000000000000000",
        "type=EOE msg=audit(1433785727.186:10263):",
    ]
)
ls = list(nscd)
ls[0] = ls[0].replace("syscall=42 success=no exit=-2", "syscall=49 success=yes exit=0")
ls[1] = "type=SOCKADDR msg=audit(1705071450.879:29498378): saddr=100000000000000000000000"
CASES["netlink_bind"] = render_lines(ls)
CASES["user_1x_form"] = render_lines(
    [
        "type=USER_LOGIN msg=audit(1143146623.787:142): login pid=2027 uid=0 auid=848 msg='uid=848: "
        'exe="/bin/login" (hostname=?, addr=?, terminal=tty3 res=success)\''
    ]
)
line = (HILLU / "line-user-acct.txt").read_bytes().splitlines()[0].replace(b'acct="user"', b'acct="\xffA"')
CASES["user_not_utf8"] = render_records(parse_line(line))
CASES["apparmor_user_avc_and_legacy"] = render_lines(
    [
        "type=USER_AVC msg=audit(1700000000.100:10): pid=713 uid=103 auid=4294967295 ses=4294967295 "
        'subj=unconfined msg=\'apparmor="DENIED" operation="dbus_method_call" bus="system" '
        'path="/org/freedesktop/hostname1" interface="org.freedesktop.DBus.Properties" member="GetAll" '
        'mask="send" name=":1.7" pid=2041 label="snap.foo.bar" peer_pid=1 peer_label="unconfined" '
        'exe="/usr/bin/dbus-daemon" sauid=103 hostname=? addr=? terminal=?\'',
        'type=APPARMOR_DENIED msg=audit(1700000000.200:11): apparmor="DENIED" operation="open" parent=1 '
        'profile="/usr/sbin/cupsd" name="/etc/shadow" pid=1200 comm="cupsd" requested_mask="r" '
        'denied_mask="r" fsuid=0 ouid=0',
    ]
)
body = (
    'auid=65876 uid=0 gid=0 ses=12684 pid=18204 comm="qemu-system-x86" exe="/usr/bin/qemu-system-x86_64" '
    "sig=0 arch=c000003e syscall=271 compat=0 ip=0x7f6ba2cdd811 code=0x7ffc0000"
)
CASES["seccomp_log_errno"] = render_lines(
    [
        f"type=SECCOMP msg=audit(1600000000.001:1): {body}",
        f"type=SECCOMP msg=audit(1600000000.002:2): {body.replace('code=0x7ffc0000', 'code=0x50001')}",
    ]
)
CASES["not_a_record"] = render_lines(["hello"])

# -- test_file_events.py -------------------------------------------------------------------------------
OPENAT = (
    "type=SYSCALL msg=audit(1795603951.333:1): arch=c000003e syscall=257 success=yes exit=4 a0=ffffff9c "
    "a1=7f25c45e3050 a2={flags:x} a3=0 items=1 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 "
    'sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)',
    'type=CWD msg=audit(1795603951.333:1): cwd="/srv/a b"',
    'type=PATH msg=audit(1795603951.333:1): item=0 name="{name}" inode=7 dev=fe:00 mode=0100644 ouid=0 '
    "ogid=0 rdev=00:00 nametype=NORMAL",
)
opens = []
for flags, name in ((0o1, "f"), (0o2 | 0o1000, "./x/../f"), (0o0, "f"), (0o0 | 0o1000, "//abs//f")):
    opens += render_lines([ln.format(flags=flags, name=name) for ln in OPENAT])
CASES["open_flags"] = opens
CASES["unlinkat_removedir"] = render_lines(
    [
        OPENAT[0].format(flags=0x200).replace("syscall=257", "syscall=263").replace("exit=4", "exit=0"),
        OPENAT[1],
        OPENAT[2].format(name="/srv/d").replace("nametype=NORMAL", "nametype=DELETE"),
    ]
)
CASES["bind_under_watch_key"] = render_lines(
    [
        OPENAT[0].format(flags=0x10).replace("syscall=257", "syscall=49").replace("exit=4", "exit=0")
        .replace("key=(null)", 'key="auditsql_file"'),
        OPENAT[1],
        OPENAT[2].format(name="/srv/s.sock").replace("nametype=NORMAL", "nametype=CREATE"),
    ]
)


def yaml_event(name: str) -> list[str]:
    lines = GOLIB_YAML.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"  {name}: |") + 1
    out = []
    for ln in lines[start:]:
        if not ln.startswith("    "):
            break
        out.append(ln[4:])
    return out


CASES["vim_unlink_rename"] = render_lines(yaml_event("unlink syscall")) + render_lines(yaml_event("rename syscall"))
wline = next(
    ln for ln in WAZUH.read_text(encoding="utf-8").split("\n") if "malware.py" in ln and "nametype=CREATE" in ln
)
wtext = wline.split(" = ", 1)[1]
CASES["wazuh_touch"] = render_lines([wtext.split(" type=")[0], *("type=" + p for p in wtext.split(" type=")[1:])])

# -- test_socket_connections.py ------------------------------------------------------------------------


def _line(serial: int, syscall: int, rest: str, pid: int = 12992, ppid: int = 1229) -> str:
    return (
        ACCEPT.replace(":62)", f":{serial})")
        .replace("syscall=43 success=yes exit=11 a0=6", f"syscall={syscall} {rest}")
        .replace("pid=12992", f"pid={pid}")
        .replace("ppid=1229 ", f"ppid={ppid} ")
    )


def _saddr(serial: int, hexaddr: str) -> str:
    return f"type=SOCKADDR msg=audit(1492037298.883:{serial}): saddr={hexaddr}"


BIND_ANY_80 = "02000050000000000000000000000000"
BIND_LO_8080 = "02001F907F0000010000000000000000"
BIND_PORT0 = "020000007F0000010000000000000000"
PEER = "02009C400A0102030000000000000000"
CASES["accept_bound_port"] = render_lines(
    [
        _line(1, 49, "success=yes exit=0 a0=6"),
        _saddr(1, BIND_ANY_80),
        _line(2, 49, "success=yes exit=0 a0=7"),
        _saddr(2, BIND_LO_8080),
        _line(3, 43, "success=yes exit=11 a0=6"),
        _saddr(3, PEER),
        _line(4, 288, "success=yes exit=12 a0=7"),
        _saddr(4, PEER),
        _line(5, 43, "success=yes exit=13 a0=9"),
        _saddr(5, PEER),
    ]
)
CASES["pre_fork"] = render_lines(
    [
        _line(1, 49, "success=yes exit=0 a0=6", pid=100, ppid=1),
        _saddr(1, BIND_LO_8080),
        _line(2, 43, "success=yes exit=11 a0=6", pid=101, ppid=100),
        _saddr(2, PEER),
        _line(3, 43, "success=yes exit=11 a0=6", pid=201, ppid=200),
        _saddr(3, PEER),
    ]
)
CASES["forgotten_binds"] = render_lines(
    [
        _line(1, 49, "success=no exit=-98 a0=6"),
        _saddr(1, BIND_LO_8080),
        _line(2, 43, "success=yes exit=11 a0=6"),
        _saddr(2, PEER),
        _line(3, 49, "success=yes exit=0 a0=7"),
        _saddr(3, BIND_PORT0),
        _line(4, 43, "success=yes exit=11 a0=7"),
        _saddr(4, PEER),
        _line(5, 49, "success=yes exit=0 a0=8"),
        _saddr(5, BIND_LO_8080),
        _line(6, 41, "success=yes exit=8 a0=2 a1=1 a2=0"),
        _line(7, 43, "success=yes exit=11 a0=8"),
        _saddr(7, PEER),
    ]
)
CASES["seeded_accept"] = render_lines([_line(1, 43, "success=yes exit=11 a0=8", pid=200), _saddr(1, PEER)])
head = (
    "type=SYSCALL msg=audit(1433785727.186:{s}): arch=40000003 syscall=102 success=yes exit=5 a0=b "
    "a1=bfc9a3c0 a2=b76f8ff4 a3=0 items=0 ppid=1 pid=11217 auid=20003 uid=22 gid=22 euid=22 suid=22 "
    'fsuid=22 egid=22 sgid=22 fsgid=22 tty=(none) ses=21 comm="dig" exe="/usr/bin/dig" key=(null)'
)
call = "type=SOCKETCALL msg=audit(1433785727.186:{s}): nargs=6 a0=4 a1=bfc9a3c0 a2=5 a3=0 a4=bfc9a400 a5=10"
CASES["socketcall_sendto"] = render_lines(
    [
        head.format(s=1),
        call.format(s=1),
        "type=SOCKADDR msg=audit(1433785727.186:1): saddr=02000035C0A800010000000000000000",
        head.format(s=2),
        call.format(s=2),
    ]
)

out = Path(__file__).with_name("events.json")
out.write_text(json.dumps(CASES, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
print(out, sum(len(v) for v in CASES.values()), "events")

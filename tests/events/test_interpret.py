"""Exact tests of interpretation: SOCKADDR decoding, EXECVE argv, PROCTITLE, syscall names per arch, errno
(through the native core, ``auditsql._core``)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql import _core
from auditsql._core import (
    arch_of,
    convert,
    decode_sockaddr,
    errno_name,
    family_name,
    proctitle_argv,
    syscall_name,
)
from tests.core import Ev, Record, events_and_records, parse_text
from tests.corpus import CORPUS


def rec(line: str) -> Record:
    (r,) = parse_text(line)
    assert r["error"] is None
    return r


def events_of(path: Path) -> list[Ev]:
    """A log's events (rendered, ids not resolved) with their records."""
    return [Ev(d, recs) for d, recs in events_and_records(path.read_bytes())]


def render(lines: list[str]) -> list[dict]:
    """Record lines (parsed with enrichment detection) as rendered events, ids not resolved."""
    return _core.render_lines(
        "".join(line + "\n" for line in lines).encode(), resolve_ids=False, format="enriched"
    )


def summary_of(lines: list[str]) -> dict[str, object]:
    (ev,) = render(lines)
    return ev["summary"]


def execve_argv(records: list[Record]) -> tuple[int | None, list[bytes], list[str]]:
    return _core.execve_argv([r["text"] for r in records])


def sockaddr_of(token: str | None, arch: int | None) -> dict[str, object] | None:
    """What the summary decodes from a SOCKADDR ``saddr=`` token in an event whose SYSCALL has ``arch``
    (None: no SYSCALL record); None when there is nothing to decode."""
    lines = [f"type=SYSCALL msg=audit(1.000:1): arch={arch:x} syscall=42"] if arch is not None else []
    lines.append("type=SOCKADDR msg=audit(1.000:1):" + (f" saddr={token}" if token is not None else ""))
    (ev,) = render(lines)
    return ev["summary"].get("sockaddr")


def is_big_endian(arch: int | None) -> bool:
    """Does the summary read a sockaddr's family in big-endian order under ``arch``? (``0200``: family 2
    little-endian, 512 big-endian)."""
    sa = sockaddr_of("0200", arch)
    assert sa is not None
    return sa["family"] == "512"


# -- SOCKADDR ----------------------------------------------------------------------------------------------------


def test_sockaddr_inet() -> None:
    # shared/corpus/threathunters-io_laurel/record-connect.txt: saddr=02002BCB7F0000010000000000000000
    assert decode_sockaddr(bytes.fromhex("02002BCB7F0000010000000000000000")) == {
        "family": "inet",
        "port": 11211,
        "addr": "127.0.0.1",
    }


def test_sockaddr_inet_short() -> None:
    assert decode_sockaddr(bytes.fromhex("02002BCB7F00")) == {
        "family": "inet",
        "error": "buffer too short for sockaddr_in",
    }


def test_sockaddr_inet6() -> None:
    # shared/corpus/threathunters-io_laurel/record-connect.txt: ::1 port 11211, no scope bytes beyond 28
    assert decode_sockaddr(bytes.fromhex("0A002BCB000000000000000000000000000000000000000100000000")) == {
        "family": "inet6",
        "port": 11211,
        "flowinfo": 0,
        "addr": "::1",
        "scope_id": 0,
    }


def test_sockaddr_inet6_with_scope() -> None:
    data = bytes.fromhex("0A000016" + "00000007" + "FE800000000000000000000000000001") + (2).to_bytes(
        4, "little"
    )
    assert decode_sockaddr(data) == {
        "family": "inet6",
        "port": 22,
        "flowinfo": 7,
        "addr": "fe80::1",
        "scope_id": 2,
    }
    # without the scope field (an old 24-byte sockaddr_in6)
    assert decode_sockaddr(data[:24]) == {"family": "inet6", "port": 22, "flowinfo": 7, "addr": "fe80::1"}
    assert decode_sockaddr(data[:23]) == {"family": "inet6", "error": "buffer too short for sockaddr_in6"}


def test_sockaddr_unix_path() -> None:
    # shared/corpus/threathunters-io_laurel/record-nscd.txt (path, then NUL and stack garbage)
    saddr = (
        "01002F7661722F72756E2F6E7363642F736F636B65740000603B7B47FC7F0000303C7B47FC7F00000200000000000000"
        "140000001600010308000000000000000C03B7B47FC7F0000103B7B47FC7F0000200000"
    )
    assert decode_sockaddr(bytes.fromhex(saddr[: len(saddr) // 2 * 2])) == {
        "family": "unix",
        "path": "/var/run/nscd/socket",
    }


def test_sockaddr_unix_path_with_braces() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-sockaddr-unix.txt
    saddr = "01002F746D702F2E7B46443244443844342D463641412D344437342D413645312D4145464142313833444545427D"
    assert sockaddr_of(saddr, 0xC000003E) == {
        "family": "unix",
        "path": "/tmp/.{FD2DD8D4-F6AA-4D74-A6E1-AEFAB183DEEB}",
    }


def test_sockaddr_unix_abstract() -> None:
    assert decode_sockaddr(b"\x01\x00\x00my-abstract\x00\x00\x00") == {
        "family": "unix",
        "path": "@my-abstract",
        "abstract": True,
    }
    # bytes that are not text are escaped like every other byte string
    assert decode_sockaddr(b"\x01\x00\x00a%\xff") == {"family": "unix", "path": "@a%25%ff", "abstract": True}


def test_sockaddr_unix_unnamed() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-sockaddr-unix-2.txt: saddr=0100 ("sockaddr len too short")
    assert decode_sockaddr(bytes.fromhex("0100")) == {"family": "unix", "path": ""}


def test_sockaddr_netlink() -> None:
    # shared/corpus/threathunters-io_laurel/record-service-start.txt
    assert decode_sockaddr(bytes.fromhex("100000000000000000000000")) == {
        "family": "netlink",
        "pid": 0,
        "groups": 0,
    }
    assert decode_sockaddr(bytes.fromhex("10000000D2040000" + "01000000")) == {
        "family": "netlink",
        "pid": 1234,
        "groups": 1,
    }
    assert decode_sockaddr(bytes.fromhex("1000000000000000")) == {
        "family": "netlink",
        "error": "buffer too short for sockaddr_nl",
    }


def test_sockaddr_unknown_family() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-sockaddr-unknown-1.txt: all zero (`SADDR=unknown family`)
    assert decode_sockaddr(bytes(16)) == {"family": "unspec", "error": "family not decoded", "family_nr": 0}
    assert decode_sockaddr(bytes.fromhex("7777AABB")) == {
        "family": "30583",
        "error": "family not decoded",
        "family_nr": 30583,
    }
    assert family_name(30583) == "30583"
    assert family_name(2) == "inet"


def test_sockaddr_short_buffer() -> None:
    assert decode_sockaddr(b"\x02") == {"family": None, "error": "buffer too short for a family", "len": 1}
    assert decode_sockaddr(b"") == {"family": None, "error": "buffer too short for a family", "len": 0}


def test_sockaddr_big_endian_ppc64() -> None:
    # shared/corpus/threathunters-io_laurel/record-bind-ipv4-bigendian.txt: arch=80000015, saddr=0002D903...
    saddr = "0002D903000000000000000000000000"
    assert arch_of(b"80000015") == (0x80000015, "ppc64")
    assert is_big_endian(0x80000015) is True
    assert is_big_endian(0xC000003E) is False
    assert is_big_endian(None) is False
    assert sockaddr_of(saddr, 0x80000015) == {"family": "inet", "port": 55555, "addr": "0.0.0.0"}
    # read little-endian, the same bytes are family 512
    assert sockaddr_of(saddr, 0xC000003E) == {
        "family": "512",
        "error": "family not decoded",
        "family_nr": 512,
    }


def test_sockaddr_of_tokens() -> None:
    assert sockaddr_of(None, None) is None
    assert sockaddr_of("(null)", None) is None


def test_sockaddr_in_summary_big_endian() -> None:
    (ev,) = events_of(CORPUS / "threathunters-io_laurel/record-bind-ipv4-bigendian.txt")
    s = ev.json["summary"]
    assert isinstance(s, dict)
    assert (s["arch"], s["syscall"], s["syscall_nr"]) == ("ppc64", "bind", 327)
    assert s["sockaddr"] == {"family": "inet", "port": 55555, "addr": "0.0.0.0"}
    assert s["proctitle"] == ["nc", "-l", "-p", "55555"]


# -- EXECVE ------------------------------------------------------------------------------------------------------


def test_execve_split_argument_across_records() -> None:
    # shared/corpus/threathunters-io_laurel/record-execve-long.txt: a1_len=16384 a1[0]= a1[1]= a1[2]= over three
    # EXECVE records; laurel's golden has the same 8192-byte argument
    (ev,) = events_of(CORPUS / "threathunters-io_laurel/record-execve-long.txt")
    execs = ev.all(1309)
    assert [[k for k, _ in r["fields"]] for r in execs] == [
        [b"argc", b"a0", b"a1_len", b"a1[0]"],
        [b"a1[1]"],
        [b"a1[2]"],
    ]
    argc, argv, warnings = execve_argv(execs)
    assert argc == 2
    assert warnings == []
    assert [len(a) for a in argv] == [9, 8192]
    assert argv[0] == b"/bin/echo"
    assert argv[1][:4] == b"baaa"
    assert argv[1][-4:] == b"aaag"
    want = b"".join(bytes.fromhex(r["fields"][-1][1].decode()) for r in execs)
    assert argv[1] == want
    d = ev.json
    assert d["EXECVE"] == {"argc": 2, "ARGV": ["/bin/echo", argv[1].decode()]}


def test_execve_split_argument_missing_piece() -> None:
    # a1[1] never came: a1_len=12 (hex digits, 6 bytes) disagrees with the 4 bytes received
    r1 = rec('type=EXECVE msg=audit(1.000:1): argc=2 a0="x" a1_len=12 a1[0]=6162')
    r3 = rec("type=EXECVE msg=audit(1.000:1): a1[2]=6566")
    argc, argv, warnings = execve_argv([r1, r3])
    assert (argc, argv) == (2, [b"x", b"abef"])
    assert warnings == ["a1: 4 bytes received, a1_len=12", "a1: pieces missing (2 received)"]
    # a1_len counts the hex digits the kernel wrote, so 8 for these 4 bytes is not a mismatch
    r1 = rec('type=EXECVE msg=audit(1.000:1): argc=2 a0="x" a1_len=8 a1[0]=6162')
    r2 = rec("type=EXECVE msg=audit(1.000:1): a1[1]=6566")
    assert execve_argv([r1, r2]) == (2, [b"x", b"abef"], [])


def test_execve_hex_arguments() -> None:
    # shared/corpus/elastic_beats/filebeat-auditd/execve-hex-arg.log style: a1 is hex because it holds a space
    r = rec('type=EXECVE msg=audit(1.000:1): argc=3 a0="sh" a1="-c" a2=6563686F2068656C6C6F')
    assert execve_argv([r]) == (3, [b"sh", b"-c", b"echo hello"], [])
    r = rec("type=EXECVE msg=audit(1.000:1): argc=1 a0=2F746D702F0A")
    assert execve_argv([r]) == (1, [b"/tmp/\n"], [])


def test_execve_argc_mismatch() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-execve.txt has `argc=0` with `a0=` present
    r = rec('type=EXECVE msg=audit(1.000:1): argc=3 a0="ls" a1="-l"')
    assert execve_argv([r]) == (3, [b"ls", b"-l"], ["argc=3 but 2 arguments"])
    r = rec('type=EXECVE msg=audit(1.000:1): argc=x a0="ls"')
    assert execve_argv([r]) == (None, [b"ls"], ["argc is not a number: 'x'"])
    r = rec('type=EXECVE msg=audit(1.000:1): argc=3 a0="ls" a2="-l"')
    assert execve_argv([r]) == (
        3,
        [b"ls", b"-l"],
        ["argument indexes are not contiguous", "argc=3 but 2 arguments"],
    )


def test_execve_argc_mismatch_in_summary_warnings() -> None:
    s = summary_of(
        [
            "type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0",
            'type=EXECVE msg=audit(1.000:1): argc=3 a0="ls" a1="-l"',
            "type=EOE msg=audit(1.000:1):",
        ]
    )
    assert (s["argv"], s["argc"], s["warnings"]) == (["ls", "-l"], 2, ["argc=3 but 2 arguments"])


def test_execve_many_arguments_in_numeric_order() -> None:
    args = " ".join(f'a{i}="arg{i}"' for i in range(12))
    r = rec(f"type=EXECVE msg=audit(1.000:1): argc=12 {args}")
    argc, argv, warnings = execve_argv([r])
    assert argc == 12
    assert argv == [f"arg{i}".encode() for i in range(12)]
    assert warnings == []
    # the same arguments written out of order, across two records
    late = " ".join(f'a{i}="arg{i}"' for i in (11, 10, 2))
    early = " ".join(f'a{i}="arg{i}"' for i in (0, 1, 3, 4, 5, 6, 7, 8, 9))
    r1, r2 = (
        rec(f"type=EXECVE msg=audit(1.000:1): argc=12 {late}"),
        rec(f"type=EXECVE msg=audit(1.000:1): {early}"),
    )
    assert execve_argv([r1, r2]) == (12, [f"arg{i}".encode() for i in range(12)], [])


def test_execve_empty_and_null_arguments() -> None:
    r = rec('type=EXECVE msg=audit(1.000:1): argc=3 a0="x" a1="" a2=(null)')
    assert execve_argv([r]) == (3, [b"x", b"", b""], [])


# -- PROCTITLE ---------------------------------------------------------------------------------------------------


def test_proctitle_nul_splitting() -> None:
    # shared/corpus/threathunters-io_laurel/record-bind-ipv4-bigendian.txt
    assert proctitle_argv(b"6E63002D6C002D70003535353535") == [b"nc", b"-l", b"-p", b"55555"]
    # a trailing NUL ends the last argument; an empty argument in the middle is kept
    assert proctitle_argv(b"6100") == [b"a"]
    assert proctitle_argv(b"61000062") == [b"a", b"", b"b"]
    assert proctitle_argv(b"610000") == [b"a", b""]
    # a quoted proctitle (no NUL, no space) is one argument
    assert proctitle_argv(b'"bash"') == [b"bash"]
    assert proctitle_argv(b"(null)") == []
    assert proctitle_argv(None) == []


def test_proctitle_in_render() -> None:
    (d,) = render(["type=PROCTITLE msg=audit(1.000:1): proctitle=746F756368002F746D702F6120620A"])
    assert d["PROCTITLE"] == {"ARGV": ["touch", "/tmp/a b%0a"]}
    assert d["summary"]["proctitle"] == ["touch", "/tmp/a b%0a"]  # type: ignore[index]


# -- arch and syscall names --------------------------------------------------------------------------------------


def test_arch_of() -> None:
    assert arch_of(b"c000003e") == (0xC000003E, "x86_64")
    assert arch_of(b"40000003") == (0x40000003, "i386")
    assert arch_of(b"c00000b7") == (0xC00000B7, "aarch64")
    assert arch_of(b"80000015") == (0x80000015, "ppc64")
    # an interpreted log (shared/corpus/elastic_beats/filebeat-auditd/test.log `arch=x86_64`)
    assert arch_of(b"x86_64") == (0xC000003E, "x86_64")
    assert arch_of(None) == (None, None)
    assert arch_of(b"") == (None, None)
    assert arch_of(b"zz") == (None, "zz")


def test_syscall_names_per_arch() -> None:
    assert syscall_name("x86_64", 59) == "execve"
    assert syscall_name("i386", 11) == "execve"
    assert syscall_name("aarch64", 221) == "execve"
    assert syscall_name("ppc64", 11) == "execve"
    assert syscall_name("ppc64", 327) == "bind"
    assert syscall_name("x86_64", 42) == "connect"
    assert syscall_name("i386", 132) == "getpgid"
    assert syscall_name(None, 59) is None
    assert syscall_name("x86_64", 99999) is None


def test_syscall_names_in_summary() -> None:
    cases = [
        # shared/corpus/threathunters-io_laurel/fork-sleep-exec.txt (aarch64 execve = 221)
        ("c00000b7", 221, "aarch64", "execve"),
        ("40000003", 11, "i386", "execve"),
        ("c000003e", 59, "x86_64", "execve"),
        ("80000015", 11, "ppc64", "execve"),
    ]
    for arch, nr, arch_name, name in cases:
        s = summary_of(
            [f"type=SYSCALL msg=audit(1.000:1): arch={arch} syscall={nr} success=yes exit=0 pid=5"]
        )
        assert (s["arch"], s["syscall"], s["syscall_nr"], s["success"], s["exit"]) == (
            arch_name,
            name,
            nr,
            True,
            0,
        )


def test_unknown_arch_in_summary() -> None:
    s = summary_of(["type=SYSCALL msg=audit(1.000:1): arch=deadbeef syscall=59 success=yes exit=0"])
    assert (s["arch"], s["syscall"], s["syscall_nr"]) == ("0xdeadbeef", "59", 59)


# -- errno -------------------------------------------------------------------------------------------------------


def test_errno_names() -> None:
    assert errno_name(2) == "ENOENT"
    assert errno_name(13) == "EACCES"
    assert errno_name(115) == "EINPROGRESS"
    assert errno_name(0) is None
    assert errno_name(99999) is None


def test_errno_in_summary() -> None:
    # shared/corpus/threathunters-io_laurel/record-nscd.txt style: connect() to the nscd socket, exit=-2
    s = summary_of(["type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=42 success=no exit=-2 a0=4"])
    assert (s["syscall"], s["success"], s["exit"], s["errno"]) == ("connect", False, -2, "ENOENT")
    # shared/corpus/elastic_go-libaudit/reassembler/rollover.log line 1: exit=-115
    (ev, *_) = events_of(CORPUS / "elastic_go-libaudit/reassembler/rollover.log")
    s = ev.json["summary"]
    assert isinstance(s, dict)
    assert (s["syscall"], s["success"], s["exit"], s["errno"]) == ("connect", False, -115, "EINPROGRESS")
    # a positive exit is not an errno
    s = summary_of(["type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=0 success=yes exit=2"])
    assert "errno" not in s
    # an interpreted log writes the name itself
    s = summary_of(["type=SYSCALL msg=audit(1.000:1): arch=x86_64 syscall=open success=no exit=EACCES"])
    assert (s["syscall"], s["exit"], s["errno"]) == ("open", "EACCES", "EACCES")


# -- the renderer types values exactly as convert does ---------------------------------------------------------

_FIELD_KEYS = st.sampled_from(
    [
        "pid",
        "auid",
        "uid",
        "ogid",
        "exit",
        "arch",
        "mode",
        "cap_fp",
        "name",
        "exe",
        "comm",
        "proctitle",
        "cwd",
    ]
    + ["key", "tty", "success", "res", "op", "acct", "hostname", "info", "dev", "nametype", "zzz", "old-ses"]
)
_TOKENS = st.one_of(
    st.sampled_from(["(null)", "?", "", "0", "-2", "c000003e", "0100755", "yes", "abc", "ABCD", "(none)"]),
    st.sampled_from(["'abc'", "'x y'", '"q"', '"a b"', '"%+"', "x%y", "'", '"', "é", "2F746D70", "unset"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="\"'{}="), max_size=8),
)


@given(st.lists(st.tuples(_FIELD_KEYS, _TOKENS), max_size=8, unique_by=lambda kv: kv[0]))
@settings(max_examples=300)
def test_section_values_match_convert(fields: list[tuple[str, str]]) -> None:
    # the renderer's hot loop types each field as convert() does. The record is a parsed line (records cannot
    # be built by hand through the core), so the fields compared are those the parser read from it.
    body = " ".join(f"{k}={tok}" for k, tok in fields)
    line = f"type=PATH msg=audit(1.000:1): {body}".encode()
    (r,) = _core.parse_line(line, False)
    (ev,) = _core.render_lines(line + b"\n", resolve_ids=False, format="raw")
    sec = ev["PATH"][0]
    want: dict[str, object] = {}
    for k, tok in r["fields"]:
        if k and k.decode() not in want:
            want[k.decode()] = convert(k.decode(), tok)
    assert {k: v for k, v in sec.items() if k != "_text"} == want

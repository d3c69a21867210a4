"""jorgehermo9/auditd-parser snapshots: one test per snapshot file; every compared value must match.

See :mod:`tests.conformance.auditd_parser` for what is compared and how auditsql's values are mapped.
"""

from __future__ import annotations

import pytest

from auditsql._core import unescape
from tests.conformance import auditd_parser
from tests.conformance.common import Result
from tests.core import get, parse_text, section_of

_SNAPS = list(auditd_parser.snapshots())
_PARSED = [s for s in _SNAPS if "Err" not in s.body]
_REJECTED = [s for s in _SNAPS if "Err" in s.body]

#: mismatches that are accepted, keyed by where they occur (``Result.mismatches`` text before ": expected"), each
#: with its reason. The values themselves are asserted in test_known_difference_values.
KNOWN_DIFFERENCES: dict[str, str] = {
    # EXECVE `a2=7B0A20...` (a JSON text with newlines, hex-encoded by the kernel): auditsql decodes it, as it
    # decodes every hex EXECVE argument (go-libaudit and Filebeat do too); auditd-parser keeps the hex. Peer gap.
    "go-libaudit/audit-rhel7.log:48 [@3b5878497f03fa6fad165c99b640ca18] a2": "hex EXECVE argument not decoded",
    # `key=65786563013634626974"` (go-libaudit's test log, a stray closing quote after hex): auditd never writes
    # a quote inside a bare value, so auditsql decodes the hex, as go-libaudit's own golden does (tags `exec`,
    # `64bit`); auditd-parser keeps the token as text. Deliberate.
    "go-libaudit/audit-ubuntu17.log:1 [@6fb9f7375df5dba5e690396c338ac159] key": "stray quote after hex",
    # `acct="?"` (PAM bad_ident): auditd-parser maps the quoted "?" to null; auditsql (like laurel) maps only the
    # bare `?` to null: a quoted value is a string that PAM really sent. Deliberate.
    "linux-audit-parser-rs/line-user-err.log:1 [@ebd610b5a600cb2caf7ab4d8afd1159b] msg acct": 'quoted "?"',
    "go-libaudit/audit-rhel7.log:36 [@f0f7f9e9869d4ce73d596e8dc02158b7] msg acct": 'quoted "?"',
}


def _where(mismatch: str) -> str:
    return mismatch.split(": expected ", 1)[0]


def test_snapshot_counts() -> None:
    assert (len(_SNAPS), len(_PARSED), len(_REJECTED)) == (220, 176, 44)


@pytest.mark.parametrize("snap", _PARSED, ids=[s.name[26:-5] for s in _PARSED])
def test_parsed_snapshot(snap: auditd_parser.Snapshot) -> None:
    r = Result(snap.name)
    auditd_parser.compare_snapshot(snap, r)
    assert [m for m in r.mismatches if _where(m) not in KNOWN_DIFFERENCES] == []


def test_totals() -> None:
    r = auditd_parser.run()
    assert sorted(_where(m) for m in r.mismatches) == sorted(KNOWN_DIFFERENCES)
    assert (r.compared, r.matched) == (3956, 3952)


def test_known_difference_values() -> None:
    by_name = {s.name[26:-5]: s for s in _PARSED}

    def fields(key: str) -> dict[str, object]:
        snap = by_name[key]
        return auditd_parser._ours_section(parse_text(snap.info)[0])

    theirs = by_name["@3b5878497f03fa6fad165c99b640ca18"].body["fields"]["a2"]
    ours = fields("@3b5878497f03fa6fad165c99b640ca18")["a2"]
    assert isinstance(ours, str)
    assert bytes.fromhex(theirs) == unescape(ours)
    assert ours.startswith('{%0a        "dev": "08:01",%0a')
    assert by_name["@6fb9f7375df5dba5e690396c338ac159"].body["fields"]["key"] == '65786563013634626974"'
    assert fields("@6fb9f7375df5dba5e690396c338ac159")["key"] == "exec%0164bit"
    for key in ("@ebd610b5a600cb2caf7ab4d8afd1159b", "@f0f7f9e9869d4ce73d596e8dc02158b7"):
        assert by_name[key].body["fields"]["msg"]["acct"] is None
        msg = fields(key)["msg"]
        assert isinstance(msg, dict)
        assert msg["acct"] == "?"


def test_rejected_lines_are_kept() -> None:
    """The 44 lines auditd-parser rejects: auditsql parses 43, and keeps the headerless one as an error record."""
    rj = auditd_parser.rejected()
    assert rj["lines"] == 44
    assert rj["outcomes"] == {"parsed": 43, "error record": 1}
    errors = [d for d, o in rj["per_line"] if o != "parsed"]
    assert errors == ["go-libaudit/audit-rhel7.log:31"]
    rec = parse_text("type=UNKNOWN[1329] msg=?")[0]
    assert (rec["type"], rec["name"], rec["text"]) == (1329, "UNKNOWN[1329]", b"type=UNKNOWN[1329] msg=?")
    assert rec["error"] == "no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=?'"


def test_rejected_old_pam_line_is_parsed() -> None:
    line = next(s.info for s in _REJECTED if s.description == "auparse/test.log:10")
    rec = parse_text(line)[0]
    msg = get(rec, b"msg")
    assert msg is not None
    assert section_of(rec)["msg"] == {
        "acct": "root",
        "exe": "/usr/sbin/crond",
        "hostname": None,
        "addr": None,
        "terminal": "cron",
        "res": "success",
        "_text": "PAM: session open :",
    }


def test_value_mappings() -> None:
    assert auditd_parser._mode("0o100755") == {
        "attributes": [],
        "file_type": "regular-file",
        "user": ["read", "write", "exec"],
        "group": ["read", "exec"],
        "other": ["read", "exec"],
    }
    assert auditd_parser._caps("0x1f") == ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID"]
    assert auditd_parser._perm("15") == ["exec", "write", "read", "attr"]
    assert auditd_parser._saddr(b"02000050A9FEA9FE0000000000000000", None) == {
        "address": "169.254.169.254:80",
        "family": "AF_INET",
    }
    assert auditd_parser._selinux("system_u:system_r:sshd_t:s0-s0:c0.c1023") == {
        "level": {"category": "c0.c1023", "sensitivity": "s0-s0"},
        "module": "SELinux",
        "role": "system_r",
        "type": "sshd_t",
        "user": "system_u",
    }


def test_rejected_enriched_saddr_with_spaces() -> None:
    # auditd writes the interpreted SADDR unquoted; its spaces (and a `}` inside a path) belong to the value
    by_desc = {s.description: s.info for s in _REJECTED}
    unix = parse_text(by_desc["linux-audit-parser-rs/line-sockaddr-unix.log:1"])[0]
    assert unix["enrich"] == [(b"SADDR", b"{ fam=local path=/tmp/.{FD2DD8D4-F6AA-4D74-A6E1-AEFAB183DEEB} }")]
    unknown = parse_text(by_desc["linux-audit-parser-rs/line-sockaddr-unknown-2.log:1"])[0]
    assert unknown["enrich"] == [(b"SADDR", b"unknown family(0)")]

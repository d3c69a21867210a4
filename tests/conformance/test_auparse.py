"""libauparse goldens (``auparse_test.ref`` and ``auparse_test.ref.py``): every compared value must match.

See :mod:`tests.conformance.auparse` for what is compared and how auditsql's output is mapped.
"""

from __future__ import annotations

from auditsql._core import parse_nested
from tests.conformance import auparse
from tests.conformance.common import Result
from tests.core import get, parse_text

#: mismatch lines (exactly as ``Result.mismatches`` writes them) that are accepted, each with its reason.
#: Empty: with the mappings documented in auparse.py (``old auid`` → ``old-auid``, dropped free words, the
#: ``unknown(N)`` rule for ids) every compared value matches.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _unexpected(r: Result) -> list[str]:
    return [m for m in r.mismatches if m not in KNOWN_DIFFERENCES]


def test_c_reference_walk() -> None:
    r = auparse.run()
    assert _unexpected(r) == []
    assert (r.compared, r.matched) == (1683, 1683)


def test_python_bindings_walk() -> None:
    r = auparse.run_python()
    assert _unexpected(r) == []
    assert (r.compared, r.matched) == (1683, 1683)


def test_test3_every_record_reemitted_once() -> None:
    r = auparse.run_lol()
    assert r.mismatches == []
    assert (r.compared, r.matched) == (16, 16)


def test_buffer_login_walk_with_old_auid_and_interpretation() -> None:
    # buf[0] line 1: `login pid=2027 uid=0 old auid=4294967295 new auid=848` (pre-3.x kernel)
    rec = parse_text(auparse.BUF.read_text().splitlines()[0])[0]
    assert rec["fields"] == [
        (b"", b"login"),
        (b"pid", b"2027"),
        (b"uid", b"0"),
        (b"old-auid", b"4294967295"),
        (b"new-auid", b"848"),
    ]
    assert auparse.our_walk(rec, auparse.renderer()) == [
        ("type", "LOGIN", "LOGIN"),
        ("pid", "2027", "2027"),
        ("uid", "0", "root"),
        ("auid", "4294967295", "unset"),
        ("auid", "848", "unknown(848)"),
    ]


def test_old_style_user_login_payload() -> None:
    # buf[1]: msg='uid=848: exe="/bin/login" (hostname=?, addr=?, terminal=tty3 res=success)'
    rec = parse_text(auparse.BUF.read_text().splitlines()[2])[0]
    msg = get(rec, b"msg")
    assert msg is not None
    assert parse_nested(msg) == [
        (b"uid", b"848"),
        (b"exe", b'"/bin/login"'),
        (b"hostname", b"?"),
        (b"addr", b"?"),
        (b"terminal", b"tty3"),
        (b"res", b"success"),
    ]


def test_syscall_interpretation_of_buffer() -> None:
    rec = parse_text(auparse.BUF.read_text().splitlines()[1])[0]
    walk = {name: val for name, _raw, val in auparse.our_walk(rec, auparse.renderer())}
    assert walk["arch"] == "x86_64"
    assert walk["syscall"] == "setxattr"
    assert walk["a0"] == "0x7fffffa9a9f0"
    assert walk["auid"] == "unknown(848)"
    assert walk["fsgid"] == "root"
    assert walk["comm"] == "login"


def test_avc_seresult_seperms_and_grouping_of_test_log() -> None:
    events = auparse.assemble(auparse.file_records(auparse.BASE / "auparse" / "test.log"))
    by_id = {ev.id: [r["name"] for r in ev.records] for ev in events}
    assert by_id["1170021493.977:293"] == ["AVC", "SYSCALL", "CWD", "PATH"]
    assert by_id["1170021601.343:296"] == ["LOGIN", "SYSCALL", "PROCTITLE"]
    assert len(events) == 7
    avc = events[[ev.id for ev in events].index("1170021493.977:293")].records[0]
    assert auparse.our_walk(avc, auparse.renderer())[:3] == [
        ("type", "AVC", "AVC"),
        ("seresult", "denied", "denied"),
        ("seperms", "read,write", "read,write"),
    ]

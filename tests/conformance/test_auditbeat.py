"""Auditbeat auditd-module goldens: one test per ``*.log-expected.json``; every compared value must match.

See :mod:`tests.conformance.auditbeat` for what is compared (event grouping via ``event.original``, ids, process,
paths, payload fields) and what is not (resolved names, ECS categorisation, go-libaudit's actor/object inference).
"""

from __future__ import annotations

import pytest

from tests.conformance import auditbeat
from tests.conformance.common import Result
from tests.core import parse_text, section_of

#: mismatch lines (exactly as ``Result.mismatches`` writes them) that are accepted, with the reason. Empty:
#: every compared value matches.
KNOWN_DIFFERENCES: dict[str, str] = {}

#: values compared / matched per golden file
FIGURES = {
    "auditlogin.log": 33,
    "centos7.log": 155,
    "chown.log": 61,
    "passwd.log": 57,
    "setuid.log": 101,
    "userlogin.log": 55,
}


def _unexpected(r: Result) -> list[str]:
    return [m for m in r.mismatches if m not in KNOWN_DIFFERENCES]


def test_goldens_present() -> None:
    assert tuple(sorted(FIGURES)) == auditbeat.GOLDENS


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_golden(name: str) -> None:
    r = auditbeat.compare_file(name)
    assert _unexpected(r) == []
    assert (r.compared, r.matched) == (FIGURES[name], FIGURES[name])


def _events(name: str) -> list[dict]:
    return [d for _ev, d in auditbeat._events(auditbeat.input_lines(name))]


def test_setuid_out_of_order_serials_grouped() -> None:
    # serials 531, 529, 530 in file order; each SYSCALL with its PROCTITLE, no EOE
    evs = _events("setuid.log")
    assert sorted((d["ID"], d["summary"]["records"], d["summary"]["syscall"]) for d in evs) == [
        ("1611163038.267:529", 2, "setresuid"),
        ("1611163038.267:530", 2, "setuid"),
        ("1611163038.267:531", 2, "setgid"),
    ]


def test_auditlogin_input_adds_the_golden_only_line() -> None:
    lines = auditbeat.input_lines("auditlogin.log")
    assert len(lines) == 3
    assert lines[2] == (
        "type=LOGIN msg=audit(1234877011.799:7734): login pid=26125 uid=0 old auid=4294967295 new auid=0 "
        "old ses=4294967295 new ses=1172"
    )
    login = _events("auditlogin.log")[-1]["LOGIN"][0]
    assert login == {
        "pid": 26125,
        "uid": 0,
        "old-auid": 4294967295,
        "new-auid": 0,
        "old-ses": 4294967295,
        "new-ses": 1172,
        "_text": "login",
    }


def test_chown_process_and_path() -> None:
    (d,) = _events("chown.log")
    s = d["summary"]
    assert (s["pid"], s["ppid"], s["exe"], s["comm"], s["cwd"]) == (
        9494,
        9492,
        "/usr/bin/chown",
        "chown",
        "/home/vagrant",
    )
    assert d["PROCTITLE"]["ARGV"] == ["chown", "-R", "alice", "test"]
    assert s["paths"] == [{"name": "test", "inode": 921833, "mode": "0o100664", "ouid": 9999, "ogid": 1000}]


def test_old_auid_named_when_resolving() -> None:
    # with ids resolved, LOGIN's old-auid gets a name like auid (auditd's ENRICHED OLD-AUID)
    lines = auditbeat.input_lines("auditlogin.log")
    rec = parse_text(lines[0])[0]
    sec = section_of(rec, resolve_ids=True)
    assert sec["OLD-AUID"] == "unset"

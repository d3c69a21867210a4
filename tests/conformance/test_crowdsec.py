"""CrowdSec ``auditd-logs`` parser assertions: every compared value must match.

See :mod:`tests.conformance.crowdsec` for what is compared.
"""

from __future__ import annotations

from tests.conformance import crowdsec
from tests.conformance.common import records_of

#: accepted mismatch lines with their reason; empty: every compared value matches.
KNOWN_DIFFERENCES: dict[str, str] = {}


def test_parser_assert() -> None:
    r = crowdsec.run()
    assert [m for m in r.mismatches if m not in KNOWN_DIFFERENCES] == []
    # 164 s01-parse value assertions, 16 of them file-source constants (not compared)
    assert len(crowdsec.assertions()) == 164
    assert (r.compared, r.matched) == (148, 148)


def test_header_and_meta() -> None:
    rec = records_of(crowdsec.LOG)[2]
    assert crowdsec.ours(rec, "Parsed", "timestamp") == "1684329817.587"
    assert crowdsec.ours(rec, "Parsed", "event_inc_id") == "2997"
    assert crowdsec.ours(rec, "Meta", "log_type") == "execve"
    assert crowdsec.ours(rec, "Meta", "exe") == "/usr/bin/perl"
    assert crowdsec.ours(rec, "Unmarshaled", "msg") == "audit(1684329817.587:2997):"
    assert crowdsec.ours(rec, "Unmarshaled", "exit") == "-2"

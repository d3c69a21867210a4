"""AUDIT_GET / AUDIT_SET / AUDIT_GET_FEATURE against the live kernel, with auditctl as the oracle."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from auditsql.kernel.netlink import AUDIT_GET, AuditSocket
from auditsql.kernel.status import (
    AuditFeatures,
    AuditStatus,
    format_status,
    get_features,
    get_status,
    set_status,
)

pytestmark = pytest.mark.kernel

EXACT = ("enabled", "failure", "pid", "rate_limit", "backlog_limit", "backlog_wait_time")
COUNTERS = ("lost", "backlog", "backlog_wait_time_actual")


def auditctl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("auditctl", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if exe is None:
        pytest.fail("auditctl is not installed (apt-get install auditd); it is these tests' oracle")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30, check=False
    )


def auditctl_status() -> dict[str, str]:
    res = auditctl("-s")
    assert res.returncode == 0, res.stderr
    return dict(line.split(" ", 1) for line in res.stdout.splitlines())


def stable_read(sock: AuditSocket, attempts: int = 5) -> tuple[AuditStatus, AuditFeatures, str]:
    """Netlink status, features and ``auditctl -s`` text taken with nothing changing in between.

    The counters (lost, backlog, ...) can move while auditctl runs; take the
    netlink view before and after and only accept a round where both agree.
    """
    for _ in range(attempts):
        before = (get_status(sock), get_features(sock))
        res = auditctl("-s")
        assert res.returncode == 0, res.stderr
        after = (get_status(sock), get_features(sock))
        if before == after:
            return before[0], before[1], res.stdout
    pytest.fail(f"audit status kept changing over {attempts} reads")


def test_live_status_matches_auditctl(audit_sock: AuditSocket) -> None:
    st, feats, text = stable_read(audit_sock)
    oracle = dict(line.split(" ", 1) for line in text.splitlines())

    ((rtype, raw),) = audit_sock.request(AUDIT_GET)
    assert rtype == AUDIT_GET
    assert len(raw) % 4 == 0 and len(raw) >= 32  # 8 u32 on the oldest kernels, 11 (44 bytes) on current ones
    assert st.mask == 0  # the kernel does not fill mask in replies
    for name in EXACT:
        assert getattr(st, name) == int(oracle[name]), name
    for name in COUNTERS:
        assert getattr(st, name) == int(oracle[name]), name
    immutable, lock = oracle["loginuid_immutable"].split()
    assert int(feats.features >> 1 & 1) == int(immutable)
    assert ("locked" if feats.lock >> 1 & 1 else "unlocked") == lock
    assert feats.vers >= 1


def test_format_status_is_identical_to_auditctl(audit_sock: AuditSocket) -> None:
    st, feats, text = stable_read(audit_sock)
    assert format_status(st, feats) == text


def test_format_status_interpreted_is_identical_to_auditctl_i(audit_sock: AuditSocket) -> None:
    for _ in range(5):
        before = get_status(audit_sock), get_features(audit_sock)
        res = auditctl("-s", "-i")
        if before == (get_status(audit_sock), get_features(audit_sock)):
            break
    assert res.returncode == 0, res.stderr
    assert format_status(*before, interpret=True) == res.stdout


def test_set_backlog_limit_round_trip(audit_snapshot) -> None:
    original = audit_snapshot.status["backlog_limit"]
    new = original + 1 if original < 0xFFFFFFF0 else original - 1
    with AuditSocket() as sock:
        assert get_status(sock).backlog_limit == original
        try:
            assert set_status(sock, backlog_limit=new) == 0
            assert get_status(sock).backlog_limit == new
            assert int(auditctl_status()["backlog_limit"]) == new
            # nothing else moved
            after = get_status(sock)
            unchanged = {**audit_snapshot.status, "pid": audit_snapshot.pid, "backlog_limit": new}
            assert {name: getattr(after, name) for name in unchanged} == unchanged
        finally:
            set_status(sock, backlog_limit=original)
        assert get_status(sock).backlog_limit == original
    assert int(auditctl_status()["backlog_limit"]) == original


def test_get_features_reply(audit_sock: AuditSocket) -> None:
    feats = get_features(audit_sock)
    assert len(feats.to_bytes()) == 16
    assert feats.vers >= 1

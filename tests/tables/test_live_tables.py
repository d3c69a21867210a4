"""Live tables against the real kernel, with auditctl as the oracle (read only: nothing is changed)."""

from __future__ import annotations

import pytest

import auditsql.tables as T
from tests.kernel.conftest import auditctl, kernel_lock_held, parse_auditctl_status, require_kernel_audit

pytestmark = pytest.mark.kernel


def _stable(read_ours, read_oracle, attempts: int = 10):  # noqa: ANN001, ANN202
    """Our rows and the oracle's view taken with nothing changing in between (counters move)."""
    for _ in range(attempts):
        before = read_ours()
        oracle = read_oracle()
        after = read_ours()
        if before == after:
            return before, oracle
    pytest.fail(f"kernel state kept changing over {attempts} reads")


def _auditctl_s() -> dict[str, str]:
    res = auditctl("-s")
    assert res.returncode == 0, res.stderr
    return parse_auditctl_status(res.stdout)


def test_audit_status_matches_auditctl() -> None:
    require_kernel_audit()
    with kernel_lock_held():
        rows, oracle = _stable(lambda: T.live_rows("audit_status"), _auditctl_s)
    (row,) = rows
    got = dict(zip(T.get("audit_status").column_names, row, strict=True))
    want = {
        name: int(oracle[name])
        for name in (
            "enabled",
            "failure",
            "pid",
            "rate_limit",
            "backlog_limit",
            "lost",
            "backlog",
            "backlog_wait_time",
            "backlog_wait_time_actual",
        )
    }
    assert {k: got[k] for k in want} == want
    if "loginuid_immutable" in oracle:
        value, lock = oracle["loginuid_immutable"].split()
        assert (got["loginuid_immutable"], got["loginuid_immutable_locked"]) == (
            int(value),
            int(lock == "locked"),
        )
    else:
        assert (got["loginuid_immutable"], got["loginuid_immutable_locked"]) == (None, None)


def test_audit_rules_match_auditctl_l() -> None:
    require_kernel_audit()

    def oracle() -> list[str]:
        res = auditctl("-l")
        assert res.returncode == 0, res.stderr
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        return [] if lines == ["No rules"] else lines

    with kernel_lock_held():
        rows, want = _stable(lambda: T.live_rows("audit_rules"), oracle)
    cols = T.get("audit_rules").column_names
    got = [dict(zip(cols, r, strict=True)) for r in rows]
    assert [r["rule"] for r in got] == want
    assert [r["number"] for r in got] == list(range(1, len(want) + 1))
    for r in got:
        assert r["rule"].startswith(("-a ", "-w "))
        if r["rule"].startswith("-a "):
            assert r["rule"].split()[1] == f"{r['action']},{r['list']}"
        words = r["rule"].split()
        keys = [w.split("=", 1)[1] for w in words if w.startswith("key=")]
        keys += [words[k + 1] for k, w in enumerate(words[:-1]) if w == "-k"]
        assert r["key"] == (",".join(keys) if keys else None)

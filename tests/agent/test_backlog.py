"""A rules file's backlog_limit only ever raises the limit (issue 13 item 4): the session reads the current limit
first and never lowers it, on a fake kernel (status get/set); an explicit --backlog-limit sets what it says.
The live check is tests/kernel/test_live.py's test_rules_file_backlog_limit_is_only_raised."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.agent import RAISED_BY_RULES, builtin_rules_path, kept_line, load_rules, plan_knobs
from auditsql.kernel.netlink import AUDIT_GET, AUDIT_LIST_RULES, AUDIT_SET
from auditsql.kernel.snapshot import KernelSession, raises
from auditsql.kernel.status import AuditStatus

_BITS = (("enabled", 1), ("failure", 2), ("rate_limit", 8), ("backlog_limit", 16), ("backlog_wait_time", 32))


class FakeStatusKernel:
    """AUDIT_GET / AUDIT_SET of the status, no rules; records the AUDIT_SET payloads."""

    def __init__(self, backlog_limit: int) -> None:
        self.status = AuditStatus(
            mask=0, enabled=1, failure=1, pid=0, rate_limit=0, backlog_limit=backlog_limit, lost=0, backlog=0,
            backlog_wait_time=15000,
        )  # fmt: skip
        self.sets: list[dict[str, int]] = []
        self.last_ack = 0

    def request(self, msg_type: int, payload: bytes = b"") -> list[tuple[int, bytes]]:
        if msg_type == AUDIT_GET:
            return [(AUDIT_GET, self.status.to_bytes())]
        if msg_type == AUDIT_LIST_RULES:
            return []
        assert msg_type == AUDIT_SET
        new = AuditStatus.from_bytes(payload)
        changed = {name: getattr(new, name) for name, bit in _BITS if new.mask & bit}
        self.sets.append(changed)
        for name, value in changed.items():
            setattr(self.status, name, value)
        return []


def session_on(kernel: FakeStatusKernel) -> KernelSession:
    s = KernelSession(kernel, state_file=None)  # type: ignore[arg-type]
    s.begin()
    return s


def test_the_builtin_rules_ask_for_4096() -> None:
    assert load_rules(builtin_rules_path(), "by auditsql run", "run").knobs == {"backlog_limit": 4096}


def test_a_higher_limit_set_by_someone_else_stays() -> None:
    """auditd's -b 8192 beside auditsql's builtin -b 4096: the kernel keeps 8192, nothing to restore."""
    k = FakeStatusKernel(8192)
    s = session_on(k)
    assert s.set(RAISED_BY_RULES, backlog_limit=4096, enabled=1) == {}
    assert (k.sets, k.status.backlog_limit, s.kept) == ([], 8192, {"backlog_limit": 8192})
    report = s.restore()
    assert (report.actions, report.problems, k.sets) == ([], [], [])
    assert kept_line("backlog_limit", 8192, 4096) == (
        "backlog_limit stays 8192: above the 4096 asked for (auditsql only raises it)"
    )


def test_a_lower_limit_is_raised_and_restored() -> None:
    k = FakeStatusKernel(64)  # the kernel's default
    s = session_on(k)
    assert s.set(RAISED_BY_RULES, backlog_limit=4096) == {"backlog_limit": 64}
    assert (k.sets, k.status.backlog_limit, s.kept) == ([{"backlog_limit": 4096}], 4096, {})
    report = s.restore()
    assert report.actions == ["backlog_limit 4096 -> 64"]
    assert k.status.backlog_limit == 64


def test_no_limit_is_the_highest() -> None:
    k = FakeStatusKernel(0)  # 0: no limit
    s = session_on(k)
    assert s.set(RAISED_BY_RULES, backlog_limit=4096) == {}
    assert (k.status.backlog_limit, s.kept) == (0, {"backlog_limit": 0})
    assert kept_line("backlog_limit", 0, 4096) == (
        "backlog_limit stays 0 (no limit): above the 4096 asked for (auditsql only raises it)"
    )
    k = FakeStatusKernel(8192)
    s = session_on(k)
    # asking for no limit raises any limit
    assert s.set(RAISED_BY_RULES, backlog_limit=0) == {"backlog_limit": 8192}
    assert k.status.backlog_limit == 0


def test_other_knobs_are_set_either_way() -> None:
    k = FakeStatusKernel(8192)
    k.status.rate_limit = 500
    s = session_on(k)
    assert s.set(RAISED_BY_RULES, rate_limit=100, backlog_wait_time=0, backlog_limit=4096) == {
        "rate_limit": 500,
        "backlog_wait_time": 15000,
    }
    assert (k.status.rate_limit, k.status.backlog_wait_time, k.status.backlog_limit) == (100, 0, 8192)


def test_an_explicit_limit_is_set_as_given_lower_too() -> None:
    """``--backlog-limit`` / ``[kernel] backlog_limit``: what the user says (the loss tests lower it to 64)."""
    k = FakeStatusKernel(8192)
    s = session_on(k)
    assert s.set(backlog_limit=64) == {"backlog_limit": 8192}
    assert (k.status.backlog_limit, s.kept) == (64, {})
    assert s.restore().actions == ["backlog_limit 64 -> 8192"]
    assert k.status.backlog_limit == 8192


def test_plan_knobs_raise_only_what_the_rules_ask_for() -> None:
    rules = {"backlog_limit": 4096, "rate_limit": 100}
    assert plan_knobs(rules, {}) == ({"backlog_limit": 4096, "rate_limit": 100}, frozenset({"backlog_limit"}))
    assert plan_knobs(rules, {"backlog_limit": 64}) == ({"backlog_limit": 64, "rate_limit": 100}, frozenset())
    assert plan_knobs({}, {"backlog_limit": 64}) == ({"backlog_limit": 64}, frozenset())


limits = st.one_of(st.just(0), st.integers(1, 0xFFFFFFFF))


@settings(max_examples=200, deadline=None)
@given(current=limits, wanted=limits)
def test_the_limit_after_set_is_never_lower(current: int, wanted: int) -> None:
    k = FakeStatusKernel(current)
    s = session_on(k)
    s.set(RAISED_BY_RULES, backlog_limit=wanted)
    after = k.status.backlog_limit
    assert after in (current, wanted)
    assert not raises(after, current)  # never lower: the old limit does not raise the new one
    assert (after == wanted) == (current == wanted or raises(current, wanted))
    s.restore()
    assert k.status.backlog_limit == current

"""The kernel's reasons for lost records, read from its log: parsing /dev/kmsg records and splitting a `lost`
increase between reasons. No kernel needed: the kmsg lines are the ones this machine's kernel printed."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from auditsql.kernel.loss import UNLOGGED, KernelLossReasons, KernelLostPoller, LossAccount, parse_kmsg
from auditsql.kernel.status import AuditStatus

#: /dev/kmsg records as this VM's kernel (6.18) printed them during the storms of tests/kernel/test_loss.py
BACKLOG = [
    "4,3878,9964069562,-;audit_log_start: 3 callbacks suppressed\n",
    "4,3879,9964069569,-;audit: audit_backlog=65 > audit_backlog_limit=64\n",
    "4,3880,9964069574,-;audit: audit_lost=1621975 audit_rate_limit=0 audit_backlog_limit=64\n",
    "3,3881,9964069578,-;audit: backlog limit exceeded\n",
]
RATE = [
    "4,3889,9972370899,-;audit_log_lost: 11080 callbacks suppressed\n",
    "4,3890,9972370906,-;audit: audit_lost=1625667 audit_rate_limit=100 audit_backlog_limit=8192\n",
    "3,3891,9972370912,-;audit: rate limit exceeded\n",
]
RECORD = "5,3901,9972371000,-;audit: type=1300 audit(1795603711.985:6419349): arch=c000003e syscall=42\n"


def reasons_from(records: list[str]) -> KernelLossReasons:
    r = KernelLossReasons(path="/nonexistent/kmsg")
    for rec in records:
        r.feed(rec)
    return r


def test_parse_kmsg_exact() -> None:
    assert [parse_kmsg(r) for r in BACKLOG] == [
        None,
        None,
        ("lost", 1621975),
        ("reason", "backlog limit exceeded"),
    ]
    assert [parse_kmsg(r) for r in RATE] == [None, ("lost", 1625667), ("reason", "rate limit exceeded")]
    assert parse_kmsg(RECORD) is None
    assert parse_kmsg("3,1,2,-;audit: kauditd hold queue overflow\n") == (
        "reason",
        "kauditd hold queue overflow",
    )
    assert parse_kmsg("3,1,2,-;audit: kauditd retry queue overflow\n SUBSYSTEM=x\n") == (
        "reason",
        "kauditd retry queue overflow",
    )
    assert parse_kmsg("3,1,2,-;audit: out of memory in audit_log_start\n") == ("reason", "out of memory")
    assert parse_kmsg("no header at all") is None
    assert parse_kmsg("4,1,2,-;audit: audit_lost=x\n") is None


@given(st.text(max_size=200))
def test_parse_kmsg_never_raises(text: str) -> None:
    got = parse_kmsg(text)
    assert got is None or got[0] in ("lost", "reason")


def test_split_one_reason_is_exact() -> None:
    r = reasons_from(BACKLOG)
    assert r.error == "/nonexistent/kmsg: No such file or directory"
    # the sample lies inside the increase: all of it is the sampled reason, whatever the rate limit
    assert r.split(1621900, 1625000, rate_limit=100) == [(3100, "backlog limit exceeded")]


def test_split_between_two_reasons_at_the_sample() -> None:
    r = reasons_from(BACKLOG + RATE)
    # up to the backlog sample: backlog; from there to the rate sample and after it: rate
    assert r.split(1621970, 1625700, rate_limit=100) == [
        (5, "backlog limit exceeded"),
        (3725, "rate limit exceeded"),
    ]


def test_split_gives_unlogged_loss_the_next_reason_and_then_the_last() -> None:
    r = reasons_from(BACKLOG + RATE)
    # the rate sample lies beyond 1622000: the loss after the backlog sample is booked as what the kernel
    # logged next, and the sample is kept for the next increase, which it explains
    assert r.split(1621970, 1622000, rate_limit=0) == [
        (5, "backlog limit exceeded"),
        (25, "rate limit exceeded"),
    ]
    assert r.split(1622000, 1625667, rate_limit=100) == [(3667, "rate limit exceeded")]
    # no sample in this increase: the last reason seen goes on
    assert r.split(1625667, 1625700, rate_limit=100) == [(33, "rate limit exceeded")]


def test_split_without_any_logged_reason_infers_from_the_rate_limit() -> None:
    assert reasons_from([]).split(10, 25, rate_limit=0) == [(15, "backlog limit exceeded")]
    r = reasons_from([])
    # with a rate limit the kernel may log the reason a moment later: held back for one call
    assert r.split(10, 25, rate_limit=100) == []
    assert r.split(25, 30, rate_limit=100) == [(20, UNLOGGED)]
    assert r.unexplained() == []
    r = reasons_from([])
    assert r.split(10, 25, rate_limit=100) == []
    assert r.unexplained() == [(15, UNLOGGED)]
    assert r.unexplained() == []
    assert reasons_from([RECORD]).split(10, 10, rate_limit=0) == []


def test_loss_held_back_goes_to_the_reason_the_kernel_logs_next() -> None:
    """A storm under a rate limit: the first poll sees the counter up before the kernel logged why."""
    r = reasons_from([])
    assert r.split(100, 79968, rate_limit=100) == []
    r.feed("4,1,1,-;audit: audit_lost=79990 audit_rate_limit=100 audit_backlog_limit=8192\n")
    r.feed("3,2,2,-;audit: rate limit exceeded\n")
    assert r.split(79968, 80066, rate_limit=100) == [(79966, "rate limit exceeded")]
    assert r.unexplained() == []


@given(
    st.integers(0, 10**6),
    st.lists(
        st.tuples(st.integers(0, 5000), st.sampled_from(["backlog limit exceeded", "rate limit exceeded"]))
    ),
    st.integers(0, 5000),
    st.sampled_from([0, 100]),
)
def test_split_always_sums_to_the_increase(
    base: int, samples: list[tuple[int, str]], inc: int, rate: int
) -> None:
    r = reasons_from([])
    for off, reason in sorted(samples):
        r.feed(f"4,1,1,-;audit: audit_lost={base + off} audit_rate_limit=0 audit_backlog_limit=64\n")
        r.feed(f"3,2,2,-;audit: {reason}\n")
    parts = r.split(base, base + inc, rate)
    assert sum(c for c, _ in parts + r.unexplained()) == inc
    assert all(c > 0 for c, _ in parts)
    assert all(a[1] != b[1] for a, b in zip(parts, parts[1:], strict=False))


class FakeStatusSock:
    def __init__(self, lost: list[int], rate_limit: int) -> None:
        self.lost = lost
        self.rate_limit = rate_limit

    def status(self) -> AuditStatus:
        return AuditStatus(lost=self.lost.pop(0), rate_limit=self.rate_limit)


def test_poller_books_each_reason_as_a_loss_record(monkeypatch) -> None:
    import auditsql.kernel.loss as loss_mod

    sock = FakeStatusSock([1621900, 1621990, 1625667], rate_limit=100)
    monkeypatch.setattr(loss_mod, "get_status", lambda s: s.status())
    r = reasons_from(BACKLOG + RATE)
    account = LossAccount(clock=lambda: 7.0)
    poller = KernelLostPoller(account, sock, reasons=r)  # type: ignore[arg-type]
    assert [poller.poll(), poller.poll(), poller.poll()] == [0, 90, 3677]
    assert account.drain() == [
        {"time": 7.0, "cause": "kernel_lost", "count": 75, "detail": "backlog limit exceeded"},
        {"time": 7.0, "cause": "kernel_lost", "count": 15, "detail": "rate limit exceeded"},
        {"time": 7.0, "cause": "kernel_lost", "count": 3677, "detail": "rate limit exceeded"},
    ]
    assert account.counters["kernel_lost"] == 3767


def test_reads_the_real_kmsg_from_its_end() -> None:
    if not os.access("/dev/kmsg", os.R_OK):
        assert KernelLossReasons().error is not None
        return
    r = KernelLossReasons()
    assert r.error is None
    r.read()  # nothing logged before the open is taken: no sample, no reason
    assert r.last is None or isinstance(r.last, str)
    r.close()

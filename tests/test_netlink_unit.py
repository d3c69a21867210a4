"""Message framing of auditsql.kernel.netlink against a scripted fake socket."""

from __future__ import annotations

import errno
import socket
import struct
from collections import deque
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from auditsql.kernel.netlink import (
    AUDIT_GET,
    AUDIT_GET_FEATURE,
    AUDIT_LIST_RULES,
    AUDIT_SET,
    AUDIT_USER,
    NLM_F_ACK,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    NLMSG_NOOP,
    AuditNetlinkError,
    AuditNetlinkProtocolError,
    AuditNetlinkTimeout,
    AuditSocket,
    pack_nlmsg,
    parse_nlmsgs,
)
from auditsql.kernel.status import (
    AUDIT_STATUS_BACKLOG_LIMIT,
    AUDIT_STATUS_BACKLOG_WAIT_TIME,
    AUDIT_STATUS_ENABLED,
    AUDIT_STATUS_FAILURE,
    AUDIT_STATUS_LOST,
    AUDIT_STATUS_PID,
    AUDIT_STATUS_RATE_LIMIT,
    AuditFeatures,
    AuditStatus,
    build_set_payload,
    format_status,
    get_features,
    get_status,
    set_status,
)

HDR = struct.Struct("=IHHII")
KERNEL = (0, 0)
OUR_PORT = 4242


def ack(seq: int, orig_type: int, err: int = 0) -> bytes:
    orig = HDR.pack(NLMSG_HDRLEN, orig_type, NLM_F_REQUEST | NLM_F_ACK, seq, OUR_PORT)
    return pack_nlmsg(NLMSG_ERROR, struct.pack("=i", err) + orig, 0x100, seq, OUR_PORT)


Reply = tuple[bytes, object] | tuple[bytes, object, int]


class FakeNetlink:
    """Stands in for a NETLINK_AUDIT socket.

    ``responder(seq, msg_type, flags, payload)`` returns the datagrams the
    "kernel" answers with: ``(data, sender_address[, msg_flags])``.
    """

    def __init__(self, responder: Callable[[int, int, int, bytes], list[Reply]] | None = None) -> None:
        self.responder = responder or (lambda *a: [])
        self.sent: list[tuple[bytes, object]] = []
        self.queue: deque[Reply] = deque()
        self.closed = False
        self.timeouts: list[float | None] = []

    def settimeout(self, t: float | None) -> None:
        self.timeouts.append(t)

    def sendto(self, data: bytes, addr: object) -> int:
        self.sent.append((data, addr))
        for msg_type, flags, seq, _pid, payload in parse_nlmsgs(data):
            self.queue.extend(self.responder(seq, msg_type, flags, payload))
        return len(data)

    def recvmsg(self, bufsize: int) -> tuple[bytes, list, int, object]:
        if not self.queue:
            raise TimeoutError("timed out")
        item = self.queue.popleft()
        data, addr = item[0], item[1]
        msg_flags = item[2] if len(item) > 2 else 0
        return data, [], msg_flags, addr

    def getsockname(self) -> tuple[int, int]:
        return (OUR_PORT, 0)

    def close(self) -> None:
        self.closed = True


def make(responder=None, timeout: float = 0.2) -> tuple[AuditSocket, FakeNetlink]:
    fake = FakeNetlink(responder)
    return AuditSocket(timeout=timeout, sock=fake), fake


STATUS = AuditStatus(0, 1, 1, 1234, 0, 8192, 3, 0, 0x7F, 60000, 0)


# --- framing ------------------------------------------------------------------


def test_header_packing_and_padding() -> None:
    assert pack_nlmsg(AUDIT_GET, b"", NLM_F_REQUEST | NLM_F_ACK, seq=7) == HDR.pack(16, 1000, 5, 7, 0)
    msg = pack_nlmsg(AUDIT_USER, b"hello", NLM_F_REQUEST, seq=1)
    assert len(msg) == 24  # 16 + 5, padded to 4
    assert HDR.unpack_from(msg)[0] == 21  # nlmsg_len excludes the pad
    assert msg[16:21] == b"hello" and msg[21:] == b"\0\0\0"


def test_request_frames_and_increments_seq() -> None:
    sock, fake = make(lambda seq, t, f, p: [(ack(seq, t), KERNEL)])
    sock.request(AUDIT_SET, b"x" * 44)
    sock.request(AUDIT_SET, b"y" * 44)
    (d1, a1), (d2, a2) = fake.sent
    assert a1 == a2 == (0, 0)  # to the kernel
    h1, h2 = HDR.unpack_from(d1), HDR.unpack_from(d2)
    assert h1 == (60, AUDIT_SET, NLM_F_REQUEST | NLM_F_ACK, 1, 0)
    assert h2[3] == 2
    assert d1[16:] == b"x" * 44


@given(
    hst.lists(
        hst.tuples(
            hst.integers(0, 0xFFFF),
            hst.integers(0, 0xFFFF),
            hst.integers(0, 2**32 - 1),
            hst.binary(max_size=64),
        ),
        max_size=5,
    )
)
def test_pack_parse_roundtrip(msgs: list[tuple[int, int, int, bytes]]) -> None:
    data = b"".join(pack_nlmsg(t, p, f, s, pid=9) for t, f, s, p in msgs)
    assert list(parse_nlmsgs(data)) == [(t, f, s, 9, p) for t, f, s, p in msgs]


# --- replies ------------------------------------------------------------------


def test_get_waits_for_data_after_ack() -> None:
    # Current kernels send the ACK first and the AUDIT_GET data afterwards.
    sock, _ = make(
        lambda seq, t, f, p: [
            (ack(seq, t), KERNEL),
            (pack_nlmsg(AUDIT_GET, STATUS.to_bytes(), 0, seq), KERNEL),
        ]
    )
    replies = sock.request(AUDIT_GET)
    assert replies == [(AUDIT_GET, STATUS.to_bytes())]
    assert sock.last_ack == 0


def test_get_data_before_ack_also_works() -> None:
    sock, fake = make(
        lambda seq, t, f, p: [
            (pack_nlmsg(AUDIT_GET, STATUS.to_bytes(), 0, seq), KERNEL),
            (ack(seq, t), KERNEL),
        ]
    )
    assert get_status(sock) == STATUS
    assert not fake.queue  # the ACK was consumed too


def test_multipart_in_one_datagram() -> None:
    def responder(seq, t, f, p):
        rules = b"".join(pack_nlmsg(AUDIT_LIST_RULES, b"rule%d" % i, NLM_F_MULTI, seq) for i in range(3))
        done = pack_nlmsg(NLMSG_DONE, struct.pack("=i", 0), NLM_F_MULTI, seq)
        return [(ack(seq, t), KERNEL), (rules + done, KERNEL)]

    sock, _ = make(responder)
    assert sock.request(AUDIT_LIST_RULES) == [(AUDIT_LIST_RULES, b"rule%d" % i) for i in range(3)]


def test_multipart_across_datagrams_with_noop() -> None:
    def responder(seq, t, f, p):
        return [
            (ack(seq, t), KERNEL),
            (pack_nlmsg(AUDIT_LIST_RULES, b"a", NLM_F_MULTI, seq), KERNEL),
            (pack_nlmsg(NLMSG_NOOP, b"", 0, seq), KERNEL),
            (pack_nlmsg(AUDIT_LIST_RULES, b"bb", NLM_F_MULTI, seq), KERNEL),
            (pack_nlmsg(NLMSG_DONE, b"\0\0\0\0", NLM_F_MULTI, seq), KERNEL),
        ]

    sock, _ = make(responder)
    assert sock.request(AUDIT_LIST_RULES) == [(AUDIT_LIST_RULES, b"a"), (AUDIT_LIST_RULES, b"bb")]


def test_empty_rule_list() -> None:
    sock, _ = make(
        lambda seq, t, f, p: [
            (ack(seq, t), KERNEL),
            (pack_nlmsg(NLMSG_DONE, b"\0" * 4, NLM_F_MULTI, seq), KERNEL),
        ]
    )
    assert sock.request(AUDIT_LIST_RULES) == []


@pytest.mark.parametrize(
    ("err", "name"), [(errno.EPERM, "EPERM"), (errno.EINVAL, "EINVAL"), (errno.EEXIST, "EEXIST")]
)
def test_error_ack_raises_with_errno_name(err: int, name: str) -> None:
    sock, _ = make(lambda seq, t, f, p: [(ack(seq, t, -err), KERNEL)])
    with pytest.raises(AuditNetlinkError) as info:
        sock.request(AUDIT_SET, b"\0" * 44)
    assert info.value.errno == err
    assert info.value.errno_name == name
    assert info.value.msg_type == AUDIT_SET
    assert isinstance(info.value, OSError)


def test_positive_ack_value_is_success() -> None:
    # AUDIT_SET with only AUDIT_STATUS_LOST returns the old lost counter.
    sock, _ = make(lambda seq, t, f, p: [(ack(seq, t, 17), KERNEL)])
    assert set_status(sock, lost=0) == 17


def test_stale_reply_with_older_seq_is_skipped() -> None:
    def responder(seq, t, f, p):
        stale = AuditStatus(0, 1, 1, 999, 0, 1, 0, 0, 0, 0, 0).to_bytes()
        return [
            (pack_nlmsg(AUDIT_GET, stale, 0, seq - 1), KERNEL),
            (ack(seq - 1, t), KERNEL),
            (ack(seq, t), KERNEL),
            (pack_nlmsg(AUDIT_GET, STATUS.to_bytes(), 0, seq), KERNEL),
        ]

    sock, _ = make(responder)
    sock._seq = 10  # pretend earlier requests happened
    assert get_status(sock) == STATUS
    assert sock.stale_messages == 2


def test_non_kernel_sender_is_ignored_and_counted() -> None:
    def responder(seq, t, f, p):
        forged = pack_nlmsg(NLMSG_ERROR, struct.pack("=i", -errno.EPERM) + b"\0" * 16, 0, seq)
        return [(forged, (31337, 0)), (ack(seq, t), KERNEL)]

    sock, _ = make(responder)
    sock.request(AUDIT_SET, b"\0" * 44)  # the forged error did not count
    assert sock.foreign_messages == 1


def test_no_ack_no_data_returns_without_reading() -> None:
    sock, fake = make(lambda seq, t, f, p: [])
    assert sock.request(AUDIT_USER, b"hi", flags=NLM_F_REQUEST) == []


def test_get_without_ack_flag_waits_for_data_only() -> None:
    sock, _ = make(lambda seq, t, f, p: [(pack_nlmsg(AUDIT_GET_FEATURE, b"\1\0\0\0" * 4, 0, seq), KERNEL)])
    assert sock.request(AUDIT_GET_FEATURE, flags=NLM_F_REQUEST) == [(AUDIT_GET_FEATURE, b"\1\0\0\0" * 4)]


def test_timeout_when_data_never_comes() -> None:
    sock, _ = make(lambda seq, t, f, p: [(ack(seq, t), KERNEL)], timeout=0.05)
    with pytest.raises(AuditNetlinkTimeout):
        sock.request(AUDIT_GET)


def test_context_manager_closes() -> None:
    fake = FakeNetlink()
    with AuditSocket(sock=fake) as sock:
        assert sock.portid == OUR_PORT
    assert fake.closed


# --- short / truncated --------------------------------------------------------


def test_short_header_raises() -> None:
    with pytest.raises(AuditNetlinkProtocolError, match="short"):
        list(parse_nlmsgs(b"\x20\0\0\0\xe8\x03\0\0"))


def test_len_past_datagram_raises() -> None:
    data = pack_nlmsg(AUDIT_GET, b"\0" * 44, 0, 1)[:40]
    with pytest.raises(AuditNetlinkProtocolError, match="truncated"):
        list(parse_nlmsgs(data))


def test_len_below_header_raises() -> None:
    with pytest.raises(AuditNetlinkProtocolError, match="below header"):
        list(parse_nlmsgs(HDR.pack(8, AUDIT_GET, 0, 1, 0)))


def test_trailing_zero_padding_tolerated() -> None:
    assert list(parse_nlmsgs(pack_nlmsg(AUDIT_GET, b"", 0, 1) + b"\0" * 4)) == [(AUDIT_GET, 0, 1, 0, b"")]


def test_truncated_reply_in_request_raises() -> None:
    sock, _ = make(lambda seq, t, f, p: [(pack_nlmsg(AUDIT_GET, b"\0" * 44, 0, seq)[:30], KERNEL)])
    with pytest.raises(AuditNetlinkProtocolError):
        sock.request(AUDIT_GET)


def test_short_error_payload_raises() -> None:
    sock, _ = make(lambda seq, t, f, p: [(pack_nlmsg(NLMSG_ERROR, b"\0\0", 0, seq), KERNEL)])
    with pytest.raises(AuditNetlinkProtocolError, match="NLMSG_ERROR"):
        sock.request(AUDIT_SET, b"\0" * 44)


def test_msg_trunc_flag_raises() -> None:
    sock, _ = make(lambda seq, t, f, p: [(ack(seq, t), KERNEL, socket.MSG_TRUNC)])
    with pytest.raises(AuditNetlinkProtocolError, match="truncated"):
        sock.request(AUDIT_SET, b"\0" * 44)


# --- struct audit_status / audit_features -------------------------------------


def test_status_parses_whatever_length_the_kernel_sends() -> None:
    full = STATUS.to_bytes()
    assert len(full) == 44 == AuditStatus.size()
    assert AuditStatus.from_bytes(full) == STATUS
    old = AuditStatus.from_bytes(full[:32])  # pre-3.x kernels: 8 fields
    assert (old.backlog, old.feature_bitmap, old.backlog_wait_time, old.backlog_wait_time_actual) == (
        0,
        None,
        None,
        None,
    )
    assert AuditStatus.from_bytes(full[:40]).backlog_wait_time == 60000
    newer = AuditStatus.from_bytes(full + b"\1\0\0\0" + b"\7")  # a newer kernel's extra bytes are ignored
    assert newer == STATUS
    with pytest.raises(AuditNetlinkProtocolError):
        AuditStatus.from_bytes(b"\0\0")


def test_set_payload_mask_bits() -> None:
    st = AuditStatus.from_bytes(build_set_payload(backlog_limit=65))
    assert st.mask == AUDIT_STATUS_BACKLOG_LIMIT == 0x10
    assert st.backlog_limit == 65 and st.enabled == 0
    st = AuditStatus.from_bytes(
        build_set_payload(enabled=1, failure=1, pid=5, rate_limit=7, backlog_wait_time=9, lost=0)
    )
    assert (
        st.mask
        == (
            AUDIT_STATUS_ENABLED
            | AUDIT_STATUS_FAILURE
            | AUDIT_STATUS_PID
            | AUDIT_STATUS_RATE_LIMIT
            | AUDIT_STATUS_BACKLOG_WAIT_TIME
            | AUDIT_STATUS_LOST
        )
        == 0x6F
    )
    assert (st.enabled, st.failure, st.pid, st.rate_limit, st.backlog_wait_time) == (1, 1, 5, 7, 9)
    with pytest.raises(TypeError):
        build_set_payload(backlog=3)
    with pytest.raises(ValueError):
        build_set_payload(backlog_limit=-1)


def test_set_status_refuses_irreversible_changes() -> None:
    sock, fake = make(lambda seq, t, f, p: [(ack(seq, t), KERNEL)])
    with pytest.raises(ValueError, match="reboot"):
        set_status(sock, enabled=2)
    with pytest.raises(ValueError, match="panic"):
        set_status(sock, failure=2)
    assert fake.sent == []


def test_set_status_sends_audit_set() -> None:
    sock, fake = make(lambda seq, t, f, p: [(ack(seq, t), KERNEL)])
    assert set_status(sock, backlog_limit=65) == 0
    ((data, _),) = fake.sent
    assert HDR.unpack_from(data)[1] == AUDIT_SET
    assert AuditStatus.from_bytes(data[16:]) == AuditStatus(0x10, 0, 0, 0, 0, 65, 0, 0, 0, 0, 0)


def test_features_roundtrip_and_get() -> None:
    feats = AuditFeatures(vers=1, mask=0xFFFFFFFF, features=0b10, lock=0)
    sock, _ = make(
        lambda seq, t, f, p: [
            (ack(seq, t), KERNEL),
            (pack_nlmsg(AUDIT_GET_FEATURE, feats.to_bytes(), 0, seq), KERNEL),
        ]
    )
    assert get_features(sock) == feats


def test_format_status_like_auditctl() -> None:
    feats = AuditFeatures(vers=1, mask=0xFFFFFFFF, features=0, lock=0)
    assert format_status(STATUS, feats) == (
        "enabled 1\nfailure 1\npid 1234\nrate_limit 0\nbacklog_limit 8192\nlost 3\nbacklog 0\n"
        "backlog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n"
    )
    locked = AuditFeatures(vers=1, mask=0xFFFFFFFF, features=0b10, lock=0b10)
    st = AuditStatus(0, 2, 2, 0, 0, 64, 0, 0, 0, 15000, 0)
    text = format_status(st, locked)
    assert text.startswith("enabled 2\nfailure 2\npid 0\n")
    assert text.endswith("loginuid_immutable 1 locked\n")
    assert format_status(st, locked, interpret=True).startswith("enabled enabled+immutable\nfailure panic\n")
    assert format_status(AuditStatus(0, 0, 0, 0, 0, 64, 0, 0), interpret=True) == (
        "enabled disable\nfailure silent\npid 0\nrate_limit 0\nbacklog_limit 64\nlost 0\nbacklog 0\n"
    )
    # no loginuid_immutable line when the kernel does not list the feature
    assert "loginuid" not in format_status(STATUS, AuditFeatures(1, 0, 0, 0))

"""Live sources, loss accounting and snapshots against fake sockets: no kernel needed."""

from __future__ import annotations

import errno
import io
import json
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from typing import Any

import pytest

from auditsql._core import Pipeline, Settings, parse_line, parse_netlink
from auditsql.kernel.loss import KernelLostPoller, LossAccount, SerialTracker, format_stats, read_stats
from auditsql.kernel.netlink import AUDIT_GET, AUDIT_SET, NLMSG_ERROR, NLMSG_HDRLEN, pack_nlmsg
from auditsql.kernel.snapshot import (
    AUDIT_FILTER_PREPEND,
    del_rule_payload,
    exclude_pid_rule,
)
from auditsql.kernel.sources import (
    AUDIT_REPLACE,
    RECV_SIZE,
    NetlinkSource,
    PluginSource,
    choose_source,
)
from auditsql.kernel.status import AuditStatus

HDR = struct.Struct("=IHHII")
KERNEL = (0, 0)
MCAST = (0, 1)


def unicast_msg(msg_type: int, text: bytes) -> bytes:
    """As the kernel sends to the daemon: nlmsg_len counts the payload only, no padding."""
    return HDR.pack(len(text), msg_type, 0, 0, 0) + text


def multicast_msg(msg_type: int, text: bytes) -> bytes:
    """As the kernel multicasts: nlmsg_len is the whole message."""
    return HDR.pack(NLMSG_HDRLEN + len(text), msg_type, 0, 0, 0) + text


class FakeNetlink:
    """Scripted ``recvmsg_into``: each step is (datagram, sender) or an exception; then timeouts."""

    def __init__(self, steps: list[object]) -> None:
        self.steps: deque[object] = deque(steps)
        self.sent: list[bytes] = []
        self.on_send: list[object] = []

    def settimeout(self, t: float | None) -> None:
        pass

    def sendto(self, data: bytes, addr: object) -> int:
        self.sent.append(data)
        self.steps.extend(self.on_send)
        return len(data)

    def recvmsg_into(self, buffers: list[bytearray], ancbufsize: int = 0, flags: int = 0) -> tuple:
        if not self.steps:
            time.sleep(0.01)
            raise TimeoutError
        step = self.steps.popleft()
        if isinstance(step, BaseException):
            raise step
        data, addr = step
        buf = buffers[0]
        n = min(len(data), len(buf))
        buf[:n] = data[:n]
        msg_flags = socket.MSG_TRUNC if len(data) > len(buf) else 0
        # with MSG_TRUNC in flags netlink returns the real length
        return (len(data) if flags & socket.MSG_TRUNC else n), [], msg_flags, addr

    def close(self) -> None:
        pass


def collect(src: PluginSource, want: int, timeout: float = 5.0) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        out.extend(src.get(timeout=0.05))
    return out


SYSCALL = b"audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0"
EOE = b"audit(1700000000.123:42): "


# -- parse_netlink -------------------------------------------------------------------------------------------


def test_parse_netlink_builds_the_auditd_line() -> None:
    rec = parse_netlink(1300, SYSCALL)
    assert rec["text"] == b"type=SYSCALL msg=" + SYSCALL
    assert (rec["type"], rec["name"], rec["sec"], rec["msec"], rec["serial"]) == (
        1300,
        "SYSCALL",
        1700000000,
        123,
        42,
    )
    assert rec["fields"] == [
        (b"arch", b"c000003e"),
        (b"syscall", b"59"),
        (b"success", b"yes"),
        (b"exit", b"0"),
    ]
    assert rec["error"] is None


def test_parse_netlink_eoe_keeps_its_trailing_space() -> None:
    rec = parse_netlink(1320, EOE)
    assert rec["text"] == b"type=EOE msg=audit(1700000000.123:42): "
    assert (rec["name"], rec["serial"], rec["fields"]) == ("EOE", 42, [])


def test_parse_netlink_strips_nul_and_newline_of_user_messages() -> None:
    rec = parse_netlink(1107, b"audit(1.002:3): pid=1 uid=0 msg='text'\n\0")
    assert rec["text"] == b"type=USER_AVC msg=audit(1.002:3): pid=1 uid=0 msg='text'"


def test_parse_netlink_never_splits_a_forged_second_header() -> None:
    payload = b"audit(1.002:3): pid=1 msg='x type=SYSCALL msg=audit(1.002:4): syscall=59'"
    rec = parse_netlink(1107, payload)
    assert rec["serial"] == 3
    assert rec["fields"] == [(b"pid", b"1"), (b"msg", b"'x type=SYSCALL msg=audit(1.002:4): syscall=59'")]


def test_parse_netlink_unknown_type_and_bad_stamp() -> None:
    rec = parse_netlink(1999, b"audit(1.002:3): a=b")
    assert (rec["type"], rec["name"], rec["text"]) == (
        1999,
        "UNKNOWN[1999]",
        b"type=UNKNOWN[1999] msg=audit(1.002:3): a=b",
    )
    bad = parse_netlink(1300, b"no stamp")
    assert (bad["type"], bad["error"]) == (1300, "no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=no stamp'")


# -- the netlink reader ----------------------------------------------------------------------------------------


def pair_source(mode: str = "multicast", **kw: Any) -> tuple[NetlinkSource, socket.socket]:
    """A NetlinkSource reading (with its native reader) one end of a datagram socket pair, and the other end
    to write hand-built netlink datagrams into: fault injection without the kernel."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    src = NetlinkSource(mode, sock=a, **kw)
    src._open = lambda: None  # type: ignore[method-assign]  # given socket: no bind, no registration
    return src, b


def events(src: NetlinkSource, want: int, timeout: float = 5.0) -> list[dict]:
    """The events the source's records make, through the native pipeline (EOE closes them)."""
    p = Pipeline(Settings(resolve_ids=False, rows=False))
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        b = src.feed(p, 0.05)
        out.extend(json.loads(line) for line in b.json.splitlines())
    if len(out) < want:
        out.extend(json.loads(line) for line in p.finish().json.splitlines())
    return out


def test_unicast_and_multicast_framing_give_the_same_record() -> None:
    src, peer = pair_source()
    src.start()
    peer.send(unicast_msg(1300, SYSCALL))
    peer.send(multicast_msg(1300, SYSCALL.replace(b":42)", b":43)")))
    peer.send(multicast_msg(1320, EOE))
    peer.send(multicast_msg(1320, EOE.replace(b":42)", b":43)")))
    a, b = events(src, 2)
    src.stop()
    assert a["raw"] == ["type=SYSCALL msg=" + SYSCALL.decode(), "type=EOE msg=" + EOE.decode()]
    assert b["raw"][0] == "type=SYSCALL msg=" + SYSCALL.decode().replace(":42)", ":43)")
    assert src.counters["messages"] == 4
    assert src.counters["bytes"] == 2 * (16 + len(SYSCALL)) + 2 * (16 + len(EOE))


def test_msg_trunc_is_counted_and_the_record_kept() -> None:
    big = b"audit(1.002:7): argc=1 a0=" + b"41" * 40000  # 80 kB: more than the 64 KiB buffer
    loss = LossAccount(clock=lambda: 100.0)
    src, peer = pair_source("unicast", loss=loss)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
    src.start()
    peer.send(unicast_msg(1309, big))
    peer.send(unicast_msg(1320, b"audit(1.002:7): "))
    (ev,) = events(src, 1)
    src.stop()
    assert src.counters["truncated"] == 1
    assert ev["summary"]["warnings"] == [
        f"truncated: the kernel sent {16 + len(big)} bytes, the receive buffer holds {RECV_SIZE}"
    ]
    assert len(ev["raw"][0]) == len("type=EXECVE msg=") + RECV_SIZE - 16
    assert ev["raw"][1] == "type=EOE msg=audit(1.002:7): "
    assert loss.counters["truncated"] == 1
    assert loss.drain() == [{"time": 100.0, "cause": "truncated", "count": 1, "detail": "unicast reader"}]


def test_control_messages_and_replace_pings_are_ignored() -> None:
    # a sender that is not the kernel (nl_pid != 0) is counted `foreign` by the native reader's own tests:
    # a socket pair has no netlink address (crates/core/src/netlink/tests.rs)
    src, peer = pair_source()
    src.start()
    peer.send(multicast_msg(AUDIT_REPLACE, b"\x01\x00\x00\x00"))
    peer.send(pack_nlmsg(NLMSG_ERROR, struct.pack("=i", 0) + b"\0" * 16))
    peer.send(multicast_msg(1320, EOE))
    (ev,) = events(src, 1)
    time.sleep(0.05)
    src.stop()
    assert ev["raw"] == ["type=EOE msg=" + EOE.decode()]
    assert (src.counters["foreign"], src.counters["ignored"], src.counters["messages"]) == (0, 2, 1)


def test_drop_policy_counts_user_space_drops() -> None:
    loss = LossAccount(clock=lambda: 7.0)
    src, peer = pair_source(queue_size=2, policy="drop", loss=loss)
    src.start()
    for i in range(1, 6):
        peer.send(multicast_msg(1320, f"audit(1.000:{i}): ".encode()))
    deadline = time.monotonic() + 5
    while src._native.counters()["messages"] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    got = events(src, 2)
    src.stop()
    assert [e["ID"] for e in got] == ["1.000:1", "1.000:2"]
    assert src.counters["queue_drops"] == 3
    assert src.counters["queue_full"] == 3
    assert loss.counters["queue_drop"] == 3
    assert loss.drain() == [{"time": 7.0, "cause": "queue_drop", "count": 3, "detail": "multicast reader"}]


def test_block_policy_waits_and_loses_nothing() -> None:
    src, peer = pair_source(queue_size=1, policy="block")
    src.start()
    for i in range(1, 6):
        peer.send(multicast_msg(1320, f"audit(1.000:{i}): ".encode()))
    got = events(src, 5)
    src.stop()
    assert [e["ID"] for e in got] == [f"1.000:{i}" for i in range(1, 6)]
    assert src.counters["queue_drops"] == 0 and src.counters["messages"] == 5


def test_registration_keeps_records_that_arrive_before_the_ack() -> None:
    fake = FakeNetlink([])
    ack = pack_nlmsg(
        NLMSG_ERROR, struct.pack("=i", 0) + HDR.pack(NLMSG_HDRLEN, AUDIT_SET, 5, 0x5A51, 0), 0, 0x5A51
    )
    fake.on_send = [(unicast_msg(1305, b"audit(1.000:9): op=set"), KERNEL), (ack, KERNEL)]
    src = NetlinkSource("unicast", sock=fake)
    src._set_pid(4321)
    (sent,) = fake.sent
    assert HDR.unpack_from(sent)[1] == AUDIT_SET
    mask, _enabled, _failure, pid = struct.unpack_from("=4I", sent, NLMSG_HDRLEN)
    assert (mask, pid) == (0x04, 4321)
    assert [t for t, _, _ in src._early] == [1305]


def test_registration_error_is_raised_with_its_errno() -> None:
    fake = FakeNetlink([])
    nack = pack_nlmsg(
        NLMSG_ERROR, struct.pack("=i", -errno.EEXIST) + HDR.pack(16, AUDIT_SET, 5, 0x5A51, 0), 0, 0x5A51
    )
    fake.on_send = [(nack, KERNEL)]
    src = NetlinkSource("unicast", sock=fake)
    with pytest.raises(OSError) as info:
        src._set_pid(4321)
    assert info.value.errno == errno.EEXIST


def test_plugin_source_reads_lines_until_eof() -> None:
    stream = io.BytesIO(
        b"type=SYSCALL msg=audit(1.000:5): arch=c000003e syscall=59\n\ntype=EOE msg=audit(1.000:5): \n"
    )
    src = PluginSource(stream)
    src.start()
    items = collect(src, 2)
    assert src.finished.wait(2)
    assert src.drained()
    src.stop()
    recs = [parse_line(data)[0] for _t, data, _trunc in items]
    assert [(t, r["name"], r["serial"]) for (t, _, _), r in zip(items, recs, strict=True)] == [
        (0, "SYSCALL", 5),
        (0, "EOE", 5),
    ]
    assert src.counters["messages"] == 2


def test_choose_source() -> None:
    assert choose_source("unicast", AuditStatus(pid=1)) == ("unicast", None)
    assert choose_source("auto", AuditStatus(pid=0)) == ("unicast", "no audit daemon is registered")
    assert choose_source("auto", AuditStatus(pid=2**22 + 7)) == (
        "unicast",
        f"the registered daemon pid {2**22 + 7} is gone",
    )
    mode, why = choose_source("auto", AuditStatus(pid=1))  # init is alive
    assert mode == "multicast"
    assert why is not None and why.startswith("pid 1 (")


# -- loss accounting -------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_serial_gaps_settle_and_late_arrivals() -> None:
    clock = Clock()
    loss = LossAccount(clock=lambda: 1000.0)
    tr = SerialTracker(loss, settle_seconds=5, clock=clock)
    for s in (10, 11, 14, 15):
        tr.observe(s)
    assert tr.pending == 2  # 12, 13
    clock.now = 4.0
    tr.observe(12)  # late, within the settle delay
    assert (tr.settle(), tr.pending, tr.late) == (0, 1, 1)
    clock.now = 5.0
    assert tr.settle() == 1
    assert loss.drain() == [{"time": 1000.0, "cause": "serial_gap", "count": 1, "detail": "serial 13"}]
    assert loss.counters["serial_gap"] == 1


def test_serial_gaps_are_wrap_safe() -> None:
    clock = Clock()
    loss = LossAccount(clock=lambda: 1.0)
    tr = SerialTracker(loss, settle_seconds=0, clock=clock)
    tr.observe(2**32 - 2)
    tr.observe(1)  # 2**32-1 and 0 missing
    tr.observe(2)
    tr.observe(0)  # late: fills 0
    assert tr.flush() == 1
    assert loss.counters["serial_gap"] == 1
    assert loss.drain()[0]["detail"] == f"serial {2**32 - 1}"
    assert tr.jumps == 0


def test_serial_jumps_and_large_gaps() -> None:
    loss = LossAccount(clock=lambda: 1.0)
    tr = SerialTracker(loss, settle_seconds=0, max_gap=1 << 20, track_limit=100, clock=Clock())
    tr.observe(1)
    tr.observe(1 + (1 << 21))  # another stream: a jump, not loss
    assert tr.jumps == 1
    tr.observe(1 + (1 << 21) + 1001)  # 1000 missing: booked as one block
    assert tr.pending == 1000
    assert tr.flush() == 1000
    first = 2 + (1 << 21)
    assert loss.drain() == [
        {"time": 1.0, "cause": "serial_gap", "count": 1000, "detail": f"serials {first}..{first + 999}"}
    ]


class FakeStatusSock:
    def __init__(self, lost: list[int]) -> None:
        self.lost = deque(lost)

    def request(self, msg_type: int, payload: bytes = b"") -> list[tuple[int, bytes]]:
        assert msg_type == AUDIT_GET
        return [(AUDIT_GET, AuditStatus(mask=0, enabled=1, lost=self.lost.popleft(), backlog=3).to_bytes())]


def test_kernel_lost_poller_books_deltas_and_resets() -> None:
    loss = LossAccount(clock=lambda: 9.0)
    poller = KernelLostPoller(loss, FakeStatusSock([100, 100, 130, 5]))  # type: ignore[arg-type]
    assert [poller.poll() for _ in range(4)] == [0, 0, 30, 5]
    assert loss.counters["kernel_lost"] == 35
    assert loss.drain() == [
        {"time": 9.0, "cause": "kernel_lost", "count": 30, "detail": None},
        {
            "time": 9.0,
            "cause": "kernel_lost",
            "count": 5,
            "detail": "kernel lost counter was reset (from 130 to 0)",
        },
    ]
    assert poller.status is not None and poller.status.backlog == 3


def test_loss_account_bounds_its_records() -> None:
    loss = LossAccount(clock=lambda: 1.0, max_records=2)
    for _ in range(3):
        loss.add("enobufs", 1)
    assert loss.counters["enobufs"] == 3
    assert loss.records_dropped == 1
    assert len(loss.drain()) == 2
    with pytest.raises(ValueError):
        loss.add("nope")


# -- the self-exclusion rule -----------------------------------------------------------------------------------


def test_exclude_pid_rule_layout() -> None:
    rule = exclude_pid_rule(4321)
    assert len(rule) == 12 + 4 * 64 * 4 + 4
    flags, action, count = struct.unpack_from("=3I", rule)
    assert (flags, action, count) == (0x04 | AUDIT_FILTER_PREPEND, 0, 1)
    assert set(struct.unpack_from("=64I", rule, 12)) == {0xFFFFFFFF}
    assert struct.unpack_from("=I", rule, 12 + 256)[0] == 0  # AUDIT_PID
    assert struct.unpack_from("=I", rule, 12 + 512)[0] == 4321
    assert struct.unpack_from("=I", rule, 12 + 768)[0] == 0x40000000  # Audit_equal
    assert struct.unpack_from("=I", rule, 12 + 1024)[0] == 0  # buflen
    assert struct.unpack_from("=I", del_rule_payload(rule))[0] == 0x04
    assert del_rule_payload(rule)[4:] == rule[4:]


# -- the listen command, plugin mode (no kernel, no root) ------------------------------------------------------

PLUGIN_INPUT = (
    b'type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59 success=yes exit=0 key="k"\n'
    b"type=EOE msg=audit(1700000000.123:42): \n"
    b"type=USER_START msg=audit(1700000000.200:44): pid=1 uid=0 msg='op=x res=success'\n"
)


def run_listen(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "auditsql.cli", "listen", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_listen_plugin_mode_reads_stdin_to_eof(tmp_path) -> None:
    argsfile = tmp_path / "plugin.args"
    argsfile.write_text("--source plugin  # as auditd runs it\n--no-resolve-ids --stats-interval 0\n")
    stats = tmp_path / "stats.json"
    res = run_listen(f"--args-file={argsfile}", "--no-raw", f"--stats-file={stats}", stdin=PLUGIN_INPUT)
    assert res.returncode == 0, res.stderr
    evs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [ev["ID"] for ev in evs] == ["1700000000.123:42", "1700000000.200:44"]
    assert evs[0]["summary"]["key"] == "k"
    err = res.stderr.decode().splitlines()
    assert err[0].startswith("auditsql: listening (plugin; pid ")
    assert err[0].endswith("; policy block)")
    # serial 43 never came: counted when the stream ends
    assert err[1] == (
        "auditsql: stopped; events 2, records 3, kernel lost 0, user drops 0, enobufs 0, truncated 0, "
        "serial gaps 1, queue 0"
    )
    written = read_stats(str(stats))
    assert written is not None
    assert (written["source"], written["events"], written["loss"]["serial_gap"]) == ("plugin", 2, 1)
    assert format_stats(written)[1:] == [
        "auditsql_events 2",
        "auditsql_kernel_lost 0",
        "auditsql_serial_gap 1",
        "auditsql_enobufs 0",
        "auditsql_truncated 0",
        "auditsql_queue_drop 0",
        "auditsql_proc_connector 0",
        "auditsql_output_drop 0",
        "auditsql_spool_drop 0",
        "auditsql_store_full 0",
        "auditsql_journal_torn 0",
        "auditsql_retention 0",
    ]
    assert format_stats(written)[0] == f"auditsql_pid {written['pid']} (plugin, exited)"


def test_listen_outputs_are_private(tmp_path) -> None:
    out, loss = tmp_path / "events.jsonl", tmp_path / "loss.jsonl"
    out.write_bytes(b"")
    out.chmod(0o644)
    res = run_listen(
        "--source", "plugin", "--no-resolve-ids", "--stats-interval", "0", "--stats-file", "",
        "--output", str(out), "--loss-output", str(loss), stdin=PLUGIN_INPUT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr.decode().splitlines()[0] == (
        f"auditsql: {out} was mode 0644 (open to others; audit events can hold secrets): made 0600"
    )
    assert [p.stat().st_mode & 0o777 for p in (out, loss)] == [0o600, 0o600]
    assert len(out.read_bytes().splitlines()) == 2


def test_listen_plugin_mode_refuses_kernel_options() -> None:
    res = run_listen("--source", "plugin", "--backlog-limit", "100")
    assert res.returncode == 2
    assert res.stderr == (
        b"auditsql: --rules and kernel settings need a kernel source: with --source plugin auditd owns the kernel\n"
    )


def test_args_file_cannot_name_another(tmp_path) -> None:
    argsfile = tmp_path / "a.args"
    argsfile.write_text(f"--args-file={argsfile}\n")
    res = run_listen(f"--args-file={argsfile}")
    assert res.returncode == 2
    assert res.stderr.decode().splitlines()[-1] == (
        f"Error: Invalid value for '--args-file': {argsfile}: an args file cannot name another"
    )

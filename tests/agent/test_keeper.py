"""The socket keeper's protocol and drain, with a datagram socket pair standing in for the audit socket (the
kernel side is tests/kernel/test_kill9.py): an agent's death, the drain into the journal, the take-over with
the socket passed, busy while attached, exit, and giving up at the deadline."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from auditsql._core import journal_recover
from auditsql.agent import adopt_rules
from auditsql.kernel.keeper import KeeperError, attach, keeper_path, spawn, stop_keeper
from auditsql.kernel.loss import format_stats
from auditsql.kernel.netlink import AUDIT_ADD_RULE, AUDIT_DEL_RULE, AUDIT_GET, AUDIT_LIST_RULES, AUDIT_SET
from auditsql.kernel.snapshot import KernelSession, del_rule_payload, exclude_pid_rule
from auditsql.kernel.status import AuditStatus

HDR = struct.Struct("=IHHII")


def record(msg_type: int, text: bytes) -> bytes:
    return HDR.pack(HDR.size + len(text), msg_type, 0, 0, 0) + text


def journal(tmp_path: Path) -> str:
    d = tmp_path / "auditsql.db.journal"
    d.mkdir(mode=0o700)
    return str(d)


def wait(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_the_keeper_drains_while_no_agent_runs_and_hands_the_socket_over(tmp_path: Path) -> None:
    jdir = journal(tmp_path)
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    link = spawn(ours.fileno(), jdir, None, 1 << 20, 60.0)
    ours.close()  # the keeper holds its duplicate
    assert link.proc is not None and link.pid == link.proc.pid
    assert os.stat(keeper_path(jdir)).st_mode & 0o777 == 0o600
    # a second agent while the first is attached: refused
    with pytest.raises(KeeperError, match=f"belongs to a running auditsql \\(pid {os.getpid()}\\)"):
        attach(jdir)
    link.conn.close()  # the agent dies: its end of the control connection closes
    time.sleep(0.3)
    kernel.send(record(1300, b"audit(1.000:7): one"))
    kernel.send(record(1329, b"ping"))  # AUDIT_REPLACE: no record
    kernel.send(record(1320, b"audit(1.000:7): "))
    wait(
        lambda: (
            journal_recover(jdir)["end"] == 2 * 10 + len(b"audit(1.000:7): one") + len(b"audit(1.000:7): ")
        )
    )
    taken = attach(jdir)
    assert taken is not None and taken.fd is not None
    assert (taken.pid, taken.drained) == (link.pid, (2, 55, 0))
    # the socket passed is the audit socket itself: what comes now is there to read
    sock = socket.socket(fileno=taken.fd)
    kernel.send(record(1300, b"after"))
    assert sock.recv(100)[HDR.size :] == b"after"
    sock.close()
    assert taken.stop()  # a clean stop: it says bye and exits
    link.proc.wait(10)
    assert link.proc.returncode == 0
    assert not os.path.exists(keeper_path(jdir))
    assert stop_keeper(jdir) is None  # nothing there any more


def test_a_keeper_whose_agent_does_not_return_gives_up_and_leaves_the_journal(tmp_path: Path) -> None:
    jdir = journal(tmp_path)
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    link = spawn(ours.fileno(), jdir, str(tmp_path / "no-state.json"), 1 << 20, 1.0)
    ours.close()
    assert link.proc is not None
    link.conn.close()
    time.sleep(0.2)
    kernel.send(record(1300, b"audit(2.000:9): kept"))
    link.proc.wait(10)  # a second after the agent's death
    assert not os.path.exists(keeper_path(jdir))
    assert journal_recover(jdir)["end"] == 10 + len(b"audit(2.000:9): kept")
    assert attach(jdir) is None


def test_a_stale_keeper_socket_is_removed(tmp_path: Path) -> None:
    jdir = journal(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.bind(keeper_path(jdir))
    assert attach(jdir) is None
    assert not os.path.exists(keeper_path(jdir))


def test_exit_while_draining(tmp_path: Path) -> None:
    jdir = journal(tmp_path)
    ours, _kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    link = spawn(ours.fileno(), jdir, None, 1 << 20, 60.0)
    ours.close()
    assert link.proc is not None
    link.conn.close()
    time.sleep(0.2)
    assert stop_keeper(jdir) == link.pid
    link.proc.wait(10)
    assert not os.path.exists(keeper_path(jdir))


def test_ctl_status_names_the_keeper() -> None:
    stats = {"pid": 0, "keeper": os.getpid(), "source": "unicast", "events": 0, "loss": {}}
    assert format_stats(stats)[:2] == [
        "auditsql_pid 0 (unicast, exited)",
        f"auditsql_keeper_pid {os.getpid()} (running)",
    ]
    assert not [ln for ln in format_stats({**stats, "keeper": 0}) if "keeper" in ln]


class FakeRulesKernel:
    """AUDIT_GET, AUDIT_LIST_RULES, AUDIT_ADD_RULE, AUDIT_DEL_RULE; records the rule requests in order."""

    def __init__(self) -> None:
        self.status = AuditStatus(
            mask=0, enabled=0, failure=1, pid=0, rate_limit=0, backlog_limit=64, lost=0, backlog=0,
            backlog_wait_time=15000,
        )  # fmt: skip
        self.rules: list[bytes] = []
        self.log: list[tuple[str, bytes]] = []
        self.last_ack = 0

    def request(self, msg_type: int, payload: bytes = b"") -> list[tuple[int, bytes]]:
        if msg_type == AUDIT_GET:
            return [(AUDIT_GET, self.status.to_bytes())]
        if msg_type == AUDIT_LIST_RULES:
            return [(AUDIT_LIST_RULES, r) for r in self.rules]
        if msg_type == AUDIT_ADD_RULE:
            self.log.append(("add", payload))
            self.rules.append(del_rule_payload(payload))
            return []
        if msg_type == AUDIT_SET:
            new = AuditStatus.from_bytes(payload)
            assert new.mask == 1  # enabled, the only knob these tests change
            self.status.enabled = new.enabled
            return []
        assert msg_type == AUDIT_DEL_RULE
        self.log.append(("del", payload))
        self.rules.remove(payload)
        return []


def _reaped() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_run_taking_over_keeps_the_killed_runs_snapshot_and_the_rules_it_wants(tmp_path: Path) -> None:
    k = FakeRulesKernel()
    state = tmp_path / "state.json"
    killed = KernelSession(k, state_file=str(state))  # type: ignore[arg-type]
    killed.begin()
    old_self, keeper, rule = exclude_pid_rule(_reaped()), exclude_pid_rule(4242), b"R" * 1064
    for payload in (old_self, rule):
        killed.add_rule(payload)
    killed.will_register(4242, "/var/lib/auditsql/auditsql.db.journal")
    killed.state.changes["enabled"] = {"from": 0, "to": 1}  # type: ignore[union-attr]
    killed.add_rule(keeper)  # (saves the state)
    k.status.enabled = 1
    data = json.loads(state.read_text())
    data["owner"] = {"pid": _reaped(), "start": None}  # killed
    state.write_text(json.dumps(data))
    k.log.clear()

    heir = KernelSession(k, state_file=str(state))  # type: ignore[arg-type]
    adopted = heir.adopt()
    assert k.log == []  # nothing undone
    assert (adopted.owner_pid, adopted.registered_pid, adopted.keeper_dir) == (
        os.getpid(),
        4242,
        "/var/lib/auditsql/auditsql.db.journal",
    )
    assert adopted.status["enabled"] == 0 and adopted.changes == {"enabled": {"from": 0, "to": 1}}
    mine = exclude_pid_rule(os.getpid())
    assert adopt_rules(heir, [mine, keeper], [("rules:1", rule)]) == (2, 1, 1)
    # the new self-exclusion first, then the old one goes: never a moment without either
    assert k.log == [("add", mine), ("del", del_rule_payload(old_self))]
    assert sorted(heir.state.added_rules) == sorted(p.hex() for p in (rule, keeper, mine))  # type: ignore[union-attr]
    assert json.loads(state.read_text())["owner"]["pid"] == os.getpid()
    # its end undoes the killed run's changes as well as its own: the kernel as the killed run found it
    k.log.clear()
    report = heir.restore()
    assert report.problems == []
    assert k.rules == [] and k.status.enabled == 0
    assert not state.exists()

"""Fixtures for tests that talk to the real kernel audit subsystem.

The kernel's audit state is machine-wide and outlives the test run, so every
test that changes it must leave it exactly as it found it.  ``audit_snapshot``
records the state with ``auditctl`` (deliberately not with the code under
test) and puts it back afterwards, then checks that it is back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from auditsql.kernel.control import add_rule, delete_rule, list_rules
from auditsql.kernel.netlink import AuditSocket
from auditsql.kernel.status import set_status

#: status fields the snapshot restores, with the auditctl option setting each.
RESTORABLE = {
    "enabled": "-e",
    "failure": "-f",
    "rate_limit": "-r",
    "backlog_limit": "-b",
    "backlog_wait_time": "--backlog_wait_time",
}
NO_RULES = "No rules"


def auditctl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("auditctl", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if exe is None:
        pytest.fail(
            "auditctl is not installed (apt-get install auditd); the kernel tests need it as the oracle"
        )
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30, check=False
    )


def parse_auditctl_status(text: str) -> dict[str, str]:
    """``auditctl -s`` -> {name: rest of line}, e.g. {"enabled": "0", "loginuid_immutable": "0 unlocked"}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name:
            out[name] = value
    return out


def auditctl_status() -> dict[str, str]:
    res = auditctl("-s")
    assert res.returncode == 0, f"auditctl -s failed ({res.returncode}): {res.stderr}"
    return parse_auditctl_status(res.stdout)


def auditctl_rules() -> list[str]:
    res = auditctl("-l")
    assert res.returncode == 0, f"auditctl -l failed ({res.returncode}): {res.stderr}"
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    return [] if lines == [NO_RULES] else lines


def require_kernel_audit() -> None:
    """Skip unless we are root and a NETLINK_AUDIT socket can be opened."""
    if os.geteuid() != 0:
        pytest.skip("kernel audit tests need root (CAP_AUDIT_CONTROL)")
    try:
        AuditSocket(timeout=1).close()
    except OSError as exc:
        pytest.skip(f"cannot open a NETLINK_AUDIT socket: {exc}")


#: kernel tests that register an audit pid or load rules take this lock, so concurrent runs (and the live
#: benchmark) never interleave their changes to the machine-wide audit state
LOCK_FILE = "/tmp/auditsql-live-tests.lock"


@contextlib.contextmanager
def kernel_lock_held(timeout: float = 300) -> Iterator[None]:
    """Hold the kernel-test lock (fcntl) for the duration of the block."""
    with open(LOCK_FILE, "a") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another kernel test held {LOCK_FILE} for {timeout:.0f} s")
                time.sleep(0.1)
        yield


@pytest.fixture
def kernel_lock() -> Iterator[None]:
    require_kernel_audit()
    with kernel_lock_held():
        yield


@pytest.fixture
def audit_sock() -> Iterator[AuditSocket]:
    require_kernel_audit()
    with AuditSocket() as sock:
        yield sock


@dataclass
class AuditSnapshot:
    status: dict[str, int]
    pid: int
    rules: list[str]
    rule_bytes: list[bytes]


def _restore(snap: AuditSnapshot) -> list[str]:
    """Put status and rules back; return what could not be restored."""
    problems: list[str] = []

    # Rules: remove exactly the rules added since the snapshot and put back the ones that vanished, by their
    # kernel bytes (never a full -D: other tests may own rules of their own at the same time).
    with AuditSocket() as sock:
        now_rules = list_rules(sock)
        for data in now_rules:
            if data not in snap.rule_bytes:
                try:
                    delete_rule(sock, data)
                except OSError as exc:
                    problems.append(f"delete rule: {exc}")
        for data in snap.rule_bytes:
            if data not in now_rules:
                try:
                    add_rule(sock, data)
                except OSError as exc:
                    problems.append(f"re-add rule: {exc}")

    now = auditctl_status()
    # enabled last: the others are changeable in any state but 2, and enabled
    # is what a test is most likely to have touched.
    for name in sorted(RESTORABLE, key=lambda n: n == "enabled"):
        want = snap.status[name]
        if int(now[name]) != want:
            if name == "enabled" and int(now[name]) == 2:
                problems.append("audit is locked (enabled 2) until reboot; nothing can restore it")
                continue
            res = auditctl(RESTORABLE[name], str(want))
            if res.returncode != 0:
                problems.append(f"auditctl {RESTORABLE[name]} {want}: {res.stderr.strip()}")

    if int(now["pid"]) != snap.pid:
        # Only the registered process itself may unregister (set pid 0);
        # closing its netlink socket does it too.
        if snap.pid == 0 and int(now["pid"]) == os.getpid():
            with AuditSocket() as sock:
                set_status(sock, pid=0)
        else:
            problems.append(f"audit pid is {now['pid']}, was {snap.pid}; cannot restore it from here")

    after = auditctl_status()
    for name, want in {**snap.status, "pid": snap.pid}.items():
        if int(after[name]) != want:
            problems.append(f"{name} is {after[name]} after restore, was {want}")
    if sorted(auditctl_rules()) != sorted(snap.rules):
        problems.append(f"rules after restore differ: {auditctl_rules()} != {snap.rules}")
    return problems


def _rule_bytes() -> list[bytes]:
    with AuditSocket() as sock:
        return list_rules(sock)


@pytest.fixture
def audit_snapshot() -> Iterator[AuditSnapshot]:
    """Record the kernel audit status and rules; restore and verify them afterwards."""
    require_kernel_audit()
    st = auditctl_status()
    snap = AuditSnapshot(
        status={name: int(st[name]) for name in RESTORABLE},
        pid=int(st["pid"]),
        rules=auditctl_rules(),
        rule_bytes=_rule_bytes(),
    )
    try:
        yield snap
    finally:
        problems = _restore(snap)
        if problems:
            pytest.fail("kernel audit state NOT restored: " + "; ".join(problems), pytrace=False)

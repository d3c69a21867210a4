"""``auditsql ctl``: the command line against auditctl on the real kernel, and its rules-file logic on a fake.

Kernel tests (marker ``kernel``) compare ``auditsql ctl`` with ``auditctl`` text for text, set knobs and put
them back, and add only rules with a key of their own, deleted exactly.  The rules-file semantics (all or
nothing, rollback, ``-c``, locked audit) run against :class:`FakeKernel`, an in-memory NETLINK_AUDIT
stand-in, so that ``-D``, ``-e 2`` and failures can be exercised without touching the machine.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditsql.cli_ctl import run as ctl_run
from auditsql.kernel import _ruleconsts as K
from auditsql.kernel.control import list_rules
from auditsql.kernel.loss import write_stats
from auditsql.kernel.netlink import (
    AUDIT_ADD_RULE,
    AUDIT_DEL_RULE,
    AUDIT_GET,
    AUDIT_GET_FEATURE,
    AUDIT_LIST_RULES,
    AUDIT_SET,
    AUDIT_USER,
    AuditNetlinkError,
    AuditSocket,
)
from auditsql.kernel.rules import Rule, kernel_normalize, parse_rule
from auditsql.kernel.status import AuditFeatures, AuditStatus, get_status, set_status
from tests.kernel.conftest import auditctl, require_kernel_audit

_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"
#: the lock of tests/kernel/test_live.py: one test at a time that changes kernel knobs or broad rules


def auditsql_ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUDITSQL, "ctl", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def stable(*args: str, attempts: int = 10) -> tuple[str, str]:
    """``auditsql ctl ARGS`` and ``auditctl ARGS`` output taken while the counters hold still."""
    for _ in range(attempts):
        ours = auditsql_ctl(*args)
        theirs = auditctl(*args)
        assert ours.returncode == 0, ours.stderr
        assert theirs.returncode == 0, theirs.stderr
        if ours.stdout == theirs.stdout:
            break
        time.sleep(0.05)
    return ours.stdout, theirs.stdout


@pytest.fixture
def key() -> Iterator[str]:
    """A key of this test's own; every rule with it is deleted afterwards (and only those)."""
    require_kernel_audit()
    k = f"auditsql_ctl_{uuid.uuid4().hex[:10]}"
    yield k
    with AuditSocket() as sock:
        for data in list_rules(sock):
            if k.encode() in Rule.decode(data).buf:
                sock.request(AUDIT_DEL_RULE, data)
        assert not [d for d in list_rules(sock) if k.encode() in Rule.decode(d).buf]


def rules_with(key: str) -> list[str]:
    return [line for line in auditctl("-l").stdout.splitlines() if key in line]


def rules_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.rules"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return str(path)


# ------------------------------------------------------------------------------------------------------
# the real kernel


@pytest.mark.kernel
def test_status_is_auditctls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_kernel_audit()
    monkeypatch.setenv("AUDITSQL_STATS_FILE", str(tmp_path / "no-listener.json"))
    ours, theirs = stable("-s")
    assert ours == theirs
    assert ours.splitlines()[0].startswith("enabled ")
    ours, theirs = stable("-s", "-i")
    assert ours == theirs
    # a listener's stats file: auditctl's lines unchanged, auditsql's counters after them
    write_stats(str(tmp_path / "stats.json"), {**LISTENER_STATS, "pid": os.getpid()})
    monkeypatch.setenv("AUDITSQL_STATS_FILE", str(tmp_path / "stats.json"))
    for _ in range(10):  # the kernel's counters may move between the two commands
        ours, theirs = auditsql_ctl("-s").stdout, auditctl("-s").stdout
        if ours == theirs + listener_lines(os.getpid()):
            break
        time.sleep(0.05)
    assert ours == theirs + listener_lines(os.getpid())


@pytest.mark.kernel
def test_list_is_auditctls(key: str) -> None:
    res = auditsql_ctl("-l", "-k", key)
    assert (res.returncode, res.stdout, res.stderr) == (0, "No rules\n", "")
    # the whole list (other tests' rules too), read while it holds still
    with AuditSocket() as sock:
        for _ in range(20):
            before = list_rules(sock)
            buf = io.StringIO()
            assert ctl_run(["-l"], stdout=buf, stderr=io.StringIO()) == 0
            theirs = auditctl("-l").stdout
            if list_rules(sock) == before:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the rule list kept changing")
    assert buf.getvalue() == theirs
    assert (theirs == "No rules\n") is (before == [])


@pytest.mark.kernel
def test_rules_add_list_delete(key: str) -> None:
    added = [
        [
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "openat,open",
            "-F",
            "auid>=1000",
            "-F",
            "exit=-EACCES",
        ],
        ["-A", "exit,always", "-F", "arch=b32", "-S", "chmod", "-C", "uid!=obj_uid"],
        ["-w", "/etc/passwd", "-p", "wa"],
        ["-a", "always,exit", "-F", "arch=b64", "-S", "all", "-F", "exe=/usr/bin/true", "-F", "success=0"],
        [
            "-a",
            "never,exit",
            "-F",
            "arch=b64",
            "-S",
            "connect",
            "-F",
            "saddr_fam=2",
            "-F",
            "sessionid!=unset",
        ],
    ]
    for spec in added:
        res = auditsql_ctl(*spec, "-k", key)
        assert (res.returncode, res.stdout, res.stderr) == (0, "", ""), spec
    assert rules_with(key) == [
        f"-a always,exit -F arch=b32 -S chmod -C uid!=obj_uid -F key={key}",
        f"-a always,exit -F arch=b64 -S open,openat -F auid>=1000 -F exit=-EACCES -F key={key}",
        f"-w /etc/passwd -p wa -k {key}",
        f"-a always,exit -F arch=b64 -S all -F exe=/usr/bin/true -F success=0 -F key={key}",
        f"-a never,exit -F arch=b64 -S connect -F saddr_fam=2 -F sessionid!=-1 -F key={key}",
    ]
    ours = auditsql_ctl("-l", "-k", key)
    assert ours.stdout == auditctl("-l", "-k", key).stdout
    assert ours.stdout == "".join(line + "\n" for line in rules_with(key))
    # the same rule again: the kernel says it exists
    dup = auditsql_ctl(*added[2], "-k", key)
    assert (dup.returncode, dup.stderr) == (
        1,
        f"auditsql: add rule -w /etc/passwd -p wa -k {key}: Rule exists\n",
    )
    # delete each exactly as given (-d for -a/-A, -W for -w)
    for spec in added:
        op = {"-a": "-d", "-A": "-d", "-w": "-W"}[spec[0]]
        res = auditsql_ctl(op, *spec[1:], "-k", key)
        assert (res.returncode, res.stderr) == (0, ""), spec
    assert rules_with(key) == []
    missing = auditsql_ctl("-W", "/etc/passwd", "-p", "wa", "-k", key)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"auditsql: delete rule -w /etc/passwd -p wa -k {key}: No rule matches\n",
    )


@pytest.mark.kernel
def test_delete_all_with_a_key(key: str) -> None:
    for call in ("open", "close"):
        assert auditsql_ctl("-a", "always,exit", "-F", "arch=b64", "-S", call, "-k", key).returncode == 0
    res = auditsql_ctl("-D", "-k", key)
    assert (res.returncode, res.stdout, res.stderr) == (0, "No rules\n", "")
    assert rules_with(key) == []


@pytest.mark.kernel
@pytest.mark.parametrize(("option", "knob"), [("-b", "backlog_limit"), ("-r", "rate_limit"),
                                              ("--backlog_wait_time", "backlog_wait_time")])  # fmt: skip
def test_set_and_restore_knob(option: str, knob: str, kernel_lock: None) -> None:
    with AuditSocket() as sock:
        original = getattr(get_status(sock), knob)
        new = original + 1000 if original < 100000 else original - 7
        try:
            res = auditsql_ctl(option, str(new))
            assert res.returncode == 0, res.stderr
            st = get_status(sock)
            assert getattr(st, knob) == new
            assert res.stderr == ""
            # auditctl prints the status reply after a change: the AUDIT_GET part of -s
            lines = res.stdout.splitlines()
            assert lines[:5] == [f"enabled {st.enabled}", f"failure {st.failure}", f"pid {st.pid}",
                                 f"rate_limit {st.rate_limit}", f"backlog_limit {st.backlog_limit}"]  # fmt: skip
            assert [line.split()[0] for line in lines] == [
                "enabled", "failure", "pid", "rate_limit", "backlog_limit", "lost", "backlog",
                "backlog_wait_time", "backlog_wait_time_actual",
            ]  # fmt: skip
            theirs = auditctl(option, str(new))
            assert [line.split()[0] for line in theirs.stdout.splitlines()] == [
                line.split()[0] for line in lines
            ]
            assert int(dict(line.split(" ", 1) for line in auditctl("-s").stdout.splitlines())[knob]) == new
            back = auditsql_ctl(option, str(original))
            assert back.returncode == 0, back.stderr
            assert getattr(get_status(sock), knob) == original
        finally:
            set_status(sock, **{knob: original})
        assert getattr(get_status(sock), knob) == original


@pytest.mark.kernel
def test_bad_rule_is_one_line_and_loads_nothing(key: str) -> None:
    before = auditctl("-l").stdout
    for args, message in [
        (
            ["-a", "always,exit", "-F", "arch=b64", "-S", "nosuchcall", "-k", key],
            "Syscall name unknown: nosuchcall",
        ),
        (["-a", "always,exit", "-F", "nosuchfield=1", "-k", key], "-F unknown field: nosuchfield"),
        (
            ["-a", "always,exit", "-F", "arch=b64", "-S", "open", "-F", "uid=nosuchuser_zz"],
            "Unknown user: nosuchuser_zz",
        ),
        (["-w", "etc/passwd", "-k", key], "The path must start with '/'"),
        (["-e", "5"], "Enable must be 0, 1, or 2 was 5"),
    ]:
        res = auditsql_ctl(*args)
        assert (res.returncode, res.stdout, res.stderr) == (1, "", f"auditsql: {message}\n"), args
    assert rules_with(key) == []
    assert key not in before


@pytest.mark.kernel
def test_bad_rules_file_loads_nothing(key: str, tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        f"# three rules, the second one wrong\n"
        f"-a always,exit -F arch=b64 -S open -k {key}\n"
        f"-a always,exit -F arch=b64 -S nosuchcall -k {key}\n"
        f"-w /etc/passwd -p wa -k {key}\n",
    )
    res = auditsql_ctl("-R", path)
    assert (res.returncode, res.stdout, res.stderr) == (
        1,
        "",
        f"auditsql: {path}:3: Syscall name unknown: nosuchcall (nothing from {path} was loaded)\n",
    )
    assert rules_with(key) == []


@pytest.mark.kernel
def test_kernel_refusal_rolls_back(key: str, tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        f"-a always,exit -F arch=b64 -S open -k {key}\n"
        f"-w /etc/passwd -p wa -k {key}\n"
        f"-a always,exit -F arch=b64 -S open -k {key}\n",
    )
    res = auditsql_ctl("-R", path)
    assert (res.returncode, res.stderr) == (
        1,
        f"auditsql: {path}:3: add rule -a always,exit -F arch=b64 -S open -F key={key}: Rule exists "
        f"(nothing from {path} was loaded)\n",
    )
    assert rules_with(key) == []


@pytest.mark.kernel
def test_rules_file_continue_on_errors(key: str, tmp_path: Path) -> None:
    path = rules_file(
        tmp_path,
        f"-c\n-a always,exit -F arch=b64 -S open -k {key}\n-a always,exit -S nosuchcall -k {key}\n"
        f"-w /etc/passwd -p wa -k {key}\n-w /etc/passwd -p wa -k {key}\n",
    )
    res = auditsql_ctl("-R", path)
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr.splitlines() == [
        f"auditsql: {path}:3: Syscall name unknown: nosuchcall",
        f"auditsql: {path}:5: add rule -w /etc/passwd -p wa -k {key}: Rule exists",
    ]
    assert rules_with(key) == [
        f"-a always,exit -F arch=b64 -S open -F key={key}",
        f"-w /etc/passwd -p wa -k {key}",
    ]
    # auditctl loads the same file to the same rules
    assert auditsql_ctl("-D", "-k", key).returncode == 0
    theirs = auditctl("-R", path)
    assert theirs.returncode == 1
    assert rules_with(key) == [
        f"-a always,exit -F arch=b64 -S open -F key={key}",
        f"-w /etc/passwd -p wa -k {key}",
    ]


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditsql import cli_ctl

    monkeypatch.setattr(cli_ctl, "_can_control", lambda: False)
    out, err = io.StringIO(), io.StringIO()
    assert ctl_run(["-s"], stdout=out, stderr=err) == 4
    assert (out.getvalue(), err.getvalue()) == (
        "",
        "auditsql: ctl needs root (CAP_AUDIT_CONTROL) to talk to the kernel's audit subsystem\n",
    )


@pytest.mark.kernel
def test_usage_and_version() -> None:
    res = auditsql_ctl()
    assert res.returncode == 1
    assert res.stderr.startswith("usage: auditsql ctl [options]")
    assert "Traceback" not in res.stderr
    assert auditsql_ctl("-h").stdout.startswith("usage: auditsql ctl [options]")
    assert auditsql_ctl("-v").stdout.startswith("auditsql ")


# ------------------------------------------------------------------------------------------------------
# rules files on a fake kernel


class FakeKernel:
    """Enough of NETLINK_AUDIT for ctl: status (get/set), features, rule list/add/delete."""

    def __init__(self, enabled: int = 0, rules: list[bytes] | None = None) -> None:
        self.status = AuditStatus(
            mask=0, enabled=enabled, failure=1, pid=0, rate_limit=0, backlog_limit=64, lost=0, backlog=0,
            feature_bitmap=K.AUDIT_FEATURE_BITMAP_ALL, backlog_wait_time=15000, backlog_wait_time_actual=0,
        )  # fmt: skip
        self.rules: list[bytes] = list(rules or [])
        self.last_ack: int | None = 0
        self.requests: list[int] = []
        self.messages: list[bytes] = []

    def request(self, msg_type: int, payload: bytes = b"", flags: int = 0) -> list[tuple[int, bytes]]:
        self.requests.append(msg_type)
        self.last_ack = 0
        if msg_type == AUDIT_GET:
            return [(AUDIT_GET, self.status.to_bytes())]
        if msg_type == AUDIT_GET_FEATURE:
            return [(AUDIT_GET_FEATURE, AuditFeatures(1, 3, 0, 0).to_bytes())]
        if msg_type == AUDIT_LIST_RULES:
            return [(AUDIT_LIST_RULES, r) for r in self.rules]
        if msg_type == AUDIT_USER:
            self.messages.append(payload)
            return []
        if msg_type == AUDIT_SET:
            if self.status.enabled == 2:
                raise AuditNetlinkError(errno.EPERM, "EPERM", msg_type)
            new = AuditStatus.from_bytes(payload)
            if new.mask == 0x40:  # AUDIT_STATUS_LOST alone: reset, the ACK carries the old count
                self.last_ack, self.status.lost = self.status.lost, 0
                return []
            for name, bit in (("enabled", 1), ("failure", 2), ("rate_limit", 8), ("backlog_limit", 16),
                              ("backlog_wait_time", 32)):  # fmt: skip
                if new.mask & bit:
                    setattr(self.status, name, getattr(new, name))
            return []
        if msg_type in (AUDIT_ADD_RULE, AUDIT_DEL_RULE):
            if self.status.enabled == 2:
                raise AuditNetlinkError(errno.EPERM, "EPERM", msg_type)
            rule = Rule.decode(payload)
            data = kernel_normalize(rule.encode())
            if msg_type == AUDIT_ADD_RULE:
                if data in self.rules:
                    raise AuditNetlinkError(errno.EEXIST, "EEXIST", msg_type)
                if rule.prepend:
                    self.rules.insert(0, data)
                else:
                    self.rules.append(data)
            else:
                if data not in self.rules:
                    raise AuditNetlinkError(errno.ENOENT, "ENOENT", msg_type)
                self.rules.remove(data)
            return []
        raise AssertionError(f"unexpected request {msg_type}")


def fake_run(kernel: FakeKernel, *args: str) -> tuple[int, str, str]:
    from auditsql import cli_ctl

    out, err = io.StringIO(), io.StringIO()
    rc = cli_ctl._run(kernel, list(args), out, err)  # type: ignore[arg-type]
    return rc, out.getvalue(), err.getvalue()


def encoded(text: str) -> bytes:
    return kernel_normalize(parse_rule(text).encode())


EXISTING = "-a always,exit -F arch=b64 -S execve -k theirs"


def test_fake_rules_file_with_control_lines(tmp_path: Path) -> None:
    kernel = FakeKernel(rules=[encoded(EXISTING)])
    path = rules_file(
        tmp_path,
        "-D\n-b 8192\n--backlog_wait_time 60000\n-f 1\n-a always,exit -F arch=b64 -S open -k mine\n",
    )
    rc, out, err = fake_run(kernel, "-R", path)
    assert (rc, err) == (0, "")
    status = (
        "enabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit {b}\nlost 0\nbacklog 0\n"
        "backlog_wait_time {w}\nbacklog_wait_time_actual 0\n"
    )
    # like auditctl -R: -D prints the (empty) listing, each knob the status reply
    assert out == (
        "No rules\n"
        + status.format(b=8192, w=15000)
        + status.format(b=8192, w=60000)
        + status.format(b=8192, w=60000)
    )
    assert kernel.rules == [encoded("-a always,exit -F arch=b64 -S open -k mine")]
    assert (kernel.status.backlog_limit, kernel.status.backlog_wait_time) == (8192, 60000)


def test_fake_failure_after_changes_rolls_everything_back(tmp_path: Path) -> None:
    kernel = FakeKernel(rules=[encoded(EXISTING)])
    path = rules_file(
        tmp_path,
        "-D\n-b 8192\n-a always,exit -F arch=b64 -S open -k mine\n-a always,exit -F arch=b64 -S open -k mine\n",
    )
    rc, out, err = fake_run(kernel, "-R", path)
    assert rc == 1
    assert err == (
        f"auditsql: {path}:4: add rule -a always,exit -F arch=b64 -S open -F key=mine: Rule exists "
        f"(nothing from {path} was loaded)\n"
    )
    assert kernel.rules == [encoded(EXISTING)]  # -D undone, our rule deleted
    assert kernel.status.backlog_limit == 64


def test_fake_parse_error_sends_nothing(tmp_path: Path) -> None:
    kernel = FakeKernel()
    path = rules_file(tmp_path, "-D\n-b 10\n-a always,exit -F arch=b64 -S open\n-a always,exit -F bad=1\n")
    rc, out, err = fake_run(kernel, "-R", path)
    assert (rc, out, err) == (
        1,
        "",
        f"auditsql: {path}:4: -F unknown field: bad (nothing from {path} was loaded)\n",
    )
    assert kernel.requests == [AUDIT_GET]


def test_fake_ignore_errors_exit_zero(tmp_path: Path) -> None:
    kernel = FakeKernel()
    path = rules_file(tmp_path, "-i\n-a always,exit -F bad=1\n-a always,exit -F arch=b64 -S open\n")
    rc, out, err = fake_run(kernel, "-R", path)
    assert (rc, out, err) == (0, "", f"auditsql: {path}:2: -F unknown field: bad\n")
    assert kernel.rules == [encoded("-a always,exit -F arch=b64 -S open")]


def test_fake_continue_from_the_command_line(tmp_path: Path) -> None:
    kernel = FakeKernel()
    path = rules_file(tmp_path, "-a always,exit -F bad=1\n-a always,exit -F arch=b64 -S open\n")
    rc, out, err = fake_run(kernel, "-c", "-R", path)
    assert (rc, err) == (1, f"auditsql: {path}:1: -F unknown field: bad\n")
    assert kernel.rules == [encoded("-a always,exit -F arch=b64 -S open")]


def test_fake_locked_audit_is_explained(tmp_path: Path) -> None:
    kernel = FakeKernel(enabled=2)
    rc, out, err = fake_run(kernel, "-a", "always,exit", "-F", "arch=b64", "-S", "open")
    assert (rc, out) == (1, "")
    assert err == (
        "auditsql: The audit system is in immutable mode (enabled 2, set with -e 2): no rule or setting "
        "changes are allowed until reboot\n"
    )
    rc, out, err = fake_run(kernel, "-R", rules_file(tmp_path, "-a always,exit -F arch=b64 -S open\n"))
    assert rc == 1
    assert "immutable mode (enabled 2)" in err
    assert kernel.rules == []
    # reading still works
    rc, out, err = fake_run(kernel, "-s")
    assert (rc, out.splitlines()[0], err) == (0, "enabled 2", "")


def test_fake_kernel_eperm_is_explained() -> None:
    kernel = FakeKernel()
    kernel.status.enabled = 2  # locked after parsing: the kernel itself refuses
    from auditsql.kernel.control import ControlError, execute
    from auditsql.kernel.rules import parse_args

    cmd = parse_args(["-b", "100"], machine="x86_64")
    with pytest.raises(ControlError) as e:
        execute(kernel, cmd)  # type: ignore[arg-type]
    assert str(e.value) == (
        "set backlog_limit to 100: Operation not permitted (EPERM): the audit configuration is locked "
        "(enabled 2, set with -e 2) until reboot, or this process lacks CAP_AUDIT_CONTROL"
    )


def test_fake_listing_and_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # no listener's stats file: -s is auditctl's text alone
    monkeypatch.setenv("AUDITSQL_STATS_FILE", str(tmp_path / "no-listener.json"))
    kernel = FakeKernel(rules=[encoded(EXISTING), encoded("-w /etc/shadow -p r")])
    assert fake_run(kernel, "-l") == (
        0,
        "-a always,exit -F arch=b64 -S execve -F key=theirs\n-w /etc/shadow -p r\n",
        "",
    )
    assert fake_run(kernel, "-l", "-k", "the") == (
        0,
        "-a always,exit -F arch=b64 -S execve -F key=theirs\n",
        "",
    )
    assert fake_run(kernel, "-l", "-k", "zzz") == (0, "No rules\n", "")
    rc, out, err = fake_run(kernel, "-s")
    assert out.endswith("backlog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n")


LISTENER_STATS = {
    "source": "unicast",
    "time": 1700000000.5,
    "events": 42,
    "loss": {"kernel_lost": 3, "serial_gap": 0, "enobufs": 1, "truncated": 0, "queue_drop": 5},
    "reader": {"messages": 170},
}
FAKE_STATUS = (
    "enabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 64\nlost 0\nbacklog 0\n"
    "backlog_wait_time 15000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n"
)


def listener_lines(pid: int, state: str = "running") -> str:
    return (
        f"auditsql_pid {pid} (unicast, {state})\nauditsql_events 42\nauditsql_kernel_lost 3\n"
        "auditsql_serial_gap 0\nauditsql_enobufs 1\nauditsql_truncated 0\nauditsql_queue_drop 5\nauditsql_proc_connector 0\n"
        "auditsql_output_drop 0\nauditsql_spool_drop 0\nauditsql_store_full 0\nauditsql_journal_torn 0\nauditsql_retention 0\n"
    )


def test_fake_status_appends_listener_counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeKernel()
    stats = tmp_path / "stats.json"
    monkeypatch.setenv("AUDITSQL_STATS_FILE", str(stats))
    assert fake_run(kernel, "-s") == (0, FAKE_STATUS, "")  # no listener ran: auditctl's text alone
    write_stats(str(stats), {**LISTENER_STATS, "pid": os.getpid()})
    assert fake_run(kernel, "-s") == (0, FAKE_STATUS + listener_lines(os.getpid()), "")
    interpreted = FAKE_STATUS.replace("enabled 0", "enabled disable").replace("failure 1", "failure printk")
    assert fake_run(kernel, "-s", "-i") == (0, interpreted + listener_lines(os.getpid()), "")
    assert fake_run(kernel, "-l") == (0, "No rules\n", "")  # only the status gets them
    write_stats(str(stats), {**LISTENER_STATS, "pid": 0})  # a listener that is gone
    assert fake_run(kernel, "-s") == (0, FAKE_STATUS + listener_lines(0, "exited"), "")
    stats.write_text("not json")
    assert fake_run(kernel, "-s") == (0, FAKE_STATUS, "")


def test_file_must_be_root_owned_and_exist(tmp_path: Path) -> None:
    kernel = FakeKernel()
    assert fake_run(kernel, "-R", str(tmp_path / "none.rules")) == (
        1,
        "",
        f"auditsql: audit rules file {tmp_path / 'none.rules'} doesn't exist\n",
    )
    path = rules_file(tmp_path, "-a always,exit -F arch=b64 -S open\n")
    os.chmod(path, 0o666)
    assert fake_run(kernel, "-R", path) == (1, "", f"auditsql: Error - {path} is world writable\n")


def test_fake_user_message_and_reset_lost() -> None:
    kernel = FakeKernel()
    kernel.status.lost = 42
    assert fake_run(kernel, "--reset-lost") == (0, "", "lost: 42\n")
    assert kernel.status.lost == 0
    assert fake_run(kernel, "-m", "hello world") == (0, "", "")
    (body,) = kernel.messages
    assert body.startswith(b"text=hello world exe=")
    assert body.endswith(b" res=success\0")
    assert fake_run(kernel, "-m", "bad\x01char") == (1, "", "auditsql: Illegal character in audit event\n")


@pytest.mark.kernel
def test_rules_beyond_auditctl_3_0_9(key: str) -> None:
    """io_uring rules (audit-userspace 3.1+ syntax) and loginuid_set, which libaudit 3.0.9 cannot parse."""
    for spec in (
        ["-a", "always,io_uring", "-S", "openat,connect", "-F", "uid=0"],
        ["-a", "never,exit", "-F", "arch=b64", "-S", "open", "-F", "loginuid_set=0"],
    ):
        res = auditsql_ctl(*spec, "-k", key)
        assert (res.returncode, res.stderr) == (0, ""), spec
    ours = auditsql_ctl("-l", "-k", key).stdout.splitlines()
    theirs = auditctl("-l", "-k", key).stdout.splitlines()
    assert sorted(ours) == sorted(
        [
            f"-a always,io_uring -S connect,openat -F uid=0 -F key={key}",
            f"-a never,exit -F arch=b64 -S open f24=0 -F key={key}",
        ]
    )
    # auditctl 3.0.9 has no name for the io_uring list and reads its mask with the syscall table
    # (io_uring ops 16 and 18 are x86_64 ioctl and pwrite64); loginuid_set it prints as auditsql does
    assert sorted(theirs) == sorted(
        [
            f"-a always,(null) -S ioctl,pwrite -F uid=0 -F key={key}",
            f"-a never,exit -F arch=b64 -S open f24=0 -F key={key}",
        ]
    )

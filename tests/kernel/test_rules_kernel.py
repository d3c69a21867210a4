"""The rule compiler against auditctl and the real kernel.

1. Bytes: for every rule line of the corpus rules files, the ``audit_rule_data`` auditctl 3.0.9 sends is
   captured with ``strace`` - every ``sendto`` after the first two (its status and feature-bitmap reads)
   fails by injection, so auditctl changes nothing in the kernel - and compared with ours, byte for byte;
   lines auditctl refuses must be refused by us with auditctl's message.
2. Round trips: each corpus file is loaded (a) with ``auditsql ctl -R`` and listed with ``auditctl -l``,
   and (b) with ``auditctl -R`` and listed with ``auditsql ctl -l``; both listings, and the kernel's
   bytes, must be equal.  Control lines (-D, -b, -e, -f, -r, --backlog_wait_time, ...) are skipped.
3. go-libaudit's goldens loaded into the kernel list with auditctl as we format them.

Etiquette: other tests use the same kernel.  Nothing here flushes the rule list; each test deletes exactly
the rules it added (by their bytes), and the round trips hold the machine-wide lock of the live tests
(their rules would otherwise change what those tests see: ``-a never,task``, broad syscall rules).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from auditsql.cli_ctl import run as ctl_run
from auditsql.kernel.control import add_rule, delete_rule, list_rules
from auditsql.kernel.netlink import AuditNetlinkError, AuditSocket
from auditsql.kernel.rules import Rule, RuleError, format_rule, kernel_normalize, parse_rule, split_rule_line
from tests.kernel.conftest import auditctl, require_kernel_audit
from tests.test_rules_golden import GOLDENS, Golden, _golden_argv

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
RULE_FILES = [
    *sorted((CORPUS / "linux-audit_audit-userspace" / "rules").glob("*.rules")),
    CORPUS / "Neo23x0_auditd" / "audit.rules",
]
#: options that start a rule line; every other line of a rules file is a control line and skipped
RULE_OPTIONS = ("-a", "-A", "-w")
#: the lock of tests/kernel/test_live.py: one test at a time that changes what the kernel audits


def rule_lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").split("\n"):
        argv = split_rule_line(line)
        if argv and argv[0] in RULE_OPTIONS:
            out.append(line)
    return out


FILES_WITH_RULES = [p for p in RULE_FILES if rule_lines(p)]


def test_corpus_inventory() -> None:
    assert len(RULE_FILES) == 36
    assert sum(len(rule_lines(p)) for p in RULE_FILES) == 674
    skipped = {p.name for p in RULE_FILES} - {p.name for p in FILES_WITH_RULES}
    assert skipped == {
        "10-base-config.rules", "11-loginuid.rules", "12-cont-fail.rules", "12-ignore-error.rules",
        "20-dont-audit.rules", "31-privileged.rules", "40-local.rules", "99-finalize.rules", "audit-stop.rules",
    }  # fmt: skip
    assert len(FILES_WITH_RULES) == 27


def _rules_file(tmp: Path, lines: list[str], first: str = "-c") -> Path:
    """A root-owned, not world-writable rules file (auditctl refuses others)."""
    path = tmp / "test.rules"
    path.write_text(first + "\n" + "\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    path.chmod(0o600)
    return path


# ------------------------------------------------------------------------------------------------------
# 1. auditctl's bytes, captured with strace, nothing sent


def _strace() -> str:
    exe = shutil.which("strace")
    if exe is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    return exe


_SENDTO = re.compile(r'sendto\(\d+, \[\{nlmsg_len=\d+, nlmsg_type=0x3f3 [^}]*\}, "((?:\\x[0-9a-f]{2})*)"\]')


def auditctl_sent(lines: list[str], tmp: Path) -> tuple[dict[int, list[bytes]], dict[int, list[str]]]:
    """Per rule line (1-based): the AUDIT_ADD_RULE payloads auditctl -R sends, and its messages.

    Line 1 of the file is ``-i`` (go on after errors); line 2 is a rule with an ``exe`` field, which makes
    libaudit read the kernel's feature bitmap.  sendto calls 1 and 2 (auditctl's status read, the feature
    read) reach the kernel; every later one - all rule additions, from line 2's on - fails with an injected
    ENOTCONN.  Line 2's failed addition also switches auditctl's messages from syslog (its -R default) to
    stderr.  auditctl then reports "There was an error in line N" for every line, which splits its output
    per line.
    """
    path = tmp / "oracle.rules"
    path.write_text(
        "-i\n-a always,exit -F exe=/bin/true -F key=auditsql_oracle\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
        errors="surrogateescape",
    )
    path.chmod(0o600)
    res = subprocess.run(
        [_strace(), "-f", "-qq", "-xx", "-s", "65536", "-e", "trace=sendto",
         "-e", "inject=sendto:error=ENOTCONN:when=3+", "auditctl", "-R", str(path)],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    sent: dict[int, list[bytes]] = {}
    messages: dict[int, list[str]] = {}
    pending_sent: list[bytes] = []
    pending_msg: list[str] = []
    for line in res.stderr.splitlines():
        m = _SENDTO.match(line)
        if m:
            pending_sent.append(bytes.fromhex(m.group(1).replace("\\x", "")))
        elif m := re.match(r"There was an error in line (\d+) of ", line):
            sent[int(m.group(1)) - 2] = pending_sent
            messages[int(m.group(1)) - 2] = pending_msg
            pending_sent, pending_msg = [], []
        elif not line.startswith(("sendto(", "Error sending ", "+++")):
            pending_msg.append(line)
    return sent, messages


@pytest.mark.parametrize("path", FILES_WITH_RULES, ids=[p.name for p in FILES_WITH_RULES])
def test_bytes_equal_what_auditctl_sends(path: Path, tmp_path: Path) -> None:
    require_kernel_audit()
    lines = rule_lines(path)
    sent, messages = auditctl_sent(lines, tmp_path)
    assert sorted(sent) == list(range(0, len(lines) + 1))  # line 0: the feature-bitmap rule
    for i, line in enumerate(lines, 1):
        try:
            ours: bytes | None = parse_rule(line).encode()
            error = ""
        except RuleError as exc:
            ours, error = None, str(exc)
        if ours is None:
            assert sent[i] == [], f"line {i}: auditctl sent a rule we refused ({error}): {line}"
            assert messages[i][-1] == error, f"line {i}: {line}"
            continue
        assert len(sent[i]) == 1, f"line {i}: auditctl refused ({messages[i]}), we did not: {line}"
        theirs = sent[i][0]  # auditctl sends NLMSG_SPACE(size): padded to 4 bytes
        assert theirs == ours + b"\0" * (-len(ours) % 4), f"line {i}: {line}"


def test_golden_flags_equal_what_auditctl_sends(tmp_path: Path) -> None:
    """go-libaudit's goldens (kernel bytes) are auditctl 3.0.9's bytes here, less the class bits."""
    require_kernel_audit()
    goldens = [g for g in GOLDENS if g.machine == "x86_64"]
    with _golden_paths(goldens):
        lines = [" ".join(a.replace(" ", "\\ ") for a in _golden_argv(g)[0]) for g in goldens]
        sent, messages = auditctl_sent(lines, tmp_path)
    for i, g in enumerate(goldens, 1):
        assert len(sent[i]) == 1, (g.flags, messages[i])
        data = sent[i][0]
        size = 1040 + int.from_bytes(data[1036:1040], "little")
        assert kernel_normalize(data[:size]) == g.data[:size], g.flags


# ------------------------------------------------------------------------------------------------------
# 2. round trips through the kernel


class Tracker:
    """Rules a test added: the kernel rules that were not there before and are among the expected bytes."""

    def __init__(self, sock: AuditSocket, expected: set[bytes]) -> None:
        self.sock = sock
        self.expected = expected
        self.before = Counter(list_rules(sock))

    def new(self) -> list[bytes]:
        left = Counter(self.before)
        out = []
        for data in list_rules(self.sock):
            if left[data] > 0:
                left[data] -= 1
            elif data in self.expected:
                out.append(data)
        return out

    def remove(self) -> None:
        for data in self.new():
            try:
                delete_rule(self.sock, data)
            except AuditNetlinkError:
                pass
        assert self.new() == [], "rules this test added are still loaded"


def listing_of(sock: AuditSocket, mine: list[bytes], lister: str) -> list[str]:
    """The lines ``lister`` (auditctl or auditsql) prints for the rules ``mine``, from one stable listing."""
    for _ in range(10):
        first = list_rules(sock)
        if lister == "auditctl":
            res = auditctl("-l")
            assert res.returncode == 0, res.stderr
            text = res.stdout
        else:
            buf = io.StringIO()
            assert ctl_run(["-l"], stdout=buf, stderr=io.StringIO()) == 0
            text = buf.getvalue()
        if list_rules(sock) == first:
            lines = [] if text == "No rules\n" else text.splitlines()
            assert len(lines) == len(first)
            wanted = Counter(mine)
            out = []
            for data, line in zip(first, lines, strict=True):
                if wanted[data] > 0:
                    wanted[data] -= 1
                    out.append(line)
            return out
    pytest.fail("the kernel's rule list kept changing while listing it")


RESULTS: dict[str, tuple[int, int, int]] = {}


@pytest.mark.parametrize("path", FILES_WITH_RULES, ids=[p.name for p in FILES_WITH_RULES])
def test_round_trip(path: Path, tmp_path: Path, kernel_lock: None) -> None:
    lines = rule_lines(path)
    expected: set[bytes] = set()
    for line in lines:
        try:
            expected.add(kernel_normalize(parse_rule(line).encode()))
        except RuleError:
            pass
    rules_file = _rules_file(tmp_path, lines)
    with AuditSocket() as sock:
        # (a) auditsql loads, auditctl lists
        tracker = Tracker(sock, expected)
        try:
            err = io.StringIO()
            rc = ctl_run(["-R", str(rules_file)], stdout=io.StringIO(), stderr=err)
            assert rc in (0, 1), err.getvalue()
            mine_a = tracker.new()
            listed_a = listing_of(sock, mine_a, "auditctl")
            ours_a = listing_of(sock, mine_a, "auditsql")
        finally:
            tracker.remove()
        # (b) auditctl loads, auditsql lists
        tracker = Tracker(sock, expected)
        try:
            res = auditctl("-R", str(rules_file))
            assert res.returncode in (0, 1), res.stderr
            mine_b = tracker.new()
            listed_b = listing_of(sock, mine_b, "auditsql")
            theirs_b = listing_of(sock, mine_b, "auditctl")
        finally:
            tracker.remove()
    assert mine_a == mine_b  # the kernel holds the same bytes, in the same order
    assert listed_a == listed_b
    assert ours_a == listed_a
    assert theirs_b == listed_b
    assert len(listed_a) == len(mine_a)
    RESULTS[path.name] = (
        len(lines),
        len(mine_a),
        sum(a == b for a, b in zip(listed_a, listed_b, strict=True)),
    )


def test_round_trip_figures() -> None:
    """Printed with -s: rule lines tried / accepted by the kernel / listings equal, per file and in total."""
    if not RESULTS:
        pytest.skip("run with the round-trip tests")
    for name, (tried, accepted, equal) in sorted(RESULTS.items()):
        print(f"{name}: {tried} tried, {accepted} accepted, {equal} listings equal")
        assert equal == accepted
    total = [sum(v[i] for v in RESULTS.values()) for i in range(3)]
    print(f"total: {total[0]} tried, {total[1]} accepted by the kernel, {total[2]} listings equal")


# ------------------------------------------------------------------------------------------------------
# 3. the goldens in the kernel, listed by auditctl


class _golden_paths:
    """Create go-libaudit's test paths (/tmp/audit-test/...) as its generator did: a trailing / makes a
    directory, anything else a file; remove them afterwards if this test created the tree."""

    BASE = Path("/tmp/audit-test")

    def __init__(self, goldens: list[Golden]) -> None:
        self.paths = sorted(
            {a.split("=", 1)[-1] for g in goldens for a in _golden_argv(g)[0] if "/tmp/audit-test/" in a}
        )
        self.created = False

    def __enter__(self) -> _golden_paths:
        if self.BASE.exists():
            pytest.skip(f"{self.BASE} exists already; not touching it")
        self.created = True
        for p in self.paths:
            if p.endswith("/"):
                os.makedirs(p, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                Path(p).touch()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.created:
            shutil.rmtree(self.BASE, ignore_errors=True)


def test_goldens_list_like_auditctl(kernel_lock: None) -> None:
    """Each golden's bytes, added as they are, list with auditctl -l exactly as format_rule prints them."""
    checked = 0
    with _golden_paths(GOLDENS), AuditSocket() as sock:
        for g in GOLDENS:
            size = 1040 + int.from_bytes(g.data[1036:1040], "little")
            data = g.data[:size]
            tracker = Tracker(sock, {data})
            try:
                add_rule(sock, data)
                (mine,) = tracker.new()
                assert mine == data
                (line,) = listing_of(sock, [mine], "auditctl")
                assert line == format_rule(Rule.decode(mine)), g.flags
                checked += 1
            finally:
                tracker.remove()
    assert checked == 126

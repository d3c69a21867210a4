"""Live sources on the real kernel: unicast, multicast beside a real auditd, SIGKILL and takeover, restore.

Etiquette: other tests change the same kernel at the same time. These tests never flush the rule list;
they add rules with a key of their own and delete exactly those, start processes and stop exactly those
(by pid), and the ``live_kernel`` fixture puts back every status knob and the daemon pid as it found them,
even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditsql._core import parse_line
from auditsql.kernel.keeper import stop_keeper
from auditsql.kernel.netlink import AuditSocket
from auditsql.kernel.snapshot import KernelSession, exclude_pid_rule, restore_from_file
from auditsql.kernel.status import get_status, set_status
from tests.kernel.conftest import (
    auditctl,
    auditctl_rules,
    auditctl_status,
    kernel_lock_held,
    require_kernel_audit,
)

pytestmark = pytest.mark.kernel

KNOBS = {"enabled": "-e", "failure": "-f", "rate_limit": "-r", "backlog_limit": "-b"}
KNOBS["backlog_wait_time"] = "--backlog_wait_time"
#: the installed entry point next to this interpreter (not a pyenv shim); its /proc/PID/comm is "auditsql"
_EXE = Path(sys.executable).with_name("auditsql")
AUDITSQL = [str(_EXE) if _EXE.exists() else shutil.which("auditsql") or "auditsql"]


@dataclass
class LiveKernel:
    """What a test added or started, so that exactly that is undone."""

    tmp: Path
    key: str
    status: dict[str, int]
    rules: list[str]
    rule_args: list[list[str]] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    state_files: list[Path] = field(default_factory=list)

    def add_rule(self, *args: str) -> None:
        spec = [*args, "-F", f"key={self.key}"]
        res = auditctl("-a", *spec)
        assert res.returncode == 0, res.stderr
        self.rule_args.append(spec)

    def our_rules(self) -> list[str]:
        return [r for r in auditctl_rules() if self.key in r]

    def start(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def state_file(self, name: str) -> Path:
        path = self.tmp / f"{name}.json"
        self.state_files.append(path)
        return path


def _status_now() -> dict[str, int]:
    st = auditctl_status()
    return {name: int(st[name]) for name in (*KNOBS, "pid")}


#: one live test at a time on this machine, across pytest processes (the daemon pid is machine-wide)


@pytest.fixture
def live_kernel(tmp_path: Path) -> Iterator[LiveKernel]:
    require_kernel_audit()
    with kernel_lock_held():
        yield from _live_kernel(tmp_path)


def _live_kernel(tmp_path: Path) -> Iterator[LiveKernel]:
    st = _status_now()
    lk = LiveKernel(tmp_path, f"auditsql_live_{uuid.uuid4().hex[:10]}", st, auditctl_rules())
    problems: list[str] = []
    try:
        yield lk
    finally:
        for proc in lk.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
                    problems.append(f"pid {proc.pid} ({proc.args[:3]}) ignored SIGTERM")
        for sock in lk.tmp.rglob("keeper.sock"):  # a killed run's socket keeper: it holds the registration
            if stop_keeper(str(sock.parent)) is not None:
                problems.append(f"a socket keeper was left running ({sock})")
        for path in lk.state_files:
            if path.exists():
                report = restore_from_file(str(path))
                problems.extend(report.problems)
                problems.append(f"{path.name} was left behind (restored from it)")
        for spec in reversed(lk.rule_args):
            auditctl("-d", *spec)
        leftover = [r for r in auditctl_rules() if lk.key in r]
        if leftover:
            problems.append(f"rules left: {leftover}")
        now = _status_now()
        if now["pid"] != st["pid"]:
            if st["pid"] == 0:
                # the holder is one of ours and gone: any process may unregister a dead daemon
                with AuditSocket() as sock:
                    set_status(sock, pid=0)
            problems.append(f"pid was {now['pid']}, expected {st['pid']}")
        for name, opt in KNOBS.items():
            if now[name] != st[name]:
                auditctl(opt, str(st[name]))
                problems.append(f"{name} was {now[name]}, expected {st[name]}")
        final = _status_now()
        if final != st:
            problems.append(f"status after cleanup {final} != {st}")
    if problems:
        pytest.fail("live test left the kernel changed: " + "; ".join(problems), pytrace=False)


# -- helpers -----------------------------------------------------------------------------------------------


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_listen(lk: LiveKernel, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out = lk.tmp / f"{name}.jsonl"
    err = lk.tmp / f"{name}.err"
    state = lk.state_file(name)
    argv = [*AUDITSQL, "listen", "--no-resolve-ids", "--stats-interval", "0", "-o", str(out)]
    argv += ["--state-file", str(state), "--stats-file", str(lk.tmp / f"{name}.stats.json"), *args]
    with open(err, "wb") as errfh:
        proc = lk.start(argv, stdout=subprocess.DEVNULL, stderr=errfh)
    return proc, out, err


def wait_listening(proc: subprocess.Popen[bytes], err: Path) -> str:
    def ready() -> str | None:
        text = err.read_text()
        if proc.poll() is not None:
            raise AssertionError(f"listen exited {proc.returncode}: {text}")
        return next((ln for ln in text.splitlines() if "listening (" in ln), None)

    return str(wait_for(ready, what="auditsql listen to start"))


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(15)


def events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    # the writer may be half-way through a line: only complete lines count
    complete = path.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in complete.split("\n") if line]


def run_workload(marker: str, count: int = 3) -> tuple[list[str], int]:
    """``count`` execs of /bin/true with marker argv, and one TCP connect from a child; returns the argv
    markers and the listener's port."""
    markers = [f"{marker}-{i}" for i in range(count)]
    for m in markers:
        subprocess.run(["/bin/true", m], check=True)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        code = f"import socket; socket.create_connection(('127.0.0.1', {port})).close()"
        subprocess.run([sys.executable, "-c", code, f"{marker}-connect"], check=True)
    return markers, port


def marker_events(evs: list[dict], marker: str) -> dict[str, dict]:
    """Events whose argv has an argument starting with ``marker``: {that argument: event}."""
    out: dict[str, dict] = {}
    for ev in evs:
        for arg in ev.get("summary", {}).get("argv") or []:
            if isinstance(arg, str) and arg.startswith(marker):
                assert arg not in out, f"two events for {arg}"
                out[arg] = ev
    return out


def connect_events(evs: list[dict], key: str, port: int) -> list[dict]:
    return [
        ev
        for ev in evs
        if ev.get("summary", {}).get("key") == key
        and ev["summary"].get("syscall") == "connect"
        and any(f"saddr=0200{port:04X}7F000001" in r for r in ev["raw"])
    ]


def serial(ev: dict) -> int:
    return int(ev["ID"].rsplit(":", 1)[1])


# -- tests -------------------------------------------------------------------------------------------------


def test_unicast_receives_exec_and_connect_then_restores(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve,connect")
    proc, out, err = start_listen(lk, "uni", "--source", "unicast")
    line = wait_listening(proc, err)
    assert line.startswith(f"auditsql: listening (unicast; pid {proc.pid}; ")
    now = _status_now()
    assert now["pid"] == proc.pid
    assert now["enabled"] == 1
    assert f"-a never,exit -S all -F pid={proc.pid}" in auditctl_rules()
    state = json.loads((lk.tmp / "uni.json").read_text())
    assert state["registered_pid"] == proc.pid
    assert state["changes"] == ({"enabled": {"from": 0, "to": 1}} if lk.status["enabled"] == 0 else {})

    markers, port = run_workload(lk.key)
    want = {*markers, f"{lk.key}-connect"}
    wait_for(
        lambda: set(marker_events(evs := events(out), lk.key)) >= want and connect_events(evs, lk.key, port),
        what="the workload's events",
    )
    assert stop(proc) == 0

    evs = events(out)
    got = marker_events(evs, lk.key)
    assert sorted(got) == sorted(want)
    for m in markers:
        ev = got[m]
        assert ev["summary"]["argv"] == ["/bin/true", m]
        assert ev["summary"]["key"] == lk.key
        assert ev["summary"]["syscall"] == "execve"
        assert ev["raw"][0].startswith("type=SYSCALL msg=audit(")
        assert ev["raw"][-1] == f"type=EOE msg=audit({ev['ID']}): "
    conns = connect_events(evs, lk.key, port)
    assert len(conns) == 1
    assert conns[0]["summary"]["success"] is True
    # back as found: daemon pid, enabled, the self-exclusion rule, the state file
    assert _status_now() == lk.status
    assert [r for r in auditctl_rules() if f"pid={proc.pid}" in r] == []
    assert not (lk.tmp / "uni.json").exists()
    assert err.read_text().splitlines()[-1].startswith("auditsql: stopped; events ")


def test_unicast_refuses_a_live_daemon_and_auto_falls_back_to_multicast(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve")
    first, out1, err1 = start_listen(lk, "first", "--source", "unicast")
    wait_listening(first, err1)

    second, _, err2 = start_listen(lk, "second", "--source", "unicast")
    assert second.wait(15) == 1
    assert err2.read_text() == (
        f"auditsql: the kernel's audit socket belongs to pid {first.pid} (auditsql); stop it, or read "
        "alongside it with --source multicast (or auto)\n"
    )
    assert _status_now()["pid"] == first.pid  # untouched
    assert [r for r in auditctl_rules() if f"pid={second.pid}" in r] == []

    third, out3, err3 = start_listen(lk, "third", "--source", "auto")
    line = wait_listening(third, err3)
    assert line == (
        f"auditsql: listening (multicast; pid {third.pid}; rcvbuf 16777216; "
        f"pid {first.pid} (auditsql) is the audit daemon; policy block)"
    )
    markers, _ = run_workload(lk.key, 2)
    for out in (out1, out3):
        wait_for(lambda out=out: set(marker_events(events(out), lk.key)) >= set(markers), what="events")
    assert stop(third) == 0
    assert _status_now()["pid"] == first.pid
    assert stop(first) == 0
    s1 = {m: serial(ev) for m, ev in marker_events(events(out1), lk.key).items() if m in markers}
    s3 = {m: serial(ev) for m, ev in marker_events(events(out3), lk.key).items() if m in markers}
    assert s1 == s3
    assert _status_now() == lk.status


AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_format = RAW
flush = SYNC
freq = 0
max_log_file = 0
max_log_file_action = IGNORE
num_logs = 0
name_format = NONE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
use_libwrap = no
tcp_listen_queue = 5
tcp_max_per_addr = 1
tcp_client_max_idle = 0
distribute_network = no
q_depth = 2000
overflow_action = IGNORE
max_restarts = 0
plugin_dir = {plugins}
end_of_event_timeout = 2
"""


def start_auditd(live_kernel: LiveKernel, plugin: str | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    """A real auditd (Debian package) logging RAW to a temp dir, with ``plugin`` (a plugins.d file) or
    none; returns it once it is the registered daemon. Stopped by its pid (here or by the fixture)."""
    exe = shutil.which("auditd", path="/usr/sbin:/sbin")
    if exe is None:
        pytest.fail("auditd is not installed (apt-get install auditd)")
    if live_kernel.status["pid"] != 0:
        pytest.skip(f"another audit daemon (pid {live_kernel.status['pid']}) is registered")
    conf = live_kernel.tmp / "auditd"
    (conf / "plugins.d").mkdir(parents=True)
    if plugin is not None:
        (conf / "plugins.d" / "auditsql.conf").write_text(plugin)
    log = live_kernel.tmp / "auditd-log" / "audit.log"
    log.parent.mkdir()
    (conf / "auditd.conf").write_text(AUDITD_CONF.format(log=log, plugins=conf / "plugins.d"))
    os.chmod(conf / "auditd.conf", 0o640)
    errfile = live_kernel.tmp / "auditd.err"
    with open(errfile, "wb") as fh:
        proc = live_kernel.start([exe, "-n", "-s", "nochange", "-c", str(conf)], stdout=fh, stderr=fh)
    wait_for(lambda: _status_now()["pid"] == proc.pid, what=f"auditd to register ({errfile})")
    return proc, log


@pytest.fixture
def auditd(live_kernel: LiveKernel) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    proc, log = start_auditd(live_kernel)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)


def read_log(path: Path) -> list[dict]:
    """auditd's log as ``auditsql._core.parse_line`` records (dicts; text, field tokens as bytes)."""
    return [rec for line in path.read_bytes().splitlines() for rec in parse_line(line)]


def key_of(rec: dict) -> bytes | None:
    return next((v for k, v in rec["fields"] if k == b"key"), None)


def test_multicast_beside_auditd_both_see_every_event(
    live_kernel: LiveKernel, auditd: tuple[subprocess.Popen[bytes], Path]
) -> None:
    lk = live_kernel
    daemon, log = auditd
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve,connect")
    proc, out, err = start_listen(lk, "multi")  # auto
    line = wait_listening(proc, err)
    assert line == (
        f"auditsql: listening (multicast; pid {proc.pid}; rcvbuf 16777216; "
        f"pid {daemon.pid} (auditd) is the audit daemon; policy block)"
    )
    assert _status_now()["pid"] == daemon.pid
    markers, port = run_workload(lk.key, 5)
    want = {*markers, f"{lk.key}-connect"}

    def auditd_serials() -> set[int]:
        return {
            r["serial"]
            for r in read_log(log)
            if r["name"] == "SYSCALL" and key_of(r) == f'"{lk.key}"'.encode()
        }

    wait_for(
        lambda: set(marker_events(evs := events(out), lk.key)) >= want and connect_events(evs, lk.key, port),
        what="auditsql's events",
    )
    assert stop(proc) == 0
    evs = events(out)
    # every event under our rule (other processes' execs too) from the first workload event to the last
    work = [serial(ev) for ev in marker_events(evs, lk.key).values()] + [
        serial(ev) for ev in connect_events(evs, lk.key, port)
    ]
    lo, hi = min(work), max(work)
    ours = {s for ev in evs if ev.get("summary", {}).get("key") == lk.key and lo <= (s := serial(ev)) <= hi}
    wait_for(lambda: auditd_serials() >= ours, what="auditd to log the same events")
    theirs = {s for s in auditd_serials() if lo <= s <= hi}
    assert ours == theirs
    assert len(connect_events(evs, lk.key, port)) == 1
    # the same records byte for byte, but auditd does not log the kernel's EOE records (auditsql keeps them)
    by_serial = {serial(ev): ev["raw"] for ev in evs if serial(ev) in ours}
    assert {s: raw[-1] for s, raw in by_serial.items()} == {
        s: f"type=EOE msg=audit({raw[0].split('(', 1)[1].split(')', 1)[0]}): " for s, raw in by_serial.items()
    }
    by_serial = {s: raw[:-1] for s, raw in by_serial.items()}
    logged: dict[int, list[str]] = {}
    for rec in read_log(log):
        if rec["serial"] in ours:
            logged.setdefault(rec["serial"], []).append(rec["text"].decode("utf-8", "surrogateescape"))
    assert logged == by_serial
    assert _status_now()["pid"] == daemon.pid  # auditd never noticed us
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert _status_now() == lk.status


def test_sigkill_then_next_start_takes_over(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve")
    victim, _, err = start_listen(lk, "run", "--source", "unicast")
    wait_listening(victim, err)
    victim.kill()
    victim.wait(15)
    # the kernel still names the dead process until it next tries to send to it or someone asks
    stale = _status_now()
    assert f"-a never,exit -S all -F pid={victim.pid}" in auditctl_rules()
    assert stale["enabled"] == 1
    assert (lk.tmp / "run.json").exists()

    heir, out, err2 = start_listen(lk, "run", "--source", "auto")  # the same state file
    line = wait_listening(heir, err2)
    assert line.startswith(f"auditsql: listening (unicast; pid {heir.pid}; ")
    assert _status_now()["pid"] == heir.pid
    assert [r for r in auditctl_rules() if f"pid={victim.pid}" in r] == []
    markers, _ = run_workload(lk.key, 2)
    wait_for(lambda: set(marker_events(events(out), lk.key)) >= set(markers), what="the heir's events")
    assert stop(heir, signal.SIGINT) == 0
    assert stale["pid"] in (victim.pid, 0)
    assert _status_now() == lk.status
    assert not (lk.tmp / "run.json").exists()
    # the kernel may drop the dead daemon's pid on its own before the heir asks (when it next fails to send
    # to it), so the heir's report names the pid only when it still found it registered
    undone = err2.read_text().splitlines()[0]
    # one self-exclusion rule to delete: the native reader is a thread of auditsql's own process
    tail = ["deleted a rule auditsql added"] + (["enabled 1 -> 0"] if lk.status["enabled"] == 0 else [])
    assert undone in (
        "auditsql: undid a crashed run's changes: "
        + ", ".join([f"pid {victim.pid} -> 0 (unregistered)", *tail]),
        "auditsql: undid a crashed run's changes: " + ", ".join(tail),
    )


def test_restore_from_file_after_sigkill(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    victim, _, err = start_listen(lk, "crash", "--source", "unicast", "--backlog-limit", "321")
    wait_listening(victim, err)
    assert _status_now()["backlog_limit"] == 321
    victim.kill()
    victim.wait(15)
    report = restore_from_file(str(lk.tmp / "crash.json"))
    assert report.problems == []
    assert report.notes == []
    assert _status_now() == lk.status
    assert [r for r in auditctl_rules() if f"pid={victim.pid}" in r] == []
    assert not (lk.tmp / "crash.json").exists()


@pytest.mark.parametrize("source", ["unicast", "multicast"])
def test_rules_file_backlog_limit_is_only_raised(live_kernel: LiveKernel, source: str) -> None:
    """A rules file's -b never lowers a limit someone else set (auditd's -b 8192), multicast beside a daemon
    included; a higher one is set and restored on exit. --backlog-limit sets what it says, lower too."""
    lk = live_kernel
    found = lk.status["backlog_limit"]
    if found < 2:
        pytest.skip(f"backlog_limit {found}: no lower limit to ask for")
    for asked, after, args in (
        (found - 1, found, []),
        (found + 5, found + 5, []),
        (found - 1, found - 1, ["--backlog-limit", str(found - 1)]),  # explicit: as given
    ):
        rules = lk.tmp / f"b{asked}.rules"
        rules.write_text(f"-b {asked}\n")
        name = f"backlog-{source}-{asked}-{len(args)}"
        proc, _, err = start_listen(lk, name, "--source", source, "--rules", str(rules), *args)
        wait_listening(proc, err)
        assert _status_now()["backlog_limit"] == after
        kept = f"auditsql: backlog_limit stays {found}: above the {asked} asked for (auditsql only raises it)"
        assert (kept in err.read_text().splitlines()) == (after == found)
        assert stop(proc) == 0
        assert _status_now() == lk.status


def test_session_restores_only_what_it_changed(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    found = lk.status
    state = lk.state_file("session")
    with KernelSession(state_file=str(state)) as session:
        snap = session.begin()
        assert {k: snap.status[k] for k in found} == found
        changed = session.set(backlog_limit=found["backlog_limit"] + 7, rate_limit=found["rate_limit"] + 5)
        assert changed == {"backlog_limit": found["backlog_limit"], "rate_limit": found["rate_limit"]}
        session.add_rule(exclude_pid_rule(os.getpid()))
        assert f"-a never,exit -S all -F pid={os.getpid()}" in auditctl_rules()
        # someone else changes rate_limit meanwhile: auditsql must leave it alone
        assert auditctl("-r", str(found["rate_limit"] + 9)).returncode == 0
        json_state = json.loads(state.read_text())
        assert json_state["changes"] == {
            "backlog_limit": {"from": found["backlog_limit"], "to": found["backlog_limit"] + 7},
            "rate_limit": {"from": found["rate_limit"], "to": found["rate_limit"] + 5},
        }
        report = session.restore()
    assert report.problems == []
    assert report.actions == [
        "deleted a rule auditsql added",
        f"backlog_limit {found['backlog_limit'] + 7} -> {found['backlog_limit']}",
    ]
    assert report.notes == [
        f"rate_limit left at {found['rate_limit'] + 9}: changed by someone else since auditsql set it to "
        f"{found['rate_limit'] + 5}"
    ]
    now = _status_now()
    assert now["rate_limit"] == found["rate_limit"] + 9
    assert auditctl("-r", str(found["rate_limit"])).returncode == 0
    assert _status_now() == found
    assert [r for r in auditctl_rules() if f"pid={os.getpid()}" in r] == []
    assert not state.exists()


def test_exclude_pid_rule_is_what_auditctl_loads(live_kernel: LiveKernel) -> None:
    pid = 2**22 + 12345  # above the default pid_max: never a live process
    with AuditSocket() as sock:
        before = get_status(sock)
        with KernelSession(sock, state_file=None) as session:
            session.begin()
            session.add_rule(exclude_pid_rule(pid))
            assert f"-a never,exit -S all -F pid={pid}" in auditctl_rules()
            # auditctl deletes it: same rule
            assert auditctl("-d", "never,exit", "-S", "all", "-F", f"pid={pid}").returncode == 0
            report = session.restore()
        assert report.notes == ["a rule auditsql added was already gone"]
        assert get_status(sock).enabled == before.enabled


def test_auditd_plugin_stream(live_kernel: LiveKernel) -> None:
    """auditd starts ``auditsql listen --source plugin`` from plugins.d and feeds it; auditsql leaves the
    kernel to auditd."""
    lk = live_kernel
    out = lk.tmp / "plugin.jsonl"
    examples = Path(__file__).parents[2] / "examples"
    args = (examples / "auditsql-plugin.args").read_text()
    args = args.replace("/var/log/auditsql/events.jsonl", str(out)).replace("/var/log/auditsql", str(lk.tmp))
    (lk.tmp / "plugin.args").write_text(
        args + f"--no-resolve-ids --stats-file {lk.tmp / 'plugin.stats.json'}\n"
    )
    conf = (examples / "plugins.d" / "auditsql.conf").read_text()
    conf = conf.replace("active = no", "active = yes").replace("/usr/local/bin/auditsql", AUDITSQL[0])
    conf = conf.replace("/etc/auditsql/plugin.args", str(lk.tmp / "plugin.args"))
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve")
    # auditd -s nochange leaves enabled alone; the plugin must not change it either
    assert auditctl("-e", "1").returncode == 0
    try:
        daemon, log = start_auditd(lk, conf)
        rules_before = auditctl_rules()
        markers, _ = run_workload(lk.key, 3)
        wait_for(lambda: set(marker_events(events(out), lk.key)) >= set(markers), what="the plugin's events")
        assert auditctl_rules() == rules_before  # no self-exclusion rule: the plugin leaves the kernel alone
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert _status_now()["enabled"] == 1
    finally:
        assert auditctl("-e", str(lk.status["enabled"])).returncode == 0
    got = marker_events(events(out), lk.key)
    assert {m: got[m]["summary"]["argv"] for m in markers} == {m: ["/bin/true", m] for m in markers}
    # auditd hands plugins the kernel's EOE records (it does not log them)
    assert {m: got[m]["raw"][-1] for m in markers} == {
        m: f"type=EOE msg=audit({got[m]['ID']}): " for m in markers
    }
    logged = {
        r["serial"] for r in read_log(log) if r["name"] == "SYSCALL" and key_of(r) == f'"{lk.key}"'.encode()
    }
    assert {serial(got[m]) for m in markers} <= logged


def test_rules_file_loaded_while_listening_and_removed_after(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    rules = lk.tmp / "live.rules"
    found_backlog = lk.status["backlog_limit"]
    rules.write_text(
        "# what /etc/audit/rules.d files usually start with\n"
        "-D\n"
        f"-b {found_backlog + 11}\n"
        f"-a always,exit -F arch=b64 -S execve -F key={lk.key}\n"
    )
    os.chmod(rules, 0o640)
    proc, out, err = start_listen(lk, "rules", "--source", "unicast", "--rules", str(rules))
    wait_listening(proc, err)
    assert err.read_text().splitlines()[0] == (
        f"auditsql: {rules}:2: -D skipped (auditsql removes only the rules it added)"
    )
    assert lk.our_rules() == [f"-a always,exit -F arch=b64 -S execve -F key={lk.key}"]
    assert _status_now()["backlog_limit"] == found_backlog + 11
    markers, _ = run_workload(lk.key, 2)
    wait_for(
        lambda: set(marker_events(events(out), lk.key)) >= set(markers), what="events under the file's rule"
    )
    assert stop(proc) == 0
    assert lk.our_rules() == []
    assert _status_now() == lk.status


def test_bad_rules_file_loads_nothing(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    rules = lk.tmp / "bad.rules"
    rules.write_text(f"-a always,exit -F arch=b64 -S execve -F key={lk.key}\n-a always,exit -S nosuchcall\n")
    os.chmod(rules, 0o640)
    proc, _, err = start_listen(lk, "bad", "--source", "unicast", "--rules", str(rules))
    assert proc.wait(15) == 1
    assert err.read_text() == f"auditsql: {rules}:2: Syscall name unknown: nosuchcall; nothing loaded\n"
    assert lk.our_rules() == []
    assert _status_now() == lk.status
    assert not (lk.tmp / "bad.json").exists()


def test_kernel_loss_is_accounted(live_kernel: LiveKernel) -> None:
    """rate_limit 5/s and a burst of 60 execs: the kernel drops records; auditsql books the kernel's lost
    delta and the serials that never came, as loss records."""
    lk = live_kernel
    lk.add_rule("always,exit", "-F", "arch=b64", "-S", "execve")
    loss_file = lk.tmp / "losses.jsonl"
    proc, out, err = start_listen(
        lk, "loss", "--source", "unicast", "--rate-limit", "5", "--loss-output", str(loss_file)
    )
    wait_listening(proc, err)
    assert _status_now()["rate_limit"] == 5
    for i in range(60):
        subprocess.run(["/bin/true", f"{lk.key}-{i}"], check=True)
    # a gap shows only once a later serial arrives: one more exec in a later rate-limit second (retried:
    # other processes on this machine may use up that second's 5 records)
    for attempt in range(10):
        time.sleep(1.1)
        subprocess.run(["/bin/true", f"{lk.key}-after{attempt}"], check=True)
        time.sleep(0.3)
        if any(m.startswith(f"{lk.key}-after") for m in marker_events(events(out), lk.key)):
            break
    else:
        pytest.fail("no exec after the burst got through the rate limit in 10 s")
    time.sleep(1.2)  # one lost-counter poll
    assert stop(proc) == 0
    records = [json.loads(line) for line in loss_file.read_text().splitlines()]
    by_cause: dict[str, int] = {}
    for rec in records:
        assert sorted(rec) == ["cause", "count", "detail", "time"]
        by_cause[rec["cause"]] = by_cause.get(rec["cause"], 0) + rec["count"]
    # records are lost one by one, serials only when all of an event's records are: lost >= gaps > 0
    assert set(by_cause) == {"kernel_lost", "serial_gap"}
    assert by_cause["kernel_lost"] >= by_cause["serial_gap"] > 0
    last = err.read_text().splitlines()[-1]
    assert f"kernel lost {by_cause['kernel_lost']}, " in last
    assert f"serial gaps {by_cause['serial_gap']}, " in last
    assert len(marker_events(events(out), lk.key)) < 61
    assert _status_now() == lk.status

"""``auditsql run`` beside a real auditd (the Debian package, started by the test) and beside others who change
the kernel: auto picks multicast, the tables and auditd's log are both complete, auditd stopping mid-run loses
nothing, auditd starting while auditsql is the daemon is refused and said, rules deleted by others
(``augenrules --load`` begins with ``-D``) come back, audit disabled by others is enabled again.

Etiquette: ``live_kernel`` (tests/kernel/test_live.py) holds the kernel-test lock, stops the processes these
tests started by pid and checks knobs and the daemon pid after; auditd runs from a temporary directory
(``auditd -n -c DIR``: no fork, no augenrules, no rules of its own, no plugins) and is stopped by its pid;
the test that deletes every rule also takes ``audit_snapshot``, which puts back the rules exactly.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.kernel import test_live
from tests.kernel.conftest import AuditSnapshot, auditctl, auditctl_rules
from tests.kernel.test_live import AUDITD_CONF, LiveKernel, _status_now, read_log, stop, wait_for
from tests.kernel.test_loss import start_run
from tests.kernel.test_run import BUILTIN_RULES, Run, keeper_of

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel


def start_auditd(lk: LiveKernel, *args: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """A real auditd logging RAW to a temp dir (flush INCREMENTAL_ASYNC, no plugins, no rules of its own);
    ``args`` as auditd takes them (none: it enables audit at start, as the Debian service runs it).
    Returns (process, log, stderr file)."""
    exe = shutil.which("auditd", path="/usr/sbin:/sbin")
    if exe is None:
        pytest.fail("auditd is not installed (apt-get install auditd)")
    conf = lk.tmp / "auditd"
    (conf / "plugins.d").mkdir(parents=True, exist_ok=True)
    log = lk.tmp / "auditd-log" / "audit.log"
    log.parent.mkdir(exist_ok=True)
    text = AUDITD_CONF.format(log=log, plugins=conf / "plugins.d")
    text = text.replace("flush = SYNC\nfreq = 0\n", "flush = INCREMENTAL_ASYNC\nfreq = 20\n")
    assert "INCREMENTAL_ASYNC" in text
    (conf / "auditd.conf").write_text(text)
    (conf / "auditd.conf").chmod(0o640)
    err = lk.tmp / "auditd.err"
    with open(err, "wb") as fh:
        proc = lk.start([exe, "-n", "-c", str(conf), *args], stdout=fh, stderr=fh)
    return proc, log, err


def workload(marker: str, execs: int, connects: int, port: int) -> None:
    """``execs`` runs of ``/bin/true MARKER-xI`` and one process making ``connects`` TCP connects to ``port``."""
    for i in range(execs):
        subprocess.run(["/bin/true", f"{marker}-x{i}"], check=True)
    code = (
        "import socket, sys\n"
        "for i in range(int(sys.argv[2])):\n"
        "    socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(port), str(connects), f"{marker}-conn"], check=True)


def exec_rows(run: Run, marker: str) -> int:
    ((n,),) = run.query("SELECT count(*) FROM process_events WHERE cmdline LIKE ?", f"/bin/true {marker}-x%")
    return n


def connect_rows(run: Run, port: int) -> int:
    ((n,),) = run.query(
        "SELECT count(*) FROM socket_events WHERE action = 'connect' AND remote_port = ? AND remote_address = ?",
        port,
        "127.0.0.1",
    )
    return n


def logged(log: Path, marker: str, port: int) -> tuple[int, int]:
    """(execs of ``marker``, connects to ``port``) in auditd's log."""
    recs = read_log(log)

    def get(rec: dict, key: bytes) -> str:
        return next((v.decode("utf-8", "replace") for k, v in rec["fields"] if k == key), "")

    execs = {r["serial"] for r in recs if r["name"] == "EXECVE" and get(r, b"a1").startswith(f'"{marker}-x')}
    saddr = f"0200{port:04X}7F000001"
    connects = {r["serial"] for r in recs if r["name"] == "SOCKADDR" and get(r, b"saddr").startswith(saddr)}
    return len(execs), len(connects)


@pytest.fixture
def server() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)  # never accepted: the connects complete in the backlog
    yield srv
    srv.close()


def test_beside_auditd_multicast_complete_and_auditd_stopping_loses_nothing(
    live_kernel: LiveKernel, server: socket.socket
) -> None:
    lk = live_kernel
    port = server.getsockname()[1]
    daemon, log, derr = start_auditd(lk)
    wait_for(lambda: _status_now()["pid"] == daemon.pid, what=f"auditd to register ({derr})")
    assert _status_now()["enabled"] == 1  # auditd enables audit at start (-s enable, its default)
    run = start_run(lk, {}, name="beside")  # the defaults: source auto, the built-in rules
    try:
        first = run.stderr()[0]
        assert first.startswith(f"auditsql: running (multicast; pid {run.proc.pid}; rcvbuf ")
        assert f"; pid {daemon.pid} (auditd) is the audit daemon; policy block); db " in first
        assert _status_now()["pid"] == daemon.pid

        # 1. beside auditd: every exec and connect in the tables, and in auditd's log
        n, m = 12, 15
        workload(f"{lk.key}-a", n, m, port)
        wait_for(lambda: exec_rows(run, f"{lk.key}-a") == n and connect_rows(run, port) == m, what="rows")
        wait_for(lambda: logged(log, f"{lk.key}-a", port) == (n, m), what="auditd's log")

        # 2. auditd stops while a workload runs; and a workload after it is gone
        during = threading.Thread(target=workload, args=(f"{lk.key}-b", n, m, port))
        during.start()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        during.join(60)
        assert _status_now()["pid"] == 0
        assert _status_now()["enabled"] == 1  # auditd 3.0.9 leaves audit enabled when it stops
        # auditsql's rules survive auditd's exit
        assert [r for r in BUILTIN_RULES if r in auditctl_rules()] == BUILTIN_RULES
        workload(f"{lk.key}-c", n, m, port)
        wait_for(
            lambda: (
                [exec_rows(run, f"{lk.key}-{p}") for p in "abc"] == [n, n, n]
                and connect_rows(run, port) == 3 * m
            ),
            what="every row of the three workloads",
        )
        wait_for(
            lambda: any("the audit daemon (pid" in ln for ln in run.stderr()), what="the daemon-left line"
        )
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(15)
    assert stop(run.proc) == 0
    # nothing lost: no loss of any kind was booked while auditd came and went
    assert run.query("SELECT cause, sum(count) FROM audit_loss GROUP BY cause") == []
    assert [exec_rows(run, f"{lk.key}-{p}") for p in "abc"] == [n, n, n]
    assert connect_rows(run, port) == 3 * m
    err = run.stderr()
    assert (
        f"auditsql: the audit daemon (pid {daemon.pid}) left; auditsql goes on reading by multicast, which gets "
        "every record with or without a daemon"
    ) in err
    assert err[-1].startswith("auditsql: stopped; events ")
    # auditd enabled audit and left it so: put back what the test found
    assert auditctl("-e", str(lk.status["enabled"])).returncode == 0
    assert _status_now() == lk.status


def test_auditd_starting_while_auditsql_is_the_daemon_is_refused_and_said(
    live_kernel: LiveKernel, server: socket.socket
) -> None:
    lk = live_kernel
    port = server.getsockname()[1]
    run = start_run(lk, {}, "--source", "unicast", name="uni")
    keeper = keeper_of(run)  # the registered daemon (docs/reliability.md, kill -9)
    daemon, _log, derr = start_auditd(lk, "-f")  # -f: its messages on stderr
    assert daemon.wait(15) == 1
    assert "Unable to set audit pid, exiting" in derr.read_text()
    # the kernel refused it (a live daemon is never replaced); auditsql is still the daemon and says so
    assert _status_now()["pid"] == keeper
    pattern = re.compile(
        rf"auditsql: pid {daemon.pid} \((auditd|\?)\) tried to register as the audit daemon and the kernel "
        r"refused it: auditsql holds the kernel's audit socket \(unicast\)\. To run auditd, stop auditsql, "
        r"start auditd, then auditsql \(auto then reads by multicast beside it\)"
    )
    wait_for(lambda: any(pattern.fullmatch(ln) for ln in run.stderr()), what="the refused-daemon line")
    workload(f"{lk.key}-u", 5, 5, port)
    wait_for(lambda: exec_rows(run, f"{lk.key}-u") == 5 and connect_rows(run, port) == 5, what="rows after")
    assert stop(run.proc) == 0
    assert _status_now() == lk.status


def test_rules_deleted_and_audit_disabled_by_others_are_put_back(
    live_kernel: LiveKernel, audit_snapshot: AuditSnapshot, server: socket.socket
) -> None:
    """What ``augenrules --load`` (``-D`` first) and ``auditctl -e 0`` do to a running auditsql."""
    lk = live_kernel
    port = server.getsockname()[1]
    run = start_run(lk, {}, "--source", "unicast", name="guard")
    mine = auditctl_rules()  # under the kernel-test lock every rule is auditsql's
    assert [r for r in BUILTIN_RULES if r in mine] == BUILTIN_RULES
    assert f"-a never,exit -S all -F pid={run.proc.pid}" in mine

    assert auditctl("-D").returncode == 0
    wait_for(lambda: sorted(auditctl_rules()) == sorted(mine), what="the rules to come back")
    readded = re.compile(
        rf"auditsql: (\d+) of auditsql's {len(mine)} rules were deleted by someone else \(auditctl -D, "
        r"augenrules --load\?\); re-added"
    )

    def readded_total() -> int:
        return sum(int(m.group(1)) for ln in run.stderr() if (m := readded.fullmatch(ln)))

    # one line per check that found rules missing: usually one, two if -D straddled a check
    wait_for(lambda: readded_total() == len(mine), what="the re-added line")
    workload(f"{lk.key}-d", 4, 4, port)
    wait_for(
        lambda: exec_rows(run, f"{lk.key}-d") == 4 and connect_rows(run, port) == 4, what="rows after -D"
    )

    assert auditctl("-e", "0").returncode == 0
    wait_for(lambda: _status_now()["enabled"] == 1, what="audit to be enabled again")
    enabled = "auditsql: audit was disabled (enabled 0) by someone else; auditsql set it back to 1 (0 again at exit)"
    wait_for(lambda: enabled in run.stderr(), what="the re-enabled line")
    workload(f"{lk.key}-e", 4, 4, port)
    wait_for(
        lambda: exec_rows(run, f"{lk.key}-e") == 4 and connect_rows(run, port) == 8, what="rows after -e 0"
    )

    assert stop(run.proc) == 0
    assert [r for r in auditctl_rules() if r in mine] == []
    assert _status_now() == lk.status
    assert readded_total() == len(mine)
    assert run.stderr().count(enabled) == 1

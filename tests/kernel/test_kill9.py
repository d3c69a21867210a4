"""``kill -9`` of ``auditsql run`` during 500 exec/s (issue 13, item 3): nothing the kernel audited is lost.

The raw-frame journal (auditsql.kernel.journal) holds every record the reader took off the socket; the socket
keeper (auditsql.kernel.keeper) holds the registered socket while no agent runs and journals what comes; the
next start takes the socket over and replays the journal from the position the store committed. The generator
logs each child's pid; the store must hold every one of its execs, once, with no serial gap: an exact
comparison by pid and path. The kernel's multicast stream is the witness of what it audited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel import test_live
from tests.kernel.test_live import AUDITSQL, LiveKernel, _status_now, wait_for
from tests.kernel.test_loss import SERIAL, cause_totals
from tests.kernel.test_run import Run, keeper_of, launch
from tests.kernel.test_stop import Witness

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

TRUE = os.path.realpath("/bin/true")

GENERATOR = """
import os, sys, time
rate, seconds, log = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
exe = sys.argv[4]
with open(log, "w", buffering=1) as out:
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        pid = os.posix_spawn(exe, [exe], {})
        out.write(f"{pid} {time.monotonic():.6f}\\n")
        n += 1
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
"""


def generator(rate: float, seconds: float, log: Path) -> subprocess.Popen[bytes]:
    """Execs ``/bin/true`` at ``rate`` per second for ``seconds``; logs ``pid monotonic-time`` per child."""
    return subprocess.Popen(
        [sys.executable, "-c", GENERATOR, str(rate), str(seconds), str(log), TRUE], stdin=subprocess.DEVNULL
    )


def setup(lk: LiveKernel, name: str, more: str = "") -> tuple[Path, Path, Path]:
    """The rules (execve, the test's key), the configuration and the state file of a run; its store."""
    rules = lk.tmp / f"{name}.rules"
    rules.write_text(f"-a always,exit -F arch=b64 -S execve -F key={lk.key}\n")
    rules.chmod(0o600)
    cfg = lk.tmp / f"{name}.toml"
    state = lk.state_file(name)
    cfg.write_text(
        f"[kernel]\nstate_file = '{state}'\nrules = '{rules}'\n{more}"
        f"[status]\nstats_file = '{lk.tmp / (name + '.stats')}'\n"
    )
    return cfg, state, lk.tmp / name / "auditsql.db"


def vm_rss(pid: int) -> int:
    """A process's resident set, KiB."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:"))


def gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def exec_log(log: Path) -> list[tuple[int, float]]:
    out = []
    for line in log.read_text().splitlines():
        pid, at = line.split()
        out.append((int(pid), float(at)))
    return out


def stored_execs(run: Run) -> list[int]:
    return [pid for pid, path in run.query("SELECT pid, path FROM process_events") if path == TRUE]


def kill_and_restart(
    lk: LiveKernel, name: str, pause: float, seconds: float = 6.0, kill_at: float = 2.5
) -> tuple[Run, list[tuple[int, float]], int, set[int], str, float]:
    """A run killed ``kill_at`` s into ``seconds`` of 500 exec/s, restarted ``pause`` s later, stopped once the
    load is over: (the second run, the generator's execs, the keeper's pid, the serials the kernel audited,
    the second run's take-over line, when it was killed)."""
    cfg, state, db = setup(lk, name)
    log = lk.tmp / f"{name}.log"
    witness = Witness(lk.key)
    load = None
    try:
        first = launch(lk, f"{name}-1", cfg, state, ["--source", "unicast"], db=db)
        keeper = keeper_of(first)
        load = generator(500, seconds, log)
        time.sleep(kill_at)
        killed_at = time.monotonic()
        first.proc.kill()
        first.proc.wait(15)
        assert _status_now()["pid"] == keeper  # the registration outlives the agent
        time.sleep(pause)
        rss = vm_rss(keeper)
        second = launch(lk, f"{name}-2", cfg, state, ["--source", "unicast"], db=db)
        assert _status_now()["pid"] == keeper  # the same keeper, the same socket: never unregistered
        load.wait(30)
        time.sleep(1.0)
        second.proc.send_signal(signal.SIGTERM)
        code = second.proc.wait(30)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(10)
        seen = witness.close()
    assert code == 0, second.stderr()
    assert not [ln for ln in second.stderr() if "Traceback" in ln or "failed" in ln], second.stderr()
    took = [ln for ln in second.stderr() if "took over the socket keeper" in ln]
    assert len(took) == 1, second.stderr()
    assert f"(pid {keeper})" in took[0] and "kept, 1 added, 1 deleted" in took[0], took[0]
    wait_for(lambda: gone(keeper), what="the keeper to exit with the agent's clean stop")
    assert _status_now() == lk.status
    assert not lk.our_rules()
    assert not state.exists()
    print(f"\nthe keeper's RSS after {pause:g} s of draining: {rss / 1024:.1f} MiB")
    return second, exec_log(log), keeper, seen, took[0], killed_at


def check_every_exec_stored(second: Run, execs: list[tuple[int, float]], seen: set[int]) -> None:
    """Every exec of the generator stored, once; every execve the kernel audited stored; no serial gap,
    nothing lost."""
    stored = stored_execs(second)
    assert len(stored) == len(set(stored))  # nothing twice
    assert sorted({pid for pid, _ in execs} - set(stored)) == []
    stored_serials = {
        s for (s,) in second.query(f"SELECT {SERIAL} FROM audit_events WHERE syscall = 'execve'")
    }
    assert sorted(s for s in seen if s not in stored_serials) == []
    totals = cause_totals(second)
    assert totals.get("serial_gap", 0) == 0, totals
    assert totals.get("kernel_lost", 0) == 0, totals
    assert totals.get("journal_torn", 0) == 0, totals


def test_kill9_during_500_exec_per_second_loses_no_exec(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    second, execs, _keeper, seen, took, _ = kill_and_restart(lk, "kill9", pause=0.0)
    assert len(execs) > 2500
    check_every_exec_stored(second, execs, seen)
    replay = [ln for ln in second.stderr() if "journal: replayed" in ln]
    assert len(replay) == 1, second.stderr()
    print(
        f"\nkill -9 at 500 exec/s: {len(execs)} execs, all stored once; {took.split('auditsql: ')[-1]}; {replay[0]}"
    )


def test_the_keeper_journals_what_comes_while_no_agent_runs(live_kernel: LiveKernel) -> None:
    """The agent killed, nothing runs for 2 s: the keeper drains the socket into the journal (1,000 execs,
    about 6,000 records), and the next start replays them."""
    lk = live_kernel
    second, execs, _keeper, seen, took, killed_at = kill_and_restart(
        lk, "drain", pause=2.0, seconds=5.0, kill_at=1.5
    )
    check_every_exec_stored(second, execs, seen)
    journaled = int(took.split("it journaled ")[1].split()[0])
    during = [pid for pid, at in execs if killed_at < at < killed_at + 2.0]
    assert len(during) > 900
    print(f"\nkill -9, 2 s without an agent: {len(during)} execs meanwhile; {took.split('auditsql: ')[-1]}")
    assert journaled > 4 * len(during)  # an exec is about 6 records (SYSCALL, EXECVE, CWD, PATHs, PROCTITLE)


def test_a_keeper_whose_agent_does_not_return_restores_the_kernel(live_kernel: LiveKernel) -> None:
    """``keeper_seconds = 1``: a second after the kill the keeper unregisters, undoes the killed run's changes
    and exits; what it journaled is replayed by the next start, which starts a keeper of its own."""
    lk = live_kernel
    cfg, state, db = setup(lk, "stale", "keeper_seconds = 1\n")
    log = lk.tmp / "stale.log"
    first = launch(lk, "stale-1", cfg, state, ["--source", "unicast"], db=db)
    keeper = keeper_of(first)
    load = generator(200, 3.0, log)
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        first.proc.kill()
        first.proc.wait(15)
        wait_for(lambda: gone(keeper), what="the keeper to give up")
        gave_up = time.monotonic()
        load.wait(30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(10)
    assert gave_up - killed_at < 8.0  # 1 s, and the restore (slower on a loaded machine)
    assert _status_now() == lk.status, first.stderr()  # unregistered, rules deleted, knobs as found
    assert not lk.our_rules()
    assert not state.exists()
    assert not (db.parent / "auditsql.db.journal" / "keeper.sock").exists()
    second = launch(lk, "stale-2", cfg, state, ["--source", "unicast"], db=db)
    assert keeper_of(second) != keeper
    assert not [ln for ln in second.stderr() if "took over" in ln]
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(30) == 0, second.stderr()
    replay = [ln for ln in second.stderr() if "journal: replayed" in ln]
    assert len(replay) == 1, second.stderr()
    stored = set(stored_execs(second))
    execs = exec_log(log)
    # every exec until the keeper gave up, but those of its last 0.2 s (it may not have read them)
    assert sorted(pid for pid, at in execs if at < killed_at + 0.8 and pid not in stored) == []
    assert not [pid for pid, at in execs if at > gave_up + 0.2 and pid in stored]  # no rules: not audited


def test_a_stale_keeper_socket_is_replaced(live_kernel: LiveKernel) -> None:
    """A keeper's socket left without its process (a reboot of /run aside: SIGKILL of the keeper itself)."""
    import socket as _socket

    lk = live_kernel
    cfg, state, db = setup(lk, "leftover")
    jdir = db.parent / "auditsql.db.journal"
    jdir.mkdir(parents=True, mode=0o700)
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET) as s:
        s.bind(str(jdir / "keeper.sock"))  # bound, never listening, closed: connect is refused
    run = launch(lk, "leftover", cfg, state, ["--source", "unicast"], db=db)
    keeper = keeper_of(run)
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.stderr()
    wait_for(lambda: gone(keeper), what="the keeper to exit")
    assert _status_now() == lk.status


def test_ctl_restore_stops_a_draining_keeper(live_kernel: LiveKernel) -> None:
    """``auditsql ctl --restore FILE`` after a kill: the keeper unregisters itself and exits, then the killed
    run's changes are undone (the kernel refuses anyone else's ``AUDIT_SET pid 0`` while the keeper lives)."""
    lk = live_kernel
    cfg, state, db = setup(lk, "ctl")
    run = launch(lk, "ctl", cfg, state, ["--source", "unicast"], db=db)
    keeper = keeper_of(run)
    run.proc.kill()
    run.proc.wait(15)
    res = subprocess.run(
        [*AUDITSQL, "ctl", "--restore", str(state)], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == f"socket keeper pid {keeper} stopped (it unregistered)"
    wait_for(lambda: gone(keeper), what="the keeper to exit")
    assert _status_now() == lk.status
    assert not lk.our_rules()
    assert not state.exists()

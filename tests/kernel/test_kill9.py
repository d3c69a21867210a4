"""``kill -9`` of ``auditsql run`` during 500 exec/s (issue 13, item 3): nothing it had read is lost.

The raw-frame journal (auditsql.kernel.journal) holds every record the reader took off the socket; the next
start replays it from the position the store committed. The generator logs each child's pid and when it
started it; the store must hold every exec the kernel handed to the killed run, and every exec after the
next run registered: an exact comparison by pid and path. What the kernel audited in between (no daemon
registered) goes to its hold queue only when it was booted with ``audit=1``; the test measures how much of it
arrives, with the kernel's multicast stream as the witness, and prints it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kernel import test_live
from tests.kernel.test_live import LiveKernel, _status_now
from tests.kernel.test_loss import SERIAL
from tests.kernel.test_run import launch
from tests.kernel.test_stop import Witness

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

TRUE = os.path.realpath("/bin/true")
#: an exec this long before the kill was read by then (the reader sleeps 2 ms between batches)
READ_BY = 0.1

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


def test_kill9_during_500_exec_per_second_loses_nothing_it_had_read(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    rules = lk.tmp / "kill9.rules"
    rules.write_text(f"-a always,exit -F arch=b64 -S execve -F key={lk.key}\n")
    rules.chmod(0o600)
    cfg = lk.tmp / "kill9.toml"
    state = lk.state_file("kill9")
    cfg.write_text(f"[kernel]\nstate_file = '{state}'\nrules = '{rules}'\n")
    db = lk.tmp / "kill9" / "auditsql.db"
    log = lk.tmp / "generator.log"
    witness = Witness(lk.key)
    load = None
    try:
        first = launch(lk, "first", cfg, state, ["--source", "unicast"], db=db)
        load = generator(500, 6.0, log)
        time.sleep(2.5)  # well past batch_seconds: without the journal the last second is lost
        killed_at = time.monotonic()
        first.proc.kill()
        first.proc.wait(15)
        second = launch(lk, "second", cfg, state, ["--source", "unicast"], db=db)
        registered_at = time.monotonic()  # an upper bound: it said "running" after registering
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
    replay = [ln for ln in second.stderr() if "journal: replayed" in ln]
    assert len(replay) == 1, second.stderr()

    execs = []
    for line in log.read_text().splitlines():
        pid, at = line.split()
        execs.append((int(pid), float(at)))
    assert len(execs) > 2500
    stored = {pid for pid, path in second.query("SELECT pid, path FROM process_events") if path == TRUE}
    before = {pid for pid, at in execs if at < killed_at - READ_BY}
    after = {pid for pid, at in execs if at > registered_at + READ_BY}
    gap = {pid for pid, _ in execs} - before - after
    last = {pid for pid, at in execs if killed_at - READ_BY <= at < killed_at}  # the kill may cut these
    # every exec the killed run had read, and every exec after the next one registered: stored
    assert sorted(before - stored) == []
    assert sorted(after - stored) == []
    assert len(before) > 1000 and len(after) > 1000
    # nothing twice
    rows = second.query("SELECT pid FROM process_events WHERE path = ?", TRUE)
    assert len(rows) == len({r[0] for r in rows})

    # the gap: audited while no daemon was registered (the kernel's hold queue), or not audited at all
    # (between the next start's restore of the crashed run's rules and its own)
    stored_serials = {
        s for (s,) in second.query(f"SELECT {SERIAL} FROM audit_events WHERE syscall = 'execve'")
    }
    audited_unstored = sorted(s for s in seen if s not in stored_serials)
    print(
        f"\nkill -9 at 500 exec/s: {len(before)} execs before the kill all stored, {len(after)} after the "
        f"restart all stored; in the {READ_BY:g} s before the kill {len(last & stored)} of {len(last)} stored; "
        f"in the {registered_at - killed_at + 2 * READ_BY:.2f} s gap {len(gap & stored)} of {len(gap)} stored; "
        f"the kernel audited {len(audited_unstored)} execs that were not stored (witness overruns "
        f"{witness.overruns}); {replay[0]}"
    )
    assert _status_now() == lk.status
    assert not lk.our_rules()

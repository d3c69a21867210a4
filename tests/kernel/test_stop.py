"""Nothing audited is lost at a stop (issue 13, items 1 and 2), with the kernel's own multicast stream as the
witness: every execve the kernel audited under auditsql's rules is in its store, whether the stop is a
SIGTERM to auditsql or to its whole process group (a container runtime, ``timeout``, job control).

A stop deletes the rules first, reads until the kernel's queue is empty, and only then stops the reader and
unregisters (agent.drain_kernel): what the kernel audited in between would otherwise go to no daemon."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.kernel import test_live
from tests.kernel.test_live import LiveKernel, _status_now
from tests.kernel.test_loss import SERIAL
from tests.kernel.test_run import launch

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: AUDIT_NLGRP_READLOG, as a bind() group mask
READLOG = 1
SYSCALL = 1300
HEADER = re.compile(rb"audit\(\d+\.\d+:(\d+)\)")


class Witness:
    """A multicast reader of the kernel's audit stream: the serials of the SYSCALL records with ``key``."""

    def __init__(self, key: str) -> None:
        self.key = f'key="{key}"'.encode()
        self.serials: set[int] = set()
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, READLOG))
        self.sock.settimeout(0.1)
        self.done = threading.Event()
        self.overruns = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.done.is_set():
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:  # ENOBUFS: the witness itself fell behind (the test then says so)
                self.overruns += 1
                continue
            msg_type = int.from_bytes(data[4:6], sys.byteorder)
            payload = data[16:]
            if msg_type == SYSCALL and self.key in payload:
                m = HEADER.search(payload)
                if m:
                    self.serials.add(int(m.group(1)))

    def close(self) -> set[int]:
        self.done.set()
        self.thread.join(5)
        self.sock.close()
        return self.serials


def exec_load(seconds: float) -> subprocess.Popen[bytes]:
    """/bin/true as fast as one process starts it, for ``seconds``."""
    code = (
        "import subprocess, sys, time\n"
        "end = time.monotonic() + float(sys.argv[1])\n"
        "while time.monotonic() < end:\n"
        "    subprocess.run(['/bin/true'])\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(seconds)], stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("whom", ["process", "group"])
def test_every_event_audited_under_auditsqls_rules_is_stored_at_a_stop(
    live_kernel: LiveKernel, whom: str
) -> None:
    lk = live_kernel
    rules = lk.tmp / "stop.rules"
    rules.write_text(f"-a always,exit -F arch=b64 -S execve -F key={lk.key}\n")
    rules.chmod(0o600)
    witness = Witness(lk.key)
    load = exec_load(4.0)
    try:
        cfg = lk.tmp / f"{whom}.toml"
        state = lk.state_file(whom)
        cfg.write_text(f"[kernel]\nstate_file = '{state}'\nrules = '{rules}'\n")
        # "group": its own process group, as under a container runtime or `timeout`
        run = launch(lk, whom, cfg, state, ["--source", "unicast"], new_session=whom == "group")
        time.sleep(1.5)
        if whom == "group":
            os.killpg(os.getpgid(run.proc.pid), signal.SIGTERM)
        else:
            run.proc.send_signal(signal.SIGTERM)
        code = run.proc.wait(30)
        time.sleep(1.0)  # the load goes on past the stop: nothing more may be audited under its rules
    finally:
        load.wait(30)
        seen = witness.close()
    assert code == 0, run.stderr()
    assert not [ln for ln in run.stderr() if "Traceback" in ln or "failed" in ln]
    assert witness.overruns == 0
    stored = {s for (s,) in run.query(f"SELECT {SERIAL} FROM audit_events WHERE syscall = 'execve'")}
    assert len(stored) > 100
    # from the first event it stored to the stop, every event the kernel audited under its rules is stored
    missing = sorted(s for s in seen if s >= min(stored) and s not in stored)
    assert missing == []
    # and after the stop none was audited: its rules went before its reader
    assert max(seen) == max(stored)
    assert _status_now() == lk.status
    assert not lk.our_rules()

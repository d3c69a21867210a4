"""Connections on the real kernel under ``auditsql run``: accept rows with the listening port (a server bound
after start, a pre-fork worker, a server listening before start: the /proc seed), non-blocking connects to a
listener and to a closed port (both ``in_progress``: audit never sees the outcome), and UDP sends with
``[tables] udp_sends``.

The ``live_kernel`` fixture (tests/kernel/test_live.py) holds the kernel-test lock, stops only the processes
this test started and checks the kernel is left as found.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_live import LiveKernel, _status_now, stop, wait_for
from tests.kernel.test_run import ours, start_run

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel
PYTHON = os.path.realpath(sys.executable)
UDP_RULES = [
    "-a always,exit -F arch=b64 -S sendto,sendmsg -F key=auditsql_udp",
    "-a always,exit -F arch=b32 -S sendto,sendmsg -F key=auditsql_udp",
]

#: one process doing everything; prints one JSON object of facts
ACTOR = r"""
import json, os, socket, sys, time
facts = {"pid": os.getpid()}
closed = int(sys.argv[1])
# a server bound after auditsql started, a non-blocking client to it, the accept
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
port = srv.getsockname()[1]
c = socket.socket(); c.setblocking(False)
facts["nb_listener"] = c.connect_ex(("127.0.0.1", port))
conn, peer = srv.accept()
facts.update(port=port, srv_fd=srv.fileno(), client_fd=c.fileno(), client_port=peer[1], conn_fd=conn.fileno())
# a non-blocking connect to a closed port: also EINPROGRESS on loopback; the refusal comes later
d = socket.socket(); d.setblocking(False)
facts["nb_closed"] = d.connect_ex(("127.0.0.1", closed))
facts["closed_fd"] = d.fileno()
time.sleep(0.05)
facts["closed_so_error"] = d.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
# a pre-fork worker: the child accepts on the descriptor its parent bound
w = socket.socket(); w.bind(("127.0.0.1", 0)); w.listen(8)
wport = w.getsockname()[1]
child = os.fork()
if child == 0:
    cc, _ = w.accept(); cc.close(); os._exit(0)
k = socket.socket(); k.connect(("127.0.0.1", wport))
facts.update(wport=wport, w_fd=w.fileno(), worker=child, worker_peer=k.getsockname()[1], k_fd=k.fileno())
os.waitpid(child, 0)
# UDP: sendto with an address (a row), then connect + send (no address: no row), sendmsg with an address
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"a", ("127.0.0.1", closed)); u.connect(("127.0.0.1", closed)); u.send(b"b")
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.sendmsg([b"c"], [], 0, ("::1", closed))
facts.update(udp_fd=u.fileno(), udp6_fd=v.fileno())
print(json.dumps(facts), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connections_under_run(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    closed = free_port()
    # a server listening before auditsql starts: its accept gets the port from the /proc seed
    early = socket.socket()
    early.bind(("127.0.0.1", 0))
    early.listen(4)
    early_port, early_fd = early.getsockname()[1], early.fileno()
    run = start_run(lk, "[tables]\nudp_sends = true\n", "--source", "unicast")
    try:
        assert [r for r in auditctl_rules() if "auditsql_udp" in r] == UDP_RULES
        client = socket.create_connection(("127.0.0.1", early_port))
        conn, peer = early.accept()
        for s in (conn, client):
            s.close()
        res = subprocess.run(
            [sys.executable, "-c", ACTOR, str(closed)],
            capture_output=True,
            timeout=30,
            check=True,
            cwd=lk.tmp,
        )
        f = json.loads(res.stdout)
        pid = f["pid"]

        def stored() -> bool:
            n = run.query("SELECT count(*) FROM socket_events WHERE pid IN (?, ?)", pid, f["worker"])[0][0]
            return n >= 10

        wait_for(stored, timeout=20, what="the socket rows")
        me = run.query(
            "SELECT action, fd, status, local_address, local_port, remote_address, remote_port, process_start "
            "FROM socket_events WHERE pid = ? AND action = 'accept'",
            os.getpid(),
        )
    finally:
        early.close()
    assert stop(run.proc) == 0
    assert [r for r in auditctl_rules() if "auditsql_udp" in r] == []
    assert ours(auditctl_rules(), run.proc.pid) == ours(lk.rules)
    assert _status_now() == lk.status

    assert (f["nb_listener"], f["nb_closed"], f["closed_so_error"]) == (115, 115, 111)
    lo = "127.0.0.1"
    (early_row,) = me
    assert early_row[:7] == ("accept", str(early_fd), "succeeded", lo, early_port, lo, peer[1])
    rows = run.query(
        "SELECT action, fd, status, local_address, local_port, remote_address, remote_port, exit_code, errno, "
        "protocol FROM socket_events WHERE pid = ? ORDER BY eid",
        pid,
    )
    port, wport = f["port"], f["wport"]
    assert rows == [
        ("bind", str(f["srv_fd"]), "succeeded", lo, 0, None, None, 0, None, None),
        ("connect", str(f["client_fd"]), "in_progress", None, None, lo, port, -115, "EINPROGRESS", None),
        # the bind said port 0 (the kernel chose it): the listening port of this accept is not known
        ("accept", str(f["srv_fd"]), "succeeded", None, None, lo, f["client_port"], f["conn_fd"], None, None),
        ("connect", str(f["closed_fd"]), "in_progress", None, None, lo, closed, -115, "EINPROGRESS", None),
        ("bind", str(f["w_fd"]), "succeeded", lo, 0, None, None, 0, None, None),
        ("connect", str(f["k_fd"]), "succeeded", None, None, lo, wport, 0, None, None),
        ("sendto", str(f["udp_fd"]), "succeeded", None, None, lo, closed, 1, None, None),
        ("connect", str(f["udp_fd"]), "succeeded", None, None, lo, closed, 0, None, None),
        ("sendmsg", str(f["udp6_fd"]), "succeeded", None, None, "::1", closed, 1, None, None),
    ]
    worker = run.query(
        "SELECT action, fd, status, local_port, remote_port FROM socket_events WHERE pid = ?", f["worker"]
    )
    assert worker == [("accept", str(f["w_fd"]), "succeeded", None, f["worker_peer"])]
    # the process tree knows these processes: rows link to it
    starts = run.query("SELECT DISTINCT process_start IS NOT NULL FROM socket_events WHERE pid = ?", pid)
    assert starts == [(1,)]
    assert run.query(
        "SELECT count(*) FROM socket_events s JOIN process_tree t ON t.pid = s.pid AND t.process_start = s.process_start "
        "WHERE s.pid = ?",
        pid,
    ) == [(len(rows),)]


def test_fixed_port_server_and_its_pre_fork_worker(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    port = free_port()
    code = (
        "import os, socket, sys, json\n"
        "w = socket.socket(); w.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"w.bind(('0.0.0.0', {port})); w.listen(8)\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    c, _ = w.accept(); c.close(); os._exit(0)\n"
        f"k = socket.create_connection(('127.0.0.1', {port}))\n"
        "os.waitpid(child, 0)\n"
        "print(json.dumps({'pid': os.getpid(), 'worker': child, 'fd': w.fileno(), 'peer': k.getsockname()[1]}))\n"
    )
    run = start_run(lk, "", "--source", "unicast")
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=30, check=True, cwd=lk.tmp
    )
    f = json.loads(res.stdout)

    def stored() -> bool:
        return bool(run.query("SELECT 1 FROM socket_events WHERE pid = ? AND action = 'accept'", f["worker"]))

    wait_for(stored, timeout=20, what="the worker's accept row")
    assert stop(run.proc) == 0
    assert _status_now() == lk.status
    assert run.query(
        "SELECT action, fd, local_address, local_port, remote_address, remote_port FROM socket_events "
        "WHERE pid IN (?, ?) AND action IN ('bind', 'accept') ORDER BY eid",
        f["pid"],
        f["worker"],
    ) == [
        ("bind", str(f["fd"]), "0.0.0.0", port, None, None),
        # the worker's accept: the port its parent bound; the wildcard is not the connection's address
        ("accept", str(f["fd"]), None, port, "127.0.0.1", f["peer"]),
    ]

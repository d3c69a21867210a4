"""The ECS event stream on the real kernel, through ``auditsql run`` with the process tree: a parent forks, its
child execs, makes two socket calls and exits. Every document of each process (fork, exec, socket calls,
exit_group) carries one ``process.entity_id`` (the recipe of docs/outputs.md over the tree's start time) and its
parent's (``process.parent.entity_id``); the child's carry the parent's executable and exact arguments; user and
group names are exact.

Etiquette as in tests/kernel/test_run.py: the ``live_kernel`` fixture holds the kernel-test lock, stops the
processes the test started by pid, and checks that the kernel is back as found.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from auditsql.outputs.ecs import machine_id
from tests.kernel import test_live
from tests.kernel.test_live import LiveKernel, wait_for
from tests.kernel.test_proctree import finish
from tests.kernel.test_run import start_run

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: the child: bind and connect (socket_events rows: the tree's start of the child), then exit
CHILD = "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.connect_ex(('127.0.0.1', int(sys.argv[1])))"
#: the parent: fork; the child execs python3 CHILD; the parent waits
PARENT = (
    "import os, sys; pid = os.fork(); "
    "os.execv(sys.executable, ['python3', '-c', sys.argv[1], sys.argv[2], sys.argv[3]]) if pid == 0 else None; "
    "print(pid, flush=True); os.waitpid(pid, 0)"
)


def expected_entity_id(key: str, pid: int, start: float) -> str:
    """docs/outputs.md's recipe, written out again."""
    return hashlib.sha256(key.encode() + struct.pack("<qq", pid, round(start * 1000) * 1_000_000)).hexdigest()


def iso_ms(t: float) -> str:
    ms = round(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@pytest.mark.parametrize(
    ("tree_source", "parent_calls", "child_calls"),
    [
        # forks and exits audited: their documents carry the ids too
        ("audit", ["clone", "execve", "exit_group"], ["bind", "connect", "execve", "exit_group"]),
        # the defaults: forks and exits from the proc connector are no events
        ("auto", ["execve"], ["bind", "connect", "execve"]),
    ],
)
def test_fork_exec_documents_carry_tree_fields(
    live_kernel: LiveKernel, tree_source: str, parent_calls: list[str], child_calls: list[str]
) -> None:
    lk = live_kernel
    events = lk.tmp / "events.jsonl"
    config = (
        f'[tables]\nprocess_tree = true\ntree_source = "{tree_source}"\n'
        f'[output.events]\nenabled = true\npath = "{events}"\nformat = "ecs"\n'
    )
    run = start_run(lk, config, "--source", "unicast")
    marker = f"ecs-{uuid.uuid4().hex[:8]}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    parent = lk.start([sys.executable, "-c", PARENT, CHILD, str(port), marker], stdout=subprocess.PIPE)
    out, _ = parent.communicate(timeout=20)
    listener.close()
    assert parent.returncode == 0
    child = int(out.split()[0])

    def docs() -> list[dict]:
        if not events.exists():
            return []
        lines = events.read_text().rpartition("\n")[0].splitlines()
        return [d for d in map(json.loads, lines) if d.get("process", {}).get("pid") in (parent.pid, child)]

    def child_connect() -> list[dict]:
        ds = docs()
        return (
            ds
            if any(d["process"]["pid"] == child and d["event"].get("action") == "connected-to" for d in ds)
            else []
        )

    wait_for(child_connect, timeout=30, what="the child's connect in the event stream")
    finish(lk, run)
    ds = docs()  # all of them, now that the run has drained its outputs

    me = os.getpid()
    starts = dict(
        run.query(
            "SELECT pid, process_start FROM process_tree WHERE pid IN (?, ?, ?) AND process_start = "
            "(SELECT max(process_start) FROM process_tree t WHERE t.pid = process_tree.pid)",
            parent.pid,
            child,
            me,
        )
    )
    assert set(starts) == {parent.pid, child, me}
    host_key = machine_id() or ds[0]["host"]["name"]
    my_id = expected_entity_id(host_key, me, starts[me])
    parent_id = expected_entity_id(host_key, parent.pid, starts[parent.pid])
    child_id = expected_entity_id(host_key, child, starts[child])
    assert len({my_id, parent_id, child_id}) == 3
    if machine_id():
        assert {d["host"]["id"] for d in ds} == {machine_id()}

    def syscalls(pid: int) -> list[str]:
        return sorted(d["auditd"]["data"]["syscall"] for d in ds if d["process"]["pid"] == pid)

    # every document of the parent and of the child, the fork and the exits included, carries its process's id
    # and its parent's: the parent's fork of the child, both execs, the child's socket calls, both exit_groups
    assert syscalls(parent.pid) == parent_calls
    assert syscalls(child) == child_calls
    for d in ds:
        pid = d["process"]["pid"]
        ppid = me if pid == parent.pid else parent.pid
        want = (
            expected_entity_id(host_key, pid, starts[pid]),
            expected_entity_id(host_key, ppid, starts[ppid]),
        )
        assert (d["process"]["entity_id"], d["process"]["parent"]["entity_id"]) == want, d
        assert (d["process"]["start"], d["process"]["parent"]["start"]) == (
            iso_ms(starts[pid]),
            iso_ms(starts[ppid]),
        )

    by = {(d["process"]["pid"], d["event"].get("action")): d for d in ds}
    exe = os.path.realpath(sys.executable)
    # the parent's exec: its parent is this test process, seeded from /proc when the run started
    p_exec = by[(parent.pid, "executed")]["process"]
    assert p_exec["parent"]["pid"] == me
    assert p_exec["parent"]["executable"] == os.path.realpath(f"/proc/{me}/exe")
    my_args = Path(f"/proc/{me}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    assert p_exec["parent"]["args"] == my_args and p_exec["parent"]["args_count"] == len(my_args)
    # the child's documents: the parent's executable and arguments, exactly
    c_exec = by[(child, "executed")]["process"]
    assert c_exec["args"] == ["python3", "-c", CHILD, str(port), marker]
    parent_args = [sys.executable, "-c", PARENT, CHILD, str(port), marker]
    for d in ds:
        if d["process"]["pid"] == child:
            assert d["process"]["parent"] == {
                "pid": parent.pid,
                "entity_id": parent_id,
                "start": p_exec["start"],
                "executable": exe,
                "name": os.path.basename(exe),
                "args": parent_args,
                "args_count": 6,
                "command_line": " ".join(parent_args),
            }
    # names, exactly: this process's user and group (the child inherits them)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    for d in (by[(child, "executed")], by[(child, "connected-to")], by[(parent.pid, "executed")]):
        assert d["user"]["id"] == str(os.getuid()) and d["user"]["name"] == user
        assert d["group"] == {"id": str(os.getgid()), "name": group}
        assert d["user"]["group"] == {"id": str(os.getgid()), "name": group}
    # container.id: what the tree found in the child's cgroup (none on a host), never anything else
    ((cid,),) = run.query(
        "SELECT container_id FROM process_events WHERE pid = ? AND syscall = 'execve'", child
    )
    for d in ds:
        assert d.get("container") == ({"id": cid} if cid else None)
    assert Path(events).stat().st_mode & 0o777 == 0o600

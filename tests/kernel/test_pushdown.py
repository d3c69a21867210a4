"""Pushdown on the real kernel: the same scheduled queries over the same workload return exactly the same rows
with ``[kernel] pushdown`` on and off, while the kernel stops sending the excluded events.

The workload (execs of ``/usr/bin/sed``, ``/bin/true``, ``/usr/bin/cat``, a failed exec, IPv4/IPv6/UNIX
connects) runs twice, once under ``auditsql run`` without pushdown and once with it; each run's results log is
compared column for column, and each store is checked for what the kernel cut.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from auditsql.query.pushdown import analyze, listing
from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_live import LiveKernel, stop, wait_for
from tests.kernel.test_run import Run, launch

pytestmark = pytest.mark.kernel

#: the live tests' fixture: kernel-test lock, processes stopped by pid, knobs, pid and rules checked after
live_kernel = test_live.live_kernel

N = 5  # rounds of the workload

WORKLOAD = r"""
import os, socket, subprocess, sys
marker, p4, p6, upath, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
for i in range(n):
    subprocess.run(["/usr/bin/sed", "-n", f"1p;# {marker}", "/dev/null"], check=True)
    subprocess.run(["/bin/true", marker, str(i)], check=True)
    subprocess.run(["/usr/bin/cat", "/dev/null", marker], stderr=subprocess.DEVNULL)  # exits 1, exec ok
    try:
        subprocess.run([f"/usr/bin/nonexistent-{marker}", str(i)])
    except FileNotFoundError:
        pass
    for fam, addr in ((socket.AF_INET, ("127.0.0.1", p4)), (socket.AF_INET6, ("::1", p6))):
        s = socket.socket(fam)
        s.connect(addr)
        s.close()
    u = socket.socket(socket.AF_UNIX)
    u.connect(upath)
    u.close()
"""


def _listeners(tmp: Path) -> tuple[list[socket.socket], int, int, str]:
    s4 = socket.socket(socket.AF_INET)
    s4.bind(("127.0.0.1", 0))
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    upath = str(tmp / "u.sock")
    su = socket.socket(socket.AF_UNIX)
    su.bind(upath)
    for s in (s4, s6, su):
        s.listen(64)
    return [s4, s6, su], s4.getsockname()[1], s6.getsockname()[1], upath


def _queries(work: Path, marker: str, p4: int, p6: int) -> dict[str, str]:
    return {
        "execs": f"SELECT path, cmdline, status, errno FROM process_events "
        f"WHERE path != '/usr/bin/sed' AND uid = 0 AND cwd = '{work}'",
        "few": f"SELECT path, cmdline FROM process_events "
        f"WHERE path NOT IN ('/usr/bin/sed', '/usr/bin/cat') AND cmdline LIKE '%{marker}%'",
        "connects": f"SELECT action, family, remote_address, remote_port, status FROM socket_events "
        f"WHERE action = 'connect' AND family = 2 AND remote_port IN ({p4}, {p6})",
    }


def _start(lk: LiveKernel, name: str, queries: dict[str, str], pushdown: bool) -> Run:
    """``auditsql run`` (unicast) with the queries every second, include_failed_execs, pushdown on or off."""
    cfg = lk.tmp / f"{name}.toml"
    state = lk.state_file(name)
    text = (
        f"[kernel]\nsource = 'unicast'\nstate_file = '{state}'\npushdown = {str(pushdown).lower()}\n"
        f"[tables]\ninclude_failed_execs = true\n"
        f"[status]\ninterval = 1\nstats_file = '{lk.tmp / (name + '.stats')}'\n"
    )
    for q, sql in queries.items():
        text += f"[schedule.{q}]\nquery = {json.dumps(sql)}\ninterval = 1\n"
    cfg.write_text(text)
    return launch(lk, name, cfg, state, ())


def _run_once(
    lk: LiveKernel, name: str, queries: dict[str, str], pushdown: bool, argv: list[str], work: Path
) -> tuple[Run, list[str], dict[str, list[str]]]:
    """Start, run the workload, wait for its rows, stop; (the run, the rules loaded, result rows per query)."""
    run = _start(lk, name, queries, pushdown)
    loaded = auditctl_rules()
    wl = subprocess.run(argv, cwd=work, capture_output=True, timeout=60, check=False)
    assert wl.returncode == 0, wl.stderr.decode()
    want = 3 * N + 1 if pushdown else 4 * N + 1  # python, true, cat, failed execs (and sed)

    def stored() -> bool:
        return run.query("SELECT count(*) FROM process_events WHERE cwd = ?", str(work))[0][0] >= want

    wait_for(stored, timeout=20, what="the workload's rows")
    assert stop(run.proc) == 0
    rows: dict[str, list[str]] = {q: [] for q in queries}
    for line in run.results_lines():
        rows[line["name"]].append(json.dumps(line["columns"], sort_keys=True))
    return run, loaded, {q: sorted(v) for q, v in rows.items()}


def test_pushdown_on_and_off_return_the_same_rows(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    marker = f"pd-{uuid.uuid4().hex[:10]}"
    work = lk.tmp / "work"
    work.mkdir()
    socks, p4, p6, upath = _listeners(lk.tmp)
    queries = _queries(work, marker, p4, p6)
    argv = [sys.executable, "-c", WORKLOAD, marker, str(p4), str(p6), upath, str(N)]
    try:
        off, off_rules, off_rows = _run_once(lk, "off", queries, False, argv, work)
        on, on_rules, on_rows = _run_once(lk, "on", queries, True, argv, work)
    finally:
        for s in socks:
            s.close()

    # the rows: exactly equal, and what the workload did
    assert on_rows == off_rows
    execs = [json.loads(r) for r in on_rows["execs"]]
    assert sorted((r["path"], r["status"]) for r in execs) == sorted(
        [(os.path.realpath(sys.executable), "succeeded")]  # the workload itself
        + [("/usr/bin/true", "succeeded")] * N
        + [("/usr/bin/cat", "succeeded")] * N
        + [(f"/usr/bin/nonexistent-{marker}", "failed")] * N
    )
    assert sorted(json.loads(r)["path"] for r in on_rows["few"]) == sorted(
        [os.path.realpath(sys.executable)] + ["/usr/bin/true"] * N
    )
    assert [json.loads(r) for r in on_rows["connects"]] == [
        {
            "action": "connect",
            "family": "2",
            "remote_address": "127.0.0.1",
            "remote_port": str(p4),
            "status": "succeeded",
        }
    ] * N

    # the kernel cut: no sed exec and no IPv6/UNIX connect reached the pushdown run's store
    def count(run, sql: str, *args: object) -> int:
        return run.query(sql, *args)[0][0]

    sed = "SELECT count(*) FROM process_events WHERE path = '/usr/bin/sed' AND cwd = ?"
    assert (count(off, sed, str(work)), count(on, sed, str(work))) == (N, 0)
    v6 = "SELECT count(*) FROM socket_events WHERE action = 'connect' AND remote_port = ?"
    assert (count(off, v6, p6), count(on, v6, p6)) == (N, 0)
    unix = "SELECT count(*) FROM socket_events WHERE action = 'connect' AND socket = ?"
    assert (count(off, unix, upath), count(on, unix, upath)) == (N, 0)

    # while running, the kernel had exactly the rules `auditsql explain` prints (auditctl lists exe!= as exe=)
    want = listing(analyze(list(queries.items()), include_failed_execs=True).rule_lines)
    want = [w.replace("-F exe!=", "-F exe=") for w in want]
    assert [r for r in on_rules if r in want] == want
    assert not [r for r in on_rules if "arch=b64 -S connect,accept,bind,execve" in r]
    assert [r for r in off_rules if "-F exe=" in r or "saddr_fam" in r] == []
    assert want == [
        "-a always,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/sed -F uid=0 -F success=1",
        "-a always,exit -F arch=b64 -S execve,execveat -F success=0",
        "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/cat -F success=1",
        "-a always,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/sed -F success=1",
        "-a always,exit -F arch=b64 -S connect -F saddr_fam=2",
        "-a always,exit -F arch=b32 -S execve,execveat -F exe=/usr/bin/sed -F uid=0 -F success=1",
        "-a always,exit -F arch=b32 -S execve,execveat -F success=0",
        "-a never,exit -F arch=b32 -S execve,execveat -F exe=/usr/bin/cat -F success=1",
        "-a always,exit -F arch=b32 -S execve,execveat -F exe=/usr/bin/sed -F success=1",
        "-a always,exit -F arch=b32 -S connect -F saddr_fam=2",
    ]


def test_explain_rules_load_on_this_kernel(live_kernel: LiveKernel) -> None:
    """Every rule kind explain can print loads here (exe!= since 4.x, saddr_fam, never rules with exe)."""
    from tests.kernel.conftest import auditctl

    lk = live_kernel
    key = lk.key
    lines = [
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed -F auid>=1000 -F success=1",
        "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/cat -F uid<1",
        "-a always,exit -F arch=b64 -S connect -F saddr_fam=10 -F ppid=1",
    ]
    added = []
    try:
        for line in lines:
            res = auditctl(*line.split(), "-F", f"key={key}")
            assert res.returncode == 0, (line, res.stderr)
            added.append(line)
        got = [r for r in auditctl_rules() if f"key={key}" in r]
        assert got == [f"{w.replace('-F exe!=', '-F exe=')} -F key={key}" for w in listing(lines)]
        # one exe field per rule: the kernel refuses a second (why pushdown writes never rules)
        two = [
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "execve",
            "-F",
            "exe!=/usr/bin/sed",
            "-F",
            "exe!=/usr/bin/cat",
        ]
        res = auditctl(*two, "-F", f"key={key}")
        assert res.returncode != 0 and "Invalid argument" in res.stderr
    finally:
        for line in added:
            auditctl("-d", *line.split()[1:], "-F", f"key={key}")
    assert [r for r in auditctl_rules() if f"key={key}" in r] == []

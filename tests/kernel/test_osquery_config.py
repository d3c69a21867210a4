"""An osquery configuration on the real kernel (issue 14): osquery's JSON (comments, string-typed numbers,
options, a decorator) with a scheduled ``process_events`` query whose ``WHERE path NOT IN (...)`` lists ten
binaries, and ``"kernel.pushdown": "true"``. The seed scenario - ``curl`` to a closed port - gives exactly one
exec row and one connect row in the results log, decorated as osquery decorates; the ten binaries, run with the
same marker, are in neither the results nor the store (the kernel's never-rules, as ``auditsql explain
--config`` shows them)."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from auditsql.tables import host
from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_e2e import free_port
from tests.kernel.test_live import AUDITSQL, LiveKernel, stop, wait_for
from tests.kernel.test_run import launch

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: binaries to exclude, with the arguments that make each one exit at once; the first ten with a canonical
#: path and one hard link are used (pushdown filters only such paths on exe; a tool like perf's build-id cache
#: may hard-link some of them)
CANDIDATES = {
    "cat": ["/dev/null", "{m}"],
    "date": ["+{m}"],
    "false": ["{m}"],
    "grep": ["{m}", "/dev/null"],
    "id": ["{m}"],
    "ls": ["/nonexistent-{m}"],
    "sed": ["-n", "1p;# {m}", "/dev/null"],
    "sleep": ["{m}"],
    "uname": ["{m}"],
    "whoami": ["{m}"],
    "head": ["-n0", "/dev/null", "{m}"],
    "tail": ["-n0", "/dev/null", "{m}"],
    "wc": ["/dev/null", "{m}"],
    "basename": ["/x/{m}"],
    "dirname": ["/x/{m}"],
    "echo": ["{m}"],
    "printf": ["{m}"],
    "nproc": ["{m}"],
}


def ten_binaries() -> list[str]:
    found = []
    for b in CANDIDATES:
        p = f"/usr/bin/{b}"
        if os.path.realpath(p) == p and os.stat(p).st_nlink == 1:
            found.append(b)
    if len(found) < 10:
        pytest.fail(f"fewer than ten of /usr/bin/{{{','.join(CANDIDATES)}}} have one hard link: {found}")
    return found[:10]


CONFIG = """{
  // osquery's shape, as an osquery user writes it
  "options": {
    "host_identifier": "specified",
    "specified_identifier": "osq-kernel",
    "schedule_splay_percent": "10",
    "watchdog_memory_limit": "350",
    "disable_events": "false",
    "audit_allow_sockets": true,
    /* auditsql's own keys ride along; osquery ignores them */
    "kernel.pushdown": "true",
    "kernel.source": "unicast",
    "kernel.state_file": "STATE",
    "status.interval": "1",
    "status.stats_file": "STATS",
  },
  "schedule": {
    "execs": {
      "query": "SELECT path, cmdline FROM process_events WHERE path NOT IN (TEN) AND cmdline LIKE '%MARKER%'",
      "interval": "1"
    },
    "connects": {
      "query": "SELECT action, path, remote_address, remote_port, status FROM socket_events WHERE action = 'connect' AND remote_port = PORT",
      "interval": 1,
      "removed": "false"
    },
    "mac_only": {"query": "SELECT * FROM launchd", "interval": 1, "platform": "darwin"}
  },
  "decorators": {"load": ["SELECT uuid AS host_uuid FROM system_info;"]}
}"""


def test_osquery_config_with_pushdown_runs_the_seed_scenario(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    TEN = ten_binaries()  # noqa: N806
    marker = f"osqk-{uuid.uuid4().hex[:10]}"
    port = free_port()  # closed: curl is refused
    state = lk.state_file("osq")
    ten = ", ".join(f"'/usr/bin/{b}'" for b in TEN)
    conf = lk.tmp / "osquery.conf"
    conf.write_text(
        CONFIG.replace("STATE", str(state))
        .replace("STATS", str(lk.tmp / "osq.stats"))
        .replace("TEN", ten)
        .replace("MARKER", marker)
        .replace("PORT", str(port))
    )

    # explain: the ten binaries are kernel rules (never-rules, and the always rule's own exe!=)
    res = subprocess.run(
        [*AUDITSQL, "explain", "--config", str(conf)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    rules = res.stdout.split("rules (auditctl -l form; auditctl 3.0.9 itself lists exe!= as exe=):\n")[1]
    # never-rules in path order; the last path is the always rule's own exe!= (one exe field a rule)
    *nine, last = sorted(TEN)
    want = []
    for arch in ("b64", "b32"):
        want += [f"-a never,exit -F arch={arch} -S execve,execveat -F exe=/usr/bin/{b}" for b in nine]
        want += [f"-a always,exit -F arch={arch} -S execve,execveat -F exe!=/usr/bin/{last}"]
        want += [f"-a always,exit -F arch={arch} -S connect"]
    assert rules.splitlines() == want
    assert res.stdout.splitlines()[:3] == [
        f"note: {conf}: 2 of 3 scheduled queries run here; 1 is for another platform (darwin): skipped",
        "note: decorators: 1 of 1 run here",
        "note: options ignored, auditsql has no worker process for a watchdog to restart; bound it with systemd "
        "(MemoryMax=, CPUQuota= in the unit): watchdog_memory_limit",
    ]

    run = launch(lk, "osq", conf, state)
    assert run.stderr()[:3] == [
        f"auditsql: {line.removeprefix('note: ')}" for line in res.stdout.splitlines()[:3]
    ]
    loaded = auditctl_rules()
    assert [r for r in loaded if "exe=/usr/bin/" in r and "never" in r] == [
        r for r in want if r.startswith("-a never")
    ]

    for b in TEN:
        argv = [a.replace("{m}", marker) for a in CANDIDATES[b]]
        subprocess.run([f"/usr/bin/{b}", *argv], capture_output=True, timeout=30, check=False)
    curl = ["/usr/bin/curl", "-s", "--max-time", "5", f"http://127.0.0.1:{port}/{marker}"]
    assert subprocess.run(curl, capture_output=True, timeout=30, check=False).returncode == 7  # refused

    def both() -> bool:
        return {d["name"] for d in run.results_lines()} == {"execs", "connects"}

    wait_for(both, timeout=20, what="the curl rows in the results log")
    assert stop(run.proc) == 0

    got = run.results_lines()
    for d in got:
        assert isinstance(d.pop("unixTime"), int) and d.pop("calendarTime").endswith(" UTC")
    common = {
        "hostIdentifier": "osq-kernel",
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "decorations": {"host_uuid": host.identity().uuid},
    }
    assert sorted(got, key=lambda d: d["name"]) == [
        {
            "name": "connects",
            **common,
            "columns": {
                "action": "connect",
                "path": "/usr/bin/curl",
                "remote_address": "127.0.0.1",
                "remote_port": str(port),
                "status": "in_progress",  # curl connects non-blocking (docs/connections.md)
            },
            "action": "added",
        },
        {
            "name": "execs",
            **common,
            "columns": {"cmdline": " ".join(curl), "path": "/usr/bin/curl"},
            "action": "added",
        },
    ]
    # the ten binaries' execs never reached the store: the kernel did not send them
    stored = run.query("SELECT path FROM process_events WHERE cmdline LIKE ?", f"%{marker}%")
    assert stored == [("/usr/bin/curl",)]
    assert [ln for ln in run.stderr() if "Traceback" in ln] == []

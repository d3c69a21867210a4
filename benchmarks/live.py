#!/usr/bin/env python3
"""Live benchmark: every kernel audit consumer under the same rules, the same load, in one run.

Consumers (each registered in turn as the kernel's audit daemon, unicast; never two at once):

- ``audit off``: no consumer, ``enabled 0`` (the rules stay loaded): the load generators' own speed;
- ``py null reader``: a bare pure-Python loop that registers, ``recv_into`` and discards (counts SYSCALL
  records, and among them the generator's: uid nobody, execve or connect) - the floor for any Python reader;
- ``py reader + parse``: the same loop calling ``auditsql._core.parse_netlink`` on every record, inline (no
  thread, no queue): the cost of turning each record into a Python dict (no longer auditsql's path: its
  records never reach Python);
- ``auditsql source + core``: auditsql's own reader and core without a store or output
  (:class:`auditsql.kernel.sources.NetlinkSource` with ``reader="native"``: a native thread drains the
  socket, ``Pipeline.pump`` assembles, renders and maps rows, the batches are discarded): the difference to
  ``auditsql run`` is the store (and the Python side of each batch);
- ``auditsql listen``: the product path, ``auditsql listen --source unicast --output /dev/null`` with its
  defaults (assembler, renderer with ids resolved and raw texts, JSON lines, loss accounting, stats file,
  self-exclusion rule, policy block);
- ``auditd RAW``, ``auditd ENRICHED`` and ``auditd ENRICHED + laurel`` (laurel as auditd's plugin, its
  shipped defaults: pid/script/container enrichment on): the Debian packages, ``auditd -n -s nochange -c
  DIR`` with a temporary ``auditd.conf`` (Debian's flush/freq/priority/q_depth settings, a temporary log
  dir, ``plugin_dir`` of our own) started and stopped by pid.

Rules: ``-a always,exit -F arch=b64 -S execve,connect -F uid=<nobody> -k <unique key>``, loaded with
auditsql's own rule compiler, deleted exactly (by the kernel's bytes) at the end. ``backlog_limit`` is set to
8192 (Debian's rules file) and ``rate_limit`` to 0 for every consumer; ``backlog_wait_time`` is the kernel's
value found at start (its default, 60 s in jiffies) except in the loss test.

Load (two small C helpers built here with gcc from benchmarks/c/; they drop to nobody themselves, so no
setpriv exec is audited):

- ``loadgen``: vfork+exec ``/bin/true`` at a fixed rate (absolute-time pacing) or at the machine's maximum
  (two children in flight);
- ``storm``: TCP connects to a local listener on 127.0.0.1 as fast as one process can (SO_LINGER 0: no
  TIME_WAIT), for a time or a count.

Phases per consumer: exec at 100/s and 1000/s, exec at max, connect storm (default wait time), and the
loss test (``backlog_wait_time 0``: the kernel drops instead of making the storm wait; N connects).

Figures: CPU% = user+sys of the consumer's processes (auditd plus its plugin) from /proc/PID/stat deltas,
over the load plus the time the consumer needed to drain what the load left behind; µs/event = that CPU
time / events generated; ``recorded`` = events the consumer got (auditd's log, laurel's log, auditsql's
stats file, the Python readers' counters) / events generated; kernel ``lost`` delta (records, not
events: a connect event is 4 records, SYSCALL SOCKADDR PROCTITLE EOE). ``kauditd%`` is the kernel thread
that hands records to the consumer (the same work for every consumer: the cost of audit itself).
``other`` (the noise table) is what the rest of the machine used meanwhile (/proc/stat busy time less the
consumer, kauditd, the generator and this script): other sessions share this 2-CPU machine, so before each
consumer the benchmark waits (up to ``--quiet-wait`` s) for a quiet second, and a phase with a large
``other`` should be read with care.

Etiquette: the benchmark takes /tmp/auditsql-live-tests.lock (the kernel tests' lock) for its whole run,
snapshots the audit status and rules first and restores them in a ``finally`` (only our rules are deleted,
knobs are put back, never ``-D``, never enabled/failure 2), and stops only the processes it started. After a
SIGKILL of the benchmark itself: ``auditsql ctl -D -k auditsql_live_bench_`` deletes its rules (and only
them), ``auditsql ctl --restore FILE`` undoes a killed listener's changes (its state file in the temp dir).

Issue figures (``--issue``; the "native core" issue): ``auditsql run`` as shipped, with its own rules,
beside peers under exactly those rules. Two modes: ``defaults`` (the process tree on) and ``tree off``
(``[tables] process_tree = false`` in a ``--config`` file: there is no command-line flag). For each mode the
benchmark first starts ``auditsql run`` once (a probe), reads the rules it loaded from the kernel (the
builtin ``default.rules``; the process tree adds no rule since it reads forks and exits from the proc connector
(``proctree.rules(True, connector=True)`` is empty); its and its socket keeper's self-exclusion rules aside) and the backlog limit it set (the file's ``-b 4096``), stops it, and checks the rules against
auditsql's rule compiler. Peers (``auditd RAW``, ``py null reader``) then run with exactly those
``audit_rule_data`` bytes loaded through a :class:`~auditsql.kernel.snapshot.KernelSession` (state file in
the temporary directory: after a SIGKILL of the benchmark, ``auditsql ctl --restore
DIR/CONSUMER/rules.json`` deletes them), deleted right after; ``auditsql run`` itself loads and deletes its own. ``backlog_limit`` is
the value ``auditsql run`` sets, for every consumer. These rules audit every uid (execve, execveat, bind,
connect, accept, accept4; with ``[tables] tree_source = "audit"`` the tree would add fork, vfork, clone, clone3,
exit_group), so the
rest of the machine is audited too: ``seen`` (all events the consumer handled in the phase) against ``ours``
(the generator's events: uid nobody, the phase's syscall) shows how much. A connect of the storm is two
events here (the acceptor's accept4 is audited too), an exec one (the tree's forks and exits are proc
connector notices). The agent's CPU and RSS are its own process's: its socket keeper (a child process that only
waits while the agent runs; about 15 MB RSS, docs/reliability.md) is not counted.

Issue phases: ``auditsql run`` (both modes): idle (no load, one phase long: its own CPU), exec 1000/s
(``--repeats`` times, median), exec at max, storm,
loss (``backlog_wait_time 0``, 200,000 connects: rows stored counted in its db right after the phase, and
the kernel's ``lost``), then ``rss``: connect storms until its stats file's ``events`` passes 1,000,000,
then VmRSS and VmHWM from /proc/PID/status. ``auditd RAW`` (each rule set): idle, exec 1000/s (repeats).
``py null reader`` (each rule set): exec at max, storm, loss. ``auditsql run (tree off, journal off)``
(``run-off-nj``: ``[store] journal = false``): idle and exec 1000/s (repeats), beside ``run-off`` for the raw-frame
journal's cost (docs/reliability.md); ``--issue --consumers run-off,run-off-nj`` measures that alone. The "issue figures" table at the end: figure,
auditsql value, peer value, target, met. ``--issue --quick``: 1 s phases, one repeat, 10,000 connects,
100,000 events for RSS.

Usage: python3 benchmarks/live.py [--quick] [--issue] [--seconds S] [--storm-seconds S] [--loss-count N]
                                  [--consumers off,null,parse,source,listen,listen-lean,auditd-raw,...]
                                  [--repeats N] [--rss-events N]
                                  [--backlog-limit N] [--wait-time J] [--quiet PCT] [--quiet-wait S]
                                  [--json FILE] [--keep]

The default run takes about 9 minutes (10 s phases, a 200,000-connect loss test, 8 consumers); ``--quick``
(1 s phases, 10,000 connects, no wait for a quiet machine) about 90 s. ``--issue`` (six consumers: run,
auditd RAW and the null reader for each mode) about 10 minutes plus the waits for a quiet machine;
``--issue --quick`` about 2 minutes.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import pwd
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auditsql.kernel.control import add_rule, delete_rule, key_matches, list_rules
from auditsql.kernel.netlink import AuditSocket
from auditsql.kernel.rules import parse_rule
from auditsql.kernel.snapshot import KernelSession, restore_from_file
from auditsql.kernel.status import AuditStatus, get_status, set_status

HERE = Path(__file__).resolve().parent
LOCK_FILE = "/tmp/auditsql-live-tests.lock"
AUDITD = "/usr/sbin/auditd"
LAUREL = "/usr/sbin/laurel"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SYS_EXECVE, SYS_CONNECT = 59, 42
KNOBS = ("rate_limit", "backlog_limit", "backlog_wait_time", "enabled")

#: the issue's figures (issue 4, item 8), measured on a 2-vCPU VM of this class
REFERENCE = {
    "cpu1000": {
        "auditd RAW": 6.4,
        "auditd ENRICHED": 7.2,
        "auditd ENRICHED + laurel": 30.0,
        "py null reader": 2.2,
    },
    "cpu1000_note": "pure-Python reader + regex key=value split: 6.2 %",
    "storm": {
        "audit off": 65000,
        "py null reader": 37000,
        "auditd RAW": 30000,
        "auditd ENRICHED + laurel": 13000,
    },
    "loss": {"auditd RAW": 80.0, "py null reader": 100.0},
}

CONSUMERS = (
    "off",
    "null",
    "parse",
    "source",
    "listen",
    "run",
    "auditd-raw",
    "auditd-enriched",
    "auditd-laurel",
)
TITLES = {
    "off": "audit off",
    "null": "py null reader",
    "parse": "py reader + parse",
    "source": "auditsql source + core",
    "listen": "auditsql listen",
    "listen-lean": "auditsql listen (lean)",
    "run": "auditsql run",
    "auditd-raw": "auditd RAW",
    "auditd-enriched": "auditd ENRICHED",
    "auditd-laurel": "auditd ENRICHED + laurel",
}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------
# processes: only ours, stopped by pid


STARTED: list[subprocess.Popen[bytes]] = []
EXTRA_PIDS: set[int] = set()  # processes our processes started (laurel under auditd)


def start(argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, **kw)
    STARTED.append(proc)
    return proc


def stop_proc(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(
                f"pid {proc.pid} ({Path(str(proc.args[0])).name}) ignored SIGTERM for {timeout:.0f} s: SIGKILL"
            )
            proc.kill()
            proc.wait(10)
    return proc.returncode


def stop_extra(pid: int) -> None:
    """A process one of ours started (laurel): SIGTERM, then SIGKILL, by pid, if it is still that process."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in (b"Z", b"X")


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime of these processes (all their threads, live or ended), in clock ticks."""
    total = 0
    for pid in pids:
        st = _stat(pid)
        if st is not None:
            total += int(st[11]) + int(st[12])
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kauditd_pid() -> int | None:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm", "rb") as fh:
                    if fh.read().strip() == b"kauditd":
                        return int(name)
            except OSError:
                continue
    return None


# ----------------------------------------------------------------------------------------------------------
# kernel state: snapshot first, restore in finally


def status() -> AuditStatus:
    with AuditSocket() as sock:
        return get_status(sock)


def set_knobs(**knobs: int) -> bool:
    """Set the knobs that differ; True if any did."""
    for name, value in knobs.items():
        if name in ("enabled", "failure") and value == 2:
            raise ValueError(f"{name}=2 cannot be undone; the benchmark never sets it")
    changed = False
    with AuditSocket() as sock:
        for name, value in knobs.items():
            if int(getattr(get_status(sock), name) or 0) != value:
                set_status(sock, **{name: value})
                changed = True
    return changed


@dataclass
class Snapshot:
    status: dict[str, int]
    pid: int
    rules: list[bytes]


def snapshot() -> Snapshot:
    with AuditSocket() as sock:
        st = get_status(sock)
        rules = list_rules(sock)
    return Snapshot({k: int(getattr(st, k) or 0) for k in (*KNOBS, "failure")}, int(st.pid or 0), rules)


def _is_exclude_rule_of(data: bytes, pids: set[int]) -> bool:
    """``-A never,exit -S all -F pid=P`` (auditsql's self-exclusion) for one of our pids."""
    flags, action, nfields = struct.unpack_from("=3I", data)
    if action != 0 or nfields != 1 or flags & 0x0F != 0x04:
        return False
    base = 12 + 64 * 4
    field0 = struct.unpack_from("=I", data, base)[0]
    value0 = struct.unpack_from("=I", data, base + 64 * 4)[0]
    return field0 == 0 and value0 in pids


def restore(snap: Snapshot, key: str, our_pids: set[int], state_files: list[Path]) -> list[str]:
    """Undo what we changed: our rules (by key, and our readers' self-exclusion rules), the knobs, the pid."""
    problems: list[str] = []
    for path in state_files:
        if path.exists():
            report = restore_from_file(str(path))
            problems.extend(report.problems)
            say(f"restored from a reader's left-over state file {path}: {report.actions}")
    with AuditSocket() as sock:
        for data in list_rules(sock):
            if data in snap.rules:
                continue
            if key_matches(data, key) or _is_exclude_rule_of(data, our_pids):
                try:
                    delete_rule(sock, data)
                except OSError as exc:
                    problems.append(f"cannot delete one of our rules: {exc}")
        st = get_status(sock)
        if st.pid and st.pid != snap.pid:
            if st.pid in our_pids and not _alive(st.pid):
                set_status(sock, pid=0)  # a dead daemon of ours: the kernel lets anyone unregister it
            elif st.pid in our_pids:
                problems.append(f"our process {st.pid} is still the registered audit daemon")
        st = get_status(sock)
        for name in KNOBS:  # enabled last
            want = snap.status[name]
            now = int(getattr(st, name) or 0)
            if now == want:
                continue
            if name == "enabled" and now == 2:
                problems.append("audit is locked (enabled 2): cannot restore")
                continue
            try:
                set_status(sock, **{name: want})
            except (OSError, ValueError) as exc:
                problems.append(f"cannot restore {name} to {want}: {exc}")
        after = snapshot()
    for name, want in snap.status.items():
        if after.status[name] != want:
            problems.append(f"{name} is {after.status[name]}, was {want}")
    if after.pid != snap.pid:
        problems.append(f"pid is {after.pid}, was {snap.pid}")
    if sorted(after.rules) != sorted(snap.rules):
        problems.append(f"rules differ: {len(after.rules)} now, {len(snap.rules)} before")
    return problems


@contextmanager
def kernel_lock(timeout: float) -> Iterator[None]:
    with open(LOCK_FILE, "a") as lock:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"live.py: {LOCK_FILE} held by someone else for {timeout:.0f} s"
                    ) from None
                if not told:
                    say(f"waiting for {LOCK_FILE} (a kernel test is running)")
                    told = True
                time.sleep(0.2)
        yield


# ----------------------------------------------------------------------------------------------------------
# load generators (C, built here)


def build_helpers(tmp: Path) -> dict[str, Path]:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("live.py: gcc is needed to build the load generators (apt-get install gcc)")
    out = {}
    for name in ("loadgen", "storm"):
        exe = tmp / name
        subprocess.run([gcc, "-O2", "-Wall", "-o", str(exe), str(HERE / "c" / f"{name}.c")], check=True)
        out[name] = exe
    return out


def run_helper(argv: list[str], timeout: float, tmp: Path) -> tuple[dict[str, float], float]:
    """Run a load generator; its ``key=value`` line and its CPU seconds (with its reaped children's)."""
    out = tmp / "helper.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    STARTED.append(proc)
    deadline = time.monotonic() + timeout
    while True:
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, code, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise RuntimeError(f"{argv[0]} ran longer than {timeout:.0f} s")
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(code)
    text = out.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {text.strip()}")
    values = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", text)}
    return values, usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------------------------
# consumers


NULL_READER = r'''
"""Pure-Python null reader: register as the audit daemon, recv_into and discard; count SYSCALL records.

With "parse": each record also goes through auditsql._core.parse_netlink, inline (no thread, no queue)."""
import errno, json, os, signal, socket, struct, sys, time

stats_path, uid = sys.argv[1], sys.argv[2]
parse = None
if sys.argv[3:] == ["parse"]:
    from auditsql._core import parse_netlink as parse
uid_tok = b" uid=%s " % uid.encode()
stop = False

def handler(_s, _f):
    global stop
    stop = True

signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
try:
    sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE, like auditsql's reader
except OSError:
    pass
sock.bind((0, 0))

def set_pid(pid):
    # struct audit_status: mask=AUDIT_STATUS_PID(4), pid; nlmsghdr: AUDIT_SET(1001), REQUEST|ACK
    body = struct.pack("=11I", 4, 0, 0, pid, 0, 0, 0, 0, 0, 0, 0)
    sock.send(struct.pack("=IHHII", 16 + len(body), 1001, 5, 1, 0) + body)

set_pid(os.getpid())
sock.settimeout(0.25)
buf = bytearray(1 << 16)
messages = syscalls = enobufs = ours = 0
last = 0.0

def write():
    tmp = stats_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"time": time.time(), "messages": messages, "syscall": syscalls, "ours": ours,
                   "enobufs": enobufs}, fh)
    os.replace(tmp, stats_path)

write()
while not stop:
    try:
        n = sock.recv_into(buf)
    except (TimeoutError, InterruptedError, BlockingIOError):
        write()
        continue
    except OSError as exc:
        if exc.errno == errno.ENOBUFS:
            enobufs += 1
            continue
        raise
    t = buf[4] | buf[5] << 8
    if t == 2:  # NLMSG_ERROR: the ACK of AUDIT_SET
        err = struct.unpack_from("=i", buf, 16)[0]
        if err:
            sys.exit(f"AUDIT_SET pid refused: {os.strerror(-err)}")
        continue
    messages += 1
    if parse is not None:
        parse(t, bytes(buf[16:n]))
    if t == 1300:
        syscalls += 1
        # the generator's events: uid nobody, execve (59) or connect (42)
        if buf.find(uid_tok, 16, n) >= 0 and (
            buf.find(b" syscall=59 ", 16, n) >= 0 or buf.find(b" syscall=42 ", 16, n) >= 0
        ):
            ours += 1
    if not messages & 255 and time.monotonic() - last > 0.25:
        last = time.monotonic()
        write()
set_pid(0)
write()
'''

SOURCE_READER = r'''
"""auditsql's live source and core alone: NetlinkSource (unicast, reader="native": a native thread drains the
socket) and Pipeline.pump (assemble, render, table rows), batches discarded: auditsql run less the store."""
import json, os, signal, sys, time
from auditsql._core import Pipeline, Settings
from auditsql.kernel.snapshot import KernelSession
from auditsql.kernel.sources import NetlinkSource

stats_path, state_path = sys.argv[1], sys.argv[2]
stop = False

def handler(_s, _f):
    global stop
    stop = True

signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
session = KernelSession(state_file=state_path)
session.begin()
pipeline = Pipeline(Settings(events_json=False, rows=True, live=True))
src = NetlinkSource("unicast", session, reader="native")
src.start()
last = 0.0

def write():
    src._sync_native()
    tmp = stats_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"time": time.time(), "events": pipeline.stats()["events"], "reader": src.counters}, fh)
    os.replace(tmp, stats_path)

try:
    write()
    while not stop:
        b = src.feed(pipeline, 0.2)
        if not b.records:
            pipeline.tick(time.time())
        if time.monotonic() - last > 0.25:
            last = time.monotonic()
            write()
finally:
    src.stop()
    while src.pending():
        src.feed(pipeline, 0.05)
    pipeline.finish()
    session.restore()
    session.close()
    write()
'''

AUDITD_CONF = """\
# written by benchmarks/live.py: Debian's auditd.conf performance settings, a temporary log, no disk actions
local_events = yes
write_logs = yes
log_file = {log}
log_group = root
log_format = {fmt}
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 0
max_log_file_action = IGNORE
num_logs = 0
priority_boost = 4
name_format = NONE
space_left = 2
space_left_action = IGNORE
verify_email = no
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
use_libwrap = no
tcp_listen_queue = 5
tcp_max_per_addr = 1
tcp_client_max_idle = 0
transport = TCP
distribute_network = no
q_depth = 2000
overflow_action = SYSLOG
max_restarts = 10
plugin_dir = {plugins}
end_of_event_timeout = 2
"""

LAUREL_PLUGIN = """\
active = yes
direction = out
type = always
format = string
path = {laurel}
args = --config {config}
"""

# laurel's defaults (as shipped by Debian: pid, script and container enrichment on, execve-env
# LD_PRELOAD/LD_LIBRARY_PATH, translation off), a temporary directory, no privilege drop
LAUREL_CONFIG = """\
directory = "{dir}"
statusreport-period = 0

[auditlog]
file = "audit.log"
size = 100000000000
generations = 2

[transform]
execve-argv = [ "array" ]

[translate]
universal = false
user-db = false

[enrich]
pid = true
execve-env = [ "LD_PRELOAD", "LD_LIBRARY_PATH" ]
container = true
script = true
"""


@dataclass
class Phase:
    name: str
    syscall: int
    generated: int = 0
    gen_rate: float = 0.0  # events/s the generator achieved
    gen_seconds: float = 0.0
    window: float = 0.0  # seconds the CPU is measured over (load + drain)
    cpu_s: float = 0.0
    kauditd_s: float = 0.0
    recorded: int | None = None
    lost: int = 0
    drain_s: float = 0.0
    generator_s: float = 0.0  # the load generator and its children
    other_s: float = 0.0  # the rest of the machine (other processes, interrupts) meanwhile
    wall0: float = 0.0
    wall1: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.window if self.window else 0.0

    @property
    def gen_pct(self) -> float:
        return 100.0 * self.generator_s / self.window if self.window else 0.0

    @property
    def other_pct(self) -> float:
        return 100.0 * self.other_s / self.window if self.window else 0.0

    @property
    def us_per_event(self) -> float | None:
        return 1e6 * self.cpu_s / self.generated if self.generated else None

    @property
    def recorded_pct(self) -> float | None:
        if self.recorded is None or not self.generated:
            return None
        return 100.0 * self.recorded / self.generated


class Consumer:
    """One consumer: started, its processes' CPU read, its recorded events counted, stopped."""

    name = "?"
    registers = True
    #: "off", "null", "run", "auditd" ... (which phases ``--issue`` gives it)
    kind = "?"
    #: the rules this consumer runs under (issue mode), loaded around it by the benchmark unless ``own_rules``
    ruleset: RuleSet | None = None
    #: it loads (and deletes) its rules itself (``auditsql run`` with its builtin rules)
    own_rules = False

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.state_files: list[Path] = []
        #: the counter as of the end of the last phase (see :meth:`counter`), and :meth:`seen`'s
        self.last_count: int | None = None
        self.last_seen: int | None = None

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def counter(self, after: float) -> int | None:
        """Cumulative events recorded, as of a stats write after wall time ``after`` (stats-file readers)."""
        return None

    def seen(self) -> int | None:
        """Cumulative events handled (all of them, not only the generator's), as of the last :meth:`counter`."""
        return None

    def stop(self) -> None:
        if self.proc is not None:
            rc = stop_proc(self.proc)
            if rc not in (0, None, -signal.SIGTERM):
                say(f"{self.name} exited with {rc}; see {self.tmp}")

    def after_phase(self, ph: Phase) -> None:
        """Called after each phase drained, the consumer still running (auditsql run counts its rows)."""

    def count_files(self, phases: list[Phase]) -> None:
        """Log-file consumers: count each phase's events in the log after the consumer stopped."""

    def wait_registered(self, timeout: float = 20.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before registering")
            # auditsql run's socket keeper (a child of it) registers on its socket (docs/reliability.md)
            if status().pid in descendants(self.proc.pid):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not register as the audit daemon in {timeout:.0f} s")


class Off(Consumer):
    name = "audit off"
    kind = "off"
    registers = False

    def start(self) -> None:
        pass


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class StatsConsumer(Consumer):
    """A Python reader that rewrites a stats JSON file (``time`` plus counters)."""

    count_key = "syscall"
    #: the counter of every event it handled (``seen``)
    seen_key = "syscall"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.stats = tmp / "stats.json"
        self.last_stats: dict[str, Any] | None = None

    def counter(self, after: float) -> int | None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = _read_json(self.stats)
            if data is not None and float(data.get("time", 0)) > after:
                self.last_stats = data
                return int(data[self.count_key])
            time.sleep(0.05)
        say(f"{self.name}: no fresh stats in {self.stats}")
        return None

    def seen(self) -> int | None:
        if self.last_stats is None or self.seen_key not in self.last_stats:
            return None
        return int(self.last_stats[self.seen_key])


class NullReader(StatsConsumer):
    name = TITLES["null"]
    kind = "null"
    count_key = "ours"
    mode: tuple[str, ...] = ()

    def __init__(self, tmp: Path, uid: int) -> None:
        super().__init__(tmp)
        self.uid = uid

    def start(self) -> None:
        script = self.tmp / "null_reader.py"
        script.write_text(NULL_READER, encoding="utf-8")
        argv = [sys.executable, str(script), str(self.stats), str(self.uid), *self.mode]
        self.proc = start(argv, self.tmp / "stderr.log")
        self.wait_registered()


class ParseReader(NullReader):
    name = TITLES["parse"]
    mode = ("parse",)


class SourceReader(StatsConsumer):
    name = TITLES["source"]
    kind = "source"
    count_key = seen_key = "events"

    def start(self) -> None:
        script = self.tmp / "source_reader.py"
        script.write_text(SOURCE_READER, encoding="utf-8")
        state = self.tmp / "state.json"
        self.state_files.append(state)
        self.proc = start([sys.executable, str(script), str(self.stats), str(state)], self.tmp / "stderr.log")
        self.wait_registered()


def auditsql_exe() -> str:
    exe = Path(sys.executable).with_name("auditsql")  # the entry point, not a pyenv shim
    return str(exe) if exe.exists() else shutil.which("auditsql") or "auditsql"


class Listen(StatsConsumer):
    """``auditsql listen --source unicast --output /dev/null`` (its defaults otherwise)."""

    name = TITLES["listen"]
    kind = "listen"
    count_key = seen_key = "events"
    extra_args: tuple[str, ...] = ()

    def start(self) -> None:
        state = self.tmp / "state.json"
        self.state_files.append(state)
        argv = [auditsql_exe(), "listen", "--source", "unicast", "--output", "/dev/null"]
        argv += ["--stats-interval", "0", "--state-file", str(state), "--stats-file", str(self.stats)]
        self.proc = start([*argv, *self.extra_args], self.tmp / "stderr.log")
        self.wait_registered()
        deadline = time.monotonic() + 10
        while not self.stats.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class ListenLean(Listen):
    name = TITLES["listen-lean"]
    extra_args = ("--no-raw", "--no-resolve-ids")


#: ``--issue``'s two modes of ``auditsql run``: the config that makes each (none: its defaults)
RUN_MODES = {"defaults": "", "tree off": "[tables]\nprocess_tree = false\n"}


class Run(Listen):
    """``auditsql run``, the main job: every event parsed, assembled, rendered, mapped to table rows and stored
    (a temporary ``--db``), no results log, no status lines.

    ``mode`` None: ``--rules none``, the benchmark's rule (the same for every consumer) instead of the builtin
    osquery rules, which would audit every uid; its process tree (on by default) still adds its own rules
    (fork, vfork, clone, exit_group of every uid), so it handles about 3 events per exec where the others
    get 1: ``--issue`` compares it under equal rules. ``mode`` "defaults" or "tree off" (``--issue``): its builtin
    rules and its defaults, the process tree on or off (a ``--config`` file). ``recorded`` is its stats file's
    ``events`` (assembled, all of them); ``stored`` the rows of the generator (uid nobody) in the database,
    counted right after each phase (process_events for the exec phases, socket_events connects for the
    storms), by event time."""

    name = TITLES["run"]
    kind = "run"

    def __init__(self, tmp: Path, uid: int, mode: str | None = None) -> None:
        super().__init__(tmp)
        self.uid = uid
        self.mode = mode
        self.own_rules = mode is not None
        self.db = tmp / "store.db"
        #: the rules it had loaded while it ran (all but its self-exclusion rule), read after it registered
        self.loaded_rules: list[bytes] = []
        self.knobs: dict[str, int] = {}
        #: [store] journal; off: only the idle and exec 1000/s phases run (what the journal costs)
        self.journal = True

    def start(self) -> None:
        state = self.tmp / "state.json"
        self.state_files.append(state)
        before = set(list_kernel_rules())
        argv = [auditsql_exe(), "run", "--source", "unicast", "--db", str(self.db), "--results-log", ""]
        argv += ["--status-interval", "0", "--state-file", str(state), "--stats-file", str(self.stats)]
        config = "" if self.mode is None else RUN_MODES[self.mode]
        if not self.journal:
            config += "[store]\njournal = false\n"
        if self.mode is None:
            argv += ["--rules", "none"]
        if config:
            cfg = self.tmp / "run.toml"
            cfg.write_text(config, encoding="utf-8")
            argv += ["--config", str(cfg)]
        self.proc = start(argv, self.tmp / "stderr.log")
        self.wait_registered()
        deadline = time.monotonic() + 10
        while not self.stats.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        own = set(descendants(self.proc.pid))  # the agent and its socket keeper: each excludes itself
        self.loaded_rules = [
            r for r in list_kernel_rules() if r not in before and not _is_exclude_rule_of(r, own)
        ]
        st = status()
        self.knobs = {
            k: int(getattr(st, k) or 0) for k in ("backlog_limit", "rate_limit", "backlog_wait_time")
        }
        if self.ruleset is not None and self.loaded_rules != self.ruleset.rules:
            say(
                f"{self.name}: NOTE: {len(self.loaded_rules)} rules loaded now, {len(self.ruleset.rules)} in the"
                " probe (the peers run under the probe's)"
            )

    def _count(self, ph: Phase) -> int | None:
        import sqlite3

        from auditsql.store.sqlite import ro_uri

        if not self.db.exists():
            return None
        if ph.syscall == SYS_EXECVE:
            sql = "SELECT eid FROM process_events WHERE uid = ? AND time BETWEEN ? AND ?"
        else:
            sql = (
                "SELECT eid FROM socket_events WHERE action = 'connect' AND uid = ? AND time BETWEEN ? AND ?"
            )
        try:
            conn = sqlite3.connect(ro_uri(str(self.db)), uri=True, timeout=5)
            try:
                eids = conn.execute(sql, (self.uid, int(ph.wall0) - 1, int(ph.wall1) + 1)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            say(f"{self.name}: cannot count rows: {exc}")
            return None
        n = 0
        for (eid,) in eids:
            when = float(eid.rsplit(":", 1)[0].rsplit(":", 1)[-1])
            if ph.wall0 - 0.01 <= when <= ph.wall1 + 0.01:
                n += 1
        return n

    def after_phase(self, ph: Phase) -> None:
        """Rows of this phase's events in the store, once they stop growing (batches commit every second)."""
        deadline = time.monotonic() + 30
        last, since = None, time.monotonic()
        while True:
            n = self._count(ph)
            if n is not None and n >= ph.generated:
                break
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 2.5 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        ph.extra["stored"] = n

    def count_files(self, phases: list[Phase]) -> None:
        import sqlite3

        from auditsql.store.sqlite import ro_uri

        if not self.db.exists() or not phases:
            return
        conn = sqlite3.connect(ro_uri(str(self.db)), uri=True)
        total: dict[str, int] = {}
        try:
            for t in ("process_events", "socket_events", "audit_events", "audit_loss"):
                try:
                    total[t] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                except sqlite3.Error:  # a view over auditsql's own SQL functions (audit_events)
                    continue
        finally:
            conn.close()
        phases[-1].extra["db_rows"] = total
        phases[-1].extra["db_bytes"] = sum(
            p.stat().st_size for p in (self.db, Path(f"{self.db}-wal")) if p.exists()
        )


_SYSCALL_LINE = re.compile(rb"^type=SYSCALL msg=audit\((\d+\.\d+):\d+\): arch=\w+ syscall=(\d+) ")


class Auditd(Consumer):
    kind = "auditd"

    def __init__(self, tmp: Path, fmt: str, key: str | None, uid: int, laurel: bool = False) -> None:
        super().__init__(tmp)
        self.fmt = fmt
        self.key = key
        self.uid = uid
        self.laurel = laurel
        self.name = f"auditd {fmt}" + (" + laurel" if laurel else "")
        self.log = tmp / "log" / "audit.log"
        self.laurel_dir = tmp / "laurel"
        self._pids: list[int] = []

    def start(self) -> None:
        conf = self.tmp / "conf"
        plugins = conf / "plugins.d"
        plugins.mkdir(parents=True)
        self.log.parent.mkdir()
        if self.laurel:
            self.laurel_dir.mkdir()
            cfg = self.tmp / "laurel.toml"
            cfg.write_text(LAUREL_CONFIG.format(dir=self.laurel_dir), encoding="utf-8")
            (plugins / "laurel.conf").write_text(LAUREL_PLUGIN.format(laurel=LAUREL, config=cfg))
        (conf / "auditd.conf").write_text(AUDITD_CONF.format(log=self.log, fmt=self.fmt, plugins=plugins))
        os.chmod(conf / "auditd.conf", 0o640)
        self.proc = start([AUDITD, "-n", "-s", "nochange", "-c", str(conf)], self.tmp / "stderr.log")
        try:
            self.wait_registered()
        except RuntimeError as exc:
            hint = " (exit 6: space_left <= admin_space_left?)" if self.proc.returncode == 6 else ""
            raise RuntimeError(f"{exc}{hint}; {self.tmp / 'stderr.log'}") from None
        if self.laurel:
            deadline = time.monotonic() + 10
            while len(descendants(self.proc.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            if len(descendants(self.proc.pid)) < 2:
                raise RuntimeError(f"auditd did not start laurel; {self.tmp / 'stderr.log'}")
        self.refresh()

    def refresh(self) -> None:
        assert self.proc is not None
        self._pids = descendants(self.proc.pid)
        EXTRA_PIDS.update(p for p in self._pids if p != self.proc.pid)

    def pids(self) -> list[int]:
        return self._pids

    def stop(self) -> None:
        super().stop()
        for pid in self._pids[1:]:
            stop_extra(pid)

    def count_files(self, phases: list[Phase]) -> None:
        """``recorded``: the generator's events in auditd's log (SYSCALL lines of uid nobody, with our key when
        the rules have one, of the phase's syscall); ``seen``: every SYSCALL line of the phase's time."""
        marks = [f" uid={self.uid} ".encode()] + ([f'key="{self.key}"'.encode()] if self.key else [])
        ours, seen = [0] * len(phases), [0] * len(phases)
        for when, nr, mine in _auditd_events(self.log, marks):
            for i, ph in enumerate(phases):
                if ph.wall0 - 0.01 <= when <= ph.wall1 + 0.01:
                    seen[i] += 1
                    if mine and nr == ph.syscall:
                        ours[i] += 1
                    break
        for ph, a in zip(phases, seen, strict=True):
            ph.extra["seen"] = a
        if not self.laurel:
            for ph, n in zip(phases, ours, strict=True):
                ph.recorded = n
            return
        assert self.key is not None
        laurel_counts = _bin(phases, _laurel_events(self.laurel_dir, self.key))
        for ph, n, a in zip(phases, laurel_counts, ours, strict=True):
            ph.recorded = n
            ph.extra["auditd_logged"] = a


def _auditd_events(path: Path, marks: list[bytes]) -> Iterator[tuple[float, int, bool]]:
    """(time, syscall, the line has every mark) of each SYSCALL line of auditd's log."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError:
        return
    with fh:
        for line in fh:
            if line.startswith(b"type=SYSCALL "):
                m = _SYSCALL_LINE.match(line)
                if m:
                    yield float(m.group(1)), int(m.group(2)), all(k in line for k in marks)


_LAUREL_ID = re.compile(rb'"ID":"(\d+\.\d+):\d+"')
_LAUREL_SYSCALL = re.compile(rb'"syscall":"?(\w+)"?')
_NAMES = {b"execve": SYS_EXECVE, b"connect": SYS_CONNECT}


def _laurel_events(directory: Path, key: str) -> Iterator[tuple[float, int]]:
    kb = key.encode()
    for path in sorted(directory.glob("audit.log*")):
        with open(path, "rb") as fh:
            for line in fh:
                if kb not in line:
                    continue
                m, s = _LAUREL_ID.search(line), _LAUREL_SYSCALL.search(line)
                if m and s:
                    nr = s.group(1)
                    yield float(m.group(1)), _NAMES.get(nr) or (int(nr) if nr.isdigit() else -1)


def _bin(phases: list[Phase], events: Iterator[tuple[float, int]]) -> list[int]:
    counts = [0] * len(phases)
    for when, nr in events:
        for i, ph in enumerate(phases):
            if nr == ph.syscall and ph.wall0 - 0.01 <= when <= ph.wall1 + 0.01:
                counts[i] += 1
                break
    return counts


# ----------------------------------------------------------------------------------------------------------
# issue mode: auditsql run's own rules, read from the kernel, loaded for its peers


def list_kernel_rules() -> list[bytes]:
    with AuditSocket() as sock:
        return list_rules(sock)


@dataclass
class RuleSet:
    """The rules ``auditsql run`` loads in one mode (its self-exclusion rule aside), as the kernel lists them."""

    mode: str
    rules: list[bytes]
    #: ``auditctl -l`` while it ran (its self-exclusion rule included)
    text: list[str]
    #: backlog_limit, rate_limit, backlog_wait_time while it ran
    knobs: dict[str, int]
    #: the rules are those auditsql's compiler makes of default.rules (+ proctree.rules(True)), byte for byte
    compiled_match: bool | None = None

    def describe(self) -> str:
        return f"{len(self.rules)} rules, backlog_limit {self.knobs.get('backlog_limit')}"


def compiled_rules(mode: str) -> list[bytes]:
    """What auditsql's rule compiler makes of the rules ``auditsql run`` loads in ``mode`` (knobs aside)."""
    from auditsql.agent import builtin_rules_path, compile_rule_lines, load_rules
    from auditsql.tables import file as file_table
    from auditsql.tables import proctree
    from auditsql.tables import socket as socket_table

    out = [data for _, data in load_rules(builtin_rules_path(), "by auditsql run", "run").rules]
    # the defaults' tree reads forks and exits from the proc connector: no rule of its own (docs/process-tree.md)
    extra = (
        proctree.rules(mode != "tree off", connector=True)
        + socket_table.rules(False)
        + file_table.rules([], "wa")
    )
    out += [data for _, data in compile_rule_lines(extra, "by auditsql run").rules]
    return out


def probe_rules(mode: str, tmp: Path, uid: int, run: Run) -> RuleSet:
    """Start ``auditsql run`` in ``mode``, read the rules and knobs it set, stop it; the kernel as before."""
    run.tmp.mkdir()
    before = list_kernel_rules()
    say(f"probe: auditsql run ({mode}): the rules it loads")
    run.start()
    try:
        ctl = shutil.which("auditctl")
        text = []
        if ctl:
            res = subprocess.run([ctl, "-l"], capture_output=True, text=True, timeout=30)
            own = tuple(f"-F pid={p}" for p in descendants(run.proc.pid)) if run.proc is not None else ("-",)
            text = [
                line + ("   (its self-exclusion: not loaded for the peers)" if line.endswith(own) else "")
                for line in res.stdout.splitlines()
                if line.strip()
            ]
    finally:
        run.stop()
    after = list_kernel_rules()
    if after != before:
        raise RuntimeError(f"auditsql run ({mode}) left the rules changed after it stopped: {len(after)} now")
    rs = RuleSet(mode, run.loaded_rules, text, run.knobs)
    try:
        comp = compiled_rules(mode)
        rs.compiled_match = [r.rstrip(b"\0") for r in comp] == [r.rstrip(b"\0") for r in rs.rules]
    except Exception as exc:  # the check is informative only
        say(f"probe: cannot compile the expected rules: {exc}")
    say(f"probe: {mode}: {rs.describe()}; as compiled from default.rules: {rs.compiled_match}")
    for line in text:
        say(f"    {line}")
    if not rs.rules:
        raise RuntimeError(f"auditsql run ({mode}) loaded no rules")
    return rs


def load_ruleset(rs: RuleSet, consumer: Consumer) -> KernelSession:
    """Load the rule set for a peer (a KernelSession: its state file says what to delete after a SIGKILL)."""
    path = consumer.tmp / "rules.json"
    consumer.state_files.append(path)
    session = KernelSession(state_file=str(path))
    session.begin()
    try:
        for data in rs.rules:
            session.add_rule(data)
    except BaseException:
        session.restore()
        session.close()
        raise
    loaded = list_kernel_rules()
    missing = [r for r in rs.rules if r not in loaded]
    if missing:
        say(f"{consumer.name}: {len(missing)} of the rules do not list back as loaded")
    return session


def unload_ruleset(session: KernelSession, consumer: Consumer, problems: list[str]) -> None:
    report = session.restore()
    session.close()
    if report.problems:
        problems.extend(f"{consumer.name}: {p}" for p in report.problems)
        say(f"{consumer.name}: its rules NOT fully deleted: {'; '.join(report.problems)}")


# ----------------------------------------------------------------------------------------------------------
# phases


@dataclass
class Settings:
    seconds: float
    storm_seconds: float
    loss_count: int
    wait_time: int
    backlog_limit: int
    inflight: int
    uid: int
    gid: int
    quiet_threshold: float = 25.0
    quiet_wait: float = 120.0
    issue: bool = False
    #: issue mode: runs of the exec 1000/s phase per consumer (the figure is their median)
    repeats: int = 1
    #: issue mode: auditsql run's events before its RSS is read
    rss_events: int = 1_000_000
    helpers: dict[str, Path] = field(default_factory=dict)


def machine_busy() -> int:
    """Busy ticks of all CPUs (/proc/stat: user nice system irq softirq steal)."""
    with open("/proc/stat", "rb") as fh:
        v = [int(x) for x in fh.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


class Sample:
    """One reading: monotonic time, consumer ticks, kauditd ticks, machine busy ticks, this script's seconds."""

    __slots__ = ("t", "cpu", "kauditd", "busy", "me")

    def __init__(self, t: float, cpu: int, kauditd: int, busy: int, me: float) -> None:
        self.t, self.cpu, self.kauditd, self.busy, self.me = t, cpu, kauditd, busy, me


class Meter:
    """CPU of a consumer's processes, of kauditd and of the whole machine, sampled together."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.kauditd = kauditd_pid()

    def sample(self) -> Sample:
        k = cpu_ticks([self.kauditd]) if self.kauditd else 0
        me = os.times()
        return Sample(
            time.monotonic(), cpu_ticks(self.consumer.pids()), k, machine_busy(), me.user + me.system
        )


def drain(meter: Meter, timeout: float = 120.0) -> tuple[Sample, float]:
    """Wait until the kernel backlog is empty and the consumer's CPU has been still for 0.5 s.

    Returns the sample of the last moment it was busy, and the wall time now."""
    samples = [meter.sample()]
    busy = samples[0]
    deadline = time.monotonic() + timeout
    with AuditSocket() as sock:
        while time.monotonic() < deadline:
            time.sleep(0.1)
            s = meter.sample()
            backlog = int(get_status(sock).backlog or 0)
            samples.append(s)
            ref = samples[-3] if len(samples) >= 3 else samples[0]
            if backlog > 0 or s.cpu - ref.cpu >= 2:
                busy = s
            elif s.t - busy.t >= 0.5:
                break
        else:
            say(f"{meter.consumer.name}: still busy after {timeout:.0f} s; figures include what was done")
            busy = samples[-1]
    return busy, time.time()


def run_phase(
    consumer: Consumer,
    meter: Meter,
    st: Settings,
    name: str,
    argv: list[str],
    syscall: int,
    timeout: float,
    wait_time: int | None = None,
) -> Phase:
    ph = Phase(name, syscall)
    changed = set_knobs(backlog_wait_time=st.wait_time if wait_time is None else wait_time)
    if changed or consumer.last_count is None or st.issue:
        drain(meter, timeout=60)  # else the last phase's drain left it idle
    # nothing is audited between phases unless a knob changed (a CONFIG_CHANGE event): reuse the last count;
    # with the issue's rules (every uid) the rest of the machine is audited meanwhile: read it anew
    reuse = not changed and consumer.last_count is not None and not st.issue
    base = consumer.last_count if reuse else consumer.counter(time.time())
    seen0 = consumer.last_seen if reuse else consumer.seen()
    lost0 = int(status().lost or 0)
    s0 = meter.sample()
    ph.wall0 = time.time()
    out, gen_cpu = run_helper(argv, timeout, consumer.tmp)
    ph.wall1 = time.time()
    t_gen = time.monotonic()
    # a changed wait time is put back by the next phase (or at the end): setting it now would add a
    # CONFIG_CHANGE event (and the SYSCALL of our AUDIT_SET) to this phase's count
    s1, wall_drained = drain(meter)
    ph.window = max(s1.t, t_gen) - s0.t
    ph.drain_s = max(0.0, s1.t - t_gen)
    ph.cpu_s = (s1.cpu - s0.cpu) / CLK_TCK
    ph.kauditd_s = (s1.kauditd - s0.kauditd) / CLK_TCK
    ph.generator_s = gen_cpu
    # everything else the machine did meanwhile (other processes, interrupts): a noise indicator
    ph.other_s = max(0.0, (s1.busy - s0.busy) / CLK_TCK - ph.cpu_s - ph.kauditd_s - gen_cpu - (s1.me - s0.me))
    ph.lost = int(status().lost or 0) - lost0
    ph.generated = int(out.get("execs", out.get("connects", 0)) + out.get("failed", 0))
    ph.gen_seconds = out.get("seconds", 0.0)
    ph.gen_rate = out.get("rate", 0.0)
    ph.extra["generator"] = out
    finish_phase(consumer, ph, base, seen0, wall_drained)
    return ph


def finish_phase(
    consumer: Consumer, ph: Phase, base: int | None, seen0: int | None, wall_drained: float
) -> None:
    """Counters after the drain, the consumer's own count (auditsql run: rows), memory; one log line."""
    if base is not None:
        now = consumer.counter(wall_drained)
        consumer.last_count = now
        ph.recorded = None if now is None or base is None else now - base
        seen1 = consumer.seen()
        consumer.last_seen = seen1
        if seen0 is not None and seen1 is not None:
            ph.extra["seen"] = seen1 - seen0
        stats = getattr(consumer, "last_stats", None)
        if stats is not None:
            ph.extra["stats"] = stats
    consumer.after_phase(ph)
    ph.extra["vm_mb"] = vm_mb(consumer.pids())
    rec = "" if ph.recorded is None else f", recorded {ph.recorded}"
    if "seen" in ph.extra:
        rec += f" (seen {ph.extra['seen']})"
    if "stored" in ph.extra:
        rec += f", stored {ph.extra['stored']}"
    vm = ph.extra["vm_mb"]
    mem = f", VmRSS {vm['VmRSS']:.1f} MB, VmHWM {vm['VmHWM']:.1f} MB" if vm else ""
    say(
        f"  {ph.name}: {ph.generated} events at {ph.gen_rate:,.0f}/s, cpu {ph.cpu_pct:.1f}% over {ph.window:.1f} s"
        f" (drain {ph.drain_s:.1f} s), lost {ph.lost}{rec}; generator {ph.gen_pct:.0f}%,"
        f" other {ph.other_pct:.0f}%{mem}"
    )


def rss_phase(consumer: Consumer, meter: Meter, st: Settings) -> Phase:
    """Connect storms (default wait time) until the consumer's stats file says ``events`` >= st.rss_events."""
    sm, ids = str(st.helpers["storm"]), [str(st.uid), str(st.gid)]
    ph = Phase("rss", SYS_CONNECT)
    set_knobs(backlog_wait_time=st.wait_time)
    drain(meter, timeout=60)
    base = consumer.counter(time.time())
    seen0 = consumer.seen()
    if base is None:
        raise RuntimeError(f"{consumer.name}: no stats for the RSS phase")
    lost0 = int(status().lost or 0)
    s0 = meter.sample()
    ph.wall0 = time.time()
    gen_cpu, events, loads = 0.0, base, 0
    out: dict[str, float] = {}
    while events < st.rss_events and loads < 40:
        # a storm connect is at least 2 events under the issue's rules (connect, the acceptor's accept4)
        n = max(2000, min((st.rss_events - events) // 2 + 1, 1_000_000))
        out, cpu = run_helper([sm, *ids, str(n), "600"], 700, consumer.tmp)
        loads += 1
        gen_cpu += cpu
        ph.generated += int(out.get("connects", 0) + out.get("failed", 0))
        ph.gen_seconds += out.get("seconds", 0.0)
        drain(meter)
        now = consumer.counter(time.time())
        if now is None:
            raise RuntimeError(f"{consumer.name}: no stats during the RSS phase")
        events = now
    ph.wall1 = time.time()
    t_gen = time.monotonic()
    s1, wall_drained = drain(meter)
    ph.window = max(s1.t, t_gen) - s0.t
    ph.drain_s = 0.0
    ph.cpu_s = (s1.cpu - s0.cpu) / CLK_TCK
    ph.kauditd_s = (s1.kauditd - s0.kauditd) / CLK_TCK
    ph.generator_s = gen_cpu
    ph.other_s = max(0.0, (s1.busy - s0.busy) / CLK_TCK - ph.cpu_s - ph.kauditd_s - gen_cpu - (s1.me - s0.me))
    ph.lost = int(status().lost or 0) - lost0
    ph.gen_rate = ph.generated / ph.gen_seconds if ph.gen_seconds else 0.0
    ph.extra["storms"] = loads
    finish_phase(consumer, ph, base, seen0, wall_drained)
    ph.extra["events_total"] = consumer.last_count
    return ph


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) for a second in which the machine was busy less than ``threshold``% of one
    CPU: other sessions' test runs share this machine. Returns the last second's busy % (0 without a wait)."""
    if max_wait <= 0:
        return 0.0
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        b0 = machine_busy()
        time.sleep(1.0)
        busy = 100.0 * (machine_busy() - b0) / CLK_TCK
        if busy < threshold or time.monotonic() >= deadline:
            if busy >= threshold:
                say(
                    f"the machine is still busy ({busy:.0f}% of one CPU): measuring anyway; see the noise table"
                )
            return busy
        if not told:
            say(
                f"the machine is busy ({busy:.0f}% of one CPU, not us): waiting up to {max_wait:.0f} s for quiet"
            )
            told = True


def run_consumer(consumer: Consumer, st: Settings, problems: list[str]) -> list[Phase]:
    lg, sm = str(st.helpers["loadgen"]), str(st.helpers["storm"])
    ids = [str(st.uid), str(st.gid)]
    T = st.seconds
    rs = consumer.ruleset
    if rs is not None and "backlog_limit" in rs.knobs:
        set_knobs(backlog_limit=rs.knobs["backlog_limit"])  # what auditsql run sets: the same for its peers
    wait_quiet(st.quiet_threshold, st.quiet_wait)
    session = None
    if rs is not None and not consumer.own_rules:
        session = load_ruleset(rs, consumer)
        say(f"{consumer.name}: starting, under auditsql run's rules ({rs.mode}: {rs.describe()})")
    else:
        say(f"{consumer.name}: starting")
    phases: list[Phase] = []
    hwm: list[float] = []
    try:
        consumer.start()
        set_knobs(enabled=1 if consumer.registers else 0)
        meter = Meter(consumer)

        def exec_rate(rate: int, name: str) -> Phase:
            return run_phase(consumer, meter, st, name, [lg, *ids, str(rate), str(T)], SYS_EXECVE, T + 120)

        def exec_max() -> Phase:
            argv = [lg, *ids, "0", str(T), str(st.inflight)]
            return run_phase(consumer, meter, st, "exec max", argv, SYS_EXECVE, T + 180)

        def storm() -> Phase:
            argv = [sm, *ids, "0", str(st.storm_seconds)]
            return run_phase(consumer, meter, st, "storm", argv, SYS_CONNECT, st.storm_seconds + 180)

        def loss() -> Phase:
            argv = [sm, *ids, str(st.loss_count), "300"]
            return run_phase(consumer, meter, st, "loss", argv, SYS_CONNECT, 400, wait_time=0)

        if not st.issue:
            if consumer.registers:
                phases.append(exec_rate(100, "exec 100/s"))
                phases.append(exec_rate(1000, "exec 1000/s"))
            phases.append(exec_max())
            phases.append(storm())
            if consumer.registers:
                phases.append(loss())
        else:
            kind = consumer.kind
            if kind in ("run", "auditd"):
                # no load: what the consumer spends on its own (timers, stats, the rest of the machine)
                phases.append(run_phase(consumer, meter, st, "idle", ["/bin/sleep", str(T)], 0, T + 60))
                for i in range(st.repeats):
                    if i:
                        wait_quiet(st.quiet_threshold, st.quiet_wait)
                    phases.append(exec_rate(1000, "exec 1000/s" if i == 0 else f"exec 1000/s #{i + 1}"))
            if kind == "run" and not getattr(consumer, "journal", True):
                kind = "run, journal off"  # the journal's cost: idle and exec 1000/s only
            if kind in ("run", "null", "off"):
                phases.append(exec_max())
                phases.append(storm())
            if kind in ("run", "null"):
                phases.append(loss())
            if kind == "run":
                phases.append(rss_phase(consumer, meter, st))
    finally:
        try:
            hwm = vm_hwm_mb(consumer.pids())
            if consumer.kind in ("run", "listen"):
                # it restores enabled itself; disabling audit under it first would only make its watcher
                # turn audit back on ("disabled by someone else")
                consumer.stop()
                set_knobs(enabled=0, backlog_wait_time=st.wait_time)
            else:
                set_knobs(enabled=0, backlog_wait_time=st.wait_time)
                consumer.stop()
        finally:
            if session is not None:
                unload_ruleset(session, consumer, problems)
    if phases:
        phases[-1].extra["rss_mb"] = hwm
    try:
        consumer.count_files(phases)
    except Exception as exc:  # the phases' figures stand without the counts
        say(f"{consumer.name}: cannot count its files: {exc!r}")
    return phases


def vm_hwm_mb(pids: list[int]) -> list[float]:
    """Peak resident set (``VmHWM``) of each live process, MB."""
    return [v["VmHWM"] for v in (_vm_status(pid) for pid in pids) if "VmHWM" in v]


def _vm_status(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith((b"VmRSS:", b"VmHWM:")):
                    out[line[:5].decode()] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return out


def vm_mb(pids: list[int]) -> dict[str, float]:
    """VmRSS and VmHWM (MB) of the consumer's processes, summed (auditd + laurel: both); {} if none is alive."""
    out: dict[str, float] = {}
    for pid in pids:
        for k, v in _vm_status(pid).items():
            out[k] = out.get(k, 0.0) + v
    return out


#: ``--issue``'s consumers: (kind, mode); run as shipped in that mode, and its peers under its rules
ISSUE_CONSUMERS = {
    "run-off": ("run", "tree off"),
    # the journal's cost (docs/reliability.md, kill -9): idle and exec 1000/s only, with [store] journal = false
    "run-off-nj": ("run", "tree off"),
    "raw-off": ("auditd-raw", "tree off"),
    "null-off": ("null", "tree off"),
    "run-on": ("run", "defaults"),
    "raw-on": ("auditd-raw", "defaults"),
    "null-on": ("null", "defaults"),
}
ISSUE_TITLES = {
    "run-off": "auditsql run (tree off)",
    "run-off-nj": "auditsql run (tree off, journal off)",
    "raw-off": "auditd RAW (tree-off rules)",
    "null-off": "py null reader (tree-off rules)",
    "run-on": "auditsql run (defaults)",
    "raw-on": "auditd RAW (default rules)",
    "null-on": "py null reader (default rules)",
}


def make_consumer(
    name: str, tmp: Path, key: str | None, uid: int, rulesets: dict[str, RuleSet] | None = None
) -> Consumer:
    d = tmp / name
    d.mkdir()
    if name in ISSUE_CONSUMERS:
        base, mode = ISSUE_CONSUMERS[name]
        assert rulesets is not None
        c = Run(d, uid, mode) if base == "run" else make_consumer(base, d, None, uid)
        c.name = ISSUE_TITLES[name]
        c.ruleset = rulesets[mode]
        if name == "run-off-nj":
            assert isinstance(c, Run)
            c.journal = False
        return c
    if name == "off":
        return Off(d)
    if name == "null":
        return NullReader(d, uid)
    if name == "parse":
        return ParseReader(d, uid)
    if name == "source":
        return SourceReader(d)
    if name == "listen":
        return Listen(d)
    if name == "listen-lean":
        return ListenLean(d)
    if name == "run":
        return Run(d, uid)
    if name == "auditd-raw":
        return Auditd(d, "RAW", key, uid)
    if name == "auditd-enriched":
        return Auditd(d, "ENRICHED", key, uid)
    if name == "auditd-laurel":
        return Auditd(d, "ENRICHED", key, uid, laurel=True)
    raise SystemExit(
        f"live.py: unknown consumer {name!r}; known: {', '.join(TITLES)}, {', '.join(ISSUE_CONSUMERS)}"
    )


# ----------------------------------------------------------------------------------------------------------
# report


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ref(table: str, title: str, fmt: str) -> str:
    v = REFERENCE[table].get(title)  # type: ignore[union-attr]
    return "" if v is None else fmt.format(v)


def report(results: dict[str, list[Phase]], st: Settings) -> list[str]:
    by = {title: {ph.name: ph for ph in phases} for title, phases in results.items()}
    lines: list[str] = []
    w = max([len(t) for t in by] + [8])

    def row(cells: list[str], widths: list[int]) -> str:
        return "  ".join(
            c.rjust(n) if i else c.ljust(n) for i, (c, n) in enumerate(zip(cells, widths, strict=True))
        )

    lines.append(f"Fixed-rate exec ({st.seconds:g} s per rate): consumer CPU (user+sys) and µs per event")
    widths = [w, 8, 8, 7, 8, 8, 7, 9, 9]
    lines.append(
        row(
            ["consumer", "100/s %", "µs/ev", "rec %", "1000/s %", "µs/ev", "rec %", "kauditd%", "ref %"],
            widths,
        )
    )
    for title, p in by.items():
        if "exec 100/s" not in p:
            continue
        a, b = p["exec 100/s"], p["exec 1000/s"]
        lines.append(
            row(
                [
                    title,
                    _f(a.cpu_pct, "{:.2f}"),
                    _f(a.us_per_event, "{:.0f}"),
                    _f(a.recorded_pct),
                    _f(b.cpu_pct, "{:.2f}"),
                    _f(b.us_per_event, "{:.0f}"),
                    _f(b.recorded_pct),
                    _f(b.kauditd_s and 100 * b.kauditd_s / b.window, "{:.2f}"),
                    _ref("cpu1000", title, "{:.1f}"),
                ],
                widths,
            )
        )
    lines.append(f"  ref % = the issue's CPU at 1000 exec/s; {REFERENCE['cpu1000_note']}")
    lines.append("")
    lines.append(f"Exec at the machine's maximum ({st.inflight} in flight, {st.seconds:g} s)")
    widths = [w, 9, 8, 8, 7, 9, 8]
    lines.append(row(["consumer", "exec/s", "CPU %", "µs/ev", "rec %", "kauditd%", "drain s"], widths))
    for title, p in by.items():
        ph = p.get("exec max")
        if ph is None:
            continue
        lines.append(
            row(
                [
                    title,
                    f"{ph.gen_rate:,.0f}",
                    _f(ph.cpu_pct),
                    _f(ph.us_per_event, "{:.0f}"),
                    _f(ph.recorded_pct),
                    _f(100 * ph.kauditd_s / ph.window if ph.window else None),
                    _f(ph.drain_s),
                ],
                widths,
            )
        )
    lines.append("")
    off = by.get(TITLES["off"], {}).get("storm")
    lines.append(
        f"Connect storm ({st.storm_seconds:g} s, backlog_wait_time {st.wait_time}, backlog_limit {st.backlog_limit})"
    )
    widths = [w, 10, 8, 8, 8, 7, 9, 8, 10]
    lines.append(
        row(["consumer", "conn/s", "vs off", "CPU %", "µs/ev", "rec %", "kauditd%", "lost", "ref/s"], widths)
    )
    for title, p in by.items():
        ph = p.get("storm")
        if ph is None:
            continue
        vs = f"{100 * ph.gen_rate / off.gen_rate:.0f}%" if off is not None and off.gen_rate else "-"
        lines.append(
            row(
                [
                    title,
                    f"{ph.gen_rate:,.0f}",
                    vs,
                    _f(ph.cpu_pct),
                    _f(ph.us_per_event, "{:.1f}"),
                    _f(ph.recorded_pct),
                    _f(100 * ph.kauditd_s / ph.window if ph.window else None),
                    str(ph.lost),
                    _ref("storm", title, "{:,.0f}"),
                ],
                widths,
            )
        )
    lines.append("")
    lines.append(
        f"Loss test (backlog_wait_time 0, {st.loss_count:,} connects, backlog_limit {st.backlog_limit})"
    )
    widths = [w, 10, 10, 8, 10, 10, 8, 7]
    lines.append(
        row(["consumer", "generated", "recorded", "rec %", "lost recs", "conn/s", "CPU %", "ref %"], widths)
    )
    for title, p in by.items():
        ph = p.get("loss")
        if ph is None:
            continue
        lines.append(
            row(
                [
                    title,
                    f"{ph.generated:,}",
                    _f(ph.recorded, "{:,}"),
                    _f(ph.recorded_pct),
                    f"{ph.lost:,}",
                    f"{ph.gen_rate:,.0f}",
                    _f(ph.cpu_pct),
                    _ref("loss", title, "{:.0f}"),
                ],
                widths,
            )
        )
    for title, p in by.items():
        ph = p.get("loss")
        if ph is None:
            continue
        if "auditd_logged" in ph.extra:
            lines.append(f"  {title}: auditd's own log has {ph.extra['auditd_logged']:,} of them")
        stats = ph.extra.get("stats") or {}
        if "loss" in stats:
            loss = ", ".join(f"{k} {v}" for k, v in stats["loss"].items())
            lines.append(f"  {title}: its loss counters at the end: {loss}")
    lines.append("")
    lines.append(
        "Noise: CPU used meanwhile by the rest of the machine (other processes, interrupts), % of one CPU"
    )
    names = ["exec 100/s", "exec 1000/s", "exec max", "storm", "loss"]
    widths = [w] + [12] * len(names)
    lines.append(row(["consumer", *names], widths))
    for title, p in by.items():
        lines.append(row([title, *[_f(p[n].other_pct, "{:.0f}") if n in p else "-" for n in names]], widths))
    lines.append("")
    lines.extend(memory_and_rows(by))
    lines.append("")
    lines.extend(targets(by))
    lines.extend(run_targets(by))
    return lines


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    v = sorted(xs)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _ours(ph: Phase) -> int | None:
    """The generator's events the consumer got: auditsql run's rows, the others' counts."""
    stored = ph.extra.get("stored")
    return int(stored) if stored is not None else ph.recorded


def issue_report(
    by: dict[str, dict[str, Phase]], st: Settings, rulesets: dict[str, RuleSet]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The issue's figures: every phase, then the table of figures beside their peers and targets."""
    lines: list[str] = []
    for rs in rulesets.values():
        lines.append(
            f"Rules of auditsql run ({rs.mode}), loaded for its peers: {rs.describe()}; byte for byte what"
            f" auditsql's compiler makes of default.rules{' + proctree.rules(True)' if rs.mode != 'tree off' else ''}:"
            f" {_yn(rs.compiled_match)}"
        )
        lines.extend(f"  {t}" for t in rs.text)
    lines.append("")
    w = max([len(t) for t in by] + [8])
    cols = [
        "consumer",
        "phase",
        "gen/s",
        "CPU %",
        "µs/ev",
        "seen",
        "ours",
        "ours %",
        "lost",
        "kauditd%",
        "other%",
    ]
    cols += ["VmRSS", "VmHWM"]
    widths = [w, 13, 8, 6, 6, 9, 9, 7, 8, 8, 6, 6, 6]

    def row(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(n) if i > 1 else c.ljust(n) for i, (c, n) in enumerate(zip(cells, widths, strict=True))
        )

    lines.append(
        "Every phase (seen: all events the consumer handled, the rest of the machine included; ours: the"
        " generator's events it got, auditsql run: rows stored; lost: the kernel's lost records; MB)"
    )
    lines.append(row(cols))
    for title, phases in by.items():
        for ph in phases.values():
            ours = _ours(ph)
            vm = ph.extra.get("vm_mb") or {}
            lines.append(
                row(
                    [
                        title,
                        ph.name,
                        f"{ph.gen_rate:,.0f}",
                        _f(ph.cpu_pct),
                        _f(1e6 * ph.cpu_s / ph.extra["seen"] if ph.extra.get("seen") else None, "{:.0f}"),
                        _f(ph.extra.get("seen"), "{:,}"),
                        _f(ours, "{:,}"),
                        _f(100.0 * ours / ph.generated if ours is not None and ph.generated else None),
                        f"{ph.lost:,}",
                        _f(100 * ph.kauditd_s / ph.window if ph.window else None),
                        _f(ph.other_pct, "{:.0f}"),
                        _f(vm.get("VmRSS")),
                        _f(vm.get("VmHWM")),
                    ]
                )
            )
    lines.append("  µs/ev here = the consumer's CPU / events it handled (seen)")
    lines.append("")

    figures: list[dict[str, Any]] = []

    def add(figure: str, ours: str, peer: str, target: str, met: bool | None, **data: Any) -> None:
        figures.append(
            {"figure": figure, "auditsql": ours, "peer": peer, "target": target, "met": met, **data}
        )

    T = ISSUE_TITLES
    for mode, suffix, factor in (("tree off", "off", 1.0), ("defaults", "on", 1.2)):
        run, raw = by.get(T[f"run-{suffix}"], {}), by.get(T[f"raw-{suffix}"], {})
        a = [ph.cpu_pct for n, ph in run.items() if n.startswith("exec 1000/s")]
        p = [ph.cpu_pct for n, ph in raw.items() if n.startswith("exec 1000/s")]
        ma, mp = _median(a), _median(p)
        label = "tree off" if mode == "tree off" else "defaults (tree on)"
        rates = [ph.gen_rate for n, ph in [*run.items(), *raw.items()] if n.startswith("exec 1000/s")]
        add(
            f"CPU % at 1000 exec/s, {label}",
            _f(ma, "{:.2f}"),
            _f(mp, "{:.2f}") + " (auditd RAW)",
            "≤ auditd RAW" if factor == 1.0 else f"≤ {factor:g} × auditd RAW",
            None if ma is None or mp is None else ma <= factor * mp,
            value=ma,
            peer_value=mp,
            idle=run["idle"].cpu_pct if "idle" in run else None,
            peer_idle=raw["idle"].cpu_pct if "idle" in raw else None,
            auditsql_runs=a,
            peer_runs=p,
            slow_generator=min(rates) < 950 if rates else None,
        )
    on = [ph.cpu_pct for n, ph in by.get(T["run-off"], {}).items() if n.startswith("exec 1000/s")]
    off = [ph.cpu_pct for n, ph in by.get(T["run-off-nj"], {}).items() if n.startswith("exec 1000/s")]
    m_on, m_off = _median(on), _median(off)
    if m_off is not None:
        add(
            "CPU % at 1000 exec/s, tree off: the journal's cost",
            _f(m_on, "{:.2f}") + " (journal on)",
            _f(m_off, "{:.2f}") + " (journal off)",
            "measured (no target)",
            None,
            value=m_on,
            peer_value=m_off,
            auditsql_runs=on,
            peer_runs=off,
        )
    for phase, label, unit in (("exec max", "exec at max", "exec/s"), ("storm", "connect storm", "conn/s")):
        for mode, suffix in (("defaults", "on"), ("tree off", "off")):
            a1 = by.get(T[f"run-{suffix}"], {}).get(phase)
            p1 = by.get(T[f"null-{suffix}"], {}).get(phase)
            ratio = a1.gen_rate / p1.gen_rate if a1 and p1 and p1.gen_rate else None
            add(
                f"{label} ({unit}), {mode}",
                f"{a1.gen_rate:,.0f}" if a1 else "-",
                (f"{p1.gen_rate:,.0f} (null reader)" if p1 else "-")
                + (f", {100 * ratio:.1f}%" if ratio is not None else ""),
                "≥ 95 % of the null reader",
                None if ratio is None else ratio >= 0.95,
                value=a1.gen_rate if a1 else None,
                peer_value=p1.gen_rate if p1 else None,
            )
    for mode, suffix in (("defaults", "on"), ("tree off", "off")):
        a1 = by.get(T[f"run-{suffix}"], {}).get("loss")
        p1 = by.get(T[f"null-{suffix}"], {}).get("loss")
        stored = a1.extra.get("stored") if a1 else None
        ok = None if a1 is None or stored is None else stored == a1.generated and a1.lost == 0
        add(
            f"loss test ({st.loss_count:,} connects, wait 0), {mode}",
            f"{100.0 * stored / a1.generated:.2f}% stored ({stored:,}), lost {a1.lost:,}"
            if a1 and stored is not None and a1.generated
            else "-",
            f"{p1.recorded_pct:.2f}% recorded, lost {p1.lost:,} (null reader)"
            if p1 and p1.recorded_pct is not None
            else "-",
            "100 % stored, 0 lost",
            ok,
            value=stored,
            generated=a1.generated if a1 else None,
            lost=a1.lost if a1 else None,
            peer_value=p1.recorded if p1 else None,
            peer_lost=p1.lost if p1 else None,
        )
    for mode, suffix in (("defaults", "on"), ("tree off", "off")):
        a1 = by.get(T[f"run-{suffix}"], {}).get("rss")
        raw = by.get(T[f"raw-{suffix}"], {})
        peer = sum(list(raw.values())[-1].extra.get("rss_mb") or []) if raw else 0.0
        vm = (a1.extra.get("vm_mb") or {}) if a1 else {}
        ev = a1.extra.get("events_total") if a1 else None
        for field_name, what in (("VmRSS", "RSS"), ("VmHWM", "peak RSS (VmHWM)")):
            v = vm.get(field_name)
            add(
                f"{what} after {ev or st.rss_events:,} events, {mode}",
                _f(v, "{:.1f} MB"),
                f"{peer:.1f} MB (auditd RAW's VmHWM)" if peer else "-",
                "≤ 50 MB",
                None if v is None else v <= 50.0,
                value=v,
                peer_value=peer or None,
                events=ev,
            )

    lines.append("Issue figures (the native core)")
    fw = max(len(f["figure"]) for f in figures)
    aw = max([len(f["auditsql"]) for f in figures] + [8])
    pw = max([len(f["peer"]) for f in figures] + [4])
    tw = max([len(f["target"]) for f in figures] + [6])
    lines.append(
        f"{'figure'.ljust(fw)}  {'auditsql'.rjust(aw)}  {'peer'.ljust(pw)}  {'target'.ljust(tw)}  met"
    )
    for f in figures:
        lines.append(
            f"{f['figure'].ljust(fw)}  {f['auditsql'].rjust(aw)}  {f['peer'].ljust(pw)}  {f['target'].ljust(tw)}"
            f"  {_yn(f['met'])}"
        )
    for f in figures:
        if f.get("auditsql_runs"):
            runs = ", ".join(f"{x:.2f}" for x in f["auditsql_runs"])
            peers = ", ".join(f"{x:.2f}" for x in f["peer_runs"])
            idle = f"; idle (no load) {_f(f.get('idle'), '{:.2f}')} vs {_f(f.get('peer_idle'), '{:.2f}')}"
            lines.append(f"  {f['figure']}: runs {runs} vs {peers} (medians above){idle}")
            if f.get("slow_generator"):
                lines.append(
                    "    the generator fell short of 1000 exec/s in a run (a busy machine): see its gen/s above"
                )
    return lines, figures


def _yn(v: bool | None) -> str:
    return "-" if v is None else ("yes" if v else "no")


def memory_and_rows(by: dict[str, dict[str, Phase]]) -> list[str]:
    """Peak RSS per consumer (VmHWM, all its processes) and, for auditsql run, rows stored vs generated."""
    names = ["exec 100/s", "exec 1000/s", "exec max", "storm", "loss"]
    out = ["Peak RSS (VmHWM of the consumer's processes at its end, MB; auditd + laurel: each process)"]
    for title, p in by.items():
        last = list(p.values())[-1] if p else None
        rss = (last.extra.get("rss_mb") if last is not None else None) or []
        if rss:
            each = " + ".join(f"{v:.1f}" for v in rss)
            out.append(f"  {title:28} {sum(rss):7.1f}" + (f"  ({each})" if len(rss) > 1 else ""))
    run = by.get(TITLES["run"])
    if run is None:
        return out
    out.append("")
    out.append(
        "auditsql run: rows stored vs events generated (process_events for execs, socket_events connects)"
    )
    w = [12, 10, 10, 9, 10, 9]
    out.append(
        "  ".join(
            c.rjust(n)
            for c, n in zip(
                ["phase", "generated", "assembled", "rec %", "stored", "stored %"], w, strict=True
            )
        )
    )
    for n in names:
        ph = run.get(n)
        if ph is None:
            continue
        stored = ph.extra.get("stored")
        cells = [
            n,
            f"{ph.generated:,}",
            _f(ph.recorded, "{:,}"),
            _f(ph.recorded_pct),
            _f(stored, "{:,}"),
            _f(100.0 * stored / ph.generated if stored is not None and ph.generated else None),
        ]
        out.append("  ".join(c.rjust(k) for c, k in zip(cells, w, strict=True)))
    last = list(run.values())[-1]
    if "db_rows" in last.extra:
        rows = ", ".join(f"{k} {v:,}" for k, v in last.extra["db_rows"].items())
        out.append(f"  database at the end: {rows}; {last.extra.get('db_bytes', 0) / 1e6:.1f} MB")
    return out


def run_targets(by: dict[str, dict[str, Phase]]) -> list[str]:
    ours = by.get(TITLES["run"])
    if ours is None:
        return []
    out = ["Targets (issue 5, item 7) for auditsql run:"]
    enr = by.get(TITLES["auditd-enriched"], {}).get("exec 1000/s")
    a, loss = ours.get("exec 1000/s"), ours.get("loss")
    if a is not None:
        limit = enr.cpu_pct if enr is not None else REFERENCE["cpu1000"]["auditd ENRICHED"]  # type: ignore[index]
        src = "auditd ENRICHED here" if enr is not None else "the issue's auditd ENRICHED"
        ok = "met" if a.cpu_pct <= limit else "MISSED"
        out.append(f"  CPU at 1000 exec/s: {a.cpu_pct:.2f}% vs {limit:.2f}% ({src}): {ok}")
    rss = sum(list(ours.values())[-1].extra.get("rss_mb") or []) if ours else 0
    if rss:
        out.append(f"  RSS: {rss:.1f} MB (target ≤ 100 MB): {'met' if rss <= 100 else 'MISSED'}")
    if loss is not None:
        stored = loss.extra.get("stored")
        if stored is not None:
            ok = "met" if stored == loss.generated else "MISSED"
            out.append(
                f"  loss test: {stored:,} of {loss.generated:,} connects stored"
                f" ({100.0 * stored / loss.generated:.1f}%, target 100%): {ok}"
            )
    return out


def targets(by: dict[str, dict[str, Phase]]) -> list[str]:
    ours = by.get(TITLES["listen"])
    out = ["Targets (issue 4, item 8) for auditsql listen:"]
    if ours is None:
        return [*out, "  auditsql listen was not run"]
    enr = by.get(TITLES["auditd-enriched"], {}).get("exec 1000/s")
    raw = by.get(TITLES["auditd-raw"], {}).get("storm")
    a, s, loss = ours.get("exec 1000/s"), ours.get("storm"), ours.get("loss")
    if a is not None:
        limit = enr.cpu_pct if enr is not None else REFERENCE["cpu1000"]["auditd ENRICHED"]  # type: ignore[index]
        src = "auditd ENRICHED here" if enr is not None else "the issue's auditd ENRICHED"
        ok = "met" if a.cpu_pct <= limit else "MISSED"
        out.append(f"  CPU at 1000 exec/s: {a.cpu_pct:.2f}% vs {limit:.2f}% ({src}): {ok}")
    if s is not None and raw is not None:
        ok = "met" if s.gen_rate >= raw.gen_rate else "MISSED"
        out.append(f"  storm throughput: {s.gen_rate:,.0f}/s vs auditd RAW {raw.gen_rate:,.0f}/s: {ok}")
    if loss is not None and loss.recorded_pct is not None:
        ok = "met" if loss.recorded == loss.generated else "MISSED"
        out.append(f"  loss test: {loss.recorded_pct:.1f}% recorded (target 100%): {ok}")
    return out


# ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 1 s phases, a 10,000-connect loss test, no wait for a quiet machine",
    )
    ap.add_argument("--seconds", type=float, help="seconds per exec phase (default 10; --quick 1)")
    ap.add_argument(
        "--storm-seconds", type=float, help="seconds of the throughput storm (default 10; --quick 1)"
    )
    ap.add_argument(
        "--loss-count", type=int, help="connects in the loss test (default 200000; --quick 10000)"
    )
    ap.add_argument(
        "--issue",
        action="store_true",
        help="the native-core issue's figures: auditsql run (defaults, tree off) beside auditd RAW and the null"
        " reader under exactly its rules",
    )
    ap.add_argument(
        "--consumers",
        help=f"comma list of: {', '.join(TITLES)} (default: all but listen-lean); with --issue: "
        f"{', '.join(ISSUE_CONSUMERS)} (default: all six), off",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        help="--issue: runs of the exec 1000/s phase, median taken (default 3; --quick 1)",
    )
    ap.add_argument(
        "--rss-events",
        type=int,
        help="--issue: auditsql run's events before its RSS is read (default 1000000; --quick 100000)",
    )
    ap.add_argument(
        "--backlog-limit",
        type=int,
        default=8192,
        help="set for every consumer (default 8192; --issue: the value auditsql run's rules set)",
    )
    ap.add_argument(
        "--wait-time", type=int, help="backlog_wait_time outside the loss test (default: as found)"
    )
    ap.add_argument("--inflight", type=int, default=2, help="exec max: children in flight (default 2)")
    ap.add_argument(
        "--lock-timeout", type=float, default=900, help="seconds to wait for the kernel-test lock"
    )
    ap.add_argument(
        "--quiet",
        type=float,
        default=25.0,
        help="before each consumer, wait for the machine to be busier than us by less than this %% of one CPU",
    )
    ap.add_argument(
        "--quiet-wait", type=float, help="seconds to wait for that at most (default 120; --quick 0: no check)"
    )
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")
    args = ap.parse_args(argv)

    if os.geteuid() != 0:
        print("live.py: needs root (it registers audit daemons and loads rules)", file=sys.stderr)
        return 2
    issue = args.issue
    default_names = ",".join(ISSUE_CONSUMERS) if issue else ",".join(CONSUMERS)
    names = [n.strip() for n in (args.consumers or default_names).split(",") if n.strip()]
    known = (*ISSUE_CONSUMERS, "off") if issue else tuple(TITLES)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(
            f"live.py: unknown consumer(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr
        )
        return 2
    need = {AUDITD} if any("auditd" in n or n.startswith("raw-") for n in names) else set()
    if "auditd-laurel" in names:
        need.add(LAUREL)
    for exe in sorted(need):
        if not os.access(exe, os.X_OK):
            print(f"live.py: {exe} is missing (apt-get install auditd laurel)", file=sys.stderr)
            return 2
    nobody = pwd.getpwnam("nobody")
    quick = args.quick
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with kernel_lock(args.lock_timeout):
        snap = snapshot()
        if snap.pid and _alive(snap.pid):
            print(f"live.py: pid {snap.pid} is the audit daemon; stop it first", file=sys.stderr)
            return 2
        if snap.status["enabled"] == 2:
            print("live.py: audit is locked (enabled 2)", file=sys.stderr)
            return 2
        st = Settings(
            seconds=args.seconds or (1.0 if quick else 10.0),
            storm_seconds=args.storm_seconds or (1.0 if quick else 10.0),
            loss_count=args.loss_count or (10_000 if quick else 200_000),
            wait_time=args.wait_time
            if args.wait_time is not None
            else (snap.status["backlog_wait_time"] or 15000),
            backlog_limit=args.backlog_limit,
            inflight=args.inflight,
            uid=nobody.pw_uid,
            gid=nobody.pw_gid,
            quiet_threshold=args.quiet,
            quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if quick else 120.0),
            issue=issue,
            repeats=args.repeats or (1 if quick else 3),
            rss_events=args.rss_events or (100_000 if quick else 1_000_000),
        )
        b0 = machine_busy()
        time.sleep(1.0)
        idle_busy = 100.0 * (machine_busy() - b0) / CLK_TCK
        say(f"before the start the machine was busy {idle_busy:.0f}% of one CPU (other work)")
        key = f"auditsql_live_bench_{uuid.uuid4().hex[:8]}"
        tmp = Path(tempfile.mkdtemp(prefix="auditsql-live-"))
        consumers: list[Consumer] = []
        results: dict[str, list[Phase]] = {}
        rulesets: dict[str, RuleSet] = {}
        problems: list[str] = []
        started = time.monotonic()
        try:
            st.helpers = build_helpers(tmp)
            set_knobs(enabled=0, rate_limit=0, backlog_limit=st.backlog_limit, backlog_wait_time=st.wait_time)
            if issue:
                modes = [ISSUE_CONSUMERS[n][1] for n in names if n in ISSUE_CONSUMERS]
                for mode in dict.fromkeys(modes):
                    probe = Run(tmp / f"probe-{mode.replace(' ', '-')}", st.uid, mode)
                    consumers.append(probe)  # its state file, should it be left
                    rulesets[mode] = probe_rules(mode, tmp, st.uid, probe)
                limits = {rs.knobs.get("backlog_limit") for rs in rulesets.values()}
                if len(limits) == 1 and None not in limits:
                    st.backlog_limit = int(limits.pop())  # type: ignore[arg-type]
                    set_knobs(backlog_limit=st.backlog_limit)
                say(
                    f"backlog_limit {st.backlog_limit} (auditsql run's), backlog_wait_time {st.wait_time}; tmp {tmp}"
                )
            else:
                rule = f"-a always,exit -F arch=b64 -S execve,connect -F uid={st.uid} -k {key}"
                with AuditSocket() as sock:
                    add_rule(sock, parse_rule(rule).encode())
                say(
                    f"rule: {rule}; backlog_limit {st.backlog_limit}, backlog_wait_time {st.wait_time}; tmp {tmp}"
                )
            for name in names:
                consumer = make_consumer(name, tmp, key, st.uid, rulesets)
                consumers.append(consumer)
                try:
                    results[consumer.name] = run_consumer(consumer, st, problems)
                except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                    say(f"{consumer.name}: FAILED: {exc}")
        finally:
            for proc in STARTED:
                stop_proc(proc)
            for pid in EXTRA_PIDS:
                stop_extra(pid)
            ours = {p.pid for p in STARTED}
            files = [f for c in consumers for f in c.state_files]
            problems += restore(snap, key, ours, files)
            if problems:
                say("kernel state NOT fully restored: " + "; ".join(problems))
            else:
                say("kernel state restored (status knobs, pid, rules)")
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    figures: list[dict[str, Any]] = []
    if issue:
        body, figures = issue_report(
            {title: {ph.name: ph for ph in phases} for title, phases in results.items()}, st, rulesets
        )
        rules_line = "rules: auditsql run's own (every uid), per mode below"
    else:
        body = report(results, st)
        rules_line = "rules: execve,connect for that uid"
    lines = [
        f"live.py: {platform.node()} {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", {'quick' if quick else 'full'}{' --issue' if issue else ''} run in {elapsed:.0f} s",
        f"load as uid {st.uid} (nobody); {rules_line}; backlog_limit {st.backlog_limit}",
        f"phases {st.seconds:g} s, storm {st.storm_seconds:g} s, loss test {st.loss_count:,} connects"
        + (f", exec 1000/s x {st.repeats}, RSS after {st.rss_events:,} events" if issue else ""),
        f"machine busy before the start (other work): {idle_busy:.0f}% of one CPU",
        "",
        *body,
    ]
    if problems:
        lines += ["", "kernel state NOT fully restored: " + "; ".join(problems)]
    print("\n".join(lines))
    if args.json:
        data = {
            "settings": {k: v for k, v in asdict(st).items() if k != "helpers"},
            "command": sys.argv,
            "rulesets": {
                m: {
                    "rules_hex": [r.hex() for r in rs.rules],
                    "auditctl": rs.text,
                    "knobs": rs.knobs,
                    "compiled_match": rs.compiled_match,
                }
                for m, rs in rulesets.items()
            },
            "figures": figures,
            "reference": REFERENCE,
            "results": {
                t: [{**asdict(ph), "cpu_pct": ph.cpu_pct, "us_per_event": ph.us_per_event} for ph in phases]
                for t, phases in results.items()
            },
            "restore_problems": problems,
        }
        args.json.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

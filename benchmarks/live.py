#!/usr/bin/env python3
"""Live benchmark: every kernel audit consumer under the same rules, the same load, in one run.

Consumers (each registered in turn as the kernel's audit daemon, unicast; never two at once):

- ``audit off``: no consumer, ``enabled 0`` (the rules stay loaded): the load generators' own speed;
- ``py null reader``: a bare pure-Python loop that registers, ``recv_into`` and discards (counts SYSCALL
  records only) - the floor for any Python reader;
- ``py reader + parse``: the same loop calling auditsql's ``parse_netlink`` on every record, inline (no
  thread, no queue): with the next two, it splits auditsql's cost into receive, parse, hand-off between
  threads, and assemble + render + JSON;
- ``auditsql source``: auditsql's own reader (:class:`auditsql.kernel.sources.NetlinkSource`: reader thread,
  bounded queue, ``parse_netlink`` on the processing side), records discarded after parsing;
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

Usage: python3 benchmarks/live.py [--quick] [--seconds S] [--storm-seconds S] [--loss-count N]
                                  [--consumers off,null,parse,source,listen,listen-lean,auditd-raw,...]
                                  [--backlog-limit N] [--wait-time J] [--quiet PCT] [--quiet-wait S]
                                  [--json FILE] [--keep]

The default run takes about 9 minutes (10 s phases, a 200,000-connect loss test, 8 consumers); ``--quick``
(1 s phases, 10,000 connects, no wait for a quiet machine) about 90 s.
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
from auditsql.kernel.snapshot import restore_from_file
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
    "source": "auditsql source",
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

stats_path = sys.argv[1]
parse = None
if sys.argv[2:] == ["parse"]:
    from auditsql._core import parse_netlink as parse
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
messages = syscalls = enobufs = 0
last = 0.0

def write():
    tmp = stats_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"time": time.time(), "messages": messages, "syscall": syscalls, "enobufs": enobufs}, fh)
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
    if not messages & 255 and time.monotonic() - last > 0.25:
        last = time.monotonic()
        write()
set_pid(0)
write()
'''

SOURCE_READER = r'''
"""auditsql's live source alone: NetlinkSource (unicast, reader thread, queue, parse); records discarded."""
import json, os, signal, sys, time
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
src = NetlinkSource("unicast", session)
src.start()
syscalls = 0
last = 0.0

def write():
    tmp = stats_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"time": time.time(), "syscall": syscalls, "reader": src.counters}, fh)
    os.replace(tmp, stats_path)

try:
    write()
    while not stop:
        for rec in src.get(timeout=0.2):
            if rec.type == 1300:
                syscalls += 1
        if time.monotonic() - last > 0.25:
            last = time.monotonic()
            write()
finally:
    src.stop()
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

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.state_files: list[Path] = []
        #: the counter as of the end of the last phase (see :meth:`counter`)
        self.last_count: int | None = None

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def counter(self, after: float) -> int | None:
        """Cumulative events recorded, as of a stats write after wall time ``after`` (stats-file readers)."""
        return None

    def stop(self) -> None:
        if self.proc is not None:
            rc = stop_proc(self.proc)
            if rc not in (0, None, -signal.SIGTERM):
                say(f"{self.name} exited with {rc}; see {self.tmp}")

    def count_files(self, phases: list[Phase]) -> None:
        """Log-file consumers: count each phase's events in the log after the consumer stopped."""

    def wait_registered(self, timeout: float = 20.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before registering")
            if status().pid == self.proc.pid:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not register as the audit daemon in {timeout:.0f} s")


class Off(Consumer):
    name = "audit off"
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


class NullReader(StatsConsumer):
    name = TITLES["null"]
    mode: tuple[str, ...] = ()

    def start(self) -> None:
        script = self.tmp / "null_reader.py"
        script.write_text(NULL_READER, encoding="utf-8")
        self.proc = start([sys.executable, str(script), str(self.stats), *self.mode], self.tmp / "stderr.log")
        self.wait_registered()


class ParseReader(NullReader):
    name = TITLES["parse"]
    mode = ("parse",)


class SourceReader(StatsConsumer):
    name = TITLES["source"]

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
    count_key = "events"
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


class Run(Listen):
    """``auditsql run``, the main job: every event parsed, assembled, rendered, mapped to table rows and stored
    (a temporary ``--db``), no results log, no status lines. ``--rules none``: the benchmark's rule (the same for
    every consumer) instead of the built-in osquery rules, which would audit every uid. ``recorded`` is its
    stats file's ``events`` (assembled); ``stored`` the rows in the database after it stopped (process_events
    for the exec phases, socket_events connects for the storm and the loss test), binned by event time."""

    name = TITLES["run"]

    def __init__(self, tmp: Path, key: str) -> None:
        super().__init__(tmp)
        self.key = key
        self.db = tmp / "store.db"

    def start(self) -> None:
        state = self.tmp / "state.json"
        self.state_files.append(state)
        argv = [auditsql_exe(), "run", "--source", "unicast", "--db", str(self.db), "--results-log", ""]
        argv += ["--rules", "none", "--status-interval", "0", "--state-file", str(state)]
        argv += ["--stats-file", str(self.stats)]
        self.proc = start(argv, self.tmp / "stderr.log")
        self.wait_registered()
        deadline = time.monotonic() + 10
        while not self.stats.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def count_files(self, phases: list[Phase]) -> None:
        import sqlite3

        from auditsql.store.sqlite import ro_uri

        if not self.db.exists():
            return
        conn = sqlite3.connect(ro_uri(str(self.db)), uri=True)
        try:
            rows: list[tuple[float, int]] = []
            for table, nr, extra in (
                ("process_events", SYS_EXECVE, ""),
                ("socket_events", SYS_CONNECT, " AND action = 'connect'"),
            ):
                for (eid,) in conn.execute(f"SELECT eid FROM {table} WHERE key = ?{extra}", (self.key,)):
                    rows.append((float(eid.rsplit(":", 1)[0].rsplit(":", 1)[-1]), nr))
            total = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("process_events", "socket_events", "audit_events", "audit_loss")
            }
        finally:
            conn.close()
        for ph, n in zip(phases, _bin(phases, iter(rows)), strict=True):
            ph.extra["stored"] = n
        if phases:
            phases[-1].extra["db_rows"] = total
            phases[-1].extra["db_bytes"] = sum(
                p.stat().st_size for p in (self.db, Path(f"{self.db}-wal")) if p.exists()
            )


_SYSCALL_LINE = re.compile(rb"^type=SYSCALL msg=audit\((\d+\.\d+):\d+\): arch=\w+ syscall=(\d+) ")


class Auditd(Consumer):
    def __init__(self, tmp: Path, fmt: str, key: str, laurel: bool = False) -> None:
        super().__init__(tmp)
        self.fmt = fmt
        self.key = key
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
        key = f'key="{self.key}"'.encode()
        auditd_counts = _bin(phases, _auditd_events(self.log, key))
        if not self.laurel:
            for ph, n in zip(phases, auditd_counts, strict=True):
                ph.recorded = n
            return
        laurel_counts = _bin(phases, _laurel_events(self.laurel_dir, self.key))
        for ph, n, a in zip(phases, laurel_counts, auditd_counts, strict=True):
            ph.recorded = n
            ph.extra["auditd_logged"] = a


def _auditd_events(path: Path, key: bytes) -> Iterator[tuple[float, int]]:
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError:
        return
    with fh:
        for line in fh:
            if line.startswith(b"type=SYSCALL ") and key in line:
                m = _SYSCALL_LINE.match(line)
                if m:
                    yield float(m.group(1)), int(m.group(2))


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
    if changed or consumer.last_count is None:
        drain(meter, timeout=60)  # else the last phase's drain left it idle
    # nothing is audited between phases unless a knob changed (a CONFIG_CHANGE event): reuse the last count
    base = (
        consumer.last_count
        if not changed and consumer.last_count is not None
        else consumer.counter(time.time())
    )
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
    if base is not None:
        now = consumer.counter(wall_drained)
        consumer.last_count = now
        ph.recorded = None if now is None or base is None else now - base
        stats = getattr(consumer, "last_stats", None)
        if stats is not None:
            ph.extra["stats"] = stats
    rec = "" if ph.recorded is None else f", recorded {ph.recorded}"
    say(
        f"  {name}: {ph.generated} events at {ph.gen_rate:,.0f}/s, cpu {ph.cpu_pct:.1f}% over {ph.window:.1f} s"
        f" (drain {ph.drain_s:.1f} s), lost {ph.lost}{rec}; generator {ph.gen_pct:.0f}%, other {ph.other_pct:.0f}%"
    )
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


def run_consumer(consumer: Consumer, st: Settings) -> list[Phase]:
    lg, sm = str(st.helpers["loadgen"]), str(st.helpers["storm"])
    ids = [str(st.uid), str(st.gid)]
    T = st.seconds
    wait_quiet(st.quiet_threshold, st.quiet_wait)
    say(f"{consumer.name}: starting")
    consumer.start()
    phases: list[Phase] = []
    try:
        set_knobs(enabled=1 if consumer.registers else 0)
        meter = Meter(consumer)
        if consumer.registers:
            for rate in (100, 1000):
                phases.append(
                    run_phase(
                        consumer,
                        meter,
                        st,
                        f"exec {rate}/s",
                        [lg, *ids, str(rate), str(T)],
                        SYS_EXECVE,
                        T + 120,
                    )
                )
        phases.append(
            run_phase(
                consumer,
                meter,
                st,
                "exec max",
                [lg, *ids, "0", str(T), str(st.inflight)],
                SYS_EXECVE,
                T + 180,
            )
        )
        phases.append(
            run_phase(
                consumer,
                meter,
                st,
                "storm",
                [sm, *ids, "0", str(st.storm_seconds)],
                SYS_CONNECT,
                st.storm_seconds + 180,
            )
        )
        if consumer.registers:
            phases.append(
                run_phase(
                    consumer,
                    meter,
                    st,
                    "loss",
                    [sm, *ids, str(st.loss_count), "300"],
                    SYS_CONNECT,
                    400,
                    wait_time=0,
                )
            )
    finally:
        set_knobs(enabled=0, backlog_wait_time=st.wait_time)
        hwm = vm_hwm_mb(consumer.pids())
        consumer.stop()
    if phases:
        phases[-1].extra["rss_mb"] = hwm
    consumer.count_files(phases)
    return phases


def vm_hwm_mb(pids: list[int]) -> list[float]:
    """Peak resident set (``VmHWM``) of each live process, MB."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        out.append(int(line.split()[1]) / 1024.0)
                        break
        except OSError:
            continue
    return out


def make_consumer(name: str, tmp: Path, key: str) -> Consumer:
    d = tmp / name
    d.mkdir()
    if name == "off":
        return Off(d)
    if name == "null":
        return NullReader(d)
    if name == "parse":
        return ParseReader(d)
    if name == "source":
        return SourceReader(d)
    if name == "listen":
        return Listen(d)
    if name == "listen-lean":
        return ListenLean(d)
    if name == "run":
        return Run(d, key)
    if name == "auditd-raw":
        return Auditd(d, "RAW", key)
    if name == "auditd-enriched":
        return Auditd(d, "ENRICHED", key)
    if name == "auditd-laurel":
        return Auditd(d, "ENRICHED", key, laurel=True)
    raise SystemExit(f"live.py: unknown consumer {name!r}; known: {', '.join(TITLES)}")


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
    ap.add_argument("--consumers", default=",".join(CONSUMERS), help=f"comma list of: {', '.join(TITLES)}")
    ap.add_argument("--backlog-limit", type=int, default=8192, help="set for every consumer (default 8192)")
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
    for exe in (AUDITD, LAUREL):
        if not os.access(exe, os.X_OK):
            print(f"live.py: {exe} is missing (apt-get install auditd laurel)", file=sys.stderr)
            return 2
    names = [n.strip() for n in args.consumers.split(",") if n.strip()]
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
        )
        b0 = machine_busy()
        time.sleep(1.0)
        idle_busy = 100.0 * (machine_busy() - b0) / CLK_TCK
        say(f"before the start the machine was busy {idle_busy:.0f}% of one CPU (other work)")
        key = f"auditsql_live_bench_{uuid.uuid4().hex[:8]}"
        tmp = Path(tempfile.mkdtemp(prefix="auditsql-live-"))
        consumers: list[Consumer] = []
        results: dict[str, list[Phase]] = {}
        problems: list[str] = []
        started = time.monotonic()
        try:
            st.helpers = build_helpers(tmp)
            rule = f"-a always,exit -F arch=b64 -S execve,connect -F uid={st.uid} -k {key}"
            with AuditSocket() as sock:
                add_rule(sock, parse_rule(rule).encode())
            set_knobs(enabled=0, rate_limit=0, backlog_limit=st.backlog_limit, backlog_wait_time=st.wait_time)
            say(
                f"rule: {rule}; backlog_limit {st.backlog_limit}, backlog_wait_time {st.wait_time}; tmp {tmp}"
            )
            for name in names:
                consumer = make_consumer(name, tmp, key)
                consumers.append(consumer)
                try:
                    results[consumer.name] = run_consumer(consumer, st)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    say(f"{consumer.name}: FAILED: {exc}")
        finally:
            for proc in STARTED:
                stop_proc(proc)
            for pid in EXTRA_PIDS:
                stop_extra(pid)
            ours = {p.pid for p in STARTED}
            files = [f for c in consumers for f in c.state_files]
            problems = restore(snap, key, ours, files)
            if problems:
                say("kernel state NOT fully restored: " + "; ".join(problems))
            else:
                say("kernel state restored (status knobs, pid, rules)")
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    lines = [
        f"live.py: {platform.node()} {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", {'quick' if quick else 'full'} run in {elapsed:.0f} s",
        f"audited uid {st.uid} (nobody); rules: execve,connect for that uid; backlog_limit {st.backlog_limit}",
        f"machine busy before the start (other work): {idle_busy:.0f}% of one CPU",
        "",
        *report(results, st),
    ]
    print("\n".join(lines))
    if args.json:
        data = {
            "settings": {k: v for k, v in asdict(st).items() if k != "helpers"},
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

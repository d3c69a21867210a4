"""``process_file_events`` on the real kernel under ``auditsql run`` with ``[file_events] paths``: a watched
directory (files and a subdirectory created after start included) and a watched file that did not exist at
start; the exact rows of create, write, truncate, rename, chmod, chown, link, unlink...; the watch rules
loaded while running and removed after; a path whose directory is missing is refused before the kernel is
touched.

The ``live_kernel`` fixture (tests/kernel/test_live.py) holds the kernel-test lock, stops only the processes
this test started and checks the kernel is left as found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.kernel import test_live
from tests.kernel.conftest import auditctl_rules
from tests.kernel.test_live import AUDITSQL, LiveKernel, _status_now, stop, wait_for
from tests.kernel.test_run import ours, start_run

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: the file operations, in a process of their own (cwd: the test's tmp directory); prints its pid and ids
ACTOR = r"""
import json, os, sys
w, later = sys.argv[1], sys.argv[2]
open(f"{w}/a.txt", "w").write("x")                # create
with open(f"{w}/a.txt", "a") as f:                # write (O_WRONLY|O_APPEND)
    f.write("y")
os.truncate(f"{w}/a.txt", 1)                      # truncate
os.rename(f"{w}/a.txt", f"{w}/b.txt")             # rename
os.chmod(f"{w}/b.txt", 0o600)                     # chmod
os.chown(f"{w}/b.txt", 65534, 65534)              # chown
os.mkdir(f"{w}/sub")                              # mkdir: a directory created after start
open(f"{w}/sub/new", "w").close()                 # create inside it
os.link(f"{w}/b.txt", f"{w}/hard")                # link
os.chdir(w)
open("rel", "w").close()                          # a relative name: joined with the cwd
os.unlink("rel")                                  # unlink
os.chdir("..")
os.unlink(f"{w}/hard")
os.unlink(f"{w}/sub/new")
os.rmdir(f"{w}/sub")                              # rmdir
open(f"{w}/b.txt").read()                         # a read: not a row (-p wa)
open(later, "w").write("z")                       # the file that did not exist at start
os.unlink(later)
print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid()}), flush=True)
"""


def test_file_events_under_run(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    w = lk.tmp / "watched dir"
    w.mkdir()
    later = lk.tmp / "later.txt"
    config = f"[file_events]\npaths = [{json.dumps(str(w))}, {json.dumps(str(later))}]\n"
    run = start_run(lk, config, "--source", "unicast")
    watches = [r for r in auditctl_rules() if "auditsql_file" in r]
    assert watches == [f"-w {w} -p wa -k auditsql_file", f"-w {later} -p wa -k auditsql_file"]
    res = subprocess.run(
        [sys.executable, "-c", ACTOR, str(w), str(later)],
        capture_output=True,
        timeout=30,
        check=True,
        cwd=lk.tmp,
    )
    f = json.loads(res.stdout)

    def stored() -> bool:
        return run.query("SELECT count(*) FROM process_file_events WHERE pid = ?", f["pid"])[0][0] >= 16

    wait_for(stored, timeout=20, what="the file rows")
    assert stop(run.proc) == 0
    assert [r for r in auditctl_rules() if "auditsql_file" in r] == []
    assert ours(auditctl_rules(), run.proc.pid) == ours(lk.rules)
    assert _status_now() == lk.status

    rows = run.query(
        "SELECT operation, syscall, path, dest_path, partial, cwd, success, key FROM process_file_events "
        "WHERE pid = ? ORDER BY eid",
        f["pid"],
    )
    d, tmp = str(w), str(lk.tmp)

    def row(op: str, syscall: str, path: str, dest: str | None = None, cwd: str = tmp) -> tuple:
        return (op, syscall, path, dest, "false", cwd, 1, "auditsql_file")

    assert rows == [
        row("create", "openat", f"{d}/a.txt"),
        row("write", "openat", f"{d}/a.txt"),
        row("truncate", "truncate", f"{d}/a.txt"),
        row("rename", "rename", f"{d}/a.txt", f"{d}/b.txt"),
        row("chmod", "chmod", f"{d}/b.txt"),
        row("chown", "chown", f"{d}/b.txt"),
        row("mkdir", "mkdir", f"{d}/sub"),
        row("create", "openat", f"{d}/sub/new"),
        row("link", "link", f"{d}/b.txt", f"{d}/hard"),
        row("create", "openat", f"{d}/rel", cwd=d),
        row("unlink", "unlink", f"{d}/rel", cwd=d),
        row("unlink", "unlink", f"{d}/hard"),
        row("unlink", "unlink", f"{d}/sub/new"),
        row("rmdir", "rmdir", f"{d}/sub"),
        row("create", "openat", str(later)),
        row("unlink", "unlink", str(later)),
    ]
    ids = run.query(
        "SELECT DISTINCT ppid, uid, euid, fsuid, gid, executable FROM process_file_events WHERE pid = ?",
        f["pid"],
    )
    assert ids == [(f["ppid"], f["uid"], f["uid"], f["uid"], os.getgid(), os.path.realpath(sys.executable))]


def test_missing_directory_is_refused_before_the_kernel_is_touched(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    missing = lk.tmp / "no such dir" / "file"
    cfg = lk.tmp / "bad.toml"
    cfg.write_text(f"[file_events]\npaths = [{json.dumps(str(missing))}]\n")
    res = subprocess.run(
        [*AUDITSQL, "run", "--db", str(lk.tmp / "db"), "--results-log", "", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().split("\n")
    assert len(lines) == 1
    assert lines[0].endswith(
        f"[file_events] paths: {missing}: its directory {missing.parent} does not exist and the kernel needs it "
        "to place the watch; create it or watch an existing ancestor instead"
    )
    assert _status_now() == lk.status
    assert auditctl_rules() == lk.rules

"""Loss made visible on the real kernel: storms beyond what the machine takes, every loss in ``audit_loss``.

Each test runs ``auditsql run`` (``tests/kernel/test_run.py``'s harness: kernel lock, processes stopped by
pid, knobs and daemon pid checked after), drives one kind of loss with a storm of failed ``connect()`` calls
(``-S connect``: each event is SYSCALL, SOCKADDR, PROCTITLE, EOE), then compares
``SELECT cause, detail, sum(count) FROM audit_loss`` with the kernel's ``lost`` delta (``auditctl -s`` before
and after: the kernel-side causes) and with the reader's own counters (the stats file: the user-side causes).

One exact relation holds in every test and ties ``serial_gap`` to what was stored: every serial number
between the first and the last one auditsql saw is either an event in ``audit_events`` or counted missing,
``count(DISTINCT serial) + sum(serial_gap) = max(serial) - min(serial) + 1``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from auditsql.kernel.loss import UNLOGGED
from tests.kernel import test_live
from tests.kernel.conftest import auditctl_status
from tests.kernel.test_live import LiveKernel, _status_now, stop, wait_for
from tests.kernel.test_run import Run, launch
from tests.tinyfs import fill, tiny_fs

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: the serial number of an ``audit_events`` row (``eid`` is ``SEC.MSEC:SERIAL``, maybe ``node:`` first)
SERIAL = "CAST(substr(eid, instr(eid, ':') + 1) AS INTEGER)"


def start_run(
    lk: LiveKernel, kernel: dict[str, object], *args: str, name: str = "run", more: str = ""
) -> Run:
    """``auditsql run`` with these ``[kernel]`` settings (test_run's harness, which fixes that section)."""
    cfg = lk.tmp / f"{name}.toml"
    state = lk.state_file(name)
    settings = "".join(f"{k} = {json.dumps(v)}\n" for k, v in kernel.items())
    cfg.write_text(
        f"[kernel]\nstate_file = '{state}'\n{settings}[status]\ninterval = 1\n"
        f"stats_file = '{lk.tmp / (name + '.stats')}'\n{more}"
    )
    return launch(lk, name, cfg, state, args)


def lost_now() -> int:
    return int(auditctl_status()["lost"])


def storm(count: int, marker: str) -> None:
    """``count`` connect() calls to a closed port on 127.0.0.1 from one process (about 20,000 a second)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: every connect is refused
        code = (
            "import socket, sys\n"
            f"for i in range({count}):\n"
            "    s = socket.socket(); s.connect_ex(('127.0.0.1', int(sys.argv[1]))); s.close()\n"
            # one more connect a second later, past any rate limit: the events lost at the storm's end get a
            # received serial after them, so they are serial gaps however fast the storm ran
            "import time; time.sleep(1.2)\n"
            "s = socket.socket(); s.connect_ex(('127.0.0.1', int(sys.argv[1]))); s.close()\n"
        )
        subprocess.run([sys.executable, "-c", code, str(port), marker], check=True, timeout=300)


def rules_file(lk: LiveKernel) -> str:
    path = lk.tmp / "storm.rules"
    path.write_text(f"-a always,exit -F arch=b64 -S connect -F key={lk.key}\n")
    path.chmod(0o600)
    return str(path)


def by_cause(run: Run) -> dict[tuple[str, str | None], int]:
    return {
        (cause, detail): total
        for cause, detail, total in run.query(
            "SELECT cause, detail, sum(count) FROM audit_loss GROUP BY cause, detail ORDER BY cause, detail"
        )
    }


def cause_totals(run: Run) -> dict[str, int]:
    return dict(run.query("SELECT cause, sum(count) FROM audit_loss GROUP BY cause ORDER BY cause"))


def serial_coverage(run: Run) -> tuple[int, int]:
    """(distinct serials stored + serials counted missing, the span from the first serial to the last)."""
    ((distinct, lo, hi),) = run.query(
        f"SELECT count(DISTINCT {SERIAL}), min({SERIAL}), max({SERIAL}) FROM audit_events"
    )
    ((gaps,),) = run.query("SELECT coalesce(sum(count), 0) FROM audit_loss WHERE cause = 'serial_gap'")
    return distinct + gaps, hi - lo + 1


def reader_counters(lk: LiveKernel, name: str) -> dict[str, int]:
    return json.loads((lk.tmp / f"{name}.stats").read_text())["reader"]


def run_storm(
    lk: LiveKernel, name: str, kernel: dict[str, object], count: int, *args: str
) -> tuple[Run, int]:
    """Start ``auditsql run`` with the storm rule, run the storm, stop; returns the run and the lost delta."""
    before = lost_now()
    run = start_run(lk, {"rules": rules_file(lk), **kernel}, *args, name=name)
    storm(count, f"{lk.key}-storm")
    # auditsql books what the kernel loses between its first poll and its last; its own exit (rules deleted
    # while the rate limit is still set) must not fall into the storm's rate-limit second
    time.sleep(1.2)
    assert stop(run.proc) == 0
    delta = lost_now() - before
    assert _status_now() == lk.status
    return run, delta


def test_backlog_storm_every_kernel_loss_booked_with_its_reason(live_kernel: LiveKernel) -> None:
    """backlog_limit 64, backlog_wait_time 0: the kernel drops at the backlog; audit_loss has exactly the
    kernel's lost delta, all with the reason the kernel logged."""
    lk = live_kernel
    run, delta = run_storm(
        lk, "backlog", dict(backlog_limit=64, backlog_wait_time=0), 20000, "--source", "unicast"
    )
    assert delta > 0
    got = by_cause(run)
    assert {k: v for k, v in got.items() if k[0] == "kernel_lost"} == {
        ("kernel_lost", "backlog limit exceeded"): delta
    }
    assert cause_totals(run)["kernel_lost"] == delta
    # the reader lost nothing itself
    reader = reader_counters(lk, "backlog")
    assert (reader["enobufs"], reader["queue_drops"], reader["truncated"]) == (0, 0, 0)
    assert set(cause_totals(run)) <= {"kernel_lost", "serial_gap"}
    total, span = serial_coverage(run)
    assert total == span
    last = run.stderr()[-1]
    assert f"kernel lost {delta}, " in last


def test_rate_limit_storm_booked_as_rate_limit(live_kernel: LiveKernel) -> None:
    """rate_limit 100/s: the kernel drops in audit_log_end, after numbering, so whole events leave serial
    gaps; kernel_lost equals the lost delta, all of it 'rate limit exceeded'."""
    lk = live_kernel
    run, delta = run_storm(lk, "rate", dict(rate_limit=100, backlog_limit=8192), 20000, "--source", "unicast")
    assert delta > 0
    kernel = {detail: n for (cause, detail), n in by_cause(run).items() if cause == "kernel_lost"}
    # the kernel logs the reason at most once a second, and was seen to log nothing through a whole storm
    # (docs/loss.md): then, with a rate limit set, the reason booked says it could be either
    assert kernel in ({"rate limit exceeded": delta}, {UNLOGGED: delta})
    totals = cause_totals(run)
    assert set(totals) == {"kernel_lost", "serial_gap"}
    # every record of a rate-limited event had its serial: a whole event missing is one gap, and each of
    # its records is one `lost`
    assert 0 < totals["serial_gap"] < delta
    total, span = serial_coverage(run)
    assert total == span


def test_multicast_socket_overrun_counted_as_enobufs_and_serial_gaps(live_kernel: LiveKernel) -> None:
    """A multicast reader with an 8 KiB socket buffer: the kernel drops its copies (and counts nothing);
    auditsql counts the ENOBUFS errors, and the serials that never came as gaps."""
    lk = live_kernel
    run, delta = run_storm(
        lk, "enobufs", dict(rcvbuf=4096, backlog_limit=8192), 20000, "--source", "multicast"
    )
    totals = cause_totals(run)
    reader = reader_counters(lk, "enobufs")
    assert reader["enobufs"] > 0
    assert totals["enobufs"] == reader["enobufs"]
    assert totals["serial_gap"] > 0
    assert totals.get("kernel_lost", 0) == delta
    total, span = serial_coverage(run)
    assert total == span


def test_policy_drop_counts_user_space_drops(live_kernel: LiveKernel) -> None:
    """--policy drop with a 16-message queue: the reader drops what the processing side cannot take and
    counts it; the kernel loses nothing."""
    lk = live_kernel
    run, delta = run_storm(
        lk,
        "drop",
        dict(queue_size=16, backlog_limit=8192),
        40000,
        "--source",
        "unicast",
        "--policy",
        "drop",
    )
    totals = cause_totals(run)
    reader = reader_counters(lk, "drop")
    assert reader["queue_drops"] > 0
    assert totals["queue_drop"] == reader["queue_drops"]
    assert totals.get("kernel_lost", 0) == delta == 0
    assert totals["serial_gap"] > 0
    total, span = serial_coverage(run)
    assert total == span
    assert f"user drops {reader['queue_drops']}, " in run.stderr()[-1]


def test_full_store_drops_and_counts_while_the_kernel_is_drained(live_kernel: LiveKernel) -> None:
    """The store on a 4 MiB tmpfs filled up (disk_full_action = drop, the default): a 20,000-connect storm
    finishes without waiting on auditsql, the kernel loses nothing, every event the store could not take is
    ``store_full``; room again, the run resumes by itself and books the outage in ``audit_loss``. Every event
    assembled is stored or counted ``store_full``."""
    lk = live_kernel
    name = "full"
    with tiny_fs(lk.tmp / name, "4m") as fs:  # the run's db goes to lk.tmp / name
        before = lost_now()
        run = start_run(
            lk,
            {"rules": rules_file(lk), "backlog_limit": 8192},
            "--source",
            "unicast",
            "--results-log",
            "",
            name=name,
            more="[store]\nspace_left = '0'\n[tables]\nprocess_tree = false\n",
        )
        stats_file = lk.tmp / f"{name}.stats"

        def stats() -> dict:
            return json.loads(stats_file.read_text())

        try:
            filler = fill(fs, leave=256 << 10)
            began = time.monotonic()
            storm(20000, f"{lk.key}-storm")
            took = time.monotonic() - began
            wait_for(lambda: stats()["store"]["full"], what="the store to be full")
            filler.unlink()
            wait_for(lambda: not stats()["store"]["full"], timeout=10, what="the store to be written again")
            time.sleep(1.2)
            assert stop(run.proc) == 0
        finally:
            if run.proc.poll() is None:
                stop(run.proc)
        delta = lost_now() - before
        assert _status_now() == lk.status
        final = stats()
        dropped = final["loss"]["store_full"]
        err = run.stderr()
        assert not [ln for ln in err if "Traceback" in ln]
        assert (
            f"auditsql: the store's file system is full ({run.db}: database or disk is full): dropping "
            in ("\n".join(err))
        )
        assert [ln for ln in err if ln.startswith("auditsql: store writable again after ")][0].endswith(
            f" s; {dropped} events dropped"
        )
        assert f"store full drops {dropped}, " in err[-1]
        assert took < 30  # 20,000 connects take about 1 s; nothing waited on the full store
        assert dropped > 0
        assert delta == 0 and cause_totals(run).get("kernel_lost", 0) == 0
        assert cause_totals(run)["store_full"] == dropped
        # every event assembled is stored or counted as dropped: nothing lost silently
        ((stored,),) = run.query("SELECT count(*) FROM audit_events")
        assert stored + dropped == final["events"]

"""The soak benchmark's 60-second version (issue 13, item 11): ``auditsql run`` under 500 exec/s, 2,000
connects/s, a forking daemon and file writes under a watched path stores every event, loses nothing, keeps
its descriptors and its memory flat. ``benchmarks/soak.py`` (default 600 s) is the full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernel.conftest import require_kernel_audit

pytestmark = pytest.mark.kernel

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_minute_of_mixed_load_stores_everything_and_stays_flat(tmp_path: Path) -> None:
    require_kernel_audit()
    out = tmp_path / "soak.json"
    # soak.py takes the kernel tests' lock itself, compares the kernel state before and after, and stops
    # only what it started
    res = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "60", "--interval", "10", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), res.stdout + res.stderr
    r = json.loads(out.read_text())
    assert r["exit"] == 0, r["stderr_last"]
    assert r["stored"] == r["generated"]
    assert r["generated"]["exec"] >= 29_000
    assert r["loss_stats"] == {}
    assert (r["loss_rows"], r["kernel_lost"]) == (0, 0)
    assert r["fd_growth"] <= 0
    assert r["rss_drift"] <= 0.10, r["rss_mb"]
    assert r["kernel_restored"]
    assert res.returncode == 0, res.stdout[-2000:]

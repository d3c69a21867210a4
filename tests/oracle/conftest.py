"""Fixtures for the oracle tests: auditsql compared with the auditd package's own tools.

The oracles are Debian's ``ausearch`` (auditd 3.0.9) and libauparse through Debian's ``/usr/bin/python3``
(package python3-audit). The project's interpreter is not Debian's and has no ``auparse`` module, so
libauparse is driven by ``auparse_dump.py`` in a subprocess. Every test here is skipped, with the reason, when
an oracle or the peer corpus is missing; ``scripts/test`` installs the packages, so in CI they run.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEBIAN_PYTHON = "/usr/bin/python3"
DUMP_SCRIPT = HERE / "auparse_dump.py"
AUSEARCH_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"


def _corpus() -> Path:
    for p in (REPO.parent / "shared" / "corpus",):
        if p.is_dir():
            return p
    return REPO.parent / "shared" / "corpus"


#: the read-only peer corpus (see its README.md)
CORPUS: Path = _corpus()


@functools.cache
def missing_oracle() -> str | None:
    """Why the oracle tests cannot run here, or None."""
    if shutil.which("ausearch", path=AUSEARCH_PATH) is None:
        return "ausearch is not installed (apt-get install auditd)"
    if not Path(DEBIAN_PYTHON).is_file():
        return f"{DEBIAN_PYTHON} is missing (Debian's python3, with python3-audit)"
    res = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import auparse"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if res.returncode != 0:
        return f"{DEBIAN_PYTHON} cannot import auparse (apt-get install python3-audit)"
    if not CORPUS.is_dir():
        return f"the peer corpus is not at {CORPUS}"
    return None


@pytest.fixture(autouse=True)
def _require_oracle() -> None:
    reason = missing_oracle()
    if reason is not None:
        pytest.skip(f"oracle tests skipped: {reason}")


def auparse_events(path: Path) -> list[dict]:
    """libauparse's walk of a log file: one dict per event (see auparse_dump.py)."""
    res = subprocess.run(
        [DEBIAN_PYTHON, str(DUMP_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, f"auparse_dump.py {path} failed ({res.returncode}): {res.stderr}"
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def ausearch_raw(path: Path) -> str:
    """``ausearch --input FILE`` (no criteria: every event), uninterpreted, events separated by ``----``."""
    exe = shutil.which("ausearch", path=AUSEARCH_PATH)
    assert exe is not None
    res = subprocess.run(
        [exe, "--input", str(path)],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    # 0: events printed; 1: "<no matches>"
    assert res.returncode in (0, 1), f"ausearch --input {path} failed ({res.returncode}): {res.stderr}"
    return res.stdout


#: per test id: {check: [compared, matched]}; printed at the end of the run
_REPORT: dict[str, dict[str, list[int]]] = {}


@pytest.fixture
def oracle_report(request: pytest.FixtureRequest) -> dict[str, list[int]]:
    """A test's counters: ``counts[check] = [compared, matched]``, shown in the terminal summary."""
    counts: dict[str, list[int]] = {}
    _REPORT[request.node.nodeid.split("::", 1)[-1]] = counts
    return counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Totals per test function; per test too with ``-v``, else only the tests with differences."""
    if not _REPORT:
        return
    tr = terminalreporter
    tr.section("oracle comparisons (matched/compared)")
    totals: dict[str, dict[str, list[int]]] = {}
    for test, counts in sorted(_REPORT.items()):
        func = test.split("[", 1)[0]
        for check, (c, m) in counts.items():
            t = totals.setdefault(func, {}).setdefault(check, [0, 0])
            t[0] += c
            t[1] += m
        if tr.config.getoption("verbose") > 0 or any(c != m for c, m in counts.values()):
            tr.write_line(f"{test}: " + ", ".join(f"{k} {m}/{c}" for k, (c, m) in sorted(counts.items())))
    for func, counts in sorted(totals.items()):
        tr.write_line(f"TOTAL {func}: " + ", ".join(f"{k} {m}/{c}" for k, (c, m) in sorted(counts.items())))

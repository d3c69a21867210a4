"""Operations: the systemd unit, the auditd plugin entry, log levels and journald priorities."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditsql.config import load_config
from tests.agent.test_run_pipeline import AUDITSQL

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def unit_keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        out.setdefault(f"{section}.{k}", []).append(v)
    return out


def test_the_unit_has_what_operations_need() -> None:
    keys = unit_keys((PACKAGING / "auditsql.service").read_text())
    assert keys["Service.Type"] == ["simple"]
    assert keys["Service.ExecStart"] == ["/usr/local/bin/auditsql run --config /etc/auditsql/auditsql.toml"]
    assert keys["Service.Restart"] == ["on-failure"]
    assert keys["Service.KillSignal"] == ["SIGTERM"]
    assert keys["Service.KillMode"] == ["process"]  # the socket keeper outlives a crash (docs/reliability.md)
    assert keys["Service.TimeoutStopSec"] == ["60"]
    assert set(keys["Service.AmbientCapabilities"][0].split()) == {
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_AUDIT_WRITE",
    }
    assert (
        keys["Service.StateDirectory"],
        keys["Service.LogsDirectory"],
        keys["Service.RuntimeDirectory"],
    ) == (
        ["auditsql"],
        ["auditsql"],
        ["auditsql"],
    )
    assert keys["Service.ProtectSystem"] == ["strict"]
    assert keys["Service.ReadWritePaths"] == ["/var/lib/auditsql /var/log/auditsql /run/auditsql"]
    assert keys["Service.NoNewPrivileges"] == ["yes"]
    assert "Unit.Conflicts" not in keys  # auditsql reads beside auditd
    assert keys["Install.WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze on this machine")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    text = (PACKAGING / "auditsql.service").read_text()
    # verify checks that ExecStart exists: point it at this installation's auditsql
    unit = tmp_path / "auditsql.service"
    unit.write_text(text.replace("/usr/local/bin/auditsql", str(Path(AUDITSQL).resolve())))
    res = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_the_auditd_plugin_entry() -> None:
    conf = {}
    for line in (PACKAGING / "plugins.d" / "auditsql.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            conf[k.strip()] = v.strip()
    assert conf == {
        "active": "yes",
        "direction": "out",
        "path": "/usr/local/bin/auditsql",
        "type": "always",
        "args": "run --config=/etc/auditsql/auditsql-plugin.toml",
        "format": "string",
    }
    assert len(conf["args"].split()) <= 2  # auditd-plugins(5): "a limit of 2 args"
    cfg = load_config(str(PACKAGING / "plugins.d" / "auditsql-plugin.toml"))
    assert (cfg.kernel.source, cfg.kernel.rules) == ("plugin", "none")


SCRIPT = """
from auditsql import log
log.set_level({level!r})
log.debug("d"); log.info("i"); log.warning("w"); log.error("e")
"""


@pytest.mark.parametrize(
    ("level", "journal", "lines"),
    [
        ("info", False, ["auditsql: i", "auditsql: w", "auditsql: e"]),
        ("debug", False, ["auditsql: d", "auditsql: i", "auditsql: w", "auditsql: e"]),
        ("error", False, ["auditsql: e"]),
        ("info", True, ["<6>auditsql: i", "<4>auditsql: w", "<3>auditsql: e"]),
        ("debug", True, ["<7>auditsql: d", "<6>auditsql: i", "<4>auditsql: w", "<3>auditsql: e"]),
    ],
)
def test_levels_and_journal_priorities(tmp_path: Path, level: str, journal: bool, lines: list[str]) -> None:
    err = tmp_path / "stderr"
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    with open(err, "wb") as fh:
        if journal:  # systemd's way of saying "stderr is the journal": the stream's device and inode
            st = os.fstat(fh.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT.format(level=level)], stderr=fh, env=env, check=True)
    assert err.read_text().splitlines() == lines


def test_a_journal_stream_that_is_not_our_stderr_is_ignored(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    env = {**os.environ, "JOURNAL_STREAM": "1:1"}
    with open(err, "wb") as fh:
        subprocess.run([sys.executable, "-c", SCRIPT.format(level="info")], stderr=fh, env=env, check=True)
    assert err.read_text().splitlines() == ["auditsql: i", "auditsql: w", "auditsql: e"]


def test_run_log_level_error_keeps_errors_only(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[status]\ninterval = 0\nstats_file = ''\n")
    args = [AUDITSQL, "run", "--source", "plugin", "--config", str(cfg), "--results-log", ""]
    quiet = subprocess.run(
        [*args, "--db", str(tmp_path / "db"), "--log-level", "error"],
        input=b"",
        capture_output=True,
        check=False,
    )
    assert (quiet.returncode, quiet.stderr) == (0, b"")
    bad = subprocess.run(
        [*args, "--db", str(tmp_path), "--log-level", "error"], input=b"", capture_output=True, check=False
    )
    assert bad.returncode == 1
    assert len(bad.stderr.decode().splitlines()) == 1

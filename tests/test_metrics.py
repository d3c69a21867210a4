"""Prometheus metrics: the collector scraped over HTTP, ``auditsql run --metrics`` end to end, bad listeners."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from auditsql.metrics import AgentCollector, MetricsError, parse_listen, start_metrics
from tests.agent.test_run_pipeline import AUDITSQL, connect_lines
from tests.agent.test_schedule import exec_lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_the_collector_over_http() -> None:
    stats = {
        "events": 12,
        "reader": {"messages": 40},
        "loss": {"kernel_lost": 3, "output_drop": 0},
        "queue": 5,
        "journal": {"bytes": 4096, "errors": 0, "replayed_frames": 30, "replay_skipped": 8, "torn_bytes": 14},
    }
    outs = {"syslog": {"sent": 7, "dropped": 2, "queued": 4, "errors": 1}}
    col = AgentCollector(
        lambda: stats,
        rows=lambda: {"process_events": 9, "socket_events": 2},
        outputs=lambda: outs,
        results_lines=lambda: 6,
        causes=("kernel_lost", "serial_gap", "output_drop"),
    )
    port = free_port()
    server = start_metrics(f"127.0.0.1:{port}", col)
    try:
        m = scrape(port)
    finally:
        server.close()
    mine = {k: v for k, v in m.items() if k.startswith("auditsql_")}
    assert mine == {
        "auditsql_up": 1.0,
        "auditsql_events_total": 12.0,
        "auditsql_records_total": 40.0,
        'auditsql_rows_total{table="process_events"}': 9.0,
        'auditsql_rows_total{table="socket_events"}': 2.0,
        'auditsql_loss_total{cause="kernel_lost"}': 3.0,
        'auditsql_loss_total{cause="serial_gap"}': 0.0,
        'auditsql_loss_total{cause="output_drop"}': 0.0,
        "auditsql_queue_depth": 5.0,
        "auditsql_journal_bytes_total": 4096.0,
        "auditsql_journal_errors_total": 0.0,
        'auditsql_journal_replay_total{what="replayed_frames"}': 30.0,
        'auditsql_journal_replay_total{what="replay_skipped"}': 8.0,
        'auditsql_journal_replay_total{what="replay_duplicates"}': 0.0,
        'auditsql_journal_replay_total{what="torn_bytes"}': 14.0,
        'auditsql_output_backlog{output="syslog"}': 4.0,
        'auditsql_output_sent_total{output="syslog"}': 7.0,
        'auditsql_output_dropped_total{output="syslog"}': 2.0,
        'auditsql_output_errors_total{output="syslog"}': 1.0,
        "auditsql_results_lines_total": 6.0,
    }
    assert m["process_resident_memory_bytes"] > 1e6
    assert "process_cpu_seconds_total" in m


@pytest.mark.parametrize(
    ("text", "want"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("0.0.0.0", 9464)), ("[::1]:80", ("::1", 80))],
)
def test_parse_listen(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("9464", "--metrics '9464': expected HOST:PORT, for example 127.0.0.1:9464"),
        ("host:x", "--metrics 'host:x': expected HOST:PORT, for example 127.0.0.1:9464"),
        ("h:70000", "--metrics 'h:70000': port 70000 is out of range (1-65535)"),
        ("::1:80", "--metrics '::1:80': write an IPv6 address in brackets, [::1]:9464"),
    ],
)
def test_bad_listen(text: str, msg: str) -> None:
    with pytest.raises(MetricsError) as e:
        parse_listen(text)
    assert str(e.value) == msg


def _cfg(tmp_path: Path) -> Path:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[status]\ninterval = 0\nstats_file = ''\n")
    return cfg


def _run_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        AUDITSQL,
        "run",
        "--source",
        "plugin",
        "--config",
        str(_cfg(tmp_path)),
        "--db",
        str(tmp_path / "db"),
        "--results-log",
        "",
        "--no-resolve-ids",
        *extra,
    ]


def test_run_serves_metrics(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        _run_args(tmp_path, "--metrics", f"127.0.0.1:{port}"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None
        lines = exec_lines(101, 4242, ["/bin/echo", "m"]) + connect_lines(102, 4243, 8080)
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.flush()
        end = time.monotonic() + 20
        m: dict[str, float] = {}
        while time.monotonic() < end:
            try:
                m = scrape(port)
            except OSError:
                time.sleep(0.1)
                continue
            if m.get('auditsql_rows_total{table="socket_events"}') == 1.0:
                break
            time.sleep(0.2)
        assert m["auditsql_events_total"] == 2.0
        assert m["auditsql_records_total"] == 8.0
        assert m['auditsql_rows_total{table="process_events"}'] == 1.0
        assert m['auditsql_rows_total{table="socket_events"}'] == 1.0
        assert m['auditsql_rows_total{table="audit_events"}'] == 2.0
        assert m['auditsql_loss_total{cause="output_drop"}'] == 0.0
        assert m["auditsql_queue_depth"] == 0.0
        assert m["process_resident_memory_bytes"] > 1e6
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    err = proc.stderr.read().decode().splitlines() if proc.stderr else []
    assert proc.returncode == 0, err
    assert err[0].endswith(f"; metrics http://127.0.0.1:{port}/metrics"), err


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run(
            _run_args(tmp_path, "--metrics", f"127.0.0.1:{port}"), input=b"", capture_output=True, timeout=60
        )
    assert res.returncode == 2
    assert res.stderr.decode().splitlines() == [
        f"auditsql: --metrics 127.0.0.1:{port}: cannot listen: Address already in use (choose another HOST:PORT)"
    ]


def test_bad_metrics_address_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = subprocess.run(
        _run_args(tmp_path, "--metrics", "nonsense"), input=b"", capture_output=True, timeout=60
    )
    assert res.returncode == 2
    assert res.stderr.decode().splitlines() == [
        "auditsql: --metrics 'nonsense': expected HOST:PORT, for example 127.0.0.1:9464"
    ]

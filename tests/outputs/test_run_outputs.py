"""``auditsql run`` with several outputs at once (plugin source: auditd's stream on stdin, no kernel)."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

from auditsql import _core
from tests.agent.test_run_pipeline import AUDITSQL
from tests.agent.test_schedule import exec_lines


def run(tmp_path: Path, cfg: str, lines: list[str], *extra: str) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "cfg.toml").write_text("[status]\ninterval = 0\nstats_file = ''\n" + cfg)
    return subprocess.run(
        [
            AUDITSQL,
            "run",
            "--source",
            "plugin",
            "--config",
            str(tmp_path / "cfg.toml"),
            "--db",
            str(tmp_path / "db"),
            "--no-resolve-ids",
            *extra,
        ],
        input=("\n".join(lines) + "\n").encode() if lines else b"",
        capture_output=True,
        timeout=120,
        check=False,
    )


def rendered(lines: list[str]) -> list[dict]:
    data = "".join(ln + "\n" for ln in lines).encode()
    return _core.render_lines(data, resolve_ids=False, format="enriched")


def without_tree(d: dict) -> dict:
    """An event as rendered without the process tree: its ``summary.tree`` checked and taken out (a result
    line, which has no summary, as it is)."""
    s = d.get("summary")
    if isinstance(s, dict):
        tree = s.pop("tree")
        assert isinstance(tree["start"], float) and tree["parent"] == s["ppid"], tree
    return d


def drain(sock: socket.socket) -> list[bytes]:
    sock.settimeout(0.3)
    out = []
    try:
        while True:
            out.append(sock.recv(1 << 17))
    except TimeoutError:
        return out


def test_several_outputs_at_once(tmp_path: Path) -> None:
    sock_path = str(tmp_path / "log.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(sock_path)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    cfg = f"""
[results_log]
host_identifier = "specified"
specified_identifier = "h1"
[output.events]
enabled = true
path = "{tmp_path}/ev/events.jsonl"
[output.stdout]
enabled = true
events = true
results = true
[output.syslog]
enabled = true
socket = "{sock_path}"
facility = "local0"
events = true
results = true
[schedule.execs]
query = "SELECT pid, cmdline FROM process_events ORDER BY pid"
interval = 3600
"""
    lines = [x for i in range(3) for x in exec_lines(200 + i, 5000 + i, ["/bin/echo", f"e{i}"])]
    res = run(tmp_path, cfg, lines, "--results-log", str(tmp_path / "results.jsonl"))
    err = res.stderr.decode().splitlines()
    assert res.returncode == 0, err
    assert "; outputs events, syslog, stdout" in err[0]
    want = rendered(lines)
    assert len(want) == 3
    # the event stream: laurel's shape, the rendered events as they are, plus what the process tree knew of
    # each event's process (summary.tree: its start; this host's /proc decides the rest)
    assert [
        without_tree(json.loads(x)) for x in (tmp_path / "ev" / "events.jsonl").read_text().splitlines()
    ] == want
    # stdout: the events, then the results (written when the run stops)
    out = [json.loads(x) for x in res.stdout.decode().splitlines()]
    assert [without_tree(d) for d in out[:3]] == want
    results = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert out[3:] == results
    assert [(d["name"], d["hostIdentifier"], d["columns"]) for d in results] == [
        ("execs", "h1", {"cmdline": f"/bin/echo e{i}", "pid": str(5000 + i)}) for i in range(3)
    ]
    # syslog: <PRI> of local0.info is 134; three events, then three results
    msgs = drain(rx)
    rx.close()
    assert len(msgs) == 6
    heads = [m.split(b" - ", 1)[0].split(b" ") for m in msgs]
    assert [(h[0], h[3], h[5]) for h in heads] == [(b"<134>1", b"auditsql", b"event")] * 3 + [
        (b"<134>1", b"auditsql", b"result")
    ] * 3
    assert [without_tree(json.loads(m.split(b" - ", 1)[1])) for m in msgs] == want + results
    with sqlite3.connect(tmp_path / "db") as conn:
        assert conn.execute("SELECT count(*) FROM audit_loss").fetchone() == (0,)


def test_a_slow_output_never_blocks_the_reader_and_its_drops_reach_audit_loss(tmp_path: Path) -> None:
    """A syslog receiver that never reads: its queue fills, sends wait; the events file still gets every event,
    the run does not slow down, and every message syslog did not deliver is an output_drop row."""
    sock_path = str(tmp_path / "stuck.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(sock_path)
    n = 1500
    cfg = f"""
[output.events]
enabled = true
path = "{tmp_path}/events.jsonl"
format = "ecs"
[output.syslog]
enabled = true
socket = "{sock_path}"
events = true
results = false
buffer = 20
"""
    lines = [x for i in range(n) for x in exec_lines(1000 + i, 10000 + i, ["/bin/true"])]
    t0 = time.monotonic()
    res = run(tmp_path, cfg, lines, "--results-log", "")
    elapsed = time.monotonic() - t0
    err = res.stderr.decode().splitlines()
    assert res.returncode == 0, err
    assert elapsed < 30  # blocked sends would take n seconds
    received = len(drain(rx))
    rx.close()
    ecs = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    # (the plugin pipeline sometimes closes an event's last records as a separate "late" event: count those too)
    assert len([d for d in ecs if d["event"].get("action") == "executed"]) == n
    with sqlite3.connect(tmp_path / "db") as conn:
        assert conn.execute("SELECT count(*) FROM process_events").fetchone() == (n,)
        rows = conn.execute("SELECT cause, count, detail FROM audit_loss ORDER BY rowid").fetchall()
    assert rows, "no loss booked"
    assert {r[0] for r in rows} == {"output_drop"}
    assert {r[2] for r in rows} <= {
        "syslog: buffer full",
        "syslog: cannot send: timed out",
        "syslog: not written within 3 s of stopping",
    }
    assert "syslog: buffer full" in {r[2] for r in rows}
    assert received + sum(r[1] for r in rows) == len(ecs)
    assert any(part.startswith("output drops ") for part in err[-1].split(", "))


def test_an_unknown_output_type_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = run(tmp_path, '[output.kafka]\nbrokers = "k:9092"\n', [], "--results-log", "")
    assert res.returncode == 2
    assert res.stderr.decode().splitlines() == [
        f"auditsql: {tmp_path}/cfg.toml:4: unknown output type 'kafka' in [output.kafka] "
        "(known: events, syslog, stdout, nats)"
    ]


def test_a_bad_output_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = run(tmp_path, '[output.syslog]\nenabled = true\nfacility = "kernal"\n', [], "--results-log", "")
    assert res.returncode == 2
    err = res.stderr.decode().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "auditsql: output.syslog.facility: unknown facility 'kernal' (known: kern, user, "
    )


def test_an_unwritable_event_stream_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cfg = f'[output.events]\nenabled = true\npath = "{tmp_path}/file/events.jsonl"\n'
    res = run(tmp_path, cfg, [], "--results-log", "")
    assert res.returncode == 2
    assert res.stderr.decode().splitlines() == [
        f"auditsql: cannot write the event stream {tmp_path}/file/events.jsonl: Not a directory "
        "(set [output.events] path to a writable file, or run as root)"
    ]

"""The `auditsql read` command as a user runs it: exit codes, one-line errors without tracebacks, stdin,
--stats, --format."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cmd import AUDITSQL_CMD, run_cli
from tests.corpus import CORPUS

EOE_LINE = (
    "type=EOE msg=audit(1615225617.302:25836):"  # shared/corpus/hillu_linux-audit-parser-rs/line-eoe.txt
)

_CMD = AUDITSQL_CMD
run = run_cli


def one_error_line(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("auditsql: ")
    return lines[0]


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def test_missing_file(tmp_path: Path) -> None:
    p = run(["read", "--no-resolve-ids", "nope.log"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == "auditsql: nope.log: no such file"
    assert p.stdout == b""


def test_missing_file_among_several_reads_nothing(tmp_path: Path) -> None:
    (tmp_path / "ok.log").write_text(EOE_LINE + "\n")
    p = run(["read", "--no-resolve-ids", "ok.log", "nope.log"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == "auditsql: nope.log: no such file"
    assert p.stdout == b""


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    p = run(["read", "--no-resolve-ids", "logs"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == "auditsql: logs: is a directory, not a log file"
    assert p.stdout == b""


def test_binary_file(tmp_path: Path) -> None:
    (tmp_path / "audit.db").write_bytes(b"SQLite format 3\x00\x10\x00\x01\x01\x00@  \x00\x00\x00\x02")
    p = run(["read", "--no-resolve-ids", "audit.db"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == "auditsql: audit.db: binary data (NUL bytes), not an auditd text log"
    assert p.stdout == b""


def test_binary_data_after_the_sniffed_head(tmp_path: Path) -> None:
    # a run of NUL bytes after the first buffer (a log preallocated and cut short by a crash): one error record
    # with the bytes kept, and the lines on either side are read on
    head = (EOE_LINE + "\n").encode() * 2000  # > 64 KiB
    (tmp_path / "mixed.log").write_bytes(head + b"type=EOE \x00\x00" + (EOE_LINE + "\n").encode())
    p = run(["read", "--no-resolve-ids", "--stats", "mixed.log"], tmp_path)
    assert p.returncode == 0
    assert one_error_line(p).endswith("mixed.log: lines=2003 skipped=0 format=raw nul_runs=1")
    events = jsonl(p.stdout)
    # 2000 identical EOE records: the first an event, the other 1999 late (their event was closed by EOE)
    assert len(events) == 2003
    assert events[0]["summary"] == {"time": "2021-03-08T17:46:57.302Z", "type": "EOE", "records": 1}
    assert events[1]["summary"]["closed_by"] == "late"
    assert events[2000]["raw"] == ["type=EOE "]
    assert events[2001]["raw"] == ["\x00\x00"]
    assert events[2001]["summary"]["closed_by"] == "error"
    assert events[2001]["summary"]["warnings"] == ["2 NUL bytes (a log cut short and padded)"]
    assert events[2002]["summary"]["closed_by"] == "late"


def test_text_file_without_audit_records(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    p = run(["read", "--no-resolve-ids", "notes.txt"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        "auditsql: no audit records found: every line failed to parse (is this an auditd log?)"
    )
    # the lines are not lost: each is an error event with its raw text
    assert [(e["raw"], e["summary"]["closed_by"]) for e in jsonl(p.stdout)] == [
        (["hello"], "error"),
        (["world"], "error"),
    ]


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    p = run(["read", "--no-resolve-ids", "empty.log"], tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")


def test_unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "ok.log").write_text(EOE_LINE + "\n")
    p = run(["read", "--no-resolve-ids", "-o", "/proc/nonexistent/x", "ok.log"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        "auditsql: /proc/nonexistent/x: cannot write: No such file or directory "
        "(choose a writable path with --output)"
    )
    # a directory is refused by click's option check: a usage error (exit 2), no traceback
    (tmp_path / "outdir").mkdir()
    p = run(["read", "--no-resolve-ids", "-o", "outdir", "ok.log"], tmp_path)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "Error: Invalid value for '-o' / '--output': File 'outdir' is a directory."


def test_output_file(tmp_path: Path) -> None:
    (tmp_path / "ok.log").write_text(EOE_LINE + "\n")
    p = run(["read", "--no-resolve-ids", "-o", "out.jsonl", "ok.log"], tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert jsonl((tmp_path / "out.jsonl").read_bytes()) == [
        {
            "ID": "1615225617.302:25836",
            "summary": {"time": "2021-03-08T17:46:57.302Z", "type": "EOE", "records": 1},
            "raw": [EOE_LINE],
        }
    ]


def test_output_file_is_private(tmp_path: Path) -> None:
    (tmp_path / "ok.log").write_text(EOE_LINE + "\n")
    assert run(["read", "--no-resolve-ids", "-o", "new.jsonl", "ok.log"], tmp_path).returncode == 0
    assert os.stat(tmp_path / "new.jsonl").st_mode & 0o777 == 0o600
    old = tmp_path / "old.jsonl"
    old.write_text("stale\n")
    old.chmod(0o644)
    p = run(["read", "--no-resolve-ids", "-o", "old.jsonl", "ok.log"], tmp_path)
    assert (p.returncode, p.stderr.decode()) == (
        0,
        "auditsql: old.jsonl was mode 0644 (open to others; audit events can hold secrets): made 0600\n",
    )
    assert (old.stat().st_mode & 0o777, len(jsonl(old.read_bytes()))) == (0o600, 1)
    # what is no regular file keeps its mode
    assert run(["read", "--no-resolve-ids", "-o", "/dev/null", "ok.log"], tmp_path).returncode == 0
    assert os.stat("/dev/null").st_mode & 0o777 == 0o666


def test_stdin(tmp_path: Path) -> None:
    data = (CORPUS / "threathunters-io_laurel/record-execve.txt").read_bytes()
    p = run(["read", "--no-resolve-ids", "-"], tmp_path, stdin=data)
    assert (p.returncode, p.stderr) == (0, b"")
    (ev,) = jsonl(p.stdout)
    assert (ev["ID"], ev["NODE"]) == ("1615114232.375:15558", "work")
    assert ev["summary"]["argv"] == ["whoami"]
    from_file = run(
        ["read", "--no-resolve-ids", str(CORPUS / "threathunters-io_laurel/record-execve.txt")], tmp_path
    )
    assert from_file.stdout == p.stdout


def test_stats(tmp_path: Path) -> None:
    log = CORPUS / "elastic_go-libaudit/reassembler/lost_messages.log"
    p = run(["read", "--no-resolve-ids", "--stats", str(log)], tmp_path)
    assert p.returncode == 0
    line = one_error_line(p)
    assert line == (
        "auditsql: records=17 events=5 errors=0 closed_eoe=0 closed_single=0 closed_window=0 closed_flush=5 "
        f"late=0 duplicates=0 serial_gaps=9 serial_jumps=0 {log}: lines=17 skipped=0 format=raw"
    )
    assert len(jsonl(p.stdout)) == 5


def test_format_raw_vs_enriched_on_a_glued_enriched_line(tmp_path: Path) -> None:
    # shared/corpus/crowdsecurity_hub/auditd-suid-crash/auditd-suid-crash.log line 3: `cap_frootid=0OUID="root"`
    line = (
        'type=PATH msg=audit(1696431255.037:8272): item=0 name="/bin/bash" inode=19792203 dev=08:02 '
        "mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
        'cap_frootid=0OUID="root" OGID="root"'
    )
    (tmp_path / "p.log").write_text(line + "\n")
    enriched = run(["read", "--no-resolve-ids", "--format", "enriched", "p.log"], tmp_path)
    raw = run(["read", "--no-resolve-ids", "--format", "raw", "p.log"], tmp_path)
    assert (enriched.returncode, enriched.stderr, raw.returncode, raw.stderr) == (0, b"", 0, b"")
    (e,) = jsonl(enriched.stdout)
    (r,) = jsonl(raw.stdout)
    assert e["raw"] == r["raw"] == [line]
    (pe,) = e["PATH"]
    (pr,) = r["PATH"]
    assert (pe["cap_frootid"], pe["OUID"], pe["OGID"]) == ("0", "root", "root")
    assert e["summary"]["names"] == {"ouid": "root", "ogid": "root"}
    # raw: only 0x1d starts a tail, so the glued text stays in the value; OGID after the space is a field
    assert (pr["cap_frootid"], "OUID" in pr, pr["OGID"]) == ('0OUID="root"', False, "root")
    assert r["summary"]["names"] == {"ogid": "root"}


def test_format_auto_detects_enriched_from_0x1d(tmp_path: Path) -> None:
    log = CORPUS / "threathunters-io_laurel/record-execve.txt"
    p = run(["read", "--no-resolve-ids", "--stats", "--no-raw", str(log)], tmp_path)
    assert one_error_line(p).endswith(f"{log}: lines=7 skipped=0 format=enriched")
    (ev,) = jsonl(p.stdout)
    assert "raw" not in ev
    assert ev["SYSCALL"]["AUID"] == "user"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["read"], "Error: Missing argument 'FILES...'."),
        (
            ["read", "--format", "bogus", "x"],
            "Error: Invalid value for '--format': 'bogus' is not one of 'auto', 'raw', 'enriched'.",
        ),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    p = run(args, tmp_path)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == message


def test_broken_pipe_is_not_an_error(tmp_path: Path) -> None:
    # `auditsql read big.log | head -1`: the reader goes away, no traceback, exit 0
    log = CORPUS / "threathunters-io_laurel/shell-proc-trace-confusion.txt"
    proc = subprocess.Popen(
        _CMD + ["read", "--no-resolve-ids", str(log), str(log), str(log)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in err


def test_docs_example_is_current(tmp_path: Path) -> None:
    # docs/event-json.md shows this command's output; keep the page true
    doc = (Path(__file__).parent.parent / "docs" / "event-json.md").read_text()
    block = doc.split("## Example", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    log = CORPUS / "threathunters-io_laurel/record-execve.txt"
    p = run(["read", "--no-resolve-ids", str(log)], tmp_path)
    assert p.returncode == 0
    assert jsonl(p.stdout) == [json.loads(block)]


def test_version_is_the_package_metadata_and_the_crates() -> None:
    # one version: pyproject.toml's (the package metadata), which the Cargo workspace must repeat
    import tomllib

    import auditsql

    root = Path(__file__).resolve().parent.parent
    py = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    rust = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert auditsql.__version__ == py == rust
    from click.testing import CliRunner

    from auditsql.cli import main

    assert CliRunner().invoke(main, ["--version"]).output == f"auditsql, version {py}\n"

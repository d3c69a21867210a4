"""`auditsql shell`: piped statements and dot commands, errors that do not stop it, completion, history."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from auditsql.query.engine import Engine
from auditsql.query.shell import HELP, Shell, _completer, interactive
from auditsql.tables.registry import REGISTRY
from tests.query.test_query_cli import EXECVE_LOG, ok, run


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("shell")
    path = d / "audit.db"
    ok(run(["import", "--db", str(path), str(EXECVE_LOG)], d))
    return path


def shell_run(db: Path, script: str, cwd: Path, *args: str):
    return run(["shell", "--db", str(db), *args], cwd, stdin=script.encode())


def test_tables(db, tmp_path):
    p = shell_run(db, ".tables\n.tables audit_s\n", tmp_path)
    assert p.returncode == 0
    assert p.stderr == b""
    assert p.stdout.decode() == (
        "  => apparmor_events\n"
        "  => audit_events\n"
        "  => audit_loss\n"
        "  => audit_rules\n"
        "  => audit_status\n"
        "  => os_version\n"
        "  => process_events\n"
        "  => process_file_events\n"
        "  => process_tree\n"
        "  => seccomp_events\n"
        "  => selinux_events\n"
        "  => socket_events\n"
        "  => system_info\n"
        "  => user_events\n"
        "  => audit_status\n"
    )


def test_schema_prints_the_registry_ddl(db, tmp_path):
    p = shell_run(db, ".schema process_events\n", tmp_path)
    assert p.returncode == 0
    assert p.stdout.decode() == REGISTRY["process_events"].ddl() + "\n"
    assert p.stdout.decode().startswith(
        "CREATE TABLE IF NOT EXISTS process_events (\n  pid INTEGER,\n  path TEXT,\n"
    )


def test_bad_query_then_good_query(db, tmp_path):
    script = "SELEC 1;\nSELECT pid, path\n  FROM process_events;\n"
    p = shell_run(db, script, tmp_path)
    assert p.returncode == 1  # piped input: the status says a statement failed, like sqlite3 and osqueryi
    assert p.stderr.decode() == 'auditsql: bad SQL: near "SELEC": syntax error (at character 1)\n'
    assert p.stdout.decode() == (
        "+-------+-----------------+\n"
        "| pid   | path            |\n"
        "+-------+-----------------+\n"
        "| 10884 | /usr/bin/whoami |\n"
        "+-------+-----------------+\n"
    )


def test_modes_and_last_statement_without_semicolon(db, tmp_path):
    script = ".mode json\nSELECT pid FROM process_events; SELECT 1 AS one;\n.mode\n.mode csv\nSELECT cwd FROM process_events"
    p = shell_run(db, script, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == '[\n  {"pid":"10884"}\n]\n[\n  {"one":"1"}\n]\njson\ncwd\n/home/user/tmp\n'


def test_mode_option(db, tmp_path):
    p = shell_run(db, "SELECT tty FROM process_events;\n", tmp_path, "--mode", "line")
    assert p.stdout.decode() == "  tty = pts1\n"


def test_errors_are_one_line_and_the_shell_goes_on(db, tmp_path):
    script = (
        ".bogus\n.mode xml\n.schema nothing\nINSERT INTO process_events (pid) VALUES (1);\nSELECT nope FROM "
        "process_events;\nSELECT * FROM nope;\nSELECT count(*) AS n FROM process_events;\n.quit\nSELECT 2;\n"
    )
    p = shell_run(db, script, tmp_path, "--mode", "csv")
    assert p.returncode == 1
    assert p.stdout.decode() == "n\n1\n"
    err = p.stderr.decode().splitlines()
    assert err[:4] == [
        "auditsql: unknown command .bogus: .help lists the commands",
        "auditsql: unknown mode xml: choose one of table, json, csv, line",
        "auditsql: unknown table nothing: .tables lists the tables",
        "auditsql: read-only: INSERT is refused (queries never change the store; rows come from `auditsql run` and "
        "`auditsql import`)",
    ]
    assert err[4].startswith("auditsql: unknown column nope: ")
    assert err[5].startswith("auditsql: unknown table nope: known tables: ")
    assert len(err) == 6


def test_help_and_quit(db, tmp_path):
    p = shell_run(db, ".help\n.exit\n", tmp_path)
    assert p.returncode == 0
    assert p.stdout.decode() == HELP


def test_missing_database(tmp_path):
    p = shell_run(tmp_path / "none.db", ".tables\n", tmp_path)
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"auditsql: no database at {tmp_path / 'none.db'}: run `auditsql run` or `auditsql import` first, "
        "or pass --db\n"
    )


# -- in-process: the prompt-toolkit loop, completion ---------------------------------------------------------


@pytest.fixture
def engine(db) -> Engine:
    eng = Engine(str(db))
    yield eng
    eng.close()


def test_interactive_loop_history_and_ctrl_d(engine, tmp_path, monkeypatch):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    monkeypatch.setenv("HOME", str(tmp_path))
    out, err = io.BytesIO(), io.BytesIO()
    sh = Shell(engine, out, err, "csv")
    with create_pipe_input() as inp:
        inp.send_text("SELECT pid\rFROM process_events;\r.bogus\rSELECT 1 AS one;\r\x04")
        assert interactive(sh, pt_input=inp, pt_output=DummyOutput()) == 0
    assert out.getvalue().decode() == (
        f"auditsql shell on {engine.db_path}. Enter .help for help, Ctrl-D to leave.\npid\n10884\none\n1\n"
    )
    assert err.getvalue().decode() == "auditsql: unknown command .bogus: .help lists the commands\n"
    hist = tmp_path / ".auditsql_history"
    assert stat.S_IMODE(os.stat(hist).st_mode) == 0o600
    entries = [line[1:] for line in hist.read_text().splitlines() if line.startswith("+")]
    assert entries == ["SELECT pid", "FROM process_events;", ".bogus", "SELECT 1 AS one;"]


def _complete(engine: Engine, text: str) -> list[str]:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    return [c.text for c in _completer(engine).get_completions(Document(text), CompleteEvent())]


def test_completion(engine):
    assert _complete(engine, ".") == [".exit", ".help", ".mode", ".quit", ".schema", ".tables"]
    assert _complete(engine, ".sc") == [".schema"]
    assert _complete(engine, ".schema proc") == ["process_events", "process_file_events", "process_tree"]
    assert _complete(engine, ".mode j") == ["json"]
    assert _complete(engine, "SELECT * FROM sock") == ["socket_events"]
    assert _complete(engine, "SELECT * FROM audit_") == [
        "audit_events",
        "audit_loss",
        "audit_rules",
        "audit_status",
    ]
    # columns of the tables the statement names come first
    assert (
        _complete(engine, "SELECT cmdl FROM process_events") == []
    )  # cursor at the end: after the table name
    assert _complete(engine, "SELECT pid, cmdl") == ["cmdline", "cmdline_size"]
    assert _complete(engine, "select remote_a") == ["remote_address"]


def test_dot_commands_take_unique_abbreviations(db, tmp_path):
    p = shell_run(db, ".tab audit_l\n.mo csv\n.mo\n.q\n.tables\n", tmp_path)
    assert p.returncode == 0
    assert p.stdout.decode() == "  => audit_loss\ncsv\n"

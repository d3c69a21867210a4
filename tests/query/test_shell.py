"""`auditsql shell`: piped statements and dot commands, errors that do not stop it, completion, history."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from auditsql.query.engine import Engine
from auditsql.query.shell import HELP, Shell, _completer, interactive, parse_bool, split_dot_command
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
    # one input line's statements make one array (shell.cpp shell_exec: pretty_print_if_needed after the loop)
    assert p.stdout.decode() == '[\n  {"pid":"10884"},\n  {"one":"1"}\n]\njson\ncwd\n/home/user/tmp\n'


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
        "auditsql: unknown mode xml: choose one of pretty, json, json_pretty, csv, list, line, column",
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
    assert _complete(engine, ".") == [
        ".all",
        ".exit",
        ".features",
        ".headers",
        ".help",
        ".mode",
        ".nullvalue",
        ".print",
        ".quit",
        ".schema",
        ".separator",
        ".show",
        ".tables",
        ".version",
    ]
    assert _complete(engine, ".all sock") == ["socket_events"]
    assert _complete(engine, ".headers o") == ["off", "on"]
    assert _complete(engine, ".mode js") == ["json", "json_pretty"]
    assert _complete(engine, ".sc") == [".schema"]
    assert _complete(engine, ".schema proc") == ["process_events", "process_file_events", "process_tree"]
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


# -- osqueryi's settings and dot commands ---------------------------------------------------------------------


def test_split_dot_command_like_osqueryi():
    assert split_dot_command('.separator "\\t"') == [".separator", "\t"]
    assert split_dot_command(".separator \\t") == [".separator", "\t"]
    assert split_dot_command(".separator '\\t'") == [".separator", "\\t"]  # single quotes keep backslashes
    assert split_dot_command(".print a  \"b c\" 'd e'") == [".print", "a", "b c", "d e"]
    assert split_dot_command('.nullvalue ""') == [".nullvalue", ""]
    assert split_dot_command('.print "\\101\\x" "a\\"b"') == [".print", "Ax", 'a"b']
    assert split_dot_command('.print "\\377" "a\\000b"') == [".print", "\udcff", "a"]
    assert split_dot_command(".print 'open") == [".print", "open"]
    assert split_dot_command(".") == []
    assert split_dot_command(".print a\u00a0b\tc") == [".print", "a\u00a0b", "c"]  # C isspace(): ASCII only


def test_parse_bool_like_osqueryi():
    for word in ("on", "ON", "1", "yes", "Y", "true", "t", "enable", "ok", "2", "0x10"):
        assert parse_bool(word) is True, word
    for word in ("off", "Off", "0", "no", "n", "false", "f", "disable", "0x0", "0x", "4294967296"):
        assert parse_bool(word) is False, word
    for word in ("maybe", "", "0xZ", "-1", "1.0"):
        assert parse_bool(word) is None, word


SETTINGS_SCRIPT = """\
.mode list
SELECT pid, tty, env FROM process_events;
.headers off
.separator ,
.nullvalue NULL
SELECT pid, tty, env FROM process_events;
.mode csv
.headers on
SELECT pid, 'a,b' AS s, env FROM process_events;
.mode list
SELECT pid, tty FROM process_events;
.separator "\\t"
.header 0
SELECT pid, tty FROM process_events;
.mode line
SELECT pid, env FROM process_events;
"""


def test_settings_change_the_output(db, tmp_path):
    p = shell_run(db, SETTINGS_SCRIPT, tmp_path)
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout.decode() == (
        "pid|tty|env\n10884|pts1|\n"  # list: '|' and the header
        "10884,pts1,NULL\n"  # no header, ',' and the null value
        'pid,s,env\n10884,"a,b",NULL\n'  # .mode csv: the separator is a comma
        "pid,tty\n10884,pts1\n"  # list keeps the comma csv set, as in osqueryi
        "10884\tpts1\n"
        "  pid = 10884\n  env = NULL\n"
    )


def test_all_is_select_star(db, tmp_path):
    p = shell_run(db, ".mode csv\n.all process_events\n", tmp_path)
    assert (p.returncode, p.stderr) == (0, b"")
    q = run(["query", "--db", str(db), "--csv", "--separator", ",", "SELECT * FROM process_events"], tmp_path)
    assert p.stdout == q.stdout
    assert p.stdout.startswith(b"pid,path,mode,cmdline,")


def test_show(db, tmp_path):
    from auditsql import __version__

    script = '.show\n.mode list\n.headers off\n.nullvalue \'n"\\\'\n.separator "\\t"\n.summary\n.version\n'
    p = shell_run(db, script, tmp_path, "--timeout", "5")
    assert (p.returncode, p.stderr) == (0, b"")
    head = f"auditsql {__version__}\nusing SQLite {sqlite3.sqlite_version}\n"
    general = f"\nGeneral settings:\n     Database: {db}\n      Timeout: 5 s\n"
    assert p.stdout.decode() == (
        head + general + "\nShell settings:\n"
        "         echo: off\n"
        "      headers: on\n"
        "         mode: pretty\n"
        '    nullvalue: ""\n'
        "       output: stdout\n"
        '    separator: "|"\n'
        "        width: \n" + head + general + "\nShell settings:\n"
        "         echo: off\n"
        "      headers: off\n"
        "         mode: list\n"
        '    nullvalue: "n\\"\\\\"\n'
        "       output: stdout\n"
        '    separator: "\\t"\n'
        "        width: \n" + head
    )


def test_print_and_help(db, tmp_path):
    p = shell_run(db, ".print a \"b  c\" 'd'\n.print\n", tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"a b  c d\n\n", b"")


def test_dot_command_errors(db, tmp_path):
    script = (
        ".features\n.headers maybe\n.headers\n.all\n.all nope\n.s\n.separator\n.nullvalue a b\n.mode a b\n"
        ".show x\nSELECT 1 AS n;\n"
    )
    p = shell_run(db, script, tmp_path, "--list")
    assert p.returncode == 1
    assert p.stdout.decode() == "n\n1\n"
    err = p.stderr.decode().splitlines()
    assert err[0] == (
        "auditsql: .features lists osquery's disable_*/enable_* flags: auditsql has none (.show lists the "
        "shell's settings, `auditsql status` the agent's)"
    )
    assert err[1:5] == [
        "auditsql: .headers maybe: give on or off",
        "auditsql: usage: .headers on|off",
        "auditsql: usage: .all TABLE",
        "auditsql: unknown table nope: known tables: apparmor_events, audit_events, audit_loss, audit_rules, "
        "audit_status, os_version, process_events, process_file_events, process_tree, seccomp_events, "
        "selinux_events, socket_events, system_info, user_events",
    ]
    assert err[5:] == [
        "auditsql: ambiguous command .s: .schema, .separator, .show",
        "auditsql: usage: .separator STR",
        "auditsql: usage: .nullvalue STR",
        "auditsql: usage: .mode [pretty|json|json_pretty|csv|list|line|column]",
        "auditsql: usage: .show",
    ]


def test_shell_flags(db, tmp_path):
    script = "SELECT pid, env FROM process_events;\n.show\n"
    p = shell_run(db, script, tmp_path, "--list", "--noheader", "--separator", ";", "--nullvalue", "-")
    assert (p.returncode, p.stderr) == (0, b"")
    out = p.stdout.decode()
    assert out.startswith("10884;-\n")
    assert '      headers: off\n         mode: list\n    nullvalue: "-"\n' in out
    assert '    separator: ";"\n' in out
    # --csv joins with the --separator flag's default `|` (shell.cpp launchIntoShell copies FLAGS_separator over
    # the comma); .mode csv sets a comma; --json_pretty and --mode set the mode
    p = shell_run(
        db, "SELECT pid, tty FROM process_events;\n.mode csv\nSELECT 1 AS a, 2 AS b;\n", tmp_path, "--csv"
    )
    assert p.stdout.decode() == "pid|tty\n10884|pts1\na,b\n1,2\n"
    p = shell_run(db, "SELECT pid FROM process_events;\n", tmp_path, "--json_pretty")
    assert p.stdout.decode() == '[\n  {\n    "pid": "10884"\n  }\n]\n'
    p = shell_run(db, "SELECT pid FROM process_events;\n", tmp_path, "--mode", "table")
    assert p.stdout.decode() == "+-------+\n| pid   |\n+-------+\n| 10884 |\n+-------+\n"


def test_shell_conflicting_formats(db, tmp_path):
    p = shell_run(db, "SELECT 1;\n", tmp_path, "--mode", "json", "--csv")
    assert (p.returncode, p.stdout) == (2, b"")
    assert p.stderr.decode() == "auditsql: --mode json and --csv are both given: choose one output format\n"
    p = shell_run(db, "SELECT 1;\n", tmp_path, "--list", "--line")
    assert (p.returncode, p.stdout) == (2, b"")
    assert p.stderr.decode() == "auditsql: --list and --line are both given: choose one output format\n"


def test_shell_same_format_twice_is_fine(db, tmp_path):
    p = shell_run(db, "SELECT 1 AS n;\n", tmp_path, "--mode", "table", "--table")
    assert (p.returncode, p.stdout) == (0, b"+---+\n| n |\n+---+\n| 1 |\n+---+\n")


def test_nullvalue_and_separator_as_osqueryi_keeps_them(db, tmp_path):
    # shell.cpp: .nullvalue sets p->nullvalue (list/csv/line/column); the pretty and JSON modes print
    # FLAGS_nullvalue (shell_callback, MODE_Pretty); .separator and .nullvalue keep 19 bytes ("%.*s", 19)
    script = (
        ".nullvalue NULL\nSELECT NULL AS n;\n.mode list\nSELECT NULL AS n, 2 AS m;\n"
        ".separator 0123456789abcdefghijKLM\n.nullvalue ABCDEFGHIJKLMNOPQRSTUVWXYZ\nSELECT NULL AS n, 2 AS m;\n"
        ".show\n"
    )
    p = shell_run(db, script, tmp_path, "--nullvalue", "-")
    assert (p.returncode, p.stderr) == (0, b"")
    out = p.stdout.decode()
    assert out.startswith(
        "+---+\n| n |\n+---+\n| - |\n+---+\n"
        "n|m\nNULL|2\n"
        "n0123456789abcdefghim\nABCDEFGHIJKLMNOPQRS0123456789abcdefghi2\n"
    )
    assert '    nullvalue: "ABCDEFGHIJKLMNOPQRS"\n' in out
    assert '    separator: "0123456789abcdefghi"\n' in out
    p = shell_run(db, "SELECT NULL AS n;\n", tmp_path, "--json", "--nullvalue", "-")
    assert p.stdout == b'[\n  {"n":"-"}\n]\n'


def test_a_failing_statement_ends_its_input_line(db, tmp_path):
    # shell.cpp shell_exec stops at the first statement that fails; the next line runs
    script = "SELECT 1 AS a; SELECT nope; SELECT 2 AS a;\nSELECT 3 AS a;\n"
    p = shell_run(db, script, tmp_path, "--list")
    assert p.returncode == 1
    assert p.stdout == b"a\n1\na\n3\n"
    assert p.stderr == b"auditsql: unknown column nope: `.schema` in `auditsql shell` lists the columns\n"
    p = shell_run(db, script, tmp_path)
    assert p.stdout == b"+---+\n| a |\n+---+\n| 1 |\n+---+\n+---+\n| a |\n+---+\n| 3 |\n+---+\n"

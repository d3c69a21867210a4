"""`auditsql import` and `auditsql query` as a user runs them: corpus logs in, exact rows out, one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cmd import AUDITSQL_CMD, run_cli
from tests.corpus import CORPUS

EXECVE_LOG = CORPUS / "threathunters-io_laurel/record-execve.txt"
SAMPLE_LOG = Path(__file__).parents[2] / "src/auditsql/data/sample.log"
NORMAL_LOG = CORPUS / "elastic_go-libaudit/reassembler/normal.log"

_CMD = AUDITSQL_CMD
run = run_cli


def one_error_line(p: subprocess.CompletedProcess[bytes]) -> str:
    err = p.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("auditsql: ")
    return lines[0][len("auditsql: ") :]


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


@pytest.fixture(scope="module")
def execve_db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("execve")
    db = d / "store" / "audit.db"
    p = run(["import", "--db", str(db), str(EXECVE_LOG)], d)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode() == (
        f"auditsql: imported 7 records, 1 events, 2 rows (audit_events=1, process_events=1) into {db}\n"
    )
    return db


@pytest.fixture(scope="module")
def normal_db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("normal")
    db = d / "audit.db"
    p = run(["import", "--db", str(db), "-"], d, stdin=NORMAL_LOG.read_bytes())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode() == (
        "auditsql: imported 17 records, 5 events, 10 rows (audit_events=5, process_events=2, socket_events=3) "
        f"into {db}\n"
    )
    return db


def test_import_creates_a_private_store(execve_db):
    assert stat.S_IMODE(os.stat(execve_db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(execve_db.parent).st_mode) == 0o700


def test_query_json_exact_row(execve_db, tmp_path):
    sql = (
        "SELECT pid, parent, path, cmdline, cwd, auid, uid, euid, gid, mode, owner_uid, syscall, tty, ses, comm, "
        "time, uptime, eid FROM process_events"
    )
    out = ok(run(["query", "--db", str(execve_db), "--json", sql], tmp_path))
    assert out == (
        "[\n"
        '  {"auid":"1000","cmdline":"whoami","comm":"whoami","cwd":"/home/user/tmp",'
        '"eid":"work:1615114232.375:15558","euid":"0","gid":"0","mode":"0100755","owner_uid":"0",'
        '"parent":"10883","path":"/usr/bin/whoami","pid":"10884","ses":"1","syscall":"execve","time":"1615114232",'
        '"tty":"pts1","uid":"0","uptime":""}\n'
        "]\n"
    )
    # every value is a string, as osqueryi --json prints them
    (row,) = json.loads(out)
    assert {type(v) for v in row.values()} == {str}


def test_query_json_all_columns_are_strings(execve_db, tmp_path):
    out = ok(run(["query", "--db", str(execve_db), "--json", "SELECT * FROM process_events"], tmp_path))
    (row,) = json.loads(out)
    assert row["argv"] == '["whoami"]'
    assert row["pid"] == "10884"
    assert row["env"] == ""  # NULL prints as osqueryi's default nullvalue
    assert list(row) == sorted(row)


def test_query_csv_exact(normal_db, tmp_path):
    sql = "SELECT pid, parent, path, cmdline, cwd, auid, uid, gid, key, time, eid FROM process_events ORDER BY eid"
    assert ok(run(["query", "--db", str(normal_db), "--csv", "--separator", ",", sql], tmp_path)) == (
        "pid,parent,path,cmdline,cwd,auid,uid,gid,key,time,eid\n"
        '13393,12041,/usr/bin/grep,"grep --color=auto mapping",/home/andrew_kroh,1000,1000,1001,user_commands,'
        "1492037291,1492037291.036:59\n"
        '13392,12041,/usr/bin/cat,"cat securitybeat",/home/andrew_kroh,1000,1000,1001,user_commands,'
        "1492037291,1492037291.038:60\n"
    )


def test_query_line_exact(normal_db, tmp_path):
    sql = (
        "SELECT action, pid, path, fd, status, remote_address, remote_port, socket, exit_code, errno, eid "
        "FROM socket_events WHERE action = 'connect' ORDER BY eid"
    )
    assert ok(run(["query", "--db", str(normal_db), "--line", sql], tmp_path)) == (
        "        action = connect\n"
        "           pid = 1172\n"
        "          path = /usr/bin/python2.7;58d1ccfb (deleted)\n"
        "            fd = 6\n"
        "        status = in_progress\n"
        "remote_address = 169.254.169.254\n"
        "   remote_port = 80\n"
        "        socket = \n"
        "     exit_code = -115\n"
        "         errno = EINPROGRESS\n"
        "           eid = 1492037289.295:58\n"
        "\n"
        "        action = connect\n"
        "           pid = 1229\n"
        "          path = /usr/libexec/postfix/master\n"
        "            fd = 21\n"
        "        status = succeeded\n"
        "remote_address = \n"
        "   remote_port = \n"
        "        socket = public/pickup\n"
        "     exit_code = 0\n"
        "         errno = \n"
        "           eid = 1492037298.883:61\n"
    )


def test_query_table_is_the_default(normal_db, tmp_path):
    sql = "SELECT syscall, count(*) AS n FROM audit_events GROUP BY syscall ORDER BY syscall"
    assert ok(run(["query", "--db", str(normal_db), sql], tmp_path)) == (
        "+---------+---+\n"
        "| syscall | n |\n"
        "+---------+---+\n"
        "| accept  | 1 |\n"
        "| connect | 2 |\n"
        "| execve  | 2 |\n"
        "+---------+---+\n"
    )


def test_query_several_statements_and_stdin(normal_db, tmp_path):
    sql = b"SELECT count(*) AS n FROM process_events; SELECT count(*) AS n FROM socket_events;"
    assert ok(run(["query", "--db", str(normal_db), "--csv", "-"], tmp_path, stdin=sql)) == "n\n2\nn\n3\n"


def test_query_refuses_writes_with_one_line(normal_db, tmp_path):
    p = run(["query", "--db", str(normal_db), "INSERT INTO process_events (pid) VALUES (1)"], tmp_path)
    assert p.returncode == 1
    assert p.stdout == b""
    assert one_error_line(p) == (
        "read-only: INSERT is refused (queries never change the store; rows come from `auditsql run` and "
        "`auditsql import`)"
    )
    assert ok(
        run(["query", "--db", str(normal_db), "--csv", "SELECT count(*) FROM process_events"], tmp_path)
    ) == ("count(*)\n2\n")


def test_query_bad_sql(normal_db, tmp_path):
    p = run(["query", "--db", str(normal_db), "SELECT * FROMM process_events"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == 'bad SQL: near "FROMM": syntax error (at character 10)'


def test_query_unknown_table(normal_db, tmp_path):
    p = run(["query", "--db", str(normal_db), "SELECT * FROM process_event"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        "unknown table process_event: did you mean process_events? known tables: apparmor_events, audit_events, "
        "audit_loss, audit_rules, audit_status, os_version, process_events, process_file_events, process_tree, "
        "seccomp_events, selinux_events, socket_events, system_info, user_events"
    )


def test_query_unknown_column(normal_db, tmp_path):
    p = run(["query", "--db", str(normal_db), "SELECT cmdlin FROM process_events"], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        "unknown column cmdlin: did you mean cmdline? `.schema process_events` in `auditsql shell` lists the columns"
    )


def test_query_missing_database(tmp_path):
    db = tmp_path / "nothing.db"
    p = run(["query", "--db", str(db), "SELECT 1"], tmp_path)
    assert p.returncode == 1
    assert (
        one_error_line(p)
        == f"no database at {db}: run `auditsql run` or `auditsql import` first, or pass --db"
    )
    assert not db.exists()


def test_query_without_sql(normal_db, tmp_path):
    p = run(["query", "--db", str(normal_db), " -- nothing "], tmp_path)
    assert p.returncode == 1
    assert (
        one_error_line(p)
        == 'no SQL statement given (e.g. auditsql query "SELECT * FROM process_events LIMIT 5")'
    )


def test_import_unwritable_db_path(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("")
    db = f / "audit.db"
    p = run(["import", "--db", str(db), str(EXECVE_LOG)], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        f"cannot create database {db}: Not a directory (pass --db with a writable path, or run as root)"
    )


def test_import_missing_file(tmp_path):
    p = run(["import", "--db", str(tmp_path / "x.db"), str(tmp_path / "nope.log")], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == f"{tmp_path / 'nope.log'}: no such file"
    assert not (tmp_path / "x.db").exists()


def test_import_appends_and_enriched_equals_raw_names(tmp_path):
    db = tmp_path / "two.db"
    ok(run(["import", "--db", str(db), str(EXECVE_LOG), str(NORMAL_LOG)], tmp_path))
    out = ok(
        run(
            ["query", "--db", str(db), "--csv", "SELECT path FROM process_events ORDER BY time, eid"],
            tmp_path,
        )
    )
    assert out == "path\n/usr/bin/grep\n/usr/bin/cat\n/usr/bin/whoami\n"


def test_import_not_an_audit_log(tmp_path):
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    p = run(["import", "--db", str(tmp_path / "j.db"), str(junk)], tmp_path)
    assert p.returncode == 1
    err = p.stderr.decode().splitlines()
    assert err == [
        f"auditsql: imported 2 records, 2 events, 2 rows (audit_events=2) into {tmp_path / 'j.db'}",
        "auditsql: no audit records found: every line failed to parse (is this an auditd log?)",
    ]


# -- queries that cannot take the host down -------------------------------------------------------------------

#: peak RSS (MB) `auditsql query` stays under, whatever the query
RSS_BOUND_MB = 200
#: bytes of output a test reads before it closes the pipe, like `| head -c`
KEEP = 8 << 20


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sample")
    db = d / "audit.db"
    p = run(["import", "--db", str(db), str(SAMPLE_LOG)], d)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode() == (
        "auditsql: imported 196 records, 40 events, 50 rows (audit_events=40, process_events=9, "
        f"process_file_events=1) into {db}\n"
    )
    return db


def run_into_pipe(args: list[str], cwd: Path, keep: int = KEEP) -> tuple[int, bytes, str, float]:
    """Run auditsql with its output read up to ``keep`` bytes, then the pipe closed (like `| head -c`).
    Returns (exit status, the output read, stderr, peak RSS in MB)."""
    env = dict(os.environ, LC_ALL="C.UTF-8")
    p = subprocess.Popen(_CMD + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    watchdog = threading.Timer(60, p.kill)
    watchdog.start()
    peak = HighWater(p.pid)
    try:
        out = bytearray()
        while len(out) < keep and (piece := p.stdout.read1(1 << 16)):
            out += piece
        p.stdout.close()
        err = p.stderr.read().decode()
        _, status, _ = os.wait4(p.pid, 0)
    finally:
        watchdog.cancel()
        peak.stop()
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, bytes(out), err, peak.mb


class HighWater:
    """The child's own peak RSS: its VmHWM, read every 10 ms while it lives. (Not ``ru_maxrss``: after
    fork and exec it counts the parent's RSS too, and the test process itself can be hundreds of MB.)"""

    def __init__(self, pid: int) -> None:
        self.path = f"/proc/{pid}/status"
        self.mb = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            try:
                with open(self.path) as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            self.mb = max(self.mb, int(line.split()[1]) / 1024)
            except OSError:
                return
            self.done.wait(0.01)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(5)


#: a cross join of 40^4 = 2.56 million rows: all of them in memory would pass RSS_BOUND_MB
CROSS_JOIN = "SELECT a.eid, b.eid FROM audit_events a, audit_events b, audit_events c, audit_events d"
#: rows without end
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, 'row' AS r FROM c"


@pytest.mark.parametrize("mode", ["--table", "--csv", "--json", "--line", "--list", "--json_pretty"])
def test_a_cross_join_streams(sample_db, tmp_path, mode):
    code, out, err, rss = run_into_pipe(["query", "--db", str(sample_db), mode, CROSS_JOIN], tmp_path)
    assert (code, err) == (0, "")  # the reader went away: not an error
    assert len(out) >= KEEP
    assert rss < RSS_BOUND_MB


# (not --table: osqueryi's pretty mode sizes its columns on every row, so the grid comes after the last)
@pytest.mark.parametrize("mode", ["--csv", "--json", "--line"])
def test_a_recursive_cte_streams(sample_db, tmp_path, mode):
    code, out, err, rss = run_into_pipe(["query", "--db", str(sample_db), mode, ENDLESS], tmp_path, KEEP // 4)
    assert (code, err) == (0, "")  # rows came before the end (there is none)
    assert len(out) >= KEEP // 4
    assert rss < RSS_BOUND_MB


def test_a_huge_printf_is_capped(sample_db, tmp_path):
    # a 200 MB value: SQLITE_LIMIT_LENGTH (8 MiB) makes SQLite's printf() give NULL instead
    sql = "SELECT printf('%.*c', 2e8, 'x') AS v"
    code, out, err, rss = run_into_pipe(["query", "--db", str(sample_db), "--csv", sql], tmp_path)
    assert (code, out, err) == (0, b"v\n\n", "")
    assert rss < RSS_BOUND_MB


def test_a_value_beyond_the_limit_is_one_line(sample_db, tmp_path):
    p = run(["query", "--db", str(sample_db), "SELECT length(zeroblob(1e9))"], tmp_path)
    assert (p.returncode, p.stdout) == (1, b"")
    assert one_error_line(p) == (
        "a value grew beyond 8388608 bytes, the limit of one value (narrow it, e.g. with substr() or a smaller "
        "count)"
    )


def test_json_streams_into_a_pipe(sample_db, tmp_path):
    code, out, err, _ = run_into_pipe(["query", "--db", str(sample_db), "--json", ENDLESS], tmp_path, 1 << 16)
    assert (code, err) == (0, "")
    lines = out.decode().split("\n")
    assert lines[:3] == ["[", '  {"r":"row","x":"1"},', '  {"r":"row","x":"2"},']


@pytest.mark.parametrize("mode", ["--json", "--table"])
def test_output_cut_by_the_time_limit_is_closed(sample_db, tmp_path, mode):
    # about 10 ms of SQLite's time per row: a few dozen rows before the limit
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x % 200000 = 0"
    )
    p = run(["query", "--db", str(sample_db), mode, "--timeout", "0.5", sql], tmp_path)
    assert p.returncode == 1
    assert one_error_line(p) == (
        "query stopped by the time limit of 0.5 s (narrow it with WHERE on an indexed column such as time, add "
        "LIMIT, or raise --timeout)"
    )
    out = p.stdout.decode()
    if mode == "--json":
        rows = json.loads(out)  # valid JSON: the array is closed
        assert rows == [{"x": str(200000 * (i + 1))} for i in range(len(rows))]
        assert rows
    else:
        lines = out.splitlines()
        assert lines[-1] == lines[0] == lines[2]  # the grid's bottom line
        assert lines[1].startswith("| x ")
        assert [int(ln.strip("| ")) for ln in lines[3:-1]] == [
            200000 * (i + 1) for i in range(len(lines) - 4)
        ]


# -- refused and allowed SQL functions and tables ---------------------------------------------------------------


@pytest.mark.parametrize("call", ["fts3_tokenizer('simple')", "fts3_tokenizer('mine', X'0000000000000000')"])
def test_fts3_tokenizer_is_refused(sample_db, tmp_path, call):
    p = run(["query", "--db", str(sample_db), f"SELECT {call}"], tmp_path)
    assert (p.returncode, p.stdout) == (1, b"")
    assert one_error_line(p) == (
        "fts3_tokenizer() is refused (it reads and replaces the SQL engine's internals; queries only read the "
        "store)"
    )


def test_pragma_table_list_and_dbstat_are_reads(sample_db, tmp_path):
    sql = (
        "SELECT name, type FROM pragma_table_list WHERE name IN ('process_events', 'audit_events') ORDER BY name; "
        "SELECT count(*) > 0 AS pages FROM dbstat WHERE name = 'process_events';"
    )
    assert ok(run(["query", "--db", str(sample_db), "--csv", sql], tmp_path)) == (
        "name|type\naudit_events|view\nprocess_events|table\npages\n1\n"
    )


# -- options --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-0.5"])
def test_timeout_must_be_seconds(sample_db, tmp_path, value):
    p = run(["query", "--db", str(sample_db), "--timeout", value, "SELECT 1"], tmp_path)
    assert (p.returncode, p.stdout) == (2, b"")
    shown = f"{float(value):g}"
    assert one_error_line(p) == f"--timeout {shown}: give a number of seconds, or 0 for no limit"


def test_timeout_zero_is_no_limit(sample_db, tmp_path):
    assert ok(
        run(["query", "--db", str(sample_db), "--timeout", "0", "--csv", "SELECT 1 AS n"], tmp_path)
    ) == ("n\n1\n")


@pytest.mark.parametrize(
    ("flags", "shown"),
    [(["--json", "--csv"], "--json and --csv"), (["--table", "--line"], "--line and --table")],
)
def test_two_output_formats_are_refused(sample_db, tmp_path, flags, shown):
    for command in (["query", "--db", str(sample_db)], ["fleet", "query"]):
        p = run([*command, *flags, "SELECT 1"], tmp_path)
        assert (p.returncode, p.stdout) == (2, b"")
        assert one_error_line(p) == f"{shown} are both given: choose one output format"


def test_the_same_output_format_twice_is_fine(sample_db, tmp_path):
    assert ok(run(["query", "--db", str(sample_db), "--csv", "--csv", "SELECT 1 AS n"], tmp_path)) == "n\n1\n"


# -- osqueryi's output flags ----------------------------------------------------------------------------------


def test_query_list_header_separator_nullvalue(execve_db, tmp_path):
    sql = "SELECT pid, path, env, 1.5 AS r FROM process_events"
    q = ["query", "--db", str(execve_db)]
    assert ok(run([*q, "--list", sql], tmp_path)) == "pid|path|env|r\n10884|/usr/bin/whoami||1.5\n"
    assert ok(
        run([*q, "--list", "--noheader", "--separator", "\t", "--nullvalue", "NULL", sql], tmp_path)
    ) == ("10884\t/usr/bin/whoami\tNULL\t1.5\n")
    assert ok(run([*q, "--csv", "--separator=;", "--header", sql], tmp_path)) == (
        "pid;path;env;r\n10884;/usr/bin/whoami;;1.5\n"
    )
    assert ok(run([*q, "--line", "--nullvalue", "-", sql], tmp_path)) == (
        "  pid = 10884\n path = /usr/bin/whoami\n  env = -\n    r = 1.5\n"
    )
    # the pretty table and JSON take the null value; the table keeps its header, as in osqueryi
    assert ok(
        run([*q, "--noheader", "--nullvalue", "-", "SELECT pid, env FROM process_events"], tmp_path)
    ) == ("+-------+-----+\n| pid   | env |\n+-------+-----+\n| 10884 | -   |\n+-------+-----+\n")
    assert ok(run([*q, "--json", "--nullvalue", "-", "SELECT env FROM process_events"], tmp_path)) == (
        '[\n  {"env":"-"}\n]\n'
    )


def test_query_json_pretty(execve_db, tmp_path):
    sql = "SELECT pid, path, uptime FROM process_events"
    for flag in ("--json_pretty", "--json-pretty"):
        assert ok(run(["query", "--db", str(execve_db), flag, sql], tmp_path)) == (
            '[\n  {\n    "path": "/usr/bin/whoami",\n    "pid": "10884",\n    "uptime": ""\n  }\n]\n'
        )
    out = ok(run(["query", "--db", str(execve_db), "--json_pretty", "SELECT 1 AS n WHERE 0"], tmp_path))
    assert out == "[]\n"


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        (["--json", "--json_pretty"], "--json and --json_pretty"),
        (["--list", "--csv"], "--csv and --list"),
        (["--line", "--list", "--json"], "--json and --list and --line"),
    ],
)
def test_osqueryi_format_flags_conflict(sample_db, tmp_path, flags, shown):
    p = run(["query", "--db", str(sample_db), *flags, "SELECT 1"], tmp_path)
    assert (p.returncode, p.stdout) == (2, b"")
    assert one_error_line(p) == f"{shown} are both given: choose one output format"


def test_osqueryi_settings_from_the_flags(sample_db, tmp_path):
    # shell.cpp launchIntoShell: --csv joins with the --separator default `|`; the shell's null value is the
    # flag's first 19 bytes (char nullvalue[20]), the pretty mode prints the whole flag (FLAGS_nullvalue)
    long = "0123456789abcdefghijKLMNOP"
    sql = "SELECT NULL AS n, 'a b' AS s; SELECT 2 AS n"
    assert ok(run(["query", "--db", str(sample_db), "--csv", "--nullvalue", long, sql], tmp_path)) == (
        'n|s\n0123456789abcdefghi|"a b"\nn\n2\n'
    )
    assert ok(run(["query", "--db", str(sample_db), "--nullvalue", long, "SELECT NULL AS n"], tmp_path)) == (
        "+----------------------------+\n"
        "| n                          |\n"
        "+----------------------------+\n"
        "| 0123456789abcdefghijKLMNOP |\n"
        "+----------------------------+\n"
    )
    assert ok(run(["query", "--db", str(sample_db), sql], tmp_path)) == (
        "+---+-----+\n"
        "| n | s   |\n"
        "+---+-----+\n"
        "|   | a b |\n"
        "| 2 |   |\n"  # printer.cpp generateRow: the s this row lacks pads to its name's bytes
        "+---+-----+\n"
    )

"""Pushdown compiler: exact rules, predicates split between the kernel and SQL, `auditsql explain` output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditsql.cli import main
from auditsql.config import load_config
from auditsql.query.pushdown import analyze, builtin_rule_lines, exe_problem, explain, rules, tokenize

OK = lambda _p: None  # noqa: E731 - every exe passes the host checks
BUILTIN = [
    "-a always,exit -F arch=b64 -S execve,execveat,bind,connect,accept,accept4",
    "-a always,exit -F arch=b32 -S execve,execveat,bind,connect,accept4",
]


def lines(*queries: str, failed: bool = False) -> list[str]:
    pd = analyze([(f"q{i}", q) for i, q in enumerate(queries)], include_failed_execs=failed, exe_check=OK)
    return pd.rule_lines


def test_builtin_rules_file_is_read() -> None:
    assert builtin_rule_lines() == (
        [
            ("b64", ["execve", "execveat", "bind", "connect", "accept", "accept4"]),
            ("b32", ["execve", "execveat", "bind", "connect", "accept4"]),
        ],
        {"backlog_limit": 4096},
        [],
    )


def test_exe_exclusion_filters_only_the_exec_rules() -> None:
    assert lines("SELECT pid, cmdline FROM process_events WHERE path != '/usr/bin/sed'") == [
        "-a always,exit -F arch=b64 -S bind,connect,accept,accept4",
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed",
        "-a always,exit -F arch=b32 -S bind,connect,accept4",
        "-a always,exit -F arch=b32 -S execve,execveat -F exe!=/usr/bin/sed",
    ]


@pytest.mark.parametrize(
    "queries",
    [
        ("SELECT * FROM process_events",),  # no WHERE
        ("SELECT * FROM process_events WHERE path != '/usr/bin/sed'", "SELECT * FROM process_events"),
        ("SELECT * FROM process_events WHERE cmdline LIKE '%x%'",),  # nothing pushable
        ("SELECT * FROM process_events WHERE uid = 0 OR cmdline LIKE '%x%'",),  # OR with SQL-only
        ("SELECT * FROM process_events WHERE path = '/usr/bin/curl'",),  # exe= would lose containers
        ("SELECT * FROM process_events WHERE uid > 0", "SELECT count(*) FROM audit_events"),
        ("SELECT p.pid FROM process_events p JOIN socket_events s ON s.pid = p.pid WHERE p.uid = 0",),
        ("SELECT * FROM process_events WHERE pid IN (SELECT pid FROM socket_events) AND uid = 0",),
        ("SELECT * FROM process_events WHERE uid = 0 UNION ALL SELECT * FROM process_events WHERE uid = 1",),
        ("WITH x AS (SELECT * FROM process_events) SELECT * FROM x WHERE uid = 0",),
        ("SELECT * FROM process_events, socket_events WHERE process_events.uid = 0",),
        ("SELECT * FROM process_events WHERE uid = 4294967295",),  # not loadable: stays in SQL
        ("SELECT * FROM process_events WHERE uid = '0'",),  # a string: SQLite converts, we do not
        ("SELECT * FROM process_events WHERE uid = 1 < 2",),  # uid = (1 < 2) to SQLite
        ("SELECT * FROM process_events WHERE path != '/usr/bin/sed' COLLATE NOCASE",),
        ("SELECT * FROM process_events WHERE (uid, gid) = (0, 0)",),
    ],
)
def test_not_pushable_keeps_the_builtin_rules(queries: tuple[str, ...]) -> None:
    assert lines(*queries) == BUILTIN


def test_tables_no_query_reads_keep_their_rules_and_unfiltered_reasons() -> None:
    pd = analyze(
        [("a", "SELECT * FROM socket_events WHERE family = 2"), ("b", "SELECT * FROM user_events")],
        exe_check=OK,
    )
    assert pd.tables["process_events"] is None
    assert pd.why == {"process_events": "no scheduled query reads it (ad-hoc queries still need every event)"}
    assert pd.rule_lines == [
        "-a always,exit -F arch=b64 -S execve,execveat",
        "-a always,exit -F arch=b64 -S bind,connect,accept,accept4 -F saddr_fam=2",
        "-a always,exit -F arch=b32 -S execve,execveat",
        "-a always,exit -F arch=b32 -S bind,connect,accept4 -F saddr_fam=2",
    ]
    pd = analyze([("a", "SELECT * FROM process_events WHERE uid = 0"), ("z", "SELECT * FROM audit_events")])
    assert pd.why["process_events"] == "query z reads audit_events, which needs every event"


def test_queries_are_ored_per_table_and_absorbed() -> None:
    assert lines(
        "SELECT * FROM process_events WHERE auid >= 1000 AND path != '/usr/bin/sed'",
        "SELECT * FROM process_events WHERE auid >= 1000",
        "SELECT * FROM process_events WHERE uid = 0 AND syscall = 'execveat'",
        "SELECT * FROM socket_events WHERE action IN ('connect', 'accept') AND status = 'succeeded'",
    ) == [
        "-a always,exit -F arch=b64 -S execve,execveat -F auid>=1000",
        "-a always,exit -F arch=b64 -S execveat -F uid=0",
        "-a always,exit -F arch=b64 -S connect,accept,accept4 -F success=1",
        "-a always,exit -F arch=b32 -S execve,execveat -F auid>=1000",
        "-a always,exit -F arch=b32 -S execveat -F uid=0",
        "-a always,exit -F arch=b32 -S connect,accept4 -F success=1",
    ]


def test_several_excluded_programs_become_never_rules_before_their_always_rule() -> None:
    assert lines(
        "SELECT * FROM process_events WHERE path NOT IN ('/usr/bin/sed', '/usr/bin/cat', '/usr/bin/tr') "
        "AND auid >= 1000",
        "SELECT * FROM process_events WHERE uid = 0",
    )[:5] == [
        "-a always,exit -F arch=b64 -S bind,connect,accept,accept4",
        "-a always,exit -F arch=b64 -S execve,execveat -F uid=0",
        "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/cat -F auid>=1000",
        "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/sed -F auid>=1000",
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/tr -F auid>=1000",
    ]


def test_a_second_multi_exe_conjunction_is_widened_to_one_exe() -> None:
    pd = analyze(
        [
            (
                "a",
                "SELECT * FROM process_events WHERE path NOT IN ('/usr/bin/sed', '/usr/bin/cat') AND uid = 1",
            ),
            (
                "b",
                "SELECT * FROM process_events WHERE path NOT IN ('/usr/bin/tr', '/usr/bin/ls') AND uid = 2",
            ),
        ],
        exe_check=OK,
    )
    assert pd.rule_lines[1:5] == [
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/ls -F uid=2",
        "-a never,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/cat -F uid=1",
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed -F uid=1",
        "-a always,exit -F arch=b32 -S bind,connect,accept4",
    ]
    assert pd.notes == [
        "process_events: exe!=/usr/bin/tr left to SQL (one exe field per rule; the never-rule block is taken)"
    ]


@pytest.mark.parametrize(
    ("where", "fields"),
    [
        ("status = 'succeeded'", "-F success=1"),
        ("status = 'failed'", "-F success=0"),
        ("status != 'failed'", "-F success=1"),
        ("status != 'succeeded'", "-F success=0"),
        ("NOT (uid < 1000)", "-F uid>=1000"),
        ("1000 > auid", "-F auid<1000"),
        ("uid BETWEEN 1 AND 999", "-F uid<=999 -F uid>=1"),
        ("parent = 1", "-F ppid=1"),
        ("p.pid = 4242", "-F pid=4242"),
        ('"egid" <> 0', "-F egid!=0"),
        ("uid = 0x10", "-F uid=16"),
    ],
)
def test_process_columns_map_to_kernel_fields(where: str, fields: str) -> None:
    got = lines(f"SELECT * FROM process_events AS p WHERE {where}")
    assert got[1] == f"-a always,exit -F arch=b64 -S execve,execveat {fields}"


@pytest.mark.parametrize(
    ("where", "rule"),
    [
        ("action = 'accept'", "-S accept,accept4"),
        ("action != 'bind'", "-S connect,accept,accept4"),
        ("syscall = 'accept4'", "-S accept4"),
        ("status = 'in_progress'", "-S bind,connect,accept,accept4 -F success=0"),
        ("status != 'succeeded'", "-S bind,connect,accept,accept4 -F success=0"),
        ("success = 0", "-S bind,connect,accept,accept4 -F success=0"),
        ("family IN (2, 10) AND ppid > 1", "-S bind,connect,accept,accept4 -F ppid>1 -F saddr_fam=10"),
    ],
)
def test_socket_columns_map_to_kernel_fields(where: str, rule: str) -> None:
    got = lines(f"SELECT * FROM socket_events WHERE {where}")
    assert got[1] == f"-a always,exit -F arch=b64 {rule}"


@pytest.mark.parametrize(
    "where", ["status != 'failed'", "status != 'in_progress'", "success = 1", "family = 46", "family = -1"]
)
def test_socket_predicates_that_cannot_be_pushed(where: str) -> None:
    assert lines(f"SELECT * FROM socket_events WHERE {where}") == BUILTIN


def test_failed_execs_keep_every_failed_exec_when_path_is_excluded() -> None:
    q = "SELECT * FROM process_events WHERE path != '/usr/bin/sed'"
    assert lines(q, failed=True)[1:3] == [
        "-a always,exit -F arch=b64 -S execve,execveat -F success=0",
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed -F success=1",
    ]
    assert lines(q + " AND status = 'succeeded'", failed=True)[1] == (
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed -F success=1"
    )


def test_a_where_that_is_never_true_loads_no_rule_for_its_table() -> None:
    assert lines("SELECT * FROM process_events WHERE uid = NULL OR syscall = 'fork'") == [
        "-a always,exit -F arch=b64 -S bind,connect,accept,accept4",
        "-a always,exit -F arch=b32 -S bind,connect,accept4",
    ]


def test_field_limit_widens_instead_of_failing() -> None:
    many = " AND ".join(f"pid != {i}" for i in range(70))
    got = lines(f"SELECT * FROM process_events WHERE {many}")
    assert len(got[1].split(" -F ")) - 1 == 62  # arch + 61 fields; the kernel allows 64, auditctl 63
    pd = analyze([("q", f"SELECT * FROM process_events WHERE {many}")], exe_check=OK)
    assert pd.notes == ["process_events: 9 conditions left to SQL (the kernel's 64 fields)"]


def test_exe_problem_on_this_host(tmp_path: Path) -> None:
    assert exe_problem("/usr/bin/sed") is None
    assert exe_problem("/bin/sed") == "not canonical (a symlink in it)"  # /bin -> usr/bin
    assert exe_problem("/no/such/dir/x") == "its directory does not exist"
    assert exe_problem("sed") == "not an absolute file name"
    assert exe_problem("/usr/bin/../bin/sed") == "not normalized"
    assert exe_problem("/usr/bin/a b") == "has blanks, quotes, % or control characters"
    real = os.path.realpath(tmp_path)
    (Path(real) / "one").write_text("")
    os.link(Path(real) / "one", Path(real) / "two")
    assert exe_problem(f"{real}/one") == "has 2 hard links (exe matches the file under any name)"


def test_tokenizer() -> None:
    toks = tokenize("SELECT \"a b\", [c], x'00', 0x1F, 1.5e3, 'it''s' -- c\n/* d */ <> ->> ?1")
    assert [(t.kind, t.value) for t in toks] == [
        ("id", "select"),
        ("qid", "a b"),
        ("op", None),
        ("qid", "c"),
        ("op", None),
        ("blob", None),
        ("op", None),
        ("num", 31),
        ("op", None),
        ("num", 1500.0),
        ("op", None),
        ("str", "it's"),
        ("op", None),
        ("op", None),
        ("param", None),
        ("eof", None),
    ]


def test_explain_text() -> None:
    pd = analyze(
        [("execs", "SELECT pid FROM process_events WHERE path != '/usr/bin/sed' AND cmdline LIKE '%ssh%'")],
        exe_check=OK,
    )
    assert explain(pd, machine="x86_64") == (
        "query execs: SELECT pid FROM process_events WHERE path != '/usr/bin/sed' AND cmdline LIKE '%ssh%'\n"
        "  reads: process_events\n"
        "  kernel:          path != '/usr/bin/sed'  ->  -F exe!=/usr/bin/sed\n"
        "  SQL:             cmdline LIKE '%ssh%'  ->  not a kernel filter (function, LIKE, IS NULL, expression...)\n"
        "  residual SQL: the query as written (pushing only drops events no row of it can come from)\n"
        "\n"
        "process_events: kernel-filtered: -F exe!=/usr/bin/sed\n"
        "socket_events: builtin rules, unfiltered: no scheduled query reads it "
        "(ad-hoc queries still need every event)\n"
        "\n"
        "settings: -b 4096\n"
        "rules (auditctl -l form; auditctl 3.0.9 itself lists exe!= as exe=):\n"
        "-a always,exit -F arch=b64 -S connect,accept,bind,accept4\n"
        "-a always,exit -F arch=b64 -S execve,execveat -F exe!=/usr/bin/sed\n"
        "-a always,exit -F arch=b32 -S bind,connect,accept4\n"
        "-a always,exit -F arch=b32 -S execve,execveat -F exe!=/usr/bin/sed\n"
    )


def _config(tmp_path: Path, pushdown: bool) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f"[kernel]\npushdown = {str(pushdown).lower()}\n"
        '[schedule.execs]\nquery = "SELECT * FROM process_events WHERE auid >= 1000"\n'
        "[schedule.conns]\nquery = \"SELECT * FROM socket_events WHERE action = 'connect'\"\n"
    )
    return cfg


def test_rules_for_auditsql_run(tmp_path: Path) -> None:
    assert rules(load_config(str(_config(tmp_path, True)))) == [
        ("pushdown", "-a always,exit -F arch=b64 -S execve,execveat -F auid>=1000"),
        ("pushdown", "-a always,exit -F arch=b64 -S connect"),
        ("pushdown", "-a always,exit -F arch=b32 -S execve,execveat -F auid>=1000"),
        ("pushdown", "-a always,exit -F arch=b32 -S connect"),
    ]


def test_cli_explain_config(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["explain", "--config", str(_config(tmp_path, False))])
    assert res.exit_code == 0
    out = res.output.splitlines()
    assert out[0] == (
        f"note: {tmp_path}/c.toml has [kernel] pushdown = false: auditsql run loads the builtin rules "
        "unchanged; with pushdown = true it would load:"
    )
    assert out[1] == "query execs: SELECT * FROM process_events WHERE auid >= 1000"
    assert out[-2:] == [
        "-a always,exit -F arch=b32 -S execve,execveat -F auid>=1000",
        "-a always,exit -F arch=b32 -S connect",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT * FROM nope"], "the query does not compile: no such table: nope"),
        (["SELECT * FROM process_events WHERE"], "the query does not compile: incomplete input"),
        ([], 'explain needs a query or --config FILE (e.g. auditsql explain "SELECT * FROM process_events")'),
        (["--config", "/nonexistent.toml"], "/nonexistent.toml: cannot read: No such file or directory"),
    ],
)
def test_cli_explain_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    res = CliRunner().invoke(main, ["explain", *args])
    assert (res.exit_code, res.output) == (2, f"auditsql: {message}\n")

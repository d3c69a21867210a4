"""Output modes, byte for byte as osqueryi prints them (osquery/devtools/printer.cpp, shell.cpp)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import auditsql.query.format as fmt
from auditsql.query.format import (
    MODES,
    Style,
    mode_name,
    render,
    setting_text,
    to_bytes,
    utf8_size,
    value_text,
    write_result,
    write_results,
)

COLS = ["pid", "path", "cmdline"]
ROWS = [(10884, "/usr/bin/whoami", None), (7, "/bin/a b", "")]


def test_modes():
    assert MODES == ("pretty", "json", "json_pretty", "csv", "list", "line", "column")
    assert mode_name("table") == "pretty"  # auditsql's earlier name for osqueryi's pretty mode
    assert mode_name("lines") == "line"
    assert mode_name("columns") == "column"
    assert mode_name("xml") is None


def test_value_text_is_sqlites_text_form():
    assert value_text(None) == ""
    assert value_text(None, "NULL") == "NULL"
    assert value_text(0) == "0"
    assert value_text(-2) == "-2"
    assert value_text(2**63 - 1) == "9223372036854775807"
    # REAL as SQLite's %!.15g
    assert value_text(1.0) == "1.0"
    assert value_text(0.1) == "0.1"
    assert value_text(2.5) == "2.5"
    assert value_text(1e20) == "1.0e+20"
    assert value_text(1.5e-7) == "1.5e-07"
    assert value_text(1 / 3) == "0.333333333333333"
    assert value_text("tëxt") == "tëxt"
    assert value_text(b"ab\xff") == "ab\udcff"


def test_json_is_osqueryi_json():
    # one compact object per row, two-space indent, keys in byte order, every value a string, NULL as ""
    assert render(COLS, ROWS, "json") == (
        "[\n"
        '  {"cmdline":"","path":"/usr/bin/whoami","pid":"10884"},\n'
        '  {"cmdline":"","path":"/bin/a b","pid":"7"}\n'
        "]\n"
    )


def test_json_no_rows():
    assert render(COLS, [], "json") == "[\n\n]\n"


def test_json_escapes_like_rapidjson():
    s = 'q"b\\s/\b\f\n\r\t\x01\x1f\x7fé\u2028'
    assert render(["v"], [(s,)], "json") == (
        '[\n  {"v":"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001F\x7fé\u2028"}\n]\n'
    )


def test_json_repeated_column_keeps_last_value():
    assert render(["a", "a"], [(1, 2)], "json") == '[\n  {"a":"2"}\n]\n'


def test_json_reals_and_bytes():
    assert render(["r", "b"], [(1e20, b"\xff")], "json") == '[\n  {"b":"\udcff","r":"1.0e+20"}\n]\n'
    assert to_bytes(render(["b"], [(b"\xff",)], "json")) == b'[\n  {"b":"\xff"}\n]\n'


def test_csv():
    assert (
        render(COLS, ROWS, "csv", separator=",")
        == 'pid,path,cmdline\n10884,/usr/bin/whoami,\n7,"/bin/a b",""\n'
    )


def test_csv_joins_with_the_separator_flags_default():
    # shell.cpp launchIntoShell: `--csv` sets data.separator[0] = ',', then
    # sqlite3_snprintf(sizeof(data.separator), data.separator, "%s", FLAGS_separator.c_str()) copies the
    # --separator flag over it, whose default is "|" (SHELL_FLAG(string, separator, "|", ...))
    assert render(COLS, ROWS, "csv") == 'pid|path|cmdline\n10884|/usr/bin/whoami|\n7|"/bin/a b"|""\n'


def test_csv_quoting_follows_osqueryi():
    cols = ["v"]
    rows = [
        ("plain",),
        ("a,b",),
        ('say "hi"',),
        ("it's",),
        ("tab\there",),
        ("nl\nx",),
        ("é",),
        ("\x7f",),
        ("",),
        (None,),
        (1.5,),
    ]
    assert render(cols, rows, "csv", separator=",") == (
        'v\nplain\n"a,b"\n"say ""hi"""\n"it\'s"\n"tab\there"\n"nl\nx"\n"é"\n"\x7f"\n""\n\n1.5\n'
    )


def test_csv_no_rows_prints_nothing():
    assert render(COLS, [], "csv") == ""


def test_line():
    assert render(COLS, ROWS, "line") == (
        "    pid = 10884\n   path = /usr/bin/whoami\ncmdline = \n\n    pid = 7\n   path = /bin/a b\ncmdline = \n"
    )


def test_line_names_at_least_five_wide():
    assert render(["a", "bb"], [(1, 2)], "line") == "    a = 1\n   bb = 2\n"


def test_line_no_rows_prints_nothing():
    assert render(COLS, [], "line") == ""


def test_table_is_osqueryi_pretty():
    assert render(COLS, ROWS, "table") == (
        "+-------+-----------------+---------+\n"
        "| pid   | path            | cmdline |\n"
        "+-------+-----------------+---------+\n"
        "| 10884 | /usr/bin/whoami |         |\n"
        "| 7     | /bin/a b        |         |\n"
        "+-------+-----------------+---------+\n"
    )


def test_table_widths_count_characters():
    assert render(["n"], [("é€",)], "table") == "+----+\n| n  |\n+----+\n| é€ |\n+----+\n"


def test_table_no_rows_prints_nothing():
    assert render(COLS, [], "table") == ""
    assert render(COLS, [], "pretty") == ""


def test_unknown_mode():
    with pytest.raises(ValueError) as e:
        render(COLS, ROWS, "xml")
    assert str(e.value) == "unknown output mode xml"


class Cut(Exception):
    """Reading the rows failed midway (the engine's time limit)."""


def _rows_then(rows: list[tuple], failure: Exception | None = None):
    yield from rows
    if failure is not None:
        raise failure


def _written_before_the_end(mode: str, rows: list[tuple], cols: list[str] = COLS) -> list[str]:
    """What ``write_result`` wrote when the last row was asked for."""
    parts: list[str] = []
    seen: list[str] = []

    def gen():
        yield from rows[:-1]
        seen.append("".join(parts))
        yield rows[-1]

    write_result(parts.append, cols, gen(), mode)
    return seen


@pytest.mark.parametrize("mode", ["json", "csv", "line"])
def test_streaming_modes_write_each_row_as_it_comes(mode):
    (before_last,) = _written_before_the_end(mode, ROWS)
    assert before_last == render(COLS, ROWS[:1], mode).removesuffix("\n]\n")


def test_write_result_is_render(tmp_path):
    for mode in MODES:
        parts: list[str] = []
        write_result(parts.append, COLS, iter(ROWS), mode)
        assert "".join(parts) == render(COLS, ROWS, mode)


def test_json_array_is_closed_when_the_rows_fail_midway():
    parts: list[str] = []
    with pytest.raises(Cut):
        write_result(parts.append, COLS, _rows_then(ROWS[:1], Cut()), "json")
    assert "".join(parts) == ('[\n  {"cmdline":"","path":"/usr/bin/whoami","pid":"10884"}\n]\n')
    parts.clear()
    with pytest.raises(Cut):
        write_result(parts.append, COLS, _rows_then([], Cut()), "json")
    assert "".join(parts) == "[\n\n]\n"


def test_table_is_written_when_the_rows_fail_midway():
    # shell.cpp shell_exec: a failing step ends the loop, then pretty_print_if_needed prints what was gathered
    parts: list[str] = []
    with pytest.raises(Cut):
        write_result(parts.append, ["n"], _rows_then([(1,), (22,)], Cut()), "table")
    assert "".join(parts) == "+----+\n| n  |\n+----+\n| 1  |\n| 22 |\n+----+\n"
    parts.clear()
    with pytest.raises(Cut):
        write_result(parts.append, ["n"], _rows_then([], Cut()), "table")
    assert parts == []


def test_table_sizes_its_columns_on_every_row(monkeypatch):
    # printer.cpp prettyPrint: the lengths come from every row (computeRowLengths), so the grid is written
    # after the last; past GRID_MEMORY_CHARS the rows wait in a temporary file, and come back the same
    monkeypatch.setattr(fmt, "GRID_MEMORY_CHARS", 2)
    assert render(["n"], [(1,), (22,), (333,), (4,)], "table") == (
        "+-----+\n| n   |\n+-----+\n| 1   |\n| 22  |\n| 333 |\n| 4   |\n+-----+\n"
    )
    (before_last,) = _written_before_the_end("table", [(1,), (22,), (333,)], ["n"])
    assert before_last == ""
    rows = [(i, "é" * (i % 7), None if i % 3 else b"\xff") for i in range(2000)]
    spilled = render(["i", "s", "b"], rows, "table", "NULL")
    monkeypatch.setattr(fmt, "GRID_MEMORY_CHARS", 4 << 20)
    assert spilled == render(["i", "s", "b"], rows, "table", "NULL")
    assert spilled.count("\n") == 2000 + 4


# -- golden bytes for every mode, worked out by hand from osquery's printer.cpp and shell.cpp ------------------

MIXED_COLS = ["name", "pid", "ratio", "note"]
MIXED = [("bash", 1, 0.5, None), ("zsh", 22, 1e20, "x|y,z")]
UNI_COLS = ["path", "user"]
UNI = [("/tmp/é€", "ø"), ("/a", "日本語")]

GOLDEN = {
    "pretty": (
        "+------+-----+---------+-------+\n"
        "| name | pid | ratio   | note  |\n"
        "+------+-----+---------+-------+\n"
        "| bash | 1   | 0.5     |       |\n"
        "| zsh  | 22  | 1.0e+20 | x|y,z |\n"
        "+------+-----+---------+-------+\n"
    ),
    "json": (
        "[\n"
        '  {"name":"bash","note":"","pid":"1","ratio":"0.5"},\n'
        '  {"name":"zsh","note":"x|y,z","pid":"22","ratio":"1.0e+20"}\n'
        "]\n"
    ),
    "json_pretty": (
        "[\n"
        "  {\n"
        '    "name": "bash",\n'
        '    "note": "",\n'
        '    "pid": "1",\n'
        '    "ratio": "0.5"\n'
        "  },\n"
        "  {\n"
        '    "name": "zsh",\n'
        '    "note": "x|y,z",\n'
        '    "pid": "22",\n'
        '    "ratio": "1.0e+20"\n'
        "  }\n"
        "]\n"
    ),
    "csv": 'name|pid|ratio|note\nbash|1|0.5|\nzsh|22|1.0e+20|"x|y,z"\n',
    "list": "name|pid|ratio|note\nbash|1|0.5|\nzsh|22|1.0e+20|x|y,z\n",
    "line": (
        " name = bash\n  pid = 1\nratio = 0.5\n note = \n\n name = zsh\n  pid = 22\nratio = 1.0e+20\n note = x|y,z\n"
    ),
    "column": (
        "name        pid         ratio       note      \n"
        "----------  ----------  ----------  ----------\n"
        "bash        1           0.5                   \n"
        "zsh         22          1.0e+20     x|y,z     \n"
    ),
}

GOLDEN_UNICODE = {
    "pretty": (
        "+---------+------+\n| path    | user |\n+---------+------+\n| /tmp/é€ | ø    |\n| /a      | 日本語  |\n"
        "+---------+------+\n"
    ),
    "json": '[\n  {"path":"/tmp/é€","user":"ø"},\n  {"path":"/a","user":"日本語"}\n]\n',
    "json_pretty": (
        '[\n  {\n    "path": "/tmp/é€",\n    "user": "ø"\n  },\n  {\n    "path": "/a",\n    "user": "日本語"\n  }\n]\n'
    ),
    "csv": 'path|user\n"/tmp/é€"|"ø"\n/a|"日本語"\n',
    "list": "path|user\n/tmp/é€|ø\n/a|日本語\n",
    "line": " path = /tmp/é€\n user = ø\n\n path = /a\n user = 日本語\n",
    "column": (
        # widths in bytes: /tmp/é€ is 10 bytes, ø 2, 日本語 9
        "path        user      \n----------  ----------\n/tmp/é€  ø" + " " * 8 + "\n/a          日本語 \n"
    ),
}

GOLDEN_EMPTY = {
    "pretty": "",
    "json": "[\n\n]\n",
    "json_pretty": "[]\n",
    "csv": "",
    "list": "",
    "line": "",
    "column": "",
}


@pytest.mark.parametrize("mode", MODES)
def test_golden_mixed_types_and_null(mode):
    assert render(MIXED_COLS, MIXED, mode) == GOLDEN[mode]


@pytest.mark.parametrize("mode", MODES)
def test_golden_unicode(mode):
    assert render(UNI_COLS, UNI, mode) == GOLDEN_UNICODE[mode]


@pytest.mark.parametrize("mode", MODES)
def test_golden_no_rows(mode):
    assert render(MIXED_COLS, [], mode) == GOLDEN_EMPTY[mode]
    assert render(MIXED_COLS, [], mode, header=False, separator=";", nullvalue="N") == GOLDEN_EMPTY[mode]


def test_pretty_matches_osquerys_printer_tests():
    # the data of osquery/devtools/tests/printer_tests.cpp; its header and first row are that test's strings
    cols = ["name", "age", "food", "number"]
    rows = [
        ("Mike Jones", "39", "mac and cheese", "1"),
        ("John Smith", "44", "peanut butter and jelly", "2"),
        ("Doctor Who", "2000", "fish sticks and custard", "11"),
    ]
    assert render(cols, rows, "pretty") == (
        "+------------+------+-------------------------+--------+\n"
        "| name       | age  | food                    | number |\n"
        "+------------+------+-------------------------+--------+\n"
        "| Mike Jones | 39   | mac and cheese          | 1      |\n"
        "| John Smith | 44   | peanut butter and jelly | 2      |\n"
        "| Doctor Who | 2000 | fish sticks and custard | 11     |\n"
        "+------------+------+-------------------------+--------+\n"
    )
    assert utf8_size("Àlex Smith") == 10  # its test_unicode


def test_nullvalue_in_every_mode():
    cols, rows = ["a", "b"], [(None, 1)]
    got = {m: render(cols, rows, m, "NULL") for m in MODES}
    assert got == {
        "pretty": "+------+---+\n| a    | b |\n+------+---+\n| NULL | 1 |\n+------+---+\n",
        "json": '[\n  {"a":"NULL","b":"1"}\n]\n',
        "json_pretty": '[\n  {\n    "a": "NULL",\n    "b": "1"\n  }\n]\n',
        "csv": "a|b\nNULL|1\n",  # the null value unquoted
        "list": "a|b\nNULL|1\n",
        "line": "    a = NULL\n    b = 1\n",
        "column": "a           b         \n----------  ----------\nNULL        1         \n",
    }


def test_header_off():
    # --noheader touches list, csv and column; the pretty grid keeps its header, as in osqueryi
    assert render(MIXED_COLS, MIXED, "list", header=False) == "bash|1|0.5|\nzsh|22|1.0e+20|x|y,z\n"
    assert render(MIXED_COLS, MIXED, "csv", header=False) == 'bash|1|0.5|\nzsh|22|1.0e+20|"x|y,z"\n'
    assert render(MIXED_COLS, MIXED, "column", header=False) == (
        "bash        1           0.5                   \nzsh         22          1.0e+20     x|y,z     \n"
    )
    for mode in ("pretty", "json", "json_pretty", "line"):
        assert render(MIXED_COLS, MIXED, mode, header=False) == GOLDEN[mode]


def test_separators():
    assert render(MIXED_COLS, MIXED, "list", "NULL", header=False, separator="\t") == (
        "bash\t1\t0.5\tNULL\nzsh\t22\t1.0e+20\tx|y,z\n"
    )
    # csv quotes a field holding the separator's first byte (not a comma, unless it is the separator)
    assert render(MIXED_COLS, MIXED, "csv", separator="|") == (
        'name|pid|ratio|note\nbash|1|0.5|\nzsh|22|1.0e+20|"x|y,z"\n'
    )
    assert render(MIXED_COLS, MIXED, "csv", separator=";") == (
        "name;pid;ratio;note\nbash;1;0.5;\nzsh;22;1.0e+20;x|y,z\n"
    )
    # a longer separator: osqueryi compares it with the field's start once its first byte is seen
    assert render(["v"], [("a:b",), ("::x",), (":x",)], "csv", separator="::") == 'v\na:b\n"::x"\n:x\n'
    assert render(["v"], [("a",)], "csv", separator="") == "v\na\n"


def test_csv_quotes_its_header():
    assert render(["a b", "c"], [(1, 2)], "csv", separator=",") == '"a b",c\n1,2\n'


def test_pretty_repeated_column_shows_the_last_value():
    assert (
        render(["a", "a"], [(1, 22)], "pretty")
        == "+----+----+\n| a  | a  |\n+----+----+\n| 22 | 22 |\n+----+----+\n"
    )


def test_line_pads_names_by_bytes():
    assert render(["é", "ab"], [(1, 2)], "line") == "   é = 1\n   ab = 2\n"


def test_column_cuts_later_values_to_the_first_rows_widths():
    assert render(["v"], [("a",), ("abcdefghijklmnop",)], "column") == (
        "v         \n----------\na         \nabcdefghij\n"
    )
    # cut by bytes, as printf's %.*s: a character may be cut in two
    out = to_bytes(render(["v"], [("a",), ("€€€€",)], "column", header=False))
    assert out == b"a         \n" + "€€€".encode() + b"\xe2\n"
    # a name wider than 93 gets spaces after its dashes
    wide = "w" * 95
    assert render([wide], [(1,)], "column").splitlines()[1] == "-" * 93 + "  "
    # past the 100th column, sqlite3's widths are 10 after the header line
    cols = [f"c{i}" for i in range(101)]
    lines = render(cols, [(*range(100), "v" * 12), (*range(100), "w")], "column").splitlines()
    assert lines[0].endswith("  c100        ")  # the header: 12 wide
    assert lines[1].endswith("  ----------")
    assert lines[2].endswith("  vvvvvvvvvv")
    assert lines[3].endswith("  w         ")


def test_json_keys_in_byte_order():
    # U+E000 sorts after a stray byte (\udcff, the byte 0xff as read) by code point, before it by bytes
    assert render(["\ue000", "\udcff"], [(1, 2)], "json") == '[\n  {"\ue000":"1","\udcff":"2"}\n]\n'


def test_utf8_size_is_osquerys():
    assert utf8_size("abc") == 3
    assert utf8_size("é€日") == 3
    assert utf8_size("a\udc80") == 1  # a stray continuation byte counts nothing
    assert utf8_size("\udc80bc") == 3  # unless it starts the text
    assert utf8_size("\udcff") == 1  # another byte that is not UTF-8 counts one


def test_json_pretty_closed_when_the_rows_fail_midway():
    parts: list[str] = []
    with pytest.raises(Cut):
        write_result(parts.append, ["n"], _rows_then([(1,)], Cut()), "json_pretty")
    assert "".join(parts) == '[\n  {\n    "n": "1"\n  }\n]\n'
    parts.clear()
    with pytest.raises(Cut):
        write_result(parts.append, ["n"], _rows_then([], Cut()), "json_pretty")
    assert "".join(parts) == "[]\n"


# -- properties: what each mode prints reads back as the values ---------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_value = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), _text)
_names = st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=4, unique=True)


@st.composite
def _results(draw):  # type: ignore[no-untyped-def]
    cols = draw(_names)
    rows = draw(st.lists(st.tuples(*[_value] * len(cols)), max_size=5))
    return cols, rows


@settings(max_examples=200, deadline=None)
@given(_results())
def test_json_modes_read_back_as_the_values(result):
    cols, rows = result
    want = [{c: value_text(v) for c, v in zip(cols, row, strict=True)} for row in rows]
    assert json.loads(render(cols, rows, "json")) == want
    assert json.loads(render(cols, rows, "json_pretty")) == want


@settings(max_examples=200, deadline=None)
@given(_results(), st.sampled_from([",", ";", "\t", "|", "::"]))
def test_csv_reads_back_as_the_values(result, sep):
    cols, rows = result
    out = render(cols, rows, "csv", "NULL", separator=sep)
    if not rows:
        assert out == ""
        return
    if (
        len(sep) > 1
    ):  # a longer separator quotes only a field starting with it: split by hand where it is safe
        return
    got = list(csv.reader(io.StringIO(out, newline=""), delimiter=sep))
    assert got[0] == cols
    assert got[1:] == [["NULL" if v is None else value_text(v) for v in row] for row in rows]


@settings(max_examples=200, deadline=None)
@given(_results())
def test_pretty_rows_line_up(result):
    cols, rows = result
    lines = render(cols, rows, "pretty").split("\n")[:-1]
    # every line as wide as the border, in characters, when no value holds a line break
    if rows and not any("\n" in value_text(v) for row in rows for v in row):
        assert {utf8_size(line) for line in lines} == {len(lines[0])}


# -- what osqueryi does that auditsql once did differently: the citations are osquery/devtools/shell.cpp and
# printer.cpp (osquery 5, commit efc341a3 of shell.cpp)


def _results(style: Style, *results: tuple[list[str], list[tuple]]) -> str:
    parts: list[str] = []
    write_results(parts.append, list(results), style)
    return "".join(parts)


def test_the_pretty_and_json_modes_print_the_flags_null_value_the_others_the_shells():
    # shell_callback, MODE_Pretty: `(azArg[i] == nullptr) ? osquery::FLAGS_nullvalue : ...`; the other modes
    # print p->nullvalue, which .nullvalue sets (do_meta_command) and the flag starts (launchIntoShell)
    style = Style(mode="pretty", nullvalue="NULL", grid_nullvalue="-")
    one = (["a", "b"], [(1, None)])
    assert _results(style, one) == "+---+---+\n| a | b |\n+---+---+\n| 1 | - |\n+---+---+\n"
    assert _results(replace(style, mode="json"), one) == '[\n  {"a":"1","b":"-"}\n]\n'
    assert (
        _results(replace(style, mode="json_pretty"), one) == '[\n  {\n    "a": "1",\n    "b": "-"\n  }\n]\n'
    )
    assert _results(replace(style, mode="list"), one) == "a|b\n1|NULL\n"
    assert _results(replace(style, mode="csv"), one) == "a|b\n1|NULL\n"
    assert _results(replace(style, mode="line"), one) == "    a = 1\n    b = NULL\n"
    assert _results(replace(style, mode="column"), one) == (
        "a           b         \n----------  ----------\n1           NULL      \n"
    )


def test_the_flags_keep_19_bytes_for_the_shell_and_the_whole_null_value_for_the_grid():
    # callback_data: char separator[20], char nullvalue[20]; launchIntoShell fills them with
    # sqlite3_snprintf(sizeof(data.separator), data.separator, "%s", FLAGS_separator.c_str()), which cuts bytes
    long = "0123456789abcdefghijKLMNOP"
    style = Style.from_flags("list", True, "é" * 11, long)
    assert style.separator == to_bytes("é" * 9).decode() + "\udcc3"  # 19 bytes: nine é and half of one
    assert to_bytes(style.separator) == b"\xc3\xa9" * 9 + b"\xc3"
    assert (style.nullvalue, style.grid_nullvalue) == ("0123456789abcdefghi", long)
    assert style == Style("list", True, style.separator, "0123456789abcdefghi", long)
    assert setting_text("a\x00b") == "a"  # a C string ends at its NUL
    assert setting_text("") == ""
    out = _results(style, (["a", "b"], [(None, 2)]))
    assert (
        to_bytes(out) == b"a" + b"\xc3\xa9" * 9 + b"\xc3b\n0123456789abcdefghi" + b"\xc3\xa9" * 9 + b"\xc32\n"
    )
    assert _results(replace(style, mode="pretty"), (["n"], [(None,)])) == (
        "+----------------------------+\n| n                          |\n+----------------------------+\n"
        "| 0123456789abcdefghijKLMNOP |\n+----------------------------+\n"
    )


@pytest.mark.parametrize(
    ("mode", "out"),
    [
        # shell_callback prints azArg[i] with "%s" (list, line, column), output_csv walks it to its NUL, and
        # MODE_Pretty builds std::string(azArg[i]): every mode stops at the NUL
        ("pretty", "+----+\n| va |\n+----+\n| a  |\n+----+\n"),
        ("json", '[\n  {"va":"a"}\n]\n'),
        ("json_pretty", '[\n  {\n    "va": "a"\n  }\n]\n'),
        ("csv", "va\na\n"),
        ("list", "va\na\n"),
        ("line", "   va = a\n"),
        ("column", "va        \n----------\na         \n"),
    ],
)
def test_text_stops_at_a_nul_byte(mode, out):
    assert _results(Style(mode), (["va\x00x"], [("a\x00b",)])) == out
    assert _results(Style(mode), (["va"], [(b"a\x00\xff",)])) == out


def test_the_statements_of_one_input_make_one_grid():
    # shell_exec runs every statement of zSql, shell_callback gathers their rows (the columns of the first row),
    # and pretty_print_if_needed prints once, after the loop
    first = (["a", "b"], [(1, "long")])
    second = (["a"], [(2,)])
    style = Style("pretty", nullvalue="x", grid_nullvalue="")
    # generateRow: a column the row lacks prints FLAGS_nullvalue and column.size() - utf8StringSize(FLAGS_nullvalue)
    # + 1 spaces: the name's bytes, not the column's width
    assert _results(style, first, second) == (
        "+---+------+\n| a | b    |\n+---+------+\n| 1 | long |\n| 2 |   |\n+---+------+\n"
    )
    assert _results(replace(style, grid_nullvalue="N"), first, second).splitlines()[4] == "| 2 | N |"
    # a null value one character longer than the name: size_t wraps to no space at all
    assert _results(replace(style, grid_nullvalue="NN"), first, second).splitlines()[4] == "| 2 | NN|"
    # the first statement without rows does not choose the columns: the first row does
    assert _results(style, (["z"], []), second, first) == "+---+\n| a |\n+---+\n| 2 |\n| 1 |\n+---+\n"
    assert (
        _results(replace(style, mode="json"), first, second) == '[\n  {"a":"1","b":"long"},\n  {"a":"2"}\n]\n'
    )
    assert _results(replace(style, mode="json_pretty"), first, second) == (
        '[\n  {\n    "a": "1",\n    "b": "long"\n  },\n  {\n    "a": "2"\n  }\n]\n'
    )
    # the modes that print as they go give each statement its header (p->cnt = 0 per statement)
    assert _results(replace(style, mode="list"), first, second) == "a|b\n1|long\na\n2\n"


def test_a_failing_statement_stops_the_input_after_what_was_gathered_is_printed():
    # shell_exec: `while ((zSql[0] != 0) && (SQLITE_OK == rc))`, then pretty_print_if_needed
    def failing():
        yield ["a"], [(1,)]
        raise Cut

    for mode, out in {
        "pretty": "+---+\n| a |\n+---+\n| 1 |\n+---+\n",
        "json": '[\n  {"a":"1"}\n]\n',
        "list": "a\n1\n",
    }.items():
        parts: list[str] = []
        with pytest.raises(Cut):
            write_results(parts.append, failing(), Style(mode))
        assert "".join(parts) == out
    parts = []
    with pytest.raises(Cut):
        write_results(parts.append, _rows_then([], Cut()), Style("json"))  # the first statement fails: []
    assert "".join(parts) == "[\n\n]\n"

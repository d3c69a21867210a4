"""Output modes, byte for byte as osqueryi prints them (osquery/devtools/printer.cpp, shell.cpp)."""

from __future__ import annotations

import pytest

from auditsql.query.format import MODES, render, to_bytes, value_text

COLS = ["pid", "path", "cmdline"]
ROWS = [(10884, "/usr/bin/whoami", None), (7, "/bin/a b", "")]


def test_modes():
    assert MODES == ("table", "json", "csv", "line")


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
    assert render(COLS, ROWS, "csv") == 'pid,path,cmdline\n10884,/usr/bin/whoami,\n7,"/bin/a b",""\n'


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
    assert render(cols, rows, "csv") == (
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

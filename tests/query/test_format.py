"""Output modes, byte for byte as osqueryi prints them (osquery/devtools/printer.cpp, shell.cpp)."""

from __future__ import annotations

import pytest

import auditsql.query.format as fmt
from auditsql.query.format import MODES, render, to_bytes, value_text, write_result

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


def test_table_is_closed_when_the_rows_fail_midway(monkeypatch):
    grids = {  # failing while the rows size the columns, and after
        1000: "+----+\n| n  |\n+----+\n| 1  |\n| 22 |\n+----+\n",
        1: "+---+\n| n |\n+---+\n| 1 |\n| 22 |\n+---+\n",
    }
    for sizing, grid in grids.items():
        monkeypatch.setattr(fmt, "TABLE_SIZING_ROWS", sizing)
        parts: list[str] = []
        with pytest.raises(Cut):
            write_result(parts.append, ["n"], _rows_then([(1,), (22,)], Cut()), "table")
        assert "".join(parts) == grid
        parts.clear()
        with pytest.raises(Cut):
            write_result(parts.append, ["n"], _rows_then([], Cut()), "table")
        assert parts == []


def test_table_sizes_its_columns_on_the_first_rows(monkeypatch):
    monkeypatch.setattr(fmt, "TABLE_SIZING_ROWS", 2)
    assert render(["n"], [(1,), (22,), (333,), (4,)], "table") == (
        "+----+\n"
        "| n  |\n"
        "+----+\n"
        "| 1  |\n"
        "| 22 |\n"
        "| 333 |\n"  # later than the sizing rows: a longer value widens only its own line
        "| 4  |\n"
        "+----+\n"
    )
    # the first rows are written before the rest are read
    (before_last,) = _written_before_the_end("table", [(1,), (22,), (333,)], ["n"])
    assert before_last == "+----+\n| n  |\n+----+\n| 1  |\n| 22 |\n"


def test_table_sizing_stops_at_a_number_of_characters(monkeypatch):
    monkeypatch.setattr(fmt, "TABLE_SIZING_CHARS", 4)
    assert render(["v"], [("abcd",), ("abcdef",)], "table") == (
        "+------+\n| v    |\n+------+\n| abcd |\n| abcdef |\n+------+\n"
    )

"""osquery's JSON: comments, trailing commas, continued strings; errors with the file's line and column."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditsql.osquery.jsonc import JsoncError, loads, looks_like_json, strip


def test_comments_and_trailing_commas() -> None:
    text = """{
  // a line comment, "quoted" {braces}
  "a": "x // not a comment", /* a block
  comment */ "b": [1, 2,],
  "c": {"d": "/* kept */",},
}"""
    assert loads(text) == {"a": "x // not a comment", "b": [1, 2], "c": {"d": "/* kept */"}}


def test_a_backslash_at_the_end_of_a_line_continues_the_string() -> None:
    text = '{"q": "select * \\\nfrom launchd \\\nwhere x = 1",\n  "n": }'
    with pytest.raises(JsoncError) as info:
        loads(text)
    assert (info.value.line, info.value.col) == (4, 8)  # the error's line is the file's
    assert loads('{"q": "select * \\\nfrom t"}') == {"q": "select * from t"}


def test_escaped_quotes_and_backslashes_stay() -> None:
    assert loads(r'{"a": "say \"hi\" // no", "b": "c:\\windows\\"}') == {
        "a": 'say "hi" // no',
        "b": "c:\\windows\\",
    }


def test_errors_carry_line_and_column() -> None:
    with pytest.raises(JsoncError) as info:
        loads('{\n  // c\n  "a": 1\n  "b": 2\n}')
    assert (info.value.line, info.value.col, info.value.msg) == (4, 3, "Expecting ',' delimiter")


def test_looks_like_json() -> None:
    assert looks_like_json('  // osquery\n/* x */ {"options": {}}')
    assert not looks_like_json("[kernel]\nsource = 'auto'\n")
    assert not looks_like_json("")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values, st.sampled_from([None, 0, 2]))
def test_plain_json_parses_as_json_does(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert loads(text) == value
    assert strip(text).count("\n") == text.count("\n")


@given(json_values)
def test_comments_everywhere_change_nothing(value: object) -> None:
    text = json.dumps(value, indent=1)
    commented = "\n".join(f"{line} // note /* x */" for line in text.splitlines())
    assert loads("/* head */\n" + commented) == value

"""laurel's %xx text escaping (exact cases) and hypothesis properties of the encoding and of the parser."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditsql.records import parser as parser_mod
from auditsql.records._msgtypes import MSG_NUMBERS
from auditsql.records.encoding import decode_encoded, decode_hex, escape, is_hex, unescape
from auditsql.records.parser import parse_line, parse_text, split_enrichment, tokenize
from auditsql.records.values import as_bytes, as_int, as_text, convert

# -- exact cases -----------------------------------------------------------------------------------------------

# laurel src/quote.rs `uri_escape` test (threathunters-io/laurel), the same inputs and outputs
LAUREL_CASES: list[tuple[bytes, str]] = [
    (b" ", " "),
    (b"asdf", "asdf"),
    (b"+", "%2b"),
    (b"%", "%25"),
    (b"+++", "%2b%2b%2b"),
    (b"%%%", "%25%25%25"),
    (b"%+%", "%25%2b%25"),
    (b"\xc3\xa4", "ä"),
    (b"\xe2\x82\xac", "€"),
    (b"\xf0\x9f\x92\x96", "💖"),
    (b"\xc3\xa4\xc3\xb6\xc3\xbc", "äöü"),
    (b"abcd\xc3\xa4\xc3\xb6\xc3\xbcefgh", "abcdäöüefgh"),
    (
        b"\xf0\x9f\x84\xbb\xf0\x9f\x84\xb0\xf0\x9f\x85\x84\xf0\x9f\x85\x81\xf0\x9f\x84\xb4\xf0\x9f\x84\xbb",
        "🄻🄰🅄🅁🄴🄻",
    ),
    (b"\xc3\xc3\xa4", "%c3ä"),
    (b"\xf0\xf0\x9f\x92\x96", "%f0💖"),
    (b"\xf0\xf0\x9f\x92\x96\xf0", "%f0💖%f0"),
    (b"\xf0\xf0\x9f\x92\x96asdf", "%f0💖asdf"),
    (b"\xf0\x9f\xf0\x9f\x92\x96", "%f0%9f💖"),
    (b"\xf0\x9f\x92\xf0\x9f\x92\x96", "%f0%9f%92💖"),
    (b"\xef\xbb\xbf", "%ef%bb%bf"),
]

# the rest of the rules (encoding.py docstring): control characters, DEL, invalid UTF-8
MORE_CASES: list[tuple[bytes, str]] = [
    (b"", ""),
    (b"a\tb\nc\rd", "a%09b%0ac%0dd"),
    (b"\x00\x01\x1f", "%00%01%1f"),
    (b"\x7f", "%7f"),
    (b"~ !\"#$&'()*,-./:;<=>?@[\\]^_`{|}", "~ !\"#$&'()*,-./:;<=>?@[\\]^_`{|}"),
    (b"\x80", "%80"),
    (b"\xff\xfe", "%ff%fe"),
    (b"\xc0\x80", "%c0%80"),  # overlong NUL
    (b"\xed\xa0\x80", "%ed%a0%80"),  # an encoded surrogate
    (b"\xf8\x88\x80\x80\x80", "%f8%88%80%80%80"),  # 5-byte form
    (b"\xf4\x90\x80\x80", "%f4%90%80%80"),  # above U+10FFFF
    (b"\xe2\x82", "%e2%82"),  # truncated at the end
    (b"a\xef\xbb\xbfb", "a%ef%bb%bfb"),  # BOM inside
    (b"/bin/sh\x00-c\x00id", "/bin/sh%00-c%00id"),
]


def test_laurel_escape_cases() -> None:
    for data, want in LAUREL_CASES + MORE_CASES:
        assert escape(data) == want, data
        assert unescape(want) == data, want


def test_escape_of_text_matches_escape_of_its_bytes() -> None:
    # records are decoded with surrogateescape: escape() of that text equals escape() of the bytes
    for data, want in LAUREL_CASES + MORE_CASES:
        assert escape(data.decode("utf-8", "surrogateescape")) == want, data


def test_c1_controls_pass_through_as_in_laurel() -> None:
    # laurel leaves every valid UTF-8 multi-byte sequence as it is (except the BOM), C1 controls included;
    # JSON writers then write them as \u0085 etc.
    assert escape(b"\xc2\x85") == "\x85"
    assert escape(b"\xc2\x9b[31m") == "\x9b[31m"
    assert escape("\u2028") == "\u2028"


def test_unescape_leaves_other_percent_text() -> None:
    assert unescape("100%") == b"100%"
    assert unescape("%zz%4") == b"%zz%4"
    assert unescape("%41%4a%4A") == b"AJJ"
    assert unescape("ä") == b"\xc3\xa4"


def test_hex_helpers() -> None:
    assert is_hex("2F62696E") is True
    assert is_hex("2f62696e") is True
    assert is_hex("2F6") is False
    assert is_hex("") is False
    assert is_hex("2G") is False
    assert decode_hex("2F62696E") == b"/bin"


def test_decode_encoded() -> None:
    assert decode_encoded('"/usr/bin/whoami"') == b"/usr/bin/whoami"
    assert decode_encoded('"unterminated') == b"unterminated"
    assert decode_encoded("2F7573722F62696E2F746F70") == b"/usr/bin/top"
    assert decode_encoded("(null)") is None
    assert decode_encoded("?") is None
    assert decode_encoded("") == b""
    # unquoted but not hex (interpreted logs: Filebeat test.log `exe=/usr/bin/top`)
    assert decode_encoded("/usr/bin/top") == b"/usr/bin/top"
    assert decode_encoded("top") == b"top"
    # odd length: not hex
    assert decode_encoded("ABC") == b"ABC"


def test_value_typing() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-ubuntu14.log line 1: hex PATH name
    assert convert("name", "2F73686172652F67656E6572616C2F706174685F7265646163746564") == (
        "/share/general/path_redacted"
    )
    assert convert("name", '"/bin/bash"') == "/bin/bash"
    assert convert("name", "(null)") is None
    assert convert("proctitle", "746F756368002F746D70") == "touch%00/tmp"
    assert convert("pid", "10884") == 10884
    assert convert("auid", "4294967295") == 4294967295
    assert convert("auid", "unset") == "unset"
    assert convert("exit", "-2") == -2
    assert convert("arch", "c000003e") == "0xc000003e"
    assert convert("arch", "x86_64") == "x86_64"
    assert convert("mode", "0100755") == "0o100755"
    assert convert("cap_fp", "0000000000000000") == "0x0"
    assert convert("tty", "(none)") == "(none)"
    assert convert("hostname", "?") is None
    assert convert("res", "success") == "success"
    assert convert("acct", '"bob"') == "bob"
    assert convert("key", '"100%+"') == "100%25%2b"
    assert convert("mac", "") == ""
    assert as_text("'quoted'") == "quoted"
    assert as_text('"unterminated') == "unterminated"
    assert as_int("12x") == "12x"
    assert as_bytes("?") is None


# -- properties of the encoding ----------------------------------------------------------------------------------

_C0_OR_DEL = re.compile(r"[\x00-\x1f\x7f]")


@given(st.binary(max_size=200))
@example(b"\xef\xbb\xbf")
@example(b"%2b")
@example(b"\xed\xa0\x80\xc3")
def test_unescape_inverts_escape(data: bytes) -> None:
    assert unescape(escape(data)) == data


@given(st.binary(max_size=200))
@example(b"\xc2\x85\x00\x7f\xdc\x80")
def test_escape_is_valid_utf8_without_ascii_controls(data: bytes) -> None:
    out = escape(data)
    out.encode("utf-8")  # raises on a lone surrogate
    assert _C0_OR_DEL.search(out) is None
    # '%' only starts an escape, '+' never appears literally
    assert re.fullmatch(r"(?:[^%+]|%[0-9a-f]{2})*", out, re.S) is not None
    assert "\ufeff" not in out


@given(st.text(max_size=100))
def test_valid_text_escapes_like_its_utf8_bytes(s: str) -> None:
    try:
        data = s.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates from hypothesis: not text a UTF-8 decoder produces
    assert escape(s) == escape(data)


@given(st.binary(max_size=200))
def test_decode_encoded_of_hex(data: bytes) -> None:
    assert decode_encoded(data.hex().upper()) == data
    assert decode_encoded(data.hex()) == data


# -- round trip of the whole parser ------------------------------------------------------------------------------

_TYPE_NAMES = sorted(MSG_NUMBERS)
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()


def _word(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    return st.builds(str.__add__, st.sampled_from(first), st.text(alphabet=rest, max_size=max_size))


_KEY = _word(_LOWER, _LOWER + "0123456789_-", 11)
_UPKEY = _word(_UPPER, _UPPER + "0123456789_", 8)
# what auditd writes between double quotes: printable ASCII without space and the double quote
_QUOTED_SAFE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"'), max_size=20
)
_VALUE = st.one_of(
    _QUOTED_SAFE.map(lambda s: f'"{s}"'),
    st.binary(max_size=24).map(lambda b: b.hex().upper()),
    st.integers(min_value=-(2**63), max_value=2**64).map(str),
    st.integers(min_value=0, max_value=2**64 - 1).map(lambda n: f"{n:x}"),
    st.sampled_from(["(null)", "?", "(none)", ""]),
)
_ENRICH_VALUE = st.one_of(
    _QUOTED_SAFE.map(lambda s: f'"{s}"'),
    st.text(alphabet=_LOWER + "0123456789_", min_size=1, max_size=10),
)


@st.composite
def audit_lines(draw: st.DrawFn) -> tuple[str, dict]:
    node = draw(st.one_of(st.none(), _word(_LOWER + "0123456789", _LOWER + "0123456789.-", 15)))
    name = draw(
        st.one_of(st.sampled_from(_TYPE_NAMES), st.integers(1000, 2999).map(lambda n: f"UNKNOWN[{n}]"))
    )
    sec = draw(st.integers(0, 2**40))
    msec = draw(st.integers(0, 999))
    serial = draw(st.integers(0, 2**32 - 1))
    fields = draw(st.lists(st.tuples(_KEY, _VALUE), max_size=12))
    enrich = draw(st.lists(st.tuples(_UPKEY, _ENRICH_VALUE), max_size=4))
    head = (
        f"node={node} " if node is not None else ""
    ) + f"type={name} msg=audit({sec}.{msec:03d}:{serial}):"
    body = " ".join(f"{k}={v}" for k, v in fields)
    line = head + (" " + body if fields else "")
    if enrich:
        line += "\x1d" + " ".join(f"{k}={v}" for k, v in enrich)
    want = {
        "node": node,
        "name": name,
        "type": MSG_NUMBERS.get(name) or int(name[8:-1]),
        "sec": sec,
        "msec": msec,
        "serial": serial,
        "fields": fields,
        "enrich": enrich,
    }
    return line, want


@given(audit_lines(), st.booleans())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_parser_round_trip(case: tuple[str, dict], detect: bool) -> None:
    line, want = case
    (r,) = parse_text(line, detect)
    assert r.text == line
    assert r.error is None
    assert (r.node, r.name, r.type, r.sec, r.msec, r.serial) == (
        want["node"],
        want["name"],
        want["type"],
        want["sec"],
        want["msec"],
        want["serial"],
    )
    assert r.fields == want["fields"]
    assert r.enrich == want["enrich"]
    # and byte for byte through parse_line, with and without a terminator
    data = line.encode("utf-8")
    for term in (b"", b"\n", b"\r\n"):
        (r2,) = parse_line(data + term, detect)
        assert r2.raw_bytes() == data
        assert r2.fields == want["fields"]


@given(st.lists(audit_lines(), min_size=2, max_size=4), st.sampled_from([" ", "  ", "\t", " \t "]))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_several_records_on_one_line_round_trip(cases: list[tuple[str, dict]], sep: str) -> None:
    # only the last record may carry a 0x1d tail (a tail runs to the end of the line)
    lines = [line.split("\x1d")[0] for line, _ in cases[:-1]] + [cases[-1][0]]
    line = sep.join(lines)
    recs = parse_text(line)
    assert [r.text for r in recs] == lines
    assert [r.fields for r in recs] == [want["fields"] for _, want in cases]
    assert [r.serial for r in recs] == [want["serial"] for _, want in cases]


# -- parse_line never raises, and its records cover the line exactly ---------------------------------------------

_SEP = re.compile(rb"[ \t]+")
_FRAGMENTS = st.sampled_from(
    [
        b"type=SYSCALL msg=audit(1.002:3): ",
        b"node=n type=EOE msg=audit(1615114232.375:15558):",
        b"type=UNKNOWN[1329] msg=?",
        b"type=X msg=audit(9",
        b" ",
        b"\t",
        b"  ",
        b"a=1 ",
        b"k=",
        b'"',
        b"'",
        b"=",
        b"{",
        b"}",
        b"(enforce)",
        b"subj=",
        b"msg='",
        b"old ",
        b"new ",
        b"\x1d",
        b"AUID=",
        b"\xff",
        b"\xc3\xa4",
        b"\r",
        b"\n",
        b"\x00",
        b"\x85",
        b"\xe2\x80\xa8",
    ]
)
_LINES = st.one_of(
    st.binary(max_size=300), st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=4))).map(b"".join)
)


def _assert_cover(data: bytes, detect: bool) -> None:
    recs = parse_line(data, detect)
    # parse_line strips one terminator: LF or CRLF
    body = data[:-1] if data.endswith(b"\n") else data
    if data.endswith(b"\n") and body.endswith(b"\r"):
        body = body[:-1]
    if not recs:
        # only an empty or blank (spaces and tabs) line gives nothing
        assert body.strip(b" \t") == b""
        return
    pos = 0
    for i, r in enumerate(recs):
        raw = r.raw_bytes()
        assert raw, "a record with empty text"
        if i:
            # records run together on one line are separated by spaces/tabs, which belong to neither
            m = _SEP.match(body, pos)
            assert m is not None
            pos = m.end()
        assert body.startswith(raw, pos)
        pos += len(raw)
        # every record gives its fields back as substrings of its own text
        assert r.text.endswith(r.body)
    assert pos == len(body)


@given(_LINES, st.booleans())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@example(b" \x1d", True)
@example(b" \xc2\x85", True)
@example(b"  type=A msg=audit(1.2:3): x=1 type=B msg=audit(1.2:3): y=2", True)
@example(b"type=A msg=audit(1.2:" + b"9" * 5000 + b"): x=1", True)
@example(b"type=UNKNOWN[" + b"9" * 5000 + b"] msg=audit(1.2:3): x=1", True)
def test_parse_line_never_raises_and_covers_the_line(data: bytes, detect: bool) -> None:
    _assert_cover(data, detect)


# -- the tokenizer's fast path agrees with the full scanner ------------------------------------------------------


def _tokenize_reference(body: str, detect: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """tokenize() without its fast path: the general scanner only."""
    raw, tail = split_enrichment(body)
    fields, cut = parser_mod._scan(raw, not detect)
    enrich: list[tuple[str, str]] = []
    if cut is not None:
        enrich = parser_mod._scan(raw[cut:], True)[0]
    if tail is not None:
        enrich.extend(parser_mod._scan(tail, True)[0])
    return fields, enrich


_BODY = st.lists(
    st.sampled_from(
        ["a", "b", "A", "=", " ", "  ", "\t", '"', "'", "{", "}", "(", ")", "1", "old ", "\x1d", "é"]
    ),
    max_size=30,
).map("".join)


@given(_BODY, st.booleans())
@settings(max_examples=500)
@example("a=1\tb", True)
@example("\ta=1", True)
@example('a"=1', True)
def test_tokenize_fast_path_matches_scanner(body: str, detect: bool) -> None:
    assert tokenize(body, detect) == _tokenize_reference(body, detect)

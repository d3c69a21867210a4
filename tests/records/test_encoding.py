"""laurel's %xx text escaping (exact cases) and hypothesis properties of the encoding and of the parser, through
the native core (``auditsql._core``)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditsql._core import convert, decode_encoded, escape, parse_line, unescape
from auditsql.records._msgtypes import MSG_NUMBERS
from tests.core import parse_text

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


def test_c1_controls_pass_through_as_in_laurel() -> None:
    # laurel leaves every valid UTF-8 multi-byte sequence as it is (except the BOM), C1 controls included;
    # JSON writers then write them as \u0085 etc.
    assert escape(b"\xc2\x85") == "\x85"
    assert escape(b"\xc2\x9b[31m") == "\x9b[31m"
    assert escape("\u2028".encode()) == "\u2028"


def test_unescape_leaves_other_percent_text() -> None:
    assert unescape("100%") == b"100%"
    assert unescape("%zz%4") == b"%zz%4"
    assert unescape("%41%4a%4A") == b"AJJ"
    assert unescape("ä") == b"\xc3\xa4"


def test_hex_helpers() -> None:
    # hex is pairs of hex digits, either case; anything else unquoted is taken literally
    assert decode_encoded(b"2F62696E") == b"/bin"
    assert decode_encoded(b"2f62696e") == b"/bin"
    assert decode_encoded(b"2F6") == b"2F6"
    assert decode_encoded(b"") == b""
    assert decode_encoded(b"2G") == b"2G"


def test_decode_encoded() -> None:
    assert decode_encoded(b'"/usr/bin/whoami"') == b"/usr/bin/whoami"
    assert decode_encoded(b'"unterminated') == b"unterminated"
    assert decode_encoded(b"2F7573722F62696E2F746F70") == b"/usr/bin/top"
    assert decode_encoded(b"(null)") is None
    assert decode_encoded(b"?") is None
    assert decode_encoded(b"") == b""
    # unquoted but not hex (interpreted logs: Filebeat test.log `exe=/usr/bin/top`)
    assert decode_encoded(b"/usr/bin/top") == b"/usr/bin/top"
    assert decode_encoded(b"top") == b"top"
    # odd length: not hex
    assert decode_encoded(b"ABC") == b"ABC"
    # hex with a stray closing quote (go-libaudit's test log): the hex is the value
    assert decode_encoded(b'65786563013634626974"') == b"exec\x0164bit"


def test_value_typing() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-ubuntu14.log line 1: hex PATH name
    assert convert("name", b"2F73686172652F67656E6572616C2F706174685F7265646163746564") == (
        "/share/general/path_redacted"
    )
    assert convert("name", b'"/bin/bash"') == "/bin/bash"
    assert convert("name", b"(null)") is None
    assert convert("proctitle", b"746F756368002F746D70") == "touch%00/tmp"
    assert convert("pid", b"10884") == 10884
    assert convert("auid", b"4294967295") == 4294967295
    assert convert("auid", b"unset") == "unset"
    assert convert("exit", b"-2") == -2
    assert convert("arch", b"c000003e") == "0xc000003e"
    assert convert("arch", b"x86_64") == "x86_64"
    assert convert("mode", b"0100755") == "0o100755"
    assert convert("cap_fp", b"0000000000000000") == "0x0"
    assert convert("tty", b"(none)") == "(none)"
    assert convert("hostname", b"?") is None
    assert convert("res", b"success") == "success"
    assert convert("acct", b'"bob"') == "bob"
    assert convert("key", b'"100%+"') == "100%25%2b"
    assert convert("mac", b"") == ""
    # a text field (op), a decimal field (pid), an encoded field (exe)
    assert convert("op", b"'quoted'") == "quoted"
    assert convert("op", b'"unterminated') == "unterminated"
    assert convert("pid", b"12x") == "12x"
    assert convert("exe", b"?") is None


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


_ESCAPED_CHARS = {c: f"%{c:02x}" for c in (*range(32), 127, 0x25, 0x2B)}
_ESCAPED_CHARS[0xFEFF] = "%ef%bb%bf"


@given(st.text(max_size=100))
def test_valid_text_escapes_like_its_utf8_bytes(s: str) -> None:
    # valid UTF-8 stays as it is, character by character, except C0 controls, DEL, '%', '+' and the BOM
    try:
        data = s.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates from hypothesis: not text a UTF-8 decoder produces
    assert escape(data) == s.translate(_ESCAPED_CHARS)


@given(st.binary(max_size=200))
def test_decode_encoded_of_hex(data: bytes) -> None:
    assert decode_encoded(data.hex().upper().encode()) == data
    assert decode_encoded(data.hex().encode()) == data


# -- round trip of the whole parser ------------------------------------------------------------------------------

_TYPE_NAMES = sorted(MSG_NUMBERS)
#: 9999-12-31T23:59:59Z: a later stamp is an error record (its time cannot be written as RFC 3339)
_MAX_SEC = 253402300799
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


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def _pairs(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs]


@st.composite
def audit_lines(draw: st.DrawFn) -> tuple[str, dict]:
    node = draw(st.one_of(st.none(), _word(_LOWER + "0123456789", _LOWER + "0123456789.-", 15)))
    name = draw(
        st.one_of(st.sampled_from(_TYPE_NAMES), st.integers(1000, 2999).map(lambda n: f"UNKNOWN[{n}]"))
    )
    sec = draw(st.integers(0, _MAX_SEC))
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
    assert r["text"] == line.encode()
    assert r["error"] is None
    assert (r["node"], r["name"], r["type"], r["sec"], r["msec"], r["serial"]) == (
        _b(want["node"]),
        want["name"],
        want["type"],
        want["sec"],
        want["msec"],
        want["serial"],
    )
    assert r["fields"] == _pairs(want["fields"])
    assert r["enrich"] == _pairs(want["enrich"])
    # and byte for byte through parse_line, with and without a terminator
    data = line.encode("utf-8")
    for term in (b"", b"\n", b"\r\n"):
        (r2,) = parse_line(data + term, detect)
        assert r2["text"] == data
        assert r2["fields"] == _pairs(want["fields"])


@given(st.lists(audit_lines(), min_size=2, max_size=4), st.sampled_from([" ", "  ", "\t", " \t "]))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_several_records_on_one_line_round_trip(cases: list[tuple[str, dict]], sep: str) -> None:
    # only the last record may carry a 0x1d tail (a tail runs to the end of the line)
    lines = [line.split("\x1d")[0] for line, _ in cases[:-1]] + [cases[-1][0]]
    line = sep.join(lines)
    recs = parse_text(line)
    assert [r["text"] for r in recs] == [ln.encode() for ln in lines]
    assert [r["fields"] for r in recs] == [_pairs(want["fields"]) for _, want in cases]
    assert [r["serial"] for r in recs] == [want["serial"] for _, want in cases]


def test_stamp_past_year_9999_is_an_error_record() -> None:
    # the native parser's rule (Python's renderer could not write such a time and failed)
    (ok,) = parse_text(f"type=AA msg=audit({_MAX_SEC}.999:1): a=1")
    assert (ok["error"], ok["sec"], ok["fields"]) == (None, _MAX_SEC, [(b"a", b"1")])
    (bad,) = parse_text(f"type=AA msg=audit({_MAX_SEC + 1}.000:1): a=1")
    assert bad["error"] == "timestamp out of range"


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
        raw = r["text"]
        assert raw, "a record with empty text"
        if i:
            # records run together on one line are separated by spaces/tabs, which belong to neither
            m = _SEP.match(body, pos)
            assert m is not None
            pos = m.end()
        assert body.startswith(raw, pos)
        pos += len(raw)
        # every record gives its fields back as substrings of its own text
        assert r["text"].endswith(r["body"])
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

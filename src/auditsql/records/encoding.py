"""Value encodings: auditd's hex encoding in, auditsql's byte-string text encoding out.

auditd writes an *encoded* field (see the field dictionary) either double-quoted, when its bytes are printable
and hold no space or quote, or as upper-case hex of the raw bytes otherwise; ``(null)`` and ``?`` mean no value.

Decoded byte strings are written to JSON as text with laurel's encoding, so that laurel users read the same
strings and the encoding stays lossless and pure UTF-8:

* printable ASCII stays as it is, except ``%`` and ``+``;
* valid UTF-8 multi-byte sequences stay as they are (except a BOM and surrogates);
* every other byte — control characters (tab, newline included), ``%``, ``+``, invalid UTF-8 — is ``%xx``.

:func:`unescape` gives the exact bytes back.
"""

from __future__ import annotations

import re

__all__ = ["escape", "unescape", "decode_hex", "is_hex", "decode_encoded"]

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+\Z")
_PCT_B = re.compile(rb"%([0-9a-fA-F]{2})")
#: printable ASCII without % and +: text that escapes to itself
TRIVIAL = _TRIVIAL = re.compile(r"[ !-$&-*,-~]*\Z")


def is_hex(token: str) -> bool:
    return _HEX.match(token) is not None


def decode_hex(token: str) -> bytes:
    return bytes.fromhex(token)


# what escape() rewrites: C0 controls, DEL, '%', '+', the BOM, and (as surrogate escapes) bytes that are not UTF-8
_ESCAPES: dict[int, str] = {c: f"%{c:02x}" for c in (*range(32), 127, 0x25, 0x2B)}
_ESCAPES[0xFEFF] = "%ef%bb%bf"
_ESCAPES.update({0xDC00 + b: f"%{b:02x}" for b in range(0x80, 0x100)})


def escape(data: bytes | str) -> str:
    """Bytes (or text decoded with ``surrogateescape``) → laurel-style escaped text.

    Python's UTF-8 decoder marks exactly the bytes laurel's writer escapes (an invalid or incomplete
    sequence byte by byte, encoded surrogates, overlong forms) as surrogate escapes, so one decode and one
    ``str.translate`` give laurel's output.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    if _TRIVIAL.match(data):
        return data
    return data.translate(_ESCAPES)


def unescape(text: str) -> bytes:
    """Inverse of :func:`escape`: ``%xx`` → the byte, everything else as UTF-8."""
    b = text.encode("utf-8")
    if b"%" not in b:
        return b
    return _PCT_B.sub(lambda m: bytes((int(m.group(1), 16),)), b)


def decode_encoded(token: str) -> bytes | None:
    """An *encoded* field's token → its bytes (None for ``(null)``, ``?`` and an absent value).

    A quoted token is taken literally; an unquoted one is hex when it looks like hex (even length, hex
    digits), else literal (auditd writes some interpreted or odd values unquoted).
    """
    if not token:
        return b""
    c = token[0]
    if c == '"':
        return (
            token[1:-1].encode("utf-8", "surrogateescape")
            if token[-1] == '"'
            else token[1:].encode("utf-8", "surrogateescape")
        )
    if token == "(null)" or token == "?":
        return None
    if _HEX.match(token):
        return bytes.fromhex(token)
    if token[-1] == '"' and _HEX.match(token, 0, len(token) - 1):
        # hex with a stray closing quote (`key=65786563013634626974"` in go-libaudit's test log): auditd
        # never writes a bare value with a quote in it, so the hex is the value (go-libaudit reads it so)
        return bytes.fromhex(token[:-1])
    return token.encode("utf-8", "surrogateescape")

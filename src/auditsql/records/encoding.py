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
_TRIVIAL = re.compile(r"[ !-$&-*,-~]*\Z")  # printable ASCII without % and +


def is_hex(token: str) -> bool:
    return _HEX.match(token) is not None


def decode_hex(token: str) -> bytes:
    return bytes.fromhex(token)


def escape(data: bytes | str) -> str:
    """Bytes (or already-decoded text) → laurel-style escaped text."""
    if isinstance(data, str):
        if _TRIVIAL.match(data):
            return data
        data = data.encode("utf-8", "surrogateescape")
    else:
        try:
            s = data.decode("ascii")
        except UnicodeDecodeError:
            pass
        else:
            if _TRIVIAL.match(s):
                return s
    return _escape_slow(data)


def _escape_slow(data: bytes) -> str:
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if 32 <= c < 127 and c != 0x25 and c != 0x2B:
            j = i + 1
            while j < n and 32 <= data[j] < 127 and data[j] != 0x25 and data[j] != 0x2B:
                j += 1
            out.append(data[i:j].decode("ascii"))
            i = j
            continue
        if c & 0xE0 == 0xC0:
            ln = 2
        elif c & 0xF0 == 0xE0:
            ln = 3
        elif c & 0xF8 == 0xF0:
            ln = 4
        else:
            out.append(f"%{c:02x}")
            i += 1
            continue
        k = i + 1
        while k < i + ln and k < n and data[k] & 0xC0 == 0x80:
            k += 1
        if k == i + ln:
            try:
                ch = data[i:k].decode("utf-8")
            except UnicodeDecodeError:
                ch = "\ufeff"
            if ch != "\ufeff":
                out.append(ch)
                i = k
                continue
        # an invalid, incomplete or BOM sequence: its bytes are escaped
        out.extend(f"%{b:02x}" for b in data[i:k])
        i = k
    return "".join(out)


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
    return token.encode("utf-8", "surrogateescape")

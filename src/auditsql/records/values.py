"""Field tokens → typed values, driven by the field dictionary (``_fields.py``, generated).

The typing follows laurel's, so that laurel users read the same JSON:

* decimal fields (``pid``, ``auid``, ``exit``, ``items``, any ``*uid``/``*gid``) → int;
* hexadecimal fields (``arch``, ``cap_fp``) → ``"0x…"`` text, octal (``mode``) → ``"0o…"`` text;
* encoded fields (``exe``, ``name``, ``proctitle``, ``saddr``) → their bytes, decoded from hex where hex, as
  escaped text (:mod:`auditsql.records.encoding`);
* ``(null)`` and ``?`` → None;
* anything else → its text, quotes removed.

A token that does not fit its field's format (``auid=unset`` in an interpreted log) falls back to text: no
value is lost or guessed.
"""

from __future__ import annotations

from collections.abc import Callable

from auditsql.records._fields import FIELD_FORMATS
from auditsql.records.encoding import decode_encoded, escape

__all__ = ["convert", "converter", "as_text", "as_int", "as_bytes", "kind_of", "KINDS"]

Converter = Callable[[str], object]


def as_text(token: str) -> str | None:
    """Any token as text: quotes removed, ``(null)``/``?`` → None."""
    if not token:
        return ""
    c = token[0]
    if c == '"' or c == "'":
        return escape(token[1:-1] if len(token) > 1 and token[-1] == c else token[1:])
    if token == "(null)" or token == "?":
        return None
    return escape(token)


def as_int(token: str) -> int | str | None:
    """Decimal field."""
    try:
        return int(token)
    except ValueError:
        return as_text(token)


def as_hexnum(token: str) -> str | None:
    """Hexadecimal number field → ``0x…`` (normalised, lower case)."""
    try:
        return f"0x{int(token, 16):x}"
    except ValueError:
        return as_text(token)


def as_octnum(token: str) -> str | None:
    try:
        return f"0o{int(token, 8):o}"
    except ValueError:
        return as_text(token)


def as_bytes(token: str) -> str | None:
    """Encoded field → escaped text of its bytes."""
    b = decode_encoded(token)
    return None if b is None else escape(b)


_BY_FORMAT: dict[str, Converter] = {
    "encoded": as_bytes,
    "numeric decimal": as_int,
    "numeric hexadecimal": as_hexnum,
    "numeric octal": as_octnum,
}

# fields every record type shares; typed the same wherever they appear
_COMMON: dict[str, Converter] = {
    "arch": as_hexnum,
    "syscall": as_int,
    "items": as_int,
    "pid": as_int,
    "ppid": as_int,
    "exit": as_int,
    "ses": as_int,
    "success": as_bytes,
    "tty": as_bytes,
    "comm": as_bytes,
    "exe": as_bytes,
    "subj": as_bytes,
    "key": as_bytes,
    # URINGOP: not in the field dictionary; the kernel writes `uring_op=%d` (laurel's golden: a number)
    "uring_op": as_int,
}

_CONVERTERS: dict[str, Converter] = {}


def converter(key: str) -> Converter:
    """The converter for a field name (cached)."""
    conv = _CONVERTERS.get(key)
    if conv is not None:
        return conv
    conv = _COMMON.get(key)
    if conv is None:
        fmt = FIELD_FORMATS.get(key)
        if fmt is None and key[:4] == "new-":
            # the dictionary lists `old-ses` but not `new-ses` (pre-3.x LOGIN `new ses=`): type the pair alike
            fmt = FIELD_FORMATS.get("old-" + key[4:])
        conv = _BY_FORMAT.get(fmt) if fmt else None
        if conv is None:
            conv = as_int if key.endswith(("uid", "gid")) else as_text
    _CONVERTERS[key] = conv
    return conv


def convert(key: str, token: str) -> object:
    return converter(key)(token)


# Field kinds, for the renderer's inlined hot loop (same rules as ``converter``).
K_TEXT, K_INT, K_HEX, K_OCT, K_ENC, K_FREE, K_MSG, K_SCARG = range(8)
_KIND_OF_CONV = {as_text: K_TEXT, as_int: K_INT, as_hexnum: K_HEX, as_octnum: K_OCT, as_bytes: K_ENC}
#: field name -> kind, filled on first sight of a name
KINDS: dict[str, int] = {"": K_FREE, "msg": K_MSG, "a0": K_SCARG, "a1": K_SCARG, "a2": K_SCARG, "a3": K_SCARG}


def kind_of(key: str) -> int:
    """The kind of a field name (cached in ``KINDS``)."""
    k = KINDS.get(key)
    if k is None:
        k = KINDS[key] = _KIND_OF_CONV[converter(key)]
    return k

"""Text → records: the header, the ``key=value`` body, the ENRICHED tail.

The grammar is auditd's log format. It is not regular (user-space payloads nest, AppArmor writes spaces into
``subj=``, enrichment is sometimes glued on without its 0x1d separator), so the tokenizer is one precompiled
regular expression for the common shape plus small repairs for the known odd shapes. Nothing is dropped: a line
that does not parse becomes a :class:`Record` with ``error`` set and its text kept.
"""

from __future__ import annotations

import re

from auditsql.records._msgtypes import MSG_NUMBERS, MSG_TYPES
from auditsql.records.record import FREE_TEXT, Record

__all__ = ["parse_line", "parse_text", "tokenize", "split_enrichment", "parse_nested"]

# node=N type=T msg=audit(SEC.MSEC:SERIAL):
_HEADER = re.compile(
    r"(?:node=(?P<node>[^ \t]*) +)?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?) +"
    r"msg=audit\((?P<sec>\d+)\.(?P<msec>\d+):(?P<serial>\d+)\)(?::|(?= )) ?"
)
# a header with no normal audit(...) stamp: `type=UNKNOWN[1329] msg=?`, `msg=g`
_BAD_HEADER = re.compile(
    r"(?:node=(?P<node>[^ \t]*) +)?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?)(?: +(?P<rest>.*))?$"
)
# where a second record starts on the same physical line
_NEXT_RECORD = re.compile(r"[ \t]+(?=(?:node=[^ \t]+ +)?type=[A-Za-z0-9_]+(?:\[\d+\])? +msg=audit\(\d)")
_UNKNOWN = re.compile(r"UNKNOWN\[(\d+)\]")

# One token of a body: key=value (value double-quoted, single-quoted, braced or bare) or a free word.
_TOKEN = re.compile(
    r"""[ \t\x1d]*(?:
        (?P<k>[^ \t\x1d="'{}]+)=(?P<v>"[^"]*"|'[^']*'|\{[^}]*\}|[^ \t\x1d]*)
      | (?P<w>[^ \t\x1d]+)
    )""",
    re.X,
)
# an ENRICHED key glued to the end of a bare value: `cap_frootid=0OUID="root"`, `res=successUID="root"`
_GLUE = re.compile(r"[A-Z][A-Z0-9_]*=")
_ENRICH_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_QUALIFIERS = frozenset(("old", "new"))


def split_enrichment(body: str) -> tuple[str, str | None]:
    """Split a body at the 0x1d separator of auditd's ENRICHED format."""
    i = body.find("\x1d")
    if i < 0:
        return body, None
    return body[:i], body[i + 1 :]


def tokenize(body: str, detect: bool = True) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split a record body into raw ``(key, token)`` fields and ``(KEY, token)`` enrichment.

    The enrichment starts at a 0x1d byte, at an upper-case key glued to the previous value, or at the first
    upper-case key after a space (the three ways auditd and its re-writers have been seen to write it).
    With ``detect`` off (``--format raw``) only the 0x1d byte starts it.
    """
    raw, tail = split_enrichment(body)
    fields, cut = _scan(raw, not detect)
    enrich: list[tuple[str, str]] = []
    if cut is not None:
        enrich = _scan(raw[cut:], True)[0]
    if tail is not None:
        enrich.extend(_scan(tail, True)[0])
    return fields, enrich


def _scan(raw: str, all_: bool = False) -> tuple[list[tuple[str, str]], int | None]:
    """Tokens of ``raw`` up to where an ENRICHED tail starts (its offset, or None); all of them if ``all_``."""
    fields: list[tuple[str, str]] = []
    qualified = False
    for m in _TOKEN.finditer(raw):
        k = m.group("k")
        if k is None:
            w = m.group("w")
            # AppArmor: `subj=/usr/sbin/cupsd (enforce)` is one value
            if w[0] == "(" and w[-1] == ")" and fields and fields[-1][0] == "subj":
                fields[-1] = ("subj", fields[-1][1] + " " + w)
                continue
            if w in _QUALIFIERS:
                qualified = True
            fields.append((FREE_TEXT, w))
            continue
        v = m.group("v")
        if not all_:
            if k.isupper() and _ENRICH_KEY.match(k):
                return _fold(fields, qualified), m.start("k")
            if "=" in v and v[0] not in "\"'{":
                g = _GLUE.search(v)
                if g is not None and g.start() > 0:
                    # an ENRICHED key glued to a bare value: `cap_frootid=0OUID="root"`
                    fields.append((k, v[: g.start()]))
                    return _fold(fields, qualified), m.start("v") + g.start()
        fields.append((k, v))
    return _fold(fields, qualified), None


def _fold(fields: list[tuple[str, str]], qualified: bool) -> list[tuple[str, str]]:
    return _fold_qualifiers(fields) if qualified else fields


def _fold_qualifiers(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``old auid=1 new auid=2`` (pre-3.x kernels) → ``old-auid``, ``new-auid``."""
    out: list[tuple[str, str]] = []
    pending: str | None = None
    for k, v in fields:
        if k == FREE_TEXT and v in _QUALIFIERS:
            if pending is not None:
                out.append((FREE_TEXT, pending))
            pending = v
            continue
        if pending is not None:
            if k != FREE_TEXT:
                k = f"{pending}-{k}"
            else:
                out.append((FREE_TEXT, pending))
            pending = None
        out.append((k, v))
    if pending is not None:
        out.append((FREE_TEXT, pending))
    return out


def parse_nested(token: str) -> list[tuple[str, str]]:
    """Fields of a user-space payload ``msg='op=PAM:... acct="x" res=success'`` (quotes included or not)."""
    if len(token) >= 2 and token[0] == "'" and token[-1] == "'":
        token = token[1:-1]
    return tokenize(token)[0]


def _type_of(name: str) -> int:
    n = MSG_NUMBERS.get(name)
    if n is not None:
        return n
    m = _UNKNOWN.fullmatch(name)
    return int(m.group(1)) if m else 0


def parse_text(text: str, detect: bool = True) -> list[Record]:
    """Parse one physical line (no terminator) into its records: usually one, several when run together."""
    if not text:
        return []
    m = _HEADER.match(text)
    if m is None and text[0] in " \t":
        if not text.strip():
            return []
        m = _HEADER.match(text, len(text) - len(text.lstrip(" \t")))
    if m is not None and _NEXT_RECORD.search(text, m.end()) is None:
        return [_record(text, m, detect)]
    if m is None:
        return [_odd(text)]
    out: list[Record] = []
    start = 0
    for nm in _NEXT_RECORD.finditer(text, m.end()):
        out.append(_one(text[start : nm.start()], detect))
        start = nm.end()
    out.append(_one(text[start:], detect))
    return out


def _one(text: str, detect: bool) -> Record:
    m = _HEADER.match(text)
    return _record(text, m, detect) if m is not None else _odd(text)


def _record(text: str, m: re.Match[str], detect: bool = True) -> Record:
    name = m.group("type")
    body = text[m.end() :]
    fields, enrich = tokenize(body, detect)
    return Record(
        text,
        m.group("node"),
        _type_of(name),
        name,
        int(m.group("sec")),
        int(m.group("msec")),
        int(m.group("serial")),
        body,
        fields,
        enrich,
    )


def _odd(text: str) -> Record:
    """A line without the normal header: keep it, say why."""
    m = _BAD_HEADER.match(text)
    if m is not None:
        name = m.group("type")
        rest = m.group("rest") or ""
        return Record(
            text,
            m.group("node"),
            _type_of(name),
            name,
            body=rest,
            error=f"no audit(SEC.MSEC:SERIAL) stamp in header: {rest[:40]!r}",
        )
    return Record(text, error="not an audit record (no type= header)")


def parse_line(line: bytes, detect: bool = True) -> list[Record]:
    """Parse one line as read from a file or socket (terminator allowed)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return parse_text(line.decode("utf-8", "surrogateescape"), detect)


def type_name(n: int) -> str:
    return MSG_TYPES.get(n) or f"UNKNOWN[{n}]"

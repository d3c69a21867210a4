"""Text → records: the header, the ``key=value`` body, the ENRICHED tail.

The grammar is auditd's log format. It is not regular (user-space payloads nest, AppArmor writes spaces into
``subj=``, enrichment is sometimes glued on without its 0x1d separator), so the tokenizer is one precompiled
regular expression for the common shape plus small repairs for the known odd shapes. Nothing is dropped: a line
that does not parse becomes a :class:`Record` with ``error`` set and its text kept.
"""

from __future__ import annotations

import operator
import re

from auditsql.records._msgtypes import MSG_NUMBERS, MSG_TYPES
from auditsql.records.record import FREE_TEXT, Record

__all__ = ["parse_line", "parse_text", "parse_netlink", "tokenize", "split_enrichment", "parse_nested"]

# node=N type=T msg=audit(SEC.MSEC:SERIAL):
_HEADER = re.compile(
    r"(?:node=(?P<node>[^ \t]*) +)?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?) +"
    r"msg=audit\((?P<sec>[0-9]{1,20})\.(?P<msec>[0-9]{1,20}):(?P<serial>[0-9]{1,20})\)(?::|(?= )) ?"
)
# a header with no normal audit(...) stamp: `type=UNKNOWN[1329] msg=?`, `msg=g`
_BAD_HEADER = re.compile(
    r"(?:node=(?P<node>[^ \t]*) +)?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?)(?: +(?P<rest>.*))?\Z",
    re.S,
)
# where a second record starts on the same physical line
_NEXT_RECORD = re.compile(r"[ \t]+(?=(?:node=[^ \t]+ +)?type=[A-Za-z0-9_]+(?:\[\d+\])? +msg=audit\(\d)")
_UNKNOWN = re.compile(r"UNKNOWN\[([0-9]{1,10})\]")

# One token of a body: key=value (value double-quoted, single-quoted, braced or bare) or a free word.
# A single-quoted payload may hold double-quoted values with a ' inside (`msg='acct="f('x')" res=failed'`).
_TOKEN = re.compile(
    r"""[ \t\x1d]*(?:
        (?P<k>[^ \t\x1d="'{}]+)=(?P<v>"[^"]*"|'(?:[^'"]+|"[^"]*")*+'|'[^']*'|\{[^}]*\}|[^ \t\x1d]*)
      | (?P<w>[^ \t\x1d]+)
    )""",
    re.X,
)
# an ENRICHED key glued to the end of a bare value: `cap_frootid=0OUID="root"`, `res=successUID="root"`
_GLUE = re.compile(r"[A-Z][A-Z0-9_]*=")
_ENRICH_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z")
# the scanner's key=value token (same key and value classes as _TOKEN)
_FAST = re.compile(r"""([^ \t\x1d="'{}]+)=((?>"[^"]*"|[^ \t\x1d]*))""")
_first = operator.itemgetter(0)
_second = operator.itemgetter(1)
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
    if raw[:1] == " " or raw[-1:] == " ":
        raw = raw.strip(" ")
    enrich = [] if tail is None else _all_tokens(tail)
    if not raw:
        return [], enrich
    fields = _fast(raw, detect)
    if fields is not None:
        return fields, enrich
    # a user-space message: plain fields, then the payload `msg='...'` as the last one
    i = raw.find(" msg='")
    if i > 0 and raw[-1] == "'" and raw.count("'") == 2:
        head = _fast(raw[:i].rstrip(" "), detect)
        if head is not None:
            head.append(("msg", raw[i + 5 :]))
            return head, enrich
    fields, cut = _scan(raw, not detect)
    if cut is not None:
        enrich[:0] = _scan(raw[cut:], True)[0]
    return fields, enrich


def _fast(raw: str, detect: bool) -> list[tuple[str, str]] | None:
    """One C-level findall when the text has the plain shape (single spaces, no quoted spaces, no single
    quotes or braces, no upper-case keys when detecting enrichment, no '=' inside values); else None."""
    if "'" in raw or "{" in raw:
        return None
    fields = _FAST.findall(raw)
    n = len(fields)
    if (
        n == raw.count(" ") + 1
        and n == raw.count("=")
        and not (detect and any(map(str.isupper, map(_first, fields))))
        # no character outside the tokens (`a="x"b`): keys, values, '=' and separators add up to the text
        and sum(map(len, map(_first, fields))) + sum(map(len, map(_second, fields))) + 2 * n - 1 == len(raw)
    ):
        return fields
    return None


def _all_tokens(text: str) -> list[tuple[str, str]]:
    """Every token of an ENRICHED tail."""
    if text[:1] == " " or text[-1:] == " ":
        text = text.strip(" ")
    if not text:
        return []
    fields = _fast(text, False)
    return fields if fields is not None else _scan(text, True)[0]


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
            if all_ and fields and fields[-1][0][:1].isupper():
                # an ENRICHED value with spaces, written unquoted: `SADDR=unknown family(0)`, `SADDR={ .. {x} }`
                fields[-1] = (fields[-1][0], fields[-1][1] + " " + w)
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
    fields = tokenize(token)[0]
    if ": " in token:
        # old login payload `msg='uid=848: exe="/bin/login" ...'`: the colon ends the value (libauparse strips it)
        fields = [(k, v[:-1]) if v[-1:] == ":" and v[:-1].isdigit() else (k, v) for k, v in fields]
    return _unparen(fields) if "(" in token else fields


def _unparen(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Old PAM payloads (audit 1.x): ``exe="/usr/sbin/crond" (hostname=?, addr=?, terminal=cron res=success)``.
    Inside the parenthesised group the leading ``(``, the ``,`` after values and the closing ``)`` are syntax,
    not part of keys and values (libauparse and go-libaudit read it so)."""
    out: list[tuple[str, str]] = []
    inside = False
    for k, v in fields:
        if not inside and k.startswith("(") and len(k) > 1:
            inside = True
            k = k[1:]
        if inside:
            if k == FREE_TEXT and v == ")":
                inside = False
                continue
            if v.endswith(")") and v[:1] not in "\"'{":
                v = v[:-1]
                inside = False
            if v.endswith(",") and v[:1] not in "\"'{":
                v = v[:-1]
        out.append((k, v))
    return out


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
        if not text.strip(" \t"):
            return []
        m = _HEADER.match(text, len(text) - len(text.lstrip(" \t")))
    # search from the stamp's end: the header regex may have eaten the space before a second record
    if m is not None and (
        text.find("msg=audit(", m.end()) < 0 or _NEXT_RECORD.search(text, m.end("serial")) is None
    ):
        return [_record(text, m, detect)]
    if m is None:
        return [_odd(text)]
    out: list[Record] = []
    start = 0
    for nm in _NEXT_RECORD.finditer(text, m.end("serial")):
        chunk = text[start : nm.start()]
        if chunk[:5] == "node=" and " " not in chunk and "\t" not in chunk:
            continue  # the space after the next record's own node= prefix, not a boundary
        out.append(_one(chunk, detect))
        start = nm.end()
    out.append(_one(text[start:], detect))
    return out


def _one(text: str, detect: bool) -> Record:
    m = _HEADER.match(text, len(text) - len(text.lstrip(" \t")))
    return _record(text, m, detect) if m is not None else _odd(text)


# Bodies that repeat verbatim (the PATH of a common binary, a CWD, the PROCTITLE/EXECVE of a command run
# again) are tokenized once: a bounded cache keyed by the body text. SYSCALL bodies (pids, arguments) are
# practically unique and are not cached. The cached lists are shared and never mutated.
_CACHE_MAX = 8192
_CACHE_BODY_MAX = 2048
_BODY_CACHE: tuple[dict[str, tuple], dict[str, tuple]] = ({}, {})


def _record(text: str, m: re.Match[str], detect: bool = True) -> Record:
    name = m.group("type")
    body = text[m.end() :]
    if name == "SYSCALL" or len(body) > _CACHE_BODY_MAX:
        fields, enrich = tokenize(body, detect)
    else:
        cache = _BODY_CACHE[detect]
        hit = cache.get(body)
        if hit is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            hit = cache[body] = tokenize(body, detect)
        fields, enrich = hit
    node, _, sec, msec, serial = m.groups()
    return Record(text, node, _type_of(name), name, int(sec), int(msec), int(serial), body, fields, enrich)


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


def parse_netlink(msg_type: int, payload: bytes) -> Record:
    """One record from a NETLINK_AUDIT message: its nlmsg_type and payload (``audit(SEC.MSEC:SERIAL): ...``).

    The text is what auditd would log for it (``type=NAME msg=`` + payload; trailing NULs and newlines of
    user-space messages removed). Always exactly one record: a payload that contains something looking like
    a second record header (user-supplied AUDIT_USER text) is not split.
    """
    end = len(payload)
    while end and payload[end - 1] in b"\0\n":
        end -= 1
    text = f"type={type_name(msg_type)} msg=" + payload[:end].decode("utf-8", "surrogateescape")
    m = _HEADER.match(text)
    rec = _record(text, m, False) if m is not None else _odd(text)
    rec.type = msg_type
    return rec

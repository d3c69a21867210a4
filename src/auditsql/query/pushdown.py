"""Filters that cut kernel work: scheduled queries' ``WHERE`` compiled into audit rules (``[kernel] pushdown``).

The builtin rules audit every ``execve``/``execveat`` (``process_events``) and every
``bind``/``connect``/``accept``/``accept4`` (``socket_events``). When every scheduled query that reads one of
these tables says in its ``WHERE`` that it only wants, say, ``path != '/usr/bin/sed'`` or ``auid >= 1000``,
the kernel can drop the other events itself: they are never built, queued, sent, parsed or stored. This
module works out, from the SQL text alone, rules that keep a *superset* of the rows any scheduled query can
return, so pushing is a pure optimisation: the queries run unchanged (the residual SQL is the whole query) and
return the same rows with and without pushdown.

How (docs/pushdown.md has the full story):

* A small SQL tokenizer and expression parser of our own (the standard library has none): ``AND``, ``OR``,
  ``NOT``, parentheses, ``= == != <> < <= > >=``, ``[NOT] IN (list)``, ``[NOT] BETWEEN``, ``IS [NOT] NULL``,
  numbers and strings. Anything else (functions, ``LIKE``, ``COLLATE``, subqueries, joins, unions, CTEs) is
  "unknown": never pushed, it stays in SQL.
* Each predicate becomes an over-approximation in kernel terms: the events whose row could satisfy it. ``NOT``
  is pushed to the leaves (Kleene logic: a NULL column makes a comparison NULL, never TRUE, so negating the
  operator is exact); an unknown leaf is TRUE. The result is kept in disjunctive normal form: each conjunction
  is one ``-a always,exit`` rule, an ``OR`` gives several rules.
* Per table the rules are the OR over the scheduled queries that read it. If one of them is TRUE (no
  ``WHERE``, or nothing pushable) the table keeps its builtin rule. Tables no scheduled query reads keep their
  builtin rules: ad-hoc queries still need them. A query that reads ``audit_events`` (every event), a table
  this module does not know, or is not a plain ``SELECT ... FROM table WHERE ...`` keeps everything it
  mentions unfiltered.
* The kernel's limits: ``exe`` compares only with ``=``/``!=`` and a rule holds *one* ``exe`` field (the
  kernel refuses a second with EINVAL), 64 fields per rule. Several excluded programs in one conjunction
  become ``-a never,exit ... -F exe=X`` rules just before that conjunction's ``always`` rule (first match
  wins, and the pushdown rules are loaded after every other rule, so the never rules shadow only their own).
* ``exe`` is matched by inode, not by name. ``path != X`` is pushed only when ``X`` is canonical (no
  symlink), its directory exists, the file has one link and its file system is mounted once (otherwise the
  same file under another name would be dropped); ``path = X`` is never pushed (a container's or chroot's own
  ``X`` is another inode and would be lost).

Public: :func:`analyze` (SQL → :class:`Pushdown`), :func:`rules` (the ``(origin, rule line)`` list
``auditsql run`` loads instead of the builtin rules), :func:`explain` (the text ``auditsql explain`` prints).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Atom",
    "Conj",
    "Pushdown",
    "QueryPlan",
    "SqlError",
    "analyze",
    "builtin_rule_lines",
    "exe_problem",
    "explain",
    "knobs",
    "listing",
    "parse_where",
    "rules",
    "tokenize",
]

ORIGIN = "pushdown"

PROCESS_SYSCALLS = frozenset(("execve", "execveat"))
SOCKET_SYSCALLS = frozenset(("bind", "connect", "accept", "accept4"))
#: the tables whose rows come from the builtin rules' events, and the syscalls that feed each
TABLE_SYSCALLS: dict[str, frozenset[str]] = {
    "process_events": PROCESS_SYSCALLS,
    "socket_events": SOCKET_SYSCALLS,
}
#: tables no builtin-rule event fills (user-space messages, MAC, seccomp, watches, kernel and host state)
INDEPENDENT_TABLES = frozenset(
    (
        "process_file_events",
        "user_events",
        "selinux_events",
        "apparmor_events",
        "seccomp_events",
        "audit_loss",
        "audit_status",
        "audit_rules",
        "system_info",
        "os_version",
    )
)
#: a table with a row for every event: reading it needs every builtin rule unfiltered
ALL_EVENTS_TABLES = frozenset(("audit_events",))

#: most conjunctions one query or table may turn into (more: not filtered)
MAX_CONJUNCTIONS = 32
#: fields a rule may carry (the kernel's 64; auditctl refuses the 64th), arch included
MAX_FIELDS = 63
_U32_MAX_ID = 4294967294  # (uid_t)-1 is "unset"/invalid: the kernel refuses it in a rule
_S32_MAX = 2147483647
_AF_MAX = 46  # glibc <bits/socket.h>; auditctl refuses saddr_fam >= AF_MAX


class SqlError(ValueError):
    """The SQL could not be tokenized (it is passed on to SQLite for the real error message)."""


# ----------------------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Token:
    kind: str  # id, qid, str, num, blob, param, op, eof
    text: str  # the source text
    start: int
    end: int
    value: Any = None  # id: lower-cased name; qid: the name; str: the string; num: int or float

    def word(self, *words: str) -> bool:
        return self.kind == "id" and self.value in words


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<blob>[xX]'[0-9a-fA-F]*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
  | (?P<hex>0[xX][0-9a-fA-F]+)
  | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<param>\?\d*|[:@$][A-Za-z0-9_]+)
  | (?P<id>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
  | (?P<op>->>|->|<<|>>|<=|>=|==|!=|<>|\|\||[-+*/%&|~<>=(),.;])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(sql: str) -> list[Token]:
    """SQLite's tokens (comments and blanks dropped), then an ``eof`` token. Raises :class:`SqlError`."""
    out: list[Token] = []
    pos, n = 0, len(sql)
    while pos < n:
        m = _TOKEN.match(sql, pos)
        if m is None:
            raise SqlError(f"unexpected character {sql[pos]!r} at offset {pos}")
        kind = m.lastgroup or ""
        text = m.group()
        start, pos = pos, m.end()
        if kind == "ws":
            continue
        value: Any = None
        if kind == "id":
            value = text.lower()
        elif kind == "qid":
            quote = text[0]
            value = text[1:-1] if quote == "[" else text[1:-1].replace(quote * 2, quote)
        elif kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "hex":
            kind, value = "num", int(text, 16)
            if value >= 1 << 63:
                value -= 1 << 64  # SQLite reads hex literals as 64-bit two's complement
        elif kind == "num":
            value = float(text) if any(c in text for c in ".eE") else int(text)
        out.append(Token(kind, text, start, pos, value))
    out.append(Token("eof", "", n, n))
    return out


# ----------------------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Col:
    qualifier: str | None  # table name or alias (lower case), None when unqualified
    name: str  # lower case
    span: tuple[int, int]


@dataclass(frozen=True)
class Lit:
    value: int | float | str | None  # None: NULL
    span: tuple[int, int]


@dataclass(frozen=True)
class Other:
    """Anything this module does not push (a function, LIKE, COLLATE, arithmetic...)."""

    span: tuple[int, int]


@dataclass(frozen=True)
class Not:
    expr: Node
    span: tuple[int, int]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Node
    right: Node
    span: tuple[int, int]


@dataclass(frozen=True)
class Cmp:
    op: str  # = != < <= > >=
    left: Node
    right: Node
    span: tuple[int, int]


@dataclass(frozen=True)
class InList:
    expr: Node
    items: tuple[Node, ...]
    negated: bool
    span: tuple[int, int]


@dataclass(frozen=True)
class Between:
    expr: Node
    low: Node
    high: Node
    negated: bool
    span: tuple[int, int]


Node = Col | Lit | Other | Not | BoolOp | Cmp | InList | Between

# SQLite's binary operator precedence, lowest first (lang_expr.html)
_P_OR, _P_AND, _P_NOT, _P_EQ, _P_REL, _P_BIT, _P_ADD, _P_MUL, _P_CAT, _P_COLLATE, _P_UNARY = range(1, 12)
_BINARY = {
    "=": _P_EQ,
    "==": _P_EQ,
    "!=": _P_EQ,
    "<>": _P_EQ,
    "<": _P_REL,
    "<=": _P_REL,
    ">": _P_REL,
    ">=": _P_REL,
    "&": _P_BIT,
    "|": _P_BIT,
    "<<": _P_BIT,
    ">>": _P_BIT,
    "+": _P_ADD,
    "-": _P_ADD,
    "*": _P_MUL,
    "/": _P_MUL,
    "%": _P_MUL,
    "||": _P_CAT,
    "->": _P_CAT,
    "->>": _P_CAT,
}
_CMP = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_LIKE_WORDS = ("like", "glob", "match", "regexp")
_KEYWORD_LITERALS = ("current_time", "current_date", "current_timestamp", "true", "false")


class _Fail(Exception):
    pass


class _ExprParser:
    """A Pratt parser over the tokens of one expression, SQLite's precedences."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self, k: int = 0) -> Token:
        return self.t[min(self.i + k, len(self.t) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect_op(self, text: str) -> Token:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            raise _Fail(text)
        return tok

    def span(self, start: int) -> tuple[int, int]:
        return (start, self.i)

    def parse(self) -> Node:
        node = self.expr(_P_OR)
        if self.peek().kind != "eof":
            raise _Fail("trailing tokens")
        return node

    def expr(self, min_prec: int) -> Node:
        start = self.i
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.word("or") and min_prec <= _P_OR:
                self.take()
                right = self.expr(_P_OR + 1)
                left = BoolOp("or", left, right, self.span(start))
            elif tok.word("and") and min_prec <= _P_AND:
                self.take()
                right = self.expr(_P_AND + 1)
                left = BoolOp("and", left, right, self.span(start))
            elif min_prec <= _P_EQ and (
                tok.word("in", "not", "between", "is", "isnull", "notnull", *_LIKE_WORDS)
            ):
                left = self.postfix(left, start)
            elif tok.kind == "op" and tok.text in _BINARY and min_prec <= _BINARY[tok.text]:
                prec = _BINARY[tok.text]
                self.take()
                right = self.expr(prec + 1)
                if tok.text in _CMP:
                    left = Cmp(_CMP[tok.text], left, right, self.span(start))
                else:
                    left = Other(self.span(start))
            elif tok.word("collate") and min_prec <= _P_COLLATE:
                self.take()
                if self.take().kind not in ("id", "qid", "str"):
                    raise _Fail("collation")
                left = Other(self.span(start))
            else:
                return left

    def postfix(self, left: Node, start: int) -> Node:
        negated = False
        tok = self.take()
        if tok.word("isnull", "notnull"):
            return Other(self.span(start))
        if tok.word("is"):
            if self.peek().word("not"):
                self.take()
            if self.peek().word("distinct"):
                self.take()
                if not self.take().word("from"):
                    raise _Fail("is distinct from")
            self.expr(_P_EQ + 1)
            return Other(self.span(start))
        if tok.word("not"):
            negated = True
            tok = self.take()
            if tok.word("null"):
                return Other(self.span(start))
        if tok.word("in"):
            if self.peek().kind != "op" or self.peek().text != "(":
                raise _Fail("IN without a list")  # IN table, IN table-function
            self.take()
            items: list[Node] = []
            if self.peek().word("select", "with", "values"):
                raise _Fail("subquery")
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                items.append(self.expr(_P_OR))
                while self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    items.append(self.expr(_P_OR))
            self.expect_op(")")
            return InList(left, tuple(items), negated, self.span(start))
        if tok.word("between"):
            low = self.expr(_P_EQ + 1)
            if not self.take().word("and"):
                raise _Fail("between")
            high = self.expr(_P_EQ + 1)
            return Between(left, low, high, negated, self.span(start))
        if tok.word(*_LIKE_WORDS):
            self.expr(_P_EQ + 1)
            if self.peek().word("escape"):
                self.take()
                self.expr(_P_EQ + 1)
            return Other(self.span(start))
        raise _Fail(f"unexpected {tok.text}")

    def prefix(self) -> Node:
        start = self.i
        tok = self.take()
        if tok.word("not"):
            inner = self.expr(_P_NOT)
            return Not(inner, self.span(start))
        if tok.kind == "op" and tok.text in ("-", "+", "~"):
            inner = self.expr(_P_UNARY)
            if isinstance(inner, Lit) and isinstance(inner.value, (int, float)) and tok.text != "~":
                return Lit(-inner.value if tok.text == "-" else inner.value, self.span(start))
            return Other(self.span(start))
        if tok.kind == "op" and tok.text == "(":
            if self.peek().word("select", "with", "values"):
                raise _Fail("subquery")
            inner = self.expr(_P_OR)
            if self.peek().kind == "op" and self.peek().text == ",":
                raise _Fail("row value")
            self.expect_op(")")
            return _respan(inner, self.span(start))
        if tok.kind == "num":
            return Lit(tok.value, self.span(start))
        if tok.kind == "str":
            return Lit(tok.value, self.span(start))
        if tok.kind in ("blob", "param"):
            return Other(self.span(start))
        if tok.word("null"):
            return Lit(None, self.span(start))
        if tok.word(*_KEYWORD_LITERALS):
            return Other(self.span(start))
        if tok.word("case"):
            self._skip_case()
            return Other(self.span(start))
        if tok.word("exists", "select", "with", "values", "raise"):
            raise _Fail("subquery")
        if tok.kind in ("id", "qid"):
            if self.peek().kind == "op" and self.peek().text == "(":
                self._skip_parens()
                if self.peek().word("filter", "over"):
                    raise _Fail("window")
                return Other(self.span(start))
            parts = [tok]
            while self.peek().kind == "op" and self.peek().text == "." and len(parts) < 3:
                self.take()
                nxt = self.take()
                if nxt.kind not in ("id", "qid"):
                    raise _Fail("name")
                parts.append(nxt)
            names = [str(p.value).lower() for p in parts]
            qualifier = names[-2] if len(names) >= 2 else None
            # a double-quoted name that is not a column is a string to SQLite: Col marks it as quoted
            return Col(
                qualifier,
                names[-1] if tok.kind == "id" or len(parts) > 1 else "\0" + names[-1],
                self.span(start),
            )
        raise _Fail(f"unexpected {tok.text or 'end'}")

    def _skip_parens(self) -> None:
        self.expect_op("(")
        depth = 1
        while depth:
            tok = self.take()
            if tok.kind == "eof":
                raise _Fail("unbalanced")
            if tok.word("select"):
                raise _Fail("subquery")
            if tok.kind == "op" and tok.text == "(":
                depth += 1
            elif tok.kind == "op" and tok.text == ")":
                depth -= 1

    def _skip_case(self) -> None:
        depth = 1
        while depth:
            tok = self.take()
            if tok.kind == "eof":
                raise _Fail("case")
            if tok.word("select"):
                raise _Fail("subquery")
            if tok.word("case"):
                depth += 1
            elif tok.word("end"):
                depth -= 1


def _respan(node: Node, span: tuple[int, int]) -> Node:
    # keep the parenthesised span for the predicate's text
    try:
        return type(node)(**{**node.__dict__, "span": span})  # type: ignore[arg-type]
    except TypeError:
        return node


def parse_where(tokens: Sequence[Token]) -> Node | None:
    """The expression of ``tokens`` (ending with ``eof``); None when it is not understood."""
    try:
        return _ExprParser(tokens).parse()
    except (_Fail, RecursionError):
        return None


# ----------------------------------------------------------------------------------------------------------
# Query shape


@dataclass
class _Shape:
    mentioned: set[str]  # every known table name the query mentions
    table: str | None = None  # the one table of a plain SELECT ... FROM table [WHERE ...]
    alias: str | None = None
    where: list[Token] | None = None  # the WHERE tokens + eof; None: no WHERE
    complex: str | None = None  # why the query is not a plain single-table SELECT


_CLAUSE_END = ("group", "order", "limit", "window")
_COMPLEX_WORDS = ("union", "intersect", "except", "join", "with", "values", "natural", "indexed")


def _shape(tokens: list[Token], known: Iterable[str]) -> _Shape:
    names = set(known)
    mentioned = {
        str(t.value).lower() for t in tokens if t.kind in ("id", "qid") and str(t.value).lower() in names
    }
    shape = _Shape(mentioned)
    body = tokens[:-1]
    while body and body[-1].kind == "op" and body[-1].text == ";":
        body.pop()
    if any(t.kind == "op" and t.text == ";" for t in body):
        shape.complex = "more than one statement"
        return shape
    if not body or not body[0].word("select"):
        shape.complex = "not a SELECT"
        return shape
    if sum(1 for t in body if t.word("select")) > 1:
        shape.complex = "a subquery or compound SELECT"
        return shape
    word = next((t.text for t in body if t.word(*_COMPLEX_WORDS)), None)
    if word is not None:
        shape.complex = f"{word.upper()}"
        return shape
    depth, i = 0, 1
    while i < len(body):
        t = body[i]
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.word("from"):
            break
        i += 1
    else:
        return shape  # no FROM: reads no table
    i += 1
    parts: list[Token] = []
    while i < len(body) and body[i].kind in ("id", "qid"):
        parts.append(body[i])
        i += 1
        if i < len(body) and body[i].kind == "op" and body[i].text == ".":
            i += 1
            continue
        break
    if not parts or len(parts) > 2:
        shape.complex = "not a plain FROM table"
        return shape
    if len(parts) == 2 and str(parts[0].value).lower() not in ("main", "temp"):
        shape.complex = f"schema {parts[0].text}"
        return shape
    table = str(parts[-1].value).lower()
    alias = None
    if i < len(body) and body[i].word("as"):
        i += 1
        if i >= len(body) or body[i].kind not in ("id", "qid", "str"):
            shape.complex = "alias"
            return shape
        alias = str(body[i].value).lower()
        i += 1
    elif i < len(body) and body[i].kind in ("id", "qid") and not body[i].word("where", *_CLAUSE_END):
        alias = str(body[i].value).lower()
        i += 1
    where: list[Token] | None = None
    if i < len(body) and body[i].word("where"):
        i += 1
        start, depth = i, 0
        while i < len(body):
            t = body[i]
            if t.kind == "op" and t.text == "(":
                depth += 1
            elif t.kind == "op" and t.text == ")":
                depth -= 1
            elif depth == 0 and t.word(*_CLAUSE_END):
                break
            i += 1
        where = [*body[start:i], Token("eof", "", body[i - 1].end if i else 0, body[i - 1].end if i else 0)]
    if i < len(body) and not body[i].word(*_CLAUSE_END):
        shape.complex = f"{body[i].text} after FROM"
        return shape
    shape.table, shape.alias, shape.where = table, alias, where
    return shape


# ----------------------------------------------------------------------------------------------------------
# Kernel conditions in disjunctive normal form


@dataclass(frozen=True, order=True)
class Atom:
    """One ``-F field op value`` of a rule."""

    field: str
    op: str
    value: int | str

    def text(self) -> str:
        return f"-F {self.field}{self.op}{self.value}"


@dataclass(frozen=True)
class Conj:
    """One rule's worth of conditions: syscalls (None: all the table's) and fields, all must hold."""

    syscalls: frozenset[str] | None
    atoms: frozenset[Atom]


DNF = tuple[Conj, ...]
TRUE: DNF = (Conj(None, frozenset()),)
FALSE: DNF = ()

_NEGATE = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIP = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_FIELD_ORDER = (
    "pid",
    "ppid",
    "uid",
    "euid",
    "suid",
    "fsuid",
    "gid",
    "egid",
    "sgid",
    "fsgid",
    "auid",
    "saddr_fam",
    "success",
    "exe",
)


def _atom_key(a: Atom) -> tuple[int, str, str]:
    return (_FIELD_ORDER.index(a.field) if a.field in _FIELD_ORDER else 99, a.op, str(a.value))


def _contradicts(atoms: frozenset[Atom]) -> bool:
    eq: dict[str, int | str] = {}
    for a in atoms:
        if a.op == "=":
            if a.field in eq and eq[a.field] != a.value:
                return True
            eq[a.field] = a.value
    return any(a.op == "!=" and eq.get(a.field) == a.value for a in atoms)


def _simplify(conjs: Iterable[Conj]) -> DNF:
    # (S1 and A) or (S2 and A) is (S1 | S2) and A: one rule
    merged: dict[frozenset[Atom], frozenset[str] | None] = {}
    for c in conjs:
        if c.atoms in merged:
            have = merged[c.atoms]
            merged[c.atoms] = None if have is None or c.syscalls is None else have | c.syscalls
        else:
            merged[c.atoms] = c.syscalls
    kept: list[Conj] = []
    for c in (Conj(sc, atoms) for atoms, sc in merged.items()):
        if c.syscalls is not None and not c.syscalls:
            continue
        if _contradicts(c.atoms):
            continue
        kept.append(c)
    out: list[Conj] = []
    for c in kept:
        # absorbed: another conjunction with fewer conditions covers it
        if any(
            d is not c
            and d.atoms <= c.atoms
            and (d.syscalls is None or (c.syscalls is not None and c.syscalls <= d.syscalls))
            and d != c
            for d in kept
        ):
            continue
        out.append(c)
    return tuple(sorted(out, key=_conj_key))


def _conj_key(c: Conj) -> tuple:
    return (sorted(c.syscalls) if c.syscalls is not None else [], sorted(map(_atom_key, c.atoms)))


def _and(a: DNF, b: DNF) -> DNF:
    if len(a) * len(b) > MAX_CONJUNCTIONS:
        return a if len(a) <= len(b) else b  # either side alone is a superset of both
    out = []
    for x in a:
        for y in b:
            if x.syscalls is None:
                sc = y.syscalls
            elif y.syscalls is None:
                sc = x.syscalls
            else:
                sc = x.syscalls & y.syscalls
            out.append(Conj(sc, x.atoms | y.atoms))
    return _simplify(out)


def _or(a: DNF, b: DNF) -> DNF:
    out = _simplify((*a, *b))
    return TRUE if len(out) > MAX_CONJUNCTIONS else out


def _is_true(dnf: DNF, syscalls: frozenset[str]) -> bool:
    return any(not c.atoms and (c.syscalls is None or c.syscalls >= syscalls) for c in dnf)


# ----------------------------------------------------------------------------------------------------------
# Columns → kernel fields


def exe_problem(path: str) -> str | None:
    """Why ``exe`` (matched by inode) cannot stand for ``path != X`` with this X on this host, or None.

    The kernel resolves X's directory when the rule is loaded and compares the executable's inode: X must be
    canonical (a symlink anywhere would make the kernel match a file the ``path`` column never names), its
    directory must exist, and the file must be reachable under no other name (one link, its file system
    mounted once), else executions under the other name would be dropped too.
    """
    if not path.startswith("/") or path.endswith("/") or len(path.encode()) > 4095:
        return "not an absolute file name"
    if re.search(r"[\s%\"'\\\x00-\x1f\x7f]", path):
        return "has blanks, quotes, % or control characters"
    if os.path.normpath(path) != path or path.startswith("//"):
        return "not normalized"
    parent = os.path.dirname(path)
    try:
        if os.path.realpath(path) != path:
            return "not canonical (a symlink in it)"
        dst = os.stat(parent)
    except (OSError, ValueError):
        return "its directory does not exist"
    try:
        st = os.lstat(path)
    except OSError:
        st = None
    if st is not None and st.st_nlink != 1:
        return f"has {st.st_nlink} hard links (exe matches the file under any name)"
    dev = (st or dst).st_dev
    mounts = _mount_count(os.major(dev), os.minor(dev))
    if mounts != 1:
        return f"its file system is mounted {mounts} times (exe matches the file under any mount)"
    return None


def _mount_count(major: int, minor: int) -> int:
    want = f"{major}:{minor}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.split(" ", 3)[2:3] == [want])
    except OSError:
        return 0


@dataclass
class Leaf:
    """How one predicate of a query was handled, for ``auditsql explain``."""

    text: str  # the SQL text of the predicate
    where: str  # "kernel", "kernel, widened", "SQL"
    detail: str  # the fields, or why not


@dataclass
class _Ctx:
    table: str
    alias: str | None
    include_failed_execs: bool
    exe_check: Callable[[str], str | None]
    src: str
    tokens: Sequence[Token]
    columns: frozenset[str] = frozenset()
    leaves: list[Leaf] = field(default_factory=list)

    def text(self, span: tuple[int, int]) -> str:
        a, b = span
        if b <= a:
            return ""
        return self.src[self.tokens[a].start : self.tokens[b - 1].end]

    def note(self, span: tuple[int, int], where: str, detail: str) -> None:
        self.leaves.append(Leaf(self.text(span), where, detail))


_PROCESS_INTS = {
    "uid": "uid",
    "euid": "euid",
    "suid": "suid",
    "fsuid": "fsuid",
    "auid": "auid",
    "gid": "gid",
    "egid": "egid",
    "sgid": "sgid",
    "fsgid": "fsgid",
    "pid": "pid",
    "parent": "ppid",
}
_SOCKET_INTS = {"uid": "uid", "euid": "euid", "auid": "auid", "gid": "gid", "pid": "pid", "ppid": "ppid"}
_UID_FIELDS = frozenset(("uid", "euid", "suid", "fsuid", "auid"))
_SOCKET_ACTIONS = {"bind": {"bind"}, "connect": {"connect"}, "accept": {"accept", "accept4"}}


def _column(ctx: _Ctx, col: Col) -> str | None:
    if col.qualifier is not None and col.qualifier not in (ctx.table, ctx.alias):
        return None
    name = col.name[1:] if col.name.startswith("\0") else col.name
    return name if name in ctx.columns else None  # else a result alias, or a string to SQLite


def _leaf(ctx: _Ctx, node: Cmp, positive: bool, shown: str | None = None) -> DNF:
    """A ``column op literal`` comparison (either order) → kernel conditions; TRUE when not pushable.

    ``positive``: for the events where it is TRUE, else where it is FALSE; ``shown``: its text in the notes.
    """
    if shown is None:
        shown = ctx.text(node.span) if positive else f"NOT ({ctx.text(node.span)})"
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Lit) and isinstance(right, Col):
        left, right, op = right, left, _FLIP[op]
    if not (isinstance(left, Col) and isinstance(right, Lit)):
        ctx.leaves.append(Leaf(shown, "SQL", "not a column compared with a constant"))
        return TRUE
    if not positive:
        op = _NEGATE[op]
    name = _column(ctx, left)
    value = right.value
    if name is None:
        ctx.leaves.append(Leaf(shown, "SQL", f"not a column of {ctx.table}"))
        return TRUE
    if value is None:
        ctx.leaves.append(Leaf(shown, "kernel", "a comparison with NULL is never true: no event"))
        return FALSE
    result, where, detail = _map(ctx, name, op, value)
    ctx.leaves.append(Leaf(shown, where, detail))
    return result


def _fields(dnf: DNF) -> str:
    if not dnf:
        return "no event (the condition is never true)"
    return " OR ".join(
        "(" * (len(dnf) > 1)
        + " ".join(
            ([f"-S {','.join(sorted(c.syscalls))}"] if c.syscalls is not None else [])
            + [a.text() for a in sorted(c.atoms, key=_atom_key)]
        )
        + ")" * (len(dnf) > 1)
        for c in dnf
    )


def _map(ctx: _Ctx, name: str, op: str, value: int | float | str) -> tuple[DNF, str, str]:
    table = ctx.table
    ints = _PROCESS_INTS if table == "process_events" else _SOCKET_INTS
    if name in ints:
        fld = ints[name]
        top = _U32_MAX_ID if fld in _UID_FIELDS else _S32_MAX
        if isinstance(value, bool) or not isinstance(value, int):
            return TRUE, "SQL", "not an integer constant"
        if not 0 <= value <= top:
            return TRUE, "SQL", f"{value} is outside the kernel field's range"
        dnf: DNF = (Conj(None, frozenset((Atom(fld, op, value),))),)
        return dnf, "kernel", _fields(dnf)
    if name == "syscall" or (name == "action" and table == "socket_events"):
        if not isinstance(value, str):
            return TRUE, "SQL", "not a string constant"
        if op not in ("=", "!="):
            return TRUE, "SQL", f"{op} on names is not pushed"
        universe = TABLE_SYSCALLS[table]
        chosen = (_SOCKET_ACTIONS.get(value, set()) if name == "action" else {value}) & universe
        sc = frozenset(chosen if op == "=" else universe - chosen)
        dnf = (Conj(sc, frozenset()),) if sc else FALSE
        return dnf, "kernel", _fields(dnf) if sc else "no builtin syscall: no event"
    if name == "status":
        if not isinstance(value, str) or op not in ("=", "!="):
            return TRUE, "SQL", "only = and != on a status name are pushed"
        # success=no statuses: process_events has only failed; socket_events also in_progress, no_client
        zero = ("failed",) if table == "process_events" else ("failed", "in_progress", "no_client")
        if value != "succeeded" and value not in zero:
            return (
                (FALSE, "kernel", "no such status: no event") if op == "=" else (TRUE, "SQL", "always true")
            )
        if op == "=":
            success, exact = (1, True) if value == "succeeded" else (0, len(zero) == 1)
        elif value == "succeeded":
            success, exact = 0, True
        elif len(zero) == 1:
            success, exact = 1, True
        else:
            return TRUE, "SQL", "the other statuses are success=yes and success=no"
        dnf = (Conj(None, frozenset((Atom("success", "=", success),))),)
        return dnf, "kernel" if exact else "kernel, widened", _fields(dnf)
    if name == "success" and table == "socket_events":
        if value not in (0, 1) or isinstance(value, bool) or op not in ("=", "!="):
            return TRUE, "SQL", "only = and != 0 or 1 are pushed"
        if (op == "=") == (value == 0):
            dnf = (Conj(None, frozenset((Atom("success", "=", 0),))),)
            return dnf, "kernel, widened", _fields(dnf)
        return TRUE, "SQL", "success 1 is also in_progress and no_client (success=no)"
    if name == "family" and table == "socket_events":
        if isinstance(value, bool) or not isinstance(value, int):
            return TRUE, "SQL", "not an integer constant"
        if not 0 <= value < _AF_MAX:
            return TRUE, "SQL", f"saddr_fam takes 0..{_AF_MAX - 1}"
        dnf = (Conj(None, frozenset((Atom("saddr_fam", op, value),))),)
        return dnf, "kernel", _fields(dnf)
    if name == "path":
        if not isinstance(value, str):
            return TRUE, "SQL", "not a string constant"
        if op == "=":
            return (
                TRUE,
                "SQL",
                "path = X: exe matches this host's file; a container's or chroot's X would be lost",
            )
        if op != "!=":
            return TRUE, "SQL", "exe takes only = and !="
        problem = ctx.exe_check(value)
        if problem is not None:
            return TRUE, "SQL", f"{value}: {problem}"
        exe = Atom("exe", "!=", value)
        if table == "process_events" and ctx.include_failed_execs:
            # a failed exec's row has the name it was given as path; the kernel's exe is the caller's
            dnf = _simplify(
                (
                    Conj(None, frozenset((exe, Atom("success", "=", 1)))),
                    Conj(None, frozenset((Atom("success", "=", 0),))),
                )
            )
            return dnf, "kernel, widened", _fields(dnf) + " (failed execs: path is the name given)"
        dnf = (Conj(None, frozenset((exe,))),)
        return dnf, "kernel", _fields(dnf)
    return TRUE, "SQL", "no kernel field for this column"


def _translate(ctx: _Ctx, node: Node, positive: bool = True) -> DNF:
    """Kernel conditions true for every event whose row makes ``node`` TRUE (``positive``) or FALSE."""
    if isinstance(node, BoolOp):
        a = _translate(ctx, node.left, positive)
        b = _translate(ctx, node.right, positive)
        conj = (node.op == "and") == positive
        return _and(a, b) if conj else _or(a, b)
    if isinstance(node, Not):
        return _translate(ctx, node.expr, not positive)
    if isinstance(node, Cmp):
        return _leaf(ctx, node, positive)
    if isinstance(node, InList):
        if (
            not isinstance(node.expr, Col)
            or not node.items
            or not all(isinstance(i, Lit) for i in node.items)
        ):
            ctx.note(node.span, "SQL", "IN with other than constants")
            return TRUE
        if any(i.value is None for i in node.items if isinstance(i, Lit)):
            ctx.note(node.span, "SQL", "IN list with NULL")
            return TRUE
        equal = node.negated != positive
        col = ctx.text(node.expr.span)
        parts = [
            _leaf(
                ctx,
                Cmp("=", node.expr, item, node.span),
                equal,
                f"{col} {'=' if equal else '!='} {ctx.text(item.span)}",
            )
            for item in node.items
        ]
        out = parts[0]
        for p in parts[1:]:
            out = _or(out, p) if equal else _and(out, p)
        return out
    if isinstance(node, Between):
        inside = node.negated != positive
        col = ctx.text(node.expr.span)
        lo_text, hi_text = ctx.text(node.low.span), ctx.text(node.high.span)
        lo = _leaf(
            ctx,
            Cmp(">=", node.expr, node.low, node.span),
            inside,
            f"{col} {'>=' if inside else '<'} {lo_text}",
        )
        hi = _leaf(
            ctx,
            Cmp("<=", node.expr, node.high, node.span),
            inside,
            f"{col} {'<=' if inside else '>'} {hi_text}",
        )
        return _and(lo, hi) if inside else _or(lo, hi)
    if isinstance(node, Lit):
        ctx.note(node.span, "SQL", "a constant")
        return TRUE
    ctx.note(node.span, "SQL", "not a kernel filter (function, LIKE, IS NULL, expression...)")
    return TRUE


# ----------------------------------------------------------------------------------------------------------
# Whole plans


@dataclass
class QueryPlan:
    """One query's analysis."""

    name: str
    sql: str
    tables: list[str]  # tables it reads that the builtin rules feed (or audit_events / unknown ones)
    pushable: dict[str, DNF]  # table → kernel conditions (TRUE: nothing pushed)
    leaves: list[Leaf]
    reason: str | None = None  # why nothing is pushed at all


@dataclass
class Pushdown:
    """What pushdown loads: ``rule_lines`` (auditctl syntax, in load order) instead of the builtin rules."""

    queries: list[QueryPlan]
    tables: dict[str, DNF | None]  # None: unfiltered; only the builtin-fed tables
    why: dict[str, str]  # table → why it is unfiltered
    rule_lines: list[str]
    knobs: dict[str, int]
    notes: list[str]

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in self.tables.values())


def _columns(table: str) -> frozenset[str]:
    from auditsql.tables import REGISTRY

    t = REGISTRY.get(table)
    return frozenset(c.name for c in t.columns) if t is not None else frozenset()


def _known_tables() -> set[str]:
    from auditsql.tables import REGISTRY

    return set(REGISTRY)


def analyze_query(
    name: str,
    sql: str,
    *,
    include_failed_execs: bool = False,
    exe_check: Callable[[str], str | None] = exe_problem,
    known_tables: Iterable[str] | None = None,
) -> QueryPlan:
    """One query → the kernel conditions for each builtin-fed table it reads."""
    known = set(known_tables) if known_tables is not None else _known_tables()
    try:
        tokens = tokenize(sql)
    except SqlError as exc:
        fed = sorted(TABLE_SYSCALLS)
        return QueryPlan(name, sql, fed, {t: TRUE for t in fed}, [], f"not understood ({exc})")
    shape = _shape(tokens, known)
    reads = sorted(shape.mentioned - INDEPENDENT_TABLES)
    plan = QueryPlan(name, sql, reads, {}, [])
    if shape.complex is not None or shape.table is None:
        plan.pushable = {t: TRUE for t in reads}
        if reads:
            plan.reason = f"not a plain SELECT ... FROM table WHERE ... ({shape.complex})"
        return plan
    table = shape.table
    if table not in TABLE_SYSCALLS:
        plan.pushable = {t: TRUE for t in reads}
        if reads:
            plan.reason = f"{table}: no kernel filter for this table"
        return plan
    if shape.where is None:
        plan.pushable = {table: TRUE}
        plan.reason = "no WHERE"
        return plan
    node = parse_where(shape.where)
    if node is None:
        plan.pushable = {table: TRUE}
        plan.reason = "WHERE not understood"
        return plan
    ctx = _Ctx(table, shape.alias, include_failed_execs, exe_check, sql, shape.where, _columns(table))
    dnf = _translate(ctx, node)
    plan.pushable = {table: dnf}
    plan.leaves = ctx.leaves
    if _is_true(dnf, TABLE_SYSCALLS[table]):
        plan.reason = "nothing in the WHERE narrows the events the kernel sends"
    return plan


def builtin_rule_lines(
    path: str | None = None,
) -> tuple[list[tuple[str, list[str]]], dict[str, int], list[str]]:
    """The builtin rules file as ([(arch, syscalls)], knobs, other rule lines kept as they are)."""
    from auditsql.agent import builtin_rules_path
    from auditsql.kernel.rules import split_rule_line

    path = path or builtin_rules_path()
    rules: list[tuple[str, list[str]]] = []
    knobs: dict[str, int] = {}
    other: list[str] = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            argv = split_rule_line(raw)
            if not argv:
                continue
            if argv[0] == "-b" and len(argv) == 2:
                knobs["backlog_limit"] = int(argv[1])
            elif (
                len(argv) == 6
                and argv[:2] == ["-a", "always,exit"]
                and argv[2] == "-F"
                and argv[3].startswith("arch=")
                and argv[4] == "-S"
            ):
                rules.append((argv[3][5:], argv[5].split(",")))
            else:
                other.append(raw.strip())
    return rules, knobs, other


def _rules_for(arch: str, syscalls: list[str], dnf: DNF, notes: list[str], table: str) -> list[str]:
    """One table's conditions as rule lines for one arch: plain rules first, the never-rule block last."""
    plain: list[tuple[list[str], list[Atom]]] = []
    block: tuple[list[str], list[Atom], list[Atom]] | None = None
    for c in dnf:
        sc = [s for s in syscalls if c.syscalls is None or s in c.syscalls]
        if not sc:
            continue
        exes = sorted((a for a in c.atoms if a.field == "exe"), key=_atom_key)
        rest = sorted((a for a in c.atoms if a.field != "exe"), key=_atom_key)
        room = MAX_FIELDS - 2  # arch and one exe
        if len(rest) > room:
            notes.append(f"{table}: {len(rest) - room} conditions left to SQL (the kernel's 64 fields)")
            rest = rest[:room]
        if len(exes) > 1 and block is None:
            block = (sc, exes, rest)
            continue
        if len(exes) > 1:
            notes.append(
                f"{table}: exe!={', '.join(str(a.value) for a in exes[1:])} left to SQL "
                "(one exe field per rule; the never-rule block is taken)"
            )
            exes = exes[:1]
        plain.append((sc, exes + rest))
    head = f"-F arch={arch}"
    lines = [
        " ".join(["-a always,exit", head, "-S", ",".join(sc), *(a.text() for a in atoms)])
        for sc, atoms in plain
    ]
    if block is not None:
        sc, exes, rest = block
        for a in exes[:-1]:
            lines.append(
                " ".join(
                    [
                        "-a never,exit",
                        head,
                        "-S",
                        ",".join(sc),
                        f"-F exe={a.value}",
                        *(r.text() for r in rest),
                    ]
                )
            )
        lines.append(
            " ".join(["-a always,exit", head, "-S", ",".join(sc), exes[-1].text(), *(r.text() for r in rest)])
        )
    return lines


def analyze(
    queries: Sequence[tuple[str, str]],
    *,
    include_failed_execs: bool = False,
    exe_check: Callable[[str], str | None] = exe_problem,
    rules_path: str | None = None,
    known_tables: Iterable[str] | None = None,
) -> Pushdown:
    """Every scheduled query ``(name, sql)`` together → the rules to load instead of the builtin ones."""
    plans = [
        analyze_query(
            n, q, include_failed_execs=include_failed_execs, exe_check=exe_check, known_tables=known_tables
        )
        for n, q in queries
    ]
    builtin, knobs, other = builtin_rule_lines(rules_path)
    tables: dict[str, DNF | None] = {}
    why: dict[str, str] = {}
    everything = next(
        (
            (p.name, t)
            for p in plans
            for t in p.tables
            if t in ALL_EVENTS_TABLES or (t not in TABLE_SYSCALLS and t not in INDEPENDENT_TABLES)
        ),
        None,
    )
    for table, syscalls in TABLE_SYSCALLS.items():
        readers = [p for p in plans if table in p.pushable]
        if everything is not None:
            tables[table] = None
            why[table] = f"query {everything[0]} reads {everything[1]}, which needs every event"
            continue
        if not readers:
            tables[table] = None
            why[table] = "no scheduled query reads it (ad-hoc queries still need every event)"
            continue
        total: DNF = FALSE
        for p in readers:
            total = _or(total, p.pushable[table])
        first_true = next((p for p in readers if _is_true(p.pushable[table], syscalls)), None)
        if first_true is not None or _is_true(total, syscalls):
            tables[table] = None
            who = first_true.name if first_true is not None else "the queries together"
            why[table] = (
                f"query {who} needs every event ({first_true.reason if first_true else 'too many rules'})"
            )
            continue
        tables[table] = total
    notes: list[str] = []
    lines: list[str] = []
    if not any(v is not None for v in tables.values()):
        for arch, sc in builtin:
            lines.append(f"-a always,exit -F arch={arch} -S {','.join(sc)}")
    else:
        for arch, sc in builtin:
            unfiltered = [
                s for s in sc if not any(s in TABLE_SYSCALLS[t] for t, d in tables.items() if d is not None)
            ]
            if unfiltered:
                lines.append(f"-a always,exit -F arch={arch} -S {','.join(unfiltered)}")
            for table, dnf in tables.items():
                if dnf is None:
                    continue
                mine = [s for s in sc if s in TABLE_SYSCALLS[table]]
                if mine:
                    lines.extend(_rules_for(arch, mine, dnf, notes, table))
    lines.extend(other)
    lines = list(dict.fromkeys(lines))  # the kernel refuses a rule twice (EEXIST)
    return Pushdown(plans, tables, why, lines, knobs, list(dict.fromkeys(notes)))


def rules(config: Any) -> list[tuple[str, str]]:
    """``auditsql run``'s pushdown rules as (origin, rule line) pairs, to load *instead of* the builtin rules
    file and *after* every other feature's rules (the never rules must shadow only pushdown's own rules);
    the builtin file's settings are :func:`knobs`."""
    pd = analyze(
        [(q.name, q.query) for q in config.schedule.values()],
        include_failed_execs=config.tables.include_failed_execs,
    )
    return [(ORIGIN, line) for line in pd.rule_lines]


def knobs() -> dict[str, int]:
    """The settings of the builtin rules file (its ``-b``), which pushdown keeps."""
    return builtin_rule_lines()[1]


# ----------------------------------------------------------------------------------------------------------
# auditsql explain


def listing(lines: Iterable[str], machine: str | None = None) -> list[str]:
    """The rule lines as ``auditctl -l`` lists them once loaded, except that ``exe!=`` stays ``exe!=``
    (auditctl 3.0.9 lists it as ``exe=``)."""
    from auditsql.kernel import _ruleconsts as K
    from auditsql.kernel.rules import ListingState, format_rule, parse_rule

    state = ListingState(machine=machine)
    out = []
    for line in lines:
        rule = parse_rule(line, machine=machine) if machine else parse_rule(line)
        text = format_rule(rule, False, state)
        for f in rule.fields:
            if f.field == K.AUDIT_EXE and f.op == K.AUDIT_NOT_EQUAL:
                exe = (f.text or b"").decode("utf-8", "surrogateescape")
                text = text.replace(f" -F exe={exe}", f" -F exe!={exe}", 1)
        out.append(text)
    return out


def explain(pd: Pushdown, machine: str | None = None) -> str:
    """The text ``auditsql explain`` prints: per query what the kernel takes, per table the outcome, the rules."""
    out: list[str] = []
    for p in pd.queries:
        out.append(f"query {p.name}: {' '.join(p.sql.split())}")
        shown = [t for t in p.tables]
        out.append(f"  reads: {', '.join(shown) if shown else '(no table the builtin rules feed)'}")
        for leaf in p.leaves:
            out.append(f"  {leaf.where + ':':<16} {leaf.text}  ->  {leaf.detail}")
        if p.reason:
            out.append(f"  not pushed: {p.reason}")
        out.append(
            "  residual SQL: the query as written (pushing only drops events no row of it can come from)"
        )
    out.append("")
    for table, dnf in pd.tables.items():
        if dnf is None:
            out.append(f"{table}: builtin rules, unfiltered: {pd.why[table]}")
        else:
            out.append(f"{table}: kernel-filtered: {_fields(dnf)}")
    for note in pd.notes:
        out.append(f"note: {note}")
    if pd.knobs:
        out.append("")
        out.append(
            "settings: "
            + " ".join(f"-b {v}" if k == "backlog_limit" else f"--{k} {v}" for k, v in pd.knobs.items())
        )
    out.append("rules (auditctl -l form; auditctl 3.0.9 itself lists exe!= as exe=):")
    out.extend(listing(pd.rule_lines, machine))
    return "\n".join(out) + "\n"

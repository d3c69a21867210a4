"""Conformance with laurel's golden outputs (threathunters-io/laurel ``src/testdata/record-*.json``).

laurel's ``golden`` test feeds every line of ``record-X.txt`` to its coalescer and writes each event as one
JSON object per line (``record-X.json``), with the system-dependent enrichment off. auditsql's event JSON
is laurel-shaped on purpose, so the comparison needs no mapping: every leaf of laurel's JSON, addressed by its
path (``SYSCALL.exe``, ``PATH[1].mode``, ``EXECVE.ARGV[1]``, ``SOCKADDR[0].SADDR.port``), is compared with
the value at the same path of our event, equal value and equal JSON type (``1`` is not ``"1"``). Keys that
only we write (``summary``, ``raw``, enrichment such as ``ARCH`` where laurel has no table) are not compared.
The number of events is compared as one more value per file (``events``).

Files: the 13 pairs checked by laurel's golden test (``GOLDEN``). ``record-uringop.json`` is upstream but not
in that test (stale, see the corpus SOURCE.md); it is compared by :func:`run_uringop` and reported on its own.
"""

from __future__ import annotations

import json
import re

from tests.conformance.common import CORPUS, Result, events_of

__all__ = ["GOLDEN", "LAUREL", "compare_file", "leaves", "lookup", "run", "run_uringop"]

LAUREL = CORPUS / "threathunters-io_laurel"
#: the pairs laurel's ``golden`` test checks (src/test.rs)
GOLDEN = (
    "adjntpval",
    "anom-promiscuous",
    "avc-apparmor",
    "bind-ipv4-bigendian",
    "execve-long",
    "execve",
    "login",
    "nscd",
    "perl-reverse-shell",
    "ptrace",
    "syscall-key",
    "syscall-nullkey",
    "weblogic",
)
#: upstream golden JSON that laurel's test does not check (stale)
STALE = ("uringop",)

MISSING = "<missing>"
_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def leaves(obj: object, prefix: str = "") -> list[tuple[str, object]]:
    """Every leaf value of a JSON value with its path: ``[("SYSCALL.ARGV[0]", "0x3"), ...]``.
    An empty object or list is a leaf of its own."""
    out: list[tuple[str, object]] = []
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.extend(leaves(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            out.extend(leaves(v, f"{prefix}[{i}]"))
    else:
        out.append((prefix, obj))
    return out


def lookup(obj: object, path: str) -> object:
    """The value at ``path`` (as written by :func:`leaves`), or ``MISSING``."""
    for m in _PART.finditer(path):
        idx, key = m.group(1), m.group(2)
        if idx is not None:
            i = int(idx)
            if not isinstance(obj, list) or i >= len(obj):
                return MISSING
            obj = obj[i]
        else:
            if not isinstance(obj, dict) or key not in obj:
                return MISSING
            obj = obj[key]
    return obj


def compare_file(name: str) -> Result:
    """Compare ``record-<name>.json`` with our events for ``record-<name>.txt``."""
    res = Result(f"laurel record-{name}")
    gold = [
        json.loads(line) for line in (LAUREL / f"record-{name}.json").read_text().splitlines() if line.strip()
    ]
    ours = events_of(LAUREL / f"record-{name}.txt")
    res.check(f"{name} events", len(gold), len(ours))
    for i, g in enumerate(gold):
        o: object = ours[i] if i < len(ours) else {}
        for path, value in leaves(g):
            res.check(f"{name}#{i} {path}", value, lookup(o, path))
    return res


def _merge(source: str, names: tuple[str, ...]) -> Result:
    total = Result(source)
    for name in names:
        r = compare_file(name)
        total.compared += r.compared
        total.matched += r.matched
        total.mismatches.extend(r.mismatches)
    return total


def run() -> Result:
    """The 13 golden pairs of laurel's golden test."""
    return _merge("laurel", GOLDEN)


def run_uringop() -> Result:
    """``record-uringop.json``, which laurel's own golden test does not check (reported separately)."""
    return _merge("laurel uringop (stale golden)", STALE)

"""Conformance with CrowdSec's ``crowdsecurity/auditd-logs`` parser (hubtest assertions).

Golden: ``crowdsecurity_hub/auditd-logs/parser.assert`` — one boolean expression per line, e.g.
``results["s01-parse"]["crowdsecurity/auditd-logs"][0].Evt.Parsed["event_inc_id"] == "2995"``, for the 4
SYSCALL lines of ``auditd-logs.log`` (one parsed CrowdSec event per line, in file order).

Compared (``s01-parse`` results, line i ↔ auditsql's record i of the log):

* ``Parsed["timestamp"]`` ↔ ``SEC.MSEC`` of the header; ``Parsed["event_inc_id"]`` and ``Meta["auditd_eventid"]``
  ↔ the serial; ``Parsed["message"]`` ↔ the record's raw text;
* ``Meta["exe" | "tty" | "uid" | "auid" | "ppid"]`` ↔ the rendered SYSCALL values as text;
  ``Meta["log_type"]`` (``execve``) ↔ the syscall name auditsql derives;
* ``Unmarshaled["auditd"][k]`` (CrowdSec's key=value split of the whole line) ↔ auditsql's raw token for ``k``
  with the quotes removed; ``type`` ↔ the type name; ``msg`` ↔ ``audit(SEC.MSEC:SERIAL):``.

Not compared: ``s00-raw`` (CrowdSec's input stage), ``Success`` flags, result counts, ``Parsed["program"]`` /
``Parsed["msg_type"]`` constants and ``Meta["datasource_*"]`` (file source metadata).
"""

from __future__ import annotations

import json
import re

from auditsql._core import arch_of, syscall_name
from tests.conformance.common import CORPUS, Result, records_of
from tests.core import Record, get, section_of, text

__all__ = ["run", "assertions", "LOG", "ASSERT"]

BASE = CORPUS / "crowdsecurity_hub" / "auditd-logs"
LOG = BASE / "auditd-logs.log"
ASSERT = BASE / "parser.assert"

_LINE = re.compile(
    r'results\["s01-parse"\]\["crowdsecurity/auditd-logs"\]\[(\d+)\]\.Evt\.'
    r'(Parsed|Meta|Unmarshaled\["auditd"\])\["([^"]+)"\] == (".*")$'
)
_NOT_COMPARED = frozenset(
    (("Parsed", "program"), ("Parsed", "msg_type"), ("Meta", "datasource_path"), ("Meta", "datasource_type"))
)


def assertions() -> list[tuple[int, str, str, str]]:
    """``(line index, Parsed|Meta|Unmarshaled, key, expected)`` of every s01-parse value assertion."""
    out: list[tuple[int, str, str, str]] = []
    for line in ASSERT.read_text().splitlines():
        m = _LINE.match(line)
        if m:
            where = "Unmarshaled" if m.group(2).startswith("Unmarshaled") else m.group(2)
            out.append((int(m.group(1)), where, m.group(3), json.loads(m.group(4))))
    return out


def _unquote(tok: str) -> str:
    return tok[1:-1] if len(tok) >= 2 and tok[0] == tok[-1] == '"' else tok


def ours(rec: Record, where: str, key: str) -> object:
    """auditsql's value for one assertion key."""
    stamp = f"{rec['sec']}.{rec['msec']:03d}"
    if where == "Parsed":
        return {"timestamp": stamp, "event_inc_id": str(rec["serial"]), "message": text(rec["text"])}.get(
            key, "<missing>"
        )
    if where == "Meta":
        if key == "auditd_eventid":
            return str(rec["serial"])
        if key == "log_type":
            nr = get(rec, b"syscall")
            return (
                syscall_name(arch_of(get(rec, b"arch"))[1], int(nr)) if nr and nr.isdigit() else "<missing>"
            )
        v = section_of(rec).get(key, "<missing>")
        return str(v) if isinstance(v, int) else v
    if key == "type":
        return rec["name"]
    if key == "msg":
        return f"audit({stamp}:{rec['serial']}):"
    tok = text(get(rec, key.encode()))
    return "<missing>" if tok is None else _unquote(tok)


def run() -> Result:
    r = Result("crowdsec auditd-logs parser.assert")
    recs = records_of(LOG)
    for i, where, key, expected in assertions():
        if (where, key) in _NOT_COMPARED:
            continue
        got = ours(recs[i], where, key) if i < len(recs) else "<no record>"
        r.check(f"line {i} {where}[{key}]", expected, got)
    return r


if __name__ == "__main__":
    res = run()
    print(f"{res.source}: {res.matched}/{res.compared}")
    for m in res.mismatches:
        print("   ", m[:300])

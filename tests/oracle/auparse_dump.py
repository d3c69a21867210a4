"""Walk an audit log with libauparse and print one JSON object per event (run by Debian's python3).

This script is run as a subprocess by ``/usr/bin/python3``, the interpreter that has the ``auparse`` module of
Debian's python3-audit package; it must not import anything from auditsql. Usage::

    /usr/bin/python3 auparse_dump.py FILE

Each output line is ``{"sec", "milli", "serial", "host", "records": [...]}``; each record is
``{"type", "typenum", "line", "text", "fields": [[name, raw, interpreted, ftype, error], ...]}``. Values that
the bindings cannot give (invalid UTF-8, an exception from interpret_field) are null, with the error text.
Escaping is off (AUPARSE_ESC_RAW) so that interpreted values are the decoded bytes themselves.
"""

from __future__ import annotations

import json
import sys

import auparse


def _call(fn):
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001 - the bindings raise on odd fields; record and go on
        return None, f"{type(e).__name__}: {e}"


def _fields(p) -> list:
    out = []
    if not p.first_field():
        return out
    while True:
        name, e1 = _call(p.get_field_name)
        raw, e2 = _call(p.get_field_str)
        interp, e3 = _call(p.interpret_field)
        ftype, _ = _call(p.get_field_type)
        err = "; ".join(e for e in (e1, e2, e3) if e) or None
        out.append([name, raw, interp, ftype, err])
        if not p.next_field():
            return out


def _records(p) -> list:
    out = []
    if not p.first_record():
        return out
    while True:
        name, err = _call(p.get_type_name)
        typenum, _ = _call(p.get_type)
        line, _ = _call(p.get_line_number)
        text, terr = _call(p.get_record_text)
        out.append(
            {
                "type": name,
                "typenum": typenum,
                "line": line,
                "text": text,
                "error": err or terr,
                "fields": _fields(p),
            }
        )
        if not p.next_record():
            return out


def main(path: str) -> int:
    p = auparse.AuParser(auparse.AUSOURCE_FILE, path)
    p.set_escape_mode(auparse.AUPARSE_ESC_RAW)
    w = sys.stdout.write
    while True:
        more, err = _call(p.parse_next_event)
        if err is not None:
            w(json.dumps({"error": err}) + "\n")
            break
        if not more:
            break
        ts, _ = _call(p.get_timestamp)
        ev = {
            "sec": getattr(ts, "sec", None),
            "milli": getattr(ts, "milli", None),
            "serial": getattr(ts, "serial", None),
            "host": getattr(ts, "host", None),
            "records": _records(p),
        }
        w(json.dumps(ev) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""The ECS shape against Auditbeat's golden events (corpus ``elastic_beats/auditbeat-auditd``)."""

from __future__ import annotations

import json

import pytest

from auditsql import _core
from auditsql.outputs.ecs import to_ecs
from tests.conformance.auditbeat import AUDITBEAT, GOLDENS, _flat, input_lines
from tests.core import events_and_records, text

#: golden keys not compared: names resolved against Auditbeat's hard-coded users, go-libaudit's actor/object
#: inference, and fields it derives by resolving ``acct`` names
SKIPPED = ("auditd.summary.", "related.", "file.owner", "file.group", "file.device", "group.")

#: what differs, all from go-libaudit resolving the payload's ``acct`` name to an id (bob=9999) on its test host
KNOWN = {
    ("passwd.log", 797, "user.target.id"): ("9999", None),
    ("passwd.log", 815, "user.effective.id"): ("9999", "0"),
    ("userlogin.log", 21114, "user.effective.id"): ("9999", None),
    ("userlogin.log", 4088825, "user.effective.id"): ("9999", "0"),
}


def rendered(lines: list[str]) -> bytes:
    return "".join(ln + "\n" for ln in lines).encode("utf-8", "surrogateescape")


def ecs_events(name: str) -> dict[str, dict]:
    evs = events_and_records(rendered(input_lines(name)), fmt="enriched")
    return {text(recs[0]["text"]): to_ecs(d, "web1") for d, recs in evs}


def _compared(key: str) -> bool:
    return not key.endswith(".name") and not key.startswith(SKIPPED)


@pytest.mark.parametrize("name", GOLDENS)
def test_auditbeat_goldens(name: str) -> None:
    gold = json.loads((AUDITBEAT / f"{name}-expected.json").read_text())
    ours = ecs_events(name)
    assert len(ours) == len(gold)
    diffs = {}
    compared = 0
    for g in gold:
        o = ours[g["event"]["original"][0]]
        assert o["event"]["original"] == g["event"]["original"]
        flat = dict(_flat(o))
        for key, theirs in _flat(g):
            if not _compared(key):
                continue
            compared += 1
            if key == "auditd.paths":
                assert len(o["auditd"]["paths"]) == len(theirs)
                for gp, op in zip(theirs, o["auditd"]["paths"], strict=True):
                    for pk, pv in gp.items():
                        ov = op.get(pk)
                        if pk.startswith("cap_"):  # hex by value: 0000000000000000 ~ 0
                            assert int(pv, 16) == int(ov, 16), (pk, pv, ov)
                        else:
                            assert ov == pv, (pk, pv, ov)
                continue
            if flat.get(key) != theirs:
                diffs[(name, g["auditd"]["sequence"], key)] = (theirs, flat.get(key))
    assert diffs == {k: v for k, v in KNOWN.items() if k[0] == name}
    assert compared > 20


def test_totals_over_all_goldens() -> None:
    """582 of 586 compared values equal (the 4 in KNOWN need Auditbeat's user table)."""
    total = same = 0
    for name in GOLDENS:
        ours = ecs_events(name)
        for g in json.loads((AUDITBEAT / f"{name}-expected.json").read_text()):
            flat = dict(_flat(ours[g["event"]["original"][0]]))
            for key, theirs in _flat(g):
                if _compared(key) and key != "auditd.paths":
                    total += 1
                    same += flat.get(key) == theirs
    assert (same, total) == (total - len(KNOWN), total)


CONNECT = [
    "type=SYSCALL msg=audit(1700000001.500:102): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffd "
    "a2=10 a3=0 items=0 ppid=100 pid=4243 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 "
    'egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" subj=unconfined key="net"',
    "type=SOCKADDR msg=audit(1700000001.500:102): saddr=02001F905DB8D8220000000000000000",
    "type=EOE msg=audit(1700000001.500:102): ",
]


def test_a_connect_event() -> None:
    evs = _core.render_lines(rendered(CONNECT), resolve_ids=False, format="enriched")
    # without the raw records (the renderer's raw=False)
    (d,) = [to_ecs({k: v for k, v in ev.items() if k != "raw"}, "web1") for ev in evs]
    assert d == {
        "@timestamp": "2023-11-14T22:13:21.500Z",
        "event": {
            "kind": "event",
            "module": "auditd",
            "action": "connected-to",
            "category": ["network"],
            "type": ["connection", "start"],
            "outcome": "failure",
        },
        "destination": {"ip": "93.184.216.34", "port": 8080},
        "network": {"direction": "egress"},
        "auditd": {
            "message_type": "syscall",
            "sequence": 102,
            "session": "3",
            "result": "fail",
            "data": {
                "a0": "3",
                "a1": "7ffd",
                "a2": "10",
                "a3": "0",
                "arch": "x86_64",
                "syscall": "connect",
                "exit": "EINPROGRESS",
                "items": "0",
                "tty": "pts0",
                "socket_family": "ipv4",
                "socket_addr": "93.184.216.34",
                "socket_port": "8080",
            },
        },
        "process": {
            "pid": 4243,
            "ppid": 100,
            "parent": {"pid": 100},
            "executable": "/usr/bin/curl",
            "name": "curl",
        },
        "user": {
            "id": "1000",
            "effective": {"id": "1000", "group": {"id": "1000"}},
            "saved": {"id": "1000", "group": {"id": "1000"}},
            "filesystem": {"id": "1000", "group": {"id": "1000"}},
            "group": {"id": "1000"},
            "audit": {"id": "1000"},
        },
        "tags": ["net"],
        "host": {"name": "web1"},
        "service": {"type": "auditd"},
        "ecs": {"version": "8.0.0"},
    }


def test_escaped_bytes_are_decoded_for_ecs() -> None:
    d = to_ecs({"summary": {"type": "SYSCALL", "exe": "/tmp/a%20b", "argv": ["x%0ay"]}, "SYSCALL": {}})
    assert d["process"]["executable"] == "/tmp/a b"
    assert d["process"]["args"] == ["x\ny"]

"""The ECS shape against Auditbeat's golden events (corpus ``elastic_beats/auditbeat-auditd``)."""

from __future__ import annotations

import hashlib
import json
import struct
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditsql import _core
from auditsql._core import Pipeline, Settings
from auditsql.outputs.ecs import ECS_VERSION, entity_id, machine_id, to_ecs
from auditsql.outputs.events import EventsOutput
from auditsql.store.sqlite import Store
from auditsql.tables.proctree import reload_rows
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
        "group": {"id": "1000"},
        "tags": ["net"],
        "host": {"name": "web1"},
        "service": {"type": "auditd"},
        "ecs": {"version": "9.0.0"},
    }


def test_escaped_bytes_are_decoded_for_ecs() -> None:
    d = to_ecs({"summary": {"type": "SYSCALL", "exe": "/tmp/a%20b", "argv": ["x%0ay"]}, "SYSCALL": {}})
    assert d["process"]["executable"] == "/tmp/a b"
    assert d["process"]["args"] == ["x\ny"]


def test_user_and_group_names_where_the_event_has_them() -> None:
    evs = _core.render_lines(rendered(CONNECT), resolve_ids=False, format="enriched")
    ev = evs[0]
    ev["summary"]["names"] = {"uid": "alice", "gid": "staff", "auid": "alice", "euid": "root"}
    d = to_ecs(ev)
    assert d["user"]["name"] == "alice"
    assert d["user"]["group"] == {"id": "1000", "name": "staff"}
    assert d["user"]["effective"] == {"id": "1000", "name": "root", "group": {"id": "1000"}}
    assert d["user"]["audit"] == {"id": "1000", "name": "alice"}
    assert d["group"] == {"id": "1000", "name": "staff"}


# -- the process tree's fields: a fork+exec of curl by bash, then curl's connect and exit --------------------------


def _syscall(
    t: str, serial: int, nr: int, pid: int, ppid: int, exe: str, exit: int, a0: str = "0", ok: str = "yes"
) -> str:
    comm = exe.rsplit("/", 1)[1]
    return (
        f"type=SYSCALL msg=audit({t}:{serial}): arch=c000003e syscall={nr} success={ok} exit={exit} a0={a0} a1=0 "
        f"a2=0 a3=0 items=0 ppid={ppid} pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 "
        f'egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="{comm}" exe="{exe}" subj=unconfined key="k"'
    )


FORK_EXEC = [
    _syscall("1000.000", 1, 59, 100, 1, "/usr/bin/bash", 0),
    'type=EXECVE msg=audit(1000.000:1): argc=3 a0="bash" a1="-c" a2="curl x"',
    "type=EOE msg=audit(1000.000:1): ",
    _syscall("1001.000", 2, 56, 100, 1, "/usr/bin/bash", 200, a0="1200011"),  # clone -> 200
    "type=EOE msg=audit(1001.000:2): ",
    _syscall("1001.500", 3, 59, 200, 100, "/usr/bin/curl", 0),
    'type=EXECVE msg=audit(1001.500:3): argc=2 a0="curl" a1="x"',
    "type=EOE msg=audit(1001.500:3): ",
    _syscall("1002.000", 4, 42, 200, 100, "/usr/bin/curl", -115, ok="no"),
    "type=SOCKADDR msg=audit(1002.000:4): saddr=02001F905DB8D8220000000000000000",
    "type=EOE msg=audit(1002.000:4): ",
    _syscall("1003.000", 5, 231, 200, 100, "/usr/bin/curl", 0),  # exit_group
    "type=EOE msg=audit(1003.000:5): ",
]


def ecs_through_pipeline(lines: list[str], tree: bool, host_id: str | None = "0123abcd") -> list[dict]:
    """The ECS documents the events output writes for ``lines``, fed as ``auditsql run`` feeds it."""
    p = Pipeline(Settings(process_tree=tree, resolve_ids=False, format="raw"))
    out = []
    for b in (p.feed_lines(rendered(lines)), p.finish()):
        out.extend(to_ecs(json.loads(line), "web1", host_id=host_id) for line in b.json.splitlines())
    return out


def test_entity_id_recipe() -> None:
    """SHA-256 of the host id, then pid and start (ns, ms-rounded) as little-endian int64, hex."""
    assert (
        entity_id("0123abcd", 200, 1001.0)
        == hashlib.sha256(b"0123abcd" + struct.pack("<qq", 200, 1_001_000_000_000)).hexdigest()
    )
    assert entity_id("abc", 200, 1001.0) == "3d311db88efe56785577d92b593a11c2922284f405e35f8ee3ce05d917bd0d1a"
    # the same millisecond is the same process; another pid, start or host is another
    assert entity_id("abc", 200, 1001.0000004) == entity_id("abc", 200, 1001.0)
    assert len({entity_id("abc", 200, 1001.0), entity_id("abc", 201, 1001.0), entity_id("abc", 200, 1001.001),
                entity_id("abd", 200, 1001.0)}) == 4  # fmt: skip
    assert entity_id("abc", 2**63, 1.0) is None
    assert entity_id("abc", 1, float("nan")) is None


BASH_ID = entity_id("0123abcd", 100, 1000.0)  # bash was first seen at its exec (no /proc here): its start
CURL_ID = entity_id("0123abcd", 200, 1001.0)  # curl's start: bash's clone returning 200


def test_tree_fields_of_a_fork_and_exec() -> None:
    bash_exec, clone, curl_exec, connect, exit_ = ecs_through_pipeline(FORK_EXEC, tree=True)
    bash_parent = {"pid": 100, "entity_id": BASH_ID, "start": "1970-01-01T00:16:40.000Z",
                   "executable": "/usr/bin/bash", "name": "bash", "args": ["bash", "-c", "curl x"],
                   "args_count": 3, "command_line": "bash -c curl x"}  # fmt: skip
    assert curl_exec["process"] == {
        "pid": 200,
        "ppid": 100,
        "parent": bash_parent,
        "executable": "/usr/bin/curl",
        "name": "curl",
        "args": ["curl", "x"],
        "args_count": 2,
        "entity_id": CURL_ID,
        "start": "1970-01-01T00:16:41.000Z",
    }
    # every document of curl carries the same id and parent, its exit_group's too
    for d in (connect, exit_):
        assert d["process"]["entity_id"] == CURL_ID and d["process"]["start"] == "1970-01-01T00:16:41.000Z"
        assert d["process"]["parent"] == bash_parent
    # bash's own documents, its clone's too, carry the id curl's documents give their parent; its parent (1)
    # is unknown to the tree here: its pid only
    for d in (bash_exec, clone):
        assert d["process"]["entity_id"] == BASH_ID and d["process"]["start"] == "1970-01-01T00:16:40.000Z"
        assert d["process"]["parent"] == {"pid": 1}
    assert all("container" not in d for d in (bash_exec, clone, curl_exec, connect, exit_))
    assert curl_exec["host"] == {"name": "web1", "id": "0123abcd"}
    assert curl_exec["ecs"] == {"version": ECS_VERSION} == {"version": "9.0.0"}


def test_a_parent_taken_back_at_a_restart_gives_the_fields_of_a_live_one(tmp_path: Path) -> None:
    """bash execs and forks under one `auditsql run`; curl's exec and connect come under the next, whose tree
    took bash back from the store (Pipeline.tree_reload): its parent fields are those of the live run, the
    argument list too (process_tree.argv)."""
    live = ecs_through_pipeline(FORK_EXEC, tree=True)
    store = Store(str(tmp_path / "a.db"))
    store.create_schema()
    first = Pipeline(Settings(process_tree=True, resolve_ids=False, format="raw"))
    batches = [first.feed_lines(rendered(FORK_EXEC[:5])), first.finish(), first.tree_idle(time.monotonic())]
    store.insert([(t, r) for b in batches for t, r in b.rows if t == "process_tree"])
    store.flush()
    assert store.conn.execute("SELECT pid, cmdline, argv FROM process_tree ORDER BY pid").fetchall() == [
        (100, "bash -c curl x", '["bash","-c","curl x"]'),
        (200, "bash -c curl x", '["bash","-c","curl x"]'),  # a fork shares its parent's until it execs
    ]
    second = Pipeline(Settings(process_tree=True, resolve_ids=False, format="raw"))
    assert second.tree_reload(reload_rows(store.conn)) == (2, 0)
    docs = [
        to_ecs(json.loads(line), "web1", host_id="0123abcd")
        for b in (second.feed_lines(rendered(FORK_EXEC[5:])), second.finish())
        for line in b.json.splitlines()
    ]
    assert [d["process"]["parent"] for d in docs] == [d["process"]["parent"] for d in live[2:]]
    assert docs[0]["process"]["parent"]["args"] == ["bash", "-c", "curl x"]
    assert docs[0]["process"] == live[2]["process"]
    # a row written before process_tree.argv: the command line, no argument list (nothing to split it by)
    store.conn.execute("UPDATE process_tree SET argv = NULL")
    third = Pipeline(Settings(process_tree=True, resolve_ids=False, format="raw"))
    third.tree_reload(reload_rows(store.conn))
    d = to_ecs(
        json.loads(third.feed_lines(rendered(FORK_EXEC[5:8])).json.splitlines()[0]),
        "web1",
        host_id="0123abcd",
    )
    without_list = {k: v for k, v in live[2]["process"]["parent"].items() if k not in ("args", "args_count")}
    assert d["process"]["parent"] == without_list
    assert without_list["command_line"] == "bash -c curl x"
    store.close()


def test_a_user_space_message_gets_its_process_and_parent_from_the_tree() -> None:
    user_cmd = (
        'type=USER_CMD msg=audit(1002.500:9): pid=200 uid=1000 auid=1000 ses=3 msg=\'cwd="/" cmd=6C73 '
        'exe="/usr/bin/curl" terminal=pts/0 res=success\''
    )
    docs = ecs_through_pipeline([*FORK_EXEC[:8], user_cmd], tree=True)
    (d,) = [d for d in docs if d["auditd"]["message_type"] == "user_cmd"]
    assert d["process"]["entity_id"] == CURL_ID
    assert d["process"]["parent"]["pid"] == 100 and d["process"]["parent"]["entity_id"] == BASH_ID
    assert "ppid" not in d["process"]


def test_without_the_tree_no_tree_field_is_written() -> None:
    for d in ecs_through_pipeline(FORK_EXEC, tree=False):
        assert "entity_id" not in d["process"] and "start" not in d["process"], d
        assert set(d["process"]["parent"]) == {"pid"}
        assert "container" not in d


def test_entity_id_host_part() -> None:
    # no host id: the host name; an event from another node (node=): the node's name
    (d,) = ecs_through_pipeline(FORK_EXEC[5:8], tree=True, host_id=None)
    assert d["process"]["entity_id"] == entity_id("web1", 200, 1001.5)
    assert d["host"] == {"name": "web1"}
    (d,) = ecs_through_pipeline(["node=db2 " + ln for ln in FORK_EXEC[5:8]], tree=True)
    assert d["process"]["entity_id"] == entity_id("db2", 200, 1001.5)
    assert d["host"] == {"name": "web1"}  # host.id is this host's: not written for another node's event


def test_container_id_and_parent_from_summary_tree() -> None:
    tree = {
        "start": 1700000000.25,
        "parent": 6,
        "parent_start": 1699999999.5,
        "parent_exe": "/usr/bin/containerd-shim-runc-v2",
        "parent_cmdline": "/usr/bin/containerd-shim-runc-v2 -namespace moby",
        "container_id": "ab" * 32,
    }
    ev = {"summary": {"type": "SYSCALL", "pid": 7, "ppid": 6, "tree": tree}, "SYSCALL": {}}
    d = to_ecs(ev, "web1", host_id="m1")
    assert d["container"] == {"id": "ab" * 32}
    # a parent whose argument list the tree does not have (taken back from the store): its command line
    assert d["process"]["parent"] == {
        "pid": 6,
        "entity_id": entity_id("m1", 6, 1699999999.5),
        "start": "2023-11-14T22:13:19.500Z",
        "executable": "/usr/bin/containerd-shim-runc-v2",
        "name": "containerd-shim-runc-v2",
        "command_line": "/usr/bin/containerd-shim-runc-v2 -namespace moby",
    }
    assert d["process"]["start"] == "2023-11-14T22:13:20.250Z"
    assert d["process"]["entity_id"] == entity_id("m1", 7, 1700000000.25)
    # the tree's text is written as it is: no %xx decoding of a name that has a %
    ev["summary"]["tree"] = {"parent": 6, "parent_exe": "/opt/a%20b", "parent_argv": ["x%41", "\\xff"]}
    assert to_ecs(ev, "web1")["process"]["parent"] == {
        "pid": 6, "executable": "/opt/a%20b", "name": "a%20b", "args": ["x%41", "\\xff"], "args_count": 2,
        "command_line": "x%41 \\xff",
    }  # fmt: skip


@pytest.mark.parametrize(
    "tree",
    [
        {"start": float("nan")},
        {"start": True},
        {"start": "1.5"},
        {"parent_start": 1.0},  # no parent pid to hash it with
        {"parent_argv": ["a", 1]},
        {"parent_argv": "a b"},
        {"parent_exe": 3, "container_id": None},
        {},
    ],
)
def test_odd_summary_tree_values_write_nothing(tree: dict) -> None:
    ev = {"summary": {"type": "SYSCALL", "pid": 7, "ppid": 6, "tree": tree}, "SYSCALL": {}}
    d = to_ecs(ev, "web1", host_id="m1")
    assert d["process"] == {"pid": 7, "ppid": 6, "parent": {"pid": 6}}
    assert "container" not in d
    ev["summary"]["tree"] = "x"
    assert to_ecs(ev, "web1")["process"] == {"pid": 7, "ppid": 6, "parent": {"pid": 6}}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_TREE_KEYS = (
    "start",
    "parent",
    "parent_start",
    "parent_exe",
    "parent_argv",
    "parent_cmdline",
    "container_id",
)


@given(
    st.dictionaries(
        st.sampled_from(_TREE_KEYS), st.just(6) | _JSON | st.lists(st.text(max_size=4), max_size=3)
    )
)
def test_any_summary_tree_maps(tree: dict) -> None:
    """Whatever ``summary.tree`` holds, the document is valid JSON and its tree fields are consistent."""
    ev = {"summary": {"type": "SYSCALL", "pid": 7, "ppid": 6, "tree": tree}, "SYSCALL": {}}
    d = to_ecs(ev, "web1", host_id="m1")
    json.dumps(d, allow_nan=False)
    proc, parent = d["process"], d["process"]["parent"]
    assert proc["pid"] == 7 and parent["pid"] == 6
    if "entity_id" in proc:
        assert proc["entity_id"] == entity_id("m1", 7, tree["start"])
    if len(parent) > 1:  # facts of another pid than the event's ppid are not this parent's
        assert tree["parent"] == 6
    if "entity_id" in parent:
        assert parent["entity_id"] == entity_id("m1", 6, tree["parent_start"])
    if "args" in parent:
        assert parent["command_line"] == " ".join(parent["args"]) and parent["args_count"] == len(
            parent["args"]
        )
    assert set(parent) <= {
        "pid",
        "entity_id",
        "start",
        "executable",
        "name",
        "args",
        "args_count",
        "command_line",
    }


def test_machine_id(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    b.write_text("5f3e0c1d2b4a49e8a1b2c3d4e5f60718\n")
    assert machine_id((str(a), str(b))) == "5f3e0c1d2b4a49e8a1b2c3d4e5f60718"
    a.write_text("\n")
    assert machine_id((str(a), str(b))) == "5f3e0c1d2b4a49e8a1b2c3d4e5f60718"
    assert machine_id((str(a),)) is None


def test_events_output_writes_the_tree_fields(tmp_path: Path) -> None:
    out = EventsOutput(str(tmp_path / "ev.jsonl"), "ecs", host="web1", host_id="0123abcd").start()
    p = Pipeline(Settings(process_tree=True, resolve_ids=False, format="raw"))
    b = p.feed_lines(rendered(FORK_EXEC))
    rows, bounds = b.rows, b.event_rows
    for i, line in enumerate(b.json.splitlines()):
        out.event(json.loads(line), rows[bounds[i] : bounds[i + 1]])
    out.close()
    docs = [json.loads(x) for x in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert [d["process"]["entity_id"] for d in docs] == [BASH_ID, BASH_ID, CURL_ID, CURL_ID, CURL_ID]
    assert [d["process"]["parent"].get("entity_id") for d in docs] == [None, None, BASH_ID, BASH_ID, BASH_ID]
    assert docs[2]["process"]["parent"]["args"] == ["bash", "-c", "curl x"]
    assert out.counters()["sent"] == 5

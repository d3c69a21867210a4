"""Where the process tree learns of forks and exits (``[tables] tree_source``): the proc connector's subscription
message, the choice between it and audit rules, and the rules each choice loads."""

from __future__ import annotations

import struct

import pytest

from auditsql.agent import Stop
from auditsql.cli_run import _tree_connector
from auditsql.config import Config, ConfigError, load_config
from auditsql.kernel import connector
from auditsql.tables.proctree import RULE_KEY, rules


def test_subscription_asks_for_forks_and_exits_on_kernels_that_filter() -> None:
    msg = connector.subscribe_message(4242, "6.18.44-fc-v1300")
    # nlmsghdr: length 44, NLMSG_DONE, no flags, seq 0, our port id
    assert struct.unpack("IHHII", msg[:16]) == (44, 3, 0, 0, 4242)
    # cn_msg: CN_IDX_PROC, CN_VAL_PROC, seq 0, ack 0, 8 bytes of data, no flags
    assert struct.unpack("IIIIHH", msg[16:36]) == (1, 1, 0, 0, 8, 0)
    # proc_input: PROC_CN_MCAST_LISTEN, PROC_EVENT_FORK | PROC_EVENT_EXIT
    assert struct.unpack("II", msg[36:]) == (1, 0x80000001)


@pytest.mark.parametrize("release", ["6.5.0", "5.15.0-91-generic", "4.19", "weird"])
def test_older_kernels_get_the_op_alone(release: str) -> None:
    msg = connector.subscribe_message(7, release)
    assert len(msg) == 40
    assert struct.unpack("IHHII", msg[:16]) == (40, 3, 0, 0, 7)
    assert struct.unpack("IIIIHH", msg[16:36]) == (1, 1, 0, 0, 4, 0)
    assert struct.unpack("I", msg[36:]) == (1,)


def _config(tmp_path, tables: str) -> Config:
    p = tmp_path / "c.toml"
    p.write_text(f"[tables]\n{tables}")
    return load_config(str(p))


def test_the_connector_loads_no_tree_rule() -> None:
    assert rules(True, connector=True) == []
    with_rules = rules(True)
    assert any(RULE_KEY in line for _, line in with_rules)
    assert rules(False) == []


def test_a_bad_tree_source_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="tree_source"):
        _config(tmp_path, "tree_source = 'ebpf'\n")


@pytest.mark.parametrize(
    ("tables", "source"),
    [
        ("process_tree = false\n", "unicast"),
        ("tree_source = 'audit'\n", "unicast"),
        ("fork_events = true\n", "unicast"),  # fork rows need the audited fork
        ("", "plugin"),  # auditd's stream carries the audited events
    ],
)
def test_when_the_tree_uses_audit_rules(tmp_path, tables: str, source: str) -> None:
    details: list[str] = []
    assert _tree_connector(_config(tmp_path, tables), source, details) is None
    assert details == []


def test_the_connector_cannot_give_fork_rows(tmp_path) -> None:
    cfg = _config(tmp_path, "fork_events = true\ntree_source = 'connector'\n")
    with pytest.raises(Stop) as exc:
        _tree_connector(cfg, "unicast", [])
    assert exc.value.code == 2
    assert str(exc.value) == (
        "[tables] tree_source = connector cannot give fork_events' rows: use auto or audit"
    )


def test_auto_falls_back_to_rules_and_says_so(tmp_path, monkeypatch) -> None:
    from auditsql.kernel.sources import SourceError

    def refuse() -> None:
        raise SourceError("no proc connector (NETLINK_CONNECTOR): Protocol not supported")

    monkeypatch.setattr(connector, "open_proc_connector", refuse)
    details: list[str] = []
    assert _tree_connector(_config(tmp_path, ""), "unicast", details) is None
    assert details == [
        "process tree from audit rules (no proc connector (NETLINK_CONNECTOR): Protocol not supported)"
    ]
    with pytest.raises(Stop, match="^no proc connector"):
        _tree_connector(_config(tmp_path, "tree_source = 'connector'\n"), "unicast", [])

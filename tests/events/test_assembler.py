"""Exact tests of event assembly: closing (EOE, single, window, flush, tick), interleaving, duplicates, late
records, serial gaps and rollover, through the native pipeline (``auditsql._core.Pipeline``) fed one record
line at a time; events are read back from their JSON (see tests/core.py ``Asm``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core import Asm, Ev, Record, detect_format, parse_text
from tests.corpus import CORPUS


def rec(
    name: str, serial: int, body: str = "", sec: int = 1700000000, msec: int = 0, node: str | None = None
) -> Record:
    prefix = f"node={node} " if node is not None else ""
    line = f"{prefix}type={name} msg=audit({sec}.{msec:03d}:{serial}):" + (f" {body}" if body else "")
    (r,) = parse_text(line)
    assert r["error"] is None
    return r


def shape(events: list[Ev]) -> list[tuple[int, list[str], str]]:
    return [(e.serial, [r["name"] for r in e.records], e.closed_by) for e in events]


def run(records: list[Record], asm: Asm | None = None) -> tuple[list[list[Ev]], list[Ev], Asm]:
    """Push every record; returns what each push returned, what flush returned, and the assembler."""
    asm = asm or Asm()
    per_push = [asm.push(r) for r in records]
    return per_push, asm.flush(), asm


def corpus_events(path: Path, asm: Asm | None = None) -> tuple[list[Ev], Asm]:
    """A corpus log as the read job takes it (format sniffed, comments skipped), in one feed."""
    asm = asm or Asm(detect=detect_format(path.read_bytes()[: 64 * 1024]) != "raw")
    out = asm.feed(path.read_bytes())
    out += asm.flush()
    return out, asm


# -- closing -----------------------------------------------------------------------------------------------------


def test_eoe_closes_the_event() -> None:
    sc = rec("SYSCALL", 10, "arch=c000003e syscall=59")
    ex = rec("EXECVE", 10, 'argc=1 a0="id"')
    eoe = rec("EOE", 10)
    per_push, flushed, asm = run([sc, ex, eoe])
    assert per_push[0] == [] and per_push[1] == []
    (ev,) = per_push[2]
    assert shape([ev]) == [(10, ["SYSCALL", "EXECVE", "EOE"], "eoe")]
    assert ev.records == [sc, ex, eoe]
    assert ev.id == "1700000000.000:10"
    assert flushed == []
    assert asm.stats == {
        "records": 3,
        "events": 1,
        "errors": 0,
        "closed_eoe": 1,
        "closed_single": 0,
        "closed_window": 0,
        "closed_flush": 0,
        "late": 0,
        "duplicates": 0,
        "serial_gaps": 0,
        "serial_jumps": 0,
    }


def test_lone_eoe_is_an_event_of_its_own() -> None:
    per_push, flushed, asm = run([rec("EOE", 5)])
    assert shape(per_push[0]) == [(5, ["EOE"], "eoe")]
    assert flushed == []
    assert asm.stats["closed_eoe"] == 1


def test_interleaved_records_of_two_events() -> None:
    a1, b1 = rec("SYSCALL", 1, "syscall=59"), rec("SYSCALL", 2, "syscall=42")
    a2, b2 = rec("CWD", 1, 'cwd="/"'), rec("SOCKADDR", 2, "saddr=0100")
    per_push, flushed, asm = run([a1, b1, a2, b2, rec("EOE", 2), rec("EOE", 1)])
    assert per_push[:4] == [[], [], [], []]
    assert shape(per_push[4]) == [(2, ["SYSCALL", "SOCKADDR", "EOE"], "eoe")]
    assert shape(per_push[5]) == [(1, ["SYSCALL", "CWD", "EOE"], "eoe")]
    assert flushed == []
    assert asm.stats["serial_gaps"] == 0


def test_same_serial_different_timestamp_or_node_are_different_events() -> None:
    recs = [
        rec("SYSCALL", 7, "a=1", msec=1),
        rec("SYSCALL", 7, "a=1", msec=2),
        rec("SYSCALL", 7, "a=1", node="n1"),
    ]
    _, flushed, asm = run(recs)
    assert [(e.node, e.msec, e.closed_by) for e in flushed] == [
        (None, 1, "flush"),
        (None, 2, "flush"),
        ("n1", 0, "flush"),
    ]
    assert asm.stats["duplicates"] == 0


def test_out_of_order_records_reassembled_from_corpus() -> None:
    # shared/corpus/elastic_go-libaudit/reassembler/out_of_order.log (go-libaudit expects 58:2 59:5 60:5 61:4 62:1,
    # 0 lost): a PATH of 60 and of 61 arrive after records of later events
    events, asm = corpus_events(CORPUS / "elastic_go-libaudit/reassembler/out_of_order.log")
    assert [(e.serial, len(e.records)) for e in events] == [(58, 2), (59, 5), (60, 5), (61, 4), (62, 1)]
    assert [e.closed_by for e in events] == ["flush"] * 5
    assert [r["name"] for r in events[2].records] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH"]
    assert (asm.stats["serial_gaps"], asm.stats["late"], asm.stats["records"]) == (0, 0, 17)


def test_events_out_of_serial_order() -> None:
    # Auditbeat setuid.log order 531/529/530: no gap remains once all three arrived
    _, flushed, asm = run([rec("SYSCALL", 531), rec("SYSCALL", 529), rec("SYSCALL", 530)])
    assert [e.serial for e in flushed] == [531, 529, 530]
    assert asm.stats["serial_gaps"] == 0


def test_duplicate_record_is_counted_not_added() -> None:
    sc = rec("SYSCALL", 3, "syscall=59")
    again = rec("SYSCALL", 3, "syscall=59")
    per_push, flushed, asm = run([sc, again, rec("EOE", 3)])
    (ev,) = per_push[2]
    assert [r["name"] for r in ev.records] == ["SYSCALL", "EOE"]
    assert ev.duplicates == 1
    assert asm.stats["duplicates"] == 1
    assert asm.stats["records"] == 3
    assert flushed == []


def test_same_type_different_text_is_not_a_duplicate() -> None:
    p0, p1 = rec("PATH", 3, "item=0"), rec("PATH", 3, "item=1")
    _, (ev,), asm = run([p0, p1])
    assert ev.records == [p0, p1]
    assert asm.stats["duplicates"] == 0


def test_late_record_after_close_is_its_own_late_event() -> None:
    late = rec("PATH", 4, 'item=0 name="/x"')
    per_push, flushed, asm = run([rec("SYSCALL", 4), rec("EOE", 4), late])
    assert shape(per_push[1]) == [(4, ["SYSCALL", "EOE"], "eoe")]
    (ev,) = per_push[2]
    assert shape([ev]) == [(4, ["PATH"], "late")]
    assert ev.records == [late]
    assert flushed == []
    assert (asm.stats["late"], asm.stats["events"], asm.stats["closed_eoe"]) == (1, 2, 1)


def test_error_record_is_an_error_event() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-rhel7.log line 31
    (bad,) = parse_text("type=UNKNOWN[1329] msg=?")
    per_push, flushed, asm = run([bad])
    assert shape(per_push[0]) == [(0, ["UNKNOWN[1329]"], "error")]
    assert per_push[0][0].records == [bad]
    assert flushed == []
    assert (asm.stats["errors"], asm.stats["events"], asm.stats["serial_gaps"]) == (1, 1, 0)


# -- serial numbers ----------------------------------------------------------------------------------------------


def test_serial_rollover_is_not_a_gap() -> None:
    # shared/corpus/elastic_go-libaudit/reassembler/rollover.log: 4294967294, 4294967295, 0, 1, 2
    events, asm = corpus_events(CORPUS / "elastic_go-libaudit/reassembler/rollover.log")
    assert [(e.serial, len(e.records)) for e in events] == [
        (4294967294, 1),
        (4294967295, 1),
        (0, 1),
        (1, 1),
        (2, 1),
    ]
    assert (asm.stats["serial_gaps"], asm.stats["serial_jumps"]) == (0, 0)


def test_gap_across_rollover_is_counted() -> None:
    _, _, asm = run([rec("SYSCALL", 4294967294), rec("SYSCALL", 1)])
    assert asm.stats["serial_gaps"] == 2  # 4294967295 and 0


def test_lost_messages_gap_of_nine() -> None:
    # shared/corpus/elastic_go-libaudit/reassembler/lost_messages.log: 49 then 59; go-libaudit reports 9 lost
    events, asm = corpus_events(CORPUS / "elastic_go-libaudit/reassembler/lost_messages.log")
    assert [(e.serial, len(e.records)) for e in events] == [(49, 2), (59, 5), (60, 5), (61, 4), (62, 1)]
    assert asm.stats["serial_gaps"] == 9


def test_gap_filled_by_out_of_order_event_is_uncounted() -> None:
    asm = Asm()
    asm.push(rec("SYSCALL", 100))
    asm.push(rec("SYSCALL", 103))
    assert asm.stats["serial_gaps"] == 2
    asm.push(rec("SYSCALL", 102))
    assert asm.stats["serial_gaps"] == 1
    asm.push(rec("SYSCALL", 101))
    assert asm.stats["serial_gaps"] == 0
    # a serial below the highest that was never missing (a repeat) changes nothing
    asm.push(rec("SYSCALL", 100, msec=5))
    assert asm.stats["serial_gaps"] == 0


def test_gaps_are_per_node() -> None:
    _, _, asm = run([rec("SYSCALL", 1, node="a"), rec("SYSCALL", 50, node="b"), rec("SYSCALL", 2, node="a")])
    assert asm.stats["serial_gaps"] == 0


def test_large_jump_is_a_jump_not_a_gap() -> None:
    _, _, asm = run([rec("SYSCALL", 5), rec("SYSCALL", 5 + (1 << 20) + 1)])
    assert (asm.stats["serial_gaps"], asm.stats["serial_jumps"]) == (0, 1)


# -- single-record types -----------------------------------------------------------------------------------------


def is_single(rtype: int) -> bool:
    """Is a record of this type an event on its own: alone, and closed at the end of input, is it closed as
    ``single`` (rather than ``flush``, or ``eoe`` for an EOE)?"""
    per_push, flushed, _ = run([rec(f"UNKNOWN[{rtype}]", 1, "pid=1")])
    (ev,) = per_push[0] + flushed
    return ev.closed_by == "single"


def test_is_single() -> None:
    assert [is_single(t) for t in (1112, 1130, 1201, 1300, 1320, 1400, 1420, 2100, 2999, 3000)] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        True,
        True,
        False,
    ]


def test_user_login_closes_after_the_single_window() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-user-login.txt (USER_LOGIN = 1112)
    (login,) = parse_text(
        "type=USER_LOGIN msg=audit(1725003193.327:117286): pid=1712 uid=0 auid=1000 ses=764 "
        'msg=\'op=login id=1000 exe="/usr/sbin/sshd" hostname=other-host.invalid addr=10.10.10.10 '
        'terminal=ssh res=success\'\x1dUID="root" AUID="ec2-user" ID="ec2-user"'
    )
    assert login["type"] == 1112
    asm = Asm(single_window=3)
    assert asm.push(login) == []
    assert asm.push(rec("SYSCALL", 117287)) == []
    assert asm.push(rec("SYSCALL", 117288)) == []
    out = asm.push(rec("SYSCALL", 117289))
    assert shape(out) == [(117286, ["USER_LOGIN"], "single")]
    assert asm.stats["closed_single"] == 1
    assert shape(asm.flush()) == [
        (117287, ["SYSCALL"], "flush"),
        (117288, ["SYSCALL"], "flush"),
        (117289, ["SYSCALL"], "flush"),
    ]


def test_single_record_closed_by_flush_says_single() -> None:
    _, flushed, asm = run([rec("USER_LOGIN", 9, "pid=1")])
    assert shape(flushed) == [(9, ["USER_LOGIN"], "single")]
    assert (asm.stats["closed_single"], asm.stats["closed_flush"]) == (1, 0)


def test_service_start_with_syscall_records_is_one_event() -> None:
    # shared/corpus/threathunters-io_laurel/record-service-start.txt: SERVICE_START (1130), then SYSCALL,
    # SOCKADDR, UNKNOWN[1420] and EOE with the same serial
    events, asm = corpus_events(CORPUS / "threathunters-io_laurel/record-service-start.txt")
    assert shape(events) == [
        (4486226, ["SERVICE_START", "SYSCALL", "SOCKADDR", "UNKNOWN[1420]", "EOE"], "eoe"),
    ]
    assert (asm.stats["events"], asm.stats["closed_single"], asm.stats["late"]) == (1, 0, 0)


def test_late_kernel_record_after_single_window() -> None:
    # once the single window has closed the user message, a record with its serial is late
    asm = Asm(single_window=1)
    asm.push(rec("SERVICE_START", 20, "pid=1"))
    out = asm.push(rec("SYSCALL", 21))
    assert shape(out) == [(20, ["SERVICE_START"], "single")]
    assert shape(asm.push(rec("SYSCALL", 20))) == [(20, ["SYSCALL"], "late")]


# -- window, flush, tick ----------------------------------------------------------------------------------------


def test_window_closes_old_events() -> None:
    asm = Asm(window=2)
    assert asm.push(rec("SYSCALL", 1)) == []
    assert asm.push(rec("SYSCALL", 2)) == []
    assert shape(asm.push(rec("SYSCALL", 3))) == [(1, ["SYSCALL"], "window")]
    assert shape(asm.push(rec("SYSCALL", 4))) == [(2, ["SYSCALL"], "window")]
    assert shape(asm.flush()) == [(3, ["SYSCALL"], "flush"), (4, ["SYSCALL"], "flush")]
    assert (asm.stats["closed_window"], asm.stats["closed_flush"], asm.stats["events"]) == (2, 2, 4)


def test_window_counts_from_the_last_record_of_an_event() -> None:
    # "closed when it has seen no record for `window` records": an event that keeps receiving records stays open
    asm = Asm(window=2)
    asm.push(rec("SYSCALL", 1))
    asm.push(rec("SYSCALL", 2))
    assert asm.push(rec("PATH", 1, "item=0")) == []
    assert shape(asm.push(rec("SYSCALL", 3))) == [(2, ["SYSCALL"], "window")]
    assert asm.push(rec("PATH", 1, "item=1")) == []
    # what is left at the end closes in the order the events began
    assert shape(asm.flush()) == [(1, ["SYSCALL", "PATH", "PATH"], "flush"), (3, ["SYSCALL"], "flush")]
    assert asm.stats["late"] == 0


def test_flush_closes_everything_in_arrival_order() -> None:
    _, flushed, asm = run([rec("SYSCALL", 8), rec("USER_LOGIN", 9, "pid=1"), rec("SYSCALL", 7)])
    assert shape(flushed) == [
        (9, ["USER_LOGIN"], "single"),
        (8, ["SYSCALL"], "flush"),
        (7, ["SYSCALL"], "flush"),
    ]
    assert asm.flush() == []
    # a record for a flushed event is late
    assert shape(asm.push(rec("PATH", 8, "item=0"))) == [(8, ["PATH"], "late")]


def test_tick_closes_by_wall_clock() -> None:
    """The window counts from when the assembler saw an event's latest record (its last tick), not from the
    event's own timestamp: replayed or queued records with old timestamps are not cut off mid-event."""
    asm = Asm(window_seconds=3.0)
    asm.push(rec("SYSCALL", 1, sec=5, msec=0))  # before the first tick: counts from it
    assert asm.tick(1000.0) == []
    assert asm.tick(1002.4) == []
    asm.push(rec("SYSCALL", 2, sec=6, msec=500))  # seen at 1002.4
    asm.push(rec("USER_LOGIN", 3, "pid=1", sec=6, msec=900))
    assert asm.tick(1002.5) == []
    asm.push(rec("PATH", 2, "item=0", sec=6, msec=500))  # seen at 1002.5 now
    assert asm.tick(1002.9) == []
    # 1000.0 < 1003.001 - 3
    assert shape(asm.tick(1003.001)) == [(1, ["SYSCALL"], "window")]
    # singles wait min(1 s, window_seconds) from the tick they were seen at: 1002.4 >= 1003.3 - 1
    assert asm.tick(1003.3) == []
    assert shape(asm.tick(1003.5)) == [(3, ["USER_LOGIN"], "single")]
    assert asm.tick(1005.4) == []
    assert shape(asm.tick(1005.6)) == [(2, ["SYSCALL", "PATH"], "window")]
    assert asm.flush() == []
    assert (asm.stats["closed_window"], asm.stats["closed_single"]) == (2, 1)


def test_render_lines_format_argument() -> None:
    # the read path's format: auto (sniffed), raw or enriched; anything else is a bad argument
    from auditsql import _core

    # an ENRICHED tail glued to a bare value (crowdsec's auditd-suid-crash.log style)
    line = b'type=USER_LOGIN msg=audit(1.000:1): pid=1 uid=0 res=successUID="root"\n'
    (auto,) = _core.render_lines(line)  # the head holds an upper-case key with a quoted value: enriched
    (enriched,) = _core.render_lines(line, format="enriched")
    (raw,) = _core.render_lines(line, format="raw")  # only 0x1d starts a tail
    assert auto == enriched
    assert (auto["USER_LOGIN"][0]["res"], auto["USER_LOGIN"][0]["UID"], auto["summary"]["success"]) == (
        "success",
        "root",
        True,
    )
    assert raw["USER_LOGIN"][0]["res"] == 'successUID="root"'
    assert "success" not in raw["summary"]
    with pytest.raises(_core.CoreError):
        _core.render_lines(line, format="xml")

"""BufferedOutput (bounded queue, writer thread, drops counted and booked) and the Outputs fan-out."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from auditsql.outputs.base import BufferedOutput, Outputs, json_line


class Gate(BufferedOutput):
    """A writer that blocks until the test opens the gate; remembers what it wrote."""

    def __init__(self, buffer: int, **kw: Any) -> None:
        super().__init__("gate", buffer, **kw)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.written: list[Any] = []

    def write_batch(self, items: list[tuple[str, Any]]) -> None:
        self.entered.set()
        self.gate.wait(10)
        self.written.extend(item for _kind, item in items)


def wait(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_blocked_writer_never_blocks_the_caller_and_overflow_is_counted() -> None:
    out = Gate(buffer=10).start()
    out.batch_size = 4
    out.event({"n": 0}, [])
    out.flush()
    assert out.entered.wait(5)  # the writer holds item 0 and blocks
    t0 = time.monotonic()
    for n in range(1, 31):
        out.event({"n": n}, [])
    assert time.monotonic() - t0 < 0.5  # never waited on the writer
    # 10 queued (1..10), 20 dropped (11..30), 1 in flight
    assert out.counters() == {"sent": 0, "dropped": 20, "queued": 11, "errors": 0}
    loss = out.drain_loss()
    assert [(r["cause"], r["count"], r["detail"]) for r in loss] == [("output_drop", 20, "gate: buffer full")]
    assert out.drain_loss() == []
    out.gate.set()
    out.close()
    assert [d["n"] for d in out.written] == list(range(11))
    assert out.counters() == {"sent": 11, "dropped": 20, "queued": 0, "errors": 0}


def test_failed_batches_are_errors_and_booked_with_the_reason() -> None:
    class Failing(BufferedOutput):
        def write_batch(self, items: list[tuple[str, Any]]) -> None:
            raise OSError(28, "No space left on device")

    out = Failing("f", 100).start()
    for n in range(7):
        out.event({"n": n}, [])
    out.close()
    c = out.counters()
    assert (c["sent"], c["dropped"], c["queued"]) == (0, 7, 0)
    assert c["errors"] >= 1
    loss = out.drain_loss()
    assert [(r["count"], r["detail"]) for r in loss] == [(7, "f: cannot write: No space left on device")]


def test_close_gives_up_on_a_stuck_writer_and_books_what_is_left() -> None:
    out = Gate(buffer=100)
    out.close_timeout = 0.2
    out.start()
    for n in range(5):
        out.event({"n": n}, [])
    out.flush()
    assert out.entered.wait(5)
    out.event({"n": 5}, [])
    t0 = time.monotonic()
    out.close()
    assert time.monotonic() - t0 < 2
    assert out.counters()["dropped"] == 6
    assert [(r["count"], r["detail"]) for r in out.drain_loss()] == [
        (6, "gate: not written within 0.2 s of stopping")
    ]
    out.event({"n": 6}, [])  # after close: counted, never queued
    assert [(r["count"], r["detail"]) for r in out.drain_loss()] == [(1, "gate: closed")]
    out.gate.set()


def test_kinds_follow_the_events_and_results_switches() -> None:
    out = Gate(buffer=100, events=False, results=True).start()
    out.gate.set()
    out.event({"e": 1}, [])
    out.results([{"r": 1}, {"r": 2}])
    out.close()
    assert out.written == [{"r": 1}, {"r": 2}]


def test_outputs_fan_out_and_isolate_a_faulty_output() -> None:
    class Broken:
        name = "broken"

        def event(self, event: dict, rows: list) -> None:
            raise RuntimeError("bug")

        def rows(self, rows: list) -> None:
            pass

        def results(self, lines: list) -> None:
            pass

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

        def counters(self) -> dict[str, int]:
            return {"sent": 0, "dropped": 0, "queued": 0, "errors": 0}

        def drain_loss(self) -> list[dict]:
            return []

    good = Gate(buffer=100).start()
    good.gate.set()
    fan = Outputs([Broken(), good])
    assert fan.names() == ["broken", "gate"]
    fan.event({"a": 1}, [])
    fan.event({"a": 2}, [])
    fan.close()
    assert good.written == [{"a": 1}, {"a": 2}]
    loss = fan.drain_loss()
    assert [(r["cause"], r["count"], r["detail"]) for r in loss] == [
        ("output_drop", 2, "broken: failed: RuntimeError: bug")
    ]
    assert fan.counters()["gate"] == {"sent": 2, "dropped": 0, "queued": 0, "errors": 0}


@pytest.mark.parametrize(
    ("obj", "line"),
    [({"a": "é"}, '{"a":"é"}\n'.encode()), ({"a": "\udcff"}, b'{"a":"\\udcff"}\n')],
)
def test_json_line(obj: dict, line: bytes) -> None:
    assert json_line(obj) == line

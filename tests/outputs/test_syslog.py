"""RFC 5424 over a unix datagram socket: the message format, truncation, a missing or stalled receiver."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditsql.outputs.base import OutputError
from auditsql.outputs.syslog import FACILITIES, SyslogOutput, format_message

WHEN = 1700000000.25


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    yield path, s
    s.close()


def test_format_message() -> None:
    assert (
        format_message(86, "web1", "auditsql", 4242, "result", b'{"a":1}', WHEN)
        == b'<86>1 2023-11-14T22:13:20.250000Z web1 auditsql 4242 result - {"a":1}'
    )


def test_messages_on_the_socket(receiver: tuple[str, socket.socket]) -> None:
    path, sock = receiver
    out = SyslogOutput(path, "local3", "audq", events=True, results=True, hostname="h1", clock=lambda: WHEN)
    out.start()
    out.event({"ID": "1.000:7", "summary": {"pid": 1}}, [])
    out.results([{"name": "q", "columns": {"é": "x"}}])
    out.close()
    got = [sock.recv(65536) for _ in range(2)]
    pid = out.procid
    assert got == [
        f'<158>1 2023-11-14T22:13:20.250000Z h1 audq {pid} event - {{"ID":"1.000:7","summary":{{"pid":1}}}}'.encode(),
        f'<158>1 2023-11-14T22:13:20.250000Z h1 audq {pid} result - {{"name":"q","columns":{{"é":"x"}}}}'.encode(),
    ]
    assert FACILITIES["local3"] * 8 + 6 == 158
    assert out.counters() == {"sent": 2, "dropped": 0, "queued": 0, "errors": 0, "truncated": 0}


def test_rfc5424_header_grammar(receiver: tuple[str, socket.socket]) -> None:
    path, sock = receiver
    out = SyslogOutput(path, results=True).start()
    out.results([{"x": 1}])
    out.close()
    msg = sock.recv(65536).decode()
    # PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA SP MSG
    m = re.fullmatch(
        r"<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([!-~]{1,255}) ([!-~]{1,48}) (\d+) ([!-~]{1,32}) - (.*)",
        msg,
    )
    assert m is not None, msg
    assert (m[1], m[4], m[6], m[7]) == ("86", "auditsql", "result", '{"x":1}')


def test_long_messages_are_truncated_and_counted(receiver: tuple[str, socket.socket]) -> None:
    path, sock = receiver
    out = SyslogOutput(path, events=True, max_bytes=1000, hostname="h", clock=lambda: WHEN)
    out.procid = 42424  # the header's PROCID: its length decides where the 2-byte characters fall
    out.start()
    out.event({"a": "é" * 2000}, [])
    out.close()
    msg = sock.recv(65536)
    assert len(msg) == 999  # cut at 1000 bytes, then back to the last whole UTF-8 character
    msg.decode("utf-8")
    assert out.counters()["truncated"] == 1
    assert [(r["cause"], r["count"], r["detail"]) for r in out.drain_loss()] == [
        ("output_drop", 1, "syslog: truncated to 1000 bytes")
    ]


def test_a_missing_socket_counts_errors_and_losses_without_blocking(tmp_path: Path) -> None:
    out = SyslogOutput(str(tmp_path / "nobody"), events=True).start()
    t0 = time.monotonic()
    for i in range(5):
        out.event({"i": i}, [])
    out.close()
    assert time.monotonic() - t0 < 2
    c = out.counters()
    assert (c["sent"], c["dropped"], c["queued"]) == (0, 5, 0)
    assert c["errors"] >= 1
    assert [(r["count"], r["detail"]) for r in out.drain_loss()] == [
        (5, "syslog: cannot send: No such file or directory")
    ]


def test_a_stalled_receiver_costs_buffered_messages_not_time(receiver: tuple[str, socket.socket]) -> None:
    """Nobody reads the socket: sends block once its queue is full, each for at most ``timeout``."""
    path, sock = receiver
    out = SyslogOutput(path, events=True, buffer=20, timeout=0.05)
    out.close_timeout = 0.5
    out.start()
    n = 3000
    t0 = time.monotonic()
    for i in range(n):
        out.event({"i": i}, [])
        if i % 100 == 0:
            out.flush()
    enqueue = time.monotonic() - t0
    out.close()
    assert enqueue < 1.0
    received = 0
    sock.settimeout(0.2)
    try:
        while True:
            sock.recv(65536)
            received += 1
    except TimeoutError:
        pass
    lost = sum(r["count"] for r in out.drain_loss())
    c = out.counters()
    assert received == c["sent"]
    assert received + lost == n
    assert c["dropped"] == lost
    assert lost > 0


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"facility": "kernel"}, "output.syslog.facility: unknown facility 'kernel' (known: kern, user,"),
        ({"app_name": "audit sql"}, "output.syslog.app_name: 'audit sql' must be 1 to 48 printable ASCII"),
    ],
)
def test_bad_settings_are_one_line(kw: dict, msg: str) -> None:
    with pytest.raises(OutputError) as e:
        SyslogOutput("/dev/log", **kw)
    assert str(e.value).startswith(msg)
    assert "\n" not in str(e.value)

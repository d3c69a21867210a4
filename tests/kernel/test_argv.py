"""`process_events.argv` on the real kernel: the arguments of a real exec, as text, found by `json_each(argv)`.

Arguments with `+`, `%`, a tab, a newline, a control byte and bytes that are not UTF-8 are exec'd under
`auditsql run`; `argv` holds each as the text rule of `cmdline` gives it (not the event JSON's percent-encoding),
and the exact bytes stay in `audit_events` (the summary's byte-string encoding, decoded with `unescape`).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from auditsql._core import unescape
from tests.kernel import test_live
from tests.kernel.test_live import LiveKernel, stop, wait_for
from tests.kernel.test_run import start_run

pytestmark = pytest.mark.kernel

live_kernel = test_live.live_kernel

#: (the argument's bytes, the text argv and cmdline show)
ARGS: list[tuple[bytes, str]] = [
    (b"g++", "g++"),
    (b"date +%s", "date +%s"),
    (b"%s", "%s"),
    (b"a\tb", "a\tb"),
    (b"x\ny", "x\ny"),
    (b"\x01", "\x01"),
    (b"\xffA\xc3", "\\xffA\\xc3"),
    ("café".encode(), "café"),
]


def test_argv_is_text_that_json_each_finds(live_kernel: LiveKernel) -> None:
    lk = live_kernel
    marker = f"auditsql-argv-{uuid.uuid4().hex[:12]}"
    run = start_run(lk, "", "--source", "unicast")
    try:
        argv = [b"/bin/true", marker.encode(), *(raw for raw, _ in ARGS)]
        proc = subprocess.Popen(argv, cwd=lk.tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        assert proc.wait(10) == 0

        def stored() -> list[tuple]:
            return run.query(
                "SELECT argv, cmdline, cmdline_size, argc, eid FROM process_events WHERE pid = ?", proc.pid
            )

        wait_for(stored, timeout=20, what="the exec's process_events row")
    finally:
        assert stop(run.proc) == 0
    ((argv_json, cmdline, size, argc, eid),) = stored()
    texts = ["/bin/true", marker, *(text for _, text in ARGS)]
    assert json.loads(argv_json) == texts
    assert cmdline == " ".join(texts)
    assert (argc, size) == (len(argv), len(b" ".join(argv)))
    # json_each finds every argument as typed
    for text in texts:
        found = run.query(
            "SELECT count(*) FROM process_events, json_each(process_events.argv) AS a "
            "WHERE process_events.pid = ? AND a.value = ?",
            proc.pid,
            text,
        )
        assert found == [(1,)], repr(text)
    # the exact bytes stay in audit_events (the event JSON's byte-string encoding)
    ((summary_argv,),) = run.query(
        "SELECT json_extract(summary, '$.argv') FROM audit_events WHERE eid = ?", eid
    )
    assert [unescape(a) for a in json.loads(summary_argv)] == argv

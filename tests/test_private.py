"""auditsql.private: files holding events are 0600; what is no regular file, or private already, is left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.private import FILE_MODE, open_private, tighten, tightened_line


def mode(p: Path | str) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 0o777))
def test_tighten_changes_exactly_the_files_open_to_group_or_others(bits: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f"
        p.write_bytes(b"x")
        p.chmod(bits)
        changed = tighten([str(p), str(Path(d) / "missing")])
        if bits & 0o077:
            assert (changed, mode(p)) == ([(str(p), bits)], 0o600)
        else:
            assert (changed, mode(p)) == ([], bits)


def test_tighten_leaves_what_is_no_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    assert tighten([str(fifo), "/dev/null", str(tmp_path)]) == []
    assert (mode(fifo), mode("/dev/null")) == (0o666, 0o666)


def test_tightened_line() -> None:
    assert tightened_line([("/x/a.db", 0o644)]) == (
        "/x/a.db was mode 0644 (open to others; audit events can hold secrets): made 0600"
    )
    assert tightened_line([("/x/a.db", 0o640), ("/x/a.db-wal", 0o640)]) == (
        "/x/a.db was mode 0640 (open to its group; audit events can hold secrets): made 0600, and a.db-wal"
    )


def test_open_private_creates_0600_whatever_the_umask_and_tightens(tmp_path: Path, capsys) -> None:
    old = os.umask(0)
    try:
        new = tmp_path / "new.jsonl"
        os.close(open_private(str(new), os.O_WRONLY | os.O_APPEND))
        assert mode(new) == FILE_MODE
        there = tmp_path / "there.jsonl"
        there.write_bytes(b"kept\n")
        there.chmod(0o666)
        fd = open_private(str(there), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"more\n")
        os.close(fd)
    finally:
        os.umask(old)
    assert (mode(there), there.read_bytes()) == (0o600, b"kept\nmore\n")
    assert capsys.readouterr().err == (
        f"auditsql: {there} was mode 0666 (open to others; audit events can hold secrets): made 0600\n"
    )

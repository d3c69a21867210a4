"""Size-based rotation as osquery's filesystem logger: names, counts, compression, nothing lost in between."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.outputs.results_log import ResultsLog
from auditsql.outputs.rotate import RotatingFile, rotated_names


def lines(n: int, start: int = 0, width: int = 10) -> list[bytes]:
    return [f"{i:0{width - 1}d}\n".encode() for i in range(start, start + n)]


def read(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_exactly_max_files_rotated_files_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.log"
    f = RotatingFile(str(path), rotate=True, rotate_size=100, rotate_max_files=3).open()
    # 10-byte lines, 100-byte files: 10 lines per file; 65 lines make 6 full files and one of 5 lines
    f.write_lines(lines(65))
    f.close()
    assert listing(tmp_path) == ["results.log", "results.log.1", "results.log.2.gz", "results.log.3.gz"]
    assert f.rotations == 6
    assert read(path) == b"".join(lines(5, 60))
    assert read(tmp_path / "results.log.1") == b"".join(lines(10, 50))
    assert read(tmp_path / "results.log.2.gz") == b"".join(lines(10, 40))
    assert read(tmp_path / "results.log.3.gz") == b"".join(lines(10, 30))
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_existing_files_open_to_others_are_made_private(tmp_path: Path, capsys) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "log" / "events.jsonl"
        f = RotatingFile(str(path), rotate_size=100, rotate_max_files=3).open()
        f.write_lines(lines(25))  # events.jsonl, .1, .2.gz
        f.close()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert sorted((p.name, stat.S_IMODE(p.stat().st_mode)) for p in path.parent.iterdir()) == [
            ("events.jsonl", 0o600),
            ("events.jsonl.1", 0o600),
            ("events.jsonl.2.gz", 0o600),
        ]
        for p in path.parent.iterdir():
            p.chmod(0o644)
        (tmp_path / "other.txt").write_text("not ours")
        (tmp_path / "other.txt").chmod(0o644)
        RotatingFile(str(path), rotate_size=100, rotate_max_files=3).open().close()
    finally:
        os.umask(old)
    assert sorted(stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()) == [0o600, 0o600, 0o600]
    assert stat.S_IMODE((tmp_path / "other.txt").stat().st_mode) == 0o644
    assert capsys.readouterr().err == (
        f"auditsql: {path} was mode 0644 (open to others; audit events can hold secrets): made 0600, and "
        "events.jsonl.1, events.jsonl.2.gz\n"
    )


def test_max_files_one_keeps_only_the_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    f = RotatingFile(str(path), rotate_size=50, rotate_max_files=1).open()
    f.write_lines(lines(23))
    f.close()
    assert listing(tmp_path) == ["r.log", "r.log.1"]
    assert read(tmp_path / "r.log.1") == b"".join(lines(5, 15))


def test_rotation_is_checked_before_each_line_as_osquery(tmp_path: Path) -> None:
    """A file is rotated once it has reached the size: it may exceed it by the last line written."""
    path = tmp_path / "r.log"
    f = RotatingFile(str(path), rotate_size=25, rotate_max_files=5).open()
    f.write_lines([b"x" * 20 + b"\n", b"y" * 20 + b"\n", b"z\n"])
    f.close()
    assert read(tmp_path / "r.log.1") == b"x" * 20 + b"\n" + b"y" * 20 + b"\n"
    assert read(path) == b"z\n"


def test_reopening_continues_the_size_and_the_numbering(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    f = RotatingFile(str(path), rotate_size=100, rotate_max_files=4).open()
    f.write_lines(lines(15))
    f.close()
    g = RotatingFile(str(path), rotate_size=100, rotate_max_files=4).open()
    assert g.size == 50
    g.write_lines(lines(15, 15))
    g.close()
    assert listing(tmp_path) == ["r.log", "r.log.1", "r.log.2.gz"]
    assert read(tmp_path / "r.log.2.gz") == b"".join(lines(10))
    assert read(tmp_path / "r.log.1") == b"".join(lines(10, 10))
    assert read(path) == b"".join(lines(10, 20))


def test_a_compression_left_by_a_crash_is_finished_on_open(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    (tmp_path / "r.log.2").write_bytes(b"old\n")
    RotatingFile(str(path)).open().close()
    assert listing(tmp_path) == ["r.log", "r.log.2.gz"]
    assert read(tmp_path / "r.log.2.gz") == b"old\n"


def test_no_rotation_when_disabled(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    f = RotatingFile(str(path), rotate=False, rotate_size=10).open()
    f.write_lines(lines(50))
    f.close()
    assert listing(tmp_path) == ["r.log"]


def test_rotated_names() -> None:
    assert rotated_names("/x/r.log", 3) == ["/x/r.log.1", "/x/r.log.2.gz", "/x/r.log.3.gz"]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
    rotate_size=st.integers(min_value=1, max_value=200),
    batch=st.integers(min_value=1, max_value=9),
)
def test_property_nothing_is_lost_or_reordered_while_files_are_kept(
    tmp_path_factory: object, sizes: list[int], rotate_size: int, batch: int
) -> None:
    d = tmp_path_factory.mktemp("rot")  # type: ignore[attr-defined]
    path = d / "r.log"
    data = [(b"%d:" % i + b"x" * n)[: max(n, 1)] + b"\n" for i, n in enumerate(sizes)]
    f = RotatingFile(str(path), rotate_size=rotate_size, rotate_max_files=1000).open()
    for i in range(0, len(data), batch):
        f.write_lines(data[i : i + batch])
    f.close()
    names = rotated_names(str(path), f.rotations)
    assert sorted(os.listdir(d)) == sorted([os.path.basename(n) for n in names] + ["r.log"])
    files = [Path(n) for n in reversed(names)] + [path]
    assert b"".join(read(p) for p in files) == b"".join(data)
    for p in files[:-1]:  # every rotated file reached the size, and went over it by its last line at most
        body = read(p)
        last = body[:-1].rsplit(b"\n", 1)[-1] + b"\n"
        assert len(body) - len(last) < rotate_size <= len(body)


def test_results_log_rotates_and_forwards(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    got: list[list[dict]] = []
    log = ResultsLog(
        str(path), "h", rotate=True, rotate_size=300, rotate_max_files=2, forward=got.append
    ).open()
    for i in range(10):
        log.added("q", i, [{"n": str(i)}], 1700000000.0)
    log.close()
    assert listing(tmp_path) == ["results.jsonl", "results.jsonl.1", "results.jsonl.2.gz"]
    assert log.rotations == 4
    kept = [
        json.loads(x)
        for p in ("results.jsonl.2.gz", "results.jsonl.1", "results.jsonl")
        for x in read(tmp_path / p).splitlines()
    ]
    assert [d["columns"]["n"] for d in kept] == ["4", "5", "6", "7", "8", "9"]
    assert [[d["columns"]["n"] for d in batch] for batch in got] == [[str(i)] for i in range(10)]
    assert got[0][0] == {
        "name": "q",
        "hostIdentifier": "h",
        "calendarTime": "Tue Nov 14 22:13:20 2023 UTC",
        "unixTime": 1700000000,
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "decorations": {},
        "columns": {"n": "0"},
        "action": "added",
    }


def test_results_log_without_a_file_still_forwards() -> None:
    got: list[list[dict]] = []
    log = ResultsLog(None, "h", forward=got.append).open()
    assert log.snapshot("s", 0, [{"a": "1"}], 1700000000.0) == 1
    assert [d["snapshot"] for d in got[0]] == [[{"a": "1"}]]

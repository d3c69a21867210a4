"""The on-disk spool: a FIFO that keeps order across reopen, respects its bound, and cuts torn tails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditsql.outputs.spool import Spool, SpoolError


def drain(sp: Spool) -> list[bytes]:
    out = []
    while True:
        got = sp.peek(7)
        if not got:
            return out
        out.extend(got)
        sp.commit(len(got))


def test_fifo_across_segments_and_reopen(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20, segment_bytes=100).open()
    recs = [f"record-{i}".encode() * (i % 5 + 1) for i in range(50)]
    assert sp.append(recs) == 50
    assert sp.pending == 50
    segs = sorted(p.name for p in (tmp_path / "s").glob("*.seg"))
    assert len(segs) > 5
    assert sp.peek(3) == recs[:3]
    sp.commit(2)  # the third was peeked, not acknowledged
    sp.close()
    sp = Spool(str(tmp_path / "s"), 1 << 20, segment_bytes=100).open()
    assert sp.pending == 48
    assert drain(sp) == recs[2:]
    assert sp.pending == 0
    # used-up segments are deleted
    assert len(list((tmp_path / "s").glob("*.seg"))) == 1
    sp.close()


def test_rewind_sends_again_from_the_cursor(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    sp.append([b"a", b"b", b"c", b"d"])
    assert sp.peek(3) == [b"a", b"b", b"c"]
    sp.commit(1)
    sp.rewind()
    assert sp.peek(10) == [b"b", b"c", b"d"]
    sp.commit(3)
    assert sp.peek(10) == []
    sp.close()


def test_bound_refuses_what_does_not_fit(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 4096).open()
    rec = b"x" * 1000
    assert sp.append([rec] * 10) == 4  # 4 * (8 + 1000) = 4032 <= 4096
    assert sp.refused == 6
    assert sp.bytes == 4032
    assert drain(sp) == [rec] * 4
    assert sp.append([rec] * 2) == 2  # space is given back once consumed
    sp.close()


def test_torn_tail_is_cut(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    sp.append([b"one", b"two", b"three"])
    sp.close()
    seg = next((tmp_path / "s").glob("*.seg"))
    size = seg.stat().st_size
    with open(seg, "r+b") as fh:  # a crash in the middle of the last write
        fh.truncate(size - 2)
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    assert sp.torn == 8 + len(b"three") - 2
    assert drain(sp) == [b"one", b"two"]
    sp.append([b"four"])
    assert drain(sp) == [b"four"]
    sp.close()


def test_corrupt_record_is_cut(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    sp.append([b"alpha", b"bravo"])
    sp.close()
    seg = next((tmp_path / "s").glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF  # bravo's last byte: its CRC no longer matches
    seg.write_bytes(bytes(data))
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    assert sp.torn == 13
    assert drain(sp) == [b"alpha"]
    sp.close()


def test_unusable_directory_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SpoolError) as err:
        Spool(str(f / "spool"), 1 << 20).open()
    assert str(err.value) == (
        f"cannot create the spool {f}/spool: Not a directory "
        "(set [output.nats] spool_dir to a writable directory, or run as root)"
    )


def test_files_are_private(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    sp.append([b"secret argv"])
    sp.sync()
    assert os.stat(tmp_path / "s").st_mode & 0o777 == 0o700
    assert next((tmp_path / "s").glob("*.seg")).stat().st_mode & 0o777 == 0o600
    sp.close()
    assert (tmp_path / "s" / "cursor").stat().st_mode & 0o777 == 0o600


def test_files_open_to_others_are_made_private_at_open(tmp_path: Path, capsys) -> None:
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    sp.append([b"secret argv"])
    sp.close()
    (seg,) = (tmp_path / "s").glob("*.seg")
    for p in (seg, tmp_path / "s" / "cursor"):
        p.chmod(0o644)
    sp = Spool(str(tmp_path / "s"), 1 << 20).open()
    assert [p.stat().st_mode & 0o777 for p in (seg, tmp_path / "s" / "cursor")] == [0o600, 0o600]
    assert drain(sp) == [b"secret argv"]
    sp.close()
    assert capsys.readouterr().err == (
        f"auditsql: {seg} was mode 0644 (open to others; audit events can hold secrets): made 0600, and cursor\n"
    )


ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(st.binary(max_size=300), max_size=20)),
        st.tuples(st.just("peek"), st.integers(1, 30)),
        st.tuples(st.just("commit"), st.integers(0, 30)),
        st.tuples(st.just("rewind"), st.none()),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, seg=st.integers(64, 2000), bound=st.integers(4096, 20000))
def test_spool_is_a_bounded_fifo(
    tmp_path_factory: pytest.TempPathFactory, ops: list, seg: int, bound: int
) -> None:
    """Against a model: a list of stored records, a count of peeked ones; reopen forgets the peeks."""
    d = str(tmp_path_factory.mktemp("spool"))
    sp = Spool(d, bound, segment_bytes=seg).open()
    model: list[bytes] = []
    peeked = 0
    for op, arg in ops:
        if op == "append":
            n = sp.append(arg)
            model.extend(arg[:n])
            assert sp.bytes <= bound
            # a record is refused only when it did not fit
            if n < len(arg):
                assert sp.bytes + 8 + len(arg[n]) > bound
        elif op == "peek":
            got = sp.peek(arg)
            assert got == model[peeked : peeked + arg]
            peeked += len(got)
        elif op == "commit":
            k = min(arg, peeked)
            sp.commit(arg)
            del model[:k]
            peeked -= k
        elif op == "rewind":
            sp.rewind()
            peeked = 0
        else:
            sp.close()
            sp = Spool(d, bound, segment_bytes=seg).open()
            peeked = 0
        assert sp.pending == len(model)
    sp.rewind()
    assert drain(sp) == model
    sp.close()

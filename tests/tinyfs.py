"""A small tmpfs for tests of a full file system: mounted for the test, unmounted after it (root only)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_fs(where: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``where`` (created) for the ``with`` block; the test is skipped when it
    cannot be mounted (not root, no mount(8))."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path, leave: int = 0, name: str = "filler") -> Path:
    """Fill ``directory``'s file system with one file until at most ``leave`` bytes are free; the file."""
    path = directory / name
    room = free(directory) - leave
    chunk = b"\0" * (64 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while room > 0:
            try:
                room -= os.write(fd, chunk[: min(room, len(chunk))])
            except OSError:
                break
    finally:
        os.close(fd)
    return path


def free(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize

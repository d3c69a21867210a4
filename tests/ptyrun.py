"""Running a command with its stderr on a pseudo-terminal (what a user at a terminal sees: progress bars)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

__all__ = ["run_on_terminal"]


def run_on_terminal(cmd: list[str], columns: int = 100) -> tuple[int, bytes, bytes]:
    """Run ``cmd`` with stderr on a new pty of ``columns`` columns (TERM=xterm, NO_COLOR), stdout a pipe;
    (exit status, stdout, every byte written to the terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    env.update(TERM="xterm", NO_COLOR="1")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    finally:
        os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal's last writer
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else b""
    return proc.wait(60), stdout, out

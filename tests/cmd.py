"""The ``auditsql`` command the tests run: the script beside this interpreter (the environment under test),
never whichever ``auditsql`` comes first on ``PATH`` (a shim, another install); without one, the module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_EXE = Path(sys.executable).with_name("auditsql")
#: argv prefix of the command
AUDITSQL_CMD = (
    [str(_EXE)] if _EXE.exists() else [sys.executable, "-c", "from auditsql.cli import main; main()"]
)


def run_cli(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``auditsql ARGS`` in ``cwd`` (C.UTF-8 locale), its output captured."""
    env = dict(os.environ, LC_ALL="C.UTF-8")
    return subprocess.run(
        AUDITSQL_CMD + args, cwd=cwd, input=stdin, capture_output=True, timeout=60, env=env, check=False
    )

"""A private PostgreSQL cluster for tests: Debian's ``initdb`` and ``pg_ctl`` on a temp dir and a loopback port.

Never the system cluster: the data directory is the test's own, the server listens on 127.0.0.1 on a free port
with its socket in the data directory, and it is stopped by the pid in its ``postmaster.pid`` (nothing is
stopped by name). ``initdb`` refuses root, so as root the cluster runs as ``nobody``.

The superuser is ``postgres`` with the password :data:`SUPER_PASSWORD` (``scram-sha-256`` on TCP), so that
tests can also meet refused credentials.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPER = "postgres"
SUPER_PASSWORD = "super-secret"
_RUN_AS = "nobody"
#: the tests' server settings: no durability (fast), small
TEST_SETTINGS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=60 -c shared_buffers=32MB"


def bindir() -> Path | None:
    """Debian's newest ``/usr/lib/postgresql/<version>/bin`` (``initdb``, ``pg_ctl``), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One postgres server on ``127.0.0.1:port`` with its data in ``root``; ``stop()``/``start()`` keep both."""

    def __init__(self) -> None:
        b = bindir()
        if b is None:
            raise RuntimeError(
                "PostgreSQL is not installed (apt-get install postgresql); these tests need it"
            )
        self.bin = b
        # its own directory, reachable by the unprivileged user (pytest's tmp dirs are root's, mode 0700)
        self.root = Path(tempfile.mkdtemp(prefix="auditsql-pg-"))
        self.root.chmod(0o711)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.pid: int | None = None
        self._user = pwd.getpwnam(_RUN_AS) if os.geteuid() == 0 else None

    def url(self, user: str = SUPER, password: str | None = SUPER_PASSWORD, db: str = "postgres") -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def _run(self, *cmd: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        kw: dict = {"env": {**os.environ, "PGOPTIONS": "-c search_path=auditsql,public"}}
        if self._user is not None:
            kw |= {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(c) for c in cmd], capture_output=True, check=check, timeout=120, cwd="/", **kw
        )

    def init(self) -> PgCluster:
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(SUPER_PASSWORD + "\n")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        self._run(
            self.bin / "initdb", "-D", self.data, "-U", SUPER, f"--pwfile={pwfile}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        return self

    def start(self, settings: str = TEST_SETTINGS) -> PgCluster:
        """Start the server with ``settings`` (``-c name=value`` options; the tests' own by default)."""
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} {settings}"
        res = self._run(
            self.bin / "pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", opts,
            check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.decode()} {self.log.read_text()[-2000:]}")
        self.pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster's pid), waiting for it to go."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGQUIT)

    def remove(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the Unix socket; its output (tuples only, unaligned)."""
        res = self._run(
            self.bin / "psql", "-h", self.data, "-p", str(self.port), "-U", SUPER, "-d", db, "-X", "-q",
            "-v", "ON_ERROR_STOP=1", "-At", "-c", sql, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.decode().strip()}")
        return res.stdout.decode()

    def create_db(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return name

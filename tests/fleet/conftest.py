"""Fixtures for the fleet tests: a real ``nats-server -js`` on loopback, started and stopped by pid; a private
PostgreSQL cluster (``pg_cluster``, one per session) and a database of its own per test (``pg_url``).

``jetstream`` gives a :class:`NatsServer` on a free port with its own store directory; tests may ``stop()``
and ``start()`` it again (same port, same store) to simulate an outage. Nothing is killed by name.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import PgCluster, bindir

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One nats-server process with JetStream; ``url`` stays the same across stop/start."""

    def __init__(self, store: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.store = store
        self.extra = extra
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / f"nats-{self.port}.log"

    def start(self) -> NatsServer:
        if not Path(NATS_SERVER).exists():
            pytest.fail("nats-server is not installed (apt-get install nats-server); the fleet tests need it")
        cmd = [
            NATS_SERVER,
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store),
            *self.extra,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"nats-server exited: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)
        pytest.fail("nats-server did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def jetstream(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh ``nats-server -js`` for one test."""
    srv = NatsServer(tmp_path / "js").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster for the session (tests/pgcluster.py): initdb + pg_ctl on a temp dir and a
    loopback port, run as an unprivileged user, stopped by its pid. Never the system's cluster."""
    if bindir() is None:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql); the PostgreSQL tests need it")
    cluster = PgCluster().init().start()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: PgCluster, request: pytest.FixtureRequest) -> str:
    """A fresh database of its own for one test; its superuser URL."""
    if pg_cluster.pid is None:  # a test that stopped the server failed before it started it again
        pg_cluster.start()
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg_cluster.create_db(name)
    return pg_cluster.url(db=name)

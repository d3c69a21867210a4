"""One socket or exec action for the end-to-end tests (tests/kernel/test_e2e.py), run as its own process.

``python3 actor.py ACTION MARKER [ARGS...]`` performs ACTION and prints one JSON object of facts (pid, ports,
errno) on stdout; MARKER only makes the process's command line unique.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys


def facts(**kw: object) -> None:
    print(json.dumps({"pid": os.getpid(), **kw}), flush=True)


def tcp_ok(port: str) -> None:
    s = socket.create_connection(("127.0.0.1", int(port)))
    facts(local_port=s.getsockname()[1])
    s.close()


def tcp_refused(port: str) -> None:
    s = socket.socket()
    facts(result=s.connect_ex(("127.0.0.1", int(port))))
    s.close()


def tcp_nonblocking(port: str) -> None:
    s = socket.socket()
    s.setblocking(False)
    facts(result=s.connect_ex(("127.0.0.1", int(port))))
    s.close()


def tcp6(port: str) -> None:
    s = socket.create_connection(("::1", int(port)))
    facts(local_port=s.getsockname()[1])
    s.close()


def udp(port: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", int(port)))
    facts(local_port=s.getsockname()[1])
    s.close()


def unix_path(path: str) -> None:
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    conn, _ = srv.accept()
    for s in (conn, c, srv):
        s.close()
    os.unlink(path)
    facts()


def unix_abstract(name: str) -> None:
    addr = "\0" + name
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(addr)
    srv.listen(1)
    c = socket.socket(socket.AF_UNIX)
    c.connect(addr)
    for s in (c, srv):
        s.close()
    facts()


def bind_ok(port: str) -> None:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    facts()
    s.close()


def bind_in_use(port: str) -> None:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(port)))
        facts(result=0)
    except OSError as exc:
        facts(result=exc.errno)
    s.close()


def accept(port: str) -> None:
    # the listener is this process; the client is a child of ours, so its port is known before accept
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(1)
    srv.setblocking(False)
    try:
        srv.accept()
        nobody = 0
    except BlockingIOError as exc:
        nobody = exc.errno
    srv.setblocking(True)
    pid = os.fork()
    if pid == 0:
        c = socket.create_connection(("127.0.0.1", int(port)))
        c.close()
        os._exit(0)
    conn, peer = srv.accept()
    os.waitpid(pid, 0)
    conn.close()
    srv.close()
    facts(client_pid=pid, client_port=peer[1], nobody=nobody)


def exec_missing(path: str) -> None:
    try:
        os.execv(path, [path, "arg"])
    except OSError as exc:
        facts(result=exc.errno)


def execveat(path: str, *args: str) -> None:
    """execveat(AT_FDCWD, path, argv, envp, 0) by the raw syscall (x86_64: 322)."""
    libc = ctypes.CDLL(None, use_errno=True)
    argv = (ctypes.c_char_p * (len(args) + 2))(path.encode(), *(a.encode() for a in args), None)
    envp = (ctypes.c_char_p * 1)(None)
    facts()
    sys.stdout.flush()
    libc.syscall(322, -100, path.encode(), argv, envp, 0)
    facts(result=ctypes.get_errno())


ACTIONS = {
    f.__name__: f
    for f in (
        tcp_ok,
        tcp_refused,
        tcp_nonblocking,
        tcp6,
        udp,
        unix_path,
        unix_abstract,
        bind_ok,
        bind_in_use,
        accept,
        exec_missing,
        execveat,
    )
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]](*sys.argv[3:])

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


def _accept_with_child(srv: socket.socket, port: int, family: int, plain: bool) -> dict:
    """Fork a client connecting to ``port``, accept it (libc ``accept``, or Python's accept4), reap it."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    pid = os.fork()
    if pid == 0:
        c = socket.create_connection((host, port))
        c.close()
        os._exit(0)
    if plain:
        # glibc's accept() is the accept syscall on x86_64 (not accept4)
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(128)
        size = ctypes.c_uint32(128)
        fd = libc.accept(srv.fileno(), buf, ctypes.byref(size))
        client_port = int.from_bytes(buf.raw[2:4], "big")
        os.close(fd)
    else:
        conn, peer = srv.accept()
        fd = conn.fileno()
        client_port = peer[1]
        conn.close()
    os.waitpid(pid, 0)
    srv.close()
    return {"client_pid": pid, "client_port": client_port, "fd": fd}


def accept_plain(port: str) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(1)
    facts(**_accept_with_child(srv, int(port), socket.AF_INET, plain=True))


def accept6(port: str) -> None:
    srv = socket.socket(socket.AF_INET6)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::1", int(port)))
    srv.listen(1)
    facts(**_accept_with_child(srv, int(port), socket.AF_INET6, plain=False))


def udp_bind(port: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(port)))
    facts()
    s.close()


def fexecve(path: str, *args: str) -> None:
    """execveat(fd, "", argv, envp, AT_EMPTY_PATH) by the raw syscall (x86_64: 322): fexecve of an open fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    argv = (ctypes.c_char_p * (len(args) + 2))(path.encode(), *(a.encode() for a in args), None)
    envp = (ctypes.c_char_p * 1)(None)
    facts(fd=fd)
    sys.stdout.flush()
    libc.syscall(322, fd, b"", argv, envp, 0x1000)
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
        accept_plain,
        accept6,
        udp_bind,
        fexecve,
    )
}

if __name__ == "__main__":
    ACTIONS[sys.argv[1]](*sys.argv[3:])

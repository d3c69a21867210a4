"""The socket keeper: a small process that holds the registered audit socket so that a ``kill -9`` of
``auditsql run`` loses nothing the kernel audited (docs/reliability.md, "kill -9").

The kernel's facts (kernel/audit.c): ``AUDIT_SET pid`` registers the *sending* process (its tgid, and the
request must name it) with the netlink port id of the socket it was sent on (``auditd_set``); kauditd sends
every record to that port id (``netlink_unicast``) and drops the registration only when a send fails with
``ECONNREFUSED`` (the socket is gone) or when the registered process sends ``AUDIT_SET pid 0``. Another
process can neither register while it is healthy (``EEXIST``, after an ``AUDIT_REPLACE`` ping) nor
unregister it (``EACCES``). So the keeper, forked from the agent with a duplicate of its bound socket,
registers itself on that socket and lives on: the agent reads the socket as before; when the agent dies the
socket stays open and registered, and the keeper drains it into the agent's journal (``DB.journal/``, the
same frames at the next positions; :func:`auditsql._core.keeper_drain`, without the GIL) until a new agent
takes it over through ``DB.journal/keeper.sock`` (the socket descriptor passed with ``SCM_RIGHTS``), and
replays the journal as after any kill. A keeper whose agent does not come back stops reading at
:data:`DEFAULT_CAP` bytes or after :data:`DEFAULT_SECONDS`, unregisters, restores the kernel from the
killed run's state file, and exits.

The protocol on the keeper's ``SOCK_SEQPACKET`` connections (one short message each way):
``register`` → ``sent PID SEQ`` (the keeper sent ``AUDIT_SET pid PID`` with sequence ``SEQ`` on the socket;
its ACK arrives on the socket, which the agent reads); ``attach PID`` → ``ok PID FRAMES BYTES ENOBUFS`` with
the socket's descriptor (or ``busy PID`` while an agent is attached); ``exit`` → ``bye`` once the keeper has
unregistered (the caller restores the rest).
"""

from __future__ import annotations

import array
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

from .netlink import AUDIT_SET, NLM_F_ACK, NLM_F_REQUEST, pack_nlmsg
from .status import build_set_payload

__all__ = [
    "DEFAULT_CAP",
    "DEFAULT_SECONDS",
    "KeeperError",
    "KeeperLink",
    "attach",
    "keeper_path",
    "main",
    "spawn",
    "stop_keeper",
]

#: the keeper's socket in the journal directory
SOCK_NAME = "keeper.sock"
#: what a keeper without its agent journals at most (bytes of frames): about 4 minutes of 500 exec/s
DEFAULT_CAP = 256 << 20
#: how long a keeper without its agent drains at most before it restores the kernel and exits
DEFAULT_SECONDS = 600.0
#: the longest wait for the keeper's answer
ANSWER_SECONDS = 5.0
#: AF_UNIX path length limit (sun_path)
_SUN_PATH = 107


class KeeperError(Exception):
    """The keeper cannot be used; the message is one line for the user."""


def keeper_path(journal_dir: str) -> str:
    """The keeper's socket of the journal ``journal_dir``."""
    return os.path.join(journal_dir, SOCK_NAME)


def _ask(conn: socket.socket, msg: bytes, fds: bool = False) -> tuple[list[bytes], list[int]]:
    conn.settimeout(ANSWER_SECONDS)
    conn.send(msg)
    if fds:
        data, got, _flags, _addr = socket.recv_fds(conn, 256, 1)
    else:
        data, got = conn.recv(256), []
    if not data:
        raise KeeperError("the socket keeper went away")
    return data.split(), got


@dataclass
class KeeperLink:
    """The agent's end of its keeper: the control connection (it closes when the agent dies) and the
    keeper's pid; ``drained``: what it journaled while no agent read (when this run took it over)."""

    conn: socket.socket
    pid: int
    proc: subprocess.Popen[bytes] | None = None
    #: the audit socket's descriptor received from the keeper (attach), else None
    fd: int | None = None
    drained: tuple[int, int, int] = (0, 0, 0)

    def register(self) -> int:
        """Has the keeper send ``AUDIT_SET pid`` (its own) on the shared socket; the request's sequence number
        (its ACK arrives on the socket)."""
        try:
            words, _ = _ask(self.conn, b"register")
        except OSError as exc:
            raise KeeperError(f"the socket keeper did not answer: {exc.strerror or exc}") from None
        if len(words) != 3 or words[0] != b"sent":
            raise KeeperError(f"the socket keeper answered {b' '.join(words)!r}")
        return int(words[2])

    def stop(self) -> bool:
        """A clean stop: the keeper unregisters and exits. Whether it said so."""
        ok = False
        try:
            words, _ = _ask(self.conn, b"exit")
            ok = words[:1] == [b"bye"]
        except (OSError, KeeperError):
            ok = False
        finally:
            self.conn.close()
        if self.proc is not None:
            try:
                self.proc.wait(ANSWER_SECONDS)
            except subprocess.TimeoutExpired:
                ok = False
        return ok


def spawn(sock_fd: int, journal_dir: str, state_file: str | None, cap: int, seconds: float) -> KeeperLink:
    """Forks the keeper (``python -m auditsql.kernel.keeper``) with a duplicate of the bound audit socket
    ``sock_fd``, in a session of its own (a signal to the agent's process group leaves it alone), in ``/``."""
    journal_dir = os.path.abspath(journal_dir)
    state_file = os.path.abspath(state_file) if state_file else None
    path = keeper_path(journal_dir)
    if len(os.fsencode(path)) > _SUN_PATH:
        raise KeeperError(f"the keeper's socket path is too long for AF_UNIX: {path}")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # -S: no site module (its .pth files can import much: 5 MB here); the agent's own module path instead
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))}
    argv = [
        sys.executable,
        "-S",
        "-m",
        "auditsql.kernel.keeper",
        str(sock_fd),
        str(theirs.fileno()),
        journal_dir,
        state_file or "",
        str(cap),
        repr(seconds),
        str(os.getpid()),
    ]
    try:
        proc = subprocess.Popen(
            argv,
            pass_fds=(sock_fd, theirs.fileno()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # its few lines go to stderr, the agent's (the journal under systemd)
            start_new_session=True,
            cwd="/",  # it holds no directory of the agent's busy
            env=env,
        )
    except OSError as exc:
        ours.close()
        raise KeeperError(f"cannot start the socket keeper: {exc.strerror or exc}") from None
    finally:
        theirs.close()
    ours.settimeout(ANSWER_SECONDS * 2)  # an interpreter's start
    try:
        data = ours.recv(256)
    except OSError as exc:
        data = b""
        why = exc.strerror or str(exc)
    else:
        why = "it exited" if not data else f"it said {data!r}"
    words = data.split()
    if len(words) != 2 or words[0] != b"ready":
        ours.close()
        proc.kill()
        proc.wait()
        raise KeeperError(f"the socket keeper did not start: {why}")
    return KeeperLink(ours, int(words[1]), proc)


def _connect(journal_dir: str) -> socket.socket | None:
    """A connection to the keeper of ``journal_dir``; None when there is none (a stale socket is removed)."""
    path = keeper_path(journal_dir)
    if not os.path.exists(path):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        conn.close()
        try:
            os.unlink(path)  # its keeper is gone
        except FileNotFoundError:
            pass
        return None
    except OSError as exc:
        conn.close()
        raise KeeperError(f"cannot reach the socket keeper {path}: {exc.strerror or exc}") from None
    return conn


def attach(journal_dir: str) -> KeeperLink | None:
    """A new run takes over the keeper of its journal, and the registered audit socket it holds; None when
    no keeper is there. Call it before the journal is opened: the keeper stops writing it first."""
    conn = _connect(journal_dir)
    if conn is None:
        return None
    try:
        words, fds = _ask(conn, b"attach %d" % os.getpid(), fds=True)
    except (OSError, KeeperError) as exc:
        conn.close()
        raise KeeperError(f"the socket keeper did not answer: {exc}") from None
    if words[:1] == [b"busy"]:
        conn.close()
        pid = int(words[1]) if len(words) > 1 else 0
        raise KeeperError(
            f"the journal {journal_dir} belongs to a running auditsql (pid {pid}); stop it or choose another store"
        )
    if words[:1] != [b"ok"] or len(words) != 5 or len(fds) != 1:
        conn.close()
        for fd in fds:
            os.close(fd)
        raise KeeperError(f"the socket keeper answered {b' '.join(words)!r}")
    conn.settimeout(None)
    frames, nbytes, enobufs = (int(w) for w in words[2:5])
    return KeeperLink(conn, int(words[1]), fd=fds[0], drained=(frames, nbytes, enobufs))


def stop_keeper(journal_dir: str) -> int | None:
    """Tells the keeper of ``journal_dir`` (an agent's that died) to unregister and exit; its pid, or None
    when there was none. Whatever it journaled stays for the next run."""
    conn = _connect(journal_dir)
    if conn is None:
        return None
    try:
        words, _ = _ask(conn, b"exit")
    except (OSError, KeeperError) as exc:
        raise KeeperError(f"the socket keeper did not answer: {exc}") from None
    finally:
        conn.close()
    if words[:1] == [b"busy"]:
        raise KeeperError(
            f"the journal {journal_dir} belongs to a running auditsql (pid {words[1].decode()})"
        )
    return int(words[1]) if len(words) > 1 else 0


# -- the keeper process ------------------------------------------------------------------------------------


def _say(msg: str, level: str = "info") -> None:
    """One line on stderr as the agent writes them (imported only when there is something to say)."""
    from auditsql import log

    log.log(level, f"keeper (pid {os.getpid()}): {msg}")


def _same_user(conn: socket.socket) -> bool:
    """Whether the peer runs as this process's user (the socket is 0600 too: it hands out the audit socket)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.geteuid()


class _Keeper:
    def __init__(
        self,
        sock_fd: int,
        ctl_fd: int,
        journal_dir: str,
        state_file: str,
        cap: int,
        seconds: float,
        agent: int,
    ) -> None:
        self.sock = socket.socket(fileno=sock_fd)
        self.ctl: socket.socket | None = socket.socket(fileno=ctl_fd)
        self.dir = journal_dir
        self.state_file = state_file
        self.cap = cap
        self.seconds = seconds
        self.agent = agent
        self.seq = 0x4B50
        self.path = keeper_path(journal_dir)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def run(self) -> int:
        try:
            os.unlink(self.path)  # the agent found no live keeper here
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        self.listener.listen(4)
        assert self.ctl is not None
        self.ctl.send(b"ready %d" % os.getpid())
        while True:
            if not self._attached():
                return 0
            if not self._orphaned():
                return 0

    def _attached(self) -> bool:
        """Serves the agent until it dies (True) or says exit (False)."""
        import select

        ctl = self.ctl
        assert ctl is not None
        while True:
            ready, _, _ = select.select([ctl, self.listener], [], [])
            if self.listener in ready:
                conn, _ = self.listener.accept()
                conn.settimeout(ANSWER_SECONDS)
                try:
                    conn.recv(256)  # whatever it asks: an agent is attached
                    conn.send(b"busy %d" % self.agent)
                except OSError:
                    pass
                conn.close()
                continue
            try:
                msg = ctl.recv(256)
            except OSError:
                msg = b""
            if not msg:
                ctl.close()
                self.ctl = None
                return True
            if msg == b"register":
                seq = self.seq
                self.seq += 1
                payload = build_set_payload(pid=os.getpid())
                self.sock.sendto(pack_nlmsg(AUDIT_SET, payload, NLM_F_REQUEST | NLM_F_ACK, seq), (0, 0))
                ctl.send(b"sent %d %d" % (os.getpid(), seq))
            elif msg == b"exit":
                self._unregister()
                self._cleanup()
                ctl.send(b"bye %d" % os.getpid())
                ctl.close()
                return False

    def _orphaned(self) -> bool:
        """Drains the socket into the journal until a new agent attaches (True), or the cap, the deadline or
        an exit request ends the keeper (False)."""
        from auditsql._core import journal_recover, keeper_drain

        start = int(journal_recover(self.dir)["end"])
        deadline = time.monotonic() + self.seconds
        _say(
            f"auditsql (pid {self.agent}) is gone: the audit socket stays registered; journaling it into "
            f"{self.dir} until the next start takes it over (at most {self.seconds:g} s, {self.cap} bytes)",
            "warning",
        )
        frames = nbytes = enobufs = 0
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            end, rep = keeper_drain(
                self.sock.fileno(), self.listener.fileno(), self.dir, start, self.cap - nbytes, left
            )
            frames += rep["frames"]
            nbytes += rep["bytes"]
            enobufs += rep["enobufs"]
            start = rep["end"]
            if end != "woken":
                why = f"{self.cap} bytes journaled" if end == "cap" else f"{self.seconds:g} s"
                self._give_up(f"no auditsql took the socket over ({why}; {frames} records journaled)")
                return False
            conn, _ = self.listener.accept()
            conn.settimeout(ANSWER_SECONDS)
            try:
                msg = conn.recv(256).split() if _same_user(conn) else []
            except OSError:
                conn.close()
                continue
            if msg[:1] == [b"attach"] and len(msg) == 2:
                answer = b"ok %d %d %d %d" % (os.getpid(), frames, nbytes, enobufs)
                try:
                    conn.sendmsg(
                        [answer],
                        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [self.sock.fileno()]))],
                    )
                except OSError:
                    conn.close()
                    continue
                conn.settimeout(None)
                self.ctl = conn
                self.agent = int(msg[1])
                _say(
                    f"auditsql (pid {self.agent}) took the audit socket over; {frames} records journaled meanwhile"
                )
                return True
            if msg == [b"exit"]:
                self._unregister()
                self._cleanup()
                try:
                    conn.send(b"bye %d" % os.getpid())
                finally:
                    conn.close()
                return False
            conn.close()

    def _unregister(self) -> None:
        from .netlink import AuditSocket
        from .status import get_status, set_status

        try:
            with AuditSocket() as s:
                if get_status(s).pid == os.getpid():
                    set_status(s, pid=0)
        except OSError as exc:
            _say(f"cannot unregister: {exc}", "error")

    def _give_up(self, why: str) -> None:
        """No agent came back: unregister, undo the killed run's changes, leave the journal for the next run."""
        # the socket closed first: nothing can then block the kernel's AUDIT_REPLACE ping of the unregistration
        # on a full socket buffer, and the restore does not find this keeper to stop
        self._cleanup()
        self._unregister()
        done = "unregistered"
        if self.state_file:
            from .snapshot import restore_from_file

            try:
                rep = restore_from_file(self.state_file)
            except (OSError, ValueError, RuntimeError) as exc:
                done += f"; cannot restore the kernel from {self.state_file}: {exc}"
            else:
                done += "; kernel restore: " + ", ".join(rep.actions + rep.notes + rep.problems)
        _say(f"{why}: {done}; the journal stays for the next start", "warning")

    def _cleanup(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.listener.close()
        self.sock.close()


def main(argv: list[str] | None = None) -> int:
    """The keeper process: ``SOCK_FD CTL_FD JOURNAL_DIR STATE_FILE CAP SECONDS AGENT_PID``."""
    args = sys.argv[1:] if argv is None else argv
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends when told, or when its agent does not come back
    sock_fd, ctl_fd, journal_dir, state_file, cap, seconds, agent = args
    try:  # its name in ps and in "the audit socket belongs to pid N (auditsql-keeper)"
        with open("/proc/self/comm", "w") as fh:
            fh.write("auditsql-keeper")
    except OSError:
        pass
    k = _Keeper(int(sock_fd), int(ctl_fd), journal_dir, state_file, int(cap), float(seconds), int(agent))
    try:
        return k.run()
    except Exception as exc:  # a bug: said, and the kernel not left registered to a dead socket's holder
        _say(f"failed: {type(exc).__name__}: {exc}", "error")
        k._give_up("the keeper failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())

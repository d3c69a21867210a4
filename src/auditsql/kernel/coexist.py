"""Living beside other audit consumers: keep auditsql's kernel changes in place while others make theirs.

The kernel's audit state is machine-wide and other tools change it while auditsql runs: ``augenrules
--load`` (run by auditd.service after every auditd start) begins with ``-D`` and deletes auditsql's rules
with everybody else's; an admin's ``auditctl -e 0`` or auditd's ``audit-stop.rules`` turns audit off; auditd
comes and goes as the registered daemon. :class:`KernelWatch` is called by the agent's loop once a second
with the status it polls anyway (no extra request), and right away when a ``CONFIG_CHANGE`` record in the
stream says a rule was removed, audit was disabled or a daemon registration changed. It:

- re-adds the rules auditsql added when they vanished (checked every ``rules_interval`` seconds with one
  ``AUDIT_LIST_RULES`` request, and at the next poll after a ``remove_rule`` record), with one warning line;
  they stay recorded once in the session, which deletes them at exit as before;
- sets ``enabled`` back to 1 when someone set it to 0 (the session records it, and puts 0 back at exit);
- says when the registered daemon changes. Multicast needs nothing from the daemon (the kernel multicasts
  every record whether or not a daemon is registered), so auditsql keeps reading and only says so;
- as the unicast daemon, says when another process (auditd) tried to register and the kernel refused it
  (``EEXIST``: a live daemon is never replaced), with the way out.

Everything it does is counted in :attr:`KernelWatch.counters` and said on stderr; nothing is silent.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from auditsql._core import parse_line

from .netlink import AUDIT_ADD_RULE, AuditNetlinkError
from .rules import kernel_normalize
from .snapshot import KernelSession, list_rules, process_name
from .status import AuditStatus, get_status

__all__ = ["AUDIT_CONFIG_CHANGE", "KernelWatch"]

#: the record type the kernel emits for every change of its audit configuration
AUDIT_CONFIG_CHANGE = 1305


class KernelWatch:
    """Keeps auditsql's rules loaded and audit enabled while others change the kernel; notes daemon changes.

    ``session`` is the run's :class:`KernelSession` (its recorded rules are the ones kept); ``mode`` is the
    live source (``unicast`` or ``multicast``); ``say`` prints one line for the user; ``daemon_pid`` the pid
    registered for auditsql (its socket keeper's; default this process).
    """

    def __init__(
        self,
        session: KernelSession,
        mode: str,
        say: Callable[[str], None],
        rules_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        daemon_pid: int | None = None,
    ) -> None:
        self.session = session
        #: the pid auditsql registered as the audit daemon: its own, or its socket keeper's
        self.daemon_pid = daemon_pid if daemon_pid else os.getpid()
        self.mode = mode
        self.say = say
        self.rules_interval = rules_interval
        self._clock = clock
        self._next_rules = clock() + rules_interval
        #: a CONFIG_CHANGE record asked for a check at the next opportunity
        self.due = False
        self._rules_due = False
        self._daemon: int | None = None
        self._refused: set[int] = set()
        self._failed: set[str] = set()
        self.counters: dict[str, int] = {
            "rules_readded": 0,  # rules of auditsql's put back after someone deleted them
            "reenabled": 0,  # times enabled was set back to 1
            "daemon_changes": 0,  # the registered daemon changed
            "refused_daemons": 0,  # registrations the kernel refused while auditsql was the daemon
        }

    # -- the record stream -------------------------------------------------------------------------------

    def record(self, text: bytes) -> None:
        """A ``CONFIG_CHANGE`` record's raw text (the pipeline picks them out): note what needs a check."""
        fields = config_fields(text)
        op = fields.get("op")
        if op == "remove_rule":
            # checked at the next poll (within a second), not now: `auditctl -D` deletes one rule at a time
            self._rules_due = True
        elif fields.get("audit_enabled") == "0" or fields.get("audit_pid") is not None:
            self.due = True
        new = fields.get("audit_pid")
        if self.mode == "unicast" and new not in (None, "0") and fields.get("res") == "0":
            pid = int(new) if new and new.isdigit() else 0
            if fields.get("old") == str(self.daemon_pid) and pid not in self._refused:
                self._refused.add(pid)
                self.counters["refused_daemons"] += 1
                self.say(
                    f"pid {pid} ({process_name(pid)}) tried to register as the audit daemon and the kernel "
                    "refused it: auditsql holds the kernel's audit socket (unicast). To run auditd, stop "
                    "auditsql, start auditd, then auditsql (auto then reads by multicast beside it)"
                )

    # -- the periodic check ------------------------------------------------------------------------------

    def check(self, status: AuditStatus | None = None, now: float | None = None) -> None:
        """Compare the kernel with what auditsql needs and put back what others undid. ``status`` is the
        status just polled (read here when None)."""
        self.due = False
        sock = self.session.sock
        try:
            st = status if status is not None else get_status(sock)
        except OSError as exc:
            self._fail("status", f"cannot read the audit status to check auditsql's settings: {exc}")
            return
        self._check_daemon(st)
        if st.enabled == 0:
            self._reenable()
        now = self._clock() if now is None else now
        if self._rules_due or now >= self._next_rules:
            self._rules_due = False
            self._next_rules = now + self.rules_interval
            self._check_rules()

    def _check_daemon(self, st: AuditStatus) -> None:
        pid = st.pid or 0
        old = self._daemon
        self._daemon = pid
        if old is None or pid == old:
            return
        self.counters["daemon_changes"] += 1
        if self.mode == "unicast":
            if pid != self.daemon_pid:
                self.say(
                    f"the kernel no longer sends records to auditsql: the audit daemon is now "
                    f"{_who(pid)}; restart auditsql to read again"
                )
            return
        if pid == 0:
            self.say(
                f"the audit daemon (pid {old}) left; auditsql goes on reading by multicast, which gets every "
                "record with or without a daemon"
            )
        else:
            self.say(f"{_who(pid)} is now the audit daemon; auditsql goes on reading by multicast")

    def _reenable(self) -> None:
        try:
            self.session.set(enabled=1)
        except (AuditNetlinkError, PermissionError, ValueError) as exc:
            self._fail("enabled", f"audit was disabled (enabled 0) and cannot be enabled again: {exc}")
            return
        self.counters["reenabled"] += 1
        self.say(
            "audit was disabled (enabled 0) by someone else; auditsql set it back to 1 (0 again at exit)"
        )

    def _check_rules(self) -> None:
        state = self.session.state
        if state is None or not state.added_rules:
            return
        sock = self.session.sock
        try:
            present = set(list_rules(sock))
        except OSError as exc:
            self._fail("list", f"cannot list the kernel's rules to check auditsql's: {exc}")
            return
        missing = [p for h in state.added_rules if kernel_normalize(p := bytes.fromhex(h)) not in present]
        if not missing:
            return
        back = 0
        for payload in missing:
            try:
                sock.request(AUDIT_ADD_RULE, payload)
                back += 1
            except AuditNetlinkError as exc:
                if exc.errno == errno.EEXIST:
                    continue  # listed differently, but the kernel has it: nothing was deleted
                why = "audit is locked (enabled 2)" if exc.errno == errno.EPERM else exc.errno_name
                self._fail(
                    "readd", f"{len(missing)} of auditsql's rules were deleted and cannot be re-added: {why}"
                )
                break
        if back:
            self.counters["rules_readded"] += back
            self.say(
                f"{back} of auditsql's {len(state.added_rules)} rules were deleted by someone else "
                "(auditctl -D, augenrules --load?); re-added"
            )

    def _fail(self, what: str, message: str) -> None:
        """Say a failure once per kind (the next check would say it again every second)."""
        if what not in self._failed:
            self._failed.add(what)
            self.say(message)


def _who(pid: int) -> str:
    return "no process" if not pid else f"pid {pid} ({process_name(pid)})"


def config_fields(text: bytes) -> dict[str, str]:
    """A record's fields as written (the first of each key), as text: what :meth:`KernelWatch.record` reads."""
    out: dict[str, str] = {}
    for rec in parse_line(text, False):
        for k, v in rec["fields"]:
            key = k.decode("utf-8", "replace")
            if key not in out:
                out[key] = v.decode("utf-8", "replace")
    return out

"""Connecting to the PostgreSQL store: one place for the URL, the schema, read-only sessions and the one-line errors.

Both sides use it: the collector (:mod:`auditsql.fleet.pg_sink`) writes, the query path opens with
``read_only=True`` (every transaction of the session is ``READ ONLY``: PostgreSQL itself refuses writes, whatever
the role may do). Every session has ``search_path`` set to :data:`SCHEMA` only, so the registry's table names are
used unqualified and nothing of another schema is found by accident.

psycopg (3) is imported here, lazily, and by nothing on the agent's path: ``auditsql run`` never loads it.

Errors a user meets at connection time are :class:`PgError`, one line naming the server (without the password)
and the fix; ``code`` is 2 (bad input: unreachable server, refused credentials, missing database), the exit
status of ``auditsql collect``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA", "PgError", "connect", "is_url", "redact", "transient"]

#: the PostgreSQL schema (namespace) holding every auditsql table
SCHEMA = "auditsql"
#: seconds a connection attempt may take
CONNECT_TIMEOUT = 5


class PgError(Exception):
    """The PostgreSQL store cannot be used; ``str()`` is one line. ``code``: the exit status (2: bad input)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def is_url(store: str) -> bool:
    """Whether ``store`` names a PostgreSQL server (``postgresql://`` or ``postgres://``)."""
    return store.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the PostgreSQL URL"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _import() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise PgError(f"the PostgreSQL store needs psycopg: pip install 'psycopg[binary]' ({exc})") from None
    return psycopg


def connect(url: str, *, read_only: bool = False, application: str = "auditsql") -> psycopg.Connection:
    """An autocommit connection to ``url`` with ``search_path`` = :data:`SCHEMA`; read-only sessions when asked.

    Raises :class:`PgError` (one line, code 2) for an unreachable server, refused credentials, a missing
    database or a malformed URL."""
    psycopg = _import()
    options = f"-c search_path={SCHEMA}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=application,
            options=options,
        )
    except psycopg.ProgrammingError as exc:  # a malformed URL / conninfo
        raise PgError(f"bad PostgreSQL URL {redact(url)}: {_first_line(exc)}") from None
    except psycopg.OperationalError as exc:
        raise PgError(f"PostgreSQL {redact(url)}: {why(exc)}") from None
    return conn


def why(exc: BaseException) -> str:
    """A connection failure in a few words, with the fix."""
    text = str(exc)
    m = re.search(r"FATAL:\s+(.*)", text)
    detail = (m.group(1) if m else _first_line(exc)).strip()
    if (
        "password authentication failed" in detail
        or "no password supplied" in text
        or "authentication" in detail
    ):
        return f"the server refused the credentials ({detail}) (fix the user and password in the URL)"
    if re.search(r'database ".*" does not exist', detail):
        return f"{detail} (create it: createdb, or CREATE DATABASE as its owner)"
    if re.search(r'role ".*" does not exist', detail):
        return f"{detail} (create the role: docs/fleet.md)"
    if "Connection refused" in text or "could not connect" in text or "timeout expired" in text:
        return "connection refused (is the server running and listening there?)"
    return detail


def transient(exc: BaseException) -> bool:
    """Whether a failed statement is worth retrying (the server went away, a deadlock, a serialization or
    shutdown error), rather than the data or the rights being wrong."""
    psycopg = _import()
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.TransactionRollback):
        return not isinstance(exc, psycopg.errors.InsufficientPrivilege)
    return isinstance(exc, psycopg.InterfaceError)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__

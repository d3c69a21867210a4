"""NATS connection options shared by the agent's NATS output, the collector and fleet queries.

:class:`NatsOptions` holds the ``[output.nats]`` keys (``NatsOptions.from_config(config.output.nats)``), and
:func:`connect` opens a nats-py connection with them: a comma-separated server list, a ``.creds`` file (JWT and
NKey), an NKey seed file, user and password, a token, TLS (CA, client certificate and key; ``tls://`` URLs).

The first connection tries every server a couple of times and then fails with :class:`ConnectError`, one line
that says whether the servers could not be reached (``auth`` False: the caller may retry later) or refused the
credentials (``auth`` True: retrying does not help). Once connected, the client reconnects by itself forever
(nats-py's reconnect loop), so a server restart is a pause, not an error.

Subjects are ``<prefix>.<host>.<table>``; :func:`subject_token` makes a host name one safe subject token.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import nats
from nats.aio.client import Client

__all__ = [
    "DUPLICATE_WINDOW",
    "ConnectError",
    "NatsOptions",
    "StreamError",
    "connect",
    "ensure_stream",
    "server_list",
    "subject_token",
]


class ConnectError(Exception):
    """The connection could not be made; ``str()`` is one line. ``auth`` is True when the server refused the
    credentials (or TLS), False when no server could be reached."""

    def __init__(self, msg: str, auth: bool = False) -> None:
        super().__init__(msg)
        self.auth = auth


@dataclass(frozen=True)
class NatsOptions:
    """The ``[output.nats]`` keys (see docs/configuration.md); defaults as there."""

    url: str = "nats://127.0.0.1:4222"
    host: str = ""
    subject_prefix: str = "auditsql"
    stream: str = "AUDITSQL"
    events: bool = True
    results: bool = True
    spool_dir: str = "/var/lib/auditsql/spool"
    spool_max_bytes: int = 1 << 30
    ack_timeout: float = 5.0
    buffer: int = 100000
    creds: str = ""
    nkeys_seed: str = ""
    user: str = ""
    password: str = ""
    token: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    @classmethod
    def from_config(cls, section: Any) -> NatsOptions:
        """From ``config.output.nats`` (any object or dict with these names; missing ones keep the default)."""
        get = section.get if isinstance(section, dict) else lambda k, d: getattr(section, k, d)
        return cls(**{f.name: get(f.name, f.default) for f in fields(cls)})

    def servers(self) -> list[str]:
        return server_list(self.url)

    def identity(self, fallback: str | None = None) -> str:
        """This agent's host name: ``host``, else ``fallback`` (the results log's host identifier), else the
        hostname."""
        return self.host or fallback or socket.gethostname().strip()


def server_list(url: str) -> list[str]:
    """``"nats://a:4222, nats://b:4222"`` -> ``["nats://a:4222", "nats://b:4222"]``; a bare ``host:port`` gets
    ``nats://``."""
    out = []
    for part in url.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" not in part:
            part = "nats://" + part
        out.append(part)
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def subject_token(name: str) -> str:
    """A host name as one NATS subject token: every character outside ``[A-Za-z0-9_-]`` (dots, spaces,
    ``*``, ``>``, non-ASCII) becomes ``_``; empty becomes ``_``. ``web1.example.com`` -> ``web1_example_com``.
    The real name travels in the messages and is what the ``host`` column holds."""
    return _UNSAFE.sub("_", name) or "_"


def _tls_context(opts: NatsOptions) -> ssl.SSLContext | None:
    wants = opts.tls_ca or opts.tls_cert or any(s.startswith("tls://") for s in opts.servers())
    if not wants:
        return None
    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise ConnectError("[output.nats] tls_cert and tls_key go together: set both or neither", auth=True)
    try:
        ctx = ssl.create_default_context(cafile=opts.tls_ca or None)
        if opts.tls_cert:
            ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
    except (OSError, ssl.SSLError) as exc:
        what = getattr(exc, "strerror", None) or str(exc)
        raise ConnectError(
            f"[output.nats] TLS files (tls_ca, tls_cert, tls_key) cannot be used: {what}", auth=True
        ) from None
    return ctx


def _auth_kwargs(opts: NatsOptions) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key, path in (("creds", opts.creds), ("nkeys_seed", opts.nkeys_seed)):
        if not path:
            continue
        if not os.access(path, os.R_OK):
            raise ConnectError(f"[output.nats] {key} {path}: cannot read the file (fix the path)", auth=True)
        try:
            import nkeys  # noqa: F401 - nats-py signs with it
        except ImportError:
            raise ConnectError(
                f"[output.nats] {key} needs the Python package nkeys, which is not installed "
                "(pip install nkeys, or use user/password or token)",
                auth=True,
            ) from None
    if opts.creds:
        kw["user_credentials"] = opts.creds
    if opts.nkeys_seed:
        kw["nkeys_seed"] = opts.nkeys_seed
    if opts.user or opts.password:
        kw["user"], kw["password"] = opts.user, opts.password
    if opts.token:
        kw["token"] = opts.token
    return kw


def _describe(err: BaseException | None) -> tuple[str, bool]:
    """(one line, is it an authorization/TLS refusal)"""
    if err is None:
        return "no server answered", False
    name = type(err).__name__
    text = str(err).strip().strip("'") or name
    low = text.lower()
    if isinstance(err, nats.errors.AuthorizationError) or "authorization" in low or "authentication" in low:
        return "the server refused the credentials (authorization violation)", True
    if isinstance(
        err, ssl.SSLError | nats.errors.SecureConnRequiredError | nats.errors.SecureConnFailedError
    ):
        return f"TLS failed: {text}", True
    if isinstance(err, ConnectionRefusedError):
        return "connection refused", False
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower(), False
    if isinstance(err, asyncio.TimeoutError):
        return "timed out", False
    return text, False


async def connect(
    opts: NatsOptions,
    name: str,
    *,
    connect_timeout: float = 2.0,
    attempts: int = 2,
    disconnected_cb: Callable[[], Awaitable[None]] | None = None,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
    error_cb: Callable[[Exception], Awaitable[None]] | None = None,
) -> Client:
    """Connect with ``opts``; ``name`` labels the connection in the server's monitoring.

    Every server is tried ``attempts`` times (half a second apart) before :class:`ConnectError`; once
    connected the client reconnects forever on its own. Errors after the connection is up go to ``error_cb``
    (default: ignored; nats-py's default prints them)."""
    servers = opts.servers()
    if not servers:
        raise ConnectError("[output.nats] url is empty: set it to nats://HOST:PORT", auth=True)
    kw = _auth_kwargs(opts)
    tls = _tls_context(opts)
    if tls is not None:
        kw["tls"] = tls
    last: list[BaseException] = []

    async def on_error(exc: Exception) -> None:
        last.append(exc)
        if error_cb is not None:
            await error_cb(exc)

    async def noop() -> None:
        return None

    try:
        nc = await nats.connect(
            servers,
            name=name,
            connect_timeout=max(1, round(connect_timeout)),
            reconnect_time_wait=0.5,  # type: ignore[arg-type]
            max_reconnect_attempts=max(1, attempts - 1),
            allow_reconnect=True,
            error_cb=on_error,
            disconnected_cb=disconnected_cb or noop,
            reconnected_cb=reconnected_cb or noop,
            closed_cb=noop,
            **kw,
        )
    except Exception as exc:  # nats-py raises NoServersError after the attempts; the cause went to error_cb
        cause = next((e for e in reversed(last) if _describe(e)[1]), last[-1] if last else exc)
        why, auth = _describe(cause)
        raise ConnectError(f"NATS {', '.join(servers)}: {why}", auth=auth) from None
    # from now on: reconnect forever, every 2 s (nats-py reads these options on each disconnection)
    nc.options["max_reconnect_attempts"] = -1
    nc.options["reconnect_time_wait"] = 2
    return nc


#: JetStream drops a message whose ``Nats-Msg-Id`` it stored within this many seconds (the stream's
#: ``duplicate_window``, set when auditsql creates the stream)
DUPLICATE_WINDOW = 120.0


class StreamError(Exception):
    """The stream cannot be found or created; ``str()`` is one line."""


async def ensure_stream(nc: Client, opts: NatsOptions) -> str | None:
    """Create the stream ``opts.stream`` over ``<prefix>.>`` (file storage, duplicate window
    :data:`DUPLICATE_WINDOW`) when it is missing. Returns a warning line when an existing stream does not cover
    the subjects or deduplicates over a shorter window; raises :class:`StreamError` when JetStream is off."""
    import nats.js.errors as jse
    from nats.js.api import StorageType, StreamConfig

    js = nc.jetstream()
    subject = f"{opts.subject_prefix}.>"
    try:
        info = await js.stream_info(opts.stream)
    except jse.NotFoundError:
        try:
            await js.add_stream(
                StreamConfig(
                    name=opts.stream,
                    subjects=[subject],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW,
                )
            )
        except jse.APIError as exc:
            raise StreamError(
                f"cannot create the JetStream stream {opts.stream}: {exc.description}"
            ) from None
        return None
    except jse.ServiceUnavailableError:
        raise StreamError("JetStream is not enabled on the server (start nats-server with -js)") from None
    except nats.errors.NoRespondersError:
        raise StreamError("JetStream is not enabled on the server (start nats-server with -js)") from None
    except nats.errors.TimeoutError:
        raise StreamError("the server did not answer the JetStream request (is JetStream enabled?)") from None
    cfg = info.config
    subjects = cfg.subjects or []
    if subject not in subjects and ">" not in subjects:
        return (
            f"the stream {opts.stream} has subjects {', '.join(subjects)}, not {subject}: "
            "publishing will fail (fix the stream or [output.nats] stream / subject_prefix)"
        )
    if (cfg.duplicate_window or 0) < DUPLICATE_WINDOW:
        return (
            f"the stream {opts.stream} deduplicates over {cfg.duplicate_window or 0:g} s only "
            f"(auditsql creates it with {DUPLICATE_WINDOW:g} s)"
        )
    return None

"""One audit record: its header, its fields as written, and its exact raw text.

A record is what the kernel (or a user-space program through AUDIT_USER) emits as one message, and what
auditd writes as one line: ``[node=N ]type=T msg=audit(SEC.MSEC:SERIAL): key=value ...``.

Fields are kept as written (value tokens with their quotes), in order, duplicates included; decoding into typed
values happens in :mod:`auditsql.records.values`. The raw text is kept so that every record can be given back
byte for byte (``text.encode("utf-8", "surrogateescape")``).
"""

from __future__ import annotations

__all__ = ["Record", "FREE_TEXT"]

#: key under which words that are not ``key=value`` (``login``, ``policy loaded``, free text) are kept
FREE_TEXT = ""


class Record:
    """A parsed record. ``error`` is set (and ``type`` may be 0) when the line could not be parsed."""

    __slots__ = ("node", "type", "name", "sec", "msec", "serial", "text", "body", "fields", "enrich", "error")

    def __init__(
        self,
        text: str,
        node: str | None = None,
        type: int = 0,
        name: str = "",
        sec: int = 0,
        msec: int = 0,
        serial: int = 0,
        body: str = "",
        fields: list[tuple[str, str]] | None = None,
        enrich: list[tuple[str, str]] | None = None,
        error: str | None = None,
    ) -> None:
        #: exact raw text of the record (no line terminator); non-UTF-8 bytes as surrogate escapes
        self.text = text
        #: ``node=`` prefix, or None
        self.node = node
        #: numeric record type (1300 for SYSCALL); 0 if unknown
        self.type = type
        #: type name as written or resolved (``SYSCALL``, ``UNKNOWN[1329]``)
        self.name = name
        self.sec = sec
        self.msec = msec
        self.serial = serial
        #: text after the header (``arch=c000003e syscall=59 ...``), enrichment tail included
        self.body = body
        #: ``(key, token)`` pairs as written; free words have key ``FREE_TEXT``
        self.fields: list[tuple[str, str]] = fields if fields is not None else []
        #: ``(KEY, token)`` pairs of the ENRICHED tail (after 0x1d, glued, or after a space)
        self.enrich: list[tuple[str, str]] = enrich if enrich is not None else []
        #: why the record could not be parsed, or None
        self.error = error

    @property
    def key(self) -> tuple[str | None, int, int, int]:
        """The event identity: (node, sec, msec, serial)."""
        return (self.node, self.sec, self.msec, self.serial)

    @property
    def id(self) -> str:
        """laurel/auditd style event id ``SEC.MSEC:SERIAL``."""
        return f"{self.sec}.{self.msec:03d}:{self.serial}"

    def raw_bytes(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    def get(self, key: str, default: str | None = None) -> str | None:
        """First token written for ``key`` (as written, quotes included)."""
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def __repr__(self) -> str:
        if self.error:
            return f"Record(error={self.error!r}, text={self.text[:60]!r})"
        return f"Record({self.name} {self.id} node={self.node} fields={len(self.fields)})"

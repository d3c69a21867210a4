"""Kernel audit status (``AUDIT_GET`` / ``AUDIT_SET``) and features.

:func:`format_status` reproduces ``auditctl -s`` (and ``auditctl -s -i``) of
audit-userspace 3.x byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, fields

from .netlink import (
    AUDIT_GET,
    AUDIT_GET_FEATURE,
    AUDIT_SET,
    AuditNetlinkProtocolError,
    AuditSocket,
)

__all__ = [
    "AUDIT_FEATURE_LOGINUID_IMMUTABLE",
    "AUDIT_FEATURE_ONLY_UNSET_LOGINUID",
    "AUDIT_STATUS_BACKLOG_LIMIT",
    "AUDIT_STATUS_BACKLOG_WAIT_TIME",
    "AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL",
    "AUDIT_STATUS_ENABLED",
    "AUDIT_STATUS_FAILURE",
    "AUDIT_STATUS_LOST",
    "AUDIT_STATUS_PID",
    "AUDIT_STATUS_RATE_LIMIT",
    "AuditFeatures",
    "AuditStatus",
    "format_status",
    "get_features",
    "get_status",
    "set_status",
]

AUDIT_STATUS_ENABLED = 0x0001
AUDIT_STATUS_FAILURE = 0x0002
AUDIT_STATUS_PID = 0x0004
AUDIT_STATUS_RATE_LIMIT = 0x0008
AUDIT_STATUS_BACKLOG_LIMIT = 0x0010
AUDIT_STATUS_BACKLOG_WAIT_TIME = 0x0020
AUDIT_STATUS_LOST = 0x0040
AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL = 0x0080

AUDIT_FEATURE_ONLY_UNSET_LOGINUID = 0
AUDIT_FEATURE_LOGINUID_IMMUTABLE = 1
AUDIT_FEATURE_VERSION = 1


def audit_feature_to_mask(feature: int) -> int:
    return 1 << (feature & 31)


_U32 = struct.Struct("=I")


@dataclass
class AuditStatus:
    """struct audit_status, fields in kernel order (all __u32).

    Older kernels send a shorter struct; fields they did not send are None.
    """

    mask: int | None = None
    enabled: int | None = None
    failure: int | None = None
    pid: int | None = None
    rate_limit: int | None = None
    backlog_limit: int | None = None
    lost: int | None = None
    backlog: int | None = None
    feature_bitmap: int | None = None  # union with "version"
    backlog_wait_time: int | None = None
    backlog_wait_time_actual: int | None = None

    @property
    def version(self) -> int | None:
        return self.feature_bitmap

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def size(cls) -> int:
        """Size in bytes of the full struct this module knows (44)."""
        return _U32.size * len(fields(cls))

    @classmethod
    def from_bytes(cls, payload: bytes) -> AuditStatus:
        """Parse as many whole u32 fields as the kernel sent.

        Bytes beyond the known fields (a newer kernel) are ignored; a trailing
        partial field is ignored too.
        """
        names = cls.field_names()
        count = min(len(payload) // _U32.size, len(names))
        if count == 0:
            raise AuditNetlinkProtocolError(f"audit_status payload of {len(payload)} bytes is too short")
        values = struct.unpack_from(f"={count}I", payload)
        return cls(**dict(zip(names, values, strict=False)))

    def to_bytes(self) -> bytes:
        """The full-size struct; None fields are sent as 0."""
        return struct.pack(f"={len(fields(self))}I", *((v or 0) & 0xFFFFFFFF for v in astuple(self)))


@dataclass
class AuditFeatures:
    """struct audit_features { __u32 vers, mask, features, lock; }"""

    vers: int
    mask: int
    features: int
    lock: int

    _STRUCT = struct.Struct("=4I")

    @classmethod
    def from_bytes(cls, payload: bytes) -> AuditFeatures:
        if len(payload) < cls._STRUCT.size:
            raise AuditNetlinkProtocolError(f"audit_features payload of {len(payload)} bytes, need 16")
        return cls(*cls._STRUCT.unpack_from(payload))

    def to_bytes(self) -> bytes:
        return self._STRUCT.pack(self.vers, self.mask, self.features, self.lock)

    def supports(self, feature: int) -> bool:
        return bool(self.mask & audit_feature_to_mask(feature))

    def is_set(self, feature: int) -> bool:
        return bool(self.features & audit_feature_to_mask(feature))

    def is_locked(self, feature: int) -> bool:
        return bool(self.lock & audit_feature_to_mask(feature))


def _single(replies: list[tuple[int, bytes]], want: int) -> bytes:
    for rtype, payload in replies:
        if rtype == want:
            return payload
    raise AuditNetlinkProtocolError(
        f"no message of type {want} in the kernel's reply: {[t for t, _ in replies]}"
    )


def get_status(sock: AuditSocket) -> AuditStatus:
    return AuditStatus.from_bytes(_single(sock.request(AUDIT_GET), AUDIT_GET))


def get_features(sock: AuditSocket) -> AuditFeatures:
    return AuditFeatures.from_bytes(_single(sock.request(AUDIT_GET_FEATURE), AUDIT_GET_FEATURE))


_SETTABLE = {
    "enabled": AUDIT_STATUS_ENABLED,
    "failure": AUDIT_STATUS_FAILURE,
    "pid": AUDIT_STATUS_PID,
    "rate_limit": AUDIT_STATUS_RATE_LIMIT,
    "backlog_limit": AUDIT_STATUS_BACKLOG_LIMIT,
    "backlog_wait_time": AUDIT_STATUS_BACKLOG_WAIT_TIME,
    "lost": AUDIT_STATUS_LOST,
    "backlog_wait_time_actual": AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL,
}


def build_set_payload(**changes: int) -> bytes:
    """The AUDIT_SET payload for ``changes`` with the matching mask bits.

    ``lost=0`` / ``backlog_wait_time_actual=0`` request a counter reset (the
    kernel only honours those when they are the only bit in the mask).
    """
    unknown = set(changes) - set(_SETTABLE)
    if unknown:
        raise TypeError(f"cannot set {sorted(unknown)}; settable: {sorted(_SETTABLE)}")
    if not changes:
        raise ValueError("set_status needs at least one change")
    st = AuditStatus(mask=0)
    for name, value in changes.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"{name}={value!r} is not a u32")
        st.mask |= _SETTABLE[name]
        setattr(st, name, value)
    return st.to_bytes()


def set_status(sock: AuditSocket, *, allow_irreversible: bool = False, **changes: int) -> int:
    """AUDIT_SET the given fields; returns the ACK value (0, or e.g. the old lost count).

    ``enabled=2`` (rules locked until reboot) and ``failure=2`` (panic on
    audit failure) cannot be undone; they are refused unless
    ``allow_irreversible=True``.
    """
    if not allow_irreversible:
        if changes.get("enabled", 0) == 2:
            raise ValueError(
                "enabled=2 locks the audit configuration until reboot; pass allow_irreversible=True"
            )
        if changes.get("failure", 0) == 2:
            raise ValueError(
                "failure=2 makes the kernel panic on audit failure; pass allow_irreversible=True"
            )
    sock.request(AUDIT_SET, build_set_payload(**changes))
    return sock.last_ack or 0


_ENABLED_TEXT = {0: "disable", 1: "enabled", 2: "enabled+immutable"}
_FAILURE_TEXT = {0: "silent", 1: "printk", 2: "panic"}


def format_status(st: AuditStatus, features: AuditFeatures | None = None, interpret: bool = False) -> str:
    """Text identical to ``auditctl -s`` (``auditctl -s -i`` with ``interpret``).

    auditctl prints ``enabled``/``failure`` as plain numbers (``-i`` gives
    ``disable``/``enabled``/``enabled+immutable`` and
    ``silent``/``printk``/``panic``, ``unknown`` otherwise), ``pid`` as an
    unsigned number (0 when no daemon is registered), and the
    ``loginuid_immutable`` line only when the kernel's feature mask contains
    that feature.  Fields an older kernel did not send are left out.
    """
    lines = []
    if interpret:
        lines.append(f"enabled {_ENABLED_TEXT.get(st.enabled, 'unknown')}")
        lines.append(f"failure {_FAILURE_TEXT.get(st.failure, 'unknown')}")
    else:
        lines.append(f"enabled {st.enabled}")
        lines.append(f"failure {st.failure}")
    for name in ("pid", "rate_limit", "backlog_limit", "lost", "backlog"):
        lines.append(f"{name} {getattr(st, name)}")
    for name in ("backlog_wait_time", "backlog_wait_time_actual"):
        value = getattr(st, name)
        if value is not None:
            lines.append(f"{name} {value}")
    if features is not None and features.supports(AUDIT_FEATURE_LOGINUID_IMMUTABLE):
        value = int(features.is_set(AUDIT_FEATURE_LOGINUID_IMMUTABLE))
        lock = "locked" if features.is_locked(AUDIT_FEATURE_LOGINUID_IMMUTABLE) else "unlocked"
        lines.append(f"loginuid_immutable {value} {lock}")
    return "\n".join(lines) + "\n"

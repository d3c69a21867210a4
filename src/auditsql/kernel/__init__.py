"""Talking to the kernel audit subsystem over NETLINK_AUDIT (stdlib only)."""

from .netlink import (
    AuditNetlinkError,
    AuditNetlinkProtocolError,
    AuditNetlinkTimeout,
    AuditSocket,
)
from .status import (
    AuditFeatures,
    AuditStatus,
    format_status,
    get_features,
    get_status,
    set_status,
)

__all__ = [
    "AuditFeatures",
    "AuditNetlinkError",
    "AuditNetlinkProtocolError",
    "AuditNetlinkTimeout",
    "AuditSocket",
    "AuditStatus",
    "format_status",
    "get_features",
    "get_status",
    "set_status",
]

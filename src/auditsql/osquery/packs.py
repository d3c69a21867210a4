"""osquery's pack and query restrictions, as ``osquery/config/packs.cpp`` applies them: ``platform``,
``version``, ``shard``, and the names pack queries get in the results log."""

from __future__ import annotations

import hashlib
import re
import socket

__all__ = [
    "MAX_INTERVAL",
    "OSQUERY_VERSION",
    "machine_shard",
    "platform_ok",
    "query_name",
    "shard_ok",
    "version_ok",
]

#: the osquery release whose tables and results log auditsql follows: a pack or query whose ``version`` is
#: newer is skipped, as osquery skips it
OSQUERY_VERSION = "5.12.1"
#: osquery's kMaxQueryInterval: a longer interval makes the query invalid
MAX_INTERVAL = 604800


def platform_ok(platform: str) -> bool:
    """osquery's ``checkPlatform`` on Linux: empty, ``null``, or naming any/all, linux (ubuntu, centos) or
    posix (substrings, so ``"linux,darwin"`` runs here and ``"darwin"``, ``"windows"``, ``"gentoo"`` do not)."""
    if platform in ("", "null"):
        return True
    return any(word in platform for word in ("any", "all", "linux", "ubuntu", "centos", "posix"))


def _parts(version: str) -> list[int]:
    out = []
    for part in version.split(".")[:3]:
        m = re.match(r"\d+", part)
        out.append(int(m.group()) if m else 0)
    return out + [0] * (3 - len(out))


def version_ok(version: str, running: str = OSQUERY_VERSION) -> bool:
    """osquery's ``versionAtLeast(version, running)``: the pack's minimum version is not above ours."""
    if version in ("", "null"):
        return True
    return _parts(version) <= _parts(running)


def machine_shard(hostname: str | None = None) -> int:
    """osquery's ``getMachineShard``: the first byte of the hostname's SHA-1, scaled to 0..100."""
    hn = socket.gethostname() if hostname is None else hostname
    return int(hashlib.sha1(hn.encode(), usedforsecurity=False).hexdigest()[:2], 16) * 100 // 255


def shard_ok(shard: int, machine: int) -> bool:
    """A pack or query with ``shard`` N runs on machines whose shard is at most N (0: every machine)."""
    return not (0 < shard < machine)


def query_name(pack: str | None, name: str, delimiter: str = "_") -> str:
    """The ``name`` of a query's result lines: the schedule's own names, ``pack_PACK_QUERY`` for a pack's."""
    return name if pack is None else f"pack{delimiter}{pack}{delimiter}{name}"

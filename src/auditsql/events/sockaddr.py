"""SOCKADDR ``saddr=`` bytes → a decoded address.

The kernel copies the syscall's ``struct sockaddr`` as the program passed it (``addrlen`` bytes), so a buffer
can be short, padded, or of a family nobody decodes. The family is in the machine's byte order (big-endian on
ppc64/s390x); ports are in network order; netlink pids in the machine's order.
"""

from __future__ import annotations

import ipaddress
import socket

from auditsql.records.encoding import escape

__all__ = ["decode_sockaddr", "family_name"]


def _family_names() -> dict[int, str]:
    # The C library's AF_* constants as Python exposes them: AF_INET -> "inet", AF_UNIX -> "unix".
    names: dict[int, str] = {}
    for name in dir(socket):
        if name.startswith("AF_"):
            value = getattr(socket, name)
            if isinstance(value, int) and value not in names:
                names[int(value)] = name[3:].lower()
    names[1] = "unix"
    return names


_FAMILIES = _family_names()


def family_name(family: int) -> str:
    return _FAMILIES.get(family, str(family))


def decode_sockaddr(data: bytes, big_endian: bool = False) -> dict[str, object]:
    """Decode a sockaddr buffer; unknown families and short buffers keep their bytes and say why."""
    if len(data) < 2:
        return {"family": None, "error": "buffer too short for a family", "len": len(data)}
    order = "big" if big_endian else "little"
    fam = int.from_bytes(data[:2], order)
    out: dict[str, object] = {"family": family_name(fam)}
    if fam == 1:  # AF_UNIX
        path = data[2:]
        if not path:
            out["path"] = ""  # unnamed socket
        elif path[0] == 0:
            # abstract: the name is every byte after the leading NUL; trailing NUL padding is not part of it
            out["path"] = "@" + escape(path[1:].rstrip(b"\0"))
            out["abstract"] = True
        else:
            out["path"] = escape(path.split(b"\0", 1)[0])
    elif fam == 2:  # AF_INET
        if len(data) < 8:
            out["error"] = "buffer too short for sockaddr_in"
        else:
            out["port"] = int.from_bytes(data[2:4], "big")
            out["addr"] = str(ipaddress.IPv4Address(data[4:8]))
    elif fam == 10:  # AF_INET6
        if len(data) < 24:
            out["error"] = "buffer too short for sockaddr_in6"
        else:
            out["port"] = int.from_bytes(data[2:4], "big")
            out["flowinfo"] = int.from_bytes(data[4:8], "big")
            out["addr"] = str(ipaddress.IPv6Address(data[8:24]))
            if len(data) >= 28:
                out["scope_id"] = int.from_bytes(data[24:28], order)
    elif fam == 16:  # AF_NETLINK
        if len(data) < 12:
            out["error"] = "buffer too short for sockaddr_nl"
        else:
            out["pid"] = int.from_bytes(data[4:8], order)
            out["groups"] = int.from_bytes(data[8:12], order)
    elif fam == 17:  # AF_PACKET
        if len(data) >= 12:
            out["protocol"] = int.from_bytes(data[2:4], "big")
            out["ifindex"] = int.from_bytes(data[4:8], order, signed=True)
    elif fam == 40:  # AF_VSOCK
        if len(data) >= 12:
            out["port"] = int.from_bytes(data[4:8], order)
            out["cid"] = int.from_bytes(data[8:12], order)
    else:
        out["error"] = "family not decoded"
        out["family_nr"] = fam
    return out

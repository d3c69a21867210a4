"""Interpretation: what the numbers and encodings of an event mean.

Arch and syscall names per arch, errno names, argv from EXECVE (split arguments joined, across records),
PROCTITLE argv, CWD/PATH names, SOCKADDR. All tables are generated (see ``tools/gen_constants.py``).
"""

from __future__ import annotations

from auditsql.events._arches import ARCH_BIG_ENDIAN, AUDIT_ARCHES
from auditsql.events._errno import ERRNO_NAMES
from auditsql.events._syscalls import SYSCALLS
from auditsql.events.sockaddr import decode_sockaddr
from auditsql.records.encoding import decode_encoded, escape
from auditsql.records.record import Record

__all__ = [
    "arch_of",
    "syscall_name",
    "errno_name",
    "execve_argv",
    "proctitle_argv",
    "sockaddr_of",
]


def arch_of(token: str | None) -> tuple[int | None, str | None]:
    """``arch=c000003e`` → (0xc000003e, "x86_64"); an interpreted ``arch=x86_64`` → (number, name)."""
    if not token:
        return None, None
    try:
        n = int(token, 16)
    except ValueError:
        for num, name in AUDIT_ARCHES.items():
            if name == token:
                return num, name
        return None, token
    return n, AUDIT_ARCHES.get(n)


def syscall_name(arch: str | None, nr: int) -> str | None:
    table = SYSCALLS.get(arch or "")
    if table is None:
        return None
    return table.get(nr)


def errno_name(n: int) -> str | None:
    return ERRNO_NAMES.get(n)


def is_big_endian(arch: int | None) -> bool:
    return bool(arch is not None and ARCH_BIG_ENDIAN.get(arch, False))


def execve_argv(records: list[Record]) -> tuple[int | None, list[bytes], list[str]]:
    """argc, argv (bytes, in order) and warnings from an event's EXECVE records.

    Handles ``aN="..."``, hex ``aN=...``, and split arguments ``aN_len=L aN[0]=... aN[1]=...`` continued over
    several records; reports argc mismatches and split arguments whose length disagrees with ``aN_len``.
    """
    argc: int | None = None
    whole: dict[int, bytes] = {}
    pieces: dict[int, dict[int, bytes]] = {}
    lengths: dict[int, int] = {}
    warnings: list[str] = []
    for rec in records:
        for k, tok in rec.fields:
            if not k or k[0] != "a":
                continue
            if k == "argc":
                try:
                    argc = int(tok)
                except ValueError:
                    warnings.append(f"argc is not a number: {tok!r}")
                continue
            rest = k[1:]
            b = rest.find("[")
            if b > 0:
                try:
                    idx, part = int(rest[:b]), int(rest[b + 1 : -1])
                except ValueError:
                    continue
                pieces.setdefault(idx, {})[part] = decode_encoded(tok) or b""
            elif rest.endswith("_len"):
                try:
                    lengths[int(rest[:-4])] = int(tok)
                except ValueError:
                    continue
            else:
                try:
                    idx = int(rest)
                except ValueError:
                    continue
                whole[idx] = decode_encoded(tok) or b""
    for idx, parts in pieces.items():
        joined = b"".join(parts[i] for i in sorted(parts))
        want = lengths.get(idx)
        # aN_len counts the bytes as the kernel encoded them: hex doubles the length
        if want is not None and want not in (len(joined), 2 * len(joined)):
            warnings.append(f"a{idx}: {len(joined)} bytes received, a{idx}_len={want}")
        if sorted(parts) != list(range(len(parts))):
            warnings.append(f"a{idx}: pieces missing ({len(parts)} received)")
        whole[idx] = joined
    argv = [whole[i] for i in sorted(whole)]
    if whole and sorted(whole) != list(range(len(whole))):
        warnings.append("argument indexes are not contiguous")
    if argc is not None and argc != len(argv):
        warnings.append(f"argc={argc} but {len(argv)} arguments")
    return argc, argv, warnings


def proctitle_argv(token: str | None) -> list[bytes]:
    """PROCTITLE: NUL-separated argv (hex) or a quoted single string; the kernel truncates it at 128 bytes."""
    if token is None:
        return []
    b = decode_encoded(token)
    if not b:
        return []
    if b.endswith(b"\0"):
        b = b[:-1]
    return b.split(b"\0")


def sockaddr_of(token: str | None, arch: int | None) -> dict[str, object] | None:
    if token is None:
        return None
    b = decode_encoded(token)
    if b is None:
        return None
    return decode_sockaddr(b, is_big_endian(arch))


def escaped(items: list[bytes]) -> list[str]:
    return [escape(b) for b in items]

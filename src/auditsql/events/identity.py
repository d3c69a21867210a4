"""uid/gid → names on this host, cached; the raw ids are always kept beside the names."""

from __future__ import annotations

import grp
import pwd

__all__ = ["Identities", "UNSET"]

#: (uint32)-1: "not set" (auid/ses of processes that never logged in)
UNSET = 4294967295


class Identities:
    """Resolves ids with the host's passwd/group databases. An unknown id resolves to None."""

    def __init__(self) -> None:
        self._users: dict[int, str | None] = {}
        self._groups: dict[int, str | None] = {}

    def user(self, uid: int) -> str | None:
        try:
            return self._users[uid]
        except KeyError:
            pass
        if uid == UNSET:
            name: str | None = "unset"
        else:
            try:
                name = pwd.getpwuid(uid).pw_name
            except (KeyError, OverflowError, ValueError):
                name = None
        self._users[uid] = name
        return name

    def group(self, gid: int) -> str | None:
        try:
            return self._groups[gid]
        except KeyError:
            pass
        if gid == UNSET:
            name: str | None = "unset"
        else:
            try:
                name = grp.getgrgid(gid).gr_name
            except (KeyError, OverflowError, ValueError):
                name = None
        self._groups[gid] = name
        return name

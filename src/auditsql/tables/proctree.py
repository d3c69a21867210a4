"""The process tree: processes keyed by (pid, start time), from audited fork/clone/exec and /proc.

Work in progress (this first version only provides :func:`process_start`).
"""

from __future__ import annotations

__all__ = ["process_start"]

# node ("" for the local host) -> pid -> start time (UNIX seconds)
_STARTS: dict[str, dict[int, float]] = {}


def process_start(node: str | None, pid: int) -> float | None:
    """The start time (UNIX seconds) of the process the tree currently knows under ``pid`` on ``node``
    (None or "" for the local host), or None when the tree does not know it. O(1); never reads /proc."""
    by_pid = _STARTS.get(node or "")
    if by_pid is None:
        return None
    return by_pid.get(pid)

"""What every output is: the :class:`Output` protocol the agent fans events, rows and results out to.

An output never blocks the reader: ``event``, ``loss_rows`` and ``results`` only enqueue. What an output cannot
keep (its bounded buffer is full) is counted and handed back by ``drain_loss`` as loss records
(``cause = "output_drop"``), which the agent stores in ``audit_loss``.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Output"]


class Output(Protocol):
    """One destination: ``events``, ``syslog``, ``stdout``, ``nats``..."""

    name: str

    def event(self, event: dict, rows: list[tuple[str, tuple]]) -> None:
        """One rendered event (docs/event-json.md) and the table rows it filled; must not block."""

    def loss_rows(self, rows: list[tuple[str, tuple]]) -> None:
        """``audit_loss`` rows as stored; must not block."""

    def results(self, lines: list[dict]) -> None:
        """osquery-format result lines (dicts, as the results log writes them); must not block."""

    def flush(self) -> None:
        """Called on every loop tick (about twice a second)."""

    def close(self) -> None:
        """Drain what is possible within a few seconds, then stop."""

    def counters(self) -> dict[str, int]:
        """At least ``sent``, ``dropped``, ``queued``, ``errors``."""

    def drain_loss(self) -> list[dict[str, Any]]:
        """Loss records ``{"time", "cause", "count", "detail"}`` since the last call."""

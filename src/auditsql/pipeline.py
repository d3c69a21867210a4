"""Wires a record source through assembly and rendering to an output: the ``read`` job."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from auditsql.events.assembler import Assembler
from auditsql.events.event import Event
from auditsql.events.render import Renderer
from auditsql.records.record import Record

__all__ = ["ReadStats", "process"]


@dataclass
class ReadStats:
    records: int = 0
    events: int = 0
    counters: dict[str, int] = field(default_factory=dict)


def process(
    records: Iterable[Record],
    emit: Callable[[dict], None],
    assembler: Assembler,
    renderer: Renderer,
    flush: bool = True,
) -> None:
    """Push every record through the assembler and emit each closed event's JSON dict."""
    push = assembler.push
    render = renderer.render
    for rec in records:
        for ev in push(rec):
            emit(render(ev))
    if flush:
        for ev in assembler.flush():
            emit(render(ev))


def render_all(events: Iterable[Event], renderer: Renderer) -> list[dict]:
    return [renderer.render(ev) for ev in events]

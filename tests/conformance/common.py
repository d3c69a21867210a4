"""Shared helpers for the conformance checks against peer goldens (tests/conformance/*.py).

Stable API, used by every conformance module:

- ``CORPUS``: the peer test data corpus (``<repo>/../shared/corpus``, beside the repository).
- ``Result``: what one ``run()``/``run_*()`` returns: source name, leaf values compared, matched, mismatches.
- ``events_of(path)``: a log file read by auditsql (``auditsql._core.render_lines``: the format sniffed, lines
  parsed, assembled, rendered with ids not resolved), as the rendered event dicts in output order.
- ``records_of(path)``: a log file's parsed records (``auditsql._core.parse_line``'s dicts), in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditsql import _core
from tests.core import records_of_bytes

__all__ = ["CORPUS", "REPO", "Result", "events_of", "records_of", "same"]

#: repository root (tests/conformance/common.py → ../..)
REPO = Path(__file__).resolve().parents[2]


def _corpus() -> Path:
    for p in (REPO.parent / "shared" / "corpus",):
        if p.is_dir():
            return p
    return REPO.parent / "shared" / "corpus"


#: the read-only peer corpus (see its README.md)
CORPUS: Path = _corpus()


@dataclass
class Result:
    """Outcome of comparing one peer source's goldens with auditsql's output."""

    source: str
    compared: int = 0
    matched: int = 0
    mismatches: list[str] = field(default_factory=list)

    def check(self, where: str, expected: object, actual: object) -> bool:
        """Count one compared value; record the mismatch line ``"{where}: expected {e!r}, got {a!r}"`` unless
        ``actual`` equals ``expected`` with the same JSON type (``1`` is not ``"1"``, ``True`` is not ``1``)."""
        self.compared += 1
        if same(expected, actual):
            self.matched += 1
            return True
        self.mismatches.append(f"{where}: expected {expected!r}, got {actual!r}")
        return False

    @property
    def pct(self) -> float:
        return 100.0 * self.matched / self.compared if self.compared else 100.0


def same(a: object, b: object) -> bool:
    """Equal and of the same type, recursively (JSON semantics: ``1 != 1.0 != True != "1"``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())  # type: ignore[attr-defined,index]
    return a == b


def records_of(path: Path) -> list[dict[str, Any]]:
    """Every record of the log file at ``path``, in file order (format auto-detected, comment and blank lines
    skipped), as ``auditsql._core.parse_line`` dicts."""
    return records_of_bytes(path.read_bytes())


def events_of(path: Path) -> list[dict]:
    """The log file at ``path`` as auditsql's rendered event dicts, in output order (ids not resolved)."""
    return _core.render_lines(path.read_bytes(), resolve_ids=False)

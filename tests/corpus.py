"""Where the shared test data is: ``../shared`` beside the repository (DEVELOPERS.md), never an absolute path."""

from __future__ import annotations

from pathlib import Path

#: the repository root (tests/corpus.py → ..)
REPO = Path(__file__).resolve().parents[1]
#: logs and golden outputs of the peer tools (its README indexes the edge cases)
CORPUS = REPO.parent / "shared" / "corpus"

"""osquery users' configuration, unchanged: ``osquery.conf`` (JSON with comments, ``options``, ``schedule``,
``packs``, ``decorators``, ``file_paths``), its ``.d`` directory and an ``osquery.flags`` flagfile, translated
once, at the edge, into auditsql's :class:`~auditsql.config.Config` (docs/osquery.md).

- :mod:`.jsonc`: osquery's JSON (comments, trailing commas), errors with line and column;
- :mod:`.options`: every osquery option auditsql maps, declared once; the flagfile reader;
- :mod:`.packs`: platform, version and shard restrictions, pack query names;
- :mod:`.sqlcheck`: which queries compile against auditsql's tables, and which tables they lack;
- :mod:`.translate`: sources -> Config plus the summary of what has no meaning here.
"""

from __future__ import annotations

__all__ = ["is_native_json", "looks_like_json"]

from auditsql.osquery.jsonc import looks_like_json


def is_native_json(doc: dict) -> bool:
    """A JSON document written with auditsql's own sections (``{"kernel": ..., "store": ...}``) rather than
    osquery's: every key is one of auditsql's, and not only ``schedule`` (which both share); ``{}`` is
    osquery's (the same defaults, and a flagfile may go with it)."""
    from auditsql.config import _TOP_KEYS

    return bool(doc) and all(k in _TOP_KEYS for k in doc) and set(doc) != {"schedule"}

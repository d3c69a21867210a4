"""Conformance figures: auditsql against every peer's goldens in the shared corpus.

Runs every ``run()`` / ``run_*()`` function (returning a ``Result``) of every module in tests/conformance/ and
prints ``source  matched/compared  pct%`` per source, then the total. ``--verbose`` also prints each
mismatch; ``--only WORD`` keeps the sources whose name or module contains WORD.

    python3 benchmarks/conformance.py [--verbose] [--only laurel]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "src") not in sys.path:
    sys.path.insert(1, str(REPO / "src"))

from tests.conformance.common import Result  # noqa: E402


def discover() -> list[tuple[str, str, Callable[[], Result]]]:
    """(module, function name, function) for every ``run``/``run_*`` of tests/conformance/*.py, in order."""
    import tests.conformance as pkg

    found: list[tuple[str, str, Callable[[], Result]]] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("test_") or info.name == "common":
            continue
        module = importlib.import_module(f"tests.conformance.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:
                continue
            if name == "run" or name.startswith("run_"):
                if inspect.signature(fn).parameters:
                    continue  # needs arguments: not a source runner
                found.append((info.name, name, fn))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="auditsql conformance against peer goldens")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every mismatch")
    ap.add_argument("--only", metavar="WORD", help="only sources whose name or module contains WORD")
    args = ap.parse_args(argv)

    try:
        runners = discover()
    except Exception as e:  # a module that does not import: say which, no traceback
        print(f"conformance: cannot load the conformance modules: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    compared = matched = 0
    failed = 0
    rows: list[Result] = []
    for module, name, fn in runners:
        try:
            res = fn()
        except Exception as e:
            print(f"{module}.{name}: failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
            continue
        if not isinstance(res, Result):
            continue
        if args.only and args.only not in res.source and args.only not in module:
            continue
        rows.append(res)
    width = max((len(r.source) for r in rows), default=10)
    for res in rows:
        pct = 100.0 * res.matched / res.compared if res.compared else 100.0
        print(f"{res.source:<{width}}  {res.matched:>6}/{res.compared:<6}  {pct:6.2f}%")
        compared += res.compared
        matched += res.matched
        if args.verbose:
            for m in res.mismatches:
                print(f"    {m}")
    pct = 100.0 * matched / compared if compared else 100.0
    print(f"{'TOTAL':<{width}}  {matched:>6}/{compared:<6}  {pct:6.2f}%")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""auditsql: a Linux audit consumer — kernel control, lossless records, events, SQL tables, shipping."""

import os as _os


def __getattr__(name: str) -> str:
    # the version's one home is pyproject.toml (the package's metadata), read when asked: importlib.metadata
    # costs the commands that never print it about 10 ms at start
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("auditsql")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'auditsql' has no attribute {name!r}")


# The native core's allocator (mimalloc, crates/py) commits its first arena (4 MiB) when the extension loads,
# unless told not to: the agent's resident memory counts for more than that arena's first touches. Set before
# auditsql._core is imported (mimalloc reads its options once, at its first allocation); a value the user
# exported wins.
_os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")

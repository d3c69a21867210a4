"""auditsql: a Linux audit consumer — kernel control, lossless records, events, SQL tables, shipping."""

import os as _os

__version__ = "0.1.0"

# The native core's allocator (mimalloc, crates/py) commits its first arena (4 MiB) when the extension loads,
# unless told not to: the agent's resident memory counts for more than that arena's first touches. Set before
# auditsql._core is imported (mimalloc reads its options once, at its first allocation); a value the user
# exported wins.
_os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")

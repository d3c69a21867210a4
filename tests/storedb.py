"""Opening a store as a test reads it: sqlite3 plus the store's SQL functions (audit_events' derived columns)."""

from __future__ import annotations

import sqlite3
from typing import Any

from auditsql.store.functions import install


def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect(...)`` with :func:`auditsql.store.functions.install` on the connection."""
    conn = sqlite3.connect(*args, **kwargs)
    install(conn)
    return conn

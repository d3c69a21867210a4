"""The embedded event store: one SQLite file holding every table of the registry."""

from auditsql.store.sqlite import DEFAULT_DB, DEFAULT_EXPIRY, DEFAULT_MAX_ROWS, Store, StoreError

__all__ = ["DEFAULT_DB", "DEFAULT_EXPIRY", "DEFAULT_MAX_ROWS", "Store", "StoreError"]

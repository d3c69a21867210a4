"""The PostgreSQL store: the fleet's central store when one machine is not enough (docs/fleet.md).

* :mod:`auditsql.store.pg.connect`: URLs, sessions (``search_path`` = ``auditsql``; read-only for queries) and
  the one-line errors; the only importer of psycopg, lazily.
* :mod:`auditsql.store.pg.schema`: tables, indexes and views from the table registry, with a type map;
  versioned migrations; the rights a collector needs.
* :mod:`auditsql.store.pg.partitions`: day partitions made on demand, retention by dropping them.
* :mod:`auditsql.store.pg.functions`: SQLite's functions osquery-style queries use, as PostgreSQL functions of
  the schema (migration 2), and the blob functions the query side decodes (:mod:`auditsql.query.pg`).

The collector's writer (batches with ``COPY``, committed with their JetStream sequences) is
:mod:`auditsql.fleet.pg_sink`. SQLite (:mod:`auditsql.store.sqlite`) stays the embedded store of one host.
"""

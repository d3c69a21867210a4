"""SQL over the store: the read-only ad-hoc query engine (``engine``; ``pg`` for the PostgreSQL central store),
output formats (``format``), the interactive shell (``shell``) and scheduled queries (``schedule``)."""

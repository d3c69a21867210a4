"""SQL over the store: the read-only ad-hoc query engine (``engine``), output formats (``format``), the
interactive shell (``shell``) and scheduled queries (``schedule``)."""

"""The fleet: many agents publishing their table rows to NATS JetStream, one collector storing them centrally.

* :mod:`auditsql.fleet.connect`: the nats-py connection options shared by the agent's NATS output, the
  collector and fleet queries (``[output.nats]``: servers, credentials, TLS), and the subject naming.
* :mod:`auditsql.fleet.collector`: ``auditsql collect``, a durable JetStream consumer into a central store
  where every table has a ``host`` column.

The agent side is :mod:`auditsql.outputs.nats` (with its on-disk spool, :mod:`auditsql.outputs.spool`).
See docs/fleet.md.
"""

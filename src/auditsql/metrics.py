"""Prometheus metrics for ``auditsql run`` (``--metrics HOST:PORT``, ``[metrics] listen``).

prometheus_client's HTTP server runs on its own thread and serves ``/metrics`` from a registry holding
prometheus_client's ``ProcessCollector`` (``process_cpu_seconds_total``, ``process_resident_memory_bytes``...)
and :class:`AgentCollector`, which reads auditsql's own counters when scraped. Nothing is counted for metrics
on the hot path: the counters are the ones the agent keeps anyway (the loop's once-a-second statistics, the
store's committed rows per table, each output's counters).

Metrics (all but the process ones prefixed ``auditsql_``):

=========================================  =====  ===================================================
``auditsql_events_total``                  count  events assembled
``auditsql_records_total``                 count  records read from the source
``auditsql_rows_total{table}``             count  rows committed to the store, per table
``auditsql_loss_total{cause}``             count  losses by cause (``audit_loss``; docs/loss.md)
``auditsql_queue_depth``                   gauge  records read and not yet processed
``auditsql_store_full``                    gauge  1 while the store's file system is full (events dropped)
``auditsql_store_space_low``               gauge  1 while it has less free space than ``[store] space_left``
``auditsql_store_free_bytes``              gauge  free bytes on the store's file system (last check)
``auditsql_output_backlog{output}``        gauge  items queued in an output, not yet written
``auditsql_output_sent_total{output}``     count  items an output delivered
``auditsql_output_dropped_total{output}``  count  items an output lost (buffer full, write failed)
``auditsql_output_errors_total{output}``   count  write or connection errors of an output
``auditsql_results_lines_total``           count  lines written to the results log
``auditsql_up``                            gauge  1 while the agent runs
=========================================  =====  ===================================================

Counts start at 0 when ``auditsql run`` starts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

# prometheus_client (and the http, email and ssl modules it loads, about 10 MB) is imported when metrics are
# served or scraped, not when the agent runs without --metrics

__all__ = ["AgentCollector", "MetricsError", "MetricsServer", "parse_listen", "start_metrics"]


class MetricsError(Exception):
    """The metrics listener cannot be set up; ``str()`` is one line for the user."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``, ``:PORT`` for every address) → (host, port); :class:`MetricsError`."""
    fix = "expected HOST:PORT, for example 127.0.0.1:9464"
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise MetricsError(f"--metrics {text!r}: {fix}")
    n = int(port)
    if not 0 < n < 65536:
        raise MetricsError(f"--metrics {text!r}: port {n} is out of range (1-65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise MetricsError(f"--metrics {text!r}: {host!r} is not an IPv6 address; {fix}") from None
    elif not host:
        host = "0.0.0.0"
    elif ":" in host:
        raise MetricsError(f"--metrics {text!r}: write an IPv6 address in brackets, [::1]:9464")
    return host, n


class AgentCollector:
    """Reads the agent's counters at scrape time.

    ``stats()`` returns the loop's latest statistics (``{"events", "loss": {cause: n}, "reader": {"messages":
    n}, "queue"}``, see ``auditsql.agent.live_stats``); ``rows()`` the committed rows per table; ``outputs()``
    ``{name: {"sent", "dropped", "queued", "errors"}}``; ``results_lines()`` the results log's line count.
    """

    def __init__(
        self,
        stats: Callable[[], dict[str, Any]],
        rows: Callable[[], dict[str, int]] = dict,
        outputs: Callable[[], dict[str, dict[str, int]]] = dict,
        results_lines: Callable[[], int] | None = None,
        causes: tuple[str, ...] = (),
    ) -> None:
        self.stats = stats
        self.rows = rows
        self.outputs = outputs
        self.results_lines = results_lines
        self.causes = causes

    def describe(self) -> Iterator[Any]:
        return iter(())  # collect() is cheap; let the registry call it

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: PLC0415

        st = dict(self.stats() or {})
        up = GaugeMetricFamily("auditsql_up", "1 while auditsql run is running.")
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily("auditsql_events", "Events assembled.", value=int(st.get("events", 0)))
        reader = st.get("reader") or {}
        yield CounterMetricFamily(
            "auditsql_records", "Records read from the source.", value=int(reader.get("messages", 0))
        )
        rows = CounterMetricFamily(
            "auditsql_rows", "Rows committed to the store, per table.", labels=["table"]
        )
        for table, n in sorted(dict(self.rows() or {}).items()):
            rows.add_metric([table], int(n))
        yield rows
        loss = CounterMetricFamily("auditsql_loss", "Losses by cause (audit_loss).", labels=["cause"])
        counts = dict.fromkeys(self.causes, 0)
        counts.update(st.get("loss") or {})
        for cause, n in counts.items():
            loss.add_metric([cause], int(n))
        yield loss
        yield GaugeMetricFamily(
            "auditsql_queue_depth", "Records read and not yet processed.", value=int(st.get("queue", 0))
        )
        journal = st.get("journal")
        if isinstance(journal, dict):  # auditsql run's raw-frame journal (docs/reliability.md)
            yield CounterMetricFamily(
                "auditsql_journal_bytes",
                "Bytes of records written to the journal.",
                value=int(journal.get("bytes", 0)),
            )
            yield CounterMetricFamily(
                "auditsql_journal_errors",
                "Journal writes that failed (the journal is off until the next start).",
                value=int(journal.get("errors", 0)),
            )
            replay = CounterMetricFamily(
                "auditsql_journal_replay",
                "What the start's replay of the journal did: records replayed, records left out (their events were "
                "stored), events the store left out as stored, bytes of a torn last record.",
                labels=["what"],
            )
            for what in ("replayed_frames", "replay_skipped", "replay_duplicates", "torn_bytes"):
                replay.add_metric([what], int(journal.get(what, 0)))
            yield replay
        store = st.get("store")
        if isinstance(store, dict):
            yield GaugeMetricFamily(
                "auditsql_store_full",
                "1 while the store's file system is full (events dropped, loss cause store_full).",
                value=1 if store.get("full") else 0,
            )
            yield GaugeMetricFamily(
                "auditsql_store_space_low",
                "1 while the store's file system has less free space than [store] space_left.",
                value=1 if store.get("space_low") else 0,
            )
            if store.get("free_bytes") is not None:
                yield GaugeMetricFamily(
                    "auditsql_store_free_bytes",
                    "Free bytes on the store's file system (checked every few seconds).",
                    value=int(store["free_bytes"]),
                )
        outs = dict(self.outputs() or {})
        backlog = GaugeMetricFamily(
            "auditsql_output_backlog", "Items queued in an output.", labels=["output"]
        )
        sent = CounterMetricFamily("auditsql_output_sent", "Items an output delivered.", labels=["output"])
        dropped = CounterMetricFamily("auditsql_output_dropped", "Items an output lost.", labels=["output"])
        errors = CounterMetricFamily("auditsql_output_errors", "Errors of an output.", labels=["output"])
        for name, c in sorted(outs.items()):
            backlog.add_metric([name], int(c.get("queued", 0)))
            sent.add_metric([name], int(c.get("sent", 0)))
            dropped.add_metric([name], int(c.get("dropped", 0)))
            errors.add_metric([name], int(c.get("errors", 0)))
        yield from (backlog, sent, dropped, errors)
        if self.results_lines is not None:
            yield CounterMetricFamily(
                "auditsql_results_lines", "Lines written to the results log.", value=int(self.results_lines())
            )


class MetricsServer:
    """The running HTTP server; :meth:`close` stops it."""

    def __init__(self, server: Any, thread: Any, host: str, port: int) -> None:
        self.server = server
        self.thread = thread
        self.host = host
        self.port = port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2.0)


def start_metrics(listen: str, collector: AgentCollector) -> MetricsServer:
    """Serve ``/metrics`` on ``listen`` (HOST:PORT); :class:`MetricsError` (one line) when it cannot."""
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server  # noqa: PLC0415

    host, port = parse_listen(listen)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise MetricsError(f"--metrics {listen}: cannot listen: {why} (choose another HOST:PORT)") from None
    return MetricsServer(server, thread, host, server.server_address[1])

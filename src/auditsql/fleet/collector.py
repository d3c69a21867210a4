"""``auditsql collect``: every agent's rows, from JetStream into one central store with a ``host`` column.

The central store
    Every event and internal table of the registry (``process_events``, ``socket_events``, ...,
    ``audit_events``, ``audit_loss``) with one more column, ``host`` (first), and an index on
    ``(host, time)``; plus ``query_results`` (the agents' scheduled query results, one row per result line:
    ``host``, ``name``, ``action``, ``unix_time``, ``counter``, ``line``: the osquery-format JSON line) and
    ``fleet_consumed`` (the collector's own bookkeeping). It is an ordinary auditsql store:
    ``auditsql query --db central.db "SELECT host, count(*) FROM process_events GROUP BY host"`` and
    ``auditsql shell --db central.db`` work on it unchanged. Rows are stored as the agents mapped them; the
    collector re-runs no mapping (the agents' ``columns`` are matched by name, so an agent with an older or
    newer registry still lands in the right columns; a column the collector does not know is dropped, a table it
    does not know is counted as ``unknown``).

Hosts by id (SQLite)
    In the SQLite store ``host`` is kept as ``host_id``, an id of the table ``hosts`` (each agent's name once),
    in ``NAME_data`` behind the view ``NAME`` that gives ``host`` back (:func:`central_tables` with
    ``host_ids``): every query reads ``host`` as before, and ``WHERE host = ? AND time > ?`` is answered by the
    ``(host_id, time)`` index. The collector keeps the names' ids in memory (:class:`LookupIds`); a new host's
    row is written in the transaction of its first rows. A new file gets pages of :data:`PAGE_SIZE` bytes. A
    store of the layout before (``host`` as text in every row) is upgraded in place at open.

Exactly once, through ``kill -9``
    A durable pull consumer (``--durable``, default ``auditsql-collector``) on ``<prefix>.>`` delivers the
    messages. A fetched batch is written in one SQLite transaction together with the stream sequences it holds
    (``fleet_consumed.done``: the committed sequences as a list of ``[first, last]`` ranges), and only then
    acknowledged. A collector killed before the commit gets the batch again (after the consumer's ack wait,
    ``ACK_WAIT``) and stores it once; killed after the commit but before the acknowledgements reached the
    server, it gets the batch again and skips every message whose sequence is in ``done``. Redeliveries may
    come after newer messages, so a set of ranges is kept rather than a high-water mark; ranges below the
    consumer's acknowledgement floor are merged into one, which keeps the list short. When the stream was
    deleted and created anew (its sequences start again) ``done`` is reset (the stream's creation time is kept
    beside it). One collector process per durable and central store.

    Duplicates the agents publish (a message re-sent after a lost acknowledgement) are dropped by JetStream
    through ``Nats-Msg-Id`` within the stream's duplicate window (see docs/fleet.md).

PostgreSQL (``store``: a ``postgresql://`` URL)
    The same tables in PostgreSQL, partitioned by day, written with ``COPY`` by :mod:`auditsql.fleet.pg_sink`,
    whose transaction claims the batch's sequences in the database itself: any number of collectors may share
    the durable consumer. While PostgreSQL is unavailable the batch in hand stays unacknowledged (its ack wait
    extended while it is retried every ``RETRY`` seconds) and nothing more is fetched. Retention drops day
    partitions (``retention``: table → days, every ``RETENTION_INTERVAL`` seconds).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from auditsql.fleet.connect import ConnectError, NatsOptions, StreamError, connect, ensure_stream
from auditsql.fleet.pg_sink import Item, PgSink, StoreUnavailable
from auditsql.outputs.nats import loads, unwire
from auditsql.store.lookup import LookupIds
from auditsql.store.pg.connect import PgError
from auditsql.store.sqlite import Store, StoreError
from auditsql.tables.central import central_tables

__all__ = [
    "DEFAULT_CENTRAL_DB",
    "DEFAULT_DURABLE",
    "Collector",
    "CollectError",
    "central_tables",
    "percentiles",
]

DEFAULT_CENTRAL_DB = "/var/lib/auditsql/central.db"
DEFAULT_DURABLE = "auditsql-collector"
_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS fleet_consumed (stream TEXT, durable TEXT, created TEXT, done TEXT, "
    "messages INTEGER, PRIMARY KEY (stream, durable))"
)
#: seconds before the server redelivers a message fetched and not acknowledged (a collector killed mid-batch)
ACK_WAIT = 10.0
#: a batch decoded for PostgreSQL: its items, (host, ts) by sequence, every sequence
PgBatch = tuple[list[Item], dict[int, tuple[str, float | None]], list[int]]
#: latency samples kept for the percentiles (a reservoir beyond this)
_SAMPLES = 1_000_000
#: seconds between attempts to commit a batch while PostgreSQL is unavailable
RETRY = 2.0
#: seconds between retention passes (PostgreSQL; the first at start)
RETENTION_INTERVAL = 3600.0
#: seconds between reads of the consumer's acknowledgement floor (and, in PostgreSQL, prunes below it)
FLOOR_INTERVAL = 10.0
#: SQLite's page size for a new central store: 8 KiB pages hold the rows (an event's blob and metadata, about
#: 230 bytes) with less room left over per page than SQLite's default 4 KiB: 11 bytes less per event, 1.5 %
#: (benchmarks/store.py --collector; docs/store.md)
PAGE_SIZE = 8192


class CollectError(Exception):
    """The collector cannot run; ``str()`` is one line naming the cause and the fix; ``code`` the exit status
    (2: bad input, such as refused credentials or a database of a newer schema)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def percentiles(samples: list[float], points: tuple[float, ...] = (50, 90, 99)) -> dict[str, float]:
    """``{"p50": ..., "p90": ..., "p99": ..., "max": ...}`` of ``samples`` (nearest rank); empty: {}."""
    if not samples:
        return {}
    s = sorted(samples)
    out = {f"p{p:g}": s[min(len(s) - 1, max(0, int(round(p / 100 * len(s))) - 1))] for p in points}
    out["max"] = s[-1]
    return out


class Collector:
    """Consumes ``<prefix>.>`` from ``opts.stream`` with the durable ``durable`` into the store at ``db``."""

    def __init__(
        self,
        opts: NatsOptions,
        db: str,
        *,
        durable: str = DEFAULT_DURABLE,
        batch: int = 1000,
        say: Callable[[str], None] | None = None,
        stats_file: str | None = None,
        status_interval: float = 10.0,
        store: str | None = None,
        retention: dict[str, int] | None = None,
    ) -> None:
        self.opts = opts
        self.db = db
        self.retention = dict(retention or {})
        self.durable = durable
        self.batch = batch
        self.say = say or (lambda msg: None)
        self.stats_file = stats_file
        self.status_interval = status_interval
        self.tables = {t.name: t for t in central_tables()}
        #: the SQLite store's: ``host`` kept as an id of ``hosts``
        self.store_tables = {t.name: t for t in central_tables(host_ids=True)}
        self._sql = {n: t.insert_sql() for n, t in self.store_tables.items()}
        #: host name → id in the SQLite store (None until it is open)
        self.hosts: LookupIds | None = None
        #: the PostgreSQL store, when ``store`` is a URL (else the SQLite file ``db``)
        self.pg = PgSink(store, list(self.tables.values()), say=self.say) if store else None
        self.where = self.pg.where if self.pg is not None else db
        self._maps: dict[tuple[str, tuple[str, ...]], list[int | None] | None] = {}
        self.store: Store | None = None
        #: committed stream sequences: sorted, disjoint [first, last] ranges
        self.done: list[list[int]] = []
        self.created = ""
        self.stats: dict[str, Any] = {
            "messages": 0,
            "rows": 0,
            "batches": 0,
            "skipped": 0,
            "bad": 0,
            "unknown": 0,
            "hosts": {},
        }
        self.latency: list[float] = []
        self._nlat = 0
        self._warned: set[str] = set()

    # -- the store ---------------------------------------------------------------------------------------------

    def open_store(self, *, migrate_only: bool = False) -> None:
        if self.pg is not None:
            try:
                self.pg.open(migrate_only=migrate_only)
                if self.retention:
                    self.pg.retention(self.retention)
            except PgError as exc:
                raise CollectError(str(exc), exc.code) from None
            except StoreUnavailable as exc:
                raise CollectError(str(exc), 2) from None
            return
        if self.retention:
            raise CollectError(
                "--retention needs --store postgresql://... (the SQLite store keeps everything)", 2
            )
        try:
            self.store = Store(self.db, tables=self.store_tables.values(), page_size=PAGE_SIZE)
            self.store.create_schema()
            self.store.conn.execute(_STATE_DDL)
            self.hosts = LookupIds(self.store.conn, self.store_tables["audit_events"].lookups[0])
        except StoreError as exc:
            raise CollectError(str(exc), exc.code) from None
        except sqlite3.DatabaseError as exc:
            raise CollectError(f"cannot use {self.db} as the central store: {exc}") from None

    def _load_state(self, created: str) -> None:
        assert self.store is not None
        row = self.store.conn.execute(
            "SELECT created, done FROM fleet_consumed WHERE stream = ? AND durable = ?",
            (self.opts.stream, self.durable),
        ).fetchone()
        self.done = []
        if row is not None and row[0] != created:
            self.say(
                f"collect: the stream {self.opts.stream} was created anew ({created}; was {row[0]}): "
                "its sequences restart"
            )
        elif row is not None:
            self.done = [[int(a), int(b)] for a, b in json.loads(row[1] or "[]")]
        self.created = created

    def seen(self, seq: int) -> bool:
        """Was the message with this stream sequence committed?"""
        done = self.done
        i = bisect.bisect_right(done, [seq, float("inf")]) - 1
        return i >= 0 and done[i][0] <= seq <= done[i][1]

    def _merged(self, seqs: list[int], floor: int = 0) -> list[list[int]]:
        """``done`` plus ``seqs``, with everything at or below ``floor`` (acknowledged) as one range."""
        ranges = [list(r) for r in self.done]
        ranges.extend([q, q] for q in seqs)
        if floor > 0:
            ranges.append([1, floor])
        ranges.sort()
        out: list[list[int]] = []
        for a, b in ranges:
            if out and a <= out[-1][1] + 1:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        return out

    def _column_map(self, table: str, cols: tuple[str, ...]) -> list[int | None] | None:
        """Positions in the agent's row for each central column after ``host`` (None: identity)."""
        key = (table, cols)
        if key in self._maps:
            return self._maps[key]
        mine = self.tables[table].stored_names[1:]
        m: list[int | None] | None = None
        if cols != mine:
            where = {c: i for i, c in enumerate(cols)}
            m = [where.get(c) for c in mine]
        self._maps[key] = m
        return m

    def write(self, msgs: list[tuple[int, bytes]], floor: int = 0) -> int:
        """Store a batch of (stream sequence, payload) in one transaction with its sequences; returns the number
        of messages stored (those committed before are skipped). ``floor``: the consumer's acknowledgement
        floor, if known. PostgreSQL: :class:`StoreUnavailable` when the batch is to be retried later."""
        if self.pg is not None:
            return self._write_pg(msgs)
        assert self.store is not None and self.hosts is not None
        host_id = self.hosts.id
        by_table: dict[str, list[tuple]] = {}
        stamps: list[float] = []
        hosts = self.stats["hosts"]
        seqs: list[int] = []
        stored = 0
        for seq, data in msgs:
            if self.seen(seq):
                self.stats["skipped"] += 1
                continue
            seqs.append(seq)
            got = self._decode(data, host_id)
            if got is None:
                continue
            host, table, rows, ts = got
            by_table.setdefault(table, []).extend(rows)
            hosts[host] = hosts.get(host, 0) + 1
            stored += 1
            if ts is not None:
                stamps.append(ts)
        conn = self.store.conn
        nrows = sum(len(r) for r in by_table.values())
        done = self._merged(seqs, floor)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.hosts.write(conn)
            for table, rows in by_table.items():
                conn.executemany(self._sql[table], rows)
            conn.execute(
                "INSERT OR REPLACE INTO fleet_consumed (stream, durable, created, done, messages) VALUES "
                "(?, ?, ?, ?, coalesce((SELECT messages FROM fleet_consumed WHERE stream = ? AND durable = ?), 0)"
                " + ?)",
                (
                    self.opts.stream,
                    self.durable,
                    self.created,
                    json.dumps(done),
                    self.opts.stream,
                    self.durable,
                    stored,
                ),
            )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.hosts.rolled_back()
            raise CollectError(f"cannot write {nrows} rows to {self.db}: {exc}") from None
        self.hosts.committed()
        self.done = done
        self._stored(stored, nrows, stamps)
        return stored

    def _write_pg(self, msgs: list[tuple[int, bytes]]) -> int:
        return self.commit_pg(self.decode_pg(msgs))

    def decode_pg(self, msgs: list[tuple[int, bytes]]) -> PgBatch:
        """A fetched batch decoded once (it may be committed more than once: PostgreSQL unavailable)."""
        items: list[Item] = []
        meta: dict[int, tuple[str, float | None]] = {}
        seen: set[int] = set()
        for seq, data in msgs:
            if seq in seen:  # the same message twice in one batch: stored once
                continue
            seen.add(seq)
            got = self._decode(data)
            if got is not None:
                host, table, rows, ts = got
                items.append((seq, table, rows))
                meta[seq] = (host, ts)
        return items, meta, [seq for seq, _ in msgs]

    def commit_pg(self, batch: PgBatch) -> int:
        """Commit a decoded batch into PostgreSQL: the messages whose sequences the commit claims are stored
        (the others were before). :class:`StoreUnavailable`: retry later."""
        assert self.pg is not None
        items, meta, seqs = batch
        try:
            claimed, refused = self.pg.commit(items, seqs)
        except PgError as exc:
            raise CollectError(str(exc), exc.code) from None
        self.stats["skipped"] += len(seqs) - len(claimed) - len(refused)
        if refused:
            self.stats["bad"] += len(refused)
            self._warn("collect: messages PostgreSQL refuses are skipped and counted as undecodable")
        hosts = self.stats["hosts"]
        stamps: list[float] = []
        nrows = stored = 0
        for seq, _table, rows in items:
            if seq in claimed:
                host, ts = meta[seq]
                hosts[host] = hosts.get(host, 0) + 1
                stored += 1
                nrows += len(rows)
                if ts is not None:
                    stamps.append(ts)
        self._stored(stored, nrows, stamps)
        return stored

    def _stored(self, stored: int, nrows: int, stamps: list[float]) -> None:
        now = time.time()
        self.stats["messages"] += stored
        self.stats["rows"] += nrows
        self.stats["batches"] += 1
        for ts in stamps:
            self._sample(now - ts)

    def _decode(
        self, data: bytes, host_key: Callable[[object], object] | None = None
    ) -> tuple[str, str, list[tuple], float | None] | None:
        """(host, central table, rows, ts) of one message; None for one that is skipped and counted (undecodable,
        or for a table unknown here). The rows' first value is the host, or ``host_key(host)`` (its id)."""
        try:
            d = loads(data)
            host, table = d["host"], d["table"]
            h = host if host_key is None else host_key(host)
            if table == "results":
                rows = [
                    (
                        h,
                        line.get("name"),
                        line.get("action"),
                        line.get("unixTime"),
                        line.get("counter"),
                        json.dumps(line, separators=(",", ":")),
                    )
                    for line in d["lines"]
                ]
                table = "query_results"
            elif table in self.tables:
                m = self._column_map(table, tuple(d["columns"]))
                if m is None:
                    rows = [(h, *map(unwire, r)) for r in d["rows"]]
                else:
                    rows = [(h, *(None if i is None else unwire(r[i]) for i in m)) for r in d["rows"]]
            else:
                self.stats["unknown"] += 1
                self._warn(f"collect: messages for table {table} (unknown here) are skipped and counted")
                return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.stats["bad"] += 1
            self._warn(f"collect: undecodable messages are skipped and counted ({type(exc).__name__})")
            return None
        ts = d.get("ts")
        return host, table, rows, ts if isinstance(ts, (int, float)) else None

    def _sample(self, v: float) -> None:
        self._nlat += 1
        if len(self.latency) < _SAMPLES:
            self.latency.append(v)
        else:
            j = random.randrange(self._nlat)
            if j < _SAMPLES:
                self.latency[j] = v

    def _warn(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self.say(msg)

    # -- consuming ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, duration: float | None = None) -> int:
        """Consume until ``stop`` is set (or ``duration`` seconds); the exit code."""
        import nats.errors
        import nats.js.errors as jse
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        if self.store is None and (self.pg is None or self.pg.conn is None):
            self.open_store()
        end = time.monotonic() + duration if duration is not None else None
        nc = None
        said_unreachable = False
        while nc is None:
            try:
                nc = await connect(self.opts, f"auditsql collector {self.durable}")
            except ConnectError as exc:
                if exc.auth:
                    raise CollectError(
                        f"{exc} (fix the credentials: --user/--password, --token, --creds)"
                    ) from None
                if not said_unreachable:
                    self.say(f"collect: {exc}; retrying every 2 s")
                    said_unreachable = True
                if await _wait(stop, 2.0) or (end is not None and time.monotonic() >= end):
                    return 0
        try:
            try:
                note = await ensure_stream(nc, self.opts)
            except StreamError as exc:
                raise CollectError(str(exc)) from None
            if note:
                self.say(f"collect: {note}")
            js = nc.jetstream(timeout=10.0)
            info = await js.stream_info(self.opts.stream)
            created = info.created.isoformat() if info.created else ""
            if self.pg is not None:
                pg = self.pg
                if not await self._pg_retry(lambda: pg.attach(self.opts.stream, self.durable, created), stop):
                    return 0
            else:
                self._load_state(created)
            subject = f"{self.opts.subject_prefix}.>"
            try:
                psub = await js.pull_subscribe(
                    subject,
                    durable=self.durable,
                    stream=self.opts.stream,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                        ack_wait=ACK_WAIT,
                        max_ack_pending=max(20000, self.batch * 4),
                        max_deliver=-1,
                    ),
                )
            except jse.APIError as exc:
                raise CollectError(
                    f"cannot create the durable consumer {self.durable} on {self.opts.stream}: {exc.description}"
                ) from None
            self.say(
                f"collecting ({', '.join(self.opts.servers())}; stream {self.opts.stream}; durable "
                f"{self.durable}; {'store' if self.pg is not None else 'db'} {self.where}; pid {os.getpid()})"
            )
            next_status = time.monotonic() + self.status_interval if self.status_interval else None
            next_stats = next_floor = 0.0
            next_retention = time.monotonic() + RETENTION_INTERVAL
            floor = 0
            last_msgs, last_t = 0, time.monotonic()
            while not stop.is_set():
                now = time.monotonic()
                if end is not None and now >= end:
                    break
                try:
                    msgs = await psub.fetch(self.batch, timeout=0.5)
                except (nats.errors.TimeoutError, TimeoutError):
                    msgs = []
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                    await asyncio.sleep(0.5)
                    msgs = []
                except jse.APIError as exc:
                    self._warn(f"collect: fetching failed: {exc.description}; retrying")
                    await asyncio.sleep(1.0)
                    msgs = []
                if now >= next_floor:
                    try:
                        floor = (await psub.consumer_info()).ack_floor.stream_seq or 0
                    except Exception:  # noqa: BLE001 - only an optimisation of the bookkeeping
                        pass
                    if self.pg is not None:
                        try:
                            self.pg.prune(floor)
                        except StoreUnavailable:
                            pass  # the next batch waits for the server
                        except PgError as exc:
                            self._warn(f"collect: {exc}")
                    next_floor = now + FLOOR_INTERVAL
                if msgs and self.pg is not None:
                    batch = self.decode_pg([(m.metadata.sequence.stream, m.data) for m in msgs])
                    if not await self._pg_retry(lambda b=batch: self.commit_pg(b), stop, msgs):
                        break  # stopped while PostgreSQL was away: nothing acknowledged, all redelivered
                    for m in msgs:
                        await m.ack()
                elif msgs:
                    self.write([(m.metadata.sequence.stream, m.data) for m in msgs], floor)
                    for m in msgs:
                        await m.ack()
                if self.pg is not None and self.retention and now >= next_retention:
                    try:
                        self.pg.retention(self.retention)
                    except (StoreUnavailable, PgError) as exc:
                        self._warn(f"collect: retention failed: {exc}; tried again in an hour")
                    next_retention = now + RETENTION_INTERVAL
                now = time.monotonic()
                if self.stats_file and now >= next_stats:
                    self.write_stats()
                    next_stats = now + 1.0
                if next_status is not None and now >= next_status:
                    rate = (self.stats["messages"] - last_msgs) / max(now - last_t, 1e-9)
                    self.say(self.status_line(rate))
                    last_msgs, last_t = self.stats["messages"], now
                    next_status = now + self.status_interval
            try:
                await nc.flush(timeout=2)
            except Exception:  # noqa: BLE001 - acks not flushed are redelivered and skipped
                pass
        finally:
            try:
                await asyncio.wait_for(nc.close(), 3.0)
            except Exception:  # noqa: BLE001
                pass
            if self.stats_file:
                self.write_stats()
        self.say("stopped; " + self.status_line(None))
        return 0

    async def _pg_retry(self, step: Callable[[], object], stop: asyncio.Event, msgs: list[Any] = ()) -> bool:
        """Run ``step`` until PostgreSQL takes it; while it is unavailable, say so once, keep the fetched
        ``msgs`` ours (``in_progress``: their ack wait starts again) and retry every ``RETRY`` s. False when
        stopped first."""
        said = False
        while True:
            try:
                step()
            except PgError as exc:
                raise CollectError(str(exc), exc.code) from None
            except StoreUnavailable as exc:
                if not said:
                    held = f"; {len(msgs)} messages held unacknowledged" if msgs else ""
                    self.say(f"collect: {exc}{held}; retrying every {RETRY:g} s")
                    said = True
                for m in msgs:
                    try:
                        await m.in_progress()
                    except Exception:  # noqa: BLE001 - then JetStream redelivers them: claimed once all the same
                        pass
                if await _wait(stop, RETRY):
                    return False
                continue
            if said:
                self.say(f"collect: {self.where} is back; resuming")
            return True

    def status_line(self, rate: float | None) -> str:
        s = self.stats
        parts = [] if rate is None else [f"{rate:.1f} messages/s"]
        parts += [
            f"messages {s['messages']}",
            f"rows {s['rows']}",
            f"hosts {len(s['hosts'])}",
            f"redelivered skipped {s['skipped']}",
        ]
        if s["bad"]:
            parts.append(f"undecodable {s['bad']}")
        if s["unknown"]:
            parts.append(f"unknown table {s['unknown']}")
        lat = percentiles(self.latency)
        if lat:
            parts.append(f"latency p50 {lat['p50'] * 1000:.0f} ms p99 {lat['p99'] * 1000:.0f} ms")
        return ", ".join(parts)

    def write_stats(self) -> None:
        if not self.stats_file:
            return
        data = {
            **self.stats,
            "time": time.time(),
            "done": self.done[:10],
            "store": self.where,
            "latency": percentiles(self.latency),
            "latency_samples": self._nlat,
        }
        tmp = self.stats_file + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.stats_file)
        except OSError:
            pass  # counters are a convenience

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if self.store is not None:
            try:
                self.store.close()
            except StoreError as exc:
                self.say(str(exc))
            self.store = None


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True

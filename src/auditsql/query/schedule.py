"""Scheduled queries: osquery's ``schedule``, each run returning only the event rows new since the previous one.

How only new rows are returned (osquery's events optimization)
    SQLite resolves an unqualified table name in the ``temp`` schema before ``main``. Before a query runs, the
    scheduler's own read-only connection gets, for every event table ``T``::

        CREATE TEMP VIEW T AS SELECT * FROM main.T WHERE rowid > :last AND rowid <= :now

    ``:now`` is ``T``'s largest rowid when this run starts, ``:last`` the one when the previous run of the
    *same* query started (for the first run: when the scheduler started, so the first run covers the rows
    stored since ``auditsql run`` started). The SQL is run as written and sees only the new rows; ``main.T``
    still reaches the whole table. The store inserts rows with increasing rowids (retention deletes the
    oldest), so no row is returned twice and none is skipped; if a table's largest rowid went down (retention
    emptied it, rowids start again) the range restarts at 0. Snapshot queries see the whole tables.

Results go to a :class:`~auditsql.outputs.results_log.ResultsLog`. ``counter``: an event query's is 0 for its
first run that returns rows, +1 for each later run that does; a differential query's follows osquery's
``Query::addNewResults`` (``osquery/core/query.cpp``): 0 for its first run (all its rows are ``added``), then +1
for each run whose result set changed (rows added or removed, also removed rows not logged with ``removed:
false``).

What survives a restart (osquery keeps it in its database, ``kQueries``): with a
:class:`~auditsql.store.schedule_state.ScheduleState`, each query's SQL, epoch, counter, a differential query's
previous result set and the rowids an event query has read up to are kept in the store (``audit_schedule``),
written after each run's lines. At start a query takes its saved state back: an event query continues after the
last rowid it read, a differential query logs only what changed since its last run before the restart, the
counter goes on. A query whose SQL changed starts afresh (its event rows from the scheduler's start, its result
set all ``added``, counter 0); a saved state of another ``epoch`` (the results log's ``epoch``) starts the
results and the counter afresh (osquery's ``new_query_epoch``) while an event query still continues where it
read. Without a saved state (a new query, or no ``ScheduleState``) a query starts afresh.

osquery's scheduler, beyond that (``osquery/dispatcher/scheduler.cpp``, ``packs.cpp``, the decorators parser):

- a query that reads no event table is *differential*: each run logs the rows added since the previous run
  and, unless ``removed`` is false, the rows removed (``"action": "removed"``, written first); the previous
  result set is kept (in the store, above), so the first run of a new query logs every row as added;
- ``denylist``: a run interrupted by the time limit keeps the query from running for ``denylist_duration``
  seconds (osquery's watchdog denylist; 0, the default of a TOML configuration: never), unless the query
  says ``denylist: false``;
- ``discovery``: queries that must all return rows for the job to run, checked every
  ``pack_refresh_interval`` seconds (a pack's discovery); while they do not, the job's runs are skipped and
  its event rows wait for the next run that happens;
- decorators: the first row of each ``load`` query at start, of each ``always`` query before every run, of
  each ``interval`` query at start and then every N seconds, its columns merged into the ``decorations`` of
  every line (a later column of the same name wins; osquery keeps them in a sorted map).
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from auditsql.outputs.results_log import ResultsLog, column_text, row_columns
from auditsql.store.schedule_state import SavedQuery, ScheduleState, ScheduleStateError

__all__ = ["QUERY_TIME_LIMIT", "Decorators", "Job", "ScheduleError", "Scheduler", "check_queries", "splay"]

#: seconds a scheduled query may run before it is interrupted
QUERY_TIME_LIMIT = 60.0


class ScheduleError(Exception):
    """A scheduled query failed; ``str()`` is one line naming the query."""


@dataclass
class Job:
    """A scheduled query and its state."""

    name: str
    query: str
    interval: float
    snapshot: bool = False
    #: log removed rows of a differential query
    removed: bool = True
    #: kept from running for a while after a run interrupted by the time limit
    denylist: bool = True
    #: queries that must all return rows for this job to run (a pack's discovery)
    discovery: tuple[str, ...] = ()
    #: largest rowid per event table when the previous run started
    marks: dict[str, int] = field(default_factory=dict)
    #: the last counter written, None before the first run with rows
    counter: int | None = None
    next_run: float = 0.0
    runs: int = 0
    rows: int = 0
    errors: int = 0
    #: the previous result set of a differential query (rows as column items), None: afresh (the next run logs
    #: every row as added)
    previous: Counter | None = None
    #: monotonic time before which a denylisted job does not run
    denied_until: float = 0.0


@dataclass(frozen=True)
class Decorators:
    """osquery's decorator queries: ``load`` at start, ``always`` before every run, ``interval`` every N s."""

    load: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    interval: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.load or self.always or self.interval)


def splay(interval: int, percent: int, rng: random.Random | None = None) -> int:
    """osquery's ``splayValue``: ``interval`` moved at random by up to ``percent`` percent (at least 1)."""
    if percent <= 0 or percent > 100:
        return interval
    diff = int(interval * percent / 100)
    low, high = max(1, interval - diff), interval + diff
    return high if low == high else (rng or random.Random()).randint(low, high)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _mentions(sql: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if re.search(rf"(?<![\w$]){re.escape(n)}(?![\w$])", sql, re.IGNORECASE)]


class Scheduler:
    """Runs :class:`Job` s against the store at ``db_path`` through a read-only connection of its own.

    ``event_tables``: the tables to shadow (every table with rows from events); ``live_tables``: tables to
    refresh (``refresh_live(names)``) before a query that names them; ``before_run``: called before every run
    (the agent commits the store's buffered rows there).
    """

    def __init__(
        self,
        db_path: str,
        jobs: Sequence[Job],
        results: ResultsLog,
        event_tables: Sequence[str],
        live_tables: Sequence[str] = (),
        refresh_live: Callable[[list[str]], object] | None = None,
        before_run: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        time_limit: float = QUERY_TIME_LIMIT,
        decorators: Decorators = Decorators(),
        denylist_duration: float = 0.0,
        pack_refresh_interval: float = 3600.0,
        state: ScheduleState | None = None,
    ) -> None:
        self.db_path = db_path
        #: where each query's state is kept across restarts (None: in memory only)
        self.state = state
        self.jobs = list(jobs)
        self.results = results
        self.event_tables = list(event_tables)
        self.live_tables = list(live_tables)
        self.refresh_live = refresh_live
        self.before_run = before_run
        self.clock = clock
        self.monotonic = monotonic
        self.time_limit = time_limit
        self.conn: sqlite3.Connection | None = None
        self._deadline = 0.0
        self.decorators = decorators
        self.denylist_duration = denylist_duration
        self.pack_refresh_interval = pack_refresh_interval
        #: decorator column -> value, as last run
        self.decorations: dict[str, str] = {}
        self._next_decorate: dict[int, float] = {}
        self._decorator_errors: list[ScheduleError] = []
        #: discovery queries -> (monotonic time checked, all returned rows)
        self._discovered: dict[tuple[str, ...], tuple[float, bool]] = {}
        self._event_tables_lower = [t.lower() for t in self.event_tables]

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> list[ScheduleError]:
        """Open the read-only connection and take every job's starting marks (rows stored so far are old); run
        the load and interval decorators. Returns the decorators' errors."""
        from auditsql.query.engine import limit_connection, refuse_functions
        from auditsql.store.functions import install
        from auditsql.store.sqlite import ro_uri

        self.conn = sqlite3.connect(
            ro_uri(self.db_path), uri=True, isolation_level=None, check_same_thread=False
        )
        install(self.conn)
        limit_connection(self.conn)
        self.conn.set_authorizer(refuse_functions)
        self.conn.set_progress_handler(self._progress, 10000)
        now = self.monotonic()
        marks = self._current_marks()
        for job in self.jobs:
            job.marks = dict(marks)
            job.next_run = now + job.interval
        errors: list[ScheduleError] = []
        if self.state is not None:
            try:
                self._restore(self.state.load(), marks)
                self.state.purge([j.name for j in self.jobs], self.clock())
            except ScheduleStateError as exc:  # said; the queries start afresh
                errors.append(ScheduleError(f"{exc}: the scheduled queries start afresh"))
        if self.decorators:
            errors += self._decorate(self.decorators.load)
            for secs, queries in self.decorators.interval.items():
                errors += self._decorate(queries)
                self._next_decorate[secs] = now + secs
        return errors

    def _restore(self, saved: Mapping[str, SavedQuery], marks: dict[str, int]) -> None:
        """Give each job the state it had before the restart (module docstring)."""
        epoch = self.results.epoch
        for job in self.jobs:
            s = saved.get(job.name)
            if job.snapshot or s is None or s.query != job.query:
                continue  # afresh: a snapshot keeps nothing, a new or changed query starts over
            job.marks = {t: s.marks.get(t, hi) for t, hi in marks.items()}  # where it read up to
            if s.epoch == epoch:
                job.counter = s.counter
                job.previous = None if s.results is None else Counter(s.results)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.state is not None:
            self.state.close()

    # -- running ---------------------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        return min((j.next_run for j in self.jobs), default=None)

    def run_due(self, now: float | None = None) -> list[ScheduleError]:
        """Run the jobs whose time has come; returns the errors (the jobs run again at their next interval)."""
        now = self.monotonic() if now is None else now
        errors: list[ScheduleError] = []
        for secs, when in self._next_decorate.items():
            if when <= now:
                self._next_decorate[secs] = now + secs
                errors += self._decorate(self.decorators.interval[secs])
        due = [j for j in self.jobs if j.next_run <= now]
        for job in due:
            job.next_run = now + job.interval
            if job.denied_until > now or not self._discovery(job, now):
                continue
            try:
                self.run(job)
            except ScheduleError as exc:
                if job.denylist and self.denylist_duration > 0 and "interrupted after" in str(exc):
                    job.denied_until = now + self.denylist_duration
                    exc = ScheduleError(f"{exc}; denylisted for {self.denylist_duration:g} s")
                errors.append(exc)
        errors += self._decorator_errors
        self._decorator_errors = []
        return errors

    def run_all(self, snapshots: bool = True) -> list[ScheduleError]:
        """Run every job now (at shutdown: the rows since each job's last run are not lost)."""
        errors = []
        now = self.monotonic()
        for job in self.jobs:
            if job.snapshot and not snapshots:
                continue
            if job.denied_until > now or not self._discovery(job, now):
                continue
            try:
                self.run(job)
            except ScheduleError as exc:
                errors.append(exc)
        errors += self._decorator_errors
        self._decorator_errors = []
        return errors

    def run(self, job: Job) -> int:
        """Run ``job`` once; write its rows; return the number of rows."""
        if self.conn is None:
            raise RuntimeError("Scheduler.start() was not called")
        if self.before_run is not None:
            self.before_run()
        live = _mentions(job.query, self.live_tables)
        if live and self.refresh_live is not None:
            try:
                self.refresh_live(live)
            except Exception as exc:  # the store's one-line errors
                job.errors += 1
                raise ScheduleError(f"scheduled query {job.name}: {exc}") from None
        if self.decorators.always:  # a failing decorator is reported with the run's errors, the query runs
            self._decorator_errors += self._decorate(self.decorators.always)
        self.results.set_decorations(self.decorations)
        when = self.clock()
        now_marks = self._current_marks()
        ranges = {}
        for t, hi in now_marks.items():
            lo = 0 if job.snapshot else job.marks.get(t, 0)
            if hi < lo:  # the table was emptied and rowids started again
                lo = 0
            ranges[t] = (lo, hi)
        try:
            names, rows = self._execute(job.query, ranges)
        except sqlite3.Error as exc:
            job.errors += 1
            raise ScheduleError(f"scheduled query {job.name}: {_sql_message(exc, self.time_limit)}") from None
        if not job.snapshot:
            job.marks = now_marks
        job.runs += 1
        changed = False
        if job.snapshot:
            cols = [row_columns(names, r) for r in rows]
            self.results.snapshot(job.name, 0, cols, when)
        elif not self._event_based(job):
            changed = self._differential(job, [row_columns(names, r) for r in rows], when)
        elif rows:
            job.counter = 0 if job.counter is None else job.counter + 1
            self.results.added(job.name, job.counter, (row_columns(names, r) for r in rows), when)
        job.rows += len(rows)
        if not job.snapshot and self.state is not None:  # after the lines: a crash between logs them again
            kept = None if job.previous is None else list(job.previous.elements())
            saved = SavedQuery(job.query, self.results.epoch, job.counter, kept, dict(job.marks), when)
            try:
                self.state.save(job.name, saved, results=changed or kept is None)
            except ScheduleStateError as exc:
                job.errors += 1
                raise ScheduleError(f"scheduled query {job.name}: {exc}") from None
        return len(rows)

    def _event_based(self, job: Job) -> bool:
        return bool(_mentions(job.query, self.event_tables))

    def _differential(self, job: Job, rows: list[dict[str, str]], when: float) -> bool:
        """osquery's ``addNewResults``: log the rows added and removed since the previous run (all rows added,
        counter 0, for the first run afresh); the counter goes up when the result set changed. Returns whether
        the kept result set changed."""
        now = Counter(tuple(r.items()) for r in rows)
        fresh = job.previous is None
        before = Counter() if job.previous is None else job.previous
        added = now - before
        removed = before - now
        changed = fresh or bool(added or removed)
        if changed:  # update_db; the counter: getQueryCounter(is_reset=fresh, reset_has_all_records=true)
            job.previous = now
            job.counter = 0 if fresh or job.counter is None else job.counter + 1
        if not job.removed:  # scheduler.cpp: removed rows counted in the diff, not reported
            removed = Counter()
        if not added and not removed:
            return changed
        assert job.counter is not None
        if removed:
            self.results.removed(job.name, job.counter, [dict(r) for r in removed.elements()], when)
        if added:
            self.results.added(job.name, job.counter, [dict(r) for r in added.elements()], when)
        return changed

    def _discovery(self, job: Job, now: float) -> bool:
        """Whether ``job``'s discovery queries all return rows (checked every pack_refresh_interval)."""
        if not job.discovery:
            return True
        seen = self._discovered.get(job.discovery)
        if seen is not None and now - seen[0] < self.pack_refresh_interval:
            return seen[1]
        ok = True
        for sql in job.discovery:
            try:
                _names, rows = self._plain(sql)
            except (sqlite3.Error, ScheduleError):
                ok = False
            else:
                ok = bool(rows)
            if not ok:
                break
        self._discovered[job.discovery] = (now, ok)
        return ok

    def _plain(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run ``sql`` over the whole tables (decorators, discovery), live tables refreshed first."""
        if self.conn is None:
            raise RuntimeError("Scheduler.start() was not called")
        live = _mentions(sql, self.live_tables)
        if live and self.refresh_live is not None:
            try:
                self.refresh_live(live)
            except Exception as exc:  # the store's one-line errors
                raise ScheduleError(str(exc)) from None
        return self._execute(sql, {})

    def _decorate(self, queries: Iterable[str]) -> list[ScheduleError]:
        """Run decorator queries; the first row's columns go into :attr:`decorations`."""
        errors = []
        for sql in queries:
            try:
                names, rows = self._plain(sql)
            except (sqlite3.Error, ScheduleError) as exc:
                errors.append(ScheduleError(f"decorator {sql!r}: {exc}"))
                continue
            if rows:
                for name, value in zip(names, rows[0], strict=True):
                    self.decorations[name] = column_text(value)
        return errors

    def _current_marks(self) -> dict[str, int]:
        assert self.conn is not None
        self._shadow({})  # the real tables
        out = {}
        for t in self.event_tables:
            storage, _ = _source(t)
            try:
                (hi,) = self.conn.execute(f"SELECT max(rowid) FROM main.{_quote(storage)}").fetchone()
            except sqlite3.OperationalError:
                hi = None  # not created yet
            out[t] = int(hi or 0)
        return out

    def _shadow(self, ranges: dict[str, tuple[int, int]]) -> None:
        conn = self.conn
        assert conn is not None
        for t in self.event_tables:
            conn.execute(f"DROP VIEW IF EXISTS temp.{_quote(t)}")
        for t, (lo, hi) in ranges.items():
            storage, picks = _source(t)
            conn.execute(
                f"CREATE TEMP VIEW {_quote(t)} AS SELECT {picks} FROM main.{_quote(storage)} "
                f"WHERE rowid > {int(lo)} AND rowid <= {int(hi)}"
            )

    def _execute(self, sql: str, ranges: dict[str, tuple[int, int]]) -> tuple[list[str], list[tuple]]:
        conn = self.conn
        assert conn is not None
        self._shadow(ranges)
        self._deadline = self.monotonic() + self.time_limit
        try:
            cur = conn.execute(sql)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description or ()]
        finally:
            self._deadline = 0.0
            self._shadow({})
        return names, rows

    def _progress(self) -> int:
        return 1 if self._deadline and self.monotonic() > self._deadline else 0


def _source(name: str) -> tuple[str, str]:
    """(the SQLite table holding ``name``'s rows, what to select from it): a table with derived columns is
    kept in ``NAME_data`` and read through the registry's select list (its rowids are the rows' order)."""
    import auditsql.tables  # noqa: F401 - fills the registry
    from auditsql.tables.registry import REGISTRY

    t = REGISTRY.get(name)
    if t is None or t.storage == name:
        return name, "*"
    return t.storage, t.select_list()


def _sql_message(exc: sqlite3.Error, limit: float) -> str:
    from auditsql.query.engine import REFUSED_FUNCTIONS, VALUE_LIMIT, refusal

    msg = str(exc)
    if msg == "interrupted":
        return f"interrupted after {limit:g} s (the time limit)"
    name = msg.removeprefix("not authorized to use function: ").lower()
    if name in REFUSED_FUNCTIONS:
        return refusal(name)
    if msg == "string or blob too big":
        return f"a value grew beyond {VALUE_LIMIT} bytes, the limit of one value"
    return msg


def check_queries(jobs: Sequence[Job], ddl: Iterable[str]) -> list[str]:
    """Compile every job's SQL against the schema (``ddl`` statements) in memory; one line per bad query.

    Catches unknown tables and columns and syntax errors before ``auditsql run`` touches the kernel.
    """
    from auditsql.store.functions import install

    conn = sqlite3.connect(":memory:")
    try:
        install(conn, ())
        for stmt in ddl:
            conn.executescript(stmt)
        problems = []
        for job in jobs:
            try:
                conn.execute(f"EXPLAIN {job.query}")
            except sqlite3.Error as exc:
                problems.append(f"schedule.{job.name}.query: {exc}")
            else:
                if conn.in_transaction:
                    conn.rollback()
        return problems
    finally:
        conn.close()

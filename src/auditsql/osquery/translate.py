"""An osquery configuration (``osquery.conf``, its ``.d`` directory, packs, a flagfile) into auditsql's
:class:`~auditsql.config.Config`, with a summary of what has no meaning here.

The translation follows osquery's own (``osquery/config/config.cpp``, ``packs.cpp``, the config parsers):

- sources: a file, then the ``*.conf`` files of ``FILE.d/`` in name order (osquery's filesystem config
  plugin); a directory: its ``*.conf`` files in name order. Later sources override earlier options; the
  schedule, packs, decorators and file paths of every source are kept (a query name given twice: the later);
- ``schedule`` is the pack ``main`` (its queries keep their names), ``packs`` hold inline packs or pack file
  paths (``"*"``: a glob of pack files, each named after its file); a pack's queries are named
  ``pack_PACK_QUERY`` (``pack_delimiter``);
- a pack or query is skipped, as osquery skips it, for its ``platform``, ``version`` or ``shard``, or an
  interval of 0 or over a week; the rest keep ``query``, ``interval`` (the pack's, else
  ``schedule_default_interval``), ``snapshot``, ``removed``, ``denylist``, ``description`` and the pack's
  ``discovery`` queries;
- every query (and decorator, and discovery query) is compiled against auditsql's tables: one naming
  tables auditsql lacks is skipped and counted in the summary;
- ``decorators`` (``load``, ``always``, ``interval``), ``file_paths`` (``%``/``%%`` globs) and ``options``
  (:mod:`auditsql.osquery.options`).

Bad input raises :class:`~auditsql.config.ConfigError` (one line): JSON that does not parse (with the line
and column), a pack path that does not exist, an option or key with a bad value.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Any

from auditsql.config import OUTPUTS, SECTIONS, Config, ConfigError, build, json_object, read_text
from auditsql.osquery.options import OptionError, Options, apply_option, as_bool, as_uint, parse_flagfile
from auditsql.osquery.packs import (
    MAX_INTERVAL,
    OSQUERY_VERSION,
    machine_shard,
    platform_ok,
    query_name,
    shard_ok,
    version_ok,
)
from auditsql.osquery.sqlcheck import Checker

__all__ = ["Translation", "sources_of", "translate"]

#: top-level keys this translation reads
KNOWN_KEYS = ("options", "schedule", "packs", "decorators", "file_paths")
#: seconds osquery's watchdog denylists a query for
DENYLIST_DURATION = 86400
#: how many names a summary line lists before "…"
LISTED = 6

# why a query is skipped: (plural, singular) phrases of the summary
NO_TABLES = ("use tables auditsql does not have", "uses tables auditsql does not have")
FOR_PLATFORM = ("are for other platforms", "is for another platform")
NEWER = (f"need an osquery newer than {OSQUERY_VERSION}", f"needs an osquery newer than {OSQUERY_VERSION}")
SHARD = ("are outside this host's shard", "is outside this host's shard")
DISCOVERY_TABLES = (
    "have discovery queries on tables auditsql does not have",
    "has discovery queries on tables auditsql does not have",
)
DISCOVERY_BAD = (
    "have discovery queries that do not compile here",
    "has discovery queries that do not compile here",
)
NO_QUERY = ("have no query", "has no query")
BAD_INTERVAL = (f"have an interval outside 1..{MAX_INTERVAL}", f"has an interval outside 1..{MAX_INTERVAL}")
BAD_SQL = ("do not compile here", "does not compile here")


@dataclass
class _Query:
    name: str
    query: str
    interval: int
    snapshot: bool
    removed: bool
    denylist: bool
    description: str
    discovery: list[str]


@dataclass
class Translation:
    """The configuration, the summary lines (``Config.notes``) and one line per query not run."""

    config: Config
    summary: list[str]
    details: list[str] = field(default_factory=list)


def sources_of(path: str) -> list[str]:
    """The files a configuration path stands for, in osquery's merge order."""
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(glob.escape(path), "*.conf")))
    return [path, *sorted(glob.glob(os.path.join(glob.escape(path + ".d"), "*.conf")))]


def _where(path: str, key: str) -> str:
    """``PATH:LINE`` of the first ``"key":`` in the file (``PATH`` when not found)."""
    needle = f'"{key}"'
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if needle in line:
            return f"{path}:{n}"
    return path


class _Translator:
    def __init__(self, hostname: str | None) -> None:
        self.opts = Options()
        self.machine = machine_shard(hostname)
        self.queries: dict[str, _Query] = {}
        self.total = 0
        self.skipped: dict[tuple[str, str], Counter[str]] = {}  # reason -> what (platforms, tables...)
        self.skip_count: Counter[tuple[str, str]] = Counter()
        self.details: list[str] = []
        self.decorators: dict[str, list[str]] = {"load": [], "always": []}
        self.intervals: dict[str, list[str]] = {}
        self.decorator_notes: list[str] = []
        self.decorators_total = 0
        self.decorators_missing: Counter[str] = Counter()
        self.file_paths: list[str] = []
        self.file_notes: list[str] = []
        self.other_keys: list[str] = []
        self.pack_notes: list[str] = []
        self.checker = Checker()

    # -- skipping ------------------------------------------------------------------------------------------

    def skip(self, name: str, reason: tuple[str, str], what: str | None = None) -> None:
        self.skip_count[reason] += 1
        if what:
            self.skipped.setdefault(reason, Counter())[what] += 1
        self.details.append(f"{name}: {reason[1]}{f' ({what})' if what else ''}: skipped")

    # -- sources -------------------------------------------------------------------------------------------

    def options(self, doc: dict[str, Any], path: str) -> None:
        opts = doc.get("options")
        if opts is None:
            return
        if not isinstance(opts, dict):
            raise ConfigError(f"{path}: options: expected an object, got {type(opts).__name__}")
        for name, value in opts.items():
            try:
                apply_option(self.opts, name, value)
            except OptionError as exc:
                raise ConfigError(f"{_where(path, name)}: options.{exc}") from None

    def source(self, doc: dict[str, Any], path: str) -> None:
        if "queries" in doc and "schedule" not in doc and "packs" not in doc:
            # a pack file given as the configuration: the pack, named after the file
            name = os.path.splitext(os.path.basename(path))[0]
            self.pack_notes.append(f"{path} is a pack: read as pack {name}")
            self.pack(name, doc, path)
            return
        for key in doc:
            if key not in KNOWN_KEYS and key not in self.other_keys:
                self.other_keys.append(key)
        schedule = doc.get("schedule")
        if schedule is not None:
            if not isinstance(schedule, dict):
                raise ConfigError(f"{path}: schedule: expected an object of queries")
            self.pack(None, {"queries": schedule}, path)
        packs = doc.get("packs")
        if packs is not None:
            if not isinstance(packs, dict):
                raise ConfigError(f"{path}: packs: expected an object (pack name: pack or pack file path)")
            for pname, value in packs.items():
                if isinstance(value, dict):
                    self.pack(pname, value, path)
                elif isinstance(value, str):
                    for name, pack, ppath in self.pack_files(pname, value, path):
                        self.pack(name, pack, ppath)
                else:
                    raise ConfigError(f"{path}: packs.{pname}: expected a pack object or a pack file path")
        self.decorators_of(doc.get("decorators"), path)
        self.file_paths_of(doc.get("file_paths"), "file_paths")

    def pack_files(self, name: str, value: str, path: str) -> list[tuple[str, dict[str, Any], str]]:
        base = os.path.dirname(os.path.abspath(path))
        if name == "*":
            found = sorted(glob.glob(value)) or sorted(glob.glob(os.path.join(base, value)))
            if not found:
                raise ConfigError(f"{path}: packs.*: no pack file matches {value}")
            return [
                (os.path.splitext(os.path.basename(f))[0], json_object(read_text(f), f), f) for f in found
            ]
        target = value if os.path.isabs(value) or os.path.isfile(value) else os.path.join(base, value)
        if not os.path.isfile(target):
            if "/" not in value:
                # a bare name: osquery asks its config plugin for it (a file there, a mock in its own tests);
                # reported, as osquery warns and goes on
                self.pack_notes.append(f"packs.{name}: no pack file {value} beside {path}: skipped")
                return []
            raise ConfigError(f"{path}: packs.{name}: the pack file {value} does not exist")
        return [(name, json_object(read_text(target), target), target)]

    def pack(self, pname: str | None, pack: dict[str, Any], path: str) -> None:
        where = f"packs.{pname}" if pname is not None else "schedule"
        queries = pack.get("queries") or {}
        if not isinstance(queries, dict):
            raise ConfigError(f"{path}: {where}.queries: expected an object of queries")
        names = [query_name(pname, q, self.opts.pack_delimiter) for q in queries]
        self.total += len(names)
        label = f"pack {pname}" if pname is not None else "schedule"
        # the pack's own restrictions skip all of its queries
        platform = pack.get("platform")
        if isinstance(platform, str) and not platform_ok(platform):
            for n in names:
                self.skip(n, FOR_PLATFORM, platform)
            return
        version = pack.get("version")
        if isinstance(version, str) and not version_ok(version):
            for n in names:
                self.skip(n, NEWER, version)
            return
        if "shard" in pack and not shard_ok(self._uint(pack["shard"], f"{where}.shard", path), self.machine):
            for n in names:
                self.skip(n, SHARD)
            return
        self.file_paths_of(pack.get("file_paths"), f"{where}.file_paths")
        discovery = []
        if not isinstance(pack.get("discovery") or [], list):
            raise ConfigError(f"{path}: {where}.discovery: expected an array of queries")
        for item in pack.get("discovery") or []:
            if not isinstance(item, str):
                self.details.append(f"{label}: discovery item {item!r} is not a query: ignored")
                continue
            v = self.checker.check(item)
            if not v.ok:
                for n in names:
                    if v.missing:
                        self.skip(n, DISCOVERY_TABLES, ", ".join(v.missing))
                    else:
                        self.skip(n, DISCOVERY_BAD, v.error)
                return
            discovery.append(item)
        default_interval = self.opts.default_interval
        if "interval" in pack:
            default_interval = self._uint(pack["interval"], f"{where}.interval", path)
        for (qname, q), name in zip(queries.items(), names, strict=True):
            self.one(name, q, f"{where}.{qname}", path, default_interval, discovery)

    def one(self, name: str, q: object, where: str, path: str, interval: int, discovery: list[str]) -> None:
        if not isinstance(q, dict):
            raise ConfigError(f"{path}: {where}: expected an object with query and interval")
        if "shard" in q and not shard_ok(self._uint(q["shard"], f"{where}.shard", path), self.machine):
            return self.skip(name, SHARD)
        platform = q.get("platform")
        if isinstance(platform, str) and not platform_ok(platform):
            return self.skip(name, FOR_PLATFORM, platform)
        version = q.get("version")
        if isinstance(version, str) and not version_ok(version):
            return self.skip(name, NEWER, version)
        sql = q.get("query")
        if not isinstance(sql, str) or not sql.strip():
            return self.skip(name, NO_QUERY)
        if "interval" in q:
            interval = self._uint(q["interval"], f"{where}.interval", path)
        if interval < 1 or interval > MAX_INTERVAL:
            return self.skip(name, BAD_INTERVAL, str(interval))
        v = self.checker.check(sql)
        if v.missing:
            for t in v.missing:
                self.skipped.setdefault(NO_TABLES, Counter())[t] += 1
            self.skip_count[NO_TABLES] += 1
            self.details.append(f"{name}: {NO_TABLES[1]} ({', '.join(v.missing)}): skipped")
            return None
        if v.error:
            return self.skip(name, BAD_SQL, v.error)
        deny = q.get("denylist", q.get("blacklist", True))
        self.queries[name] = _Query(
            name=name,
            query=sql,
            interval=interval,
            snapshot=self._bool(q.get("snapshot", False), f"{where}.snapshot", path),
            removed=self._bool(q.get("removed", True), f"{where}.removed", path),
            denylist=self._bool(deny, f"{where}.denylist", path),
            description=q["description"] if isinstance(q.get("description"), str) else "",
            discovery=list(discovery),
        )
        return None

    def decorators_of(self, dec: object, path: str) -> None:
        if dec is None:
            return
        if not isinstance(dec, dict):
            raise ConfigError(f"{path}: decorators: expected an object (load, always, interval)")
        for point in ("load", "always"):
            queries = dec.get(point) or []
            if not isinstance(queries, list):
                raise ConfigError(f"{path}: decorators.{point}: expected an array of queries")
            for sql in queries:
                if isinstance(sql, str) and self.decorator_ok(sql):
                    self.decorators[point].append(sql)
        intervals = dec.get("interval") or {}
        if not isinstance(intervals, dict):
            raise ConfigError(f"{path}: decorators.interval: expected an object (seconds: queries)")
        for secs, queries in intervals.items():
            n = as_uint(f"decorators.interval.{secs}", secs) if secs.strip().isdigit() else -1
            if n <= 0 or n % 60:
                count = len(queries) if isinstance(queries, list) else 0
                self.decorators_total += count
                self.decorator_notes.append(f"interval {secs} is not a multiple of 60 ({count} skipped)")
                continue
            for sql in queries if isinstance(queries, list) else []:
                if isinstance(sql, str) and self.decorator_ok(sql):
                    self.intervals.setdefault(str(n), []).append(sql)
        for key in dec:
            if key not in ("load", "always", "interval"):
                self.decorator_notes.append(f"decorators.{key} has no meaning")

    def decorator_ok(self, sql: str) -> bool:
        self.decorators_total += 1
        v = self.checker.check(sql)
        if v.missing:
            for t in v.missing:
                self.decorators_missing[t] += 1
            self.details.append(
                f"decorator {sql!r}: uses tables auditsql does not have ({', '.join(v.missing)})"
            )
            return False
        if v.error:
            self.decorator_notes.append(f"{sql!r} does not compile here: {v.error}")
            return False
        return True

    def file_paths_of(self, fp: object, where: str) -> None:
        if fp is None:
            return
        if not isinstance(fp, dict):
            self.file_notes.append(f"{where}: not an object of categories: ignored")
            return
        for category, paths in fp.items():
            for p in paths if isinstance(paths, list) else [paths]:
                if not isinstance(p, str):
                    self.file_notes.append(f"{where}.{category}: {p!r} is not a path: ignored")
                    continue
                for w in watch_paths(p):
                    if w not in self.file_paths:
                        self.file_paths.append(w)
                if "%" in p and not watch_paths(p):
                    self.file_notes.append(f"{where}.{category}: {p} matches nothing now: ignored")

    # -- values --------------------------------------------------------------------------------------------

    def _uint(self, value: object, where: str, path: str) -> int:
        try:
            return as_uint(where, value)
        except OptionError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def _bool(self, value: object, where: str, path: str) -> bool:
        try:
            return as_bool(where, value)
        except OptionError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def watch_paths(pattern: str) -> list[str]:
    """osquery's file path globs as watch rule paths: ``DIR/%%`` and ``DIR/%`` watch ``DIR`` (a directory
    watch covers its subtree); another ``%`` matches within one path component, expanded now."""
    p = pattern
    if p.endswith("/%%"):
        p = p[:-3] or "/"
    elif p.endswith("/%"):
        p = p[:-2] or "/"
    if "%" not in p:
        return [p]
    return sorted(glob.glob(p.replace("%%", "*").replace("%", "*")))


def _coerce(section: str, values: dict[str, Any], path: str) -> dict[str, Any]:
    """auditsql keys given as osquery options (``"kernel.pushdown": "true"``) to their types."""
    cls = SECTIONS.get(section) or OUTPUTS.get(section.removeprefix("output."))
    if cls is None:
        raise ConfigError(
            f"{path}: options: unknown auditsql section '{section}' (known: {', '.join(SECTIONS)})"
        )
    types = {f.name: (f.type if isinstance(f.type, str) else str(f.type)) for f in fields(cls)}
    out = {}
    for key, value in values.items():
        kind = types.get(key, "")
        try:
            if kind.startswith("bool"):
                value = as_bool(f"{section}.{key}", value)
            elif kind.startswith("int") and not isinstance(value, bool):
                value = as_uint(f"{section}.{key}", value)
            elif kind.startswith("float") and isinstance(value, str):
                value = float(value)
        except (OptionError, ValueError):
            raise ConfigError(f"{path}: options.{section}.{key}: bad value {value!r}") from None
        out[key] = value
    return out


def translate(path: str | None, flagfile: str | None = None, hostname: str | None = None) -> Translation:
    """Read osquery configuration ``path`` (a file or directory; None: the flagfile's ``--config_path``, or
    none) and ``flagfile`` into a :class:`Translation`."""
    tr = _Translator(hostname)
    try:
        if flagfile is not None:
            given = _flags(tr, flagfile)
            path = path or given
        files = sources_of(path) if path is not None else []
        if path is not None and not files:
            raise ConfigError(f"{path}: no *.conf file in this directory")
        if path is not None and not os.path.isdir(path) and not os.path.exists(path):
            raise ConfigError(f"{path}: cannot read: No such file or directory")
        docs = [(f, json_object(read_text(f), f)) for f in files]
        for (
            f,
            doc,
        ) in docs:  # options first: pack_delimiter and schedule_default_interval name and time queries
            tr.options(doc, f)
        for f, doc in docs:
            tr.source(doc, f)
        return _finish(tr, path or flagfile or "<flags>")
    finally:
        tr.checker.close()


def _flags(tr: _Translator, flagfile: str) -> str | None:
    """Apply a flagfile's flags; returns its ``--config_path``, if any."""
    config_path = None
    try:
        for name, value, line in parse_flagfile(read_text(flagfile), flagfile):
            if name == "config_path":
                config_path = str(value)
                continue
            try:
                apply_option(tr.opts, name, value)
            except OptionError as exc:
                raise OptionError(f"{flagfile}:{line}: --{exc}") from None
    except OptionError as exc:
        raise ConfigError(str(exc)) from None
    return config_path


def _finish(tr: _Translator, path: str) -> Translation:
    o = tr.opts
    raw: dict[str, Any] = {}
    for section, values in o.overrides.items():
        values = _coerce(section, values, path)
        if section.startswith("output."):
            raw.setdefault("output", {})[section.removeprefix("output.")] = values
        else:
            raw.setdefault(section, {}).update(values)
    sched = raw.setdefault("scheduler", {})
    sched.setdefault("splay_percent", 10 if o.splay_percent <= 1 else o.splay_percent)
    sched.setdefault("denylist_duration", DENYLIST_DURATION)
    if not o.disable_decorators:
        dec = {k: v for k, v in tr.decorators.items() if v}
        if tr.intervals:
            dec["interval"] = tr.intervals
        if dec:
            raw["decorators"] = dec
    if tr.file_paths and not o.no_file_events:
        raw.setdefault("file_events", {})["paths"] = tr.file_paths
    raw["schedule"] = {
        q.name: {
            "query": q.query,
            "interval": q.interval,
            "snapshot": q.snapshot,
            "removed": q.removed,
            "denylist": q.denylist,
            "discovery": q.discovery,
            "description": q.description,
        }
        for q in tr.queries.values()
    }
    summary = _summary(tr, path)
    config = replace(build(raw, path), notes=tuple(summary))
    return Translation(config=config, summary=summary, details=tr.details)


def _names(counts: Counter[str]) -> str:
    names = sorted(counts, key=lambda k: (-counts[k], k))
    shown = ", ".join(names[:LISTED])
    return shown + (", …" if len(names) > LISTED else "")


def _summary(tr: _Translator, path: str) -> list[str]:
    run = len(tr.queries)
    head = f"{path}: {run} of {tr.total} scheduled {'query runs' if tr.total == 1 else 'queries run'} here"
    parts = [head]
    order = [NO_TABLES] + [r for r in tr.skip_count if r != NO_TABLES]
    for reason in order:
        n = tr.skip_count.get(reason, 0)
        if not n:
            continue
        what = tr.skipped.get(reason)
        parts.append(
            f"{n} {reason[0] if n > 1 else reason[1]}{f' ({_names(what)})' if what else ''}: skipped"
        )
    lines = ["; ".join(parts), *tr.pack_notes]
    if tr.decorators_total:
        kept = sum(len(v) for v in tr.decorators.values()) + sum(len(v) for v in tr.intervals.values())
        line = f"decorators: {kept} of {tr.decorators_total} run here"
        if tr.decorators_missing:
            line += f"; the others use tables auditsql does not have ({_names(tr.decorators_missing)})"
        if tr.opts.disable_decorators:
            line = f"decorators: none run (disable_decorators); {tr.decorators_total} configured"
        lines.append(line)
    lines += [f"decorators: {n}" for n in tr.decorator_notes]
    by_why: dict[str, list[str]] = {}
    for name, why in tr.opts.ignored.items():
        by_why.setdefault(why, []).append(name)
    for why, names in by_why.items():
        lines.append(f"options ignored, {why}: {', '.join(names)}")
    if tr.other_keys:
        lines.append(f"keys with no meaning here, ignored: {', '.join(tr.other_keys)}")
    lines += [f"file paths: {n}" for n in tr.file_notes]
    if tr.opts.no_file_events and tr.file_paths:
        lines.append(f"file paths: {len(tr.file_paths)} not watched (process_file_events disabled)")
    return lines

"""Which queries of an osquery configuration can run here: each is compiled against auditsql's schema in an
in-memory SQLite database; a query naming tables auditsql lacks is told apart from other errors, and every
missing table it names is found (a stand-in table is created for each, and the query compiled again)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

__all__ = ["Checker", "Verdict"]

_NO_TABLE = re.compile(r"^no such table: (?:\w+\.)?(.+)$")


@dataclass(frozen=True)
class Verdict:
    """``missing``: the tables the query names that auditsql lacks (empty: none); ``error``: why it does not
    compile otherwise ("" when it does)."""

    missing: tuple[str, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.error


class Checker:
    """Compiles queries against the tables of ``auditsql.tables.REGISTRY``."""

    def __init__(self) -> None:
        import auditsql.tables as tables
        from auditsql.store.functions import install

        self.conn = sqlite3.connect(":memory:")
        install(self.conn, ())
        for t in tables.REGISTRY.values():
            self.conn.executescript(t.ddl())
        self._cache: dict[str, Verdict] = {}

    def close(self) -> None:
        self.conn.close()

    def check(self, sql: str) -> Verdict:
        if sql not in self._cache:
            self._cache[sql] = self._check(sql)
        return self._cache[sql]

    def _check(self, sql: str) -> Verdict:
        missing: list[str] = []
        self.conn.execute("SAVEPOINT probe")
        try:
            for _ in range(32):
                try:
                    self.conn.execute(f"EXPLAIN {sql}")
                    return Verdict(tuple(missing))
                except sqlite3.Error as exc:
                    m = _NO_TABLE.match(str(exc))
                    if m is None:
                        msg = str(exc)
                        return Verdict(tuple(missing), "" if missing else msg)
                    name = m.group(1)
                    if name in missing:
                        return Verdict(tuple(missing))
                    missing.append(name)
                    self.conn.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" (x)')
            return Verdict(tuple(missing))
        except sqlite3.Warning as exc:  # more than one statement
            return Verdict(tuple(missing), str(exc))
        finally:
            self.conn.execute("ROLLBACK TO probe")
            self.conn.execute("RELEASE probe")

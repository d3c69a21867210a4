"""Property: whatever rows go into the store come back identical through the query engine, and the json and csv
output modes give back every value's text."""

from __future__ import annotations

import csv
import io
import json
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from auditsql.query.engine import Engine
from auditsql.query.format import render, value_text
from auditsql.store.sqlite import Store
from auditsql.tables.registry import Column, Table

T = Table(
    "rt",
    "round trip",
    (
        Column("s", "TEXT", "text", index=True),
        Column("b", "BIGINT", "bigint", index=True),
        Column("i", "INTEGER", "integer"),
        Column("d", "DOUBLE", "real"),
    ),
)
U = Table("rt2", "second table", (Column("s", "TEXT", "text"),))

texts = st.none() | st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ints = st.none() | st.integers(-(2**63), 2**63 - 1)
reals = st.none() | st.floats(allow_nan=False)
rows = st.lists(st.tuples(texts, ints, ints, reals), max_size=30)


@settings(max_examples=60, deadline=None)
@given(rows=rows, other=st.lists(st.tuples(texts), max_size=5), batch=st.integers(1, 40))
def test_rows_come_back_identical(rows, other, batch):
    with tempfile.TemporaryDirectory() as d:
        db = f"{d}/rt.db"
        s = Store(db, tables=[T, U], batch_rows=batch)
        s.create_schema()
        s.insert(("rt", r) for r in rows)
        s.insert(("rt2", r) for r in other)
        s.close()
        with Engine(db, tables={"rt": T, "rt2": U}) as eng:
            cols, got = eng.execute("SELECT * FROM rt ORDER BY rowid")
            assert cols == ["s", "b", "i", "d"]
            assert got == rows
            # -0.0 and 0.0 compare equal; the sign of a zero is all SQLite may drop
            assert eng.execute("SELECT s FROM rt2 ORDER BY rowid")[1] == other
        # printed as osqueryi prints SQLite's text: up to a NUL (the stored value is whole: `got == rows` above)
        texts_of = [[value_text(v).partition("\x00")[0] for v in r] for r in rows]
        parsed = json.loads(render(cols, got, "json"))
        assert [[o[c] for c in cols] for o in parsed] == texts_of
        if rows:
            out = list(csv.reader(io.StringIO(render(cols, got, "csv", separator=","), newline="")))
            assert out == [cols, *texts_of]

"""Property: the PostgreSQL store's ``json_extract`` gives SQLite's value, printed the same, for any JSON document
of objects, arrays, integers, strings, booleans and nulls and any path of keys and indexes into it (or beside it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditsql.query.engine import Engine
from auditsql.query.format import value_text
from auditsql.query.pg import PgEngine
from tests.fleet.test_pg_query import load_captures

pytestmark = pytest.mark.postgres

KEYS = st.text("abcdefgh_", min_size=1, max_size=4)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
)
DOCS = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def paths(doc: object, prefix: str = "$") -> list[str]:
    """Every path into ``doc``, and one beside it at each level."""
    out = [prefix]
    if isinstance(doc, dict):
        out.append(prefix + ".zz")
        for k, v in doc.items():
            out += paths(v, f"{prefix}.{k}")
    elif isinstance(doc, list):
        out.append(f"{prefix}[{len(doc)}]")
        for i, v in enumerate(doc):
            out += paths(v, f"{prefix}[{i}]")
    return out


@pytest.fixture(scope="module")
def engines(pg_cluster, tmp_path_factory):  # type: ignore[no-untyped-def]
    pg_cluster.psql('DROP DATABASE IF EXISTS "t_json_property"')
    url = pg_cluster.url(db=pg_cluster.create_db("t_json_property"))
    tmp: Path = tmp_path_factory.mktemp("json")
    agent_db = load_captures(tmp, url)
    with Engine(str(agent_db)) as lite, PgEngine(url) as pg:
        yield lite, pg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS, data=st.data())
def test_json_extract_agrees_with_sqlite(engines, doc: object, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    lite, pg = engines
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=data.draw(st.booleans()))
    path = data.draw(st.sampled_from(paths(doc)))
    stmt = "SELECT json_extract('" + text.replace("'", "''") + "', '" + path + "') AS v"
    (want,) = lite.execute(stmt)[1]
    (got,) = pg.execute(stmt)[1]
    assert value_text(got[0], "NULL") == value_text(want[0], "NULL"), (text, path)

"""docs/tables.md is generated from the table registry (tools/gen_tables_doc.py) and must be current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import auditsql.tables as T

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gen_tables_doc.py"
DOC = ROOT / "docs" / "tables.md"


def _tool():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("gen_tables_doc", TOOL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tables_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == _tool().render(), (
        "docs/tables.md is stale: run python3 tools/gen_tables_doc.py"
    )


def test_check_mode_exit_code() -> None:
    res = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, check=False)
    assert (res.returncode, res.stderr) == (0, "")


def test_doc_lists_every_table_and_column() -> None:
    text = DOC.read_text(encoding="utf-8")
    for table in T.REGISTRY.values():
        assert f"\n## {table.name}\n" in text
        for col in table.columns:
            assert f"| `{col.name}` | {col.type} |" in text, (table.name, col.name)

"""Golden SQL per recipe kind and dialect. ``TIDE_UPDATE_GOLDEN=1`` rewrites the files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from tideflow.engines.sql import DIALECTS, TRANSPILE_ONLY, compile_recipe, to_sql

from .cases import RECIPES, TABLES
from .harness import inputs_for

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TIDE_UPDATE_GOLDEN") == "1"


def render(kind: str, dialect: str) -> str:
    queries = compile_recipe(RECIPES[kind], inputs_for(TABLES), dialect)
    return "".join(f"-- output: {name}\n{to_sql(query, dialect)};\n" for name, query in queries.items())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_golden_sql(kind: str, dialect: str) -> None:
    path = GOLDEN / f"{kind}.{dialect}.sql"
    text = render(kind, dialect)
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written: review and rerun")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with TIDE_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("dialect", TRANSPILE_ONLY)
@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_transpiles_for_other_dialects(kind: str, dialect: str) -> None:
    text = render(kind, dialect)
    for statement in sqlglot.parse(text, read=dialect):
        assert statement is not None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pivot_is_conditional_aggregation_never_native_pivot(dialect: str) -> None:
    text = render("pivot", dialect)
    assert "PIVOT" not in text.upper()
    assert "CASE WHEN" in text

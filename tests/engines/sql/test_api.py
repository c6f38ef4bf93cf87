"""The public API of tideflow.engines.sql is pinned."""

from __future__ import annotations

import tideflow.engines.sql as sql_engine


def test_public_api() -> None:
    assert sorted(sql_engine.__all__) == [
        "DIALECTS",
        "DialectTraits",
        "SqlInput",
        "TRANSPILE_ONLY",
        "compile_recipe",
        "discover_pivot_values_query",
        "output_schema",
        "to_sql",
        "traits_for",
    ]
    assert sql_engine.DIALECTS == ("duckdb", "postgres")

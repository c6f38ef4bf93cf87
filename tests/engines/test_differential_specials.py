"""Doubles that are not finite (+inf, -inf, NaN) and -0.0 on every engine: the rules of
docs/recipes.md ("non-finite doubles"), on fixed rows that hold each of them next to plain numbers.

Found by the differential generators once they drew these values: SIGN(NaN) was 0 on both databases
and NaN in memory; POWER(inf, 0) and POWER(NaN, 0) NULL on the databases, 1.0 in memory; EXP(inf)
NULL everywhere (now inf); 3 % inf NaN in memory and on PostgreSQL, 3.0 on DuckDB; GREATEST(NaN, 1)
and the max of a group or window frame holding NaN skipped the NaN in memory only; CAST(NaN AS
BOOLEAN) NULL in memory only; the text of inf - inf '-nan' on DuckDB only; 0.5 % 0.1 0.09999999999999998 on
DuckDB (exact fmod), 0.0 elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tideflow.recipes import ColumnType, RecipeBase, recipe_adapter

from .differential import assert_same, frame, run_memory, run_sql

INF, NAN = math.inf, math.nan
VALUES = [NAN, INF, -INF, -0.0, 0.0, 0.5, -0.5, 2.0, -3.0, 1e300, None]
SCHEMA = {"id": ColumnType.INTEGER, "g": ColumnType.INTEGER, "a": ColumnType.DOUBLE, "b": ColumnType.DOUBLE}
# every (a, b) pair, so that each binary rule meets each special on either side
ROWS = [{"id": i * len(VALUES) + j, "g": i % 3, "a": a, "b": b}
        for i, a in enumerate(VALUES) for j, b in enumerate(VALUES)]



# PostgreSQL's AVG and STDDEV square their values and raise beyond 1e154 (docs/recipes.md): aggregates
# and windows run on the rows without 1e300.
MODERATE = [r for r in ROWS if 1e300 not in (r["a"], r["b"])]


def check(data: dict[str, Any], engines: dict[str, Any], rows: list[dict[str, Any]] = ROWS) -> None:
    recipe: RecipeBase = recipe_adapter.validate_python({"name": "r", "inputs": ["t"], "outputs": ["out"], **data})
    inputs = {"t": frame(rows, SCHEMA)}
    expected = run_memory(recipe, inputs)
    assert_same(expected, run_sql(recipe, inputs, "duckdb", engines["duck"]), "duckdb")
    assert_same(expected, run_sql(recipe, inputs, "postgres", engines["pg"], engines["schema"]), "postgres")


EXPRESSIONS = {
    "comparisons": ['"a" > "b"', '"a" = "b"', '"a" <> "b"', '"a" BETWEEN -1 AND "b"', '"a" IN (0.5, "b")',
                    'NULLIF("a", "b")', 'CASE "a" WHEN "b" THEN 1 ELSE 0 END'],
    "extremes": ['GREATEST("a", "b")', 'LEAST("a", "b")', 'GREATEST("a", 1)'],
    "arithmetic": ['"a" - "b"', '"a" * "b"', '"a" / "b"', '"a" % 3', '3 % "a"', '"a" % "b"', '"a" % 0.1', '-"a"'],
    "functions": ['SQRT("a")', 'LN("a")', 'EXP("a")', 'ABS("a")', 'SIGN("a")', 'FLOOR("a")', 'CEIL("a")'],
    "power": ['POWER("a", "b")', 'POWER("a", 0)', 'POWER(1, "a")', 'POWER(2, "a")', 'POWER("a", -3)'],
    "rounding_and_casts": ['ROUND("a")', 'ROUND("a", 2)', 'ROUND("a", -1)', 'CAST("a" AS BIGINT)',
                           'CAST("a" AS BOOLEAN)', 'CAST("a" AS VARCHAR)', 'CAST("a" - "a" AS VARCHAR)',
                           "CONCAT(\"a\", '|', \"b\")"],
}


@pytest.mark.postgres
@pytest.mark.parametrize("group", list(EXPRESSIONS))
def test_expressions_on_specials(engines: dict[str, Any], group: str) -> None:
    steps = [{"op": "formula", "column": f"e{i}", "expr": e} for i, e in enumerate(EXPRESSIONS[group])]
    if group == "arithmetic":  # PostgreSQL raises on a finite overflow (1e300 * 1e300): see docs/recipes.md
        steps.insert(0, {"op": "filter", "expr": 'ABS("a") < 1e300 OR ABS("b") < 1e300 OR "a" > 1e300'})
    check({"type": "prepare", "steps": steps}, engines)


@pytest.mark.postgres
def test_filters_and_bins_on_specials(engines: dict[str, Any]) -> None:
    check({"type": "prepare", "steps": [
        {"op": "filter", "rules": [{"column": "a", "op": "lt", "value": 10}, {"column": "b", "op": "ge", "value": 0}],
         "match": "any"},
        {"op": "bin", "column": "a", "width": 2.5, "output": "w"},
        {"op": "bin", "column": "a", "edges": [-1, 0, 1], "output": "e"},
        {"op": "flag", "output": "f", "expr": '"a" > 0'},
        {"op": "round", "columns": ["b"], "decimals": 1}]}, engines)


@pytest.mark.postgres
@pytest.mark.parametrize("keys", [["g"], ["a"]])
def test_aggregates_on_specials(engines: dict[str, Any], keys: list[str]) -> None:
    """NaN is one group, greater than +inf: the max of a group holding it is NaN, its min skips it."""
    check({"type": "group", "keys": keys, "aggregations": [
        {"fn": "min", "column": "b"}, {"fn": "max", "column": "b"}, {"fn": "sum", "column": "b"},
        {"fn": "avg", "column": "b"}, {"fn": "count_distinct", "column": "b"}, {"fn": "stddev", "column": "b"},
        {"fn": "first", "column": "b", "order_by": [{"column": "b", "desc": True}]},
        {"fn": "concat", "column": "b", "order_by": [{"column": "b"}]}]}, engines, MODERATE)
    check({"type": "pivot", "index": keys, "column": "g", "aggregations": [{"fn": "max", "column": "b"}]}, engines)


@pytest.mark.postgres
def test_windows_on_specials(engines: dict[str, Any]) -> None:
    check({"type": "window", "partition_by": ["a"], "order_by": [{"column": "b"}], "functions": [
        {"fn": "rank"}, {"fn": "row_number"},
        {"fn": "max", "column": "b", "frame": {"preceding": 1, "following": 1}, "output": "mx"},
        {"fn": "min", "column": "b", "frame": {"preceding": 2, "following": 0}, "output": "mn"},
        {"fn": "sum", "column": "b", "frame": {"preceding": 1, "following": 0}, "output": "s"},
        {"fn": "avg", "column": "b", "output": "run"}]}, engines, MODERATE)


@pytest.mark.postgres
def test_order_and_keys_on_specials(engines: dict[str, Any]) -> None:
    """NaN sorts after +inf (before NULLs ascending), NaN matches NaN and -0.0 matches 0.0 in a join."""
    check({"type": "sort", "order_by": [{"column": "a", "desc": True}, {"column": "b"}]}, engines)
    check({"type": "distinct", "columns": ["b"], "count_column": "n"}, engines)
    check({"type": "top_n", "partition_by": ["a"], "order_by": [{"column": "b"}], "first": 1, "last": 1}, engines)
    recipe = recipe_adapter.validate_python({
        "name": "j", "type": "join", "inputs": ["l", "r"], "outputs": ["out"],
        "joins": [{"with": "r", "type": "inner", "on": [{"left": "a", "right": "b"}]}],
        "select": {"l": {"columns": ["id", "a"]}, "r": {"columns": ["id"], "prefix": "r_"}}})
    inputs = {"l": frame(ROWS, SCHEMA), "r": frame(ROWS[:len(VALUES)], SCHEMA)}
    expected = run_memory(recipe, inputs)
    assert_same(expected, run_sql(recipe, inputs, "duckdb", engines["duck"]), "duckdb")
    assert_same(expected, run_sql(recipe, inputs, "postgres", engines["pg"], engines["schema"]), "postgres")

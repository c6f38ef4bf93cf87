"""Differential tests of long names: column names, output names, prefixes and pivot values near and
beyond the 63 bytes PostgreSQL keeps of a name, in ASCII and in 2-, 3- and 4-byte characters.

DuckDB and the memory engine keep every name; PostgreSQL cuts names to 63 bytes, so two long names
sharing their first 63 bytes would become one. The rule (docs/recipes.md): on PostgreSQL a recipe
whose input, step or output column name is longer than 63 bytes is refused when it is planned, with
the file and key path of the name; a recipe whose names all fit gives the memory engine's rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tideflow.errors import ProjectError
from tideflow.recipes import RecipeBase, recipe_adapter

from .differential import ID, B, G, K, N, S, V, assert_same, compile_only, frame, run_memory, run_sql, tables

SETTINGS = settings(max_examples=int(os.environ.get("TIDE_DIFF_EXAMPLES", "25")), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
LIMIT = 63  # bytes PostgreSQL keeps of a name
# Characters of 1 to 4 bytes, and ones that need quoting: long names of one unit share a long prefix.
UNITS = ["a", "ü", "日", "🙂", 'q"', "x;y z"]


@st.composite
def long_names(draw: st.DrawFn, count: int) -> list[str]:
    """``count`` distinct names of 56 to 68 UTF-8 bytes; half the time all fit in 63 bytes."""
    high = draw(st.sampled_from([LIMIT, 68]))
    names: list[str] = []
    for i in range(count):
        unit, size = draw(st.sampled_from(UNITS)), draw(st.integers(56, high))
        suffix = f"_{i}"
        name = ""
        while len((name + unit + suffix).encode()) <= size:
            name += unit
        name += suffix
        while len(name.encode()) < size:
            name = "b" + name
        names.append(name)
    return names


def q(name: str) -> str:
    """``name`` as a quoted identifier of an expression."""
    return '"' + name.replace('"', '""') + '"'


def spec(data: dict[str, Any], inputs: list[str] | None = None, outputs: list[str] | None = None) -> RecipeBase:
    return recipe_adapter.validate_python({"name": "r", "inputs": inputs or ["t"], "outputs": outputs or ["out"],
                                           **data})



def check(recipe: RecipeBase, inputs: dict[str, pl.DataFrame], engines: dict[str, Any], names: list[str]) -> None:
    """DuckDB gives the memory engine's rows; PostgreSQL too, or it refuses a name that does not fit."""
    expected = run_memory(recipe, inputs)
    assert_same(expected, run_sql(recipe, inputs, "duckdb", engines["duck"]), "duckdb")
    seen = [*names, *(c for df in inputs.values() for c in df.columns), *(c for cols, _ in expected.values()
                                                                         for c in cols)]
    too_long = [n for n in seen if len(n.encode()) > LIMIT]
    if too_long:
        with pytest.raises(ProjectError, match=r"bytes long; a postgres database keeps only the first 63 bytes of a "
                                               r"name \(two long names could become one\): expected at most 63 bytes"):
            compile_only(recipe, inputs, "postgres")
        return
    assert_same(expected, run_sql(recipe, inputs, "postgres", engines["pg"], engines["schema"]), "postgres")


Case = tuple[RecipeBase, dict[str, pl.DataFrame], list[str]]  # the recipe, its inputs, the names it uses


def _prepare(rows: list[dict[str, Any]], n: list[str]) -> Case:
    table = frame(rows).rename({V: n[0]})
    steps = [{"op": "formula", "column": n[1], "expr": f"{q(n[0])} * 2"},
             {"op": "rename", "columns": {G: n[2]}},
             {"op": "concat", "columns": [n[2], S], "separator": "/", "output": n[3]},
             {"op": "split", "column": S, "separator": "-", "outputs": [n[4], n[5]]},
             {"op": "keep", "columns": [ID, n[0], n[1], n[3], n[4], n[5]]}]
    return spec({"type": "prepare", "steps": steps}), {"t": table}, n


def _intermediate(rows: list[dict[str, Any]], n: list[str]) -> Case:
    """Long names that only exist between steps: PostgreSQL would cut them there too."""
    steps = [{"op": "formula", "column": n[0], "expr": f'"{N}" + 1'}, {"op": "formula", "column": n[1], "expr": "2"},
             {"op": "formula", "column": "total", "expr": f"{q(n[0])} + {q(n[1])}"},
             {"op": "drop", "columns": [n[0], n[1]]}]
    return spec({"type": "prepare", "steps": steps}), {"t": frame(rows)}, n[:2]


def _group(rows: list[dict[str, Any]], n: list[str]) -> Case:
    table = frame(rows).rename({V: n[0][:-4] or "v"})  # its default output names ({column}_avg) grow by 4 bytes
    column = table.columns[3]
    aggregations = [{"fn": "avg", "column": column}, {"fn": "count", "output": n[1]},
                    {"fn": "max", "column": column, "output": n[2]}]
    return spec({"type": "group", "keys": [G], "aggregations": aggregations}), {"t": table}, [column, *n[1:3]]


def _window(rows: list[dict[str, Any]], n: list[str]) -> Case:
    functions = [{"fn": "row_number", "output": n[0]}, {"fn": "sum", "column": N, "output": n[1]}]
    recipe = spec({"type": "window", "partition_by": [G], "order_by": [{"column": ID}], "functions": functions})
    return recipe, {"t": frame(rows)}, n[:2]


def _join(rows: list[dict[str, Any]], n: list[str]) -> Case:
    prefix = n[0][:-2]  # prefix + "n" and prefix + "name ü": the second is 6 bytes longer
    recipe = spec({"type": "join", "joins": [{"with": "b", "type": "left", "on": [{"left": K, "right": K}]}],
                   "select": {"a": {"columns": [ID, K]}, "b": {"columns": [N, S], "prefix": prefix}}},
                  inputs=["a", "b"])
    return recipe, {"a": frame(rows), "b": frame(rows[:5])}, [prefix + N, prefix + S]


def _pivot(rows: list[dict[str, Any]], n: list[str]) -> Case:
    table = frame(rows).with_columns(pl.col(K).replace_strict({-2: n[0], -1: n[1], 0: n[2], 1: n[3], 2: n[4], 3: n[5]},
                                                              default=None, return_dtype=pl.String).alias(G))
    aggregations = [{"fn": "count"}, {"fn": "sum", "column": N}] if len(n[0]) % 2 else [{"fn": "count"}]
    recipe = spec({"type": "pivot", "index": [B], "column": G, "aggregations": aggregations})
    return recipe, {"t": table}, []  # the names come from the data: the memory engine's output has them


def _others(rows: list[dict[str, Any]], n: list[str]) -> Case:
    kind = len(n[0]) % 3
    if kind == 0:
        return spec({"type": "distinct", "columns": [G], "count_column": n[0]}), {"t": frame(rows)}, n[:1]
    if kind == 1:
        recipe = spec({"type": "top_n", "order_by": [{"column": ID}], "first": 2, "rank_column": n[0]})
        return recipe, {"t": frame(rows)}, n[:1]
    return spec({"type": "sort", "order_by": [{"column": ID}]}), {"t": frame(rows).rename({S: n[0]})}, n[:1]


SCENARIOS: dict[str, Callable[[list[dict[str, Any]], list[str]], Case]] = {
    "prepare": _prepare, "intermediate": _intermediate, "group": _group, "window": _window, "join": _join,
    "pivot": _pivot, "others": _others,
}


@pytest.mark.postgres
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@SETTINGS
@given(rows=tables(12), names=long_names(6))
def test_long_names(engines: dict[str, Any], scenario: str, rows: list[dict[str, Any]], names: list[str]) -> None:
    recipe, inputs, used = SCENARIOS[scenario](rows, names)
    check(recipe, inputs, engines, used)

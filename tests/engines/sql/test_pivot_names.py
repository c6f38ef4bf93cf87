"""Output column names every engine can write: pivot values named as the memory engine names them,
no empty name, no name a PostgreSQL database would truncate, no pivot without any output column."""

from __future__ import annotations

import datetime as dt

import pytest

from tideflow.engines.sql import compile_recipe, output_schema
from tideflow.errors import ProjectError
from tideflow.recipes.types import ColumnType as T

from .cases import TABLES, recipe
from .harness import inputs_for

INPUTS = inputs_for(TABLES)


def pivot(**spec: object) -> object:
    return recipe(type="pivot", **{"index": ["customer"], "column": "note", "aggregations": [{"fn": "count"}],
                                   **spec})


def test_a_timestamp_pivot_value_is_named_without_trailing_zeros() -> None:
    spec = pivot(column="ts")
    values = [dt.datetime(2020, 1, 1, 10, 0, 0, 500000), dt.datetime(2020, 1, 1)]
    (schema,) = output_schema(spec, INPUTS, pivot_values=values).values()
    assert list(schema) == ["customer", "2020-01-01 10:00:00.5", "2020-01-01 00:00:00"]


def test_an_empty_pivot_value_is_an_error_naming_it() -> None:
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at values\[1\]: the pivot value '' \(empty text\) of "
                                           r"column 'note' would name an output column ''"):
        compile_recipe(pivot(values=["a", ""]), INPUTS, "duckdb", where="recipes/r.yaml")
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at column: the pivot value '' .*or list 'values'$"):
        compile_recipe(pivot(), INPUTS, "postgres", pivot_values=["", "a"], where="recipes/r.yaml")
    # with several aggregations the names have a suffix: no empty name
    several = pivot(values=[""], aggregations=[{"fn": "count"}, {"fn": "max", "column": "qty"}])
    (schema,) = output_schema(several, INPUTS).values()
    assert list(schema) == ["customer", "_count", "_qty_max"]


def test_the_same_pivot_value_twice_is_a_duplicate_column() -> None:
    with pytest.raises(ProjectError, match=r"at values: duplicate output column '1'"):
        compile_recipe(pivot(column="qty", values=[1, "1"]), INPUTS, "duckdb", where="recipes/r.yaml")


def test_names_longer_than_postgres_keeps_are_refused_on_postgres() -> None:
    long_a, long_b = "x" * 70, "x" * 69 + "y"
    spec = pivot(values=[long_a, long_b])
    compile_recipe(spec, INPUTS, "duckdb")
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at values: output column name 'x{70}' is 70 bytes long; "
                                           r"a postgres database keeps only the first 63 bytes of a name"):
        compile_recipe(spec, INPUTS, "postgres", where="recipes/r.yaml")
    formula = recipe(type="prepare", steps=[{"op": "formula", "column": "é" * 32, "expr": "qty + 1"}])
    compile_recipe(formula, INPUTS, "duckdb")
    with pytest.raises(ProjectError, match=r"at steps\[0\].column: column name 'é{32}' is 64 bytes long"):
        compile_recipe(formula, INPUTS, "postgres", where="recipes/r.yaml")
    compile_recipe(recipe(type="prepare", steps=[{"op": "formula", "column": "x" * 63, "expr": "qty"}]), INPUTS,
                   "postgres")


def test_a_pivot_without_index_over_no_values_is_an_error() -> None:
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at column: this pivot has no output column: the pivot "
                                           r"column 'note' has no values \(its input has no rows\) and there is no "
                                           r"'index'"):
        compile_recipe(pivot(index=[]), INPUTS, "duckdb", pivot_values=[], where="recipes/r.yaml")
    (schema,) = output_schema(pivot(), INPUTS, pivot_values=[]).values()
    assert list(schema) == ["customer"]


@pytest.mark.parametrize(("spec", "key_path", "name"), [
    # a name that only lives between two steps: PostgreSQL cuts it there too
    ({"type": "prepare", "steps": [{"op": "formula", "column": "ü" * 32, "expr": "qty"},
                                   {"op": "drop", "columns": ["ü" * 32]}]}, r"steps\[0\]\.column", "ü{32}"),
    ({"type": "prepare", "steps": [{"op": "concat", "columns": ["id", "qty"], "output": "日" * 22}]},
     r"steps\[0\]\.output", "日{22}"),
    ({"type": "prepare", "steps": [{"op": "rename", "columns": {"qty": "🙂" * 16}}]}, r"steps\[0\]\.columns", "🙂{16}"),
    ({"type": "group", "keys": ["customer"], "aggregations": [{"fn": "count_distinct", "column": "customer"},
                                                              {"fn": "count", "output": "n" * 64}]},
     r"aggregations\[1\]\.output", "n{64}"),
    ({"type": "window", "order_by": [{"column": "id"}], "functions": [{"fn": "row_number", "output": "r" * 64}]},
     r"functions\[0\]\.output", "r{64}"),
    ({"type": "join", "inputs": ["orders", "customers"],
      "joins": [{"with": "customers", "type": "left", "on": [{"left": "customer", "right": "name"}]}],
      "select": {"customers": {"prefix": "p" * 60}}}, r"select\.customers\.prefix", "p{60}city"),
])
def test_a_long_name_is_refused_on_postgres_at_its_key(spec: dict[str, object], key_path: str, name: str) -> None:
    """The error names the key that sets the name, wherever it lives (a step, an aggregation, a prefix)."""
    compile_recipe(recipe(**spec), INPUTS, "duckdb")
    with pytest.raises(ProjectError, match=rf"recipes/r.yaml at {key_path}: (output )?column name '{name}' is "
                                           r"\d+ bytes long; .* expected at most 63 bytes"):
        compile_recipe(recipe(**spec), INPUTS, "postgres", where="recipes/r.yaml")


def test_a_long_input_column_is_refused_on_postgres() -> None:
    """PostgreSQL would read a shorter name than the input's column: the input is refused, not truncated."""
    schema, rows = TABLES["orders"]
    long_inputs = inputs_for({"orders": ({**schema, "x" * 64: T.INTEGER}, [(*r, 1) for r in rows])})
    spec = recipe(type="sort", order_by=[{"column": "id"}])
    compile_recipe(spec, long_inputs, "duckdb")
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at inputs\[0\]: input 'orders': column name 'x{64}' is 64 "
                                           r"bytes long"):
        compile_recipe(spec, long_inputs, "postgres", where="recipes/r.yaml")

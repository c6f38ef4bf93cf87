"""Output column names every engine can write: pivot values named as the memory engine names them,
no empty name, no name a PostgreSQL database would truncate, no pivot without any output column."""

from __future__ import annotations

import datetime as dt

import pytest

from tideflow.engines.sql import compile_recipe, output_schema
from tideflow.errors import ProjectError

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
    with pytest.raises(ProjectError, match=r"at outputs\[0\]: output column name 'é{32}' is 64 bytes long"):
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

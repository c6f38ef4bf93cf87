"""One dataset's columns differ by more than case: DuckDB (and Spark SQL) take ``a`` and ``A`` for one
column, so a table keeps the second as ``A_1`` and a later step reading ``"A"`` gets ``a``. Every engine
refuses such outputs when the recipe is planned, naming the file, the output and both columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tideflow.engines.memory import run_recipe
from tideflow.engines.sql import compile_recipe, output_schema
from tideflow.errors import ProjectError, case_clash

from .sql.cases import TABLES, recipe
from .sql.harness import inputs_for

INPUTS = inputs_for(TABLES)
CLASHES = {
    "a computed column": ({"type": "prepare", "steps": [{"op": "formula", "column": "AMOUNT", "expr": "amount * 2"}]},
                          "'amount' and 'AMOUNT'"),
    "a rename": ({"type": "prepare", "steps": [{"op": "rename", "columns": {"note": "Customer"}}]},
                 "'customer' and 'Customer'"),
    "a group output next to its key": ({"type": "group", "keys": ["customer"],
                                        "aggregations": [{"fn": "count", "output": "CUSTOMER"}]},
                                       "'customer' and 'CUSTOMER'"),
    "a SQL recipe": ({"type": "sql", "dialect": "duckdb", "sql": 'SELECT id, id + 1 AS "ID" FROM orders'},
                     "'id' and 'ID'"),
}


@pytest.mark.parametrize("case", list(CLASHES))
def test_the_sql_compiler_refuses_columns_that_differ_only_by_case(case: str) -> None:
    spec, names = CLASHES[case]
    with pytest.raises(ProjectError) as caught:
        output_schema(recipe(**spec), INPUTS, where="recipes/r.yaml")
    message = str(caught.value)
    assert message.startswith(f"recipes/r.yaml at outputs: output 'out': columns {names} differ only by case")
    assert "rename one" in message


@pytest.mark.parametrize("case", [c for c in CLASHES if CLASHES[c][0]["type"] != "sql"])
def test_the_memory_engine_refuses_them_too(case: str) -> None:
    spec, names = CLASHES[case]
    frame = pl.DataFrame({"id": [1, 2], "customer": ["a", "b"], "amount": [1.0, 2.0], "note": ["x", "y"]})
    with pytest.raises(ProjectError, match=f"output 'out': columns {names} differ only by case"):
        run_recipe(recipe(**spec), {"orders": frame}, where="recipes/r.yaml")


def test_names_that_differ_by_more_than_ascii_case_are_kept() -> None:
    # DuckDB folds ASCII letters only: 'é' and 'É', 'straße' and 'STRASSE' stay two columns
    assert case_clash("columns", ["é", "É", "straße", "STRASSE", "a_1", "a"]) is None
    assert case_clash("columns", ["x", "y", "X"]) == (
        "columns 'x' and 'X' differ only by case; DuckDB and Spark SQL take them for one column: expected "
        "names that differ by more than case, rename one")


def test_a_source_with_such_columns_can_still_be_read_by_dropping_one(tmp_path: Path) -> None:
    spec = recipe(type="prepare", steps=[{"op": "drop", "columns": ["AMOUNT"]}])
    frame = pl.DataFrame({"id": [1], "amount": [1.0], "AMOUNT": [2.0]})
    assert run_recipe(spec, {"orders": frame})["out"].columns == ["id", "amount"]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_a_sql_recipe_keeps_a_quoted_name_as_written(dialect: str) -> None:
    # the qualifier folds DuckDB names to lower case; the database keeps "TotalAmount" as written
    sql = 'SELECT customer AS "Client", amount AS total, o.* FROM orders AS o'
    schema = output_schema(recipe(type="sql", dialect=dialect, sql=sql), INPUTS)["out"]
    assert list(schema)[:3] == ["Client", "total", "id"]
    with pytest.raises(ProjectError, match="the query returns two columns named 'id': expected unique output names"):
        output_schema(recipe(type="sql", dialect=dialect, sql="SELECT id, id FROM orders"), INPUTS)


def test_pivot_values_that_differ_only_by_case_are_refused() -> None:
    spec = recipe(type="pivot", index=["id"], column="customer", aggregations=[{"fn": "sum", "column": "qty"}])
    compile_recipe(spec, INPUTS, "duckdb", pivot_values=["alice", "bob"])
    with pytest.raises(ProjectError, match="output 'out': columns 'alice' and 'Alice' differ only by case"):
        compile_recipe(spec, INPUTS, "duckdb", pivot_values=["alice", "Alice"])

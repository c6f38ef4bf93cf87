"""Column names through a build: a recipe whose output columns differ only by case is refused before
anything is written, on either engine; a SQL recipe's quoted alias keeps its case for the recipes
that read it (the engine-level cases are in tests/engines/test_case_names.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.errors import ProjectError
from tideflow.flow import build
from tideflow.project import load_project

from .conftest import Writer, duck_exec


def test_a_build_refuses_before_it_writes_anything(make_project: Writer) -> None:
    spec = "type: prepare\ninputs: orders\noutputs: out\nsteps:\n  - {op: formula, column: A, expr: a + 1}\n"
    root = make_project({"out.yaml": spec}, {"orders.yaml": "table: orders\n"})
    duck_exec(root, "CREATE TABLE orders AS SELECT 1 AS k, 10 AS a")
    duck_exec(root, "CREATE TABLE out AS SELECT 'previous' AS kept")
    for engine in ("sql", "memory"):
        with pytest.raises(ProjectError, match=r"recipes/out.yaml\S* at outputs: output 'out': columns 'a' and 'A'"):
            result: Any = build(load_project(root), engine=engine)
            assert not result.ok, result  # pragma: no cover - the plan refuses before any run
        assert duck_exec(root, "SELECT * FROM out") == [("previous",)]


def test_a_recipe_reads_a_quoted_column_of_a_virtual_sql_recipe(make_project: Writer) -> None:
    mid = 'type: sql\ninputs: orders\noutputs: mid\ndialect: duckdb\nsql: SELECT id, a AS "TotalA" FROM orders\n'
    out = ("type: prepare\ninputs: mid\noutputs: out\nsteps:\n"
           "  - {op: formula, column: doubled, expr: '\"TotalA\" * 2'}\n")
    root = make_project({"mid.yaml": mid, "out.yaml": out},
                        {"orders.yaml": "table: orders\n", "mid.yaml": "virtual: true\n"})
    duck_exec(root, "CREATE TABLE orders AS SELECT 1 AS id, 10 AS a")
    assert build(load_project(root)).ok
    assert duck_exec(root, "SELECT id, \"TotalA\", doubled FROM out") == [(1, 10, 20)]

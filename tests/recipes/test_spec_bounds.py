"""Recipe specs refuse, when loaded, the values no engine can run: empty names, NaN and infinities
(no SQL literal), integers past 64 bits (or 32 for a lag offset, as PostgreSQL takes)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tideflow.recipes import recipe_adapter


def load(data: dict[str, Any]) -> Any:
    return recipe_adapter.validate_python({"name": "r", "inputs": ["t"], "outputs": ["out"], **data})


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        load(data)
    return str(info.value)


@pytest.mark.parametrize(("data", "message"), [
    ({"outputs": [""], "type": "sort", "order_by": [{"column": "x"}]}, "at least 1 character"),
    ({"type": "prepare", "steps": [{"op": "rename", "columns": {"x": ""}}]}, "at least 1 character"),
    ({"type": "prepare", "steps": [{"op": "formula", "column": "", "expr": "1"}]}, "at least 1 character"),
    ({"type": "group", "keys": [""], "aggregations": [{"fn": "count"}]}, "at least 1 character"),
    ({"type": "window", "order_by": [{"column": "x"}], "functions": [{"fn": "lag", "column": "x",
                                                                       "offset": 2**31}]},
     "less than or equal to 2147483647"),
    ({"type": "window", "functions": [{"fn": "sum", "column": "x", "frame": {"preceding": 2**63}}]},
     "less than or equal to 9223372036854775807"),
    ({"type": "sample", "n": 2**64}, "less than or equal to 9223372036854775807"),
    ({"type": "top_n", "first": 2**63}, "less than or equal to 9223372036854775807"),
    ({"type": "prepare", "steps": [{"op": "bin", "column": "x", "output": "b", "width": float("inf")}]},
     "finite number"),
    ({"type": "prepare", "steps": [{"op": "bin", "column": "x", "output": "b", "edges": [0.0, float("nan")]}]},
     "finite number"),
    ({"type": "split", "random": {"key": ["x"], "ratios": {"out": float("nan")}}}, "finite number"),
    ({"type": "sample", "mode": "random", "fraction": float("nan")}, "finite number"),
])
def test_values_no_engine_can_run_are_refused(data: dict[str, Any], message: str) -> None:
    assert message in refused(data)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_literal_gets_one_clear_error(value: float) -> None:
    fill = refused({"type": "prepare", "steps": [{"op": "fill_empty", "columns": ["x"], "value": value}]})
    rule = refused({"type": "prepare", "steps": [{"op": "filter", "rules": [{"column": "x", "op": "eq",
                                                                             "value": value}]}]})
    for text in (fill, rule):
        assert "1 validation error" in text
        assert f"got {value}: NaN and infinities have no SQL literal (quote it, as in '{value}'" in text


def test_the_largest_values_an_engine_takes_are_accepted() -> None:
    window = load({"type": "window", "order_by": [{"column": "x"}],
                   "functions": [{"fn": "lag", "column": "x", "offset": 2**31 - 1},
                                 {"fn": "sum", "column": "x", "frame": {"preceding": 2**63 - 1, "following": 0}}]})
    assert window.functions[0].offset == 2**31 - 1
    assert load({"type": "sample", "n": 2**63 - 1}).n == 2**63 - 1
    fill = load({"type": "prepare", "steps": [{"op": "fill_empty", "columns": ["x"], "value": 1.5},
                                              {"op": "fill_empty", "columns": ["y"], "value": True}]})
    assert [s.value for s in fill.steps] == [1.5, True]
    assert isinstance(fill.steps[1].value, bool)  # not turned into 1


def test_a_python_recipe_cannot_ask_for_the_sql_engine() -> None:
    """Python runs in memory; ``engine: sql`` used to be accepted and silently ignored."""
    assert "Input should be 'auto' or 'memory'" in refused({"type": "python", "file": "p.py", "engine": "sql"})
    assert load({"type": "python", "file": "p.py", "engine": "memory"}).engine == "memory"


@pytest.mark.parametrize("op", ["in", "not_in"])
def test_an_in_rule_needs_values(op: str) -> None:
    """SQL ran ``IN ()`` (or refused it, by database) while the memory engine refused it."""
    message = refused({"type": "prepare", "steps": [{"op": "filter", "rules": [{"column": "x", "op": op,
                                                                                "value": []}]}]})
    assert f"rule '{op}' needs a non-empty list of values, got []" in message

"""Shared helpers of the memory-engine tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from tideflow.engines.memory import run_recipe
from tideflow.recipes import RecipeSpec, recipe_adapter

HOSTILE = 'we"ird; name'


def recipe(
    type_: str, inputs: list[str] | str = "in", outputs: list[str] | str = "out", **fields: Any
) -> RecipeSpec:
    spec: dict[str, Any] = {"name": "r", "type": type_, "inputs": inputs, "outputs": outputs, **fields}
    return recipe_adapter.validate_python(spec)


def run1(type_: str, frame: pl.DataFrame, **fields: Any) -> pl.DataFrame:
    """Run a one-input, one-output recipe and return its output."""
    return run_recipe(recipe(type_, **fields), {"in": frame}, where="recipes/r.yaml")["out"]


def rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.rows()

"""``run_recipe``: one recipe on in-memory Polars frames, dispatched by kind."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from tideflow.engines.memory.checks import Where
from tideflow.engines.memory.dtypes import normalize
from tideflow.engines.memory.group import run_group, run_pivot
from tideflow.engines.memory.prepare import run_prepare
from tideflow.engines.memory.python_recipe import run_python
from tideflow.engines.memory.relational import run_distinct, run_join, run_sort, run_stack, run_top_n
from tideflow.engines.memory.sampling import run_sample, run_split
from tideflow.engines.memory.window import run_window
from tideflow.errors import BuildError, ProjectError, TideflowError, case_clash, did_you_mean
from tideflow.recipes import RecipeSpec
from tideflow.recipes import visual as v
from tideflow.recipes.code import PythonRecipe, SqlRecipe

_SINGLE = {
    "prepare": run_prepare, "group": run_group, "window": run_window, "distinct": run_distinct,
    "sort": run_sort, "top_n": run_top_n, "sample": run_sample, "pivot": run_pivot,
}


def run_recipe(
    recipe: RecipeSpec,
    inputs: Mapping[str, pl.DataFrame],
    *,
    project_dir: Path | None = None,
    where: str | None = None,
) -> dict[str, pl.DataFrame]:
    """Run ``recipe`` on ``inputs`` (keyed by input dataset name); outputs keyed by output name.

    Inputs are first cast to the canonical dtypes (``normalize``), and so are the outputs.
    ``where`` (e.g. ``recipes/daily.yaml``) prefixes every validation error.
    """
    at = Where(where)
    missing = [name for name in recipe.inputs if name not in inputs]
    if missing:
        raise ProjectError(f"missing input frame(s) {missing}: expected {list(recipe.inputs)}, got "
                           f"{list(inputs)}{did_you_mean(missing[0], inputs)}", file=where, key_path="inputs")
    if isinstance(recipe, SqlRecipe):
        raise BuildError(recipe.name, "SQL recipes run on a SQL engine, not in memory: the flow runs them in "
                                      "their database, or in an embedded DuckDB when the inputs are files")
    try:
        frames = {name: normalize(inputs[name]) for name in recipe.inputs}
        results = _dispatch(recipe, frames, project_dir, at)
        for name, frame in results.items():
            message = case_clash(f"output {name!r}: columns", frame.columns)
            if message is not None:
                raise at.error("outputs", message)
        return {name: normalize(frame) for name, frame in results.items()}
    except TideflowError:
        raise
    except Exception as err:  # a Polars failure while running: the recipe failed, say which
        raise BuildError(recipe.name, f"{type(err).__name__}: {err}") from err


def _dispatch(recipe: RecipeSpec, frames: dict[str, pl.DataFrame], project_dir: Path | None,
              at: Where) -> dict[str, pl.DataFrame]:
    if isinstance(recipe, PythonRecipe):
        return run_python(recipe, frames, project_dir, at)
    if isinstance(recipe, v.JoinRecipe):
        return run_join(recipe, frames, at)
    if isinstance(recipe, v.SplitRecipe):
        _one_input(recipe, at)
        return run_split(recipe, frames[recipe.inputs[0]], at)
    if isinstance(recipe, v.StackRecipe):
        _one_output(recipe, at)
        return {recipe.outputs[0]: run_stack(recipe, frames, at)}
    _one_input(recipe, at)
    _one_output(recipe, at)
    runner = _SINGLE[recipe.type]
    return {recipe.outputs[0]: runner(recipe, frames[recipe.inputs[0]], at)}  # type: ignore[operator]


def _one_input(recipe: v.RecipeBase, at: Where) -> None:
    if len(recipe.inputs) != 1:
        raise at.error("inputs", f"a {recipe.type} recipe takes exactly one input, got {recipe.inputs}")


def _one_output(recipe: v.RecipeBase, at: Where) -> None:
    if len(recipe.outputs) != 1:
        raise at.error("outputs", f"a {recipe.type} recipe writes exactly one output, got {recipe.outputs}")

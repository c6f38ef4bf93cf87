"""Dispatch: a recipe spec and its input schemas to one sqlglot query per output. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp

from tideflow.engines.sql.build import Ctx, SqlInput
from tideflow.engines.sql.code import (
    bind_inputs,
    check_sql_columns,
    check_transpile,
    parse_sql_recipe,
    sql_output_schema,
)
from tideflow.engines.sql.dialects import generate, traits_for
from tideflow.engines.sql.join import compile_join
from tideflow.engines.sql.prepare import compile_prepare
from tideflow.engines.sql.relational import (
    compile_distinct,
    compile_group,
    compile_sort,
    compile_stack,
    compile_top_n,
    compile_window,
)
from tideflow.engines.sql.routing import compile_pivot, compile_sample, compile_split, discover_pivot_values
from tideflow.errors import ProjectError, UnsupportedPushdown, case_clash, did_you_mean
from tideflow.recipes import RecipeSpec
from tideflow.recipes import visual as v
from tideflow.recipes.code import PythonRecipe, SqlRecipe
from tideflow.recipes.types import Schema

Compiled = dict[str, tuple[exp.Query, Schema]]
_SINGLE: dict[str, Callable[..., tuple[exp.Query, Schema]]] = {
    "prepare": compile_prepare,
    "group": compile_group,
    "window": compile_window,
    "distinct": compile_distinct,
    "sort": compile_sort,
    "top_n": compile_top_n,
    "sample": compile_sample,
}


def _where(recipe: RecipeSpec, where: str | None) -> str:
    return where or f"recipe {recipe.name!r}"


def _check_inputs(recipe: RecipeSpec, inputs: Mapping[str, SqlInput], ctx: Ctx) -> None:
    for i, name in enumerate(recipe.inputs):
        if name not in inputs:
            raise ctx.error(
                f"inputs[{i}]",
                f"no schema given for input {name!r}{did_you_mean(name, inputs)}"
                f" (given: {', '.join(inputs) or 'none'})",
            )


def _one_output(recipe: RecipeSpec, ctx: Ctx) -> str:
    if len(recipe.outputs) != 1:
        raise ctx.error("outputs", f"a {recipe.type} recipe writes exactly one output, got {len(recipe.outputs)}")
    return recipe.outputs[0]


def _distinct_names(schemas: Mapping[str, Schema], ctx: Ctx) -> None:
    """Every output's columns differ by more than case (DuckDB would rename or confuse them)."""
    for name, schema in schemas.items():
        message = case_clash(f"output {name!r}: columns", schema)
        if message is not None:
            raise ctx.error("outputs", message)


def _compile(
    recipe: RecipeSpec,
    inputs: Mapping[str, SqlInput],
    dialect: str,
    pivot_values: Sequence[object] | None,
    where: str | None,
) -> Compiled:
    ctx = Ctx(traits_for(dialect), _where(recipe, where))
    compiled = _compile_outputs(recipe, inputs, pivot_values, ctx)
    _distinct_names({name: schema for name, (_, schema) in compiled.items()}, ctx)
    return compiled


def _compile_outputs(
    recipe: RecipeSpec,
    inputs: Mapping[str, SqlInput],
    pivot_values: Sequence[object] | None,
    ctx: Ctx,
) -> Compiled:
    if isinstance(recipe, PythonRecipe):
        raise UnsupportedPushdown(f"python recipe {recipe.name!r}", "Python recipes run in memory, not in SQL")
    _check_inputs(recipe, inputs, ctx)
    for i, name in enumerate(recipe.inputs):
        for column in inputs[name].schema:
            ctx.check_name_length(column, f"inputs[{i}]", what=f"input {name!r}: column")
    first = inputs[recipe.inputs[0]]
    if isinstance(recipe, SqlRecipe):
        out = _one_output(recipe, ctx)
        parsed = parse_sql_recipe(recipe, ctx)
        tree = bind_inputs(parsed, recipe, inputs, ctx)
        check_sql_columns(parsed, recipe, inputs, ctx)
        check_transpile(tree, recipe, ctx.traits, f"sql recipe {recipe.name!r}")
        return {out: (tree, {})}
    if isinstance(recipe, v.JoinRecipe):
        return compile_join(recipe, inputs, ctx)
    if isinstance(recipe, v.SplitRecipe):
        return compile_split(recipe, first, ctx)
    if isinstance(recipe, v.StackRecipe):
        return {_one_output(recipe, ctx): compile_stack(recipe, inputs, ctx)}
    if isinstance(recipe, v.PivotRecipe):
        return {_one_output(recipe, ctx): compile_pivot(recipe, first, ctx, pivot_values)}
    if len(recipe.inputs) != 1:
        raise ctx.error("inputs", f"a {recipe.type} recipe reads exactly one input, got {len(recipe.inputs)}")
    return {_one_output(recipe, ctx): _SINGLE[recipe.type](recipe, first, ctx)}


def compile_recipe(
    recipe: RecipeSpec,
    inputs: Mapping[str, SqlInput],
    dialect: str,
    *,
    pivot_values: Sequence[object] | None = None,
    where: str | None = None,
) -> dict[str, exp.Query]:
    """One query per output dataset of ``recipe`` in ``dialect``.

    Raises ``ProjectError``/``ExpressionError`` for an invalid recipe and ``UnsupportedPushdown``
    when the recipe cannot be expressed in SQL for this dialect.
    """
    compiled = _compile(recipe, inputs, dialect, pivot_values, where)
    ctx = Ctx(traits_for(dialect), _where(recipe, where))
    for output, (_, schema) in compiled.items():
        for column in schema:
            ctx.check_name_length(column, f"outputs[{recipe.outputs.index(output)}]"
                                  if output in recipe.outputs else None)
    queries = {name: query for name, (query, _) in compiled.items()}
    step = f"{recipe.type} recipe {recipe.name!r}"
    for query in queries.values():
        try:
            generate(query, dialect, pretty=False)
        except ProjectError:
            raise
        except Exception as err:  # sqlglot's UnsupportedError and friends
            raise UnsupportedPushdown(step, f"cannot write it in {dialect}: {err}") from None
    return queries


def output_schema(
    recipe: RecipeSpec,
    inputs: Mapping[str, SqlInput],
    *,
    pivot_values: Sequence[object] | None = None,
    where: str | None = None,
) -> dict[str, Schema]:
    """The logical schema of each output, as ``compile_recipe`` produces it (no database needed)."""
    if isinstance(recipe, SqlRecipe):
        ctx = Ctx(traits_for("duckdb"), _where(recipe, where))
        _check_inputs(recipe, inputs, ctx)
        schemas = {_one_output(recipe, ctx): sql_output_schema(recipe, inputs, ctx)}
        _distinct_names(schemas, ctx)
        return schemas
    compiled = _compile(recipe, inputs, "duckdb", pivot_values, where)
    return {name: schema for name, (_, schema) in compiled.items()}


def discover_pivot_values_query(
    recipe: v.PivotRecipe, inputs: Mapping[str, SqlInput], dialect: str, *, where: str | None = None
) -> exp.Query:
    """``SELECT col ... WHERE col IS NOT NULL GROUP BY col ORDER BY col LIMIT max_values + 1``."""
    ctx = Ctx(traits_for(dialect), _where(recipe, where))
    _check_inputs(recipe, inputs, ctx)
    return discover_pivot_values(recipe, inputs[recipe.inputs[0]], ctx)


def to_sql(query: exp.Expr, dialect: str, *, pretty: bool = True) -> str:
    """SQL text; generation raises on anything the dialect cannot express (never drops it)."""
    return generate(query, dialect, pretty=pretty)

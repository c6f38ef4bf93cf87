"""Recipes that route or reshape rows: split (rules or deterministic random), sample, pivot.

Deterministic random: ``h = substr(md5(seed || '|' || coalesce(k1::text, '') || '|' || ...), 1, 8)``
(lowercase hex). Output i of a random split keeps ``lo_i <= h < hi_i`` where the bounds are the
cumulative ratios, in the order given, written as ``format(int(cumulative * 16**8), '08x')``; the
first output has no lower bound and a cumulative ratio >= 1 no upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from tideflow.engines.messages import empty_pivot_name, pivot_without_columns
from tideflow.engines.sql.build import (
    Ctx,
    SqlInput,
    alias,
    and_all,
    binary,
    cast,
    col,
    convert_value,
    input_rel,
    is_true,
    literal,
    or_all,
    order_keys,
    ordered,
    select,
    tiebreak,
)
from tideflow.engines.sql.casts import to_text
from tideflow.engines.sql.expressions import compile_condition
from tideflow.engines.sql.relational import extreme
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema

T = ColumnType
HASH_KEY_TYPES = (T.INTEGER, T.STRING, T.DATE, T.BOOLEAN)
_SPACE = 16**8


def hex_threshold(fraction: float) -> str | None:
    """The 8-hex-digit bound for a cumulative fraction; None when it bounds nothing (>= 1)."""
    value = int(fraction * _SPACE)
    return None if value >= _SPACE else format(max(value, 0), "08x")


def random_hash(seed: int, keys: Sequence[str], schema: Schema, ctx: Ctx, key_path: str) -> exp.Expr:
    text: exp.Expr = exp.Literal.string(str(seed))
    for i, key in enumerate(keys):
        typ = ctx.check_column(key, schema, f"{key_path}[{i}]")
        if typ not in HASH_KEY_TYPES:
            raise ctx.error(
                f"{key_path}[{i}]",
                f"random key {key!r} is {typ.value}; expected integer, string, "
                "date or boolean (a double's text form differs between engines)",
            )
        part = exp.Coalesce(this=to_text(col(key), typ, ctx.traits), expressions=[exp.Literal.string("")])
        text = exp.DPipe(this=exp.DPipe(this=text, expression=exp.Literal.string("|")), expression=part)
    digest = exp.MD5(this=text)
    return binary(
        exp.Substring(this=digest, start=exp.Literal.number(1), length=exp.Literal.number(8)),
        T.STRING,
        ctx.traits,
    )


def _in_range(hashed: exp.Expr, low: float, high: float) -> exp.Expr:
    conditions: list[exp.Expr] = []
    lo, hi = hex_threshold(low) if low > 0 else None, hex_threshold(high)
    if lo is not None:
        conditions.append(exp.GTE(this=hashed.copy(), expression=exp.Literal.string(lo)))
    if high <= 0:
        return exp.false()
    if hi is not None:
        conditions.append(exp.LT(this=hashed.copy(), expression=exp.Literal.string(hi)))
    return and_all(conditions)


def compile_split(recipe: v.SplitRecipe, source: SqlInput, ctx: Ctx) -> dict[str, tuple[exp.Query, Schema]]:
    rel = input_rel(source, "_in")
    conditions: dict[str, list[exp.Expr]] = {name: [] for name in recipe.outputs}
    if recipe.random is not None:
        hashed = random_hash(recipe.random.seed, recipe.random.key, rel.schema, ctx, "random.key")
        cumulative = 0.0
        for name, ratio in recipe.random.ratios.items():
            if name not in conditions:
                raise ctx.error(
                    f"random.ratios.{name}",
                    f"unknown output {name!r}; expected one of {', '.join(map(repr, recipe.outputs))}",
                )
            conditions[name].append(_in_range(hashed, cumulative, cumulative + ratio))
            cumulative += ratio
        # the rows past the last band (the ratios sum to less than 1) go to else_output
        bound = hex_threshold(cumulative)
        rest: exp.Expr = exp.false()
        if bound is not None:
            rest = exp.GTE(this=hashed.copy(), expression=exp.Literal.string(bound))
    else:
        matched: list[exp.Expr] = []
        for i, rule in enumerate(recipe.rules or []):
            if rule.output not in conditions:
                raise ctx.error(
                    f"rules[{i}].output",
                    f"unknown output {rule.output!r}; expected one of {', '.join(map(repr, recipe.outputs))}",
                )
            cond = is_true(compile_condition(rule.expr, rel.schema, ctx, f"rules[{i}].expr"))
            earlier = [exp.Not(this=m.copy()) for m in matched]
            conditions[rule.output].append(and_all([cond.copy(), *earlier]))
            matched.append(cond)
        rest = and_all([exp.Not(this=m.copy()) for m in matched])
    if recipe.else_output is not None:
        if recipe.else_output not in conditions:
            raise ctx.error(
                "else_output",
                f"unknown output {recipe.else_output!r}; expected one of {', '.join(map(repr, recipe.outputs))}",
            )
        conditions[recipe.else_output].append(rest)
    result: dict[str, tuple[exp.Query, Schema]] = {}
    for name, conds in conditions.items():
        query = select([col(c) for c in rel.schema], rel).where(
            conds[0] if len(conds) == 1 else or_all([exp.Paren(this=c) for c in conds]), copy=False
        )
        result[name] = (query, dict(rel.schema))
    return result


def compile_sample(recipe: v.SampleRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    query = select([col(c) for c in rel.schema], rel)
    if recipe.mode == "first":
        order = order_keys(recipe.order_by, rel.schema, ctx, "order_by")
        order += tiebreak(recipe.order_by, rel.schema, (), ctx.traits)
        query = query.order_by(*order, copy=False).limit(exp.Literal.number(recipe.n or 0), copy=False)
    else:
        hashed = random_hash(recipe.seed, recipe.key, rel.schema, ctx, "key")
        query = query.where(_in_range(hashed, 0.0, recipe.fraction or 0.0), copy=False)
    return query, dict(rel.schema)


# ---------------------------------------------------------------- pivot


def pivot_name(value: object, typ: ColumnType | None = None) -> str:
    """The text of a pivot value in its output column names, as the memory engine writes it: a
    timestamp's fraction loses its trailing zeros (``10:00:00.5``), a boolean is ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if typ == ColumnType.TIMESTAMP and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _pivot_values(
    recipe: v.PivotRecipe, typ: ColumnType, pivot_values: Sequence[object] | None, ctx: Ctx
) -> list[object]:
    raw = recipe.values if recipe.values is not None else pivot_values
    key = "values"
    if raw is None:
        raise ctx.error(
            key,
            "this pivot has no 'values': discover them first (discover_pivot_values_query) and "
            "pass them as pivot_values, or list them in the recipe",
        )
    if len(raw) > recipe.max_values:
        raise ctx.error(
            key,
            f"the pivot column {recipe.column!r} has more than max_values="
            f"{recipe.max_values} distinct values; list 'values' or raise 'max_values'",
        )
    values: list[object] = []
    for i, value in enumerate(raw):
        try:
            converted = convert_value(value, typ)
        except (ValueError, TypeError):
            raise ctx.error(
                f"{key}[{i}]", f"expected {typ.with_article} value for column {recipe.column!r}, got {value!r}"
            ) from None
        if converted is not None:
            values.append(converted)
    return values


def compile_pivot(
    recipe: v.PivotRecipe, source: SqlInput, ctx: Ctx, pivot_values: Sequence[object] | None
) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    schema = rel.schema
    typ = ctx.check_column(recipe.column, schema, "column")
    index = {k: ctx.check_column(k, schema, f"index[{i}]") for i, k in enumerate(recipe.index)}
    aggs = []
    for i, agg in enumerate(recipe.aggregations):
        agg_type = ctx.check_column(agg.column, schema, f"aggregations[{i}].column") if agg.column else None
        if agg.fn in ("sum", "avg") and agg_type is not None and not agg_type.is_numeric:
            raise ctx.error(
                f"aggregations[{i}].column",
                f"{agg.fn} needs a numeric column; {agg.column!r} is {agg_type.value}",
            )
        aggs.append((agg, agg_type))
    projections: list[exp.Expr] = [col(k) for k in index]
    out_schema: Schema = dict(index)
    generated: list[str] = []
    listed = recipe.values is not None
    for i, value in enumerate(_pivot_values(recipe, typ, pivot_values, ctx)):
        matches = exp.EQ(this=col(recipe.column), expression=literal(value, typ, ctx.traits))
        for agg, agg_type in aggs:
            if len(aggs) == 1:
                name = pivot_name(value, typ)
            elif agg.column is None:
                name = f"{pivot_name(value, typ)}_{agg.fn}"
            else:
                name = f"{pivot_name(value, typ)}_{agg.column}_{agg.fn}"
            if not name:
                raise ctx.error(*empty_pivot_name(recipe.column, i, listed))
            picked = col(agg.column) if agg.column is not None else exp.Literal.number(1)
            when = exp.Case().when(matches.copy(), picked, copy=False)
            if agg.fn == "count":
                node: exp.Expr = exp.Count(this=when)
                out_type = T.INTEGER
            elif agg.fn == "sum":
                node = exp.Sum(this=when)
                node = cast(node, ctx.traits, T.INTEGER) if agg_type == T.INTEGER else node
                out_type = agg_type or T.DOUBLE
            elif agg.fn == "avg":
                node, out_type = exp.Avg(this=cast(when, ctx.traits, T.DOUBLE)), T.DOUBLE
            else:
                out_type = agg_type or T.STRING
                node = extreme(agg.fn, when, out_type, ctx.traits)
            projections.append(alias(node, name))
            out_schema[name] = out_type
            generated.append(name)
    ctx.check_new_names([*index, *generated], "values")
    if not projections:
        raise ctx.error(*pivot_without_columns(recipe.column, listed))
    query = select(projections, rel)
    if index:
        query = query.group_by(*(col(k) for k in index), copy=False)
    return query, out_schema


def discover_pivot_values(recipe: v.PivotRecipe, source: SqlInput, ctx: Ctx) -> exp.Query:
    """The distinct non-NULL values of the pivot column, in binary order, at most max_values + 1."""
    rel = input_rel(source, "_in")
    typ = ctx.check_column(recipe.column, rel.schema, "column")
    query = select([col(recipe.column)], rel).where(
        exp.Not(this=exp.Is(this=col(recipe.column), expression=exp.Null())), copy=False
    )
    query = query.group_by(col(recipe.column), copy=False)
    query = query.order_by(ordered(col(recipe.column), typ, False, False, ctx.traits), copy=False)
    return query.limit(exp.Literal.number(recipe.max_values + 1), copy=False)

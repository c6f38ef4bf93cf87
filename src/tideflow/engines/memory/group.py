"""The group and pivot recipes: aggregations per group (pivot: conditional aggregation)."""

from __future__ import annotations

import polars as pl

from tideflow.engines.memory.casting import cast_value, to_text
from tideflow.engines.memory.checks import (
    Where,
    require_column,
    require_columns,
    require_type,
    require_unique,
)
from tideflow.engines.memory.dtypes import CANONICAL, schema_of
from tideflow.engines.messages import empty_pivot_name, pivot_without_columns
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema

T = ColumnType
NUMERIC = (T.INTEGER, T.DOUBLE)


def order_exprs(order_by: list[v.OrderKey]) -> tuple[list[pl.Expr], list[bool], list[bool]]:
    """Sort expressions, ``descending`` and ``nulls_last`` flags of a list of ``OrderKey``."""
    return ([pl.col(k.column) for k in order_by], [k.desc for k in order_by],
            [not k.nulls_first for k in order_by])


def aggregate(
    fn: str, value: pl.Expr | None, typ: ColumnType | None, agg: v.Aggregation | None = None
) -> pl.Expr:
    """The aggregate ``fn`` of ``value`` (a column, or a masked column for a pivot) in a group.

    ``value`` None means "count the rows" (``count`` without a column).
    """
    if value is None:
        return pl.len().cast(pl.Int64)
    if fn == "count":
        return value.count().cast(pl.Int64)
    if fn == "count_distinct":
        return value.drop_nulls().n_unique().cast(pl.Int64)
    has_value = value.count() > 0
    if fn == "sum":
        target = CANONICAL[T.INTEGER if typ == T.INTEGER else T.DOUBLE]
        return pl.when(has_value).then(value.cast(target).sum()).otherwise(None).cast(target)
    if fn == "avg":
        return value.cast(pl.Float64).mean()
    if fn == "stddev":
        return value.cast(pl.Float64).std(ddof=1)
    if fn in ("min", "max"):
        if fn == "max" and typ == T.DOUBLE:
            return value.nan_max()  # NaN is the greatest double (Polars' max skips it)
        return value.min() if fn == "min" else value.max()
    order_by = agg.order_by if agg is not None else None
    separator = agg.separator if agg is not None else ","
    # first / last / concat: ordered by order_by, ties broken by the value (NULLs last).
    keys, desc, nulls_last = order_exprs(order_by or [])
    # The last ties: -0.0 and 0.0 are equal, but -0.0 (its text '-0.0') comes first. 1/x tells them apart
    # (-inf, inf) without a Python call per row, and is equal wherever the values are.
    texts = [pl.lit(1.0) / value] if typ == T.DOUBLE else []
    ordered = value.sort_by([*keys, value, *texts], descending=[*desc, False, *(False for _ in texts)],
                            nulls_last=[*nulls_last, True, *(True for _ in texts)], maintain_order=True)
    if fn == "first":
        return ordered.first()
    if fn == "last":
        return ordered.last()
    joined = to_text(ordered, typ).drop_nulls().str.join(separator)
    return pl.when(has_value).then(joined).otherwise(None).cast(pl.String)


def _check_aggregation(agg: v.Aggregation, schema: Schema, where: Where, path: str) -> ColumnType | None:
    if agg.column is None:
        return None
    typ = require_column(agg.column, schema, where, f"{path}.column")
    if agg.fn in ("sum", "avg", "stddev"):
        require_type(agg.column, typ, NUMERIC, where, f"{path}.column")
    for i, key in enumerate(agg.order_by or []):
        require_column(key.column, schema, where, f"{path}.order_by[{i}].column")
    return typ


def _grouped(frame: pl.DataFrame, keys: list[str], exprs: list[pl.Expr]) -> pl.DataFrame:
    """One row per distinct ``keys`` (NULL keys form one group), sorted by the keys (NULLs last);
    no keys: exactly one row, even for an empty input."""
    if not keys:
        return frame.select(exprs)
    out = frame.group_by(keys, maintain_order=True).agg(exprs)
    return out.sort(keys, nulls_last=True, maintain_order=True)


def run_group(recipe: v.GroupRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    schema = schema_of(frame)
    require_columns(recipe.keys, schema, where, "keys")
    exprs = []
    for i, agg in enumerate(recipe.aggregations):
        typ = _check_aggregation(agg, schema, where, f"aggregations[{i}]")
        value = None if agg.column is None else pl.col(agg.column)
        exprs.append(aggregate(agg.fn, value, typ, agg).alias(agg.output_name))
    require_unique([*recipe.keys, *(a.output_name for a in recipe.aggregations)], where, "aggregations")
    return _grouped(frame, recipe.keys, exprs)


def pivot_values(recipe: v.PivotRecipe, frame: pl.DataFrame, typ: ColumnType, where: Where) -> list[object]:
    """The pivot values, converted to the type of the pivot column."""
    if recipe.values is None:
        found = frame.get_column(recipe.column).drop_nulls().unique().sort().to_list()
        if len(found) > recipe.max_values:
            raise where.error("max_values", f"column {recipe.column!r} has {len(found)} distinct values, "
                                            f"more than max_values={recipe.max_values} (expected at most "
                                            f"{recipe.max_values}: list 'values' or raise 'max_values')")
        return list(found)
    values = []
    for i, raw in enumerate(recipe.values):
        value = cast_value(raw, typ)
        if value is None:
            raise where.error(f"values[{i}]", f"pivot value {raw!r} does not convert to the {typ} column "
                                              f"{recipe.column!r}")
        values.append(value)
    return values


def pivot_column_name(value: object, agg: v.PivotAggregation, several: bool) -> str:
    """``{value}`` with one aggregation, else ``{value}_{fn}`` (row count) or ``{value}_{column}_{fn}``."""
    text = str(cast_value(value, T.STRING))
    if not several:
        return text
    return f"{text}_{agg.fn}" if agg.column is None else f"{text}_{agg.column}_{agg.fn}"


def run_pivot(recipe: v.PivotRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    schema = schema_of(frame)
    require_columns(recipe.index, schema, where, "index")
    typ = require_column(recipe.column, schema, where, "column")
    for i, agg in enumerate(recipe.aggregations):
        if agg.column is not None:
            agg_type = require_column(agg.column, schema, where, f"aggregations[{i}].column")
            if agg.fn in ("sum", "avg"):
                require_type(agg.column, agg_type, NUMERIC, where, f"aggregations[{i}].column")
    values = pivot_values(recipe, frame, typ, where)
    several = len(recipe.aggregations) > 1
    listed = recipe.values is not None
    exprs, names = [], list(recipe.index)
    for i, value in enumerate(values):
        hit = (pl.col(recipe.column) == pl.lit(value, dtype=CANONICAL[typ])).fill_null(False)
        for agg in recipe.aggregations:
            name = pivot_column_name(value, agg, several)
            if not name:
                raise where.error(*empty_pivot_name(recipe.column, i, listed))
            names.append(name)
            if agg.column is None:
                expr = hit.sum().cast(pl.Int64)
            else:
                masked = pl.when(hit).then(pl.col(agg.column)).otherwise(None)
                expr = aggregate(agg.fn, masked, schema[agg.column])
            exprs.append(expr.alias(name))
    require_unique(names, where, "values")
    if not names:
        raise where.error(*pivot_without_columns(recipe.column, listed))
    if not exprs:
        return _grouped(frame, recipe.index, [])
    return _grouped(frame, recipe.index, exprs)

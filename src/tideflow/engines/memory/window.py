"""The window recipe: ranking, lag/lead and framed aggregates per partition.

Rows are sorted by the partition keys, then ``order_by``, then (unless ``order_is_unique``) their
remaining columns, so that rows tied on ``order_by`` are in one documented order (``sort_frame``);
the window columns are computed and the rows put back in input order. Without ``order_by`` a frame
runs over that tie-break order. Framed aggregates
are computed row by row in Python over ``ROWS BETWEEN`` frames: plain and obviously right.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from tideflow.engines.memory.checks import (
    Where,
    require_column,
    require_columns,
    require_type,
    require_unique,
)
from tideflow.engines.memory.dtypes import CANONICAL, schema_of
from tideflow.engines.memory.relational import sort_frame
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema

T = ColumnType
_RANKING = ("row_number", "rank", "dense_rank", "lag", "lead")


def run_window(recipe: v.WindowRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    schema = schema_of(frame)
    _validate(recipe, schema, where)
    part = recipe.partition_by
    ordered = sort_frame(frame.with_row_index("__row"), recipe.order_by, part,
                         tiebreak=not recipe.order_is_unique, exclude=["__row"])
    row_number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    if part:
        row_number = row_number.over(part)
    ordered = ordered.with_columns(row_number.alias("__rn"))
    ordered = ordered.with_columns((pl.col("__rn") == 1).cast(pl.Int64).cum_sum().alias("__part"))
    new_columns = []
    for fn in recipe.functions:
        new_columns.append(_function(fn, recipe, ordered, schema).alias(fn.output_name))
    ordered = ordered.with_columns(new_columns)
    result = ordered.sort("__row").drop(["__row", "__rn", "__part"])
    return result


def _validate(recipe: v.WindowRecipe, schema: Schema, where: Where) -> None:
    require_columns(recipe.partition_by, schema, where, "partition_by")
    for i, key in enumerate(recipe.order_by):
        require_column(key.column, schema, where, f"order_by[{i}].column")
    for i, fn in enumerate(recipe.functions):
        path = f"functions[{i}]"
        if fn.column is not None:
            typ = require_column(fn.column, schema, where, f"{path}.column")
            if fn.fn in ("sum", "avg"):
                require_type(fn.column, typ, (T.INTEGER, T.DOUBLE), where, f"{path}.column")
        if fn.fn in _RANKING and not recipe.order_by:
            raise where.error(f"{path}.fn", f"window function {fn.fn!r} needs the recipe's 'order_by' "
                                            "(expected at least one order key, got none)")
        if fn.output_name in schema:
            raise where.error(f"{path}.output", f"output column {fn.output_name!r} already exists "
                                                "(expected a new name)")
    require_unique([fn.output_name for fn in recipe.functions], where, "functions")


def _function(fn: v.WindowFunction, recipe: v.WindowRecipe, ordered: pl.DataFrame, schema: Schema) -> pl.Expr:
    part = recipe.partition_by
    rn = pl.col("__rn")
    if fn.fn == "row_number":
        return rn
    if fn.fn in ("rank", "dense_rank"):
        changed = rn == 1
        for key in recipe.order_by:
            col = pl.col(key.column)
            previous = col.shift(1).over(part) if part else col.shift(1)
            changed = changed | col.ne_missing(previous)
        if fn.fn == "dense_rank":
            dense = changed.cast(pl.Int64).cum_sum()
            return dense.over(part) if part else dense
        return pl.when(changed).then(rn).otherwise(None).forward_fill()
    if fn.fn in ("lag", "lead"):
        shift = fn.offset if fn.fn == "lag" else -fn.offset
        shifted = pl.col(str(fn.column)).shift(shift)
        return shifted.over(part) if part else shifted
    return _framed(fn, recipe, ordered, schema)


def _framed(fn: v.WindowFunction, recipe: v.WindowRecipe, ordered: pl.DataFrame, schema: Schema) -> pl.Expr:
    frame = fn.frame
    if frame is None:
        frame = v.Frame(preceding=None, following=0) if recipe.order_by else v.Frame(following=None)
    parts: list[int] = ordered.get_column("__part").to_list()
    values: list[Any] = (ordered.get_column(fn.column).to_list() if fn.column is not None
                         else [1] * ordered.height)
    out: list[Any] = []
    start = 0
    while start < len(parts):
        end = start
        while end < len(parts) and parts[end] == parts[start]:
            end += 1
        for i in range(start, end):
            lo = start if frame.preceding is None else max(start, i - frame.preceding)
            hi = end - 1 if frame.following is None else min(end - 1, i + frame.following)
            window = values[lo:hi + 1] if lo <= hi else []
            out.append(_aggregate(fn.fn, window, counting_rows=fn.column is None))
        start = end
    typ = schema[fn.column] if fn.column is not None else T.INTEGER
    result_type = {"count": T.INTEGER, "avg": T.DOUBLE, "sum": T.INTEGER if typ == T.INTEGER else T.DOUBLE}
    return pl.lit(pl.Series(out, dtype=CANONICAL[result_type.get(fn.fn, typ)]))


def _aggregate(fn: str, window: list[Any], *, counting_rows: bool) -> Any:
    if fn == "count":
        return len(window) if counting_rows else sum(1 for x in window if x is not None)
    present = [x for x in window if x is not None]
    if not present:
        return None
    if fn == "sum":
        return sum(present)
    if fn == "avg":
        return sum(float(x) for x in present) / len(present)
    # NaN is the greatest double (Python's min/max would depend on where the NaN is).
    return min(present, key=_nan_greatest) if fn == "min" else max(present, key=_nan_greatest)


def _nan_greatest(value: Any) -> tuple[bool, Any]:
    nan = isinstance(value, float) and math.isnan(value)
    return nan, 0.0 if nan else value

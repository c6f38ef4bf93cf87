"""Group, window, stack, distinct, sort and top_n recipes.

Every order that picks rows (row_number, lag/lead, framed aggregates, sort, top_n) is made total
by breaking ties on the remaining columns in schema order, ascending, NULLs last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from tideflow.engines.sql.build import (
    Ctx,
    Rel,
    SqlInput,
    alias,
    binary,
    cast,
    col,
    fresh_name,
    input_rel,
    nest,
    order_keys,
    ordered,
    select,
    tiebreak,
    typed_null,
)
from tideflow.engines.sql.casts import to_text
from tideflow.engines.sql.dialects import DialectTraits
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema, common_type

T = ColumnType


def extreme(fn: str, value: exp.Expr, typ: ColumnType, traits: DialectTraits) -> exp.Expr:
    """MIN/MAX with binary string order; booleans use BOOL_AND/BOOL_OR (PostgreSQL has no MIN(bool))."""
    if typ == T.BOOLEAN:
        return exp.LogicalAnd(this=value) if fn == "min" else exp.LogicalOr(this=value)
    node = exp.Min if fn == "min" else exp.Max
    return node(this=binary(value, typ, traits))


def numeric_aggregate(fn: str, value: exp.Expr, typ: ColumnType, traits: DialectTraits) -> exp.Expr:
    """sum (integer stays a BIGINT), avg and stddev (doubles), min/max."""
    if fn == "sum":
        return cast(exp.Sum(this=value), traits, T.INTEGER) if typ == T.INTEGER else exp.Sum(this=value)
    if fn == "avg":
        return exp.Avg(this=cast(value, traits, T.DOUBLE))
    if fn == "stddev":
        return exp.StddevSamp(this=cast(value, traits, T.DOUBLE))
    return extreme(fn, value, typ, traits)


def aggregate_type(fn: str, typ: ColumnType | None) -> ColumnType:
    if fn in ("count", "count_distinct"):
        return T.INTEGER
    if fn in ("avg", "stddev"):
        return T.DOUBLE
    if fn == "concat":
        return T.STRING
    if typ is None:
        raise ValueError(f"aggregation {fn!r} needs a column")
    return typ


def _needs(value: exp.Column | None, typ: ColumnType | None, ctx: Ctx, key_path: str) -> tuple[exp.Column, ColumnType]:
    if value is None or typ is None:
        raise ctx.error(key_path, "expected a 'column' for this function, got none")
    return value, typ


# ---------------------------------------------------------------- group


def compile_group(recipe: v.GroupRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel: Rel = input_rel(source, "_in")
    schema = rel.schema
    keys = [(k, ctx.check_column(k, schema, f"keys[{i}]")) for i, k in enumerate(recipe.keys)]
    out_names = [k for k, _ in keys] + [a.output_name for a in recipe.aggregations]
    for i, agg in enumerate(recipe.aggregations):
        ctx.check_name_length(agg.output_name, f"aggregations[{i}].output")
    ctx.check_new_names(out_names, "aggregations")
    out_schema: Schema = dict(keys)
    projections: list[exp.Expr] = [col(k) for k, _ in keys]
    window_columns: list[exp.Expr] = []
    for i, agg in enumerate(recipe.aggregations):
        kp = f"aggregations[{i}]"
        typ = ctx.check_column(agg.column, schema, f"{kp}.column") if agg.column is not None else None
        value = col(agg.column) if agg.column is not None else None
        if agg.fn == "count":
            node: exp.Expr = exp.Count(this=value if value is not None else exp.Star())
        elif agg.fn == "count_distinct":
            node = exp.Count(this=exp.Distinct(expressions=[value]))
        elif agg.fn in ("sum", "avg", "stddev") and typ is not None and not typ.is_numeric:
            raise ctx.error(f"{kp}.column", f"{agg.fn} needs a numeric column; {agg.column!r} is {typ.value}")
        elif agg.fn == "concat":
            value, typ = _needs(value, typ, ctx, kp)
            order = order_keys(agg.order_by or [], schema, ctx, f"{kp}.order_by")
            order.append(ordered(value.copy(), typ, False, False, ctx.traits))
            if typ == T.DOUBLE:  # -0.0 and 0.0 tie but print apart: '-0.0' first
                order.append(ordered(to_text(value.copy(), typ, ctx.traits), T.STRING, False, False, ctx.traits))
            node = exp.GroupConcat(
                this=exp.Order(this=to_text(value, typ, ctx.traits), expressions=order),
                separator=exp.Literal.string(agg.separator),
            )
        elif agg.fn in ("first", "last"):
            value, typ = _needs(value, typ, ctx, kp)
            last = agg.fn == "last"
            order = order_keys(agg.order_by or [], schema, ctx, f"{kp}.order_by", reverse=last)
            order.append(ordered(value.copy(), typ, last, last, ctx.traits))
            node = _first(value, typ, order, [col(k) for k, _ in keys], ctx.traits, window_columns, schema)
        else:
            value, typ = _needs(value, typ, ctx, kp)
            node = numeric_aggregate(agg.fn, value, typ, ctx.traits)
        projections.append(alias(node, agg.output_name))
        out_schema[agg.output_name] = aggregate_type(agg.fn, typ)
    if window_columns:
        inner = select([*(col(n) for n in schema), *window_columns], rel)
        rel = nest(inner, schema, "_w")
    query = select(projections, rel)
    if keys:
        query = query.group_by(*(col(k) for k, _ in keys), copy=False)
    return query, out_schema


def _first(
    value: exp.Expr,
    typ: ColumnType,
    order: list[exp.Ordered],
    partition: list[exp.Expr],
    traits: DialectTraits,
    window_columns: list[exp.Expr],
    schema: Schema,
) -> exp.Expr:
    if traits.first_last == "ordered_first":
        return exp.First(this=exp.Order(this=value, expressions=order))
    if traits.first_last == "array_agg":
        array = exp.ArrayAgg(this=exp.Order(this=value, expressions=order))
        return exp.Bracket(this=exp.Paren(this=array), expressions=[exp.Literal.number(0)])
    name = fresh_name(f"_first{len(window_columns)}", schema)
    window = exp.Window(
        this=exp.FirstValue(this=value),
        partition_by=partition or None,
        order=exp.Order(expressions=order),
        spec=_frame(None, None),
    )
    window_columns.append(alias(window, name))
    return extreme("min", col(name), typ, traits)


# ---------------------------------------------------------------- window


def _bound(rows: int | None, side: str) -> tuple[exp.Expr | str, str | None]:
    if rows is None:
        return "UNBOUNDED", side
    if rows == 0:
        return "CURRENT ROW", None
    return exp.Literal.number(rows), side


def _frame(preceding: int | None, following: int | None) -> exp.WindowSpec:
    start, start_side = _bound(preceding, "PRECEDING")
    end, end_side = _bound(following, "FOLLOWING")
    return exp.WindowSpec(kind="ROWS", start=start, start_side=start_side, end=end, end_side=end_side)


def _over(
    fn: exp.Expr,
    partition: Sequence[exp.Expr],
    order: Sequence[exp.Ordered],
    spec: exp.WindowSpec | None = None,
) -> exp.Window:
    return exp.Window(
        this=fn,
        partition_by=[p.copy() for p in partition] or None,
        order=exp.Order(expressions=[o.copy() for o in order]) if order else None,
        spec=spec,
    )


def _aggregate_frame(fn: v.WindowFunction, ordered: bool) -> exp.WindowSpec:
    """An aggregate's frame: its own, else running when the window is ordered, else the partition."""
    if fn.frame is not None:
        return _frame(fn.frame.preceding, fn.frame.following)
    return _frame(None, 0) if ordered else _frame(None, None)


def _shared_frame(recipe: v.WindowRecipe) -> exp.WindowSpec | None:
    """The frame of the first aggregate of an ordered window, for row_number/lag/lead to share (see
    ``DialectTraits.shared_window_frame``); None when there is none."""
    if not recipe.order_by:
        return None
    first = next((fn for fn in recipe.functions if fn.fn not in _FRAMELESS), None)
    return _aggregate_frame(first, True) if first is not None else None


_FRAMELESS = ("row_number", "rank", "dense_rank", "lag", "lead")


def compile_window(recipe: v.WindowRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    schema = rel.schema
    partition = [col(p) for i, p in enumerate(recipe.partition_by) if ctx.check_column(p, schema, f"partition_by[{i}]")]
    order = order_keys(recipe.order_by, schema, ctx, "order_by")
    total = order if recipe.order_is_unique else order + tiebreak(recipe.order_by, schema, recipe.partition_by,
                                                                  ctx.traits)
    for i, fn in enumerate(recipe.functions):
        ctx.check_name_length(fn.output_name, f"functions[{i}].output")
    ctx.check_new_names([*schema, *(f.output_name for f in recipe.functions)], "functions")
    projections: list[exp.Expr] = [col(n) for n in schema]
    out_schema = dict(schema)
    shared = _shared_frame(recipe) if ctx.traits.shared_window_frame else None
    for i, fn in enumerate(recipe.functions):
        kp = f"functions[{i}]"
        typ = ctx.check_column(fn.column, schema, f"{kp}.column") if fn.column is not None else None
        value = col(fn.column) if fn.column is not None else None
        if fn.fn in _FRAMELESS and not recipe.order_by:
            raise ctx.error(kp, f"window function {fn.fn!r} needs the recipe's 'order_by'")
        if fn.fn == "row_number":
            node: exp.Expr = cast(_over(exp.RowNumber(), partition, total, shared), ctx.traits, T.INTEGER)
            out_type = T.INTEGER
        elif fn.fn in ("rank", "dense_rank"):
            ranker = exp.Anonymous(this=fn.fn.upper(), expressions=[])
            node, out_type = cast(_over(ranker, partition, order), ctx.traits, T.INTEGER), T.INTEGER
        elif fn.fn in ("lag", "lead"):
            value, typ = _needs(value, typ, ctx, kp)
            shift = (exp.Lag if fn.fn == "lag" else exp.Lead)(this=value, offset=exp.Literal.number(fn.offset))
            node, out_type = _over(shift, partition, total, shared), typ
        else:
            if fn.fn == "count":
                agg: exp.Expr = exp.Count(this=value if value is not None else exp.Star())
                out_type = T.INTEGER
            else:
                value, typ = _needs(value, typ, ctx, kp)
                if fn.fn in ("sum", "avg") and not typ.is_numeric:
                    raise ctx.error(f"{kp}.column", f"{fn.fn} needs a numeric column; {fn.column!r} is {typ.value}")
                agg, out_type = numeric_aggregate(fn.fn, value, typ, ctx.traits), aggregate_type(fn.fn, typ)
            spec = _aggregate_frame(fn, bool(recipe.order_by))
            frame_order = total if fn.frame is not None or recipe.order_by else []
            inner = agg.this if isinstance(agg, exp.Cast) else agg
            window = _over(inner, partition, frame_order, spec)
            node = cast(window, ctx.traits, T.INTEGER) if isinstance(agg, exp.Cast) else window
        projections.append(alias(node, fn.output_name))
        out_schema[fn.output_name] = out_type
    return select(projections, rel), out_schema


# ---------------------------------------------------------------- stack, distinct, sort, top_n


def compile_stack(recipe: v.StackRecipe, sources: Mapping[str, SqlInput], ctx: Ctx) -> tuple[exp.Query, Schema]:
    out_schema: Schema = {}
    for name in recipe.inputs:
        for column, typ in sources[name].schema.items():
            if column in out_schema:
                widened = common_type(out_schema[column], typ)
                if widened is None:
                    raise ctx.error(
                        f"inputs.{name}",
                        f"column {column!r} is {out_schema[column].value} in an "
                        f"earlier input and {typ.value} in {name!r}: cast one of them first",
                    )
                out_schema[column] = widened
            else:
                out_schema[column] = typ
    if recipe.origin_column is not None:
        ctx.check_new_names([*out_schema, recipe.origin_column], "origin_column")
    branches: list[exp.Select] = []
    for i, name in enumerate(recipe.inputs):
        rel = input_rel(sources[name], f"_in{i}")
        projections: list[exp.Expr] = []
        for column, typ in out_schema.items():
            have = rel.schema.get(column)
            if have is None:
                projections.append(alias(typed_null(ctx.traits, typ), column))
            elif have != typ:
                projections.append(alias(cast(col(column), ctx.traits, typ), column))
            else:
                projections.append(col(column))
        if recipe.origin_column is not None:
            projections.append(alias(exp.Literal.string(name), recipe.origin_column))
        branches.append(select(projections, rel))
    if recipe.origin_column is not None:
        out_schema[recipe.origin_column] = T.STRING
    query: exp.Query = branches[0]
    for branch in branches[1:]:
        query = exp.Union(this=query, expression=branch, distinct=False)
    return query, out_schema


def compile_distinct(recipe: v.DistinctRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    columns = recipe.columns if recipe.columns is not None else list(rel.schema)
    if not columns:
        raise ctx.error("columns", "expected at least one column, got an empty list")
    out_schema = {c: ctx.check_column(c, rel.schema, f"columns[{i}]") for i, c in enumerate(columns)}
    ctx.check_new_names([*columns, *([recipe.count_column] if recipe.count_column else [])], "count_column")
    projections: list[exp.Expr] = [col(c) for c in columns]
    if recipe.count_column:
        projections.append(alias(exp.Count(this=exp.Star()), recipe.count_column))
        out_schema[recipe.count_column] = T.INTEGER
    return select(projections, rel).group_by(*(col(c) for c in columns), copy=False), out_schema


def compile_sort(recipe: v.SortRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    order = order_keys(recipe.order_by, rel.schema, ctx, "order_by")
    order += tiebreak(recipe.order_by, rel.schema, (), ctx.traits)
    query = select([col(n) for n in rel.schema], rel).order_by(*order, copy=False)
    return query, dict(rel.schema)


def compile_top_n(recipe: v.TopNRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel = input_rel(source, "_in")
    schema = rel.schema
    partition = [col(p) for i, p in enumerate(recipe.partition_by) if ctx.check_column(p, schema, f"partition_by[{i}]")]
    forward = order_keys(recipe.order_by, schema, ctx, "order_by")
    forward += tiebreak(recipe.order_by, schema, recipe.partition_by, ctx.traits)
    # One numbering and the partition's size: the last M rows are those numbered above size - M. Two
    # numberings (forwards and backwards) could each put one of two identical rows first and keep one
    # row where the memory engine keeps both.
    rank_name, size_name = fresh_name("_rn", schema), fresh_name("_size", schema)
    inner = select(
        [
            *(col(n) for n in schema),
            alias(_over(exp.RowNumber(), partition, forward), rank_name),
            *([alias(_over(exp.Count(this=exp.Star()), partition, []), size_name)] if recipe.last else []),
        ],
        rel,
    )
    ranked = nest(inner, schema, "_ranked")
    conditions: list[exp.Expr] = []
    if recipe.first:
        conditions.append(exp.LTE(this=col(rank_name), expression=exp.Literal.number(recipe.first)))
    if recipe.last:
        conditions.append(exp.GT(this=col(rank_name), expression=exp.Sub(
            this=col(size_name), expression=exp.Literal.number(recipe.last))))
    where = conditions[0] if len(conditions) == 1 else exp.or_(*conditions, copy=False)
    projections: list[exp.Expr] = [col(n) for n in schema]
    out_schema = dict(schema)
    if recipe.rank_column:
        ctx.check_new_names([*schema, recipe.rank_column], "rank_column")
        projections.append(alias(cast(col(rank_name), ctx.traits, T.INTEGER), recipe.rank_column))
        out_schema[recipe.rank_column] = T.INTEGER
    return select(projections, ranked).where(where, copy=False), out_schema

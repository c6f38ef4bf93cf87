"""The join, stack, distinct, sort and top_n recipes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from tideflow.engines.memory.casting import cast_expr
from tideflow.engines.memory.checks import Where, require_column, require_columns, require_new_name
from tideflow.engines.memory.dtypes import CANONICAL, schema_of
from tideflow.engines.memory.group import order_exprs
from tideflow.errors import did_you_mean
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema, common_type

DF = pl.DataFrame
_HOW = {"inner": "inner", "left": "left", "right": "right", "full": "full", "cross": "cross",
        "left_anti": "anti", "semi": "semi"}


def _tag(index: int, column: str) -> str:
    return f"__in{index}__{column}"


def run_join(recipe: v.JoinRecipe, frames: Mapping[str, DF], where: Where) -> dict[str, DF]:
    inputs = recipe.inputs
    if len(set(inputs)) != len(inputs):
        raise where.error("inputs", f"a join takes each input once, got {inputs}")
    schemas = {name: schema_of(frames[name]) for name in inputs}
    position = {name: i for i, name in enumerate(inputs)}
    result = frames[inputs[0]].rename({c: _tag(0, c) for c in schemas[inputs[0]]})
    joined: list[str] = [inputs[0]]
    no_columns: set[str] = set()
    right_keys: dict[str, list[str]] = {}
    for k, clause in enumerate(recipe.joins):
        path = f"joins[{k}]"
        other = clause.with_
        if other not in inputs[1:]:
            raise where.error(f"{path}.with", f"expected one of the other inputs {inputs[1:]}, got {other!r}"
                                              f"{did_you_mean(other, inputs[1:])}")
        if other in joined or other in no_columns:
            raise where.error(f"{path}.with", f"input {other!r} is joined twice (expected each input once)")
        j = position[other]
        right = frames[other].rename({c: _tag(j, c) for c in schemas[other]})
        left_on, right_on = [], []
        for n, key in enumerate(clause.on):
            key_path = f"{path}.on[{n}]"
            source = key.left_input or inputs[0]
            if source not in joined:
                raise where.error(f"{key_path}.left_input", f"expected an input joined before {other!r} "
                                  f"({', '.join(joined)}), got {source!r}{did_you_mean(source, joined)}")
            lt = require_column(key.left, schemas[source], where, f"{key_path}.left")
            rt = require_column(key.right, schemas[other], where, f"{key_path}.right")
            common = common_type(lt, rt)
            if common is None:
                raise where.error(key_path, f"cannot match the {lt} column {key.left!r} with the {rt} column "
                                            f"{key.right!r} (expected comparable types)")
            i = position[source]
            result = result.with_columns(cast_expr(pl.col(_tag(i, key.left)), lt, common)
                                         .cast(CANONICAL[common]).alias(f"__lk{n}"))
            right = right.with_columns(cast_expr(pl.col(_tag(j, key.right)), rt, common)
                                       .cast(CANONICAL[common]).alias(f"__rk{n}"))
            left_on.append(f"__lk{n}")
            right_on.append(f"__rk{n}")
        right_keys[other] = [key.right for key in clause.on]
        if clause.type == "cross":
            result = result.join(right, how="cross")
        else:
            result = result.join(right, left_on=left_on, right_on=right_on, how=_HOW[clause.type],  # type: ignore[arg-type]
                                 coalesce=False, nulls_equal=False)
        result = result.drop([c for c in result.columns if c.startswith(("__lk", "__rk"))])
        if clause.type in ("semi", "left_anti"):
            no_columns.add(other)
        else:
            joined.append(other)
    missing = [name for name in inputs[1:] if name not in joined and name not in no_columns]
    if missing:
        raise where.error("joins", f"input(s) {missing} are listed in 'inputs' but joined by no clause")
    out = result.select(_selection(recipe, schemas, no_columns, right_keys, where))
    outputs = _output_names(recipe, where)
    results = {outputs[0]: out}
    if recipe.unmatched_output is not None:
        results[recipe.unmatched_output] = _unmatched(recipe, frames, where)
    return results


def _selection(recipe: v.JoinRecipe, schemas: dict[str, Schema], no_columns: set[str],
               right_keys: dict[str, list[str]], where: Where) -> list[pl.Expr]:
    for name in recipe.select:
        if name not in recipe.inputs:
            raise where.error("select", f"expected an input name ({', '.join(recipe.inputs)}), got {name!r}"
                                        f"{did_you_mean(name, recipe.inputs)}")
        if name in no_columns:
            raise where.error(f"select.{name}", f"input {name!r} is semi/anti joined: it adds no columns")
    exprs: list[pl.Expr] = []
    owners: dict[str, str] = {}
    for i, name in enumerate(recipe.inputs):
        if name in no_columns:
            continue
        choice = recipe.select.get(name, v.JoinSelect())
        if choice.columns is not None:
            require_columns(choice.columns, schemas[name], where, f"select.{name}.columns")
            columns = choice.columns
        else:
            columns = [c for c in schemas[name] if c not in right_keys.get(name, [])]
        for column in columns:
            output = choice.prefix + column
            if output in owners:
                raise where.error("select", f"duplicate output column {output!r} from inputs "
                                            f"{owners[output]!r} and {name!r} (expected unique names: "
                                            f"set a 'prefix' or 'columns' in select.{name})")
            owners[output] = name
            exprs.append(pl.col(_tag(i, column)).alias(output))
    return exprs


def _output_names(recipe: v.JoinRecipe, where: Where) -> list[str]:
    if recipe.unmatched_output is None:
        return list(recipe.outputs)
    if recipe.unmatched_output not in recipe.outputs:
        raise where.error("unmatched_output", f"expected one of the outputs {recipe.outputs}, got "
                                              f"{recipe.unmatched_output!r}")
    if recipe.joins[0].type not in ("inner", "left"):
        raise where.error("unmatched_output", f"needs a first join of type inner or left, got "
                                              f"{recipe.joins[0].type!r}")
    main = [name for name in recipe.outputs if name != recipe.unmatched_output]
    if len(main) != 1:
        raise where.error("outputs", f"expected the main output and {recipe.unmatched_output!r}, got "
                                     f"{recipe.outputs}")
    return main


def _unmatched(recipe: v.JoinRecipe, frames: Mapping[str, pl.DataFrame], where: Where) -> pl.DataFrame:
    """Rows of the first input with no match in the first clause, with the first input's columns."""
    clause = recipe.joins[0]
    left, right = frames[recipe.inputs[0]], frames[clause.with_]
    ls, rs = schema_of(left), schema_of(right)
    keyed_left, keyed_right = left, right
    for n, key in enumerate(clause.on):
        common = common_type(ls[key.left], rs[key.right]) or ColumnType.STRING
        keyed_left = keyed_left.with_columns(
            cast_expr(pl.col(key.left), ls[key.left], common).cast(CANONICAL[common]).alias(f"__lk{n}"))
        keyed_right = keyed_right.select(
            *[pl.col(f"__rk{m}") for m in range(n)],
            cast_expr(pl.col(key.right), rs[key.right], common).cast(CANONICAL[common]).alias(f"__rk{n}"))
    keys_l = [f"__lk{n}" for n in range(len(clause.on))]
    keys_r = [f"__rk{n}" for n in range(len(clause.on))]
    anti = keyed_left.join(keyed_right, left_on=keys_l, right_on=keys_r, how="anti", nulls_equal=False)
    return anti.select(list(ls))


def run_stack(recipe: v.StackRecipe, frames: Mapping[str, pl.DataFrame], where: Where) -> pl.DataFrame:
    columns: dict[str, ColumnType] = {}
    first_seen: dict[str, str] = {}
    for name in recipe.inputs:
        for column, typ in schema_of(frames[name]).items():
            if column not in columns:
                columns[column], first_seen[column] = typ, name
                continue
            common = common_type(columns[column], typ)
            if common is None:
                raise where.error("inputs", f"column {column!r} is {columns[column]} in "
                                            f"{first_seen[column]!r} but {typ} in {name!r} (expected the "
                                            "same type, or integer and double)")
            columns[column] = common
    if recipe.origin_column is not None:
        require_new_name(recipe.origin_column, columns, where, "origin_column")
    parts = []
    for name in recipe.inputs:
        frame, schema = frames[name], schema_of(frames[name])
        exprs = [cast_expr(pl.col(c), schema[c], t).cast(CANONICAL[t]).alias(c) if c in schema
                 else pl.lit(None, dtype=CANONICAL[t]).alias(c) for c, t in columns.items()]
        if recipe.origin_column is not None:
            exprs.append(pl.lit(name, dtype=pl.String).alias(recipe.origin_column))
        parts.append(frame.select(exprs) if frame.width else
                     pl.DataFrame(schema={c: CANONICAL[t] for c, t in columns.items()}))
    return pl.concat(parts, how="vertical")


def run_distinct(recipe: v.DistinctRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    schema = schema_of(frame)
    columns = recipe.columns if recipe.columns is not None else list(schema)
    require_columns(columns, schema, where, "columns")
    if recipe.count_column is None:
        return frame.select(columns).unique(maintain_order=True)
    require_new_name(recipe.count_column, columns, where, "count_column")
    counted = pl.len().cast(pl.Int64).alias(recipe.count_column)
    return frame.group_by(columns, maintain_order=True).agg(counted)


def _check_order(order_by: list[v.OrderKey], schema: Schema, where: Where) -> None:
    for i, key in enumerate(order_by):
        require_column(key.column, schema, where, f"order_by[{i}].column")


def sort_frame(frame: DF, order_by: list[v.OrderKey], first: list[str] | None = None, *,
               tiebreak: bool = True, exclude: Iterable[str] = ()) -> DF:
    """Rows sorted by ``first`` (ascending, NULLs last), then ``order_by``, then (``tiebreak``)
    every remaining column in schema order, ascending, NULLs last: the tie-break that makes the
    order total, as the SQL engines write it. Strings compare by code point, false before true,
    NaN after every number. Columns in ``exclude`` (helper columns) are not part of the order.

    Without ``tiebreak`` (``order_is_unique: true``) it is a stable sort on the keys alone: tied
    rows keep their input order, one of the orders the documented semantics allow.
    """
    keys, desc, nulls_last = order_exprs(order_by)
    lead = first or []
    skip = {k.column for k in order_by} | set(lead) | set(exclude)
    rest = [c for c in frame.columns if c not in skip] if tiebreak else []
    if not keys and not lead and not rest:
        return frame
    return frame.sort([*(pl.col(c) for c in lead), *keys, *(pl.col(c) for c in rest)],
                      descending=[False] * len(lead) + desc + [False] * len(rest),
                      nulls_last=[True] * len(lead) + nulls_last + [True] * len(rest), maintain_order=True)


def run_sort(recipe: v.SortRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    _check_order(recipe.order_by, schema_of(frame), where)
    return sort_frame(frame, recipe.order_by)


def run_top_n(recipe: v.TopNRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    schema = schema_of(frame)
    require_columns(recipe.partition_by, schema, where, "partition_by")
    _check_order(recipe.order_by, schema, where)
    if recipe.rank_column is not None:
        require_new_name(recipe.rank_column, schema, where, "rank_column")
    ordered = sort_frame(frame, recipe.order_by, recipe.partition_by)
    position, size = pl.int_range(1, pl.len() + 1, dtype=pl.Int64), pl.len().cast(pl.Int64)
    if recipe.partition_by:
        position, size = position.over(recipe.partition_by), size.over(recipe.partition_by)
    ranked = ordered.with_columns(position.alias("__rank"), size.alias("__size"))
    rank = pl.col("__rank")
    kept = ranked.filter((rank <= recipe.first) | (rank > pl.col("__size") - recipe.last))
    if recipe.rank_column is not None:
        kept = kept.rename({"__rank": recipe.rank_column})
    return kept.drop([c for c in ("__rank", "__size") if c in kept.columns])

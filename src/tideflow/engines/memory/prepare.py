"""The prepare recipe: its 19 step ops applied in order to one frame."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import polars as pl

from tideflow.engines.memory.casting import cast_expr, convert_value, to_text
from tideflow.engines.memory.checks import (
    Where,
    require_column,
    require_columns,
    require_type,
    require_unique,
)
from tideflow.engines.memory.dtypes import CANONICAL, schema_of
from tideflow.engines.memory.expressions import compile_condition, compile_expression
from tideflow.engines.memory.functions import divide, round_half_away
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema, common_type

T = ColumnType
DF = pl.DataFrame
NUMERIC = (T.INTEGER, T.DOUBLE)
TEMPORAL = (T.DATE, T.TIMESTAMP)
_US_PER_UNIT = {"day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}


def run_prepare(recipe: v.PrepareRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    for index, step in enumerate(recipe.steps):
        handler = _HANDLERS[step.op]
        frame = handler(step, frame, schema_of(frame), where, f"steps[{index}]")
    return frame


def _filter(step: v.FilterStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    if step.expr is not None:
        matches = compile_condition(step.expr, schema, where=where.at(f"{path}.expr"))
    else:
        tests = [_rule(rule, schema, where, f"{path}.rules[{i}]") for i, rule in enumerate(step.rules or [])]
        combined = pl.lit(step.match == "all")  # all of no rules holds; any of none does not
        for test in tests:
            combined = combined & test if step.match == "all" else combined | test
        matches = combined.fill_null(False)
    return frame.filter(matches if step.action == "keep" else ~matches)


def _rule(rule: v.Rule, schema: Schema, where: Where, path: str) -> pl.Expr:
    """One rule. Its value is converted to the column's type (an error when it does not convert).

    NULL values match only ``is_null``, ``eq`` null and in-lists holding null: ``eq`` null keeps the
    NULL rows, ``ne`` null the others; ``in`` [2, null] keeps 2 and NULL; ``not_in`` [2, null] keeps
    the rows that are neither. Otherwise a NULL in the column gives NULL (false once the filter
    applies it).
    """
    typ = require_column(rule.column, schema, where, f"{path}.column")
    col = pl.col(rule.column)
    if rule.op in ("is_null", "not_null"):
        return col.is_null() if rule.op == "is_null" else col.is_not_null()
    if rule.op in ("in", "not_in"):
        values = rule.value if isinstance(rule.value, list) else [rule.value]
        if not values:
            raise where.error(f"{path}.value", f"rule {rule.op!r} needs a non-empty list of values, got []")
        found: pl.Expr = pl.lit(False)
        for value in values:
            if value is not None:
                found = found | (col == _rule_value(value, typ, where, f"{path}.value"))
        if rule.op == "in":
            return found | col.is_null() if None in values else found
        return col.is_not_null() & ~found
    if isinstance(rule.value, list):
        raise where.error(f"{path}.value", f"rule {rule.op!r} takes one value, got a list")
    if rule.op in ("contains", "starts_with", "ends_with"):
        if rule.value is None:
            raise where.error(f"{path}.value", f"rule {rule.op!r} needs a value, got null")
        needle = str(convert_value(rule.value, T.STRING))
        text = to_text(col, typ)
        if rule.op == "contains":
            return text.str.contains(needle, literal=True)
        if rule.op == "starts_with":
            return text.str.starts_with(needle)
        return text.str.ends_with(needle)
    if rule.value is None:
        if rule.op in ("eq", "ne"):
            return col.is_null() if rule.op == "eq" else col.is_not_null()
        raise where.error(f"{path}.value", f"rule {rule.op!r} needs a value, got null")
    ops: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
        "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    }
    return ops[rule.op](col, _rule_value(rule.value, typ, where, f"{path}.value"))


def _rule_value(value: Any, typ: ColumnType, where: Where, path: str) -> pl.Expr:
    """A literal of the column's type, or an error naming ``path``."""
    return pl.lit(_converted(value, typ, where, path), dtype=CANONICAL[typ])


def _converts(value: Any, typ: ColumnType) -> bool:
    try:
        convert_value(value, typ)
    except ValueError:
        return False
    return True


def _converted(value: Any, typ: ColumnType, where: Where, path: str) -> Any:
    try:
        return convert_value(value, typ)
    except ValueError:
        raise where.error(path, f"expected {typ.with_article} value, got {value!r}") from None


def _formula(step: v.FormulaStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    expr, typ = compile_expression(step.expr, schema, where=where.at(f"{path}.expr"))
    return frame.with_columns(expr.cast(CANONICAL[typ or T.STRING], strict=False).alias(step.column))


def _rename(step: v.RenameStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    for old in step.columns:
        require_column(old, schema, where, f"{path}.columns")
    require_unique(list(step.columns.values()), where, f"{path}.columns", "new names")
    kept = [name for name in schema if name not in step.columns]
    for old, new in step.columns.items():
        if new in kept:
            raise where.error(f"{path}.columns", f"cannot rename {old!r} to {new!r}: column {new!r} already "
                                                 "exists (expected a new name)")
    return frame.rename(dict(step.columns))


def _keep(step: v.KeepStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    return frame.select(step.columns)


def _drop(step: v.DropStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    if len(set(step.columns)) == len(schema):
        raise where.error(f"{path}.columns", "cannot drop every column (expected at least one left)")
    return frame.drop(step.columns)


def _cast(step: v.CastStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    return frame.with_columns(
        cast_expr(pl.col(c), schema[c], step.to).cast(CANONICAL[step.to], strict=False).alias(c)
        for c in step.columns
    )


def _fill_empty(step: v.FillEmptyStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    exprs = []
    for c in step.columns:
        value = _converted(step.value, schema[c], where, f"{path}.value")
        empty = pl.col(c).is_null()
        if schema[c] == T.STRING:
            empty = empty | (pl.col(c) == "")
        filled = pl.lit(value, dtype=CANONICAL[schema[c]])
        exprs.append(pl.when(empty).then(filled).otherwise(pl.col(c)).alias(c))
    return frame.with_columns(exprs)


def _replace(step: v.ReplaceStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    for i, rep in enumerate(step.replacements):
        # An old value one of the columns cannot hold never matches there (a step may replace in
        # text and number columns at once); one that none of them can hold is a mistake.
        if rep.old is not None and not any(_converts(rep.old, schema[c]) for c in step.columns):
            held = ("column " if len(step.columns) == 1 else "columns ") + ", ".join(
                f"{c!r} is {schema[c].value}" for c in step.columns)
            types = " or ".join(dict.fromkeys(schema[c].with_article for c in step.columns))
            raise where.error(f"{path}.replacements[{i}].old",
                              f"expected {types} value, got {rep.old!r} ({held}: it could never match)")
    exprs = []
    for c in step.columns:
        typ, dtype = schema[c], CANONICAL[schema[c]]
        result = pl.col(c)
        # Built from the last replacement to the first so that the first listed wins.
        for i, rep in reversed(list(enumerate(step.replacements))):
            if not _converts(rep.old, typ):
                continue  # a value this column cannot hold never matches here
            old = convert_value(rep.old, typ)
            if old is None:
                continue
            new = _converted(rep.new, typ, where, f"{path}.replacements[{i}].new")
            matches = pl.col(c) == pl.lit(old, dtype=dtype)
            result = pl.when(matches).then(pl.lit(new, dtype=dtype)).otherwise(result)
        exprs.append(result.alias(c))
    return frame.with_columns(exprs)


def _string_columns(columns: list[str], schema: Schema, where: Where, path: str) -> None:
    require_columns(columns, schema, where, path)
    for c in columns:
        require_type(c, schema[c], [T.STRING], where, path)


def _trim(step: v.TrimStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    _string_columns(step.columns, schema, where, f"{path}.columns")
    strip = {"both": "strip_chars", "left": "strip_chars_start", "right": "strip_chars_end"}[step.side]
    return frame.with_columns(getattr(pl.col(c).str, strip)(" ").alias(c) for c in step.columns)


def _case(step: v.CaseStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    _string_columns(step.columns, schema, where, f"{path}.columns")
    return frame.with_columns(
        (pl.col(c).str.to_uppercase() if step.mode == "upper" else pl.col(c).str.to_lowercase()).alias(c)
        for c in step.columns
    )


def _concat(step: v.ConcatStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    parts = [to_text(pl.col(c), schema[c]) for c in step.columns]
    joined = pl.concat_str(parts, separator=step.separator, ignore_nulls=True)
    return frame.with_columns(joined.alias(step.output))


def _split(step: v.SplitColumnStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    typ = require_column(step.column, schema, where, f"{path}.column")
    require_unique(step.outputs, where, f"{path}.outputs")
    parts = to_text(pl.col(step.column), typ).str.split(step.separator, literal=True)
    exprs = []
    for i, name in enumerate(step.outputs):
        part = parts.list.get(i, null_on_oob=True)
        exprs.append(pl.when(part == "").then(None).otherwise(part).alias(name))
    return frame.with_columns(exprs)


def _regex_extract(step: v.RegexExtractStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    typ = require_column(step.column, schema, where, f"{path}.column")
    try:
        groups = re.compile(step.pattern).groups
    except re.error as err:
        raise where.error(f"{path}.pattern", f"invalid regular expression {step.pattern!r}: {err}") from None
    if step.group > groups:
        raise where.error(f"{path}.group", f"pattern {step.pattern!r} has {groups} capture group(s), "
                                           f"got group {step.group}")
    text = to_text(pl.col(step.column), typ)
    found = text.str.extract(step.pattern, step.group)
    # An empty match (or a group that took part in no match) is NULL, as on every database.
    return frame.with_columns(pl.when(found == "").then(None).otherwise(found).alias(step.output))


def _date_part(step: v.DatePartStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    typ = require_column(step.column, schema, where, f"{path}.column")
    require_type(step.column, typ, TEMPORAL, where, f"{path}.column")
    value = cast_expr(pl.col(step.column), typ, T.TIMESTAMP)
    parts: dict[str, Callable[[pl.Expr], pl.Expr]] = {
        "year": lambda e: e.dt.year(), "quarter": lambda e: e.dt.quarter(), "month": lambda e: e.dt.month(),
        "week": lambda e: e.dt.week(), "day": lambda e: e.dt.day(), "dayofweek": lambda e: e.dt.weekday(),
        "dayofyear": lambda e: e.dt.ordinal_day(), "hour": lambda e: e.dt.hour(),
        "minute": lambda e: e.dt.minute(), "second": lambda e: e.dt.second(),
    }
    return frame.with_columns(parts[step.part](value).cast(pl.Int64).alias(step.output))


def _date_diff(step: v.DateDiffStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    ends = []
    for field in ("start", "end"):
        name = getattr(step, field)
        typ = require_column(name, schema, where, f"{path}.{field}")
        require_type(name, typ, TEMPORAL, where, f"{path}.{field}")
        ends.append(cast_expr(pl.col(name), typ, T.TIMESTAMP))
    elapsed_us = (ends[1] - ends[0]).dt.total_microseconds().cast(pl.Float64)
    return frame.with_columns(divide(elapsed_us, _US_PER_UNIT[step.unit]).alias(step.output))


def _if_then_else(step: v.IfThenElseStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    conds, values = [], []
    for i, case in enumerate(step.cases):
        conds.append(compile_condition(case.when, schema, where=where.at(f"{path}.cases[{i}].when")))
        values.append(compile_expression(case.then, schema, where=where.at(f"{path}.cases[{i}].then")))
    default = (compile_expression(step.else_, schema, where=where.at(f"{path}.else"))
               if step.else_ is not None else (pl.lit(None), None))
    result_type: ColumnType | None = None
    for _, typ in [*values, default]:
        if typ is not None:
            result_type = typ if result_type is None else (common_type(result_type, typ) or T.STRING)
    target = result_type or T.STRING

    def as_target(typed: tuple[pl.Expr, ColumnType | None]) -> pl.Expr:
        return cast_expr(typed[0], typed[1], target).cast(CANONICAL[target], strict=False)

    chain: Any = None
    for cond, value in zip(conds, values, strict=True):
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(as_target(value))
    return frame.with_columns(chain.otherwise(as_target(default)).alias(step.output))


def _flag(step: v.FlagStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    flag = compile_condition(step.expr, schema, where=where.at(f"{path}.expr"))
    return frame.with_columns(flag.alias(step.output))


def _round(step: v.RoundStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    require_columns(step.columns, schema, where, f"{path}.columns")
    for c in step.columns:
        require_type(c, schema[c], NUMERIC, where, f"{path}.columns")
    return frame.with_columns(
        round_half_away(pl.col(c), schema[c], step.decimals).alias(c) for c in step.columns
    )


def _bin(step: v.BinStep, frame: DF, schema: Schema, where: Where, path: str) -> DF:
    typ = require_column(step.column, schema, where, f"{path}.column")
    require_type(step.column, typ, NUMERIC, where, f"{path}.column")
    x = pl.col(step.column).cast(pl.Float64)
    if step.width is not None:
        return frame.with_columns((divide(x, step.width).floor() * step.width).alias(step.output))
    edges = step.edges or []
    chain: Any = None
    for lo, hi in itertools.pairwise(edges):
        cond = (x >= lo) & (x < hi)
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(float(lo)))
    binned = chain.otherwise(pl.lit(None, dtype=pl.Float64)).cast(pl.Float64)
    return frame.with_columns(binned.alias(step.output))


_HANDLERS: dict[str, Callable[[Any, pl.DataFrame, Schema, Where, str], pl.DataFrame]] = {
    "filter": _filter, "formula": _formula, "rename": _rename, "keep": _keep, "drop": _drop, "cast": _cast,
    "fill_empty": _fill_empty, "replace": _replace, "trim": _trim, "case": _case, "concat": _concat,
    "split": _split, "regex_extract": _regex_extract, "date_part": _date_part, "date_diff": _date_diff,
    "if_then_else": _if_then_else, "flag": _flag, "round": _round, "bin": _bin,
}

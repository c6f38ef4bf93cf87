"""The prepare recipe: each step is one SELECT over the previous step's columns.

A step that writes a column that already exists replaces it in place; a new column is appended.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from sqlglot import exp

from tideflow.engines.sql.build import (
    Ctx,
    Rel,
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
    nest,
    number,
    or_all,
    select,
    typed_null,
)
from tideflow.engines.sql.casts import round_half_away, safe_cast, to_text
from tideflow.engines.sql.expressions import compile_condition, compile_expression
from tideflow.engines.sql.prepare_base import StepResult, put_column, same_columns, typed_columns
from tideflow.engines.sql.prepare_text_time import (
    case_step,
    concat_step,
    date_diff_step,
    date_part_step,
    regex_extract_step,
    split_step,
    trim_step,
)
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema, common_type

T = ColumnType


def _value(value: object, typ: ColumnType, ctx: Ctx, key_path: str) -> exp.Expr:
    try:
        return literal(convert_value(value, typ), typ, ctx.traits)
    except (ValueError, TypeError):
        raise ctx.error(key_path, f"expected {typ.with_article} value, got {value!r}") from None


def _converts(value: object, typ: ColumnType) -> bool:
    try:
        convert_value(value, typ)
    except (ValueError, TypeError):
        return False
    return True


# ---------------------------------------------------------------- filter rules


def rule_condition(rule: v.Rule, schema: Schema, ctx: Ctx, key_path: str) -> exp.Expr:
    """One rule as SQL. NULL values match only is_null, eq None and in-lists holding None."""
    typ = ctx.check_column(rule.column, schema, f"{key_path}.column")
    c = col(rule.column)
    op, value = rule.op, rule.value
    if op == "is_null":
        return exp.Is(this=c, expression=exp.Null())
    if op == "not_null":
        return exp.Not(this=exp.Is(this=c, expression=exp.Null()))
    if op in ("in", "not_in"):
        values = value if isinstance(value, list) else [value]
        present = [_value(x, typ, ctx, f"{key_path}.value") for x in values if x is not None]
        matched: exp.Expr = exp.In(this=c.copy(), expressions=present) if present else exp.false()
        if op == "in":
            if None in values:
                matched = exp.or_(matched, exp.Is(this=c, expression=exp.Null()), copy=False)
            return matched
        return exp.and_(
            exp.Not(this=exp.Is(this=c, expression=exp.Null())),
            exp.Not(this=exp.Paren(this=matched)),
            copy=False,
        )
    if isinstance(value, list):
        raise ctx.error(f"{key_path}.value", f"rule {op!r} takes one value, got a list")
    if op in ("contains", "starts_with", "ends_with"):
        if value is None:
            raise ctx.error(f"{key_path}.value", f"rule {op!r} needs a value")
        text, needle = to_text(c, typ, ctx.traits), str(convert_value(value, T.STRING))
        needle_lit = exp.Literal.string(needle)
        if op == "contains":
            return exp.GT(this=exp.StrPosition(this=text, substr=needle_lit), expression=exp.Literal.number(0))
        fn = exp.Left if op == "starts_with" else exp.Right
        return exp.EQ(this=fn(this=text, expression=exp.Literal.number(len(needle))), expression=needle_lit)
    if value is None:
        if op == "eq":
            return exp.Is(this=c, expression=exp.Null())
        if op == "ne":
            return exp.Not(this=exp.Is(this=c, expression=exp.Null()))
        raise ctx.error(f"{key_path}.value", f"rule {op!r} needs a value, got null")
    lit = _value(value, typ, ctx, f"{key_path}.value")
    comparison = {"eq": exp.EQ, "ne": exp.NEQ, "lt": exp.LT, "le": exp.LTE, "gt": exp.GT, "ge": exp.GTE}[op]
    return comparison(this=binary(c, typ, ctx.traits) if op in ("lt", "le", "gt", "ge") else c, expression=lit)


# ---------------------------------------------------------------- steps


def _filter(step: v.FilterStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    if step.expr is not None:
        cond = compile_condition(step.expr, schema, ctx, f"{kp}.expr")
    else:
        parts = [
            exp.Paren(this=rule_condition(r, schema, ctx, f"{kp}.rules[{i}]")) for i, r in enumerate(step.rules or [])
        ]
        cond = and_all(parts) if step.match == "all" else or_all(parts)
    where = cond if step.action == "keep" else exp.Not(this=is_true(cond))
    return StepResult(same_columns(schema), where)


def _formula(step: v.FormulaStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    value, typ = compile_expression(step.expr, schema, ctx, f"{kp}.expr")
    if typ is None:
        return put_column(schema, step.column, typed_null(ctx.traits, T.STRING), T.STRING)
    if not isinstance(value, exp.Column):
        value = cast(value, ctx.traits, typ)
    return put_column(schema, step.column, value, typ)


def _rename(step: v.RenameStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    for old in step.columns:
        ctx.check_column(old, schema, f"{kp}.columns.{old}")
    names = [step.columns.get(name, name) for name in schema]
    ctx.check_new_names(names, f"{kp}.columns")
    return StepResult({step.columns.get(n, n): (col(n), t) for n, t in schema.items()})


def _keep(step: v.KeepStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    kept = typed_columns(step.columns, schema, ctx, kp)
    ctx.check_new_names(step.columns, f"{kp}.columns")
    return StepResult({name: (col(name), typ) for name, typ in kept})


def _drop(step: v.DropStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    typed_columns(step.columns, schema, ctx, kp)
    if set(step.columns) >= set(schema):
        raise ctx.error(f"{kp}.columns", "a drop step cannot remove every column")
    return StepResult({n: (col(n), t) for n, t in schema.items() if n not in step.columns})


def _cast(step: v.CastStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    for name, typ in typed_columns(step.columns, schema, ctx, kp):
        columns[name] = (safe_cast(col(name), typ, step.to, ctx.traits), step.to)
    return StepResult(columns)


def _fill_empty(step: v.FillEmptyStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    for name, typ in typed_columns(step.columns, schema, ctx, kp):
        fill = _value(step.value, typ, ctx, f"{kp}.value")
        empty: exp.Expr = exp.Is(this=col(name), expression=exp.Null())
        if typ == T.STRING:
            empty = exp.or_(empty, exp.EQ(this=col(name), expression=exp.Literal.string("")), copy=False)
        columns[name] = (exp.Case().when(empty, fill, copy=False).else_(col(name), copy=False), typ)
    return StepResult(columns)


def _replace(step: v.ReplaceStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    typed = typed_columns(step.columns, schema, ctx, kp)
    for i, rep in enumerate(step.replacements):
        # An old value one of the columns cannot hold never matches there (a step may replace in text and
        # number columns at once); one that none of them can hold is a mistake.
        if rep.old is not None and not any(_converts(rep.old, typ) for _, typ in typed):
            held = ("column " if len(typed) == 1 else "columns ") + ", ".join(
                f"{name!r} is {typ.value}" for name, typ in typed)
            types = " or ".join(dict.fromkeys(typ.with_article for _, typ in typed))
            raise ctx.error(f"{kp}.replacements[{i}].old",
                            f"expected {types} value, got {rep.old!r} ({held}: it could never match)")
    for name, typ in typed:
        case = exp.Case()
        for i, rep in enumerate(step.replacements):
            try:
                old = literal(convert_value(rep.old, typ), typ, ctx.traits)
            except (ValueError, TypeError):
                continue  # a value the column cannot hold never matches
            new = _value(rep.new, typ, ctx, f"{kp}.replacements[{i}].new")
            case = case.when(exp.EQ(this=col(name), expression=old), new, copy=False)
        if case.args.get("ifs"):
            columns[name] = (case.else_(col(name), copy=False), typ)
    return StepResult(columns)


def _if_then_else(step: v.IfThenElseStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    branches = [(i, c.then) for i, c in enumerate(step.cases)]
    compiled = [compile_expression(text, schema, ctx, f"{kp}.cases[{i}].then") for i, text in branches]
    else_ = compile_expression(step.else_, schema, ctx, f"{kp}.else") if step.else_ is not None else None
    typ: ColumnType | None = None
    for _, t in [*compiled, *([else_] if else_ else [])]:
        if t is not None:
            typ = t if typ is None else (common_type(typ, t) or T.STRING)
    typ = typ or T.STRING
    case = exp.Case()
    for i, (value, t) in enumerate(compiled):
        cond = compile_condition(step.cases[i].when, schema, ctx, f"{kp}.cases[{i}].when")
        case = case.when(cond, safe_cast(value, t, typ, ctx.traits), copy=False)
    if else_ is not None:
        case = case.else_(safe_cast(else_[0], else_[1], typ, ctx.traits), copy=False)
    return put_column(schema, step.output, case, typ)


def _flag(step: v.FlagStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    cond = compile_condition(step.expr, schema, ctx, f"{kp}.expr")
    return put_column(schema, step.output, is_true(cond), T.BOOLEAN)


def _round(step: v.RoundStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    for name, typ in typed_columns(step.columns, schema, ctx, kp, (T.INTEGER, T.DOUBLE)):
        if typ == T.DOUBLE:
            columns[name] = (round_half_away(col(name), step.decimals, ctx.traits), T.DOUBLE)
    return StepResult(columns)


def _bin(step: v.BinStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    typ = ctx.check_column(step.column, schema, f"{kp}.column")
    if not typ.is_numeric:
        raise ctx.error(f"{kp}.column", f"column {step.column!r} is {typ.value}; expected integer or double")
    x = cast(col(step.column), ctx.traits, T.DOUBLE)
    if step.width is not None:
        width = number(float(step.width), ctx.traits)
        value: exp.Expr = exp.Mul(this=exp.Floor(this=exp.Div(this=x, expression=width)), expression=width.copy())
    else:
        edges = step.edges or []
        case = exp.Case().when(
            exp.LT(this=x.copy(), expression=number(edges[0], ctx.traits)),
            typed_null(ctx.traits, T.DOUBLE),
            copy=False,
        )
        for low, high in itertools.pairwise(edges):
            case = case.when(
                exp.LT(this=x.copy(), expression=number(high, ctx.traits)),
                number(low, ctx.traits),
                copy=False,
            )
        value = case
    return put_column(schema, step.output, value, T.DOUBLE)


_STEPS: dict[str, Callable[..., StepResult]] = {
    "filter": _filter,
    "formula": _formula,
    "rename": _rename,
    "keep": _keep,
    "drop": _drop,
    "cast": _cast,
    "fill_empty": _fill_empty,
    "replace": _replace,
    "trim": trim_step,
    "case": case_step,
    "concat": concat_step,
    "split": split_step,
    "regex_extract": regex_extract_step,
    "date_part": date_part_step,
    "date_diff": date_diff_step,
    "if_then_else": _if_then_else,
    "flag": _flag,
    "round": _round,
    "bin": _bin,
}


# The key of a step that names its new columns (``output`` for the others).
_NAMING_KEY = {"formula": "column", "rename": "columns", "split": "outputs"}


def compile_prepare(recipe: v.PrepareRecipe, source: SqlInput, ctx: Ctx) -> tuple[exp.Query, Schema]:
    rel: Rel = input_rel(source, "_in")
    query: exp.Select = select([col(n) for n in rel.schema], rel)
    schema = dict(rel.schema)
    for i, step in enumerate(recipe.steps):
        if i > 0:
            rel = nest(query, schema, f"_s{i}")
        result = _STEPS[step.op](step, rel.schema, ctx, f"steps[{i}]")
        for name in result.columns:
            if name not in rel.schema:  # PostgreSQL would cut a long name even between steps
                ctx.check_name_length(name, f"steps[{i}].{_NAMING_KEY.get(step.op, 'output')}", what="column")
        projections = [
            e if isinstance(e, exp.Column) and e.name == name else alias(e, name)
            for name, (e, _) in result.columns.items()
        ]
        query = select(projections, rel)
        if result.where is not None:
            query = query.where(result.where, copy=False)
        schema = {name: typ for name, (_, typ) in result.columns.items()}
    return query, schema

"""The prepare steps on texts and on dates and times: trim, case, concat, split, regex_extract, date_part
and date_diff. Each compiles to one column expression over the previous step's columns."""

from __future__ import annotations

import re

from sqlglot import exp

from tideflow.engines.sql.build import Ctx, cast, col
from tideflow.engines.sql.casts import to_text
from tideflow.engines.sql.dialects import DialectTraits
from tideflow.engines.sql.prepare_base import StepResult, put_column, same_columns, typed_columns
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType, Schema

T = ColumnType


def trim_step(step: v.TrimStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    position = {"both": None, "left": "LEADING", "right": "TRAILING"}[step.side]
    for name, _ in typed_columns(step.columns, schema, ctx, kp, (T.STRING,)):
        columns[name] = (
            exp.Trim(this=col(name), expression=exp.Literal.string(" "), position=position),
            T.STRING,
        )
    return StepResult(columns)


def case_step(step: v.CaseStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    columns = same_columns(schema)
    fn = exp.Upper if step.mode == "upper" else exp.Lower
    for name, _ in typed_columns(step.columns, schema, ctx, kp, (T.STRING,)):
        columns[name] = (fn(this=col(name)), T.STRING)
    return StepResult(columns)


def concat_step(step: v.ConcatStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    parts = [to_text(col(n), t, ctx.traits) for n, t in typed_columns(step.columns, schema, ctx, kp)]
    # Portable CONCAT_WS: each non-NULL part prefixed by the separator, then the first separator cut.
    sep = exp.Literal.string(step.separator)
    pieces = [
        exp.Case()
        .when(exp.Is(this=part.copy(), expression=exp.Null()), exp.Literal.string(""), copy=False)
        .else_(exp.DPipe(this=sep.copy(), expression=part), copy=False)
        for part in parts
    ]
    joined: exp.Expr = pieces[0]
    for piece in pieces[1:]:
        joined = exp.DPipe(this=joined, expression=piece)
    value = exp.Substring(this=joined, start=exp.Literal.number(len(step.separator) + 1))
    return put_column(schema, step.output, value, T.STRING)


def split_step(step: v.SplitColumnStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    typ = ctx.check_column(step.column, schema, f"{kp}.column")
    ctx.check_new_names(step.outputs, f"{kp}.outputs")
    columns = same_columns(schema)
    for i, name in enumerate(step.outputs):
        part = exp.SplitPart(
            this=to_text(col(step.column), typ, ctx.traits),
            delimiter=exp.Literal.string(step.separator),
            part_index=exp.Literal.number(i + 1),
        )
        columns[name] = (exp.Nullif(this=part, expression=exp.Literal.string("")), T.STRING)
    return StepResult(columns)


def regex_extract_step(step: v.RegexExtractStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    typ = ctx.check_column(step.column, schema, f"{kp}.column")
    try:
        groups = re.compile(step.pattern).groups
    except re.error as err:
        raise ctx.error(f"{kp}.pattern", f"invalid regular expression {step.pattern!r}: {err}") from None
    if step.group > groups:
        raise ctx.error(f"{kp}.group", f"expected a group between 0 and {groups}, got {step.group}")
    text = to_text(col(step.column), typ, ctx.traits)
    if ctx.traits.regex_extract == "regexp_match_array":
        # Wrap the pattern in one more group so that group 0 exists; sqlglot indexes from 0.
        match = exp.Anonymous(this="REGEXP_MATCH", expressions=[text, exp.Literal.string(f"({step.pattern})")])
        value: exp.Expr = exp.Bracket(this=exp.Paren(this=match), expressions=[exp.Literal.number(step.group)])
    else:
        value = exp.RegexpExtract(
            this=text, expression=exp.Literal.string(step.pattern), group=exp.Literal.number(step.group)
        )
    return put_column(schema, step.output, exp.Nullif(this=value, expression=exp.Literal.string("")), T.STRING)


_PARTS = {
    "year": "YEAR",
    "quarter": "QUARTER",
    "month": "MONTH",
    "week": "WEEK",
    "day": "DAY",
    "dayofweek": "ISODOW",
    "dayofyear": "DOY",
    "hour": "HOUR",
    "minute": "MINUTE",
    "second": "SECOND",
}


def _temporal(name: str, schema: Schema, ctx: Ctx, key_path: str) -> ColumnType:
    typ = ctx.check_column(name, schema, key_path)
    if not typ.is_temporal:
        raise ctx.error(key_path, f"column {name!r} is {typ.value}; expected date or timestamp")
    return typ


def _extract(part: str, value: exp.Expr, traits: DialectTraits) -> exp.Expr:
    """``EXTRACT(part FROM value)``, or ``DATE_PART('part', value)`` where EXTRACT is NUMERIC (see
    ``DialectTraits.date_part_double``)."""
    if traits.date_part_double:
        return exp.Anonymous(this="DATE_PART", expressions=[exp.Literal.string(part.lower()), value])
    return exp.Extract(this=exp.var(part), expression=value)


def date_part_step(step: v.DatePartStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    typ = _temporal(step.column, schema, ctx, f"{kp}.column")
    value: exp.Expr = col(step.column)
    if step.part in ("hour", "minute", "second") and typ == T.DATE:
        value = cast(value, ctx.traits, T.TIMESTAMP)
    extracted = _extract(_PARTS[step.part], value, ctx.traits)
    if step.part == "second":
        extracted = exp.Floor(this=extracted)
    return put_column(schema, step.output, cast(extracted, ctx.traits, T.INTEGER), T.INTEGER)


def _epoch(value: exp.Expr) -> exp.Expr:
    """``EXTRACT(EPOCH FROM value)``: NUMERIC, so exact, on PostgreSQL."""
    return exp.Extract(this=exp.var("EPOCH"), expression=value)


_UNIT_SECONDS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
_TWO_30 = 1 << 30  # seconds (34 years): below it the double epoch of an interval is within 0.3 us


def _interval_micros(interval: exp.Expr, traits: DialectTraits) -> exp.Expr:
    """The whole microseconds of an interval, exactly, as a double (PostgreSQL).

    The NUMERIC epoch (``EXTRACT``) is exact but costs about 0.5 us a row; the double epoch
    (``DATE_PART``) costs a sixth of that and is off by at most about 1 ulp (days * 86400 +
    time / 10^6, two roundings). Below 2^30 seconds an ulp is at most 2^-23 s (0.12 us), so
    epoch * 10^6 is within 0.3 us of the whole number and ``ROUND`` recovers it; longer intervals
    (and NULL) take the NUMERIC epoch.
    """
    epoch = _extract("epoch", interval, traits)
    million = exp.Literal.number(1_000_000)
    fast = exp.Round(this=exp.Mul(this=epoch.copy(), expression=million.copy()))
    exact = cast(exp.Mul(this=_epoch(interval.copy()), expression=million), traits, T.DOUBLE)
    near = exp.LT(this=exp.Abs(this=epoch), expression=exp.Literal.number(_TWO_30))
    return exp.Case(ifs=[exp.If(this=near, true=fast)], default=exact)


def date_diff_step(step: v.DateDiffStep, schema: Schema, ctx: Ctx, kp: str) -> StepResult:
    _temporal(step.start, schema, ctx, f"{kp}.start")
    _temporal(step.end, schema, ctx, f"{kp}.end")

    def ts(name: str) -> exp.Expr:
        return cast(col(name), ctx.traits, T.TIMESTAMP)

    def micros(value: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this="EPOCH_US", expressions=[value])

    million = exp.Literal.number(1_000_000)
    style = ctx.traits.seconds_between
    if style == "epoch_us":  # BIGINT microseconds
        elapsed_us: exp.Expr = exp.Sub(this=micros(ts(step.end)), expression=micros(ts(step.start)))
    elif style == "interval_epoch":
        elapsed_us = _interval_micros(exp.paren(exp.Sub(this=ts(step.end), expression=ts(step.start)), copy=False),
                                      ctx.traits)
    else:
        elapsed_us = exp.Mul(this=exp.paren(exp.Sub(this=_epoch(ts(step.end)), expression=_epoch(ts(step.start)))),
                             expression=million)
    # Exact microseconds (below 2^53: 285 years) as a double, one division: the memory engine's value.
    value = exp.Div(this=cast(elapsed_us, ctx.traits, T.DOUBLE),
                    expression=exp.Literal.number(_UNIT_SECONDS[step.unit] * 1_000_000))
    return put_column(schema, step.output, value, T.DOUBLE)

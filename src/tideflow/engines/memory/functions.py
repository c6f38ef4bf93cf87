"""The function nodes of the expression allow-list: numeric, string and date functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from sqlglot import exp

from tideflow.engines.memory import rowwise as rw
from tideflow.engines.memory.casting import cast_expr
from tideflow.recipes.types import ColumnType

if TYPE_CHECKING:
    from tideflow.engines.memory.expressions import _Translator

T = ColumnType


def _overflow_to_null(result: pl.Expr, *arguments: pl.Expr) -> pl.Expr:
    """A result that is not finite although every argument is (beyond the largest double) becomes NULL;
    an infinite or NaN argument keeps IEEE 754's result (``EXP(inf)`` is inf, ``EXP(NaN)`` NaN)."""
    finite = pl.all_horizontal([a.is_finite() for a in arguments])
    return pl.when(finite & ~result.is_finite()).then(None).otherwise(result)


def _round_decimals(tr: _Translator, node: exp.Expression | None) -> int:
    if node is None:
        return 0
    if isinstance(node, exp.Paren):
        return _round_decimals(tr, node.this)
    if isinstance(node, exp.Neg):
        return -_round_decimals(tr, node.this)
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    raise tr.fail(f"ROUND takes an integer literal for its decimals, got {node.sql()!r}")


def divide(num: pl.Expr, den: pl.Expr | float) -> pl.Expr:
    """``num / den`` on doubles, correctly rounded, as the SQL engines divide.

    Polars divides a column by a constant through a multiplication by its reciprocal, which can be
    1 ulp off: 0.3 / 0.1 came out as 3.0, not 2.9999999999999996, so ``bin`` put 0.3 in a different
    bin than DuckDB and PostgreSQL, and a two-century ``date_diff`` in hours differed in its last
    digit. A divisor that depends on the row (``num * 0 + den``) makes Polars divide row by row;
    a non-finite numerator (where ``num * 0`` is NaN) keeps the plain division, exact for it.
    """
    divisor = den if isinstance(den, pl.Expr) else pl.lit(float(den), dtype=pl.Float64)
    return pl.when(num.is_finite()).then(num / (num * 0.0 + divisor)).otherwise(num / divisor)


def round_half_away(expr: pl.Expr, typ: ColumnType | None, decimals: int) -> pl.Expr:
    """ROUND half away from zero; integers stay integers (a negative ``decimals`` rounds to tens...)."""
    if typ == T.INTEGER:
        if decimals >= 0:
            return expr
        step = 10 ** (-decimals)
        return expr.sign() * ((expr.abs() + step // 2) // step) * step
    if decimals >= 0:
        return expr.round(decimals, mode="half_away_from_zero")
    step_f = float(10 ** (-decimals))
    return divide(expr, step_f).round(0, mode="half_away_from_zero") * step_f


def _power(base: pl.Expr, power: pl.Expr) -> pl.Expr:
    """POWER: NULL for zero to a negative power and a negative base to a fractional power (even an infinite
    one), NULL beyond the largest double from finite arguments, 0.0 (never -0.0) below the smallest one
    (``POWER(-0.5, 1075)``); otherwise IEEE 754's ``pow``: ``POWER(inf, 0)`` and ``POWER(NaN, 0)`` are
    1.0, ``POWER(2, -inf)`` 0.0, ``POWER(-inf, 3)`` -inf, a NaN argument otherwise NaN."""
    undefined = ((base == 0) & (power < 0)) | ((base < 0) & (power != power.floor()))
    result = _overflow_to_null(base.pow(power), base, power)
    tiny = (result == 0) & (base != 0) & base.is_finite() & power.is_finite()
    return pl.when(undefined).then(None).when(tiny).then(0.0).otherwise(result)


def translate_function(tr: _Translator, node: exp.Expression) -> pl.Expr:
    typ = tr.type_of(node)
    if isinstance(node, exp.Abs | exp.Sign | exp.Floor | exp.Ceil | exp.Round):
        inner_type = tr.type_of(node.this)
        number_type = inner_type if inner_type in (T.INTEGER, T.DOUBLE) else T.DOUBLE
        value = tr.typed(node.this, number_type)
        if isinstance(node, exp.Abs):
            return value.abs()
        if isinstance(node, exp.Sign):
            return value.sign()
        if isinstance(node, exp.Round):
            return round_half_away(value, number_type, _round_decimals(tr, node.args.get("decimals")))
        if number_type == T.INTEGER:
            return value
        return value.floor() if isinstance(node, exp.Floor) else value.ceil()
    if isinstance(node, exp.Sqrt):
        value = tr.typed(node.this, T.DOUBLE)
        return pl.when(value < 0).then(None).otherwise(value.sqrt())
    if isinstance(node, exp.Ln):
        value = tr.typed(node.this, T.DOUBLE)
        return pl.when(value <= 0).then(None).otherwise(value.log())
    if isinstance(node, exp.Exp):
        value = tr.typed(node.this, T.DOUBLE)
        return _overflow_to_null(value.exp(), value)
    if isinstance(node, exp.Pow):
        return _power(tr.typed(node.this, T.DOUBLE), tr.typed(node.expression, T.DOUBLE))
    if isinstance(node, exp.DPipe):
        return pl.concat_str([tr.text_of(node.this), tr.text_of(node.expression)], ignore_nulls=False)
    if isinstance(node, exp.Concat):
        return pl.concat_str([tr.text_of(a) for a in node.expressions], ignore_nulls=True)
    if isinstance(node, exp.Upper):
        return tr.text_of(node.this).str.to_uppercase()
    if isinstance(node, exp.Lower):
        return tr.text_of(node.this).str.to_lowercase()
    if isinstance(node, exp.Length):
        return tr.text_of(node.this).str.len_chars().cast(pl.Int64)
    if isinstance(node, exp.Trim):
        return _trim(tr, node)
    if isinstance(node, exp.Substring):
        length = node.args.get("length")
        args = [tr.text_of(node.this), tr.int_arg(node.args["start"])]
        if length is None:
            return rw.rowwise(rw.substring, args, pl.String())
        return rw.rowwise(lambda v, s, n: rw.substring(v, s, n, has_length=True),
                          [*args, tr.int_arg(length)], pl.String())
    if isinstance(node, exp.Replace):
        new = node.args.get("replacement")
        new_expr = tr.text_of(new) if new is not None else pl.lit("", dtype=pl.String)
        return rw.rowwise(rw.replace, [tr.text_of(node.this), tr.text_of(node.expression), new_expr],
                          pl.String())
    if isinstance(node, exp.StrPosition):
        if node.args.get("position") is not None or node.args.get("occurrence") is not None:
            raise tr.fail("STRPOS takes exactly two arguments: the string and the text to find")
        return rw.rowwise(rw.strpos, [tr.text_of(node.this), tr.text_of(node.args["substr"])], pl.Int64())
    if isinstance(node, exp.Left | exp.Right):
        fn = rw.left if isinstance(node, exp.Left) else rw.right
        return rw.rowwise(fn, [tr.text_of(node.this), tr.int_arg(node.expression)], pl.String())
    if isinstance(node, exp.Year | exp.Month | exp.Day):
        inner_type = tr.type_of(node.this)
        value = tr.expr(node.this)
        if inner_type not in (T.DATE, T.TIMESTAMP):
            value = cast_expr(value, inner_type, T.TIMESTAMP)
        if isinstance(node, exp.Year):
            part = value.dt.year()
        else:
            part = value.dt.month() if isinstance(node, exp.Month) else value.dt.day()
        return part.cast(pl.Int64)
    raise tr.fail(f"the in-memory engine cannot evaluate {node.sql()!r} ({type(node).__name__}, typed {typ})")


def _trim(tr: _Translator, node: exp.Trim) -> pl.Expr:
    position = str(node.args.get("position") or "BOTH").upper()
    side = {"LEADING": "left", "TRAILING": "right"}.get(position, "both")
    chars_node = node.args.get("expression")
    value = tr.text_of(node.this)
    if chars_node is None:
        chars = " "
    elif isinstance(chars_node, exp.Literal) and chars_node.is_string:
        chars = str(chars_node.this)
    else:
        return rw.rowwise(lambda v, c: rw.trim(v, c, side), [value, tr.text_of(chars_node)], pl.String())
    if chars == "":
        return value
    if side == "left":
        return value.str.strip_chars_start(chars)
    if side == "right":
        return value.str.strip_chars_end(chars)
    return value.str.strip_chars(chars)

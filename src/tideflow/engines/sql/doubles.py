"""Doubles in SQL: the non-finite values (NaN, +inf, -inf) and POWER with Tideflow's rules.

Both databases compare doubles alike: NaN equals NaN and is greater than every other double, +inf
included, so ``ABS(x) < 'Infinity'`` is false exactly for the non-finite values (and NULL for NULL).
"""

from __future__ import annotations

from sqlglot import exp

from tideflow.engines.sql.build import cast, typed_null
from tideflow.engines.sql.dialects import DialectTraits
from tideflow.recipes.types import ColumnType

T = ColumnType

# exp(x) overflows a double above this (POWER too: its result is exp(power * ln|base|)) ...
EXP_LIMIT = "709.782712893384"
# ... and rounds to 0.0 below this (ln 2^-1075), where PostgreSQL's POWER raises "underflow".
UNDERFLOW_LIMIT = "-745.1332191019412"


def _n(value: int | str) -> exp.Expr:
    return exp.Literal.number(value)


def special(name: str, traits: DialectTraits) -> exp.Expr:
    """The double ``NaN``, ``Infinity`` or ``-Infinity``."""
    return cast(exp.Literal.string(name), traits, T.DOUBLE)


def finite(value: exp.Expr, traits: DialectTraits) -> exp.Expr:
    """True for a finite double, false for an infinity or NaN."""
    return exp.LT(this=exp.Abs(this=value.copy()), expression=special("Infinity", traits))


def power_of(base: exp.Expr, power: exp.Expr, traits: DialectTraits) -> exp.Expr:
    """POWER of two doubles: NULL for zero to a negative power and a negative base to a fractional one,
    NULL beyond the largest double and 0.0 below the smallest from finite arguments (PostgreSQL
    would raise), else the database's POWER (IEEE 754 for infinite and NaN arguments)."""
    zero_to_negative = exp.and_(
        exp.EQ(this=base.copy(), expression=_n(0)),
        exp.LT(this=power.copy(), expression=_n(0)),
        copy=False,
    )
    negative_to_fraction = exp.and_(
        exp.LT(this=base.copy(), expression=_n(0)),
        exp.NEQ(this=power.copy(), expression=exp.Floor(this=power.copy())),
        copy=False,
    )
    undefined = exp.or_(zero_to_negative, negative_to_fraction, copy=False)
    # log(|result|) = power * ln(|base|), with the power clamped so that the product stays finite
    # (|ln| <= 745 for a double, and beyond 1e300 the answer is the same); no ln(0).
    clamped = exp.Greatest(this=exp.Least(this=power.copy(), expressions=[_n("1e300")]), expressions=[_n("-1e300")])
    log_size = exp.Mul(
        this=cast(clamped, traits, T.DOUBLE),
        expression=exp.Ln(this=exp.Nullif(this=exp.Abs(this=base.copy()), expression=_n(0))),
    )
    # Only finite arguments overflow or underflow; an infinite or NaN one gets IEEE 754's pow, which
    # both databases compute (POWER(inf, 0) = POWER(NaN, 0) = 1.0, POWER(0.5, inf) = 0.0).
    both_finite = exp.and_(finite(base, traits), finite(power, traits), copy=False)
    overflow = exp.and_(both_finite, exp.GTE(this=log_size, expression=_n(EXP_LIMIT)), copy=False)
    underflow = exp.and_(both_finite.copy(), exp.LTE(this=log_size.copy(), expression=_n(UNDERFLOW_LIMIT)),
                         copy=False)
    return (
        exp.Case()
        .when(undefined, typed_null(traits, T.DOUBLE), copy=False)
        .when(overflow, typed_null(traits, T.DOUBLE), copy=False)
        .when(underflow, cast(_n("0.0"), traits, T.DOUBLE), copy=False)
        .else_(exp.Pow(this=base, expression=power), copy=False)
    )

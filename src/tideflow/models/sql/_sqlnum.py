"""Literals and small SQL helpers shared by the model compiler."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlglot import exp

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql.plan import Feature


def num(value: float) -> exp.Expression:
    """A float64 constant, exact in both dialects: ``CAST('<repr>' AS DOUBLE)``.

    A bare ``0.1`` is DECIMAL in DuckDB and NUMERIC in PostgreSQL; the string is parsed with
    correct rounding by both and folded to a constant when the query is planned.
    """
    value = float(value)
    if value != value:
        raise ValueError("NaN has no SQL literal here")
    text = repr(value) if np.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    return exp.Cast(this=exp.Literal.string(text), to=exp.DataType(this=exp.DataType.Type.DOUBLE))


def num32(value: float) -> exp.Expression:
    """A float32 constant (REAL)."""
    text = repr(float(np.float32(value)))
    return exp.Cast(this=exp.Literal.string(text), to=exp.DataType(this=exp.DataType.Type.FLOAT))


def to_double(e: exp.Expression) -> exp.Expression:
    return exp.Cast(this=e, to=exp.DataType(this=exp.DataType.Type.DOUBLE))


def to_real(e: exp.Expression) -> exp.Expression:
    return exp.Cast(this=e, to=exp.DataType(this=exp.DataType.Type.FLOAT))


def literal(value: Any) -> exp.Expression:
    """A category or class label as a literal of its own type (strings are escaped by sqlglot)."""
    if value is None:
        return exp.null()
    if isinstance(value, bool | np.bool_):
        return exp.Boolean(this=bool(value))
    if isinstance(value, int | np.integer):
        return exp.Literal.number(int(value))
    if isinstance(value, float | np.floating):
        return num(float(value))
    return exp.Literal.string(str(value))


def column(name: str) -> exp.Expression:
    return exp.column(name, quoted=True)


def paren(e: exp.Expression) -> exp.Expression:
    if isinstance(e, exp.Column | exp.Cast | exp.Paren | exp.Case | exp.Func | exp.Literal):
        return e
    return exp.Paren(this=e)


def value_sql(feature: Feature) -> exp.Expression:
    """The (numeric or categorical) value of a feature before any one-hot test; NULL when missing."""
    e: exp.Expression = column(feature.column)
    for op in feature.ops:
        name = op[0]
        if name == "fill":
            e = exp.Coalesce(this=e, expressions=[literal(op[1]) if feature.is_indicator else num(op[1])])
        elif name == "sub":
            e = exp.Sub(this=paren(e), expression=num(op[1]))
        elif name == "div":
            e = exp.Div(this=paren(e), expression=num(op[1]))
        elif name == "mul":
            e = exp.Mul(this=paren(e), expression=num(op[1]))
        elif name == "add":
            e = exp.Add(this=paren(e), expression=num(op[1]))
        elif name == "clip":  # NaN stays NaN in numpy.clip; NULL stays NULL here
            lo, hi = num(op[1]), num(op[2])
            e = exp.Case(
                ifs=[exp.If(this=exp.LT(this=paren(e), expression=lo), true=lo.copy()),
                     exp.If(this=exp.GT(this=paren(e.copy()), expression=hi), true=hi.copy())],
                default=e.copy(),
            )
        else:  # pragma: no cover - plans only hold the ops above
            raise UnsupportedPushdown("feature", f"unknown op {name!r}")
    return e


def is_category_sql(feature: Feature) -> exp.Expression:
    """TRUE when the feature's input equals its category; never TRUE for a missing input."""
    assert feature.category is not None
    cat = feature.category[0]
    fills = [op[1] for op in feature.ops if op[0] == "fill"]
    col = column(feature.column)
    if cat is None:
        return exp.false() if fills else exp.Is(this=col, expression=exp.null())
    eq = exp.EQ(this=col, expression=literal(cat))
    if fills and fills[0] == cat and type(fills[0]) is type(cat):
        return exp.Paren(this=exp.or_(eq, exp.Is(this=col.copy(), expression=exp.null())))
    return eq


def feature_sql(feature: Feature) -> exp.Expression:
    """The value the model sees for one feature (NULL when missing and not imputed)."""
    if feature.category is not None:
        return exp.Case(ifs=[exp.If(this=is_category_sql(feature), true=num(1.0))], default=num(0.0))
    return value_sql(feature)

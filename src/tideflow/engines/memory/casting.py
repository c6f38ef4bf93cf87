"""The cast rules of the oracle: every conversion between logical types, NULL when it does not convert.

Rules (documented in the engine's report and pinned by tests):

* integer -> double exact; double -> integer rounds half away from zero; NaN, infinities and values
  outside the 64-bit range give NULL.
* boolean -> integer/double: true 1, false 0. integer/double -> boolean: 0 is false, any other
  number true (NaN too: NaN <> 0).
* string -> integer: surrounding spaces trimmed, then ``[+-]?[0-9]+`` within the 64-bit range.
* string -> double: surrounding spaces trimmed, then ``[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?``
  (no ``inf``/``nan``; any number of exponent digits), read as the nearest double: a text beyond the
  largest double (``1e400``) gives NULL, one below the smallest subnormal (``1e-400``) 0.0, subnormals
  are kept.
* string -> boolean: surrounding spaces trimmed, in any letter case: ``TRUE_TEXTS``
  (true t 1 yes y) give true, ``FALSE_TEXTS`` (false f 0 no n) false.
* string -> date: trimmed ``YYYY-MM-DD`` that is a real calendar date.
* string -> timestamp: trimmed ``YYYY-MM-DD``, optionally followed by ``T`` or a space and
  ``HH:MM``, optionally ``:SS`` and then an optional fraction of 1 to 6 digits.
* date -> timestamp: midnight; timestamp -> date: the date part.
* anything -> string: integers in decimal, doubles in the shortest text that reads back as the same
  double, as Python's ``repr`` and DuckDB print them (``1.0``, ``0.1``, ``1e-05``, ``1e+16``, ``nan``,
  ``-inf``, ``-0.0``), booleans ``true``/``false``, dates ``YYYY-MM-DD``, timestamps
  ``YYYY-MM-DD HH:MM:SS`` followed by ``.`` and the fraction without trailing zeros when non-zero.
* every other conversion (temporal <-> numeric or boolean) gives NULL.
"""

from __future__ import annotations

import math

import polars as pl

from tideflow.engines.memory.dtypes import CANONICAL
from tideflow.recipes.types import FALSE_TEXTS, TRUE_TEXTS, ColumnType, scalar_type, value_text

T = ColumnType

_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TS_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?$"
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def typed_null(target: ColumnType, like: pl.Expr | None = None) -> pl.Expr:
    """A NULL of ``target``; with ``like``, one per row of ``like``."""
    null = pl.lit(None, dtype=CANONICAL[target])
    if like is None:
        return null
    return pl.when(like.is_null() & like.is_not_null()).then(null).otherwise(null)


def cast_expr(expr: pl.Expr, source: ColumnType | None, target: ColumnType) -> pl.Expr:
    """``expr`` (of logical type ``source``; None for an untyped NULL) converted to ``target``."""
    if source is None:
        return expr.cast(CANONICAL[target], strict=False)
    if source == target:
        return expr
    if target == T.STRING:
        return to_text(expr, source)
    if source == T.STRING:
        return _from_text(expr, target)
    if target == T.DOUBLE:
        if source in (T.INTEGER, T.BOOLEAN):
            return expr.cast(pl.Float64)
        return typed_null(target, expr)
    if target == T.INTEGER:
        if source == T.BOOLEAN:
            return expr.cast(pl.Int64)
        if source == T.DOUBLE:
            return double_to_integer(expr)
        return typed_null(target, expr)
    if target == T.BOOLEAN:
        if source.is_numeric:
            return expr != 0  # NaN is not 0: true, as NaN <> 0 is
        return typed_null(target, expr)
    if target == T.TIMESTAMP and source == T.DATE:
        return expr.cast(pl.Datetime("us"))
    if target == T.DATE and source == T.TIMESTAMP:
        return expr.dt.date()
    return typed_null(target, expr)


def double_to_integer(expr: pl.Expr) -> pl.Expr:
    """Round half away from zero, NULL outside the 64-bit range (and for NaN, infinities)."""
    rounded = expr.round(0, mode="half_away_from_zero")
    ok = rounded.is_finite() & (rounded >= float(_INT64_MIN)) & (rounded < float(2**63))
    return pl.when(ok).then(rounded).otherwise(None).cast(pl.Int64, strict=False)


def to_text(expr: pl.Expr, source: ColumnType | None) -> pl.Expr:
    """The text of a value by the rules above (NULL stays NULL)."""
    if source is None or source == T.STRING:
        return expr.cast(pl.String)
    if source == T.TIMESTAMP:
        text = expr.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        return text.str.replace(r"0+$", "").str.replace(r"\.$", "")
    if source == T.DATE:
        return expr.dt.strftime("%Y-%m-%d")
    if source == T.BOOLEAN:
        return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false")).otherwise(None)
    if source == T.DOUBLE:
        return expr.map_batches(_doubles_text, return_dtype=pl.String, is_elementwise=True)
    return expr.cast(pl.String)


def double_text(value: float) -> str:
    """The text of one double: Python's ``repr`` (shortest round trip), which DuckDB prints too."""
    return repr(float(value))


def _doubles_text(batch: pl.Series) -> pl.Series:
    return pl.Series([None if x is None else double_text(x) for x in batch.to_list()], dtype=pl.String)


def _from_text(expr: pl.Expr, target: ColumnType) -> pl.Expr:
    text = expr.str.strip_chars(" ")
    if target == T.INTEGER:
        return pl.when(text.str.contains(_INT_RE)).then(text).otherwise(None).cast(pl.Int64, strict=False)
    if target == T.DOUBLE:
        parsed = pl.when(text.str.contains(_FLOAT_RE)).then(text).otherwise(None).cast(pl.Float64, strict=False)
        # The pattern has no inf: an infinity is a text beyond the largest double, which is NULL.
        return pl.when(parsed.is_infinite()).then(None).otherwise(parsed)
    if target == T.BOOLEAN:
        lower = text.str.to_lowercase()
        return (pl.when(lower.is_in(list(TRUE_TEXTS))).then(True).when(lower.is_in(list(FALSE_TEXTS))).then(False)
                .otherwise(None))
    if target == T.DATE:
        valid = pl.when(text.str.contains(_DATE_RE)).then(text).otherwise(None)
        return valid.str.to_date("%Y-%m-%d", strict=False)
    if target == T.TIMESTAMP:
        valid = pl.when(text.str.contains(_TS_RE)).then(text.str.replace("T", " ", literal=True))
        full = valid.otherwise(None)
        return pl.coalesce(
            full.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False),
            full.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", strict=False),
            full.str.to_datetime("%Y-%m-%d %H:%M", time_unit="us", strict=False),
            full.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
        )
    raise AssertionError(f"unreachable cast target {target}")  # pragma: no cover


def cast_value(value: object, target: ColumnType) -> object:
    """A Python scalar converted to ``target`` by the same rules (None when it does not convert)."""
    source = python_type(value)
    frame = pl.select(cast_expr(literal(value), source, target).alias("v"))
    return frame["v"][0]


def convert_value(value: object, target: ColumnType) -> object:
    """A value written in a recipe (a rule's value, a fill or replace value) as a value of ``target``.

    Raises ValueError when it does not convert exactly: texts are read by the cast rules above; a
    number with a fraction is no integer; a boolean is no number; a number is a boolean only as the
    text ``1`` or ``0``; a number is written as text as an integer or as ``double_text`` writes it.
    None stays None.
    """
    if value is None:
        return None
    if target == T.STRING:
        return value_text(value)
    if isinstance(value, bool):
        if target == T.BOOLEAN:
            return value
        raise ValueError(f"{value!r} is not {target.with_article}")
    if target in (T.INTEGER, T.DOUBLE) and isinstance(value, int | float):
        if target == T.INTEGER and isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value!r} is not an integer")
            value = int(value)
        converted: object = float(value) if target == T.DOUBLE else value
    elif target in (T.DATE, T.TIMESTAMP) and not isinstance(value, str):
        converted = cast_value(value, target) if python_type(value) in (T.DATE, T.TIMESTAMP) else None
        if target == T.DATE and python_type(value) == T.TIMESTAMP:
            converted = None
    else:
        converted = cast_value(value if isinstance(value, str) else str(value), target)
    if converted is None or (isinstance(converted, float) and not math.isfinite(converted)):
        raise ValueError(f"{value!r} is not {target.with_article}")
    if isinstance(converted, int) and not isinstance(converted, bool) and not _INT64_MIN <= converted <= _INT64_MAX:
        raise ValueError(f"{value!r} is outside the 64-bit integer range")
    return converted


def python_type(value: object) -> ColumnType | None:
    """``scalar_type``, with any other non-None value read as text."""
    if value is None:
        return None
    return scalar_type(value) or T.STRING


def literal(value: object) -> pl.Expr:
    """A typed literal for a Python scalar (NULL is untyped)."""
    source = python_type(value)
    if source is None:
        return pl.lit(None)
    if source == T.INTEGER and not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
        return pl.lit(float(value), dtype=pl.Float64)  # type: ignore[arg-type]
    return pl.lit(value, dtype=CANONICAL[source])

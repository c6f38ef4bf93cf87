"""Tideflow's safe casts as SQL: a value that does not convert gives NULL, never a run-time error.

Strings are checked against the formats below (after removing leading/trailing spaces) before
any SQL cast runs, so every engine accepts exactly the same texts:

* integer: ``^[+-]?[0-9]+$`` and within the 64-bit range;
* double: ``^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$`` (any number of exponent digits),
  read as the nearest double: a text beyond the largest double (``1e400``) gives NULL, a text too small
  for the smallest subnormal double (``1e-400``) gives 0.0 (``-1e-400``: -0.0), subnormals (``1e-310``)
  are kept;
* boolean (case-insensitive): true/t/1/yes/y and false/f/0/no/n;
* date: ``YYYY-MM-DD`` naming a real calendar day, year >= 1;
* timestamp: a date, optionally followed by `` `` or ``T`` and ``HH:MM[:SS[.ffffff]]`` (hour <= 23,
  minute and second <= 59).

Doubles cast to integer round half away from zero (NULL outside the 64-bit range or NaN);
booleans cast to numbers give 1/0, numbers to booleans give ``x <> 0``; temporal <-> numeric or
boolean casts give NULL.
"""

from __future__ import annotations

from sqlglot import exp

from tideflow.engines.sql.build import cast, typed_null
from tideflow.engines.sql.dialects import DialectTraits, sql_type
from tideflow.recipes.types import FALSE_TEXTS, TRUE_TEXTS, ColumnType

T = ColumnType

INTEGER_RE = r"^[+-]?[0-9]+$"
DOUBLE_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# Exponents without their leading zeros; one of 5 digits or more is out of range either way.
_EXPONENT_ZEROS = r"([eE][+-]?)0+([0-9])"
_BIG_EXPONENT = r"[eE][+-]?[0-9]{5,}$"
_TINY_OR_ZERO = r"(^[+-]?[0.]*[eE])|([eE]-)"  # a zero mantissa, or a negative exponent
# 2^1024 - 2^970: this and beyond round to infinity; 2^-1075 and below round to 0.0.
_DOUBLE_OVERFLOW = str(2**1024 - 2**970)
_DOUBLE_UNDERFLOW = "2.4703282292062327208828439643411068618252990130716238221279284125033775e-324"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?$"

_INT64_MIN = "-9223372036854775808"
_INT64_MAX = "9223372036854775807"
_TWO_63 = "9223372036854775808.0"


def _s(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _n(value: int | str) -> exp.Expr:
    return exp.Literal.number(value)


def _case(*pairs: tuple[exp.Expr, exp.Expr], default: exp.Expr | None = None) -> exp.Case:
    case = exp.Case()
    for cond, value in pairs:
        case = case.when(cond, value, copy=False)
    if default is not None:
        case = case.else_(default, copy=False)
    return case


def trim_spaces(expression: exp.Expr) -> exp.Expr:
    return exp.Trim(this=expression, expression=_s(" "))


def matches(expression: exp.Expr, pattern: str) -> exp.Expr:
    return exp.RegexpLike(this=expression, expression=_s(pattern))


def _int_part(text: exp.Expr, start: int, length: int, traits: DialectTraits) -> exp.Expr:
    part = exp.Nullif(this=exp.Substring(this=text.copy(), start=_n(start), length=_n(length)), expression=_s(""))
    return cast(part, traits, T.INTEGER)


def _valid_day(text: exp.Expr, traits: DialectTraits) -> exp.Expr:
    year, month, day = (
        _int_part(text, 1, 4, traits),
        _int_part(text, 6, 2, traits),
        _int_part(text, 9, 2, traits),
    )
    leap = exp.Or(
        this=exp.And(
            this=exp.EQ(this=exp.Mod(this=year.copy(), expression=_n(4)), expression=_n(0)),
            expression=exp.NEQ(this=exp.Mod(this=year.copy(), expression=_n(100)), expression=_n(0)),
        ),
        expression=exp.EQ(this=exp.Mod(this=year.copy(), expression=_n(400)), expression=_n(0)),
    )
    days = _case(
        (exp.EQ(this=month.copy(), expression=_n(2)), _case((exp.Paren(this=leap), _n(29)), default=_n(28))),
        (exp.In(this=month.copy(), expressions=[_n(4), _n(6), _n(9), _n(11)]), _n(30)),
        default=_n(31),
    )
    return exp.and_(
        exp.GTE(this=year, expression=_n(1)),
        exp.Between(this=month, low=_n(1), high=_n(12)),
        exp.Between(this=day, low=_n(1), high=days),
        copy=False,
    )


def _valid_time(text: exp.Expr, traits: DialectTraits) -> exp.Expr:
    checks = []
    for start, limit in ((12, 23), (15, 59), (18, 59)):
        part = exp.Coalesce(this=_int_part(text, start, 2, traits), expressions=[_n(0)])
        checks.append(exp.LTE(this=part, expression=_n(limit)))
    return exp.and_(*checks, copy=False)


def _from_string(value: exp.Expr, dst: ColumnType, traits: DialectTraits) -> exp.Expr:
    text = trim_spaces(value)
    if dst == T.BOOLEAN:
        lowered = exp.Lower(this=text)
        return _case(
            (exp.In(this=lowered, expressions=[_s(v) for v in TRUE_TEXTS]), exp.Boolean(this=True)),
            (exp.In(this=lowered.copy(), expressions=[_s(v) for v in FALSE_TEXTS]), exp.Boolean(this=False)),
        )
    if dst == T.INTEGER:
        if traits.has_try_cast:
            inner: exp.Expr = exp.TryCast(this=text.copy(), to=sql_type(traits, T.INTEGER))
        else:
            as_numeric = exp.Cast(this=text.copy(), to=exp.DataType.build("DECIMAL"))
            inner = _case(
                (
                    exp.Between(this=as_numeric, low=_n(_INT64_MIN), high=_n(_INT64_MAX)),
                    cast(text.copy(), traits, T.INTEGER),
                )
            )
        return _case((matches(text, INTEGER_RE), inner))
    if dst == T.DOUBLE:
        if traits.has_try_cast:
            parsed = exp.TryCast(this=text.copy(), to=sql_type(traits, T.DOUBLE))
            infinity = cast(_s("Infinity"), traits, T.DOUBLE)
            inner = _case((exp.LT(this=exp.Abs(this=parsed), expression=infinity), parsed.copy()))
        else:
            # The exact value (NUMERIC) decides; only then the cast, which would raise out of range.
            plain = exp.RegexpReplace(this=text.copy(), expression=_s(_EXPONENT_ZEROS), replacement=_s("\\1\\2"))
            magnitude = exp.Abs(this=exp.Cast(this=plain.copy(), to=exp.DataType.build("DECIMAL")))
            # Too small for a double: zero with the text's sign, as DuckDB and the memory engine read it.
            zero = _case((matches(plain.copy(), r"^-"), cast(_s("-0"), traits, T.DOUBLE)),
                         default=cast(_n("0.0"), traits, T.DOUBLE))
            inner = _case(
                (matches(plain.copy(), _BIG_EXPONENT),
                 _case((matches(plain.copy(), _TINY_OR_ZERO), zero.copy()))),
                (exp.LTE(this=magnitude, expression=_n(_DOUBLE_UNDERFLOW)), zero),
                (exp.LT(this=magnitude.copy(), expression=_n(_DOUBLE_OVERFLOW)), cast(plain, traits, T.DOUBLE)),
            )
        return _case((matches(text, DOUBLE_RE), inner))
    if dst == T.DATE:
        return _case((matches(text, DATE_RE), _case((_valid_day(text, traits), cast(text.copy(), traits, T.DATE)))))
    if dst == T.TIMESTAMP:
        spaced = exp.Replace(this=text.copy(), expression=_s("T"), replacement=_s(" "))
        valid = exp.and_(_valid_day(text, traits), _valid_time(text, traits), copy=False)
        return _case((matches(text, TIMESTAMP_RE), _case((valid, cast(spaced, traits, T.TIMESTAMP)))))
    return value


def _double_to_integer(value: exp.Expr, traits: DialectTraits) -> exp.Expr:
    in_range = exp.and_(
        exp.GTE(this=value.copy(), expression=exp.Neg(this=_n(_TWO_63))),
        exp.LT(this=value.copy(), expression=_n(_TWO_63)),
        copy=False,
    )
    return _case((in_range, cast(round_half_away(value, 0, traits), traits, T.INTEGER)))


# Doubles at least this large have no fractional part: rounding them to decimals changes nothing.
_TWO_52 = "4503599627370496.0"
_BELOW_HALF = exp.cast(exp.Literal.string("0.49999999999999994"), "DOUBLE")  # 0.5 - 2^-54


def round_half_away(value: exp.Expr, places: int, traits: DialectTraits) -> exp.Expr:
    """ROUND of a double to ``places`` decimals (negative: tens, hundreds...), half away from zero, as a double.

    The value is scaled by 10^places as a double, rounded to a whole number, and scaled back: the
    memory engine's rule (Polars). 0.285 is 0.28499999999999998 in binary and rounds to 0.28;
    16.5 * 1.17 scales to exactly 1930.5 and rounds to 19.31. DuckDB's own ROUND(x, 2) rounds the
    unscaled binary value (19.30); PostgreSQL's ROUND of a NUMERIC rounds 15 significant digits.
    """
    if isinstance(value, exp.Binary):  # ROUND("v" - 1, 1) scales ("v" - 1) * 10, not "v" - 1 * 10
        value = exp.Paren(this=value)
    if places == 0:
        return _half_away(value.copy(), traits)
    scale = _n(str(10 ** abs(places)))
    if places < 0:
        return exp.Mul(this=_half_away(exp.Div(this=value.copy(), expression=scale), traits), expression=scale.copy())
    scaled = exp.Div(this=_half_away(exp.Mul(this=value.copy(), expression=scale), traits), expression=scale.copy())
    small = exp.LT(this=exp.Abs(this=value.copy()), expression=_n(_TWO_52))  # NULL and NaN: not small
    return _case((small, scaled), default=value.copy())


def _half_away(value: exp.Expr, traits: DialectTraits) -> exp.Expr:
    """A double rounded to a whole number, half away from zero."""
    if not traits.round_via_numeric:
        return exp.Round(this=value)
    # PostgreSQL's ROUND of a double is half to even and its NUMERIC cast keeps 15 digits. Add the
    # largest double below one half (0.5 - 2^-54) away from zero and truncate: the one rounding of
    # that sum reaches the next whole number exactly when the remainder is at least a half (at 0.5
    # the sum 1 - 2^-54 is a tie that rounds to the even 1.0; at 0.5 - 2^-54 it is 1 - 2^-53,
    # exact; from 2^52 up the value is whole and the sum rounds back to it). The value appears
    # twice, not four times: PostgreSQL evaluates an expression once per reference.
    nudged = exp.Add(this=value.copy(), expression=exp.Mul(this=exp.Sign(this=value), expression=_BELOW_HALF.copy()))
    return exp.Anonymous(this="TRUNC", expressions=[nudged])


def to_text(value: exp.Expr, src: ColumnType | None, traits: DialectTraits) -> exp.Expr:
    """The text form of a value (what concat, split keys and string casts see)."""
    if src == T.STRING:
        return value
    if src == T.DOUBLE and not traits.round_via_numeric:
        # Every NaN is 'nan': DuckDB prints a NaN with its sign bit set (inf - inf) as '-nan'.
        nan = exp.EQ(this=value.copy(), expression=cast(_s("NaN"), traits, T.DOUBLE))
        return _case((nan, _s("nan")), default=cast(value, traits, T.STRING))
    if src == T.DOUBLE and traits.round_via_numeric:
        # PostgreSQL prints an integral double as '3'; every other engine prints '3.0' (and -0.0 as '-0.0').
        integral = exp.and_(
            exp.EQ(this=value.copy(), expression=exp.Anonymous(this="TRUNC", expressions=[value.copy()])),
            exp.LT(this=exp.Abs(this=value.copy()), expression=_n("1e16")),
            copy=False,
        )
        as_int = cast(cast(value.copy(), traits, T.INTEGER), traits, T.STRING)
        specials = [
            (exp.EQ(this=value.copy(), expression=cast(_s(pg), traits, T.DOUBLE)), _s(text))
            for pg, text in (("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"))
        ]
        # Zero keeps its sign: PostgreSQL prints -0.0 as '-0' (through BIGINT it would lose the sign).
        zero = (exp.EQ(this=value.copy(), expression=_n(0)),
                exp.DPipe(this=cast(value.copy(), traits, T.STRING), expression=_s(".0")))
        return _case(
            *specials, zero, (integral, exp.DPipe(this=as_int, expression=_s(".0"))),
            default=cast(value, traits, T.STRING),
        )
    return cast(value, traits, T.STRING)


def safe_cast(value: exp.Expr, src: ColumnType | None, dst: ColumnType, traits: DialectTraits) -> exp.Expr:
    """``value`` of logical type ``src`` converted to ``dst`` with NULL for what does not convert."""
    if src == dst:
        return value
    if src is None:
        return typed_null(traits, dst) if isinstance(value, exp.Null) else cast(value, traits, dst)
    if dst == T.STRING:
        return to_text(value, src, traits)
    if src == T.STRING:
        return _from_string(value, dst, traits)
    if src == T.INTEGER and dst == T.DOUBLE:
        return cast(value, traits, dst)
    if src == T.DOUBLE and dst == T.INTEGER:
        return _double_to_integer(value, traits)
    if src.is_numeric and dst == T.BOOLEAN:
        return exp.NEQ(this=value, expression=_n(0))
    if src == T.BOOLEAN and dst.is_numeric:
        # Through INT: PostgreSQL casts a boolean to INT only. One cast evaluates the flag once, where a
        # CASE WHEN b THEN 1 WHEN NOT b THEN 0 would compute b twice once the database inlines it.
        return cast(exp.Cast(this=value, to=exp.DataType.build("INT")), traits, dst)
    if src.is_temporal and dst.is_temporal:
        return cast(value, traits, dst)
    return typed_null(traits, dst)

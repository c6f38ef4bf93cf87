"""Recipe expressions (checked sqlglot trees) translated node by node into Polars expressions.

SQL semantics throughout: three-valued logic (Polars' Kleene AND/OR/NOT match SQL), comparisons with
NULL give NULL, ``/`` is double division, ``x / 0`` and ``x % 0`` give NULL, ``%`` takes the sign of
the dividend, casts follow ``casting`` (NULL when a value does not convert), ROUND is half away from
zero, string functions count characters and are 1-based.

Implicit conversions (defined here): in a comparison, IN, BETWEEN, CASE x WHEN, NULLIF, a string
operand facing a non-string operand is cast to the other operand's type; a date facing a timestamp
becomes a timestamp; a boolean facing a number becomes that number. Functions of the
``STRING_FUNCTIONS`` group read non-string arguments as their text. Arithmetic casts both operands to
the inferred result type. SQRT of a negative number (-inf too), LN of a number <= 0, POWER of zero to a
negative power or of a negative base to a fractional one are NULL, so are results of POWER and EXP
beyond the largest double from finite arguments (one too small for a double is 0.0).

Doubles that are not finite (docs/recipes.md): NaN equals NaN and is greater than every other double,
+inf included (Polars' comparisons already order so; GREATEST and LEAST follow it); arithmetic and
functions otherwise follow IEEE 754 (``inf - inf`` NaN, ``SQRT(inf)`` inf, ``POWER(inf, 0)`` 1.0,
``SIGN(NaN)`` NaN), and a finite number modulo an infinity is that number.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import polars as pl
from sqlglot import exp

from tideflow.engines.memory import rowwise as rw
from tideflow.engines.memory.casting import cast_expr, literal, to_text
from tideflow.engines.memory.dtypes import CANONICAL
from tideflow.engines.memory.functions import divide
from tideflow.errors import ExpressionError
from tideflow.recipes.expressions import CAST_TYPES, infer_type, parse_checked
from tideflow.recipes.types import ColumnType

T = ColumnType
Typed = tuple[pl.Expr, ColumnType | None]


def compile_expression(
    text: str, schema: Mapping[str, ColumnType], *, where: str | None = None
) -> Typed:
    """``text`` as a Polars expression over a frame of ``schema``, with its logical type.

    The result is already cast to the canonical dtype of its type (an untyped NULL stays untyped).
    """
    tree, typ = parse_checked(text, schema, where=where)
    translator = _Translator(schema, text, where)
    expr = translator.typed(tree, typ)
    return expr, typ


def compile_condition(text: str, schema: Mapping[str, ColumnType], *, where: str | None = None) -> pl.Expr:
    """A boolean expression where NULL already counts as false."""
    expr, typ = compile_expression(text, schema, where=where)
    if typ not in (T.BOOLEAN, None):
        raise ExpressionError(f"expected a boolean condition, got {typ.with_article} expression", expression=text,
                              where=where)
    return expr.cast(pl.Boolean).fill_null(False)


def coerce_pair(left: Typed, right: Typed) -> tuple[pl.Expr, pl.Expr]:
    """The implicit conversions of a comparison (see the module docstring)."""
    (le, lt), (re_, rt) = left, right
    if lt is None or rt is None or lt == rt:
        return le, re_
    if lt.is_numeric and rt.is_numeric:
        return le, re_
    if lt == T.STRING:
        return cast_expr(le, lt, rt), re_
    if rt == T.STRING:
        return le, cast_expr(re_, rt, lt)
    if {lt, rt} == {T.DATE, T.TIMESTAMP}:
        return cast_expr(le, lt, T.TIMESTAMP), cast_expr(re_, rt, T.TIMESTAMP)
    if lt == T.BOOLEAN and rt.is_numeric:
        return cast_expr(le, lt, rt), re_
    if rt == T.BOOLEAN and lt.is_numeric:
        return le, cast_expr(re_, rt, lt)
    raise ExpressionError(f"cannot compare a value of type {lt} with a value of type {rt}")


_COMPARE = {
    exp.EQ: lambda a, b: a == b, exp.NEQ: lambda a, b: a != b, exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b, exp.LT: lambda a, b: a < b, exp.LTE: lambda a, b: a <= b,
}


def _extreme(args: list[pl.Expr], *, greatest: bool) -> pl.Expr:
    """GREATEST/LEAST ignoring NULLs, by the order of comparisons: NaN is greater than every other
    double (Polars' max_horizontal skips NaN, where the databases return it)."""
    result = args[0]
    for arg in args[1:]:
        wins = arg > result if greatest else arg < result
        result = pl.when(result.is_null() | wins.fill_null(False)).then(arg).otherwise(result)
    return result


class _Translator:
    def __init__(self, schema: Mapping[str, ColumnType], text: str, where: str | None) -> None:
        self.schema = schema
        self.text = text
        self.where = where

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, expression=self.text, where=self.where)

    def type_of(self, node: exp.Expression) -> ColumnType | None:
        return infer_type(node, self.schema)

    def typed(self, node: exp.Expression, target: ColumnType | None) -> pl.Expr:
        """``node`` translated and cast to ``target`` (no cast when ``target`` is None)."""
        if target is None:
            return self.expr(node)
        return cast_expr(self.expr(node), self.type_of(node), target).cast(CANONICAL[target], strict=False)

    def pair(self, node: exp.Expression) -> Typed:
        return self.expr(node), self.type_of(node)

    def text_of(self, node: exp.Expression) -> pl.Expr:
        return to_text(self.expr(node), self.type_of(node))

    def int_arg(self, node: exp.Expression) -> pl.Expr:
        return self.typed(node, T.INTEGER)

    def expr(self, node: exp.Expression) -> pl.Expr:
        try:
            return self._expr(node)
        except ExpressionError as err:
            if err.expression is None:
                raise self.fail(str(err)) from None
            raise

    def _expr(self, node: exp.Expression) -> pl.Expr:
        if isinstance(node, exp.Column):
            return pl.col(node.name)
        if isinstance(node, exp.Paren):
            return self.expr(node.this)
        if isinstance(node, exp.Null):
            return pl.lit(None)
        if isinstance(node, exp.Boolean):
            return pl.lit(bool(node.this), dtype=pl.Boolean)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return pl.lit(str(node.this), dtype=pl.String)
            return literal(int(node.this)) if node.is_int else pl.lit(float(node.this), dtype=pl.Float64)
        if isinstance(node, exp.Neg):
            if self.type_of(node.this) is None:  # -NULL is NULL
                return pl.lit(None)
            return -self.expr(node.this)
        if isinstance(node, exp.Add | exp.Sub | exp.Mul):
            return self.arithmetic(node)
        if isinstance(node, exp.Div):
            num, den = self.typed(node.this, T.DOUBLE), self.typed(node.expression, T.DOUBLE)
            return pl.when(den == 0).then(None).otherwise(divide(num, den))
        if isinstance(node, exp.Mod):
            mod_type = self.type_of(node) or T.INTEGER
            a, b = self.typed(node.this, mod_type), self.typed(node.expression, mod_type)
            remainder = (a.abs() % b.abs()) * a.sign()
            if mod_type == T.DOUBLE:
                # a - b * trunc(a / b), each operation rounded once, as the SQL engines compute it (Polars'
                # float % gave 0.0 for 3 % 0.1 where DuckDB's fmod gave 0.09999999999999984); a finite
                # dividend modulo an infinity is the dividend.
                quotient = divide(a, b)
                whole = pl.when(quotient >= 0).then(quotient.floor()).otherwise(quotient.ceil())
                remainder = pl.when(a.is_finite() & b.is_infinite()).then(a).otherwise(a - b * whole) + 0.0
            return pl.when(b == 0).then(None).otherwise(remainder)
        if isinstance(node, tuple(_COMPARE)):
            a, b = coerce_pair(self.pair(node.this), self.pair(node.expression))
            return _COMPARE[type(node)](a, b)  # type: ignore[index]
        if isinstance(node, exp.Is):
            return self.is_(node)
        if isinstance(node, exp.In):
            subject = self.pair(node.this)
            tests = [self.equal(subject, self.pair(item)) for item in node.expressions]
            return functools.reduce(lambda a, b: a | b, tests)
        if isinstance(node, exp.Between):
            subject = self.pair(node.this)
            lo_a, lo_b = coerce_pair(subject, self.pair(node.args["low"]))
            hi_a, hi_b = coerce_pair(subject, self.pair(node.args["high"]))
            return (lo_a >= lo_b) & (hi_a <= hi_b)
        if isinstance(node, exp.Like | exp.ILike):
            return self.like(node)
        if isinstance(node, exp.And | exp.Or):
            a, b = self.typed(node.this, T.BOOLEAN), self.typed(node.expression, T.BOOLEAN)
            return a & b if isinstance(node, exp.And) else a | b
        if isinstance(node, exp.Not):
            return ~self.typed(node.this, T.BOOLEAN)
        if isinstance(node, exp.Case | exp.If):
            return self.case(node)
        if isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
            args = [self.typed(a, self.type_of(node)) for a in [node.this, *node.expressions]]
            if isinstance(node, exp.Coalesce):
                return pl.coalesce(args)
            return _extreme(args, greatest=isinstance(node, exp.Greatest))
        if isinstance(node, exp.Nullif):
            a, b = coerce_pair(self.pair(node.this), self.pair(node.expression))
            return pl.when(a == b).then(None).otherwise(self.expr(node.this))
        if isinstance(node, exp.Cast | exp.TryCast):
            return cast_expr(self.expr(node.this), self.type_of(node.this), CAST_TYPES[node.args["to"].this])
        return self.function(node)

    def arithmetic(self, node: exp.Expression) -> pl.Expr:
        typ = self.type_of(node)
        a, b = self.typed(node.this, typ), self.typed(node.expression, typ)
        if isinstance(node, exp.Add):
            return a + b
        return a - b if isinstance(node, exp.Sub) else a * b

    def equal(self, a: Typed, b: Typed) -> pl.Expr:
        x, y = coerce_pair(a, b)
        return x == y

    def is_(self, node: exp.Is) -> pl.Expr:
        subject, target = self.expr(node.this), node.expression
        if isinstance(target, exp.Null):
            return subject.is_null()
        if isinstance(target, exp.Boolean):
            value = self.typed(node.this, T.BOOLEAN)
            return (value == pl.lit(bool(target.this))).fill_null(False)
        raise self.fail(f"IS must be followed by NULL, TRUE or FALSE, got {target.sql()!r}")

    def like(self, node: exp.Like | exp.ILike) -> pl.Expr:
        insensitive = isinstance(node, exp.ILike)
        subject = self.text_of(node.this)
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            try:
                regex = rw.like_regex(str(pattern.this), insensitive).pattern
            except ValueError as err:
                raise self.fail(str(err)) from None
            flags = "(?s" + ("i" if insensitive else "") + ")"
            result = subject.str.contains(f"{flags}^(?:{regex})$")
        else:
            result = rw.rowwise(lambda v, p: rw.like(v, p, insensitive), [subject, self.text_of(pattern)],
                                pl.Boolean())
        return ~result if node.args.get("negate") else result

    def case(self, node: exp.Case | exp.If) -> pl.Expr:
        typ = self.type_of(node)
        if isinstance(node, exp.If):
            branches: list[tuple[pl.Expr, exp.Expression]] = [
                (self.typed(node.this, T.BOOLEAN), node.args["true"])]
            default = node.args.get("false")
        else:
            subject = node.this
            branches = []
            for branch in node.args.get("ifs") or []:
                if subject is not None:
                    cond = self.equal(self.pair(subject), self.pair(branch.this))
                else:
                    cond = self.typed(branch.this, T.BOOLEAN)
                branches.append((cond, branch.args["true"]))
            default = node.args.get("default")
        chain: Any = None
        for cond, value in branches:
            chain = pl.when(cond) if chain is None else chain.when(cond)
            chain = chain.then(self.typed(value, typ))
        otherwise = self.typed(default, typ) if default is not None else pl.lit(None)
        result: pl.Expr = chain.otherwise(otherwise)
        return result.cast(CANONICAL[typ]) if typ is not None else result

    def function(self, node: exp.Expression) -> pl.Expr:
        from tideflow.engines.memory.functions import translate_function

        return translate_function(self, node)

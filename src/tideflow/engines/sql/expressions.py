"""Recipe expressions rewritten into SQL with Tideflow's semantics on every dialect.

The user's expression is parsed and checked by ``tideflow.recipes.expressions``; this module
rebuilds the tree node by node: columns become quoted identifiers, ``/`` is double division with
NULL for a zero divisor, ``%`` by zero is NULL, casts are safe casts, ROUND is half away from zero,
string ordering uses the binary collation, domain errors of sqrt/ln/exp/power give NULL, and so
does a result of exp/power beyond the largest double from finite arguments (one too small for a
double is 0.0). Infinite and NaN arguments get IEEE 754's results (SIGN(NaN) is NaN, a finite number
modulo an infinity is that number), with NaN equal to itself and greater than +inf, as both
databases compare doubles.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping

from sqlglot import exp

from tideflow.engines.sql.build import Ctx, binary, cast, col, typed_null
from tideflow.engines.sql.casts import round_half_away, safe_cast, to_text
from tideflow.engines.sql.doubles import EXP_LIMIT, UNDERFLOW_LIMIT, finite, power_of, special
from tideflow.errors import ExpressionError
from tideflow.recipes.expressions import CAST_TYPES, infer_type, parse_checked
from tideflow.recipes.operand_types import is_text_literal
from tideflow.recipes.types import ColumnType

T = ColumnType
Resolver = Callable[[str], exp.Expr]



def compile_expression(
    text: str,
    schema: Mapping[str, ColumnType],
    ctx: Ctx,
    key_path: str,
    *,
    resolve: Resolver | None = None,
) -> tuple[exp.Expr, ColumnType | None]:
    """Parse, check and rewrite ``text``; returns the SQL tree and its logical type."""
    where = f"{ctx.where} at {key_path}"
    tree, typ = parse_checked(text, schema, where=where)
    rewriter = _Rewriter(schema, ctx, resolve or (lambda name: col(name)), text, where)
    return rewriter.rewrite(tree), typ


def compile_condition(
    text: str,
    schema: Mapping[str, ColumnType],
    ctx: Ctx,
    key_path: str,
) -> exp.Expr:
    """A boolean expression (a NULL result is left to the caller to treat as false)."""
    tree, typ = compile_expression(text, schema, ctx, key_path)
    if typ not in (T.BOOLEAN, None):
        raise ExpressionError(
            f"expected a condition (boolean), got {typ.with_article}",
            expression=text,
            where=f"{ctx.where} at {key_path}",
        )
    return tree


def _n(value: int | str) -> exp.Expr:
    return exp.Literal.number(value)


def _int4(value: exp.Expr) -> exp.Expr:
    """A position/count argument: PostgreSQL's substring/left/right/round take INTEGER, not BIGINT."""
    if isinstance(value, exp.Literal):
        return value
    return exp.Cast(this=value, to=exp.DataType.build("INT"))


class _Rewriter:
    def __init__(self, schema: Mapping[str, ColumnType], ctx: Ctx, resolve: Resolver, text: str, where: str) -> None:
        self.schema = schema
        self.traits = ctx.traits
        self.resolve = resolve
        self.text = text
        self.where = where

    def type_of(self, node: exp.Expr | None) -> ColumnType | None:
        return None if node is None else infer_type(typing.cast(exp.Expression, node), self.schema)

    def double(self, node: exp.Expr) -> exp.Expr:
        """The rewritten ``node`` as a double."""
        rewritten = self.rewrite(node)
        if self.type_of(node) == T.DOUBLE:
            return rewritten
        return cast(rewritten, self.traits, T.DOUBLE)

    def text_of(self, node: exp.Expr) -> exp.Expr:
        return to_text(self.rewrite(node), self.type_of(node), self.traits)

    def generic(self, node: exp.Expr) -> exp.Expr:
        args: dict[str, object] = {}
        for key, value in node.args.items():
            if isinstance(value, exp.Expr):
                args[key] = self.rewrite(value)
            elif isinstance(value, list):
                args[key] = [self.rewrite(v) if isinstance(v, exp.Expr) else v for v in value]
            else:
                args[key] = value
        return type(node)(**args)

    def rewrite(self, node: exp.Expr) -> exp.Expr:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            return handler(self, node)
        return self.generic(node)

    # ------------------------------------------------------------ leaves

    def column(self, node: exp.Expr) -> exp.Expr:
        return self.resolve(node.name)

    def literal(self, node: exp.Expr) -> exp.Expr:
        if node.is_string or node.is_int:
            return node.copy()
        return cast(node.copy(), self.traits, T.DOUBLE)

    # ------------------------------------------------------------ arithmetic

    def div(self, node: exp.Expr) -> exp.Expr:
        divisor = exp.Nullif(this=self.double(node.expression), expression=_n(0))
        return exp.Div(this=self.double(node.this), expression=divisor)

    def mod(self, node: exp.Expr) -> exp.Expr:
        left, right = self.type_of(node.this), self.type_of(node.expression)
        if left in (T.INTEGER, None) and right in (T.INTEGER, None):
            divisor = exp.Nullif(this=self.rewrite(node.expression), expression=_n(0))
            return exp.Mod(this=self.rewrite(node.this), expression=divisor)
        # a - b * trunc(a / b) on every dialect, each operation rounded once: the same double everywhere
        # (DuckDB's fmod is exact, so 3 % 0.1 differed from the formula in its last bits).
        a, b = self.double(node.this), exp.Nullif(this=self.double(node.expression), expression=_n(0))
        quotient = exp.Anonymous(this="TRUNC", expressions=[exp.Div(this=a.copy(), expression=b.copy())])
        remainder = exp.Paren(this=exp.Sub(this=a.copy(), expression=exp.Mul(this=b.copy(), expression=quotient)))
        # A finite dividend modulo an infinity is the dividend (the formula gives inf * 0, NaN).
        infinite_divisor = exp.and_(self.finite(a), exp.EQ(this=exp.Abs(this=b), expression=self.special("Infinity")),
                                    copy=False)
        return exp.Case().when(infinite_divisor, a, copy=False).else_(remainder, copy=False)

    def round(self, node: exp.Expr) -> exp.Expr:
        places = self.round_places(node.args.get("decimals"))
        if self.type_of(node.this) == T.INTEGER:
            if places >= 0:
                return self.rewrite(node.this)
            return cast(round_half_away(self.double(node.this), places, self.traits), self.traits, T.INTEGER)
        return round_half_away(self.double(node.this), places, self.traits)

    def round_places(self, node: exp.Expr | None) -> int:
        """ROUND's decimals: an integer literal, as the memory engine requires."""
        if node is None:
            return 0
        if isinstance(node, exp.Paren):
            return self.round_places(node.this)
        if isinstance(node, exp.Neg):
            return -self.round_places(node.this)
        if isinstance(node, exp.Literal) and node.is_int:
            return int(node.this)
        raise ExpressionError(f"ROUND takes an integer literal for its decimals, got {node.sql()!r}",
                              expression=self.text, where=self.where)

    def floor_ceil(self, node: exp.Expr) -> exp.Expr:
        if self.type_of(node.this) == T.INTEGER:
            return self.rewrite(node.this)
        return type(node)(this=self.double(node.this))

    def sign(self, node: exp.Expr) -> exp.Expr:
        value = self.rewrite(node.this)
        if self.type_of(node.this) == T.INTEGER:
            return cast(exp.Sign(this=value), self.traits, T.INTEGER)
        # SIGN(NaN) is NaN (DuckDB and PostgreSQL give 0).
        return exp.Case().when(exp.EQ(this=value.copy(), expression=self.special("NaN")), value.copy(),
                               copy=False).else_(exp.Sign(this=value), copy=False)

    def special(self, name: str) -> exp.Expr:
        return special(name, self.traits)

    def finite(self, value: exp.Expr) -> exp.Expr:
        return finite(value, self.traits)

    def guarded(self, node: exp.Expr) -> exp.Expr:
        """sqrt/ln/exp: NULL outside the domain or beyond the largest double, EXP too small for a double
        0.0 (PostgreSQL would raise)."""
        value = self.double(node.this)
        if isinstance(node, exp.Sqrt):
            ok: exp.Expr = exp.GTE(this=value.copy(), expression=_n(0))
        elif isinstance(node, exp.Ln):
            ok = exp.GT(this=value.copy(), expression=_n(0))
        else:
            # Below ln 2^-1075 the result rounds to 0.0, where PostgreSQL's EXP raises "underflow".
            tiny = exp.LTE(this=value.copy(), expression=_n(UNDERFLOW_LIMIT))
            # EXP(inf) is inf and EXP(NaN) NaN: only a finite argument can overflow.
            ok = exp.or_(exp.LTE(this=value.copy(), expression=_n(EXP_LIMIT)), exp.Not(this=self.finite(value)),
                         copy=False)
            return (exp.Case().when(tiny, self.double_literal(_n("0.0")), copy=False)
                    .when(ok, exp.Exp(this=value), copy=False))
        return exp.Case().when(ok, type(node)(this=value), copy=False)

    def power(self, node: exp.Expr) -> exp.Expr:
        return power_of(self.double(node.this), self.double(node.expression), self.traits)

    def double_literal(self, value: exp.Expr) -> exp.Expr:
        return cast(value, self.traits, T.DOUBLE)

    # ------------------------------------------------------------ comparisons

    def operand(self, node: exp.Expr, other: ColumnType | None) -> exp.Expr:
        """``node`` rewritten to face a value of type ``other``: a text literal facing another type is
        cast to it (``check_expression`` made sure it reads as one on every engine)."""
        rewritten = self.rewrite(node)
        if other not in (None, T.STRING) and is_text_literal(typing.cast(exp.Expression, node)):
            return cast(rewritten, self.traits, typing.cast(ColumnType, other))
        return rewritten

    def faces_other_types(self, node: exp.Expr, others: list[exp.Expr]) -> bool:
        """A text literal compared with values that are not text: one comparison per value."""
        return is_text_literal(typing.cast(exp.Expression, node)) and any(
            self.type_of(o) not in (None, T.STRING) for o in others)

    def comparison(self, node: exp.Expr) -> exp.Expr:
        lt, rt = self.type_of(node.this), self.type_of(node.expression)
        left, right = self.operand(node.this, rt), self.operand(node.expression, lt)
        if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE) and (lt or rt) == T.STRING == (rt or lt):
            left = binary(left, T.STRING, self.traits)
        return type(node)(this=left, expression=right)

    def in_(self, node: exp.Expr) -> exp.Expr:
        if self.faces_other_types(node.this, node.expressions):
            tests = [self.comparison(exp.EQ(this=node.this.copy(), expression=item.copy()))
                     for item in node.expressions]
            result = tests[0]
            for test in tests[1:]:
                result = exp.Or(this=result, expression=test)
            return exp.Paren(this=result)
        subject = self.type_of(node.this)
        return exp.In(this=self.rewrite(node.this), expressions=[self.operand(i, subject) for i in node.expressions])

    def between(self, node: exp.Expr) -> exp.Expr:
        low, high = node.args["low"], node.args["high"]
        if self.faces_other_types(node.this, [low, high]):
            return exp.Paren(this=exp.And(
                this=self.comparison(exp.GTE(this=node.this.copy(), expression=low.copy())),
                expression=self.comparison(exp.LTE(this=node.this.copy(), expression=high.copy())),
            ))
        typ = self.type_of(node.this)
        return exp.Between(
            this=binary(self.rewrite(node.this), typ, self.traits),
            low=self.operand(low, typ),
            high=self.operand(high, typ),
        )

    def nullif(self, node: exp.Expr) -> exp.Expr:
        if self.faces_other_types(node.this, [node.expression]):
            equal = self.comparison(exp.EQ(this=node.this.copy(), expression=node.expression.copy()))
            return exp.Case().when(equal, typed_null(self.traits, T.STRING), copy=False).else_(
                self.rewrite(node.this), copy=False)
        return exp.Nullif(this=self.rewrite(node.this),
                          expression=self.operand(node.expression, self.type_of(node.this)))

    def like(self, node: exp.Expr) -> exp.Expr:
        # Backslash escapes % and _ on every engine (DuckDB has no default escape character).
        return exp.Escape(
            this=type(node)(this=self.text_of(node.this), expression=self.text_of(node.expression)),
            expression=exp.Literal.string("\\"),
        )

    def extreme(self, node: exp.Expr) -> exp.Expr:
        args = [node.this, *node.expressions]
        typ = next((t for t in map(self.type_of, args) if t is not None), None)
        rewritten = [self.rewrite(a) for a in args]
        # NULL arguments are ignored (NULL only when all are NULL) on every engine.
        return type(node)(this=binary(rewritten[0], typ, self.traits), expressions=rewritten[1:], ignore_nulls=True)

    # ------------------------------------------------------------ conditionals and casts

    def case(self, node: exp.Expr) -> exp.Expr:
        # The WHEN branches of a CASE are If nodes: rewrite their parts, keep them as branches.
        result = self.type_of(node)
        operand = node.this
        branches = node.args.get("ifs") or []
        if operand is not None and self.faces_other_types(operand, [b.this for b in branches]):
            # CASE 'x' WHEN "n" ...: a searched CASE, one comparison per branch.
            conditions = [self.comparison(exp.EQ(this=operand.copy(), expression=b.this.copy())) for b in branches]
            operand = None
        else:
            facing = self.type_of(operand) if operand is not None else None
            conditions = [self.operand(b.this, facing) for b in branches]
        ifs = [
            exp.If(this=condition, true=self.branch(branch.args["true"], result))
            for condition, branch in zip(conditions, branches, strict=True)
        ]
        default = node.args.get("default")
        return exp.Case(
            this=self.rewrite(operand) if operand is not None else None,
            ifs=ifs,
            default=self.branch(default, result) if default is not None else None,
        )

    def branch(self, node: exp.Expr, result: ColumnType | None) -> exp.Expr:
        """One result of a CASE/IF converted to the type of the whole (PostgreSQL needs one type)."""
        typ = self.type_of(node)
        if typ is None or result is None or typ == result:
            return self.rewrite(node)
        return safe_cast(self.rewrite(node), typ, result, self.traits)

    def if_(self, node: exp.Expr) -> exp.Expr:
        result = self.type_of(node)
        case = exp.Case().when(self.rewrite(node.this), self.branch(node.args["true"], result), copy=False)
        false = node.args.get("false")
        return case.else_(self.branch(false, result), copy=False) if false is not None else case

    def cast(self, node: exp.Expr) -> exp.Expr:
        target = CAST_TYPES[node.args["to"].this]
        return safe_cast(self.rewrite(node.this), self.type_of(node.this), target, self.traits)

    # ------------------------------------------------------------ strings and dates

    def dpipe(self, node: exp.Expr) -> exp.Expr:
        return exp.DPipe(this=self.text_of(node.this), expression=self.text_of(node.expression))

    def concat(self, node: exp.Expr) -> exp.Expr:
        parts = [exp.Coalesce(this=self.text_of(a), expressions=[exp.Literal.string("")]) for a in node.expressions]
        result: exp.Expr = parts[0]
        for part in parts[1:]:
            result = exp.DPipe(this=result, expression=part)
        return exp.Paren(this=result)

    def string_fn(self, node: exp.Expr) -> exp.Expr:
        """Functions of text: every argument that is text is read as text (a number as its text)."""
        new = self.generic(node)
        for key in ("this", "expression", "replacement", "substr"):
            if node.args.get(key) is not None:
                new.set(key, self.text_of(node.args[key]))
        return new

    def left_right(self, node: exp.Expr) -> exp.Expr:
        return type(node)(this=self.text_of(node.this), expression=_int4(self.rewrite(node.expression)))

    def trim(self, node: exp.Expr) -> exp.Expr:
        chars = node.args.get("expression")
        return exp.Trim(
            this=self.text_of(node.this),
            expression=self.text_of(chars) if chars is not None else exp.Literal.string(" "),
            position=node.args.get("position"),
        )

    def integer_fn(self, node: exp.Expr) -> exp.Expr:
        return cast(self.string_fn(node), self.traits, T.INTEGER)

    def substring(self, node: exp.Expr) -> exp.Expr:
        # SQL-standard positions on every engine: characters [start, start + length) within 1..n.
        text = self.text_of(node.this)
        start = _int4(self.rewrite(node.args["start"]))
        clamped = (
            exp.Case()
            .when(exp.LT(this=start.copy(), expression=_n(1)), _n(1), copy=False)
            .else_(start.copy(), copy=False)
        )
        length = node.args.get("length")
        if length is None:
            return exp.Substring(this=text, start=clamped)
        remaining = exp.Sub(
            this=exp.Add(this=start.copy(), expression=_int4(self.rewrite(length))), expression=clamped.copy()
        )
        clamped_length = (
            exp.Case()
            .when(exp.LT(this=remaining.copy(), expression=_n(0)), _n(0), copy=False)
            .else_(remaining, copy=False)
        )
        return exp.Substring(this=text, start=clamped, length=clamped_length)

    def date_fn(self, node: exp.Expr) -> exp.Expr:
        value, typ = self.rewrite(node.this), self.type_of(node.this)
        if typ == T.STRING:
            value = safe_cast(value, typ, T.TIMESTAMP, self.traits)
        unit = {exp.Year: "YEAR", exp.Month: "MONTH", exp.Day: "DAY"}[type(node)]  # type: ignore[index]
        return cast(exp.Extract(this=exp.var(unit), expression=value), self.traits, T.INTEGER)


_HANDLERS: dict[type[exp.Expr], Callable[[_Rewriter, exp.Expr], exp.Expr]] = {
    exp.Column: _Rewriter.column,
    exp.Literal: _Rewriter.literal,
    exp.Div: _Rewriter.div,
    exp.Mod: _Rewriter.mod,
    exp.Round: _Rewriter.round,
    exp.Floor: _Rewriter.floor_ceil,
    exp.Ceil: _Rewriter.floor_ceil,
    exp.Sign: _Rewriter.sign,
    exp.Sqrt: _Rewriter.guarded,
    exp.Ln: _Rewriter.guarded,
    exp.Exp: _Rewriter.guarded,
    exp.Pow: _Rewriter.power,
    exp.EQ: _Rewriter.comparison,
    exp.NEQ: _Rewriter.comparison,
    exp.GT: _Rewriter.comparison,
    exp.GTE: _Rewriter.comparison,
    exp.LT: _Rewriter.comparison,
    exp.LTE: _Rewriter.comparison,
    exp.In: _Rewriter.in_,
    exp.Between: _Rewriter.between,
    exp.Nullif: _Rewriter.nullif,
    exp.Like: _Rewriter.like,
    exp.ILike: _Rewriter.like,
    exp.Greatest: _Rewriter.extreme,
    exp.Least: _Rewriter.extreme,
    exp.If: _Rewriter.if_,
    exp.Case: _Rewriter.case,
    exp.Cast: _Rewriter.cast,
    exp.TryCast: _Rewriter.cast,
    exp.DPipe: _Rewriter.dpipe,
    exp.Concat: _Rewriter.concat,
    exp.Upper: _Rewriter.string_fn,
    exp.Lower: _Rewriter.string_fn,
    exp.Replace: _Rewriter.string_fn,
    exp.Left: _Rewriter.left_right,
    exp.Right: _Rewriter.left_right,
    exp.Trim: _Rewriter.trim,
    exp.Length: _Rewriter.integer_fn,
    exp.StrPosition: _Rewriter.integer_fn,
    exp.Substring: _Rewriter.substring,
    exp.Year: _Rewriter.date_fn,
    exp.Month: _Rewriter.date_fn,
    exp.Day: _Rewriter.date_fn,
}

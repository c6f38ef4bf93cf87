"""Operand types of recipe expressions: the mixes of types every engine converts the same way.

``check_expression`` (``tideflow.recipes.expressions``) runs ``check_operand_types`` after the
allow-list and the column checks; anything else is an ``ExpressionError`` that names the cast that
makes it work.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

from sqlglot import exp

from tideflow.errors import ExpressionError
from tideflow.recipes.expressions import function_name, infer_type
from tideflow.recipes.types import ColumnType, common_type

# ---------------------------------------------------------------- operand types
#
# Every engine must give the same answer, so an expression may only mix types where all of them
# convert the same way (DuckDB converts more than PostgreSQL, the memory engine converts most):
#
# * a comparison (=, <>, <, <=, >, >=, IN, BETWEEN, CASE x WHEN, NULLIF) takes two numbers (integer
#   and double mix), a date and a timestamp, or two values of one type; a text LITERAL may face
#   another type when it is written as a value of that type: an integer (``'5'``, spaces around it
#   allowed), a double (``'1.5'``, ``'1e3'``, finite), ``'true'``/``'false'``, a date ``'YYYY-MM-DD'``,
#   a timestamp ``'YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]'`` (``T`` may separate the date and the time);
# * AND, OR, NOT, IS TRUE/FALSE and the conditions of IF and CASE WHEN take booleans;
# * + - * / % and the numeric functions take numbers; YEAR, MONTH, DAY take a date, a timestamp or a
#   text; the counts and positions of LEFT, RIGHT and SUBSTRING take numbers;
# * COALESCE, GREATEST and LEAST take values of one type (integer and double, date and timestamp mix).
#
# NULL goes anywhere. Anything else is an ``ExpressionError`` that says which cast makes it work.

SQL_TYPE_NAMES: dict[ColumnType, str] = {
    ColumnType.BOOLEAN: "BOOLEAN", ColumnType.INTEGER: "BIGINT", ColumnType.DOUBLE: "DOUBLE",
    ColumnType.STRING: "VARCHAR", ColumnType.DATE: "DATE", ColumnType.TIMESTAMP: "TIMESTAMP",
}
_INT_TEXT = re.compile(r" *[+-]?[0-9]+ *")
_DOUBLE_TEXT = re.compile(r" *[+-]?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE][+-]?[0-9]+)? *")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")
_TEXT_FORMS = {
    ColumnType.BOOLEAN: "true or false",
    ColumnType.DATE: "'YYYY-MM-DD'",
    ColumnType.TIMESTAMP: "'YYYY-MM-DD HH:MM:SS'",
}


def text_as(text: str, typ: ColumnType) -> bool:
    """Whether the text literal ``text`` reads as a value of ``typ`` the same way on every engine."""
    if typ == ColumnType.STRING:
        return True
    if typ == ColumnType.INTEGER:
        return _INT_TEXT.fullmatch(text) is not None and -(2**63) <= int(text) < 2**63
    if typ == ColumnType.DOUBLE:
        match = _DOUBLE_TEXT.fullmatch(text)
        if match is None:
            return False
        value = float(text)
        digits = "".join(part or "" for part in match.groups())
        # Out of range: infinite, or a non-zero mantissa that underflows to 0 (PostgreSQL refuses both).
        return math.isfinite(value) and (value != 0.0 or not digits.strip("0"))
    if typ == ColumnType.BOOLEAN:
        return text.lower() in ("true", "false")
    if typ == ColumnType.DATE:
        parts = _DATE_TEXT.fullmatch(text)
        return parts is not None and _valid(parts.groups())
    if typ == ColumnType.TIMESTAMP:
        parts = _TIMESTAMP_TEXT.fullmatch(text)
        return parts is not None and _valid(parts.groups())
    return False


def _valid(groups: tuple[str | None, ...]) -> bool:
    numbers = [int(g) if g is not None else 0 for g in groups[:6]]
    try:
        dt.datetime(*numbers)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def is_text_literal(node: exp.Expression | None) -> bool:
    return node is not None and isinstance(_unparen(node), exp.Literal) and _unparen(node).is_string


def describe(node: exp.Expression, typ: ColumnType | None) -> str:
    """An operand in words, for messages: ``integer column "n"``, ``the text 'x'``, ``integer 1``."""
    inner = _unparen(node)
    if isinstance(inner, exp.Null):
        return "NULL"
    if isinstance(inner, exp.Column):
        return f"{typ} column {exp.to_identifier(inner.name, quoted=True).sql()}"
    if isinstance(inner, exp.Literal):
        return f"the text {inner.sql()}" if inner.is_string else f"{typ} {inner.sql()}"
    if isinstance(inner, exp.Boolean):
        return f"boolean {inner.sql()}"
    kind = f"{typ} expression" if typ is not None else "expression"
    return f"{kind} {node.sql()}"


class _TypeCheck:
    def __init__(self, schema: Mapping[str, ColumnType], shown: str, where: str | None) -> None:
        self.schema = schema
        self.shown = shown
        self.where = where

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(message, expression=self.shown, where=self.where)

    def type_of(self, node: exp.Expression) -> ColumnType | None:
        return infer_type(node, self.schema)

    def check(self, tree: exp.Expression) -> None:
        for node in tree.walk():
            self.node(node)  # type: ignore[arg-type]

    def node(self, node: exp.Expression) -> None:
        if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Nullif):
            self.comparable(node.this, node.expression)
        elif isinstance(node, exp.In):
            for item in node.expressions:
                self.comparable(node.this, item)
        elif isinstance(node, exp.Between):
            self.comparable(node.this, node.args["low"])
            self.comparable(node.this, node.args["high"])
        elif isinstance(node, exp.Case):
            for branch in node.args.get("ifs") or []:
                if node.this is not None:
                    self.comparable(node.this, branch.this)
                else:
                    self.boolean(branch.this, "CASE WHEN needs a boolean condition")
        elif isinstance(node, exp.If):
            # the WHEN branches of a CASE are If nodes too: checked with their CASE
            if not isinstance(node.parent, exp.Case):
                self.boolean(node.this, "IF needs a boolean condition")
        elif isinstance(node, exp.Not):
            self.boolean(node.this, "NOT needs a boolean")
        elif isinstance(node, exp.And | exp.Or):
            name = "AND" if isinstance(node, exp.And) else "OR"
            self.boolean(node.this, f"{name} needs booleans")
            self.boolean(node.expression, f"{name} needs booleans")
        elif isinstance(node, exp.Is):
            if isinstance(_unparen(node.expression), exp.Boolean):
                self.boolean(node.this, f"IS {node.expression.sql()} needs a boolean")
        elif isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod):
            symbol = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}[type(node)]
            self.numeric(node.this, f"{symbol!r} needs numbers")
            self.numeric(node.expression, f"{symbol!r} needs numbers")
        elif isinstance(node, exp.Neg):
            self.numeric(node.this, "'-' needs a number")
        elif isinstance(node, exp.Abs | exp.Round | exp.Floor | exp.Ceil | exp.Sqrt | exp.Ln | exp.Exp | exp.Sign):
            self.numeric(node.this, f"{function_name(node).upper()} needs a number")
        elif isinstance(node, exp.Pow):
            self.numeric(node.this, "POWER needs numbers")
            self.numeric(node.expression, "POWER needs numbers")
        elif isinstance(node, exp.Year | exp.Month | exp.Day):
            typ = self.type_of(node.this)
            if typ is not None and typ not in (ColumnType.DATE, ColumnType.TIMESTAMP, ColumnType.STRING):
                raise self.fail(f"{function_name(node).upper()} needs a date, a timestamp or a text, "
                                f"got {describe(node.this, typ)}")
        elif isinstance(node, exp.Left | exp.Right):
            self.numeric(node.expression, f"{function_name(node).upper()} needs a number of characters")
        elif isinstance(node, exp.Substring):
            for key in ("start", "length"):
                if node.args.get(key) is not None:
                    self.numeric(node.args[key], "SUBSTRING needs numbers for its start and length")
        elif isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
            self.same_type(node, [node.this, *node.expressions])

    # ------------------------------------------------------------ rules

    def boolean(self, node: exp.Expression, what: str) -> None:
        typ = self.type_of(node)
        if typ not in (None, ColumnType.BOOLEAN):
            raise self.fail(f"{what}, got {describe(node, typ)}")

    def numeric(self, node: exp.Expression, what: str) -> None:
        typ = self.type_of(node)
        if typ is None or typ.is_numeric:
            return
        hint = ""
        if is_text_literal(node):
            if text_as(str(_unparen(node).this), ColumnType.DOUBLE):
                hint = f": write {str(_unparen(node).this).strip()} without quotes"
        elif typ in (ColumnType.STRING, ColumnType.BOOLEAN):
            hint = f": cast it, as in CAST({node.sql()} AS DOUBLE)"
        raise self.fail(f"{what}, got {describe(node, typ)}{hint}")

    def comparable(self, left: exp.Expression, right: exp.Expression) -> None:
        lt, rt = self.type_of(left), self.type_of(right)
        if lt is None or rt is None or lt == rt or common_type(lt, rt) is not None:
            return
        T = ColumnType
        for text, text_type, other, other_type in ((left, lt, right, rt), (right, rt, left, lt)):
            if text_type != T.STRING:
                continue
            if is_text_literal(text):
                value = str(_unparen(text).this)
                if text_as(value, other_type):
                    return
                form = _TEXT_FORMS.get(other_type)
                hint = f": write {form}" if form else ""
                raise self.fail(f"the text {_unparen(text).sql()} is not {other_type.with_article} "
                                f"(compared with {describe(other, other_type)}){hint}")
            raise self.fail(f"cannot compare {describe(left, lt)} with {describe(right, rt)}: cast one side, "
                            f"as in CAST({text.sql()} AS {SQL_TYPE_NAMES[other_type]})")
        if T.BOOLEAN in (lt, rt) and (lt.is_numeric or rt.is_numeric):
            flag = left if lt == T.BOOLEAN else right
            raise self.fail(f"cannot compare {describe(left, lt)} with {describe(right, rt)}: cast one side, "
                            f"as in CAST({flag.sql()} AS BIGINT)")
        hint = ""
        if lt.is_temporal or rt.is_temporal:
            hint = ": compare a date or timestamp with a date, a timestamp or a text such as '2020-12-31'"
        raise self.fail(f"cannot compare {describe(left, lt)} with {describe(right, rt)}{hint}")

    def same_type(self, node: exp.Expression, args: list[exp.Expression]) -> None:
        name = function_name(node).upper()
        first: tuple[exp.Expression, ColumnType] | None = None
        for arg in args:
            typ = self.type_of(arg)
            if typ is None:
                continue
            if first is None:
                first = (arg, typ)
                continue
            if common_type(first[1], typ) is not None:
                first = (first[0], common_type(first[1], typ))  # type: ignore[assignment]
                continue
            (a, at), (b, bt) = first, (arg, typ)
            # Say which cast makes it work: the text side to the other type when it reads as one.
            if at == ColumnType.STRING and is_text_literal(a) and text_as(str(_unparen(a).this), bt):
                hint = f"CAST({a.sql()} AS {SQL_TYPE_NAMES[bt]})"
            elif bt == ColumnType.STRING and is_text_literal(b) and text_as(str(_unparen(b).this), at):
                hint = f"CAST({b.sql()} AS {SQL_TYPE_NAMES[at]})"
            elif bt == ColumnType.STRING:
                hint = f"CAST({a.sql()} AS VARCHAR)"
            else:
                hint = f"CAST({b.sql()} AS {SQL_TYPE_NAMES[at]})"
            raise self.fail(f"{name} cannot mix {describe(a, at)} with {describe(b, bt)}: cast one side, as in {hint}")


def check_operand_types(tree: exp.Expression, schema: Mapping[str, ColumnType], shown: str,
                        where: str | None) -> None:
    """Refuse the operand types of ``tree`` that engines would treat differently (see the rules above)."""
    _TypeCheck(schema, shown, where).check(tree)

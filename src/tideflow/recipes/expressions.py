"""Recipe expressions: a small, checked subset of SQL.

An expression is parsed by sqlglot (ANSI flavour, double-quoted identifiers) and then checked: every
node must be on the allow-list below and every column must exist in the input schema. A subquery,
an unknown function or an unknown column is an ``ExpressionError`` raised before anything runs.
Each engine implements exactly the nodes on the allow-list, with the semantics documented in
``tideflow.recipes.visual`` (division, casts, NULLs).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tideflow.errors import ExpressionError, did_you_mean
from tideflow.recipes.types import ColumnType, common_type

# Node types an expression may contain, by what they produce.
STRUCTURAL: tuple[type[exp.Expression], ...] = (exp.Column, exp.Identifier, exp.Literal, exp.Null,
                                                 exp.Boolean, exp.Paren, exp.DataType, exp.Var)
ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)
COMPARISON = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between, exp.Like,
              exp.ILike)
LOGICAL = (exp.And, exp.Or, exp.Not)
CONDITIONAL = (exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least)
CASTS = (exp.Cast, exp.TryCast)
NUMERIC_FUNCTIONS = (exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Exp, exp.Pow, exp.Sign)
STRING_FUNCTIONS = (exp.DPipe, exp.Concat, exp.Upper, exp.Lower, exp.Length, exp.Trim, exp.Substring,
                    exp.Replace, exp.StrPosition, exp.Left, exp.Right)
DATE_FUNCTIONS = (exp.Year, exp.Month, exp.Day)

ALLOWED: tuple[type[exp.Expression], ...] = (
    STRUCTURAL + ARITHMETIC + COMPARISON + LOGICAL + CONDITIONAL + CASTS + NUMERIC_FUNCTIONS
    + STRING_FUNCTIONS + DATE_FUNCTIONS
)

FUNCTION_NAMES = (
    "abs", "round", "floor", "ceil", "sqrt", "ln", "exp", "power", "sign", "upper", "lower", "length",
    "trim", "ltrim", "rtrim", "substring", "replace", "strpos", "left", "right", "concat", "coalesce",
    "nullif", "greatest", "least", "if", "year", "month", "day", "cast", "try_cast",
)

# SQL type names accepted in CAST(... AS type), mapped to logical types.
CAST_TYPES: dict[object, ColumnType] = {
    exp.DataType.Type.BOOLEAN: ColumnType.BOOLEAN,
    exp.DataType.Type.TINYINT: ColumnType.INTEGER,
    exp.DataType.Type.SMALLINT: ColumnType.INTEGER,
    exp.DataType.Type.INT: ColumnType.INTEGER,
    exp.DataType.Type.BIGINT: ColumnType.INTEGER,
    exp.DataType.Type.FLOAT: ColumnType.DOUBLE,
    exp.DataType.Type.DOUBLE: ColumnType.DOUBLE,
    exp.DataType.Type.DECIMAL: ColumnType.DOUBLE,
    exp.DataType.Type.VARCHAR: ColumnType.STRING,
    exp.DataType.Type.TEXT: ColumnType.STRING,
    exp.DataType.Type.CHAR: ColumnType.STRING,
    exp.DataType.Type.DATE: ColumnType.DATE,
    exp.DataType.Type.TIMESTAMP: ColumnType.TIMESTAMP,
}


def parse_expression(text: str, *, where: str | None = None) -> exp.Expression:
    """Parse ``text`` into a sqlglot tree; a syntax error becomes an ``ExpressionError``."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expected a non-empty SQL expression", expression=str(text), where=where)
    try:
        statements = sqlglot.parse(text, error_level=sqlglot.ErrorLevel.RAISE)
    except (ParseError, TokenError) as err:
        raise ExpressionError(syntax_problem(err, text)[0], expression=text, where=where) from None
    if len(statements) != 1 or statements[0] is None:
        raise ExpressionError("expected one expression, got several statements", expression=text, where=where)
    tree = statements[0]
    if not isinstance(tree, exp.Expression):
        raise ExpressionError("expected an expression", expression=text, where=where)
    if isinstance(tree, exp.Query | exp.DDL | exp.DML | exp.Command):
        raise ExpressionError("expected an expression, got a statement", expression=text, where=where)
    return tree


_QUOTES = {"'": "single quote", '"': "double quote", "`": "backtick"}
_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")


def syntax_problem(err: ParseError | TokenError, text: str, what: str = "expression") -> tuple[str, int | None]:
    """What sqlglot could not read in ``text``, in words and without Python class names, with where it
    is (``at column 8``, or ``at line 2, column 5`` in a text of several lines); and that line.
    ``what`` names the text: ``expression``, ``duckdb query``."""
    error = "syntax error" if what == "expression" else f"syntax error in the {what}"
    if isinstance(err, TokenError):
        found = _unclosed(text)
        if found is None:
            return f"{error}: the text cannot be split into SQL tokens", None
        mark, position = found
        line, column = _line_column(text, position)
        at = _at(text, line, column)
        if mark == "/*":
            return f"{error}: unclosed comment at {at}: expected a closing '*/'", line
        hint = "; double quotes name a column, single quotes make a string" if mark == '"' else ""
        return f"{error}: unclosed {_QUOTES[mark]} at {at}: expected a closing {mark}{hint}", line
    info = err.errors[0] if err.errors else {}
    description = str(info.get("description") or err)
    highlight = str(info.get("highlight") or "").strip()
    at_line: int | None = info["line"] if isinstance(info.get("line"), int) else None
    at_column: int | None = info["col"] if isinstance(info.get("col"), int) else None
    if at_column is not None and highlight:
        at_column = max(1, at_column - len(highlight) + 1)  # sqlglot points at the end of the token
    at = f" at {_at(text, at_line or 1, at_column)}" if at_column is not None else ""
    required = _REQUIRED.match(description)
    if required:
        keyword, node_name = required.groups()
        node = getattr(exp, node_name, None)
        token = highlight or node_name.upper()
        if isinstance(node, type) and issubclass(node, exp.Binary) and keyword == "expression":
            return f"incomplete {what}: {token!r}{at} needs a right-hand side", at_line
        if node_name == "Between":
            return f"incomplete {what}: BETWEEN needs '<low> AND <high>'", at_line
        return f"incomplete {what}: {token!r}{at} needs something after it", at_line
    description = re.sub(r"\s*but got <Token[^>]*>", "", description)
    description = re.sub(r"<class '[\w.]*?(\w+)'>", lambda m: m.group(1).upper(), description)
    if description.startswith("Invalid expression / Unexpected token"):
        return f"{error}: unexpected {highlight or 'token'!r}{at}", at_line
    if description.startswith("Expecting "):
        after = f" after {highlight!r}" if highlight else ""
        return f"{error}: expected {description[len('Expecting '):]!r}{after}{at}", at_line
    near = f" near {highlight!r}" if highlight and highlight not in description else ""
    return f"{error}: {description[:1].lower()}{description[1:]}{near}{at}", at_line


def _at(text: str, line: int, column: int | None) -> str:
    where = f"column {column}"
    return f"line {line}, {where}" if "\n" in text.strip() else where


def _unclosed(text: str) -> tuple[str, int] | None:
    """The first quote (or ``/*``) in ``text`` that is never closed, with its position."""
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return "/*", i
            i = end + 2
            continue
        mark = text[i]
        if mark in _QUOTES:
            j = i + 1
            while True:
                k = text.find(mark, j)
                if k < 0:
                    return mark, i
                if text.startswith(mark * 2, k):  # a doubled quote stands for itself
                    j = k + 2
                    continue
                break
            i = k + 1
            continue
        i += 1
    return None


def _line_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def referenced_columns(tree: exp.Expression) -> list[str]:
    """Names of the columns an expression reads, in order of appearance, without duplicates."""
    names: list[str] = []
    for column in tree.find_all(exp.Column):
        if column.name not in names:
            names.append(column.name)
    return names


def check_expression(
    tree: exp.Expression, schema: Mapping[str, ColumnType], *, text: str | None = None,
    where: str | None = None,
) -> ColumnType | None:
    """Check ``tree`` against the allow-list and ``schema``; return its inferred type.

    Returns None for an expression whose type is unknown (a bare NULL).
    """
    shown = text if text is not None else tree.sql()
    for node in tree.walk():
        if isinstance(node, exp.Subquery | exp.Query | exp.Exists):
            raise ExpressionError("subqueries are not allowed", expression=shown, where=where)
        if isinstance(node, exp.Column):
            if node.table:
                raise ExpressionError(
                    f"qualified column {node.sql()!r} is not allowed: write the column name alone",
                    expression=shown, where=where,
                )
            if node.name not in schema:
                raise ExpressionError(
                    f"unknown column {node.name!r}{did_you_mean(node.name, schema)}"
                    f" (columns: {', '.join(schema) or 'none'})",
                    expression=shown, where=where,
                )
            continue
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            raise ExpressionError("subqueries are not allowed", expression=shown, where=where)
        if isinstance(node, exp.Star):
            raise ExpressionError("'*' is not allowed in an expression", expression=shown, where=where)
        if not isinstance(node, ALLOWED):
            name = _function_name(node)
            raise ExpressionError(
                f"unknown or disallowed function {name!r}{did_you_mean(name, FUNCTION_NAMES)}",
                expression=shown, where=where,
            )
        if isinstance(node, exp.Cast | exp.TryCast):
            to = node.args["to"]
            if to.this not in CAST_TYPES:
                raise ExpressionError(
                    f"cannot cast to {to.sql()!r}: expected one of boolean, integer, bigint, double, "
                    "varchar, text, date, timestamp",
                    expression=shown, where=where,
                )
    _TypeCheck(schema, shown, where).check(tree)
    return infer_type(tree, schema)


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def infer_type(node: exp.Expression, schema: Mapping[str, ColumnType]) -> ColumnType | None:
    """The logical type of an allowed expression over ``schema`` (None when unknown: NULL)."""
    t = ColumnType
    if isinstance(node, exp.Column):
        return schema[node.name]
    if isinstance(node, exp.Paren):
        return infer_type(node.this, schema)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return t.BOOLEAN
    if isinstance(node, exp.Literal):
        if node.is_string:
            return t.STRING
        return t.INTEGER if node.is_int else t.DOUBLE
    if isinstance(node, COMPARISON + LOGICAL):
        return t.BOOLEAN
    if isinstance(node, exp.Div | exp.Sqrt | exp.Ln | exp.Exp | exp.Pow):
        return t.DOUBLE
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
        left, right = infer_type(node.this, schema), infer_type(node.expression, schema)
        if left is None or right is None:
            return left or right
        return common_type(left, right) or t.DOUBLE
    if isinstance(node, exp.Neg | exp.Abs | exp.Sign):
        return infer_type(node.this, schema)
    if isinstance(node, exp.Round):
        inner = infer_type(node.this, schema)
        return t.INTEGER if inner == t.INTEGER else t.DOUBLE
    if isinstance(node, exp.Floor | exp.Ceil):
        return infer_type(node.this, schema)
    if isinstance(node, exp.Cast | exp.TryCast):
        return CAST_TYPES[node.args["to"].this]
    if isinstance(node, STRING_FUNCTIONS):
        if isinstance(node, exp.Length | exp.StrPosition):
            return t.INTEGER
        return t.STRING
    if isinstance(node, DATE_FUNCTIONS):
        return t.INTEGER
    if isinstance(node, exp.Case):
        branches = [i.args["true"] for i in node.args.get("ifs") or []]
        if node.args.get("default") is not None:
            branches.append(node.args["default"])
        return _widest(branches, schema)
    if isinstance(node, exp.If):
        return _widest([node.args["true"], node.args.get("false")], schema)
    if isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
        return _widest([node.this, *node.expressions], schema)
    if isinstance(node, exp.Nullif):
        return infer_type(node.this, schema)
    return None


def _widest(nodes: list[exp.Expression | None], schema: Mapping[str, ColumnType]) -> ColumnType | None:
    result: ColumnType | None = None
    for node in nodes:
        if node is None:
            continue
        typ = infer_type(node, schema)
        if typ is None:
            continue
        result = typ if result is None else (common_type(result, typ) or ColumnType.STRING)
    return result


def parse_checked(
    text: str, schema: Mapping[str, ColumnType], *, where: str | None = None
) -> tuple[exp.Expression, ColumnType | None]:
    """Parse and check in one call: ``(tree, type)``."""
    tree = parse_expression(text, where=where)
    return tree, check_expression(tree, schema, text=text, where=where)


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
            self.numeric(node.this, f"{_function_name(node).upper()} needs a number")
        elif isinstance(node, exp.Pow):
            self.numeric(node.this, "POWER needs numbers")
            self.numeric(node.expression, "POWER needs numbers")
        elif isinstance(node, exp.Year | exp.Month | exp.Day):
            typ = self.type_of(node.this)
            if typ is not None and typ not in (ColumnType.DATE, ColumnType.TIMESTAMP, ColumnType.STRING):
                raise self.fail(f"{_function_name(node).upper()} needs a date, a timestamp or a text, "
                                f"got {describe(node.this, typ)}")
        elif isinstance(node, exp.Left | exp.Right):
            self.numeric(node.expression, f"{_function_name(node).upper()} needs a number of characters")
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
        name = _function_name(node).upper()
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

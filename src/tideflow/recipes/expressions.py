"""Recipe expressions: a small, checked subset of SQL.

An expression is parsed by sqlglot (ANSI flavour, double-quoted identifiers) and then checked: every
node must be on the allow-list below and every column must exist in the input schema. A subquery,
an unknown function or an unknown column is an ``ExpressionError`` raised before anything runs, and
so is a mix of operand types engines would treat differently (``tideflow.recipes.operand_types``).
Each engine implements exactly the nodes on the allow-list, with the semantics documented in
``tideflow.recipes.visual`` (division, casts, NULLs).
"""

from __future__ import annotations

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


TOO_DEEP = "nested too deeply: expected at most a few dozen levels of parentheses or calls; simplify it"


def parse_expression(text: str, *, where: str | None = None) -> exp.Expression:
    """Parse ``text`` into a sqlglot tree; a syntax error becomes an ``ExpressionError``."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expected a non-empty SQL expression", expression=str(text), where=where)
    try:
        statements = sqlglot.parse(text, error_level=sqlglot.ErrorLevel.RAISE)
    except (ParseError, TokenError) as err:
        raise ExpressionError(syntax_problem(err, text)[0], expression=text, where=where) from None
    except RecursionError:  # the parser recurses per level of parentheses or calls
        raise ExpressionError(TOO_DEEP, expression=text, where=where) from None
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
            name = function_name(node)
            raise ExpressionError(
                f"unknown or disallowed function {name!r}{did_you_mean(name, FUNCTION_NAMES)}",
                expression=shown, where=where,
            )
        if isinstance(node, exp.Like | exp.ILike) and isinstance(node.expression, exp.Literal):
            pattern = str(node.expression.this)
            if (len(pattern) - len(pattern.rstrip("\\"))) % 2:  # an odd run of backslashes at the end
                raise ExpressionError(
                    f"LIKE pattern '{pattern}' ends with a lone backslash, the escape character: expected a "
                    "character after it (write '\\\\' for a backslash)", expression=shown, where=where)
        if isinstance(node, exp.Cast | exp.TryCast):
            to = node.args["to"]
            if to.this not in CAST_TYPES:
                raise ExpressionError(
                    f"cannot cast to {to.sql()!r}: expected one of boolean, integer, bigint, double, "
                    "varchar, text, date, timestamp",
                    expression=shown, where=where,
                )
    from tideflow.recipes.operand_types import check_operand_types  # here: that module imports this one

    check_operand_types(tree, schema, shown, where)
    return infer_type(tree, schema)


def function_name(node: exp.Expr) -> str:
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

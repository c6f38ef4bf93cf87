"""What a SQL recipe's code must be: one SELECT (or set operation) that only reads, in a dialect sqlglot
reads. Checked when the project loads, with the line of the statement at fault; the words are the
ones planning uses for the same problems (one function each), so a recipe built in code and never
loaded hears the same.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.dialects import Dialects
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from tideflow.errors import a, did_you_mean
from tideflow.recipes.expressions import TOO_DEEP, syntax_problem

# What a SQL recipe may not hold anywhere: it reads its inputs, Tideflow writes the output.
FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Into,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Copy,
    exp.Pragma,
)
# Every dialect sqlglot reads a recipe in (the target of a build is the connection's, not this one).
SQL_DIALECTS = tuple(d.value for d in Dialects if d.value)


class SqlProblem(Exception):
    """The code is not one read-only query: ``message`` in words, ``line`` in the code when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def unknown_dialect(dialect: str, known: Iterable[str] = SQL_DIALECTS) -> str | None:
    """The message for a dialect sqlglot does not read (None when it reads it)."""
    if sqlglot.Dialect.get(dialect) is not None:
        return None
    return f"unknown SQL dialect {dialect!r}{did_you_mean(dialect, known)}"


def statement_count(count: int) -> str:
    return f"expected exactly one SELECT query, got {count} statements"


def not_a_query(kind: str) -> str:
    """``kind``: the statement's or the offending clause's name in capitals (``DELETE``, ``INTO``)."""
    return (f"expected one SELECT query, got {a(kind)} statement: a SQL recipe only reads its inputs; "
            "Tideflow writes the output")


def one_query(text: str, dialect: str) -> exp.Query:
    """The one read-only query of ``text``; else ``SqlProblem`` (a syntax error, no statement or
    several, a statement that writes), with the line of the statement at fault. ``dialect`` is one
    sqlglot reads (see ``unknown_dialect``)."""
    try:
        parsed = sqlglot.parse(text, read=dialect)
    except (ParseError, TokenError) as err:  # TokenError: an unclosed quote or comment
        raise SqlProblem(*syntax_problem(err, text, what=f"{dialect} query")) from None
    except RecursionError:  # the parser recurses per level of parentheses, calls or subqueries
        raise SqlProblem(f"the {dialect} query is {TOO_DEEP}", None) from None
    statements = [s for s in parsed if s is not None]
    # the tokens of each statement only find the line of an error: not tokenized again on the good path
    if len(statements) != 1:
        chunks = _statement_tokens(text, dialect) if statements else []
        line = 1 if not statements else _line(chunks[1]) if len(chunks) > 1 else None  # where the second starts
        raise SqlProblem(statement_count(len(statements)), line)
    tree = statements[0]
    offending = next((node for node in tree.walk() if isinstance(node, FORBIDDEN_NODES)), None)
    if offending is not None or not isinstance(tree, exp.Query):
        kind = type(offending if offending is not None else tree).__name__.upper()
        chunks = _statement_tokens(text, dialect)
        tokens = chunks[0] if chunks else []
        line = next((t.line for t in tokens if t.text.upper() == kind), _line(tokens))
        raise SqlProblem(not_a_query(kind), line)
    return tree


def _statement_tokens(text: str, dialect: str) -> list[list[Token]]:
    """The tokens of each statement of ``text`` (split at ``;``, empty statements left out)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    except (TokenError, ValueError):
        return []
    chunks: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    return [c for c in chunks if c]


def _line(tokens: list[Token]) -> int | None:
    return tokens[0].line if tokens else None

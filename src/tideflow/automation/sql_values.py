"""Scenario values in SQL: ``${params.x}``, ``${run_id}``, ... become SQL literals, never SQL text.

The ``sql`` of a ``run_sql`` step is tokenized with sqlglot in its connection's dialect (on DuckDB,
DuckDB's own tokenizer must agree). Then:

- a ``${name}`` standing where a value goes becomes a literal of the value's type, written by
  sqlglot for the dialect: a string literal (quotes escaped), a number (a negative one in
  parentheses), ``TRUE``/``FALSE``, ``NULL``. Non-finite floats are refused;
- a ``${name}`` inside a plain ``'...'`` string puts the value's text in that string, and the whole
  string literal is written again by sqlglot, escaped (``DATE '${params.day}'`` works);
- anywhere else (a double-quoted name, a comment, a dollar-quoted, ``E''``, ``N''``, ``U&''``,
  ``X''`` string, glued to a name, a number or a dot) the SQL is refused when the scenario is
  loaded: a value never becomes a name or SQL text.

SQL without ``${...}`` is run exactly as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tideflow.automation.scenarios import TEMPLATE

_PREFIX = "__tide_value_"
_PLAIN_STRING_BEFORE = re.compile(r"[A-Za-z0-9_&$]")
_GLUED = re.compile(r"[A-Za-z0-9_$'\".]")
_WHERE = {
    "IDENTIFIER": "inside a double-quoted name",
    "HEREDOC_STRING": "inside a dollar-quoted string",
    "BYTE_STRING": "inside an E'' string",
    "NATIONAL_STRING": "inside an N'' string",
    "UNICODE_STRING": "inside a U&'' string",
    "HEX_STRING": "inside an X'' string",
    "BIT_STRING": "inside a B'' string",
    "RAW_STRING": "inside a raw string",
}


class SqlValueError(ValueError):
    """A ``${...}`` that cannot stand as a value in this SQL, or a value that has no SQL literal."""


@dataclass(frozen=True)
class _Edit:
    start: int  # in the marked text; end is exclusive
    end: int
    kind: str  # "value": the marker is the token; "string": a '...' string holding markers
    content: str  # the marker (value) or the string's unescaped content with markers (string)


@dataclass(frozen=True)
class _Plan:
    marked: str
    prefix: str
    names: list[str]
    marker: re.Pattern[str]
    edits: list[_Edit]


def sql_literal(value: object, dialect: str) -> str:
    """``value`` as one self-contained SQL literal of ``dialect`` (escaped by sqlglot)."""
    from sqlglot import exp

    node: exp.Expression
    if value is None:
        node = exp.null()
    elif isinstance(value, bool):
        node = exp.Boolean(this=value)
    elif isinstance(value, int):
        node = exp.Literal.number(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SqlValueError(f"expected a finite number, got {value!r}")
        node = exp.Literal.number(repr(value))
    elif isinstance(value, str):
        node = exp.Literal.string(value)
    else:
        raise SqlValueError(f"expected a str, int, float, bool or null value, got {type(value).__name__}")
    text = node.sql(dialect=dialect)
    return f"({text})" if text.startswith("-") else text  # `1 -${x}` must not become the comment `1 --5`


def _text(value: object) -> str:
    """The value's text inside a '...' string (as in messages)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SqlValueError(f"expected a finite number, got {value!r}")
    return "" if value is None else str(value)


def _excerpt(text: str, start: int, end: int) -> str:
    left, right = max(0, start - 20), min(len(text), end + 20)
    return ("..." if left else "") + text[left:right] + ("..." if right < len(text) else "")


def _plan(sql: str, dialect: str) -> _Plan | None:
    """Where each ``${...}`` of ``sql`` stands, or ``SqlValueError`` saying why it cannot be a value."""
    if not TEMPLATE.search(sql):
        return None
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import TokenError

    prefix, n = _PREFIX, 0
    while prefix in sql:  # markers must not occur in the SQL itself
        n += 1
        prefix = f"__tide_value{n}_"
    names: list[str] = []

    def mark(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"{prefix}{len(names) - 1}__"

    marked = TEMPLATE.sub(mark, sql)
    marker = re.compile(re.escape(prefix) + r"(\d+)__")

    def shown(i: int) -> str:
        return "${" + names[i] + "}"

    def refuse(i: int, where: str, start: int, end: int) -> SqlValueError:
        got = marker.sub(lambda m: shown(int(m.group(1))), _excerpt(marked, start, end))
        return SqlValueError(f"{shown(i)} is {where}: in SQL a substitution is a value (a literal), never a name "
                             f"or SQL text; expected it where a value goes (`amount >= {shown(i)}`) or inside a "
                             f"'...' string, got `{got}`")

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(marked)
    except TokenError as err:
        why = re.sub(re.escape(prefix) + r"\d*_?_?", "${...}", str(err).splitlines()[0])
        raise SqlValueError(f"the SQL does not tokenize as {dialect}: {why}") from None
    edits: list[_Edit] = []
    seen: set[int] = set()
    for token in tokens:
        start, end = token.start, token.end + 1
        raw = marked[start:end]
        found = [int(m.group(1)) for m in marker.finditer(raw)]
        if not found:
            continue
        seen.update(found)
        kind = token.token_type.name
        if kind == "VAR" and marker.fullmatch(raw) and token.text == raw:
            before, after = marked[start - 1:start], marked[end:end + 1]
            if _GLUED.fullmatch(before or " ") or _GLUED.fullmatch(after or " "):
                raise refuse(found[0], "glued to other SQL", start, end)
            edits.append(_Edit(start, end, "value", raw))
        elif kind == "STRING" and raw.startswith("'") and raw.endswith("'"):
            if _PLAIN_STRING_BEFORE.fullmatch(marked[start - 1:start] or " "):
                raise refuse(found[0], "inside a prefixed string", start, end)
            edits.append(_Edit(start, end, "string", token.text))
        else:
            where = "glued to other SQL" if kind == "VAR" else f"inside a {kind.lower()} token"
            raise refuse(found[0], _WHERE.get(kind, where), start, end)
    for i in range(len(names)):
        if i not in seen:
            at = marked.find(f"{prefix}{i}__")
            raise refuse(i, "inside a comment", at, at + len(f"{prefix}{i}__"))
    if dialect == "duckdb":
        _agree_with_duckdb(marked, edits, names, marker)
    return _Plan(marked, prefix, names, marker, edits)


def _agree_with_duckdb(marked: str, edits: list[_Edit], names: list[str], marker: re.Pattern[str]) -> None:
    """DuckDB's own tokenizer must see each substitution where sqlglot does (one whole token)."""
    import duckdb

    try:
        starts = {p: str(t).rsplit(".", 1)[-1] for p, t in duckdb.tokenize(marked)}
    except duckdb.Error as err:
        raise SqlValueError(f"the SQL does not tokenize as duckdb: {str(err).splitlines()[0]}") from None
    for edit in edits:
        expected = "identifier" if edit.kind == "value" else "string_const"
        inside = [p for p in starts if edit.start < p < edit.end]
        if starts.get(edit.start) != expected or inside:
            first = marker.search(marked, edit.start)
            name = names[int(first.group(1))] if first else "?"
            raise SqlValueError(f"${{{name}}}: DuckDB reads the SQL around it differently from sqlglot "
                                f"(expected one {expected} token, got `{_excerpt(marked, edit.start, edit.end)}`)")


def check_sql(sql: str, dialect: str) -> str | None:
    """None when every ``${...}`` of ``sql`` stands as a value, else why not (for load-time errors)."""
    try:
        _plan(sql, dialect)
    except SqlValueError as err:
        return str(err)
    return None


def render_sql(sql: str, values: Mapping[str, object], dialect: str) -> str:
    """``sql`` with each ``${name}`` replaced by the SQL literal of ``values[name]`` (see the module doc)."""
    from sqlglot import exp

    plan = _plan(sql, dialect)
    if plan is None:
        return sql

    def value(index: str) -> object:
        name = plan.names[int(index)]
        if name not in values:
            raise SqlValueError(f"unknown name ${{{name}}} (known: {', '.join(values)})")
        return values[name]

    out: list[str] = []
    pos = 0
    for edit in plan.edits:
        out.append(plan.marked[pos:edit.start])
        if edit.kind == "value":
            out.append(f" {sql_literal(value(edit.content[len(plan.prefix):-2]), dialect)} ")
        else:
            content = plan.marker.sub(lambda m: _text(value(m.group(1))), edit.content)
            out.append(exp.Literal.string(content).sql(dialect=dialect))
        pos = edit.end
    out.append(plan.marked[pos:])
    return "".join(out)

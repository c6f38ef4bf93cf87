"""Small safe builders shared by the compiler: quoted identifiers, typed literals, relations, errors.

Names always become quoted identifiers and values always become sqlglot literals, so no name or
value can change the meaning of a query.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from tideflow.engines.sql.dialects import DialectTraits, sql_type
from tideflow.errors import ProjectError, did_you_mean, name_too_long
from tideflow.recipes.types import FALSE_TEXTS, TRUE_TEXTS, ColumnType, Schema, value_text
from tideflow.recipes.visual import OrderKey


@dataclass(frozen=True)
class SqlInput:
    """One input of a recipe: what goes in FROM, and its logical schema (ordered)."""

    relation: exp.Expr
    schema: Schema


@dataclass(frozen=True)
class Rel:
    """A relation being compiled: an aliased FROM item and its ordered schema."""

    source: exp.Expr
    schema: Schema
    alias: str


@dataclass(frozen=True)
class Ctx:
    """Per-compilation context: the dialect traits and where to say errors come from."""

    traits: DialectTraits
    where: str

    def error(self, key_path: str, message: str) -> ProjectError:
        return ProjectError(message, file=self.where, key_path=key_path)

    def check_column(self, name: str, schema: Mapping[str, ColumnType], key_path: str) -> ColumnType:
        if name not in schema:
            raise self.error(
                key_path,
                f"unknown column {name!r}{did_you_mean(name, schema)} (expected one of: "
                f"{', '.join(repr(c) for c in schema) or 'none'})",
            )
        return schema[name]

    def check_new_names(self, names: Iterable[str], key_path: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.error(key_path, f"duplicate output column {name!r}: rename or prefix one of them")
            seen.add(name)
            self.check_name_length(name, key_path)

    def check_name_length(self, name: str, key_path: str | None, what: str = "output column") -> None:
        """A name longer than the dialect keeps (``max_name_bytes``) is an error, not a silent truncation:
        PostgreSQL cuts every identifier of a query (a column it reads, a step's column, an output
        column) to 63 bytes, so two long names could become one."""
        message = name_too_long(what, name, self.traits.name, self.traits.max_name_bytes)
        if message is not None:
            raise ProjectError(message, file=self.where, key_path=key_path)

def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table is not None else None)


def alias(expression: exp.Expr, name: str) -> exp.Alias:
    return exp.Alias(this=expression, alias=ident(name))


def typed_null(traits: DialectTraits, typ: ColumnType) -> exp.Expr:
    return exp.Cast(this=exp.Null(), to=sql_type(traits, typ))


def cast(expression: exp.Expr, traits: DialectTraits, typ: ColumnType) -> exp.Cast:
    return exp.Cast(this=expression, to=sql_type(traits, typ))


def number(value: int | float, traits: DialectTraits) -> exp.Expr:
    """A numeric literal; non-integers are cast to DOUBLE (a bare 1.5 is a DECIMAL in SQL)."""
    if isinstance(value, bool):
        raise TypeError("number() takes int or float, not bool")
    if isinstance(value, int):
        return exp.Literal.number(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r} as SQL")
    return cast(exp.Literal.number(repr(float(value))), traits, ColumnType.DOUBLE)


def literal(value: object, typ: ColumnType, traits: DialectTraits) -> exp.Expr:
    """``value`` (already converted by ``convert_value``) as a literal of logical type ``typ``."""
    if value is None:
        return typed_null(traits, typ)
    if typ == ColumnType.BOOLEAN:
        return exp.Boolean(this=bool(value))
    if typ == ColumnType.INTEGER:
        return exp.Literal.number(int(value))  # type: ignore[call-overload]
    if typ == ColumnType.DOUBLE:
        return number(float(value), traits)  # type: ignore[arg-type]
    if typ == ColumnType.STRING:
        return exp.Literal.string(str(value))
    return cast(exp.Literal.string(str(value)), traits, typ)


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DOUBLE_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?")


def convert_value(value: object, typ: ColumnType) -> object:
    """Convert a spec value (a rule's value, a fill, replace or pivot value) to ``typ`` at compile time;
    raises ValueError when it does not convert exactly. The rules are the memory engine's
    (``engines.memory.casting.convert_value``), so that a value one engine refuses every engine refuses:

    * a boolean is only a boolean; a number with a fraction is no integer; integers stay within 64 bits,
      doubles are finite;
    * a text, after surrounding spaces, reads as an integer ``[+-]?[0-9]+``, a double
      ``[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?``, a boolean (``true t 1 yes y`` /
      ``false f 0 no n``, any letter case), a date ``YYYY-MM-DD``, a timestamp
      ``YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]]]``; a number is read as its text for a boolean;
    * a date or timestamp value (YAML reads them as such) is a date or a timestamp; a timestamp is
      no date.

    Dates and timestamps come back as ISO text (``literal`` casts them); None stays None.
    """
    if value is None:
        return None
    if typ == ColumnType.STRING:
        return value_text(value)
    if isinstance(value, bool):
        if typ == ColumnType.BOOLEAN:
            return value
        raise ValueError(f"{value!r} is not {typ.with_article}")
    if typ in (ColumnType.INTEGER, ColumnType.DOUBLE) and isinstance(value, int | float):
        if typ == ColumnType.INTEGER:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{value!r} is not an integer")
                value = int(value)
            return _int64(value)
        return _finite(float(value), value)
    if typ in (ColumnType.DATE, ColumnType.TIMESTAMP) and not isinstance(value, str):
        if isinstance(value, dt.datetime):
            if typ == ColumnType.DATE:
                raise ValueError(f"{value!r} is not a date")
            return value.isoformat(sep=" ")
        if isinstance(value, dt.date):
            return value.isoformat() if typ == ColumnType.DATE else f"{value.isoformat()} 00:00:00"
        raise ValueError(f"{value!r} is not {typ.with_article}")
    text = str(value).strip(" ")
    if typ == ColumnType.BOOLEAN:
        if text.lower() in TRUE_TEXTS:
            return True
        if text.lower() in FALSE_TEXTS:
            return False
    elif typ == ColumnType.INTEGER:
        if _INT_TEXT.fullmatch(text):
            return _int64(int(text))
    elif typ == ColumnType.DOUBLE:
        if _DOUBLE_TEXT.fullmatch(text):
            return _finite(float(text), value)
    elif typ == ColumnType.DATE:
        if _DATE_TEXT.fullmatch(text):
            return dt.date.fromisoformat(text).isoformat()
    elif _TIMESTAMP_TEXT.fullmatch(text):
        return dt.datetime.fromisoformat(text).isoformat(sep=" ")
    raise ValueError(f"{value!r} is not {typ.with_article}")


def _int64(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{value!r} is outside the 64-bit integer range")
    return value


def _finite(result: float, value: object) -> float:
    if not math.isfinite(result):
        raise ValueError(f"{value!r} is not a finite number")
    return result


def from_item(relation: exp.Expr, name: str, *, copy: bool = True) -> exp.Expr:
    """``relation`` made into a FROM item aliased ``name`` (quoted); ``copy=False`` takes the
    relation itself, for a tree the caller has just built and drops."""
    table_alias = exp.TableAlias(this=ident(name))
    relation = relation.copy() if copy else relation
    if isinstance(relation, exp.Table | exp.Subquery):
        relation.set("alias", table_alias)
        return relation
    if isinstance(relation, exp.Query):
        return exp.Subquery(this=relation, alias=table_alias)
    return exp.Table(this=relation, alias=table_alias)


def input_rel(sql_input: SqlInput, name: str) -> Rel:
    return Rel(source=from_item(sql_input.relation, name), schema=dict(sql_input.schema), alias=name)


def nest(query: exp.Query, schema: Schema, name: str) -> Rel:
    """A query just compiled, used (not copied: a recipe of n steps would copy its tree n times)
    as the FROM of the next step."""
    return Rel(source=from_item(query, name, copy=False), schema=schema, alias=name)


def select(projections: Sequence[exp.Expr], rel: Rel) -> exp.Select:
    return exp.Select(expressions=list(projections)).from_(rel.source, copy=False)


def passthrough(schema: Schema, table: str | None = None) -> list[exp.Expr]:
    return [col(name, table) for name in schema]


def binary(expression: exp.Expr, typ: ColumnType | None, traits: DialectTraits) -> exp.Expr:
    """``expression`` with the binary collation when it is a string on a dialect that needs it."""
    if typ == ColumnType.STRING and traits.binary_collation is not None:
        return exp.Collate(this=expression, expression=ident(traits.binary_collation))
    return expression


def ordered(
    expression: exp.Expr, typ: ColumnType | None, desc: bool, nulls_first: bool, traits: DialectTraits
) -> exp.Ordered:
    return exp.Ordered(this=binary(expression, typ, traits), desc=desc, nulls_first=nulls_first)


def order_keys(
    keys: Sequence[OrderKey],
    schema: Schema,
    ctx: Ctx,
    key_path: str,
    *,
    table: str | None = None,
    reverse: bool = False,
) -> list[exp.Ordered]:
    """ORDER BY items for ``keys``; ``reverse`` flips direction and NULL placement."""
    items = []
    for i, key in enumerate(keys):
        typ = ctx.check_column(key.column, schema, f"{key_path}[{i}].column")
        desc, nulls_first = key.desc, key.nulls_first
        if reverse:
            desc, nulls_first = not desc, not nulls_first
        items.append(ordered(col(key.column, table), typ, desc, nulls_first, ctx.traits))
    return items


def tiebreak(
    keys: Sequence[OrderKey],
    schema: Schema,
    exclude: Iterable[str],
    traits: DialectTraits,
    *,
    table: str | None = None,
    reverse: bool = False,
) -> list[exp.Ordered]:
    """The remaining columns (schema order, ascending, NULLs last) so that every order is total."""
    used = {k.column for k in keys} | set(exclude)
    return [
        ordered(col(name, table), typ, reverse, reverse, traits) for name, typ in schema.items() if name not in used
    ]


def and_all(conditions: Sequence[exp.Expr]) -> exp.Expr:
    if not conditions:
        return exp.Boolean(this=True)
    result = conditions[0]
    for cond in conditions[1:]:
        result = exp.And(this=result, expression=cond)
    return result


def or_all(conditions: Sequence[exp.Expr]) -> exp.Expr:
    if not conditions:
        return exp.Boolean(this=False)
    result = conditions[0]
    for cond in conditions[1:]:
        result = exp.Or(this=result, expression=cond)
    return result


def is_true(condition: exp.Expr) -> exp.Expr:
    """``COALESCE(cond, FALSE)``: a NULL condition counts as false."""
    return exp.Coalesce(this=exp.Paren(this=condition), expressions=[exp.Boolean(this=False)])


def paren(expression: exp.Expr) -> exp.Expr:
    return exp.Paren(this=expression)


def fresh_name(base: str, taken: Iterable[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not already a column name."""
    names = set(taken)
    name, i = base, 1
    while name in names:
        i += 1
        name = f"{base}_{i}"
    return name

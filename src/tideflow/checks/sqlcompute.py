"""Metrics computed where the data lives: one aggregate query per dataset (sqlglot, any dialect
of ``tideflow.engines.sql``), plus one query per ``top_values`` and per ``unique`` key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlglot import exp

from tideflow.checks.measures import Measure, MetricValue, TopValue, normalize, normalize_scalar, schema_values
from tideflow.connections import SqlConnection
from tideflow.engines.sql import to_sql, traits_for
from tideflow.engines.sql.build import binary
from tideflow.engines.sql.dialects import DialectTraits, sql_type
from tideflow.recipes import ColumnType, Schema


def _col(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _column_of(m: Measure) -> str:
    if m.column is None:
        raise ValueError(f"measure {m.kind!r} needs a column")
    return m.column


def _count_star() -> exp.Expr:
    return exp.Count(this=exp.Star())


def _zero_if_null(expression: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=expression, expressions=[exp.Literal.number(0)])


def literal(value: object, typ: ColumnType, traits: DialectTraits) -> exp.Expr:
    """A typed SQL literal for a value already coerced to the column type."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(repr(value))
    if isinstance(value, dt.date):  # date or datetime
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, dt.datetime)
                                                else value.isoformat()), to=sql_type(traits, typ))
    return exp.Literal.string(str(value))


def measure_expression(m: Measure, schema: Schema, traits: DialectTraits) -> exp.Expr:
    """The aggregate expression of one measure of the main query."""
    if m.kind == "record_count":
        return _count_star()
    column = _col(_column_of(m))
    typ = schema[_column_of(m)]
    double = sql_type(traits, ColumnType.DOUBLE)
    if m.kind == "nulls":
        return exp.Sub(this=_count_star(), expression=exp.Count(this=column))
    if m.kind == "distinct_count":
        return exp.Count(this=exp.Distinct(expressions=[column]))
    if m.kind == "min":
        return exp.LogicalAnd(this=column) if typ == ColumnType.BOOLEAN else exp.Min(this=binary(column, typ, traits))
    if m.kind == "max":
        return exp.LogicalOr(this=column) if typ == ColumnType.BOOLEAN else exp.Max(this=binary(column, typ, traits))
    if m.kind == "avg":
        return exp.Avg(this=exp.Cast(this=column, to=double))
    if m.kind == "sum":
        return exp.Sum(this=column)
    if m.kind == "stddev":
        return exp.StddevSamp(this=exp.Cast(this=column, to=double))
    if m.kind == "outside_set":
        members = [literal(v, typ, traits) for v in m.values]
        outside = exp.And(this=exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
                          expression=exp.Not(this=exp.In(this=column.copy(), expressions=members)))
        case = exp.Case(ifs=[exp.If(this=outside, true=exp.Literal.number(1))], default=exp.Literal.number(0))
        return _zero_if_null(exp.Sum(this=case))
    raise ValueError(f"measure {m.kind!r} is not part of the aggregate query")


def aggregate_query(measures: Sequence[Measure], relation: exp.Expr, schema: Schema, dialect: str) -> exp.Select:
    """``SELECT <one aggregate per measure> AS m0, m1, ... FROM relation``."""
    traits = traits_for(dialect)
    projections = [exp.alias_(measure_expression(m, schema, traits), f"m{i}", quoted=True)
                   for i, m in enumerate(measures)]
    return exp.Select(expressions=projections).from_(relation.copy())


def top_values_query(m: Measure, relation: exp.Expr, schema: Schema, dialect: str) -> exp.Select:
    """The ``k`` most frequent non-NULL values: by count descending, then value (binary order)."""
    traits = traits_for(dialect)
    column, typ = _col(_column_of(m)), schema[_column_of(m)]
    return (
        exp.Select(expressions=[exp.alias_(column, "v", quoted=True), exp.alias_(_count_star(), "n", quoted=True)])
        .from_(relation.copy())
        .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
        .group_by(column.copy())
        .order_by(exp.Ordered(this=_count_star(), desc=True),
                  exp.Ordered(this=binary(column.copy(), typ, traits), desc=False))
        .limit(exp.Literal.number(m.k))
    )


def duplicates_query(m: Measure, relation: exp.Expr) -> exp.Select:
    """Rows whose key (``columns``, NULLs equal) appears more than once."""
    groups = (
        exp.Select(expressions=[exp.alias_(_count_star(), "n", quoted=True)])
        .from_(relation.copy())
        .group_by(*[_col(c) for c in m.columns])
        .having(exp.GT(this=_count_star(), expression=exp.Literal.number(1)))
    )
    total = _zero_if_null(exp.Sum(this=exp.Column(this=exp.to_identifier("n", quoted=True))))
    return exp.Select(expressions=[exp.alias_(total, "rows", quoted=True)]).from_(
        exp.Subquery(this=groups, alias=exp.TableAlias(this=exp.to_identifier("d", quoted=True)))
    )


def compute_sql(
    connection: SqlConnection, relation: exp.Expr, schema: Schema, measures: Sequence[Measure]
) -> dict[Measure, MetricValue]:
    """Every measure of ``measures`` on ``relation`` (a table of ``connection``), computed in the database."""
    unique = list(dict.fromkeys(measures))
    out = schema_values(unique, schema)
    main = [m for m in unique if m.in_main_query]
    if main:
        sql = to_sql(aggregate_query(main, relation, schema, connection.dialect), connection.dialect)
        row = connection.fetch_arrow(sql).to_pylist()[0]
        for i, m in enumerate(main):
            typ = schema.get(m.column) if m.column is not None else None
            out[m] = normalize(row[f"m{i}"], m.kind, typ)
    for m in unique:
        if m.kind == "top_values":
            sql = to_sql(top_values_query(m, relation, schema, connection.dialect), connection.dialect)
            rows = connection.fetch_arrow(sql).to_pylist()
            typ = schema[_column_of(m)]
            out[m] = tuple(TopValue(normalize_scalar(r["v"], typ), int(r["n"])) for r in rows)
        elif m.kind == "duplicates":
            sql = to_sql(duplicates_query(m, relation), connection.dialect)
            out[m] = normalize(connection.fetch_arrow(sql).to_pylist()[0]["rows"], "duplicates", None)
    return out

"""Load hand data into DuckDB or PostgreSQL and run compiled queries (test helper)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
from psycopg import sql as pgsql
from sqlglot import exp

from tideflow.engines.sql import SqlInput, compile_recipe, to_sql, traits_for
from tideflow.recipes.types import ColumnType, Schema

Table = tuple[Schema, list[tuple[Any, ...]]]


def relation(name: str, db: str | None = None) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier(db, quoted=True) if db else None)


def inputs_for(tables: Mapping[str, Table], db: str | None = None) -> dict[str, SqlInput]:
    return {name: SqlInput(relation(name, db), dict(schema)) for name, (schema, _) in tables.items()}


def _type_sql(dialect: str, typ: ColumnType) -> str:
    return traits_for(dialect).types[typ]


def load_duck(con: duckdb.DuckDBPyConnection, tables: Mapping[str, Table]) -> None:
    for name, (schema, rows) in tables.items():
        cols = ", ".join(f'"{c.replace(chr(34), chr(34) * 2)}" {_type_sql("duckdb", t)}' for c, t in schema.items())
        con.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" ({cols})')
        if rows:
            marks = ", ".join("?" for _ in schema)
            con.executemany(f'INSERT INTO "{name.replace(chr(34), chr(34) * 2)}" VALUES ({marks})', rows)


def load_pg(con: Any, schema_name: str, tables: Mapping[str, Table]) -> None:
    for name, (schema, rows) in tables.items():
        cols = pgsql.SQL(", ").join(
            pgsql.SQL("{} {}").format(pgsql.Identifier(c), pgsql.SQL(_type_sql("postgres", t)))
            for c, t in schema.items()
        )
        target = pgsql.Identifier(schema_name, name)
        con.execute(pgsql.SQL("CREATE TABLE {} ({})").format(target, cols))
        if rows:
            marks = pgsql.SQL(", ").join(pgsql.Placeholder() for _ in schema)
            with con.cursor() as cur:
                cur.executemany(pgsql.SQL("INSERT INTO {} VALUES ({})").format(target, marks), rows)


def normalize(value: Any) -> Any:
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return value
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def fetch_duck(con: duckdb.DuckDBPyConnection, query: exp.Query) -> list[tuple[Any, ...]]:
    return [tuple(normalize(v) for v in row) for row in con.execute(to_sql(query, "duckdb")).fetchall()]


def fetch_pg(con: Any, query: exp.Query) -> list[tuple[Any, ...]]:
    with con.cursor() as cur:
        cur.execute(to_sql(query, "postgres"))
        return [tuple(normalize(v) for v in row) for row in cur.fetchall()]


def run_both(
    recipe: Any,
    tables: Mapping[str, Table],
    duck: duckdb.DuckDBPyConnection,
    pg: Any,
    pg_schema: str,
    **kwargs: Any,
) -> dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Compile for both dialects, run, return {output: (duckdb rows, postgres rows)}."""
    load_duck(duck, tables)
    load_pg(pg, pg_schema, tables)
    d = compile_recipe(recipe, inputs_for(tables), "duckdb", **kwargs)
    p = compile_recipe(recipe, inputs_for(tables, pg_schema), "postgres", **kwargs)
    return {name: (fetch_duck(duck, d[name]), fetch_pg(pg, p[name])) for name in d}


def sort_rows(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((v is None, str(type(v)), v if v is not None else 0) for v in r))

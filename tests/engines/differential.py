"""Harness for differential tests: one recipe, the same random inputs, every engine, equal rows.

The memory engine (Polars) is the oracle; DuckDB and PostgreSQL run the compiled SQL.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl
from hypothesis import strategies as st
from psycopg import sql as pgsql
from sqlglot import exp

from tideflow.engines.memory import run_recipe
from tideflow.engines.sql import SqlInput, compile_recipe, discover_pivot_values_query, to_sql
from tideflow.recipes import ColumnType, PivotRecipe, RecipeBase, Schema

# Column names chosen to break naive SQL generation: quotes, semicolons, spaces, unicode.
K = "k"
G = 'grp "x"'
V = "v;drop"
N = "n"
S = "name ü"
D = "day"
TS = "ts"
B = "flag"
ID = "id"

SCHEMA: Schema = {
    ID: ColumnType.INTEGER, K: ColumnType.INTEGER, G: ColumnType.STRING, V: ColumnType.DOUBLE,
    N: ColumnType.INTEGER, S: ColumnType.STRING, D: ColumnType.DATE, TS: ColumnType.TIMESTAMP,
    B: ColumnType.BOOLEAN,
}
POLARS = {ColumnType.INTEGER: pl.Int64, ColumnType.DOUBLE: pl.Float64, ColumnType.STRING: pl.String,
          ColumnType.DATE: pl.Date, ColumnType.TIMESTAMP: pl.Datetime("us"), ColumnType.BOOLEAN: pl.Boolean}
SQL_TYPES = {"duckdb": {ColumnType.INTEGER: "BIGINT", ColumnType.DOUBLE: "DOUBLE", ColumnType.STRING: "VARCHAR",
                        ColumnType.DATE: "DATE", ColumnType.TIMESTAMP: "TIMESTAMP", ColumnType.BOOLEAN: "BOOLEAN"},
             "postgres": {ColumnType.INTEGER: "BIGINT", ColumnType.DOUBLE: "DOUBLE PRECISION",
                          ColumnType.STRING: "TEXT", ColumnType.DATE: "DATE", ColumnType.TIMESTAMP: "TIMESTAMP",
                          ColumnType.BOOLEAN: "BOOLEAN"}}

texts = st.sampled_from(["a", "b", "B", "é", "ü", "  pad ", "", "it's", 'say "hi"', "x;y", "日本", "a-b-c", "12",
                         " 7 ", "3.5", "abc123def",
                         # boolean texts, timestamps without seconds, LIKE's special characters
                         "yes", " N ", "t", "0", "1", "2020-01-01 10:30", "2020-01-01T10:30:15", "2020-01-01 24:00",
                         "a_b", "a%b", "a\\b", "50%"])


# Doubles that are not numbers, or not finite: every engine must agree on them too (docs/recipes.md).
INF, NAN = math.inf, math.nan
specials = st.sampled_from([INF, -INF, NAN, -0.0])


def _rows(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        rows.append({
            ID: i,
            K: draw(st.one_of(st.none(), st.integers(-2, 3))),
            G: draw(st.one_of(st.none(), st.sampled_from(["a", "b", "é", "it's", "x;y"]))),
            V: draw(st.one_of(st.none(), st.integers(-50, 50).map(lambda x: x / 4), specials,
                              st.integers(-100, 100).map(lambda x: x / 10),  # on the edges of 0.1 bins
                              st.floats(-1e3, 1e3, allow_nan=False).map(lambda x: round(x, 3)))),
            N: draw(st.one_of(st.none(), st.integers(-20, 20))),
            S: draw(st.one_of(st.none(), texts)),
            D: draw(st.one_of(st.none(), st.dates(dt.date(1999, 1, 1), dt.date(2030, 12, 31)))),
            TS: draw(st.one_of(st.none(), st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1))
                               .map(lambda t: t if t.microsecond % 2 else t.replace(microsecond=0)))),
            B: draw(st.one_of(st.none(), st.booleans())),
        })
    return rows


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 25) -> list[dict[str, Any]]:
    """Rows of the standard schema: NULLs, duplicates, unicode, empty tables."""
    return _rows(draw, draw(st.integers(0, max_rows)))


def frame(rows: Sequence[Mapping[str, Any]], schema: Schema = SCHEMA) -> pl.DataFrame:
    return pl.DataFrame({c: [r[c] for r in rows] for c in schema}, schema={c: POLARS[t] for c, t in schema.items()})


# ------------------------------------------------------------------ engines


Result = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def run_memory(recipe: RecipeBase, inputs: Mapping[str, pl.DataFrame]) -> Result:
    out = run_recipe(recipe, dict(inputs))  # type: ignore[arg-type]
    return {name: (list(df.columns), [tuple(r) for r in df.rows()]) for name, df in out.items()}


def _load_duckdb(con: duckdb.DuckDBPyConnection, name: str, df: pl.DataFrame) -> None:
    ident = exp.to_identifier(name, quoted=True).sql("duckdb")
    con.execute(f"DROP TABLE IF EXISTS {ident}")
    con.register("__df", df.to_arrow())
    con.execute(f"CREATE TABLE {ident} AS SELECT * FROM __df")
    con.unregister("__df")


def _load_postgres(con: Any, schema_name: str, name: str, df: pl.DataFrame) -> None:
    table = pgsql.Identifier(schema_name, name)
    types = {c: SQL_TYPES["postgres"][_logical(df.schema[c])] for c in df.columns}
    con.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(table))
    cols = pgsql.SQL(", ").join(pgsql.SQL("{} {}").format(pgsql.Identifier(c), pgsql.SQL(types[c]))
                                for c in df.columns)
    con.execute(pgsql.SQL("CREATE TABLE {} ({})").format(table, cols))
    if df.height:
        with con.cursor().copy(pgsql.SQL("COPY {} ({}) FROM STDIN").format(
                table, pgsql.SQL(", ").join(pgsql.Identifier(c) for c in df.columns))) as copy:
            for row in df.rows():
                copy.write_row(row)


def _logical(dtype: pl.DataType) -> ColumnType:
    for logical, pdt in POLARS.items():
        if dtype == pdt:
            return logical
    if dtype.is_integer():
        return ColumnType.INTEGER
    raise AssertionError(f"unexpected dtype {dtype}")


def schema_of_frame(df: pl.DataFrame) -> Schema:
    return {c: _logical(df.schema[c]) for c in df.columns}


def compile_only(recipe: RecipeBase, inputs: Mapping[str, pl.DataFrame], dialect: str) -> None:
    """Plan ``recipe`` for ``dialect`` without a database (pivot values as the memory engine finds them)."""
    sql_inputs = {name: SqlInput(relation=exp.Table(this=exp.to_identifier(name, quoted=True)),
                                 schema=schema_of_frame(df)) for name, df in inputs.items()}
    pivot_values = None
    if isinstance(recipe, PivotRecipe) and recipe.values is None:
        pivot_values = inputs[recipe.inputs[0]].get_column(recipe.column).drop_nulls().unique().sort().to_list()
    compile_recipe(recipe, sql_inputs, dialect, pivot_values=pivot_values)


def run_sql(recipe: RecipeBase, inputs: Mapping[str, pl.DataFrame], dialect: str, con: Any,
            pg_schema: str | None = None) -> Result:
    sql_inputs: dict[str, SqlInput] = {}
    for name, df in inputs.items():
        if dialect == "duckdb":
            _load_duckdb(con, name, df)
            relation: exp.Expression = exp.Table(this=exp.to_identifier(name, quoted=True))
        else:
            assert pg_schema is not None
            _load_postgres(con, pg_schema, name, df)
            relation = exp.Table(this=exp.to_identifier(name, quoted=True),
                                 db=exp.to_identifier(pg_schema, quoted=True))
        sql_inputs[name] = SqlInput(relation=relation, schema=schema_of_frame(df))
    pivot_values = None
    if isinstance(recipe, PivotRecipe) and recipe.values is None:
        query = to_sql(discover_pivot_values_query(recipe, sql_inputs, dialect), dialect)
        pivot_values = [r[0] for r in con.execute(query).fetchall()]
    queries = compile_recipe(recipe, sql_inputs, dialect, pivot_values=pivot_values)
    results: Result = {}
    for name, query in queries.items():
        cur = con.execute(to_sql(query, dialect))
        columns = [d[0] for d in cur.description]
        results[name] = (columns, [tuple(r) for r in cur.fetchall()])
    return results


# ------------------------------------------------------------------ comparison


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return float(f"{value:.9g}") + 0.0
    if hasattr(value, "is_finite") and not isinstance(value, bool | int):  # Decimal
        return float(f"{float(value):.9g}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)  # 2 == 2.0 across engines that widen differently
    return value


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def normalized(rows: list[tuple[Any, ...]], ordered: bool) -> list[tuple[Any, ...]]:
    out = [tuple(_norm(v) for v in r) for r in rows]
    return out if ordered else sorted(out, key=_key)


def assert_same(expected: Result, got: Result, engine: str, ordered: bool = False) -> None:
    assert set(expected) == set(got), f"{engine}: outputs {sorted(got)} != {sorted(expected)}"
    for name in expected:
        assert got[name][0] == expected[name][0], (
            f"{engine} output {name!r}: columns {got[name][0]} differ from the memory engine's {expected[name][0]}")
        want = normalized(expected[name][1], ordered)
        have = normalized(got[name][1], ordered)
        assert have == want, f"{engine} output {name!r} differs from the memory engine:\n got  {have}\n want {want}"

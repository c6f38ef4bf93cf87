"""Every metric computed in DuckDB and in PostgreSQL equals the Polars (memory) computation.

Random tables: NULLs, empty tables, unicode, huge integers (sums beyond 64 bits), column and
table names with quotes, semicolons and spaces. Doubles are compared with a tolerance scaled to
the column's magnitude (summation order differs between engines); everything else exactly.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tideflow.checks import Measure, MetricValue, compute_arrow, compute_sql
from tideflow.connections import SqlConnection
from tideflow.recipes import ColumnType, Schema

from .conftest import arrow_table

SETTINGS = settings(max_examples=int(os.environ.get("TIDE_DIFF_EXAMPLES", "40")), deadline=None,
                    derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                             HealthCheck.too_slow])

TABLE = 'my "table"; drop'
SCHEMA: Schema = {
    "id": ColumnType.INTEGER,
    'big "n"': ColumnType.INTEGER,
    "v;drop": ColumnType.DOUBLE,
    "name ü": ColumnType.STRING,
    "day": ColumnType.DATE,
    "ts x": ColumnType.TIMESTAMP,
    "flag": ColumnType.BOOLEAN,
}
BIG = 2**62
texts = st.one_of(
    st.sampled_from(["a", "B", "b", "é", "ü", " pad ", "", "it's", 'say "hi"', "x;y", "日本", "\t"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4),
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 30))
    ints = draw(st.sampled_from([st.integers(-3, 3), st.integers(-BIG, BIG)]))
    return [{
        "id": draw(_maybe(st.integers(0, 6))),
        'big "n"': draw(_maybe(ints)),
        "v;drop": draw(_maybe(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, -0.0, 0.5])))),
        "name ü": draw(_maybe(texts)),
        "day": draw(_maybe(st.dates(dt.date(1970, 1, 1), dt.date(2100, 1, 1)))),
        "ts x": draw(_maybe(st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2040, 1, 1)))),
        "flag": draw(_maybe(st.booleans())),
    } for _ in range(n)]


def all_measures(data: list[dict[str, Any]]) -> list[Measure]:
    out = [Measure("record_count"), Measure("column_count"), Measure("schema_fingerprint"),
           Measure("duplicates", columns=("id",)), Measure("duplicates", columns=("id", "flag", "name ü"))]
    for column, typ in SCHEMA.items():
        kinds = ["nulls", "distinct_count", "min", "max"] + (["avg", "sum", "stddev"] if typ.is_numeric else [])
        out += [Measure(k, column=column) for k in kinds]
        out.append(Measure("top_values", column=column, k=3))
    seen = [r["name ü"] for r in data if r["name ü"] is not None][:2]
    out.append(Measure("outside_set", column="name ü", values=tuple(dict.fromkeys(["a", "it's", *seen]))))
    out.append(Measure("outside_set", column="id", values=(0, 1, 2)))
    out.append(Measure("outside_set", column="day", values=(dt.date(2000, 1, 1),)))
    return out


def _close(a: float | None, b: float | None, scale: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale + 1e-12)


def assert_same(m: Measure, got: MetricValue, want: MetricValue, data: list[dict[str, Any]], engine: str) -> None:
    where = f"{engine}: {m.label}: got {got!r}, memory {want!r}"
    if m.kind in ("avg", "stddev") or (m.kind == "sum" and SCHEMA.get(m.column or "") == ColumnType.DOUBLE):
        values = [abs(float(r[m.column or ""])) for r in data if r[m.column or ""] is not None]
        scale = max(values, default=0.0) * (len(values) if m.kind == "sum" else 1)
        assert isinstance(got, float | None) and isinstance(want, float | None), where
        assert _close(got, want, scale), where
        return
    assert type(got) is type(want), where
    assert got == want, where


def check_engine(sql: SqlConnection, data: list[dict[str, Any]]) -> None:
    table = arrow_table(data, SCHEMA)
    sql.write_arrow(TABLE, table)
    schema = sql.table_schema(TABLE)
    assert schema == SCHEMA
    measures = all_measures(data)
    in_db = compute_sql(sql, sql.table_ref(TABLE), schema, measures)
    in_memory = compute_arrow(table, measures)
    assert set(in_db) == set(in_memory) == set(measures)
    for m in measures:
        assert_same(m, in_db[m], in_memory[m], data, sql.dialect)


@SETTINGS
@given(data=rows())
def test_duckdb_metrics_equal_memory(duck_sql: SqlConnection, data: list[dict[str, Any]]) -> None:
    check_engine(duck_sql, data)


@SETTINGS
@given(data=rows())
def test_postgres_metrics_equal_memory(pg_sql: SqlConnection, data: list[dict[str, Any]]) -> None:
    check_engine(pg_sql, data)


def test_known_values_on_both_databases(duck_sql: SqlConnection, pg_sql: SqlConnection) -> None:
    """A hand-checked table, so that the oracle itself is pinned."""
    data = [
        {"id": 1, 'big "n"': BIG, "v;drop": 1.5, "name ü": "b", "day": dt.date(2024, 1, 2),
         "ts x": dt.datetime(2024, 1, 2, 3, 4, 5), "flag": True},
        {"id": 1, 'big "n"': BIG, "v;drop": -0.5, "name ü": "B", "day": None, "ts x": None, "flag": False},
        {"id": 2, 'big "n"': None, "v;drop": None, "name ü": "é", "day": dt.date(2023, 5, 1),
         "ts x": dt.datetime(2020, 1, 1), "flag": None},
    ]
    want: dict[Measure, MetricValue] = {
        Measure("record_count"): 3,
        Measure("nulls", column='big "n"'): 1,
        Measure("sum", column='big "n"'): 2 * BIG,  # beyond 64 bits: exact
        Measure("avg", column="v;drop"): 0.5,
        Measure("min", column="name ü"): "B",  # binary order: upper case first
        Measure("max", column="name ü"): "é",
        Measure("min", column="day"): dt.date(2023, 5, 1),
        Measure("max", column="flag"): True,
        Measure("distinct_count", column="id"): 2,
        Measure("duplicates", columns=("id",)): 2,
        Measure("stddev", column="v;drop"): math.sqrt(2.0),
        Measure("outside_set", column="name ü", values=("b", "é")): 1,
    }
    table = arrow_table(data, SCHEMA)
    assert compute_arrow(table, list(want)) == want
    for sql in (duck_sql, pg_sql):
        sql.write_arrow(TABLE, table)
        assert compute_sql(sql, sql.table_ref(TABLE), SCHEMA, list(want)) == want, sql.dialect

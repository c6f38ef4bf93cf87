"""Expressions mixing types that planning accepts give the same rows on DuckDB, PostgreSQL and the
memory engine (a text literal facing another type is read as that type; text functions read their
other arguments as text)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tideflow.recipes import ColumnType

from .cases import recipe
from .test_execution import each_engine

T = ColumnType

TABLES = {
    "t": (
        {"id": T.INTEGER, "n": T.INTEGER, "x": T.DOUBLE, "s": T.STRING, "b": T.BOOLEAN, "d": T.DATE,
         "ts": T.TIMESTAMP},
        [
            (0, 1, 1.5, "1", True, dt.date(2020, 12, 31), dt.datetime(2020, 12, 31, 10, 30)),
            (1, 5, 5.0, "x", False, dt.date(2021, 1, 1), dt.datetime(2020, 12, 31, 10, 30, 1)),
            (2, None, None, None, None, None, None),
        ],
    )
}

EXPRESSIONS = [
    "\"n\" = ' 5 '",
    "'5' < \"n\"",
    "\"n\" BETWEEN '1' AND '3'",
    "'3' BETWEEN \"n\" AND 10",
    "\"n\" IN (1, '5')",
    "'5' IN (\"n\", \"s\")",
    "\"x\" = '1.5'",
    "\"x\" > '1e0'",
    "\"b\" = 'TRUE'",
    "\"d\" = '2020-12-31'",
    "\"d\" IN ('2020-12-31', \"ts\")",
    "\"ts\" > '2020-12-31 10:30'",
    "\"ts\" = '2020-12-31T10:30'",
    "\"ts\" > '2020-12-31'",
    "CASE \"n\" WHEN '5' THEN 'five' WHEN 1 THEN 'one' END",
    "CASE '5' WHEN \"n\" THEN 1 END",
    "NULLIF('05', \"n\")",
    "NULLIF(\"n\", '5')",
    "TRIM(\"s\", 1)",
    "REPLACE(\"n\", 1, 2)",
    "STRPOS(\"n\", 5)",
]


def test_accepted_mixed_types_agree_on_every_engine(duck: Any, pg_conn: Any, pg_schema: str) -> None:
    steps: list[dict[str, Any]] = [{"op": "formula", "column": f"e{i}", "expr": e} for i, e in enumerate(EXPRESSIONS)]
    drop = {"op": "drop", "columns": ["n", "x", "s", "b", "d", "ts"]}
    spec = recipe(type="prepare", inputs=["t"], steps=[*steps, drop])
    rows = each_engine(spec, TABLES, duck, pg_conn, pg_schema)
    assert rows["duckdb"] == rows["memory"]
    assert rows["postgres"] == rows["memory"]
    by_id = {row[0]: row[1:] for row in rows["memory"]}
    assert by_id[1][:6] == (True, False, False, False, True, True)
    assert by_id[1][14:18] == ("five", 1, None, None)
    assert by_id[0][16:18] == ("05", 1)
    assert by_id[0][18:] == ("", "2", 0)


def test_power_beyond_a_double_is_null_and_texts_out_of_double_range_cast_to_null(
        duck: Any, pg_conn: Any, pg_schema: str) -> None:
    """The documented rule on both databases and the memory engine (PostgreSQL raised 'value out of
    range' for POWER and cast a subnormal or an exponent of 5 digits to NULL; DuckDB and the memory
    engine gave inf): a result or a text beyond the largest double is NULL, one below the smallest
    double is 0.0 (never -0.0), subnormals are kept."""
    import math

    tables = {"t": ({"id": T.INTEGER}, [(1,)])}
    exprs = ["POWER(10, 400)", "POWER(-10, 309)", "POWER(2, 1024)", "POWER(10, 1e308)", "POWER(10, -400)",
             "POWER(0.5, 1075)", "POWER(10, 308)", "POWER(0, 5)", "POWER(1, 1e308)",
             "CAST('1E00001' AS DOUBLE)", "CAST('1e400' AS DOUBLE)", "CAST('-1e400' AS DOUBLE)",
             "CAST('1e99999' AS DOUBLE)", "CAST('1e-99999' AS DOUBLE)", "CAST('1e-310' AS DOUBLE)",
             "CAST('1e-400' AS DOUBLE)", "CAST('1.7976931348623157e308' AS DOUBLE)",
             "CAST('1.7976931348623159e308' AS DOUBLE)", "CAST(' 3e-324 ' AS DOUBLE)", "CAST('2e-324' AS DOUBLE)",
             "EXP(710)", "EXP(709)", "EXP(-1000)", "POWER(-0.5, 1075)", "POWER(-0.5, 3)",
             "CAST('-1e-400' AS DOUBLE)", "CAST('-1e-99999' AS DOUBLE)", "CAST('-0' AS DOUBLE)"]
    steps: list[dict[str, Any]] = [{"op": "formula", "column": f"e{i}", "expr": e} for i, e in enumerate(exprs)]
    spec = recipe(type="prepare", inputs=["t"], steps=[*steps, {"op": "drop", "columns": ["id"]}])
    expected = (
        None, None, None, None, 0.0, 0.0, 1e308, 0.0, 1.0,
        10.0, None, None, None, 0.0, 1e-310, 0.0, 1.7976931348623157e308, None, 5e-324, 0.0,
        None, math.exp(709), 0.0, 0.0, -0.125, -0.0, -0.0, -0.0,
    )
    rows = each_engine(spec, tables, duck, pg_conn, pg_schema)
    for engine, got in rows.items():
        assert got == [expected], engine
        signs = [math.copysign(1.0, v) for v in got[0] if isinstance(v, float)]
        assert signs == [math.copysign(1.0, v) for v in expected if isinstance(v, float)], engine

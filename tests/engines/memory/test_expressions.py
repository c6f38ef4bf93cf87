"""Expressions: every allow-listed node, with SQL NULL semantics, on a small frame."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from tideflow.engines.memory.dtypes import schema_of
from tideflow.engines.memory.expressions import compile_condition, compile_expression
from tideflow.errors import ExpressionError

FRAME = pl.DataFrame(
    {
        "a": [7, -7, None, 0],
        "b": [2, 2, 2, 0],
        "x": [2.5, -2.5, None, 0.0],
        "s": ["héllo", "Ab_c", None, ""],
        "d": [dt.date(2020, 1, 2), None, dt.date(2021, 3, 4), dt.date(2020, 1, 1)],
        "ok": [True, None, False, True],
        'q"; x': [1, 2, 3, 4],
    }
)

CASES: list[tuple[str, list[Any]]] = [
    ("a + b", [9, -5, None, 0]),
    ("a + x", [9.5, -9.5, None, 0.0]),
    ("a % b", [1, -1, None, None]),
    ("-7 % 3", [-1]),
    ("7 % -3", [1]),
    ("x % 2", [0.5, -0.5, None, 0.0]),
    ("a / b", [3.5, -3.5, None, None]),
    ("-a", [-7, 7, None, 0]),
    ("round(x)", [3.0, -3.0, None, 0.0]),
    ("round(2.45, 1)", [2.5]),
    ("round(a, -1)", [10, -10, None, 0]),
    ("floor(x)", [2.0, -3.0, None, 0.0]),
    ("ceil(x)", [3.0, -2.0, None, 0.0]),
    ("abs(a)", [7, 7, None, 0]),
    ("sign(x)", [1.0, -1.0, None, 0.0]),
    ("sqrt(a)", [7**0.5, None, None, 0.0]),
    ("ln(a)", [pytest.approx(1.9459101), None, None, None]),
    ("power(b, 3)", [8.0, 8.0, 8.0, 0.0]),
    ("exp(0)", [1.0]),
    ("a > NULL", [None, None, None, None]),
    ("a = 7", [True, False, None, False]),
    ("a <> 7", [False, True, None, True]),
    ("a >= 0 AND a <= 0", [False, False, None, True]),
    ("a IS NULL", [False, False, True, False]),
    ("a IS NOT NULL", [True, True, False, True]),
    ("ok IS TRUE", [True, False, False, True]),
    ("ok IS FALSE", [False, False, True, False]),
    ("a IN (7, 0)", [True, False, None, True]),
    ("a IN (7, NULL)", [True, None, None, None]),
    ("a NOT IN (7, NULL)", [False, None, None, None]),
    ("a BETWEEN 0 AND 7", [True, False, None, True]),
    ("ok AND NULL", [None, None, False, None]),
    ("ok OR NULL", [True, None, None, True]),
    ("NOT ok", [False, None, True, False]),
    ("s LIKE 'h%'", [True, False, None, False]),
    ("s LIKE '_b%'", [False, True, None, False]),
    ("s NOT LIKE '%l%'", [False, True, None, True]),
    ("s ILIKE 'AB_C'", [False, True, None, False]),
    ("s LIKE 'a.b'", [False, False, None, False]),
    ("s LIKE 'Ab\\_c'", [False, True, None, False]),
    ("s LIKE '%\\%'", [False, False, None, False]),
    ("s LIKE 'A\\b\\_%'", [False, True, None, False]),
    ("'a%' LIKE 'a\\%'", [True]),
    ("'ab' LIKE 'a\\%'", [False]),
    ("'a\\b' LIKE 'a\\\\b'", [True]),
    ("'a\\b' LIKE 'a_b'", [True]),
    ("s || '!'", ["héllo!", "Ab_c!", None, "!"]),
    ("concat(s, a, NULL)", ["héllo7", "Ab_c-7", "", "0"]),
    ("upper(s)", ["HÉLLO", "AB_C", None, ""]),
    ("lower(s)", ["héllo", "ab_c", None, ""]),
    ("length(s)", [5, 4, None, 0]),
    ("trim('  a  ')", ["a"]),
    ("ltrim('  a  ')", ["a  "]),
    ("rtrim('  a  ')", ["  a"]),
    ("trim(both 'x' from 'xxaxx')", ["a"]),
    ("substring(s, 2, 2)", ["él", "b_", None, ""]),
    ("substring(s, 0, 2)", ["h", "A", None, ""]),
    ("substring(s, 3)", ["llo", "_c", None, ""]),
    ("substring(s, 2, -1)", [None, None, None, None]),
    ("replace(s, 'l', 'L')", ["héLLo", "Ab_c", None, ""]),
    ("replace(s, '', 'L')", ["héllo", "Ab_c", None, ""]),
    ("strpos(s, 'l')", [3, 0, None, 0]),
    ("strpos(s, '')", [1, 1, None, 1]),
    ("left(s, 2)", ["hé", "Ab", None, ""]),
    ("left(s, -1)", ["héll", "Ab_", None, ""]),
    ("right(s, 2)", ["lo", "_c", None, ""]),
    ("right(s, -1)", ["éllo", "b_c", None, ""]),
    ("year(d)", [2020, None, 2021, 2020]),
    ("month(d)", [1, None, 3, 1]),
    ("day(d)", [2, None, 4, 1]),
    ("d > '2020-01-01'", [True, None, True, False]),
    ("CASE WHEN a > 0 THEN 'p' WHEN a < 0 THEN 'n' END", ["p", "n", None, None]),
    ("CASE a WHEN 7 THEN 1.5 ELSE 0 END", [1.5, 0.0, 0.0, 0.0]),
    ("if(a > 0, a, x)", [7.0, -2.5, None, 0.0]),
    ("coalesce(a, x, 9)", [7.0, -7.0, 9.0, 0.0]),
    ("nullif(a, 0)", [7, -7, None, None]),
    ("greatest(a, b, NULL)", [7, 2, 2, 0]),
    ("least(s, 'b')", ["b", "Ab_c", "b", ""]),
    ('"q""; x" * 2', [2, 4, 6, 8]),
    ("CAST(x AS INTEGER)", [3, -3, None, 0]),
    ("CAST(d AS VARCHAR)", ["2020-01-02", None, "2021-03-04", "2020-01-01"]),
    ("CAST(a AS BOOLEAN)", [True, True, None, False]),
    ("CAST(ok AS INTEGER)", [1, None, 0, 1]),
    ("CAST(a AS DATE)", [None, None, None, None]),
    ("TRY_CAST(s AS INTEGER)", [None, None, None, None]),
    ("CAST('  -12 ' AS BIGINT)", [-12]),
    ("CAST('1.5' AS INTEGER)", [None]),
    ("CAST(' 1e3' AS DOUBLE)", [1000.0]),
    ("CAST('nan' AS DOUBLE)", [None]),
    ("CAST('TRUE' AS BOOLEAN)", [True]),
    ("CAST('yes' AS BOOLEAN)", [True]),
    ("CAST(' N ' AS BOOLEAN)", [False]),
    ("CAST('1' AS BOOLEAN)", [True]),
    ("CAST('0' AS BOOLEAN)", [False]),
    ("CAST('T' AS BOOLEAN)", [True]),
    ("CAST('maybe' AS BOOLEAN)", [None]),
    ("CAST('2021-02-28 10:11' AS TIMESTAMP)", [dt.datetime(2021, 2, 28, 10, 11)]),
    ("CAST('2021-02-28T25:11' AS TIMESTAMP)", [None]),
    ("CAST('2021-02-28 10:11:' AS TIMESTAMP)", [None]),
    ("CAST(0.00001 AS VARCHAR)", ["1e-05"]),
    ("CAST(1e-7 AS VARCHAR)", ["1e-07"]),
    ("CAST(1e16 AS VARCHAR)", ["1e+16"]),
    ("CAST(123.456 AS VARCHAR)", ["123.456"]),
    ("CAST(x * 0 - 0.0 AS VARCHAR)", ["0.0", "-0.0", None, "0.0"]),
    ("CAST(x / 0.0001 AS VARCHAR)", ["25000.0", "-25000.0", None, "0.0"]),
    ("-NULL", [None]),
    ("-(NULL)", [None]),
    ("CAST('2021-02-29' AS DATE)", [None]),
    ("CAST('2021-02-28T10:11:12.5' AS TIMESTAMP)", [dt.datetime(2021, 2, 28, 10, 11, 12, 500000)]),
    ("CAST(CAST('2021-02-28 10:11:12.120' AS TIMESTAMP) AS TEXT)", ["2021-02-28 10:11:12.12"]),
    ("CAST(CAST('2021-02-28' AS TIMESTAMP) AS TEXT)", ["2021-02-28 00:00:00"]),
    ("CAST(true AS VARCHAR)", ["true"]),
    ("CAST(1.0 AS VARCHAR)", ["1.0"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_expression_values(text: str, expected: list[Any]) -> None:
    expr, _ = compile_expression(text, schema_of(FRAME))
    assert FRAME.select(expr.alias("r"))["r"].to_list() == expected


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("a + b", pl.Int64),
        ("a / b", pl.Float64),
        ("a + x", pl.Float64),
        ("length(s)", pl.Int64),
        ("round(a)", pl.Int64),
        ("a > 1", pl.Boolean),
        ("year(d)", pl.Int64),
        ("s || a", pl.String),
    ],
)
def test_expression_dtypes(text: str, dtype: pl.DataType) -> None:
    expr, _ = compile_expression(text, schema_of(FRAME))
    assert FRAME.select(expr.alias("r"))["r"].dtype == dtype


def test_condition_counts_null_as_false() -> None:
    cond = compile_condition("a > 0", schema_of(FRAME))
    assert FRAME.select(cond.alias("r"))["r"].to_list() == [True, False, False, False]


def test_condition_must_be_boolean() -> None:
    with pytest.raises(
        ExpressionError, match=r"recipes/r.yaml at steps\[0\].expr: expected a boolean condition"
    ):
        compile_condition("a + 1", schema_of(FRAME), where="recipes/r.yaml at steps[0].expr")


def test_unknown_column_names_the_nearest() -> None:
    with pytest.raises(ExpressionError, match=r"unknown column 'aa': did you mean 'a'\?"):
        compile_expression("aa + 1", schema_of(FRAME), where="recipes/r.yaml")


def test_incomparable_types_are_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match=r"compare (a value of type )?date.* with (a value of type )?integer"):
        compile_expression("d = 1", schema_of(FRAME))


def test_like_pattern_ending_with_the_escape_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="ends with a lone backslash, the escape character"):
        compile_expression("s LIKE 'a\\'", schema_of(FRAME))


def test_round_needs_literal_decimals() -> None:
    with pytest.raises(ExpressionError, match="ROUND takes an integer literal"):
        compile_expression("round(x, a)", schema_of(FRAME))

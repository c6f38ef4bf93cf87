"""Operand types no engine handles the same way are an ExpressionError when the recipe is planned,
naming both operands and the cast that makes it work; what every engine reads alike stays allowed."""

from __future__ import annotations

import pytest

from tideflow.errors import ExpressionError
from tideflow.recipes.expressions import parse_checked
from tideflow.recipes.operand_types import text_as
from tideflow.recipes.types import ColumnType

T = ColumnType
SCHEMA = {"n": T.INTEGER, "ns": T.STRING, "s": T.STRING, "b": T.BOOLEAN, "ts": T.TIMESTAMP, "d": T.DATE,
          "amount": T.DOUBLE}
WHERE = "recipes/r.yaml at steps[0].expr"


@pytest.mark.parametrize(("text", "message"), [
    ('"n" = "ns"', 'cannot compare integer column "n" with string column "ns": cast one side, as in '
                   'CAST("ns" AS BIGINT)'),
    ("\"n\" = 'x'", "the text 'x' is not an integer (compared with integer column \"n\")"),
    ("\"n\" IN (1, 'x')", "the text 'x' is not an integer (compared with integer column \"n\")"),
    ("\"n\" = '5.0'", "the text '5.0' is not an integer (compared with integer column \"n\")"),
    ('"ns" > 3', 'cannot compare string column "ns" with integer 3: cast one side, as in CAST("ns" AS BIGINT)'),
    ('"s" BETWEEN 1 AND 2', 'cannot compare string column "s" with integer 1: cast one side, as in '
                            'CAST("s" AS BIGINT)'),
    ("COALESCE(\"n\", 'none')", "COALESCE cannot mix integer column \"n\" with the text 'none': cast one side, "
                                "as in CAST(\"n\" AS VARCHAR)"),
    ("GREATEST(\"n\", 'a')", "GREATEST cannot mix integer column \"n\" with the text 'a'"),
    ("COALESCE(\"d\", '2020-01-01')", "COALESCE cannot mix date column \"d\" with the text '2020-01-01': cast one "
                                      "side, as in CAST('2020-01-01' AS DATE)"),
    ("COALESCE(\"b\", 0)", 'COALESCE cannot mix boolean column "b" with integer 0'),
    ('"b" = 1', 'cannot compare boolean column "b" with integer 1: cast one side, as in CAST("b" AS BIGINT)'),
    ('NOT "n"', 'NOT needs a boolean, got integer column "n"'),
    ('IF("n", 1, 0)', 'IF needs a boolean condition, got integer column "n"'),
    ('CASE WHEN "n" THEN 1 END', 'CASE WHEN needs a boolean condition, got integer column "n"'),
    ("CASE \"n\" WHEN 'x' THEN 1 END", "the text 'x' is not an integer"),
    ('"n" AND "b"', 'AND needs booleans, got integer column "n"'),
    ('"b" OR "s"', 'OR needs booleans, got string column "s"'),
    ('"n" IS TRUE', 'IS TRUE needs a boolean, got integer column "n"'),
    ("ts > 1", 'cannot compare timestamp column "ts" with integer 1'),
    ("d = TRUE", 'cannot compare date column "d" with boolean TRUE'),
    ("year(amount) > 1", 'YEAR needs a date, a timestamp or a text, got double column "amount"'),
    ("amount + 'x' > 1", "'+' needs numbers, got the text 'x' in expression"),
    ("\"n\" + '1'", "'+' needs numbers, got the text '1': write 1 without quotes"),
    ('"n" * "b"', "'*' needs numbers, got boolean column \"b\": cast it, as in CAST(\"b\" AS DOUBLE)"),
    ('d - 1', "'-' needs numbers, got date column \"d\""),
    ('-"s"', "'-' needs a number, got string column \"s\""),
    ('ABS("ns")', 'ABS needs a number, got string column "ns"'),
    ('SQRT("b")', 'SQRT needs a number, got boolean column "b"'),
    ('POWER("s", 2)', 'POWER needs numbers, got string column "s"'),
    ('LEFT("s", "d")', 'LEFT needs a number of characters, got date column "d"'),
    ('SUBSTRING("s", \'1\')', "SUBSTRING needs numbers for its start and length, got the text '1'"),
    ("NULLIF(\"n\", 'x')", "the text 'x' is not an integer"),
    ("\"d\" = '2020-12-31 10:00:00'", "the text '2020-12-31 10:00:00' is not a date (compared with date column "
                                      "\"d\"): write 'YYYY-MM-DD'"),
    ("\"ts\" > '2020-12-31 25:00'", "the text '2020-12-31 25:00' is not a timestamp"),
    ("\"ts\" > '2020-12-31 10:30:00.1234567'", "is not a timestamp"),
    ("\"b\" = 'yes'", "the text 'yes' is not a boolean (compared with boolean column \"b\"): write true or false"),
    ("\"amount\" > '1e400'", "the text '1e400' is not a double"),
    ("\"n\" = '9223372036854775808'", "is not an integer"),
])
def test_mixed_types_are_refused_when_planned(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_checked(text, SCHEMA, where=WHERE)
    assert str(info.value).startswith(f"{WHERE}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "typ"), [
    ("\"ts\" > '2020-12-31 10:30'", T.BOOLEAN),
    ("\"ts\" > '2020-12-31'", T.BOOLEAN),
    ("\"ts\" = '2020-12-31T10:30:00.123456'", T.BOOLEAN),
    ("'2020-12-31' < \"d\"", T.BOOLEAN),
    ("\"n\" = '5'", T.BOOLEAN),
    ("\"n\" = ' -5 '", T.BOOLEAN),
    ("\"n\" BETWEEN '1' AND 3", T.BOOLEAN),
    ("\"n\" IN (1, '2', NULL)", T.BOOLEAN),
    ("\"amount\" > '1e-5'", T.BOOLEAN),
    ("\"b\" = 'TRUE'", T.BOOLEAN),
    ('"n" = "amount"', T.BOOLEAN),
    ('"d" < "ts"', T.BOOLEAN),
    ('"n" = NULL', T.BOOLEAN),
    ('NOT NULL', T.BOOLEAN),
    ('"n" + 1.5', T.DOUBLE),
    ('COALESCE("n", 2.5)', T.DOUBLE),
    ('COALESCE("d", "ts")', T.TIMESTAMP),
    ("COALESCE(\"s\", 'none')", T.STRING),
    ("CASE WHEN \"b\" THEN 1 ELSE 'x' END", T.STRING),
    ("CASE \"n\" WHEN '5' THEN 'five' END", T.STRING),
    ('YEAR("s")', T.INTEGER),
    ('LEFT("s", 1.6)', T.STRING),
    ("\"n\" || 'x'", T.STRING),
    ("\"n\" LIKE '1%'", T.BOOLEAN),
    ("REPLACE(\"n\", 1, 2)", T.STRING),
    ('CAST("ns" AS BIGINT) = "n"', T.BOOLEAN),
    ('"b" IS NOT TRUE', T.BOOLEAN),
])
def test_what_every_engine_reads_alike_stays_allowed(text: str, typ: ColumnType) -> None:
    assert parse_checked(text, SCHEMA)[1] == typ


@pytest.mark.parametrize(("text", "typ", "ok"), [
    ("5", T.INTEGER, True), (" +5 ", T.INTEGER, True), ("5.0", T.INTEGER, False), ("\t5", T.INTEGER, False),
    ("1_000", T.INTEGER, False), ("1.5", T.DOUBLE, True), (".5", T.DOUBLE, True), ("5.", T.DOUBLE, True),
    ("1E+05", T.DOUBLE, True), ("1e-310", T.DOUBLE, True), ("1e-400", T.DOUBLE, False), ("0e-400", T.DOUBLE, True),
    ("inf", T.DOUBLE, False), ("0x10", T.DOUBLE, False), ("true", T.BOOLEAN, True), ("t", T.BOOLEAN, False),
    ("2020-02-29", T.DATE, True), ("2021-02-29", T.DATE, False), ("2020-2-3", T.DATE, False),
    ("0000-01-01", T.DATE, False), ("2020-12-31", T.TIMESTAMP, True), ("2020-12-31 24:00:00", T.TIMESTAMP, False),
    ("2020-12-31 23:59:60", T.TIMESTAMP, False), ("2020-12-31 10:30:00Z", T.TIMESTAMP, False),
])
def test_texts_that_read_as_a_type(text: str, typ: ColumnType, ok: bool) -> None:
    assert text_as(text, typ) is ok

"""Values written in a recipe (rule, fill, replace and pivot values) that do not fit the column are a
ProjectError when the recipe is compiled (planning), naming the key path, the expected type and the
value; the conversion rules are the memory engine's."""

from __future__ import annotations

import datetime as dt

import pytest

from tideflow.engines.sql import compile_recipe
from tideflow.engines.sql.build import convert_value
from tideflow.errors import ProjectError
from tideflow.recipes import ColumnType

from .cases import TABLES, recipe
from .harness import inputs_for

T = ColumnType
INPUTS = inputs_for(TABLES)


def compile_duck(**spec: object) -> object:
    return compile_recipe(recipe(**spec), INPUTS, "duckdb", where="recipes/r.yaml")


@pytest.mark.parametrize(("step", "message"), [
    ({"op": "fill_empty", "columns": ["qty"], "value": 2.5},
     r"recipes/r.yaml at steps\[0\].value: expected an integer value, got 2.5$"),
    ({"op": "fill_empty", "columns": ["qty"], "value": True},
     r"recipes/r.yaml at steps\[0\].value: expected an integer value, got True$"),
    ({"op": "fill_empty", "columns": ["qty"], "value": "1_000"}, r"expected an integer value, got '1_000'$"),
    ({"op": "fill_empty", "columns": ["day"], "value": "20201231"}, r"expected a date value, got '20201231'$"),
    ({"op": "fill_empty", "columns": ["ts"], "value": "2020-12-31 10:30:00+02:00"},
     r"expected a timestamp value, got '2020-12-31 10:30:00\+02:00'$"),
    ({"op": "fill_empty", "columns": ["amount"], "value": "inf"}, r"expected a double value, got 'inf'$"),
    ({"op": "filter", "rules": [{"column": "qty", "op": "gt", "value": 1.5}]},
     r"recipes/r.yaml at steps\[0\].rules\[0\].value: expected an integer value, got 1.5$"),
    ({"op": "replace", "columns": ["qty"], "replacements": [{"old": 1.5, "new": 9}]},
     r"recipes/r.yaml at steps\[0\].replacements\[0\].old: expected an integer value, got 1.5 "
     r"\(column 'qty' is integer: it could never match\)$"),
    ({"op": "replace", "columns": ["qty", "id"], "replacements": [{"old": 2, "new": 3}, {"old": True, "new": 9}]},
     r"at steps\[0\].replacements\[1\].old: expected an integer value, got True \(columns 'qty' is integer, "
     r"'id' is integer: it could never match\)$"),
    ({"op": "replace", "columns": ["qty"], "replacements": [{"old": 1, "new": 2.5}]},
     r"at steps\[0\].replacements\[0\].new: expected an integer value, got 2.5$"),
])
def test_a_value_that_does_not_fit_its_column_is_refused(step: dict[str, object], message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        compile_duck(type="prepare", steps=[step])


def test_a_replacement_that_fits_one_of_its_columns_is_kept() -> None:
    compile_duck(type="prepare", steps=[{"op": "replace", "columns": ["customer", "qty"],
                                         "replacements": [{"old": "n/a", "new": "0"}]}])


@pytest.mark.parametrize(("value", "typ", "expected"), [
    (" 7 ", T.INTEGER, 7), (7.0, T.INTEGER, 7), ("1e-5", T.DOUBLE, 1e-5), (3, T.DOUBLE, 3.0),
    ("Yes", T.BOOLEAN, True), (0, T.BOOLEAN, False), ("2020-12-31", T.DATE, "2020-12-31"),
    (dt.date(2020, 1, 2), T.TIMESTAMP, "2020-01-02 00:00:00"), ("2020-12-31T10:30", T.TIMESTAMP,
                                                                 "2020-12-31 10:30:00"),
    (7.0, T.STRING, "7.0"), (1e-05, T.STRING, "1e-05"), (False, T.STRING, "false"), (None, T.INTEGER, None),
])
def test_values_convert_by_the_memory_engines_rules(value: object, typ: ColumnType, expected: object) -> None:
    assert convert_value(value, typ) == expected


@pytest.mark.parametrize(("value", "typ"), [
    ("\t7", T.INTEGER), (2**63, T.INTEGER), (1.0, T.BOOLEAN), ("on", T.BOOLEAN), (dt.datetime(2020, 1, 1), T.DATE),
    (5, T.DATE), ("2020-02-30", T.DATE), ("1e400", T.DOUBLE), (True, T.DOUBLE),
])
def test_values_that_do_not_convert(value: object, typ: ColumnType) -> None:
    with pytest.raises(ValueError):
        convert_value(value, typ)

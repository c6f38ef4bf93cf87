"""The public API of the memory engine, dtypes, and recipe-level errors."""

from __future__ import annotations

import datetime as dt
import decimal

import polars as pl
import pytest

import tideflow.engines.memory as memory
from tideflow.engines.memory import normalize, run_recipe, schema_of
from tideflow.errors import BuildError, ProjectError
from tideflow.recipes.types import ColumnType

from .helpers import recipe


def test_public_api_is_pinned() -> None:
    assert sorted(memory.__all__) == ["normalize", "run_recipe", "schema_of"]


def test_schema_of_and_normalize() -> None:
    frame = pl.DataFrame(
        {
            "i8": pl.Series([1], dtype=pl.Int8),
            "u32": pl.Series([2], dtype=pl.UInt32),
            "f32": pl.Series([1.5], dtype=pl.Float32),
            "dec": pl.Series([decimal.Decimal("1.25")]),
            "s": ["é"],
            "b": [True],
            "d": [dt.date(2020, 1, 1)],
            "ts": pl.Series([dt.datetime(2020, 1, 1, 12)], dtype=pl.Datetime("ns")),
            "tz": pl.Series([dt.datetime(2020, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))]),
        }
    )
    assert schema_of(frame) == {
        "i8": ColumnType.INTEGER,
        "u32": ColumnType.INTEGER,
        "f32": ColumnType.DOUBLE,
        "dec": ColumnType.DOUBLE,
        "s": ColumnType.STRING,
        "b": ColumnType.BOOLEAN,
        "d": ColumnType.DATE,
        "ts": ColumnType.TIMESTAMP,
        "tz": ColumnType.TIMESTAMP,
    }
    out = normalize(frame)
    assert list(out.schema.values()) == [
        pl.Int64,
        pl.Int64,
        pl.Float64,
        pl.Float64,
        pl.String,
        pl.Boolean,
        pl.Date,
        pl.Datetime("us"),
        pl.Datetime("us"),
    ]
    assert out["tz"][0] == dt.datetime(2020, 1, 1, 10)


def test_unsupported_dtype() -> None:
    with pytest.raises(Exception, match="column 'l' has the unsupported type"):
        schema_of(pl.DataFrame({"l": [[1, 2]]}))


def test_sql_recipe_is_refused_with_a_clear_message() -> None:
    with pytest.raises(BuildError, match="SQL recipes run on a SQL engine"):
        run_recipe(recipe("sql", sql="select 1"), {"in": pl.DataFrame({"a": [1]})})


def test_missing_input_frame() -> None:
    with pytest.raises(ProjectError, match=r"missing input frame\(s\) \['in'\]"):
        run_recipe(recipe("sort", order_by=[{"column": "a"}]), {"inn": pl.DataFrame({"a": [1]})})


def test_single_input_kinds_reject_several_inputs() -> None:
    with pytest.raises(ProjectError, match="a sort recipe takes exactly one input"):
        run_recipe(
            recipe("sort", inputs=["a", "b"], order_by=[{"column": "x"}]),
            {"a": pl.DataFrame({"x": [1]}), "b": pl.DataFrame({"x": [1]})},
        )

"""Polars dtypes <-> Tideflow logical types: ``schema_of`` and ``normalize``."""

from __future__ import annotations

import polars as pl

from tideflow.errors import TideflowError
from tideflow.recipes.types import ColumnType, Schema

CANONICAL: dict[ColumnType, pl.DataType] = {
    ColumnType.BOOLEAN: pl.Boolean(),
    ColumnType.INTEGER: pl.Int64(),
    ColumnType.DOUBLE: pl.Float64(),
    ColumnType.STRING: pl.String(),
    ColumnType.DATE: pl.Date(),
    ColumnType.TIMESTAMP: pl.Datetime("us"),
}


def column_type(dtype: pl.DataType, column: str = "?") -> ColumnType:
    """The logical type of a Polars dtype; an unsupported dtype is a ``TideflowError``.

    A column of the ``Null`` dtype (every value NULL, type unknown) reads as ``string``.
    """
    if dtype.is_integer():
        return ColumnType.INTEGER
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return ColumnType.DOUBLE
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return ColumnType.STRING
    if isinstance(dtype, pl.Boolean):
        return ColumnType.BOOLEAN
    if isinstance(dtype, pl.Date):
        return ColumnType.DATE
    if isinstance(dtype, pl.Datetime):
        return ColumnType.TIMESTAMP
    raise TideflowError(
        f"column {column!r} has the unsupported type {dtype}: expected an integer, float, decimal, string,"
        " boolean, date or datetime column"
    )


def schema_of(frame: pl.DataFrame) -> Schema:
    """The logical schema of ``frame`` (column name -> ``ColumnType``), in column order."""
    return {name: column_type(dtype, name) for name, dtype in frame.schema.items()}


def normalize(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast every column to its canonical dtype: Int64, Float64, String, Boolean, Date, Datetime("us").

    A time-zone-aware datetime is converted to UTC and the zone dropped.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        target = CANONICAL[column_type(dtype, name)]
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        if dtype == target:
            exprs.append(col)
        else:
            exprs.append(col.cast(target))
    return frame.select(exprs) if exprs else frame

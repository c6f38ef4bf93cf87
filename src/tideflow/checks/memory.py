"""The same metrics computed in memory with Polars over Arrow: for datasets stored as files, and
the oracle the in-database computation is tested against. Semantics follow SQL: aggregates skip
NULLs, ``sum``/``avg``/``min``/``max`` of no values are NULL, ``stddev`` is the sample deviation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from tideflow.checks.measures import Measure, MetricValue, TopValue, normalize, normalize_scalar, schema_values
from tideflow.connections import arrow_logical_type
from tideflow.recipes import ColumnType, Schema


def arrow_schema(table: pa.Table) -> Schema:
    return {f.name: arrow_logical_type(f.type) for f in table.schema}


def _series(frame: pl.DataFrame, name: str, typ: ColumnType) -> pl.Series:
    """The column, with -0.0 folded into 0.0 (SQL groups and compares them as one value)."""
    series = frame.get_column(name)
    if typ == ColumnType.DOUBLE:
        series = series.cast(pl.Float64) + 0.0
    return series


def _one(m: Measure, frame: pl.DataFrame, schema: Schema) -> MetricValue:
    if m.kind == "record_count":
        return frame.height
    if m.kind == "duplicates":
        keys = pl.DataFrame({f"k{i}": _series(frame, c, schema[c]) for i, c in enumerate(m.columns)})
        counts = keys.group_by(keys.columns).len()
        return int(counts.filter(pl.col("len") > 1).get_column("len").sum())
    if m.column is None:
        raise ValueError(f"measure {m.kind!r} needs a column")
    typ = schema[m.column]
    series = _series(frame, m.column, typ)
    values = series.drop_nulls()
    raw: Any
    if m.kind == "nulls":
        raw = series.null_count()
    elif m.kind == "distinct_count":
        raw = values.n_unique()
    elif m.kind in ("min", "max"):
        raw = None if values.is_empty() else (values.min() if m.kind == "min" else values.max())
    elif m.kind == "avg":
        raw = None if values.is_empty() else values.cast(pl.Float64).mean()
    elif m.kind == "sum":
        if values.is_empty():
            raw = None
        elif typ == ColumnType.INTEGER:
            raw = values.cast(pl.Int128).sum()  # exact, like the databases' wide integer sums
        else:
            raw = values.cast(pl.Float64).sum()
    elif m.kind == "stddev":
        raw = None if values.len() < 2 else values.cast(pl.Float64).std(ddof=1)
    elif m.kind == "outside_set":
        raw = int((~values.is_in(list(m.values))).sum())
    elif m.kind == "top_values":
        return _top_values(values, m.k, typ)
    else:
        raise ValueError(f"unknown measure {m.kind!r}")
    return normalize(raw, m.kind, typ)


def _top_values(values: pl.Series, k: int, typ: ColumnType) -> tuple[TopValue, ...]:
    counts = values.rename("v").value_counts(name="n")
    counts = counts.sort(["n", "v"], descending=[True, False]).head(k)
    return tuple(TopValue(normalize_scalar(v, typ), int(n)) for v, n in counts.iter_rows())


def compute_arrow(table: pa.Table, measures: Sequence[Measure]) -> dict[Measure, MetricValue]:
    """Every measure of ``measures`` on an Arrow table, computed by Polars."""
    schema = arrow_schema(table)
    unique = list(dict.fromkeys(measures))
    out = schema_values(unique, schema)
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError("expected a table, got a single column")
    for m in unique:
        if m not in out:
            out[m] = _one(m, frame, schema)
    return out

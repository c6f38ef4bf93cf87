"""Arrow tables as what the statistics and the model need: typed columns, a pandas frame, a fingerprint."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from tideflow.errors import ProjectError, did_you_mean
from tideflow.models.frames import text_values
from tideflow.monitoring.drift import FeatureKind, feature_kind


def numeric_column(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values with NaN for missing; dates and timestamps as seconds since the epoch."""
    t = column.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        micros = column.cast(pa.timestamp("us")).cast(pa.int64())
        values = micros.to_numpy(zero_copy_only=False).astype("float64") if micros.null_count == 0 else np.array(
            [np.nan if v is None else v for v in micros.to_pylist()], dtype="float64")
        return values / 1e6
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
    if pa.types.is_null(t):
        return np.full(len(column), np.nan)
    try:
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ProjectError(f"column of type {t} cannot be read as numbers") from None


def category_column(column: pa.ChunkedArray | pa.Array) -> list[str | None]:
    return [None if v is None else str(v) for v in column.to_pylist()]


def feature_columns(table: pa.Table, kinds: dict[str, FeatureKind], *, what: str) -> dict[str, Any]:
    """Each feature of ``kinds`` from ``table``: numeric arrays or category lists. Missing columns are an error."""
    missing = [c for c in kinds if c not in table.column_names]
    if missing:
        hint = did_you_mean(missing[0], table.column_names)
        raise ProjectError(f"{what} lacks the model's input column(s) {', '.join(map(repr, missing))}{hint} "
                           f"(it has: {', '.join(table.column_names) or 'none'})")
    return {name: numeric_column(table.column(name)) if kind == "numeric" else category_column(table.column(name))
            for name, kind in kinds.items()}


def kinds_of(input_schema: dict[str, str]) -> dict[str, FeatureKind]:
    return {name: feature_kind(str(typ)) for name, typ in input_schema.items()}


def model_frame(table: pa.Table, columns: list[str]) -> Any:
    """A pandas frame as the Lab trains on: float64 numbers (NaN missing), object strings, datetime64."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name in columns:
        column = table.column(name)
        t = column.type
        if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            data[name] = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            data[name] = pd.to_datetime(pd.Series(column.cast(pa.timestamp("us")).to_pylist(), dtype="object"))
        else:
            data[name] = text_values(column.cast(pa.string()).to_pylist())
    return pd.DataFrame(data)



def fingerprint(table: pa.Table) -> str:
    """A content hash of the rows and schema (16 hex digits)."""
    digest = hashlib.sha256(str(table.schema).encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks() if table.num_rows else table)
    digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()[:16]


def sample_rows(table: pa.Table, max_rows: int, seed: int) -> pa.Table:
    """At most ``max_rows`` rows drawn without replacement (in their original order), seeded."""
    if table.num_rows <= max_rows:
        return table
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(table.num_rows, max_rows, replace=False))
    return table.take(pa.array(keep))

"""What gets computed: ``Measure`` (a metric, or what a check needs) and typed metric values.

A ``Measure`` is the hashable key of one computed value. User metrics map one to one; the
``in_set`` and ``unique`` rules add two internal kinds (``outside_set``, ``duplicates``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tideflow.project.checks_specs import MetricSpec
from tideflow.project.yamlfile import describe_value
from tideflow.recipes import ColumnType, Schema

Scalar = bool | int | float | str | dt.date | dt.datetime


@dataclass(frozen=True)
class TopValue:
    """One of the most frequent non-NULL values of a column, with its row count."""

    value: Scalar
    count: int


MetricValue = Scalar | tuple[TopValue, ...] | None

NUMERIC_ONLY = ("avg", "sum", "stddev")
COUNTS = ("record_count", "column_count", "nulls", "distinct_count", "outside_set", "duplicates")


@dataclass(frozen=True)
class Measure:
    """One value to compute on a dataset.

    ``kind`` is a metric kind or an internal one: ``outside_set`` (rows whose non-NULL ``column``
    is not in ``values``) and ``duplicates`` (rows whose ``columns`` key appears more than once).
    """

    kind: str
    column: str | None = None
    k: int = 0
    columns: tuple[str, ...] = ()
    values: tuple[Scalar, ...] = field(default=())

    @property
    def key(self) -> str:
        """A stable text key (history rows are stored under it)."""
        payload: dict[str, Any] = {"kind": self.kind}
        if self.column is not None:
            payload["column"] = self.column
        if self.kind == "top_values":
            payload["k"] = self.k
        if self.columns:
            payload["columns"] = list(self.columns)
        if self.values:
            payload["values"] = [encode_value(v) for v in self.values]
        return json.dumps(payload, sort_keys=True, ensure_ascii=False)

    @property
    def label(self) -> str:
        if self.kind == "top_values":
            return f"top_values({self.column}, k={self.k})"
        if self.kind == "duplicates":
            return f"duplicates({', '.join(self.columns)})"
        return f"{self.kind}({self.column})" if self.column is not None else self.kind

    @property
    def in_main_query(self) -> bool:
        """Computed by the one aggregate query (others: own query, or from the schema)."""
        return self.kind not in ("top_values", "duplicates", "column_count", "schema_fingerprint")


def measure_of(spec: MetricSpec) -> Measure:
    return Measure(kind=spec.metric, column=spec.column, k=spec.k if spec.metric == "top_values" else 0)


def schema_fingerprint(schema: Schema) -> str:
    """A hash of the ordered (column name, logical type) pairs."""
    payload = json.dumps([[name, str(typ)] for name, typ in schema.items()], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def schema_values(measures: Sequence[Measure], schema: Schema) -> dict[Measure, MetricValue]:
    """The measures answered by the schema alone (no data read)."""
    out: dict[Measure, MetricValue] = {}
    for m in measures:
        if m.kind == "column_count":
            out[m] = len(schema)
        elif m.kind == "schema_fingerprint":
            out[m] = schema_fingerprint(schema)
    return out


def normalize(value: Any, kind: str, typ: ColumnType | None) -> MetricValue:
    """A raw value from a database or Polars -> the typed value every engine agrees on."""
    if value is None:
        return None
    if kind in COUNTS:
        return int(value)
    if kind in ("avg", "stddev"):
        return _float(value)
    if kind == "sum":
        if typ == ColumnType.INTEGER:
            return int(value)
        return _float(value)
    return normalize_scalar(value, typ)


def normalize_scalar(value: Any, typ: ColumnType | None) -> Scalar:
    if typ == ColumnType.INTEGER:
        return int(value)
    if typ == ColumnType.DOUBLE:
        return _float(value)
    if typ == ColumnType.BOOLEAN:
        return bool(value)
    if typ == ColumnType.TIMESTAMP and isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is not None else value
    if typ == ColumnType.DATE and isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, Decimal):
        return _float(value)
    return value


def _float(value: Any) -> float:
    out = float(value)
    return 0.0 if out == 0 else out  # -0.0 and 0.0 are one value


# ------------------------------------------------------------------ JSON encoding (history, CLI)


def encode_value(value: MetricValue) -> Any:
    """A JSON-safe form of a metric value (dates and timestamps tagged)."""
    if isinstance(value, tuple):
        return [{"value": encode_value(t.value), "count": t.count} for t in value]
    if isinstance(value, dt.datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return value


def decode_value(data: Any) -> MetricValue:
    if isinstance(data, list):
        return tuple(TopValue(value=_decode_scalar(d["value"]), count=int(d["count"])) for d in data)
    if data is None:
        return None
    return _decode_scalar(data)


def _decode_scalar(data: Any) -> Scalar:
    if isinstance(data, Mapping):
        if "timestamp" in data:
            return dt.datetime.fromisoformat(str(data["timestamp"]))
        return dt.date.fromisoformat(str(data["date"]))
    return data


def show_value(value: MetricValue) -> str:
    """Human text of a value: ``12``, ``0.25``, ``'ann'``, ``2024-01-31``, ``'a' (3), 'b' (2)``."""
    if value is None:
        return "NULL"
    if isinstance(value, tuple):
        return ", ".join(f"{show_value(t.value)} ({t.count})" for t in value) or "(none)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------ checking measures against a schema


_ORDERED = (ColumnType.INTEGER, ColumnType.DOUBLE, ColumnType.STRING, ColumnType.DATE, ColumnType.TIMESTAMP,
            ColumnType.BOOLEAN)


def type_problem(measure: Measure, typ: ColumnType) -> str | None:
    """Why ``measure`` cannot be computed on a column of type ``typ`` (None: it can)."""
    if measure.kind in NUMERIC_ONLY and not typ.is_numeric:
        return f"{measure.kind} needs an integer or double column, got {measure.column!r} of type {typ}"
    if measure.kind in ("min", "max") and typ not in _ORDERED:
        return f"{measure.kind} cannot order {typ.with_article} column"
    return None


def coerce_value(value: Scalar, typ: ColumnType) -> Scalar:
    """``value`` (from YAML) as a value of a ``typ`` column; ``ValueError`` saying expected/got."""
    bad = ValueError(f"expected {typ.with_article} value, got {describe_value(value)}")
    if typ == ColumnType.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise bad
    if isinstance(value, bool):
        raise bad
    if typ == ColumnType.INTEGER:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        raise bad
    if typ == ColumnType.DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, dt.date) and float(value) == float(value) \
                and abs(float(value)) != float("inf"):
            return _float(value)
        raise bad
    if typ == ColumnType.STRING:
        if isinstance(value, str):
            return value
        raise bad
    try:
        if typ == ColumnType.DATE:
            if isinstance(value, dt.datetime):
                raise bad
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time())
        return dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise bad from None

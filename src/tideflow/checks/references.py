"""What a dataset's metrics and checks need of its schema, verified without reading a row.

One set of rules, worded once. The planner applies them to the schema a dataset will have (a recipe
output's inferred schema, a source's stored one) before anything runs; the runner applies them to the
real schema when the checks run, which is where they are found when only running can tell (the output
of a Python recipe). ``evaluate`` words the problems it can only see in measured values (a saved model's
drift metric, another dataset's recorded value) with the same functions, from the type of the value.

Each problem is a ``ProjectError`` naming the file, the key path (``checks[2].column``), what the
check takes (the dataset's columns, the types it compares with), what it got and the nearest name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Literal

from tideflow.checks.measures import coerce_value, measure_of, type_problem
from tideflow.errors import ProjectError, a, did_you_mean
from tideflow.project.checks_specs import (
    CheckSpec,
    CompareCheck,
    InSetCheck,
    MetricRef,
    MetricSpec,
    UniqueCheck,
    WithinRangeCheck,
)
from tideflow.project.yamlfile import describe_value
from tideflow.recipes import ColumnType, Schema
from tideflow.recipes.types import scalar_type

#: The type of a metric's value: a column type, ``top_values`` (a list of values), or None (known by running).
ValueType = ColumnType | Literal["top_values"] | None
#: The schema of another dataset, when known (the planner); None at run time, where it reads the history.
SchemaOf = Callable[[str], Schema | None]

_INTEGER_METRICS = ("record_count", "column_count", "nulls", "distinct_count")
_BOUNDS = {
    ColumnType.INTEGER: "a number", ColumnType.DOUBLE: "a number", ColumnType.STRING: "a string",
    ColumnType.BOOLEAN: "a boolean (true or false)", ColumnType.DATE: "a date such as 2024-01-31",
    ColumnType.TIMESTAMP: "a timestamp or a date such as 2024-01-31 08:00:00",
}


# ------------------------------------------------------------------ types of values


def metric_type(ref: MetricSpec, schema: Schema | None) -> ValueType:
    """The type of ``ref``'s value on a dataset of ``schema`` (None: unknown until measured)."""
    if isinstance(ref, MetricRef) and ref.model is not None:
        return None  # a saved model's drift metric, read from the history
    if ref.metric in _INTEGER_METRICS:
        return ColumnType.INTEGER
    if ref.metric in ("avg", "stddev"):
        return ColumnType.DOUBLE
    if ref.metric == "schema_fingerprint":
        return ColumnType.STRING
    if ref.metric == "top_values":
        return "top_values"
    if schema is None or ref.column is None or ref.column not in schema:
        return None
    typ = schema[ref.column]
    if ref.metric == "sum":
        return ColumnType.INTEGER if typ == ColumnType.INTEGER else ColumnType.DOUBLE
    return typ  # min, max


def value_type(value: object) -> ValueType:
    """The type of a measured or recorded value (None for NULL); a tuple is a metric's top values."""
    return "top_values" if isinstance(value, tuple) else scalar_type(value)


def _typed(typ: ValueType) -> str:
    return "a list of values" if typ == "top_values" else a(str(typ))


# ------------------------------------------------------------------ the wording (plan time and run time)


def unknown_column(column: str, schema: Schema, what: str, file: str | None, key_path: str,
                   owner: str = "the dataset") -> ProjectError:
    listing = ", ".join(repr(c) for c in schema) or "none"
    return ProjectError(f"{what}: unknown column {column!r}{did_you_mean(column, schema)} "
                        f"({owner} has: {listing})", file=file, key_path=key_path)


def bound_problem(label: str, typ: ValueType, bound: object) -> str | None:
    """Why ``bound`` (a ``min`` or ``max``) cannot bound metric ``label`` of type ``typ`` (None: it can)."""
    if typ is None:
        return None
    if typ == "top_values":
        return f"{label} is a list of values: it cannot be compared (bound its column's other metrics)"
    if _bound_fits(typ, bound):
        return None
    return f"{label} is {_typed(typ)}: expected {_BOUNDS[typ]}, got {describe_value(bound)}"


def _bound_fits(typ: ColumnType, bound: object) -> bool:
    if typ.is_numeric:
        return isinstance(bound, int | float) and not isinstance(bound, bool)
    if typ == ColumnType.BOOLEAN:
        return isinstance(bound, bool)
    if typ == ColumnType.STRING:
        return isinstance(bound, str)
    try:
        coerce_value(bound, typ)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def pair_problem(left: str, left_type: ValueType, op: str, right: str, right_type: ValueType) -> str | None:
    """Why ``left op right`` cannot be evaluated for values of these types (None: it can, or not known)."""
    if left_type is None or right_type is None:
        return None
    for label, typ in ((left, left_type), (right, right_type)):
        if typ == "top_values":
            return f"{label} is a list of values: it cannot be compared (compare its column's other metrics)"
    assert left_type != "top_values" and right_type != "top_values"
    if (left_type.is_numeric and right_type.is_numeric) or left_type == right_type \
            or (left_type.is_temporal and right_type.is_temporal):
        return None
    return (f"cannot compare {left} with {right}: expected two numbers, two dates or timestamps, or two values of "
            f"one type, got {_typed(left_type)} {op} {_typed(right_type)}")


def typical_problem(label: str, typ: ValueType) -> str | None:
    """Why a ``typical`` range cannot learn metric ``label`` of type ``typ`` (None: it can, or not known)."""
    if typ is None or (typ != "top_values" and typ.is_numeric):
        return None
    return f"a typical range needs a numeric metric (an integer or a double), got {label}, {_typed(typ)}"


# ------------------------------------------------------------------ verifying declarations


def metric_problem(spec: MetricSpec, schema: Schema, what: str, file: str | None, key_path: str,
                   owner: str = "the dataset") -> None:
    """A ``ProjectError`` when ``spec`` reads a column ``schema`` lacks, or one of a type it cannot measure."""
    if spec.column is None:
        return
    if spec.column not in schema:
        raise unknown_column(spec.column, schema, what, file, f"{key_path}.column", owner)
    problem = type_problem(measure_of(spec), schema[spec.column])
    if problem:
        raise ProjectError(f"{what}: {problem}", file=file, key_path=key_path)


def check_references(check: CheckSpec, index: int, schema: Schema, file: str | None,
                     datasets: Collection[str] | None, schema_of: SchemaOf | None = None) -> None:
    """A ``ProjectError`` when ``check`` names a column ``schema`` lacks, another dataset that does not
    exist, or compares values of types it cannot compare. ``schema_of`` gives other datasets' schemas
    when known (a ``compare`` with ``dataset:`` is then verified too)."""
    what = f"check {check.label!r}"
    path = f"checks[{index}]"
    if isinstance(check, InSetCheck) and check.column not in schema:
        raise unknown_column(check.column, schema, what, file, f"{path}.column")
    if isinstance(check, UniqueCheck):
        for i, column in enumerate(check.columns):
            if column not in schema:
                raise unknown_column(column, schema, what, file, f"{path}.columns[{i}]")
    refs: list[tuple[str, MetricRef]] = []
    if isinstance(check, WithinRangeCheck):
        refs = [("metric", check.metric)]
    elif isinstance(check, CompareCheck):
        refs = [("left", check.left), ("right", check.right)]
    types: list[ValueType] = []
    for key, ref in refs:
        types.append(_ref_type(ref, schema, what, file, f"{path}.{key}", datasets, schema_of))
    if isinstance(check, WithinRangeCheck):
        _verify_ranges(check, types[0], what, file, path)
    elif isinstance(check, CompareCheck):
        problem = pair_problem(check.left.label, types[0], check.op, check.right.label, types[1])
        if problem:
            raise ProjectError(f"{what}: {problem}", file=file, key_path=f"{path}.right")


def _ref_type(ref: MetricRef, schema: Schema, what: str, file: str | None, key_path: str,
              datasets: Collection[str] | None, schema_of: SchemaOf | None) -> ValueType:
    if ref.model is not None:
        return None  # a saved model's drift metric: read from the history, nothing to verify in this dataset
    if ref.dataset is None:
        metric_problem(ref, schema, what, file, key_path)
        return metric_type(ref, schema)
    if datasets is not None and ref.dataset not in datasets:
        raise ProjectError(f"{what}: unknown dataset {ref.dataset!r}{did_you_mean(ref.dataset, datasets)}",
                           file=file, key_path=f"{key_path}.dataset")
    other = schema_of(ref.dataset) if schema_of is not None else None
    if other is not None:
        metric_problem(ref, other, what, file, key_path, owner=f"dataset {ref.dataset!r}")
    return metric_type(ref, other)


def _verify_ranges(check: WithinRangeCheck, typ: ValueType, what: str, file: str | None, path: str) -> None:
    label = check.metric.label
    for severity, rng in (("error", check.error), ("warning", check.warning)):
        if rng is None:
            continue
        problem = typical_problem(label, typ) if rng.typical is not None else None
        if problem:
            raise ProjectError(f"{what}: {problem}", file=file, key_path=f"{path}.{severity}.typical")
        for key in ("min", "max"):
            bound = getattr(rng, key)
            problem = bound_problem(label, typ, bound) if bound is not None else None
            if problem:
                raise ProjectError(f"{what}: {problem}", file=file, key_path=f"{path}.{severity}.{key}")


__all__ = [
    "SchemaOf",
    "ValueType",
    "bound_problem",
    "check_references",
    "metric_problem",
    "metric_type",
    "pair_problem",
    "typical_problem",
    "unknown_column",
    "value_type",
]

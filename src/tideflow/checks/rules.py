"""Rules, evaluated purely: (check, metric values, schema, history) -> ok / warning / error.

Nothing here reads a database or a clock. ``past`` holds earlier recorded values per
(dataset, measure), most recent first; ``typical`` ranges and cross-dataset ``compare`` read it.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tideflow.checks.measures import Measure, MetricValue, coerce_value, measure_of, show_value
from tideflow.checks.references import bound_problem, pair_problem, typical_problem, value_type
from tideflow.errors import nearest
from tideflow.project.checks_specs import (
    CheckSpec,
    CompareCheck,
    InSetCheck,
    MetricRef,
    NotEmptyCheck,
    Range,
    SchemaContainsCheck,
    SchemaEqualsCheck,
    UniqueCheck,
    WithinRangeCheck,
)
from tideflow.recipes import ColumnType, Schema

Outcome = Literal["ok", "warning", "error"]
Values = Mapping[Measure, MetricValue]
Past = Mapping[tuple[str, Measure], Sequence[MetricValue]]
SEVERITY_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "error": 2}

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
}


class RuleError(ValueError):
    """A check cannot be evaluated as written (e.g. a bound of the wrong type); ``key_path`` says where."""

    def __init__(self, message: str, key_path: str = "") -> None:
        self.key_path = key_path
        super().__init__(message)


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check. ``message`` names dataset, check, expected and got."""

    dataset: str
    check: str
    rule: str
    outcome: Outcome
    expected: str
    got: str
    severity: str = "error"

    @property
    def message(self) -> str:
        verdict = {"ok": "passed", "warning": "warning", "error": "failed"}[self.outcome]
        return (f"dataset {self.dataset!r}: check {self.check!r} ({self.rule}) {verdict}: "
                f"expected {self.expected}, got {self.got}")


# ------------------------------------------------------------------ what each check reads


def metric_measure(ref: MetricRef) -> Measure:
    return measure_of(ref)


def check_measures(check: CheckSpec, schema: Schema) -> list[tuple[str | None, Measure]]:
    """What ``check`` reads: (other dataset or None for this one, measure). Schema rules read none."""
    if isinstance(check, WithinRangeCheck):
        return [(check.metric.source, metric_measure(check.metric))]
    if isinstance(check, CompareCheck):
        return [(check.left.source, metric_measure(check.left)), (check.right.source, metric_measure(check.right))]
    if isinstance(check, NotEmptyCheck):
        return [(None, Measure("record_count"))]
    if isinstance(check, UniqueCheck):
        return [(None, Measure("duplicates", columns=tuple(check.columns)))]
    if isinstance(check, InSetCheck):
        typ = schema[check.column]
        values: list[Any] = []
        for i, value in enumerate(check.values):
            try:
                values.append(coerce_value(value, typ))
            except ValueError as err:
                raise RuleError(f"value for column {check.column!r}: {err}", f"values[{i}]") from None
        return [(None, Measure("outside_set", column=check.column, values=tuple(dict.fromkeys(values))))]
    return []


# ------------------------------------------------------------------ evaluation


def evaluate(check: CheckSpec, *, dataset: str, values: Values, schema: Schema, past: Past) -> CheckOutcome:
    """The outcome of ``check`` on dataset ``dataset`` given its metric values and history."""
    if isinstance(check, WithinRangeCheck):
        return _within_range(check, dataset, values, past)
    if isinstance(check, SchemaEqualsCheck | SchemaContainsCheck):
        return _schema(check, dataset, schema)
    needed = check_measures(check, schema)
    severity = check.severity
    if isinstance(check, NotEmptyCheck):
        count = values[needed[0][1]]
        return _outcome(check, dataset, severity, count == 0 or count is None, "at least 1 row", f"{count} rows")
    if isinstance(check, UniqueCheck):
        dups = values[needed[0][1]]
        keys = ", ".join(repr(c) for c in check.columns)
        return _outcome(check, dataset, severity, bool(dups), f"no two rows with the same ({keys})",
                        f"{dups} rows sharing a key with another row")
    if isinstance(check, InSetCheck):
        outside = values[needed[0][1]]
        allowed = ", ".join(show_value(v) for v in needed[0][1].values)
        return _outcome(check, dataset, severity, bool(outside), f"every non-NULL {check.column!r} in {{{allowed}}}",
                        f"{outside} rows with other values")
    if isinstance(check, CompareCheck):
        return _compare(check, dataset, values, past)
    raise RuleError(f"unknown rule {getattr(check, 'rule', '?')!r}")


def _outcome(check: CheckSpec, dataset: str, severity: str, failed: bool, expected: str, got: str) -> CheckOutcome:
    return CheckOutcome(dataset=dataset, check=check.label, rule=check.rule, outcome=severity if failed else "ok",  # type: ignore[arg-type]
                        expected=expected, got=got, severity=severity)


def _lookup(dataset: str, other: str | None, m: Measure, values: Values, past: Past) -> MetricValue:
    if other is None or other == dataset:
        return values[m]
    recorded = past.get((other, m), ())
    return recorded[0] if recorded else None


def _compare(check: CompareCheck, dataset: str, values: Values, past: Past) -> CheckOutcome:
    (left_ds, left_m), (right_ds, right_m) = check_measures(check, {})
    left = _lookup(dataset, left_ds, left_m, values, past)
    right = _lookup(dataset, right_ds, right_m, values, past)
    expected = f"{check.left.label} {check.op} {check.right.label}"
    got = f"{show_value(left)} {check.op} {show_value(right)}"
    if left is None or right is None:
        missing = check.left if left is None else check.right
        why = "no recorded value" if missing.source else "NULL"
        return _outcome(check, dataset, check.severity, True, expected, f"{got} ({missing.label} is {why})")
    left, right = _pair(check, left, right)
    return _outcome(check, dataset, check.severity, not _OPS[check.op](left, right), expected, got)


def _bounded(label: str, value: Any, bound: Any, key_path: str) -> tuple[Any, Any]:
    """``value`` and ``bound`` made comparable (a date bound for a timestamp value...), or RuleError worded
    as the planner words it (``references.bound_problem``), from the type of the measured value."""
    typ = value_type(value)
    problem = bound_problem(label, typ, bound)
    if problem:
        raise RuleError(problem, key_path)
    if typ in (ColumnType.DATE, ColumnType.TIMESTAMP):
        return value, coerce_value(bound, typ)  # type: ignore[arg-type]
    return value, bound


def _pair(check: CompareCheck, left: Any, right: Any) -> tuple[Any, Any]:
    """Both sides of a ``compare`` made comparable (a date meets a timestamp at midnight), or RuleError."""
    problem = pair_problem(check.left.label, value_type(left), check.op, check.right.label, value_type(right))
    if problem:
        raise RuleError(problem, "right")
    if isinstance(left, dt.datetime) != isinstance(right, dt.datetime):
        left, right = (coerce_value(v, ColumnType.TIMESTAMP) if isinstance(v, dt.date) else v for v in (left, right))
    return left, right


@dataclass(frozen=True)
class Bounds:
    low: Any
    high: Any
    note: str = ""  # why it is not enforced (learning)

    @property
    def enforced(self) -> bool:
        return not self.note

    def text(self) -> str:
        if not self.enforced:
            return self.note
        low = show_value(self.low) if self.low is not None else "-inf"
        high = show_value(self.high) if self.high is not None else "+inf"
        return f"[{low}, {high}]"


def range_bounds(rng: Range, recorded: Sequence[MetricValue], key_path: str) -> Bounds:
    """Fixed bounds, or mean ± sigmas·stdev of the last ``history`` recorded numeric values."""
    if rng.typical is None:
        return Bounds(rng.min, rng.max)
    typical = rng.typical
    numbers = [float(v) for v in recorded[: typical.history]
               if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
    if len(numbers) < typical.min_history:
        return Bounds(None, None, note=f"typical range still learning ({len(numbers)} of {typical.min_history} "
                                       f"values recorded)")
    mean = statistics.fmean(numbers)
    spread = typical.sigmas * statistics.stdev(numbers)
    return Bounds(mean - spread, mean + spread)


def _within_range(check: WithinRangeCheck, dataset: str, values: Values, past: Past) -> CheckOutcome:
    m = metric_measure(check.metric)
    source = check.metric.source
    if source is None or source == dataset:
        value = values[m]
        recorded: Sequence[MetricValue] = past.get((dataset, m), ())
    else:  # a recorded metric of elsewhere (a saved model's drift): the latest value, learning from the earlier
        series = past.get((source, m), ())
        value, recorded = (series[0] if series else None), series[1:]
    ranges = [(sev, rng) for sev, rng in (("error", check.error), ("warning", check.warning)) if rng is not None]
    expected_parts: list[str] = []
    outcome: Outcome = "ok"
    for severity, rng in ranges:
        problem = typical_problem(check.metric.label, value_type(value)) if rng.typical is not None else None
        if problem:
            raise RuleError(problem, f"{severity}.typical")
        bounds = range_bounds(rng, recorded, severity)
        label = "typical " if rng.typical is not None and bounds.enforced else ""
        expected_parts.append(f"{severity}: {label}{bounds.text()}")
        if not bounds.enforced or outcome != "ok":
            continue
        if value is None:
            outcome = severity  # type: ignore[assignment]
            continue
        for bound, inside in ((bounds.low, operator.ge), (bounds.high, operator.le)):
            if bound is None:
                continue
            v, b = _bounded(check.metric.label, value, bound,
                            f"{severity}.{'min' if inside is operator.ge else 'max'}")
            if not inside(v, b):
                outcome = severity  # type: ignore[assignment]
    worst = outcome if outcome != "ok" else (ranges[0][0] if ranges else "error")
    shown = m.label if source is None or source == dataset else check.metric.label
    got = show_value(value) if value is not None or source is None else "no recorded value"
    return CheckOutcome(dataset=dataset, check=check.label, rule=check.rule, outcome=outcome,
                        expected=f"{shown} within " + "; ".join(expected_parts), got=got, severity=worst)


def _schema(check: SchemaEqualsCheck | SchemaContainsCheck, dataset: str, schema: Schema) -> CheckOutcome:
    problems: list[str] = []
    for name, typ in check.columns.items():
        if name not in schema:
            near = nearest(name, [c for c in schema if c not in check.columns])
            problems.append(f"missing column {name!r}" + (f" (nearest: {near!r})" if near else ""))
        elif str(schema[name]) != typ:
            problems.append(f"column {name!r} is {schema[name]}, not {typ}")
    if isinstance(check, SchemaEqualsCheck):
        extra = [c for c in schema if c not in check.columns]
        if extra:
            problems.append("unexpected columns " + ", ".join(repr(c) for c in extra))
    wanted = ", ".join(f"{n!r}: {t}" for n, t in check.columns.items())
    kind = "exactly" if isinstance(check, SchemaEqualsCheck) else "at least"
    got = "; ".join(problems) if problems else "matching columns"
    return _outcome(check, dataset, check.severity, bool(problems), f"{kind} columns {{{wanted}}}", got)


def worst(outcomes: Sequence[CheckOutcome]) -> Outcome:
    """The most severe outcome of ``outcomes`` (ok when empty)."""
    best: Outcome = "ok"
    for o in outcomes:
        if SEVERITY_ORDER[o.outcome] > SEVERITY_ORDER[best]:
            best = o.outcome
    return best

"""Run a dataset's metrics and checks: verify references, compute in place, evaluate, report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp

from tideflow.checks.history import MetricHistory
from tideflow.checks.measures import Measure, MetricValue, measure_of, type_problem
from tideflow.checks.memory import arrow_schema, compute_arrow
from tideflow.checks.rules import (
    CheckOutcome,
    Outcome,
    Past,
    RuleError,
    check_measures,
    evaluate,
    worst,
)
from tideflow.checks.sqlcompute import compute_sql
from tideflow.connections import SqlConnection
from tideflow.errors import ProjectError, TideflowError, did_you_mean
from tideflow.project import DatasetSpec
from tideflow.project.checks_specs import (
    CheckSpec,
    CompareCheck,
    InSetCheck,
    MetricRef,
    MetricSpec,
    UniqueCheck,
    WithinRangeCheck,
)
from tideflow.recipes import Schema


@dataclass(frozen=True)
class SqlSource:
    """A table (or any FROM-able relation) of a SQL connection: metrics run in that database."""

    connection: SqlConnection
    relation: exp.Expr
    schema: Schema


@dataclass(frozen=True)
class ArrowSource:
    """Rows in memory (a files dataset, a memory-engine output): metrics run in Polars."""

    table: pa.Table

    @property
    def schema(self) -> Schema:
        return arrow_schema(self.table)


Source = SqlSource | ArrowSource


@dataclass
class DatasetReport:
    """Metric values and check outcomes of one dataset."""

    dataset: str
    schema: Schema
    metrics: list[tuple[MetricSpec, MetricValue]]
    values: dict[Measure, MetricValue]
    outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        return worst(self.outcomes)

    @property
    def errors(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.outcome == "error"]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.outcome == "warning"]


class ChecksFailed(TideflowError):
    """At least one error-severity check failed on a dataset. ``report`` holds every outcome."""

    def __init__(self, report: DatasetReport, *, kept_previous: bool = False) -> None:
        self.report = report
        failures = "; ".join(o.message for o in report.errors)
        suffix = " (the previous data was kept)" if kept_previous else ""
        super().__init__(f"{len(report.errors)} error check(s) failed{suffix}: {failures}")


# ------------------------------------------------------------------ references


def _unknown_column(column: str, schema: Schema, what: str, file: str | None, key_path: str) -> ProjectError:
    listing = ", ".join(repr(c) for c in schema) or "none"
    return ProjectError(f"{what}: unknown column {column!r}{did_you_mean(column, schema)} "
                        f"(the dataset has: {listing})", file=file, key_path=key_path)


def _metric_problem(spec: MetricSpec, schema: Schema, what: str, file: str | None, key_path: str) -> None:
    if spec.column is None:
        return
    if spec.column not in schema:
        raise _unknown_column(spec.column, schema, what, file, f"{key_path}.column")
    problem = type_problem(measure_of(spec), schema[spec.column])
    if problem:
        raise ProjectError(f"{what}: {problem}", file=file, key_path=key_path)


def _check_references(check: CheckSpec, index: int, schema: Schema, file: str | None,
                      datasets: Collection[str] | None) -> None:
    what = f"check {check.label!r}"
    path = f"checks[{index}]"
    refs: list[tuple[str, MetricRef]] = []
    if isinstance(check, WithinRangeCheck):
        refs = [("metric", check.metric)]
    elif isinstance(check, CompareCheck):
        refs = [("left", check.left), ("right", check.right)]
    elif isinstance(check, InSetCheck) and check.column not in schema:
        raise _unknown_column(check.column, schema, what, file, f"{path}.column")
    elif isinstance(check, UniqueCheck):
        for i, column in enumerate(check.columns):
            if column not in schema:
                raise _unknown_column(column, schema, what, file, f"{path}.columns[{i}]")
    for key, ref in refs:
        if ref.model is not None:
            continue  # a saved model's drift metric: read from the history, nothing to verify in this dataset
        if ref.dataset is None:
            _metric_problem(ref, schema, what, file, f"{path}.{key}")
        elif datasets is not None and ref.dataset not in datasets:
            raise ProjectError(f"{what}: unknown dataset {ref.dataset!r}{did_you_mean(ref.dataset, datasets)}",
                               file=file, key_path=f"{path}.{key}.dataset")


@dataclass(frozen=True)
class _Plan:
    metrics: list[tuple[MetricSpec, Measure]]
    checks: list[tuple[int, CheckSpec, list[tuple[str | None, Measure]]]]

    @property
    def local_measures(self) -> list[Measure]:
        found = [m for _, m in self.metrics]
        found += [m for _, _, needs in self.checks for other, m in needs if other is None]
        return list(dict.fromkeys(found))


def plan(spec: DatasetSpec, schema: Schema, *, file: str | None = None, metrics: Sequence[MetricSpec] | None = None,
         run_checks: bool = True, datasets: Collection[str] | None = None) -> _Plan:
    """Verify every reference against ``schema`` and list what to compute. Errors are ``ProjectError``s
    naming ``file``, the metric or check, and the nearest column."""
    chosen = list(spec.metrics if metrics is None else metrics)
    planned_metrics = []
    for i, metric in enumerate(chosen):
        _metric_problem(metric, schema, f"metric {metric.label!r}", file, f"metrics[{i}]")
        planned_metrics.append((metric, measure_of(metric)))
    planned_checks = []
    for j, check in enumerate(spec.checks if run_checks else []):
        _check_references(check, j, schema, file, datasets)
        try:
            needs = check_measures(check, schema)
        except RuleError as err:
            raise ProjectError(f"check {check.label!r}: {err}", file=file,
                               key_path=f"checks[{j}].{err.key_path}".rstrip(".")) from None
        planned_checks.append((j, check, needs))
    return _Plan(planned_metrics, planned_checks)


# ------------------------------------------------------------------ running


def compute(source: Source, measures: Sequence[Measure]) -> dict[Measure, MetricValue]:
    """Every measure on ``source``: in its database for a ``SqlSource``, in Polars for an ``ArrowSource``."""
    if isinstance(source, SqlSource):
        return compute_sql(source.connection, source.relation, source.schema, measures)
    return compute_arrow(source.table, measures)


def _past(dataset: str, checks: Sequence[tuple[int, CheckSpec, list[tuple[str | None, Measure]]]],
          history: MetricHistory | None, version: str | None) -> Past:
    past: dict[tuple[str, Measure], list[MetricValue]] = {}
    if history is None:
        return past
    for _, check, needs in checks:
        limit = 0  # earlier values a typical range learns from
        if isinstance(check, WithinRangeCheck):
            ranges = [r for r in (check.error, check.warning) if r is not None and r.typical is not None]
            if ranges:
                limit = max(r.typical.history for r in ranges if r.typical is not None)
                m = needs[0][1]
                if needs[0][0] in (None, dataset):
                    past[(dataset, m)] = [r.value for r in history.recent(dataset, m, limit, exclude_version=version)]
        for other, m in needs:
            if other is not None and other != dataset:  # the latest value (and the earlier ones a range learns)
                past[(other, m)] = [r.value for r in history.recent(other, m, 1 + limit)]
    return past


def run_checks(
    spec: DatasetSpec,
    source: Source,
    *,
    file: str | None = None,
    history: MetricHistory | None = None,
    version: str | None = None,
    metrics: Sequence[MetricSpec] | None = None,
    checks: bool = True,
    datasets: Collection[str] | None = None,
) -> DatasetReport:
    """Compute ``spec``'s metrics (or ``metrics``) and evaluate its checks on ``source``.

    ``history`` feeds typical ranges and cross-dataset comparisons (values of ``version`` itself
    are left out). Nothing is recorded here: call ``MetricHistory.record`` with the report.
    """
    schema = source.schema
    planned = plan(spec, schema, file=file, metrics=metrics, run_checks=checks, datasets=datasets)
    values = compute(source, planned.local_measures)
    past = _past(spec.name, planned.checks, history, version)
    outcomes = []
    for j, check, _ in planned.checks:
        try:
            outcomes.append(evaluate(check, dataset=spec.name, values=values, schema=schema, past=past))
        except RuleError as err:
            raise ProjectError(f"check {check.label!r}: {err}", file=file,
                               key_path=f"checks[{j}].{err.key_path}".rstrip(".")) from None
    return DatasetReport(dataset=spec.name, schema=schema, metrics=[(s, values[m]) for s, m in planned.metrics],
                         values=values, outcomes=outcomes)


def profile_metrics(schema: Schema) -> list[MetricSpec]:
    """A default set of metrics for a dataset that declares none (``tide dataset metrics``)."""
    specs = [MetricSpec(metric="record_count"), MetricSpec(metric="column_count"),
             MetricSpec(metric="schema_fingerprint")]
    for column, typ in schema.items():
        kinds = ["nulls", "distinct_count", "min", "max"]
        if typ.is_numeric:
            kinds += ["avg", "stddev"]
        specs += [MetricSpec(metric=k, column=column) for k in kinds]  # type: ignore[arg-type]
    return specs

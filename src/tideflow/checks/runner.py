"""Run a dataset's metrics and checks: verify references, compute in place, evaluate, report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp

from tideflow.checks.history import MetricHistory
from tideflow.checks.measures import Measure, MetricValue, measure_of
from tideflow.checks.memory import arrow_schema, compute_arrow
from tideflow.checks.references import SchemaOf, check_references, metric_problem
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
from tideflow.errors import ProjectError, TideflowError
from tideflow.project import DatasetSpec
from tideflow.project.checks_specs import (
    CheckSpec,
    MetricSpec,
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
         run_checks: bool = True, datasets: Collection[str] | None = None, schema_of: SchemaOf | None = None) -> _Plan:
    """Verify every reference against ``schema`` and list what to compute, reading no row. Errors are
    ``ProjectError``s naming ``file``, the key path, the metric or check, what it takes, what it got and the
    nearest column (``tideflow.checks.references``). The planner calls this on the schema a dataset will
    have, before a build; ``run_checks`` on the real one. ``schema_of`` gives other datasets' schemas."""
    chosen = list(spec.metrics if metrics is None else metrics)
    planned_metrics = []
    for i, metric in enumerate(chosen):
        metric_problem(metric, schema, f"metric {metric.label!r}", file, f"metrics[{i}]")
        planned_metrics.append((metric, measure_of(metric)))
    planned_checks = []
    for j, check in enumerate(spec.checks if run_checks else []):
        check_references(check, j, schema, file, datasets, schema_of)
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

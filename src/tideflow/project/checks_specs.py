"""The ``metrics:`` and ``checks:`` sections of ``datasets/<name>.yaml``.

Declarations only: ``tideflow.checks`` computes the metrics (in the database) and evaluates the
checks. References to columns, and the types of the values checks compare, are verified against a
schema by ``tideflow.checks.references``: the planner's (before a build) where it knows it, else the
dataset's real one when the checks run.

.. code-block:: yaml

    metrics:
      - record_count
      - {metric: nulls, column: amount}
      - {metric: top_values, column: country, k: 5}
    checks:
      - name: enough_rows
        rule: within_range
        metric: record_count
        warning: {min: 1000}
        error: {min: 1}
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, field_validator, model_validator

from tideflow.project.yamlfile import register_tags
from tideflow.recipes import Strict

METRIC_KINDS = (
    "record_count", "column_count", "nulls", "distinct_count", "min", "max", "avg", "sum", "stddev",
    "top_values", "schema_fingerprint",
)
# Drift metrics of a saved model, recorded by each evaluation (``tide monitor evaluate``) in the same
# history under ``model:<name>``; checks and scenario conditions read them with ``{model: NAME, metric: ...}``.
DRIFT_METRICS = ("drift_score", "drifting_features", "alarm", "psi", "p_value", "prediction_psi",
                 "prediction_p_value", "performance", "performance_change")
# Drift metrics per feature (``column``: the input column) or per performance metric (``column``: auc, rmse...).
DRIFT_PER_COLUMN = ("psi", "p_value", "performance", "performance_change")
MODEL_HISTORY_PREFIX = "model:"
# Metrics of the whole dataset (no column) and metrics of one column.
DATASET_METRICS = ("record_count", "column_count", "schema_fingerprint")
COLUMN_METRICS = ("nulls", "distinct_count", "min", "max", "avg", "sum", "stddev", "top_values")
RULES = ("within_range", "in_set", "not_empty", "unique", "schema_equals", "schema_contains", "compare")
SCHEMA_TYPES = ("boolean", "integer", "double", "string", "date", "timestamp")

MetricKind = Literal[
    "record_count", "column_count", "nulls", "distinct_count", "min", "max", "avg", "sum", "stddev",
    "top_values", "schema_fingerprint",
]
DriftMetricKind = Literal["drift_score", "drifting_features", "alarm", "psi", "p_value", "prediction_psi",
                          "prediction_p_value", "performance", "performance_change"]
Severity = Literal["warning", "error"]
# A bound or a set member: YAML numbers, strings, booleans, dates and timestamps.
Scalar = bool | int | float | dt.datetime | dt.date | str

register_tags(RULES)


def _shorthand(data: Any) -> Any:
    """``record_count`` is short for ``{metric: record_count}``."""
    return {"metric": data} if isinstance(data, str) else data


class MetricSpec(Strict):
    """One metric: a dataset metric (``record_count``, ``column_count``, ``schema_fingerprint``) or
    a column metric (``column`` required). ``k`` is the number of ``top_values`` kept."""

    metric: MetricKind
    column: str | None = None
    k: StrictInt = Field(default=10, ge=1, le=1000)

    _short = model_validator(mode="before")(_shorthand)

    @model_validator(mode="before")
    @classmethod
    def _no_model(cls, data: Any) -> Any:
        """A drift metric here is refused at ``metric`` (below); its ``model`` would only add "unknown key"."""
        if cls is MetricSpec and isinstance(data, dict) and data.get("metric") in DRIFT_METRICS:
            return {k: v for k, v in data.items() if k != "model"}
        return data

    @field_validator("metric", mode="before")
    @classmethod
    def _not_drift(cls, metric: Any) -> Any:
        """A dataset computes no drift metric: each evaluation of a saved model records them (checks read
        them with ``model:``)."""
        if cls is MetricSpec and isinstance(metric, str) and metric in DRIFT_METRICS:
            raise ValueError(f"{metric!r} is a drift metric of a saved model: drift metrics cannot be listed under "
                             "'metrics:' (each evaluation of the model records them): expected one of "
                             f"{', '.join(METRIC_KINDS)}, got {metric!r}; read it in a check with "
                             f"{{model: NAME, metric: {metric}}}")
        return metric

    @model_validator(mode="after")
    def _column_fits(self) -> MetricSpec:
        if self.metric in COLUMN_METRICS and self.column is None:
            raise ValueError(f"metric {self.metric!r} is computed on a column: add 'column'")
        if self.metric in DATASET_METRICS and self.column is not None:
            raise ValueError(f"metric {self.metric!r} is a dataset metric: remove 'column' (got {self.column!r})")
        if self.metric != "top_values" and "k" in self.model_fields_set:
            raise ValueError(f"'k' is for top_values, not {self.metric!r}")
        return self

    @property
    def label(self) -> str:
        """``record_count``, ``nulls(amount)``, ``top_values(country, k=5)``."""
        if self.column is None:
            return self.metric
        if self.metric == "top_values":
            return f"{self.metric}({self.column}, k={self.k})"
        return f"{self.metric}({self.column})"


def model_history_name(model: str) -> str:
    """The name a saved model's drift metrics are recorded under in the metric history."""
    return f"{MODEL_HISTORY_PREFIX}{model}"


class MetricRef(MetricSpec):
    """A metric a check reads. ``dataset`` (compare only) reads the latest recorded value of another
    dataset's metric from the history. ``model`` reads a drift metric of a saved model, recorded by its
    evaluations: ``metric`` is then one of ``DRIFT_METRICS`` and ``column`` the feature (``psi``,
    ``p_value``) or the performance metric (``performance``, ``performance_change``)."""

    metric: MetricKind | DriftMetricKind  # type: ignore[assignment]
    dataset: str | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _source_fits(self) -> MetricRef:
        if self.dataset is not None and self.model is not None:
            raise ValueError("give 'dataset' or 'model', not both")
        drift = self.metric in DRIFT_METRICS
        if drift and self.model is None:
            raise ValueError(f"{self.metric!r} is a drift metric of a saved model: add 'model' (the saved model's "
                             "name)")
        if self.model is not None and not drift:
            raise ValueError(f"a saved model records drift metrics ({', '.join(DRIFT_METRICS)}), got "
                             f"{self.metric!r}")
        if self.model is not None and self.metric in DRIFT_PER_COLUMN and self.column is None:
            what = "the performance metric (auc, rmse...)" if self.metric.startswith("perf") else "the feature"
            raise ValueError(f"drift metric {self.metric!r} needs 'column': {what}")
        if self.model is not None and self.metric not in DRIFT_PER_COLUMN and self.column is not None:
            raise ValueError(f"drift metric {self.metric!r} is not per column: remove 'column' (got {self.column!r})")
        return self

    @property
    def source(self) -> str | None:
        """Where the value is read from the history: another dataset, ``model:<name>``, or None (this dataset)."""
        if self.model is not None:
            return model_history_name(self.model)
        return self.dataset

    @property
    def label(self) -> str:
        base = super().label
        source = self.source
        return f"{source}.{base}" if source else base


class Typical(Strict):
    """A range learned from history: mean ± ``sigmas`` standard deviations of the last ``history``
    recorded values of the metric. Until ``min_history`` values exist the bound is not enforced."""

    history: StrictInt = Field(default=20, ge=2, le=10_000)
    sigmas: StrictFloat = Field(default=3.0, gt=0)
    min_history: StrictInt = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _enough(self) -> Typical:
        if self.min_history > self.history:
            raise ValueError(f"min_history ({self.min_history}) is greater than history ({self.history})")
        return self


class Range(Strict):
    """Fixed ``min`` and/or ``max`` (inclusive), or a ``typical`` range learned from history."""

    min: Scalar | None = None
    max: Scalar | None = None
    typical: Typical | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Range:
        fixed = self.min is not None or self.max is not None
        if fixed and self.typical is not None:
            raise ValueError("give either min/max or typical, not both")
        if not fixed and self.typical is None:
            raise ValueError("expected min, max or typical")
        low, high = self.min, self.max
        if low is not None and high is not None and _comparable(low, high) and low > high:  # type: ignore[operator]
            raise ValueError(f"min ({self.min!r}) is greater than max ({self.max!r})")
        return self


def _comparable(a: object, b: object) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b)


class CheckBase(Strict):
    """Fields every check has. ``name`` defaults to a label made of the rule and what it reads."""

    name: str | None = Field(default=None, min_length=1)
    description: str = ""

    @property
    def label(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:
        return str(getattr(self, "rule", "check"))


class WithinRangeCheck(CheckBase):
    """The metric must lie in the ``error`` range (else error) and the ``warning`` range (else warning).

    Shorthand: ``min`` / ``max`` / ``typical`` at the top level go to the range named by
    ``severity`` (default error).
    """

    rule: Literal["within_range"]
    metric: MetricRef
    warning: Range | None = None
    error: Range | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand_bounds(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not ({"min", "max", "typical", "severity"} & data.keys()):
            return data
        data = dict(data)
        severity = data.pop("severity", "error")
        if severity not in ("warning", "error"):
            raise ValueError(f"severity must be 'warning' or 'error', got {severity!r}")
        moved = {k: data.pop(k) for k in ("min", "max", "typical") if k in data}
        if not moved:
            raise ValueError("'severity' on within_range goes with top-level min, max or typical")
        if data.get(severity) is not None:
            raise ValueError(f"give the {severity} range either at the top level or under {severity!r}, not both")
        data[severity] = moved
        return data

    @model_validator(mode="after")
    def _some_range(self) -> WithinRangeCheck:
        if self.warning is None and self.error is None:
            raise ValueError("within_range needs a 'warning' or an 'error' range (min, max or typical)")
        if self.metric.dataset is not None:
            raise ValueError("within_range reads this dataset's metrics: remove 'dataset' from 'metric'")
        if self.metric.metric == "top_values":
            raise ValueError("within_range cannot bound top_values (a list of values)")
        return self

    def default_name(self) -> str:
        return f"within_range({self.metric.label})"


class InSetCheck(CheckBase):
    """Every non-NULL value of ``column`` is one of ``values``."""

    rule: Literal["in_set"]
    column: str
    values: list[Scalar] = Field(min_length=1)
    severity: Severity = "error"

    def default_name(self) -> str:
        return f"in_set({self.column})"


class NotEmptyCheck(CheckBase):
    """The dataset has at least one row."""

    rule: Literal["not_empty"]
    severity: Severity = "error"

    def default_name(self) -> str:
        return "not_empty"


def distinct_columns(columns: list[str]) -> list[str]:
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ValueError(f"column {column!r} is listed twice (expected each column once)")
        seen.add(column)
    return columns


class UniqueCheck(CheckBase):
    """No two rows share the same values of ``columns`` (NULLs compare equal, as in GROUP BY)."""

    rule: Literal["unique"]
    columns: Annotated[list[str], AfterValidator(distinct_columns)] = Field(min_length=1)
    severity: Severity = "error"

    @model_validator(mode="before")
    @classmethod
    def _columns_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("columns"), str):
            return {**data, "columns": [data["columns"]]}
        return data

    def default_name(self) -> str:
        return f"unique({', '.join(self.columns)})"


class SchemaEqualsCheck(CheckBase):
    """The dataset has exactly these columns (any order) with these logical types."""

    rule: Literal["schema_equals"]
    columns: dict[str, Literal["boolean", "integer", "double", "string", "date", "timestamp"]] = Field(min_length=1)
    severity: Severity = "error"

    def default_name(self) -> str:
        return "schema_equals"


class SchemaContainsCheck(CheckBase):
    """The dataset has at least these columns with these logical types."""

    rule: Literal["schema_contains"]
    columns: dict[str, Literal["boolean", "integer", "double", "string", "date", "timestamp"]] = Field(min_length=1)
    severity: Severity = "error"

    def default_name(self) -> str:
        return "schema_contains"


CompareOp = Literal["<", "<=", "==", "!=", ">", ">="]


class CompareCheck(CheckBase):
    """``left op right`` for two metrics; ``right`` (or ``left``) may name another dataset, whose
    latest recorded value is used."""

    rule: Literal["compare"]
    left: MetricRef
    op: CompareOp
    right: MetricRef
    severity: Severity = "error"

    def default_name(self) -> str:
        return f"compare({self.left.label} {self.op} {self.right.label})"


CheckSpec = Annotated[
    WithinRangeCheck | InSetCheck | NotEmptyCheck | UniqueCheck | SchemaEqualsCheck | SchemaContainsCheck
    | CompareCheck,
    Field(discriminator="rule"),
]


def _unique_check_names(checks: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for check in checks:
        if check.label in seen:
            raise ValueError(f"two checks are named {check.label!r}: give each a distinct 'name'")
        seen.add(check.label)
    return checks


CheckList = Annotated[list[CheckSpec], AfterValidator(_unique_check_names)]

__all__ = [
    "COLUMN_METRICS",
    "DATASET_METRICS",
    "DRIFT_METRICS",
    "DRIFT_PER_COLUMN",
    "METRIC_KINDS",
    "MODEL_HISTORY_PREFIX",
    "RULES",
    "CheckBase",
    "CheckList",
    "CheckSpec",
    "CompareCheck",
    "CompareOp",
    "InSetCheck",
    "MetricRef",
    "MetricSpec",
    "NotEmptyCheck",
    "Range",
    "SchemaContainsCheck",
    "SchemaEqualsCheck",
    "Typical",
    "UniqueCheck",
    "WithinRangeCheck",
    "model_history_name",
]

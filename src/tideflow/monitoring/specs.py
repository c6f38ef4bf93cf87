"""``monitoring/<model>.yaml``: thresholds, the reference, and checks on drift metrics.

.. code-block:: yaml

    thresholds: {psi_threshold: 0.1, alpha: 0.05}
    reference: {dataset: card_features_train, max_rows: 20000}
    checks:
      - name: no_overall_drift
        metric: drift_score
        warning: {max: 0.6}
        error: {max: 0.75}
      - metric: psi
        feature: amount
        error: {max: 0.25}
      - metric: drifting_features
        severity: warning
        max: 0

A check reads one metric of an evaluation (the names of ``Evaluation.metrics()``) and compares it
with fixed bounds, with warning and error levels like dataset checks. Evaluating is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from tideflow.errors import ProjectError, did_you_mean
from tideflow.monitoring.drift import DriftThresholds
from tideflow.monitoring.evaluation import Evaluation
from tideflow.project.yamlfile import read_yaml, validate
from tideflow.recipes import Strict

MONITORING_DIR = "monitoring"
DriftMetric = Literal["drift_score", "drifting_features", "alarm", "psi", "p_value", "prediction_psi",
                      "prediction_p_value", "performance", "performance_change"]
# Metrics that need ``feature``: a model input, or (performance*) a metric name such as auc.
PER_FEATURE = ("psi", "p_value", "performance", "performance_change")
Outcome = Literal["ok", "warning", "error"]


class Bounds(Strict):
    """Inclusive ``min`` and/or ``max``."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("expected min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def text(self) -> str:
        low = "-inf" if self.min is None else f"{self.min:g}"
        high = "+inf" if self.max is None else f"{self.max:g}"
        return f"[{low}, {high}]"

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class DriftCheck(Strict):
    """A metric of each evaluation must stay in the ``error`` range (else error) and the ``warning`` range
    (else warning). Shorthand: top-level ``min`` / ``max`` with ``severity`` (default error)."""

    name: str | None = Field(default=None, min_length=1)
    metric: DriftMetric
    feature: str | None = None
    warning: Bounds | None = None
    error: Bounds | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not ({"min", "max", "severity"} & data.keys()):
            return data
        data = dict(data)
        severity = data.pop("severity", "error")
        if severity not in ("warning", "error"):
            raise ValueError(f"severity must be 'warning' or 'error', got {severity!r}")
        if data.get(severity) is not None:
            raise ValueError(f"give the {severity} range either at the top level or under {severity!r}, not both")
        data[severity] = {k: data.pop(k) for k in ("min", "max") if k in data}
        return data

    @model_validator(mode="after")
    def _fits(self) -> DriftCheck:
        if self.warning is None and self.error is None:
            raise ValueError("a drift check needs a 'warning' or an 'error' range (min and/or max)")
        if self.metric in PER_FEATURE and self.feature is None:
            what = "a performance metric (auc, logloss, rmse...)" if self.metric.startswith("perf") else "a feature"
            raise ValueError(f"metric {self.metric!r} needs 'feature': {what}")
        if self.metric not in PER_FEATURE and self.feature is not None:
            raise ValueError(f"metric {self.metric!r} is not per feature: remove 'feature' (got {self.feature!r})")
        return self

    @property
    def label(self) -> str:
        return self.name or (f"{self.metric}({self.feature})" if self.feature else self.metric)


class ReferenceSpec(Strict):
    """Where the reference comes from when none is stored: ``dataset`` (default: the model's input)."""

    dataset: str | None = None
    max_rows: int = Field(default=20_000, ge=100, le=10_000_000)


class MonitorSpec(Strict):
    thresholds: dict[str, float] = Field(default_factory=dict)
    reference: ReferenceSpec = Field(default_factory=ReferenceSpec)
    checks: list[DriftCheck] = Field(default_factory=list)
    domain_classifier: bool = True

    @model_validator(mode="after")
    def _known(self) -> MonitorSpec:
        names = DriftThresholds.names()
        for key in self.thresholds:
            if key not in names:
                raise ValueError(f"unknown threshold {key!r}{did_you_mean(key, names)} (known: {', '.join(names)})")
        labels = [c.label for c in self.checks]
        for label in labels:
            if labels.count(label) > 1:
                raise ValueError(f"two checks are named {label!r}: give each a distinct 'name'")
        try:
            self.drift_thresholds()
        except ValueError as err:
            raise ValueError(str(err)) from None
        return self

    def drift_thresholds(self) -> DriftThresholds:
        ints = {"psi_bins", "max_categories", "min_expected", "domain_max_rows", "domain_folds", "domain_trees", "seed"}
        values = {k: int(v) if k in ints else float(v) for k, v in self.thresholds.items()}
        return DriftThresholds(**values)  # type: ignore[arg-type]


def spec_file(root: Path, model: str) -> Path | None:
    for suffix in (".yaml", ".yml"):
        path = root / MONITORING_DIR / f"{model}{suffix}"
        if path.is_file():
            return path
    return None


def load_monitor_spec(root: Path, model: str) -> tuple[MonitorSpec, str | None]:
    """The spec in ``monitoring/<model>.yaml`` (defaults when there is none) and its shown path."""
    path = spec_file(root, model)
    if path is None:
        return MonitorSpec(), None
    shown = f"{MONITORING_DIR}/{path.name}"
    data, lines = read_yaml(path, shown)
    if data is None:
        return MonitorSpec(), shown
    if not isinstance(data, dict):
        raise ProjectError(f"expected a mapping of keys, got {type(data).__name__}", file=shown, line=1)
    return validate(MonitorSpec, data, shown=shown, lines=lines, vocabulary_of=MonitorSpec), shown


@dataclass(frozen=True)
class DriftCheckOutcome:
    """The result of one drift check (the same fields as a dataset check's outcome)."""

    check: str
    rule: str
    outcome: Outcome
    expected: str
    got: str
    severity: str


def run_drift_checks(checks: list[DriftCheck], evaluation: Evaluation) -> tuple[list[DriftCheckOutcome], list[str]]:
    """Outcomes of the checks whose metric was measured, and the labels of those skipped (not measured,
    e.g. performance without labels)."""
    values = evaluation.metrics()
    features = [f.feature for f in evaluation.features]
    outcomes, skipped = [], []
    for check in checks:
        if check.metric in ("psi", "p_value") and check.feature not in features:
            raise ProjectError(f"drift check {check.label!r}: unknown feature {check.feature!r}"
                               f"{did_you_mean(str(check.feature), features)} "
                               f"(the model's inputs: {', '.join(features)})")
        value = values.get((check.metric, check.feature))
        if value is None:
            skipped.append(check.label)
            continue
        outcome: Outcome = "ok"
        parts = []
        for severity, bounds in (("error", check.error), ("warning", check.warning)):
            if bounds is None:
                continue
            parts.append(f"{severity}: {bounds.text()}")
            if outcome == "ok" and not bounds.holds(value):
                outcome = severity  # type: ignore[assignment]
        worst = outcome if outcome != "ok" else ("error" if check.error is not None else "warning")
        metric = f"{check.metric}({check.feature})" if check.feature else check.metric
        outcomes.append(DriftCheckOutcome(check.label, "within_range", outcome, f"{metric} within " + "; ".join(parts),
                                          f"{value:.6g}", worst))
    return outcomes, skipped

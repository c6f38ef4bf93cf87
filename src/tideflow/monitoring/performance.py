"""Prediction drift and performance drift, pure.

Prediction drift compares the model's outputs on the reference with its outputs on the current
batch: P(positive) for a binary model, the value for a regression, the predicted class for a
multiclass one. Performance drift needs labels: the model's metrics on the current batch against
the test metrics recorded when it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tideflow.errors import MissingExtraError
from tideflow.monitoring.drift import DriftThresholds, FeatureDrift, categorical_drift, numeric_drift

PREDICTION = "(prediction)"
# Metrics where higher is better alarm on an absolute drop; the others on a relative increase.
HIGHER_IS_BETTER = ("auc", "accuracy", "f1", "r2")
LOWER_IS_BETTER = ("logloss", "brier", "rmse", "mae")


def prediction_values(task: str, output: np.ndarray, classes: list[str]) -> np.ndarray | list[str | None]:
    """What prediction drift compares: P(last class) for binary, values for regression, labels for multiclass."""
    if task == "regression":
        return np.asarray(output, dtype="float64").reshape(-1)
    proba = np.asarray(output, dtype="float64")
    if task == "binary":
        return proba[:, -1] if proba.ndim == 2 else proba
    names = classes or [str(i) for i in range(proba.shape[1])]
    return [str(names[i]) for i in proba.argmax(axis=1)]


def prediction_drift(task: str, reference: np.ndarray | list[str | None], current: np.ndarray | list[str | None], *,
                     level: float, thresholds: DriftThresholds) -> FeatureDrift:
    if task == "multiclass":
        return categorical_drift(PREDICTION, list(reference), list(current), level=level, thresholds=thresholds)
    return numeric_drift(PREDICTION, np.asarray(reference, dtype="float64"), np.asarray(current, dtype="float64"),
                         level=level, thresholds=thresholds)


@dataclass(frozen=True)
class MetricChange:
    """One performance metric: recorded at training (test set), measured now, and whether it degraded."""

    metric: str
    recorded: float | None
    current: float
    change: float | None  # current - recorded
    degraded: bool
    bar: str  # the rule, e.g. "drop > 0.05" or "increase > 20%"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricChange:
        return cls(**data)


def encode_labels(values: list[Any], task: str, classes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Labels as class indices (classification, by the model's recorded classes) or floats; and a keep-mask
    (rows with a missing or unknown label are left out)."""
    if task == "regression":
        y = np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        return y, np.isfinite(y)
    index = {str(c): i for i, c in enumerate(classes)}
    codes = np.array([index.get(str(v), -1) if v is not None else -1 for v in values], dtype="int64")
    return codes, codes >= 0


def current_metrics(task: str, y: np.ndarray, output: np.ndarray, n_classes: int) -> dict[str, float]:
    """AUC, logloss, accuracy, Brier (classification) or RMSE, MAE, R² (regression) on labelled rows."""
    try:
        from sklearn import metrics as m
    except ImportError:  # pragma: no cover
        raise MissingExtraError("scikit-learn", "lab") from None
    if task == "regression":
        pred = np.asarray(output, dtype="float64").reshape(-1)
        return {"rmse": float(np.sqrt(m.mean_squared_error(y, pred))), "mae": float(m.mean_absolute_error(y, pred)),
                "r2": float(m.r2_score(y, pred)) if len(y) > 1 else 0.0}
    proba = np.asarray(output, dtype="float64")
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    labels = list(range(n_classes))
    out: dict[str, float] = {}
    if len(np.unique(y)) >= 2:
        out["auc"] = float(m.roc_auc_score(y, proba[:, 1]) if n_classes == 2
                           else m.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    out["logloss"] = float(m.log_loss(y, np.clip(proba, 1e-15, 1), labels=labels))
    out["accuracy"] = float(m.accuracy_score(y, proba.argmax(axis=1)))
    onehot = np.eye(n_classes)[y]
    out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / (2 if n_classes == 2 else 1))
    return {k: round(v, 6) for k, v in out.items()}


def performance_drift(current: dict[str, float], recorded: dict[str, Any], *,
                      thresholds: DriftThresholds | None = None) -> list[MetricChange]:
    """Each current metric against the recorded one: higher-is-better metrics degrade on an absolute drop
    over ``auc_drop``, lower-is-better ones on a relative increase over ``relative_increase``."""
    th = thresholds or DriftThresholds()
    out = []
    for name, value in current.items():
        before = recorded.get(name)
        known = isinstance(before, int | float) and not isinstance(before, bool)
        base = float(before) if known else None  # type: ignore[arg-type]
        if name in HIGHER_IS_BETTER:
            bar = f"drop > {th.auc_drop:g}"
            degraded = base is not None and base - value > th.auc_drop
        else:
            bar = f"increase > {th.relative_increase:.0%}"
            degraded = base is not None and value > base * (1 + th.relative_increase) + 1e-12
        out.append(MetricChange(name, base, value, None if base is None else round(value - base, 6), degraded, bar))
    return out

"""Scores: the search metric of a trial, and the full evaluation of a final model on the test set."""

from __future__ import annotations

from typing import Any

import numpy as np


def predictions(model: Any, x: Any, task: str) -> np.ndarray:
    """Class probabilities (classification) or values (regression)."""
    if task == "regression":
        return np.asarray(model.predict(x), dtype="float64")
    return np.asarray(model.predict_proba(x), dtype="float64")


def metric_value(metric: str, task: str, y: np.ndarray, pred: np.ndarray, n_classes: int = 2) -> float:
    """The value of ``metric`` for predictions ``pred`` (probabilities for classification)."""
    from sklearn import metrics as m

    if task == "regression":
        if metric == "rmse":
            return float(np.sqrt(m.mean_squared_error(y, pred)))
        if metric == "mae":
            return float(m.mean_absolute_error(y, pred))
        return float(m.r2_score(y, pred))
    labels = list(range(n_classes))
    proba = _full_proba(pred, n_classes)
    if metric == "logloss":
        return float(m.log_loss(y, proba, labels=labels))
    if metric == "auc":
        if len(np.unique(y)) < 2:
            return 0.5
        if task == "binary":
            return float(m.roc_auc_score(y, proba[:, 1]))
        return float(m.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    label = proba.argmax(axis=1)
    if metric == "accuracy":
        return float(m.accuracy_score(y, label))
    average = "binary" if task == "binary" else "macro"
    return float(m.f1_score(y, label, average=average, labels=labels if task != "binary" else None, zero_division=0))


def _full_proba(pred: np.ndarray, n_classes: int) -> np.ndarray:
    proba = np.asarray(pred, dtype="float64")
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.shape[1] < n_classes:  # a fold missed a class
        proba = np.column_stack([proba, np.zeros((proba.shape[0], n_classes - proba.shape[1]))])
    return proba


def choose_threshold(y: np.ndarray, p: np.ndarray, optimize: str, fp_cost: float, fn_cost: float) -> float:
    """The threshold on P(positive) with the best F1 (or the least cost), from candidate quantiles."""
    candidates = np.unique(np.round(np.quantile(p, np.linspace(0.01, 0.99, 99)), 6))
    best_t, best = 0.5, -np.inf
    for t in candidates:
        label = p >= t
        tp = float(np.sum(label & (y == 1)))
        fp = float(np.sum(label & (y == 0)))
        fn = float(np.sum(~label & (y == 1)))
        if optimize == "cost":
            value = -(fp * fp_cost + fn * fn_cost)
        else:
            value = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if value > best + 1e-12:
            best_t, best = float(t), value
    return best_t


def reliability_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Calibration: per bin of predicted probability, its mean and the observed positive rate."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mask.sum()),
                        "mean_predicted": round(float(p[mask].mean()), 6),
                        "fraction_positive": round(float(y[mask].mean()), 6)})
    return out


def evaluate(task: str, y: np.ndarray, pred: np.ndarray, *, n_classes: int = 2,
             threshold: float = 0.5) -> dict[str, Any]:
    """Every test metric of a final model (rounded to 6 digits so records compare exactly)."""
    from sklearn import metrics as m

    out: dict[str, Any] = {}
    if task == "regression":
        for name in ("rmse", "mae", "r2"):
            out[name] = metric_value(name, task, y, pred)
        return _rounded(out)
    proba = _full_proba(pred, n_classes)
    out["auc"] = metric_value("auc", task, y, proba, n_classes)
    out["logloss"] = metric_value("logloss", task, y, proba, n_classes)
    if task == "binary":
        p = proba[:, 1]
        label = (p >= threshold).astype("int64")
        out["threshold"] = threshold
        out["accuracy"] = float(m.accuracy_score(y, label))
        out["f1"] = float(m.f1_score(y, label, zero_division=0))
        out["precision"] = float(m.precision_score(y, label, zero_division=0))
        out["recall"] = float(m.recall_score(y, label, zero_division=0))
        out["brier"] = float(m.brier_score_loss(y, p))
        out = _rounded(out)
        out["calibration"] = reliability_bins(y, p)
        return out
    label = proba.argmax(axis=1)
    labels = list(range(n_classes))
    out["accuracy"] = float(m.accuracy_score(y, label))
    out["f1"] = float(m.f1_score(y, label, average="macro", labels=labels, zero_division=0))
    out["precision"] = float(m.precision_score(y, label, average="macro", labels=labels, zero_division=0))
    out["recall"] = float(m.recall_score(y, label, average="macro", labels=labels, zero_division=0))
    onehot = np.eye(n_classes)[y]
    out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    return _rounded(out)


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(float(v), 6) if isinstance(v, float) else v for k, v in values.items()}

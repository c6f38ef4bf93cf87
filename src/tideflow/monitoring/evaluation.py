"""One evaluation of a saved model on a batch: data, prediction and performance drift together.

``evaluate_model`` is pure given the fitted pipeline: no clock (``now`` is passed), no files.
``Evaluation.metrics()`` flattens it into named values (``drift_score``, ``psi(amount)``...) —
what the store keeps per evaluation and what checks read from the metric history.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from tideflow.errors import ProjectError
from tideflow.models.registry import ModelVersion
from tideflow.monitoring.domain import DomainDrift, domain_drift
from tideflow.monitoring.drift import DriftThresholds, FeatureDrift, data_drift
from tideflow.monitoring.frames import feature_columns, fingerprint, kinds_of, model_frame
from tideflow.monitoring.performance import (
    MetricChange,
    current_metrics,
    encode_labels,
    performance_drift,
    prediction_drift,
    prediction_values,
)


@dataclass
class Batch:
    """Rows to evaluate (or to compare with), where they came from, and their data version."""

    table: pa.Table
    source: str
    data_version: str | None = None
    note: str = ""
    known_fingerprint: str | None = None  # as stored with a reference sample

    @cached_property
    def fingerprint(self) -> str:
        return self.known_fingerprint or fingerprint(self.table)

    def info(self) -> BatchInfo:
        return BatchInfo(self.source, self.data_version, self.fingerprint, self.table.num_rows, self.note)


@dataclass(frozen=True)
class BatchInfo:
    source: str
    data_version: str | None
    fingerprint: str
    rows: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Everything measured when a model version was evaluated on a batch. ``id`` is set once stored."""

    model: str
    version: int
    created_at: float
    task: str
    reference: BatchInfo
    current: BatchInfo
    thresholds: dict[str, Any]
    features: list[FeatureDrift]
    level: float
    domain: DomainDrift | None = None
    prediction: FeatureDrift | None = None
    performance: list[MetricChange] = field(default_factory=list)
    labelled_rows: int = 0
    notes: list[str] = field(default_factory=list)
    id: int | None = None

    @property
    def drifting_features(self) -> list[str]:
        """Names of the drifting features, most shifted (by PSI) first."""
        return [f.feature for f in sorted(self.features, key=lambda f: -f.psi) if f.drifting]

    @property
    def drift_score(self) -> float | None:
        return self.domain.auc if self.domain is not None else None

    @property
    def reasons(self) -> list[str]:
        """Why this evaluation alarms (empty: no drift)."""
        out = []
        if self.drifting_features:
            out.append("data drift in " + ", ".join(self.drifting_features))
        if self.domain is not None and self.domain.drifting:
            out.append(f"domain classifier AUC {self.domain.auc:.3f} >= {self.domain.required:.3f}")
        if self.prediction is not None and self.prediction.drifting:
            out.append(f"prediction drift (PSI {self.prediction.psi:.3f})")
        out += [f"{m.metric} degraded {m.recorded:.4g} -> {m.current:.4g}" for m in self.performance
                if m.degraded and m.recorded is not None]
        return out

    @property
    def alarm(self) -> bool:
        return bool(self.reasons)

    def metrics(self) -> dict[tuple[str, str | None], float]:
        """Every value as (metric, feature or None) -> number; recorded in the checks' metric history."""
        out: dict[tuple[str, str | None], float] = {
            ("alarm", None): float(self.alarm),
            ("drifting_features", None): float(len(self.drifting_features)),
        }
        if self.domain is not None:
            out[("drift_score", None)] = self.domain.auc
        for f in self.features:
            out[("psi", f.feature)] = round(f.psi, 6)
            out[("p_value", f.feature)] = f.p_value
        if self.prediction is not None:
            out[("prediction_psi", None)] = round(self.prediction.psi, 6)
            out[("prediction_p_value", None)] = self.prediction.p_value
        for m in self.performance:
            out[("performance", m.metric)] = m.current
            if m.change is not None:
                out[("performance_change", m.metric)] = m.change
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "model": self.model, "version": self.version, "created_at": self.created_at,
            "task": self.task, "reference": self.reference.as_dict(), "current": self.current.as_dict(),
            "thresholds": self.thresholds, "features": [f.as_dict() for f in self.features], "level": self.level,
            "domain": self.domain.as_dict() if self.domain else None,
            "prediction": self.prediction.as_dict() if self.prediction else None,
            "performance": [m.as_dict() for m in self.performance], "labelled_rows": self.labelled_rows,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            model=data["model"], version=int(data["version"]), created_at=float(data["created_at"]),
            task=data["task"], reference=BatchInfo(**data["reference"]), current=BatchInfo(**data["current"]),
            thresholds=dict(data["thresholds"]), features=[FeatureDrift.from_dict(f) for f in data["features"]],
            level=float(data["level"]),
            domain=DomainDrift.from_dict(data["domain"]) if data.get("domain") else None,
            prediction=FeatureDrift.from_dict(data["prediction"]) if data.get("prediction") else None,
            performance=[MetricChange.from_dict(m) for m in data.get("performance", [])],
            labelled_rows=int(data.get("labelled_rows", 0)), notes=list(data.get("notes", [])), id=data.get("id"),
        )


# ------------------------------------------------------------------ what the registry tells us of a model


def model_task(model: ModelVersion, pipeline: Any = None) -> str:
    spec = model.record.get("spec") or {}
    task = spec.get("task") or model.record.get("task")
    if task in ("binary", "multiclass", "regression"):
        return str(task)
    classes = getattr(pipeline, "classes_", None)
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


def model_target(model: ModelVersion) -> str | None:
    spec = model.record.get("spec") or {}
    target = spec.get("target") or model.record.get("target")
    return str(target) if target else None


def model_classes(model: ModelVersion, pipeline: Any = None) -> list[Any]:
    classes = model.record.get("classes")
    if classes:
        return list(classes)
    found = getattr(pipeline, "classes_", None)
    return [c.item() if hasattr(c, "item") else c for c in found] if found is not None else []


def _score(pipeline: Any, table: pa.Table, columns: list[str], task: str, what: str) -> np.ndarray:
    frame = model_frame(table, columns)
    try:
        output = pipeline.predict(frame) if task == "regression" else pipeline.predict_proba(frame)
    except Exception as err:  # the model's own error, with where it happened
        raise ProjectError(f"the model could not score the {what}: {type(err).__name__}: {err}") from None
    return np.asarray(output, dtype="float64")


# ------------------------------------------------------------------ the evaluation


def evaluate_model(model: ModelVersion, pipeline: Any, reference: Batch, current: Batch, *, now: float,
                   thresholds: DriftThresholds | None = None, domain: bool = True,
                   notes: list[str] | None = None) -> Evaluation:
    """Data drift of every input column, the domain classifier's score, prediction drift, and performance
    drift when ``current`` holds the model's target column. ``pipeline=None`` skips what needs the model."""
    th = thresholds or DriftThresholds()
    kinds = kinds_of(model.input_schema)
    if not kinds:
        raise ProjectError(f"model {model.name!r} v{model.version} records no input schema: nothing to compare")
    if current.table.num_rows == 0:
        raise ProjectError(f"the current batch ({current.source}) has no rows: nothing to evaluate")
    if reference.table.num_rows == 0:
        raise ProjectError(f"the reference ({reference.source}) has no rows")
    ref_cols = feature_columns(reference.table, kinds, what=f"the reference ({reference.source})")
    cur_cols = feature_columns(current.table, kinds, what=f"the current batch ({current.source})")
    task = model_task(model, pipeline)
    drift = data_drift(ref_cols, cur_cols, kinds, thresholds=th, extra_tests=1 if pipeline is not None else 0)
    dom = domain_drift(ref_cols, cur_cols, kinds, thresholds=th) if domain else None
    columns = list(kinds)
    prediction = None
    performance: list[MetricChange] = []
    labelled = 0
    notes = list(notes or [])
    if pipeline is not None:
        classes = model_classes(model, pipeline)
        ref_out = _score(pipeline, reference.table, columns, task, "reference")
        cur_out = _score(pipeline, current.table, columns, task, "current batch")
        names = [str(c) for c in classes]
        prediction = prediction_drift(task, prediction_values(task, ref_out, names),
                                      prediction_values(task, cur_out, names), level=drift.level, thresholds=th)
        target = model_target(model)
        if target and target in current.table.column_names:
            y, keep = encode_labels(current.table.column(target).to_pylist(), task, classes)
            labelled = int(keep.sum())
            if labelled:
                measured = current_metrics(task, y[keep], cur_out[keep], max(2, len(classes)))
                performance = performance_drift(measured, model.metrics, thresholds=th)
            else:
                notes.append(f"the target column {target!r} has no usable labels: performance not measured")
        else:
            notes.append("no labels in the current batch: performance drift not measured")
    return Evaluation(model=model.name, version=model.version, created_at=now, task=task, reference=reference.info(),
                      current=current.info(), thresholds=th.as_dict(), features=drift.features, level=drift.level,
                      domain=dom, prediction=prediction, performance=performance, labelled_rows=labelled, notes=notes)

"""``compile_scorer``: the back end per model family, and ``load_scorer`` for the saved form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tideflow.errors import UnsupportedPushdown
from tideflow.models.scorers import _lleaves, _native, _onnx
from tideflow.models.scorers.base import BaseScorer, Head, features_from_json
from tideflow.models.sql.plan import LinearPlan, ModelPlan, plan_model

BACKENDS = ("auto", "numpy", "onnx", "lleaves")


def _onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def compile_scorer(
    model: Any, *, backend: str = "auto", input_columns: Sequence[str] | None = None
) -> BaseScorer:
    """Compile a fitted pipeline (or estimator / LightGBM Booster) into a ``Scorer``.

    ``auto`` keeps what won on this machine: numpy for linear/logistic, lleaves for LightGBM,
    ONNX Runtime for other tree ensembles (numpy traversal when a back end is not installed).
    Raises ``UnsupportedPushdown(step, reason)`` for steps the compiler cannot reproduce.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown scorer backend {backend!r}; expected one of {BACKENDS}")
    plan = plan_model(model, input_columns=input_columns)
    return compile_plan(plan, backend=backend, model=model)


def compile_plan(plan: ModelPlan, *, backend: str = "auto", model: Any = None) -> BaseScorer:
    if isinstance(plan.model, LinearPlan):
        if backend not in ("auto", "numpy"):
            raise UnsupportedPushdown("scorer", f"linear models use the numpy back end, not {backend!r}")
        return _native.linear_from_plan(plan)
    if backend == "lleaves" or (backend == "auto" and plan.family == "lightgbm" and _lleaves.available()):
        if plan.family != "lightgbm" or model is None:
            raise UnsupportedPushdown("scorer", "lleaves compiles LightGBM models only")
        last = model.steps[-1][1] if type(model).__name__ == "Pipeline" else model
        return _lleaves.lleaves_from_plan(plan, last)
    if backend == "onnx" or (backend == "auto" and _onnx_available()):
        try:
            return _onnx.onnx_from_plan(plan)
        except UnsupportedPushdown:
            if backend == "onnx":
                raise
    return _native.trees_from_plan(plan)


_LOADERS: dict[str, Any] = {
    "numpy_linear": _native.LinearScorer,
    "numpy_trees": _native.TreeScorer,
    "onnx_trees": _onnx.OnnxTreeScorer,
    "lleaves": _lleaves.LleavesScorer,
}


def load_scorer(path: str | Path) -> BaseScorer:
    """Load a scorer written by ``scorer.save(path)``."""
    path = Path(path)
    header = json.loads((path / "scorer.json").read_text())
    kind = header["kind"]
    if kind not in _LOADERS:
        raise ValueError(f"{path}: unknown scorer kind {kind!r}; expected one of {sorted(_LOADERS)}")
    h = header["head"]
    head = Head(h["link"], h["classes"], h["label_rule"], h["sigmoid_scale"], h["float32"])
    loaded: BaseScorer = _LOADERS[kind].load(
        path, header, header["family"], header["input_columns"], features_from_json(header["features"]), head
    )
    return loaded

"""A fitted model as data: the preprocessing per output feature and the model's arithmetic.

``plan_model(model)`` reads a fitted scikit-learn ``Pipeline`` (or a bare estimator, or a LightGBM
``Booster``) into a ``ModelPlan``: plain numbers and labels, no estimator objects. Two back ends
read the plan: the SQL compiler (``compile.py``) and the compiled scorers
(``tideflow.models.scorers``). Everything that cannot be reproduced exactly raises
``UnsupportedPushdown(step, reason)`` here, once, for both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tideflow.errors import UnsupportedPushdown

Op = tuple[Any, ...]  # ("fill", v) | ("sub", v) | ("div", v) | ("mul", v) | ("add", v) | ("clip", lo, hi)
# none: the margins are the class probabilities; proba1: the one margin is P(classes[1])
Link = Literal["identity", "logistic", "softmax", "exp", "none", "proba1"]
LabelRule = Literal["none", "margin_gt0", "margin_ge0", "argmax_margin", "argmax_proba", "proba_gt_half"]


@dataclass(frozen=True)
class Feature:
    """One column of the matrix the model sees: an input column, its ops, and for one-hot a category.

    ``category`` is ``None`` for numeric features and ``(value,)`` for the indicator
    ``value == category`` (``(None,)``: the input is missing). Ops run in order; ``fill``
    replaces a missing value.
    """

    column: str
    ops: tuple[Op, ...] = ()
    category: tuple[Any] | None = None

    @property
    def is_indicator(self) -> bool:
        return self.category is not None


@dataclass(frozen=True)
class LinearPlan:
    """``margin = X @ coef.T + intercept`` (one column per margin), then ``link``."""

    coef: np.ndarray  # (n_margins, n_features)
    intercept: np.ndarray  # (n_margins,)


@dataclass(frozen=True)
class Tree:
    """One tree in arrays. A node goes left when ``x < bound`` (``strict``) or ``x <= bound``.

    A missing input goes left when ``missing_left``; with ``zero_missing`` (LightGBM's
    ``missing_type=Zero``) values with ``|x| <= 1e-35f`` count as missing too. ``values`` holds
    per node the amounts added to margins ``offset .. offset + values.shape[1]``.
    """

    feature: np.ndarray  # int, -1 at leaves
    bound: np.ndarray  # float64
    strict: np.ndarray  # bool
    missing_left: np.ndarray  # bool
    zero_missing: np.ndarray  # bool
    left: np.ndarray  # int
    right: np.ndarray  # int
    values: np.ndarray  # (n_nodes, n_values) float64
    offset: int = 0
    # float32 threshold (XGBoost) per node for back ends that compare in float32 natively
    threshold32: np.ndarray | None = None

    def is_leaf(self, node: int) -> bool:
        return bool(self.feature[node] < 0)


@dataclass(frozen=True)
class TreesPlan:
    """``margin[k] = base[k] + sum of tree values (sequentially)``, then divided by ``divisor``."""

    trees: tuple[Tree, ...]
    base: np.ndarray  # (n_margins,)
    divisor: float | None = None
    float32: bool = False  # XGBoost: every value and every sum is float32
    sigmoid_scale: float = 1.0  # LightGBM binary objective's sigmoid parameter


@dataclass(frozen=True)
class ModelPlan:
    """Input columns, features, model arithmetic, link and labels of one fitted model."""

    family: str  # "linear", "logistic", "random_forest", "lightgbm", ...
    estimator: str  # class name, for messages
    input_columns: tuple[str, ...]
    features: tuple[Feature, ...]
    model: LinearPlan | TreesPlan
    n_margins: int
    link: Link
    classes: tuple[Any, ...] | None = None
    label_rule: LabelRule = "none"
    # each margin is already a probability of classes[k] (random forests, decision trees)
    margins_are_proba: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    @property
    def output_names(self) -> list[str]:
        """``prediction`` then ``proba_<class>`` per class for classifiers."""
        names = ["prediction"]
        if self.classes is not None:
            names += [proba_name(c) for c in self.classes]
        return names

    @property
    def numeric_columns(self) -> list[str]:
        return _unique(f.column for f in self.features if not f.is_indicator)

    @property
    def categorical_columns(self) -> list[str]:
        return _unique(f.column for f in self.features if f.is_indicator)


def proba_name(cls: Any) -> str:
    return f"proba_{cls}"


def _unique(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float | np.floating) and math.isnan(value))
    except TypeError:
        return False


def py_value(value: Any) -> Any:
    """A numpy scalar as the plain Python value (``None`` for NaN / pandas NA)."""
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


# --------------------------------------------------------------------------------------------------
# entry point


def plan_model(model: Any, *, input_columns: Sequence[str] | None = None) -> ModelPlan:
    """Read a fitted model into a ``ModelPlan``; raises ``UnsupportedPushdown`` saying why it cannot."""
    from tideflow.models.sql import _estimators, _preprocess

    steps: list[tuple[str, Any]]
    if type(model).__name__ == "Pipeline" and hasattr(model, "steps"):
        steps = list(model.steps)
    else:
        steps = [(type(model).__name__, model)]
    if not steps:
        raise UnsupportedPushdown("pipeline", "the pipeline has no steps")
    columns = _input_columns(model, steps[0][1], input_columns)
    features = tuple(Feature(c) for c in columns)
    for name, step in steps[:-1]:
        features = tuple(_preprocess.apply_step(step, list(features), f"pipeline step {name!r}", columns))
    last_name, estimator = steps[-1]
    if estimator is None or estimator == "passthrough":
        raise UnsupportedPushdown(f"pipeline step {last_name!r}", "the pipeline ends without an estimator")
    return _estimators.plan_estimator(estimator, f"pipeline step {last_name!r}", tuple(columns), features)


def _input_columns(model: Any, first: Any, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return [str(c) for c in given]
    for obj in (model, first):
        names = getattr(obj, "feature_names_in_", None)
        if names is not None:
            return [str(c) for c in names]
    if type(model).__name__ == "Booster" and hasattr(model, "feature_name"):
        return [str(c) for c in model.feature_name()]
    n = getattr(model, "n_features_in_", None)
    raise UnsupportedPushdown(
        "input columns",
        f"the model was fitted on an unnamed matrix ({n} columns): fit it on a DataFrame or pass input_columns=[...]",
    )

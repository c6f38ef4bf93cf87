"""Final estimators as plans: linear models, scikit-learn trees and ensembles, LightGBM, XGBoost."""

from __future__ import annotations

from typing import Any

import numpy as np

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql import _boosters
from tideflow.models.sql.floats import f32_le_bound
from tideflow.models.sql.plan import Feature, LinearPlan, Link, ModelPlan, Tree, TreesPlan, py_value

SUPPORTED_ESTIMATORS = (
    "LogisticRegression, LinearRegression, Ridge, Lasso, ElasticNet, DecisionTree*, RandomForest*, ExtraTrees*, "
    "GradientBoosting*, HistGradientBoosting*, LGBMClassifier/LGBMRegressor/Booster, XGBClassifier/XGBRegressor"
)

_LINEAR_REGRESSORS = {"LinearRegression", "Ridge", "Lasso", "ElasticNet"}
_SINGLE_TREES = {"DecisionTreeClassifier", "DecisionTreeRegressor"}
_FORESTS = {"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor"}


def plan_estimator(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    kind = type(est).__name__
    where = f"{where} ({kind})"
    n_in = getattr(est, "n_features_in_", None)
    if n_in is not None and n_in != len(features):
        raise UnsupportedPushdown(where, f"the estimator was fitted on {n_in} columns but receives {len(features)}")
    if kind == "LogisticRegression":
        return _logistic(est, where, columns, features)
    if kind in _LINEAR_REGRESSORS:
        return _linear(est, where, columns, features)
    if kind in _SINGLE_TREES or kind in _FORESTS:
        return _forest(est, where, columns, features)
    if kind in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        return _gradient_boosting(est, where, columns, features)
    if kind in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        return _hist_gradient_boosting(est, where, columns, features)
    if kind in ("LGBMClassifier", "LGBMRegressor", "Booster") and type(est).__module__.startswith("lightgbm"):
        return _boosters.plan_lightgbm(est, where, columns, features)
    if kind in ("XGBClassifier", "XGBRegressor"):
        return _boosters.plan_xgboost(est, where, columns, features)
    raise UnsupportedPushdown(where, f"{kind} is not supported in model-to-SQL; supported: {SUPPORTED_ESTIMATORS}")


def _classes(est: Any) -> tuple[Any, ...]:
    return tuple(py_value(c) for c in np.asarray(est.classes_).tolist())


def _logistic(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    classes = _classes(est)
    coef = np.asarray(est.coef_, dtype=np.float64)
    intercept = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
    if len(classes) > 2 and getattr(est, "multi_class", "auto") == "ovr":
        raise UnsupportedPushdown(where, "one-vs-rest LogisticRegression is not supported; use the multinomial form")
    binary = coef.shape[0] == 1
    return ModelPlan(
        family="logistic", estimator=type(est).__name__, input_columns=columns, features=features,
        model=LinearPlan(coef, intercept), n_margins=coef.shape[0],
        link="logistic" if binary else "softmax", classes=classes,
        label_rule="margin_gt0" if binary else "argmax_margin",
    )


def _linear(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    coef = np.asarray(est.coef_, dtype=np.float64)
    if coef.ndim != 1:
        if coef.shape[0] != 1:
            raise UnsupportedPushdown(where, f"a multi-output regression ({coef.shape[0]} targets) is not supported")
        coef = coef[0]
    intercept = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
    return ModelPlan(
        family="linear", estimator=type(est).__name__, input_columns=columns, features=features,
        model=LinearPlan(coef.reshape(1, -1), intercept[:1] if intercept.size else np.zeros(1)), n_margins=1,
        link="identity",
    )


def sklearn_tree(tree: Any, values: np.ndarray, offset: int = 0) -> Tree:
    """A scikit-learn ``tree_`` (features compared as float32 ``<=`` a float64 threshold)."""
    n = int(tree.node_count)
    feature = np.asarray(tree.feature, dtype=np.int64).copy()
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature[left < 0] = -1
    bound = np.zeros(n)
    strict = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(feature >= 0):
        bound[i], strict[i] = f32_le_bound(float(tree.threshold[i]))
    missing = getattr(tree, "missing_go_to_left", None)
    missing_left = np.zeros(n, dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
    return Tree(feature, bound, strict, missing_left, np.zeros(n, dtype=bool), left, right, values, offset)


def _forest(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    kind = type(est).__name__
    single = kind in _SINGLE_TREES
    estimators = [est] if single else list(est.estimators_)
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedPushdown(where, "multi-output trees are not supported")
    classifier = kind.endswith("Classifier")
    trees = []
    for sub in estimators:
        t = sub.tree_
        if classifier:
            n_classes = int(np.asarray(est.n_classes_).reshape(-1)[0])
            v = np.asarray(t.value[:, 0, :n_classes], dtype=np.float64)
            norm = v.sum(axis=1)[:, np.newaxis]
            norm[norm == 0.0] = 1.0
            values = v / norm  # exactly what DecisionTreeClassifier.predict_proba divides
        else:
            values = np.asarray(t.value[:, 0, :1], dtype=np.float64)
        if classifier and values.shape[1] == 2:
            values = values[:, 1:]  # binary: sum P(class 1) only; P(class 0) = 1 - P(class 1) (halves the SQL)
        trees.append(sklearn_tree(t, values))
    n_margins = trees[0].values.shape[1]
    link: Link = "identity"
    if classifier:
        link = "proba1" if n_margins == 1 else "none"
    family = "decision_tree" if single else ("extra_trees" if kind.startswith("ExtraTrees") else "random_forest")
    return ModelPlan(
        family=family, estimator=kind, input_columns=columns, features=features,
        model=TreesPlan(tuple(trees), np.zeros(n_margins), divisor=None if single else float(len(estimators))),
        n_margins=n_margins, link=link, classes=_classes(est) if classifier else None,
        label_rule="argmax_proba" if classifier else "none", margins_are_proba=classifier,
    )


def _gradient_boosting(est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]) -> ModelPlan:
    kind = type(est).__name__
    classifier = kind.endswith("Classifier")
    loss = getattr(est, "loss", "")
    if classifier and loss != "log_loss":
        raise UnsupportedPushdown(where, f"GradientBoostingClassifier(loss={loss!r}) is not supported; use 'log_loss'")
    init = getattr(est, "init", None)
    if init not in (None, "zero"):
        raise UnsupportedPushdown(where, "a custom init estimator is not supported")
    probe = np.zeros((1, int(est.n_features_in_)), dtype=np.float32)
    base = np.asarray(est._raw_predict_init(probe), dtype=np.float64).reshape(-1)
    lr = float(est.learning_rate)
    stages = est.estimators_  # (n_stages, K)
    trees = []
    for stage in stages:
        for k, sub in enumerate(stage):
            t = sub.tree_
            values = lr * np.asarray(t.value[:, 0, :1], dtype=np.float64)  # predict_stages adds scale * value
            trees.append(sklearn_tree(t, values, offset=k))
    n_margins = stages.shape[1]
    classes = _classes(est) if classifier else None
    link: Link = "identity"
    if classifier:
        link = "logistic" if n_margins == 1 else "softmax"
    return ModelPlan(
        family="gradient_boosting", estimator=kind, input_columns=columns, features=features,
        model=TreesPlan(tuple(trees), base), n_margins=n_margins, link=link, classes=classes,
        label_rule=("margin_ge0" if n_margins == 1 else "argmax_margin") if classifier else "none",
    )


def _hist_gradient_boosting(
    est: Any, where: str, columns: tuple[str, ...], features: tuple[Feature, ...]
) -> ModelPlan:
    kind = type(est).__name__
    if getattr(est, "_preprocessor", None) is not None or (
        est.is_categorical_ is not None and bool(np.any(est.is_categorical_))
    ):
        raise UnsupportedPushdown(where, "native categorical features of HistGradientBoosting are not supported")
    link_name = type(est._loss.link).__name__
    classifier = kind.endswith("Classifier")
    links = {"IdentityLink": "identity", "LogLink": "exp", "LogitLink": "logistic", "MultinomialLogit": "softmax"}
    if link_name not in links:
        raise UnsupportedPushdown(where, f"the loss link {link_name} is not supported")
    trees = []
    for per_iteration in est._predictors:
        for k, predictor in enumerate(per_iteration):
            nodes = predictor.nodes
            if np.any(nodes["is_categorical"]):
                raise UnsupportedPushdown(where, "categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            feature = np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64)
            n = len(nodes)
            trees.append(
                Tree(
                    feature, np.asarray(nodes["num_threshold"], dtype=np.float64), np.zeros(n, dtype=bool),
                    nodes["missing_go_to_left"].astype(bool), np.zeros(n, dtype=bool),
                    nodes["left"].astype(np.int64), nodes["right"].astype(np.int64),
                    np.asarray(nodes["value"], dtype=np.float64).reshape(-1, 1), k,
                )
            )
    base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    n_margins = base.size
    return ModelPlan(
        family="hist_gradient_boosting", estimator=kind, input_columns=columns, features=features,
        model=TreesPlan(tuple(trees), base), n_margins=n_margins, link=links[link_name],  # type: ignore[arg-type]
        classes=_classes(est) if classifier else None,
        label_rule=("margin_gt0" if n_margins == 1 else "argmax_margin") if classifier else "none",
    )

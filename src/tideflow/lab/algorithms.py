"""The algorithms the Lab trains: valid parameter ranges, default search spaces, and estimators.

Each ``Param`` holds what the estimator accepts (``valid_low``/``valid_high`` or ``choices``) and the
default range the search explores. ``resource`` names the parameter successive halving scales
(``n_estimators``, ``max_iter``) or ``data_fraction`` when the algorithm has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["int", "float", "categorical"]
Task = Literal["binary", "multiclass", "regression"]
CLASSIFICATION: tuple[Task, ...] = ("binary", "multiclass")
ALL_TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its kind, the values the estimator accepts, and the default search range."""

    kind: Kind
    low: float | None = None  # default search range (int/float)
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()  # default search choices (categorical)
    valid_low: float | None = None  # what the estimator accepts
    valid_high: float | None = None
    low_exclusive: bool = False
    valid_choices: tuple[Any, ...] = ()

    def describe_valid(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.valid_choices or self.choices)
        lo = "-inf" if self.valid_low is None else f"{self.valid_low:g}"
        hi = "inf" if self.valid_high is None else f"{self.valid_high:g}"
        left = "(" if self.low_exclusive or self.valid_low is None else "["
        return f"{'an integer' if self.kind == 'int' else 'a number'} in {left}{lo}, {hi}]"

    def accepts(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in (self.valid_choices or self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        if self.valid_low is not None and (value < self.valid_low or (self.low_exclusive and value == self.valid_low)):
            return False
        return not (self.valid_high is not None and value > self.valid_high)

    def default_space(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


def _int(low: int, high: int, *, valid_low: int = 1, valid_high: int | None = None, log: bool = False) -> Param:
    return Param("int", low, high, log, valid_low=valid_low, valid_high=valid_high)


def _float(low: float, high: float, *, valid_low: float | None = 0.0, valid_high: float | None = None,
           log: bool = False, exclusive: bool = False) -> Param:
    return Param("float", low, high, log, valid_low=valid_low, valid_high=valid_high, low_exclusive=exclusive)


def _cat(*choices: Any, valid: tuple[Any, ...] = ()) -> Param:
    return Param("categorical", choices=choices, valid_choices=valid or choices)


@dataclass(frozen=True)
class Algorithm:
    name: str
    tasks: tuple[Task, ...]
    params: dict[str, Param]
    resource: str  # a parameter name, or "data_fraction"
    label: str
    fixed: dict[str, Any] = field(default_factory=dict)

    def default_space(self) -> dict[str, Any]:
        """Parameter -> a fixed value or a search range/choices (as a user would write it)."""
        space: dict[str, Any] = {}
        for name, param in self.params.items():
            space[name] = self.fixed[name] if name in self.fixed else param.default_space()
        return space


_TREES = {
    "n_estimators": _int(50, 400, log=True),
    "max_depth": _int(3, 20, valid_low=1),
    "min_samples_leaf": _int(1, 20, log=True),
    "max_features": _float(0.2, 1.0, valid_high=1.0, exclusive=True),
}

ALGORITHMS: dict[str, Algorithm] = {
    "logistic": Algorithm(
        "logistic", CLASSIFICATION, {
            "C": _float(1e-3, 100.0, log=True, exclusive=True),
            "l1_ratio": _float(0.0, 1.0, valid_high=1.0),
            "class_weight": _cat(None, "balanced"),
        }, "data_fraction", "logistic regression", fixed={"l1_ratio": 0.0}),
    "linear": Algorithm(
        "linear", ("regression",), {
            "regularization": _cat("ridge", "lasso", "elasticnet"),
            "alpha": _float(1e-4, 10.0, log=True, exclusive=True),
            "l1_ratio": _float(0.1, 0.9, valid_high=1.0),
        }, "data_fraction", "linear regression (ridge / lasso / elastic net)"),
    "random_forest": Algorithm("random_forest", ALL_TASKS, dict(_TREES), "n_estimators", "random forest"),
    "extra_trees": Algorithm("extra_trees", ALL_TASKS, dict(_TREES), "n_estimators", "extra trees"),
    "hist_gradient_boosting": Algorithm(
        "hist_gradient_boosting", ALL_TASKS, {
            "max_iter": _int(50, 400, log=True),
            "learning_rate": _float(0.01, 0.3, log=True, exclusive=True),
            "max_leaf_nodes": _int(8, 128, valid_low=2, log=True),
            "min_samples_leaf": _int(5, 100, log=True),
            "l2_regularization": _float(1e-4, 10.0, log=True),
        }, "max_iter", "histogram gradient boosting"),
    "lightgbm": Algorithm(
        "lightgbm", ALL_TASKS, {
            "n_estimators": _int(50, 400, log=True),
            "learning_rate": _float(0.01, 0.3, log=True, exclusive=True),
            "num_leaves": _int(8, 128, valid_low=2, valid_high=131072, log=True),
            "min_child_samples": _int(5, 100, valid_low=0, log=True),
            "subsample": _float(0.5, 1.0, valid_high=1.0, exclusive=True),
            "colsample_bytree": _float(0.5, 1.0, valid_high=1.0, exclusive=True),
            "reg_lambda": _float(1e-4, 10.0, log=True),
        }, "n_estimators", "LightGBM"),
    "xgboost": Algorithm(
        "xgboost", ALL_TASKS, {
            "n_estimators": _int(50, 400, log=True),
            "learning_rate": _float(0.01, 0.3, log=True, exclusive=True),
            "max_depth": _int(2, 10, valid_low=0),
            "min_child_weight": _float(0.1, 10.0, log=True),
            "subsample": _float(0.5, 1.0, valid_high=1.0, exclusive=True),
            "colsample_bytree": _float(0.5, 1.0, valid_high=1.0, exclusive=True),
            "reg_lambda": _float(1e-4, 10.0, log=True),
        }, "n_estimators", "XGBoost"),
    "knn": Algorithm(
        "knn", ALL_TASKS, {
            "n_neighbors": _int(3, 50, log=True),
            "weights": _cat("uniform", "distance"),
            "p": _cat(1, 2),
        }, "data_fraction", "k-nearest neighbours"),
    "mlp": Algorithm(
        "mlp", ALL_TASKS, {
            "hidden_units": _int(16, 128, log=True),
            "layers": _int(1, 2, valid_high=8),
            "alpha": _float(1e-6, 1e-1, log=True),
            "learning_rate_init": _float(1e-4, 1e-1, log=True, exclusive=True),
            "max_iter": _int(50, 200, log=True),
        }, "max_iter", "multi-layer perceptron"),
}


def build_estimator(name: str, task: Task, params: dict[str, Any], *, seed: int, threads: int) -> Any:
    """The scikit-learn compatible estimator of ``name`` with ``params`` (already at their rung)."""
    p = dict(params)
    classify = task != "regression"
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        solver = "saga" if p.get("l1_ratio", 0.0) else "lbfgs"
        return LogisticRegression(C=p["C"], l1_ratio=p.get("l1_ratio", 0.0), class_weight=p.get("class_weight"),
                                  solver=solver, max_iter=500, random_state=seed)
    if name == "linear":
        from sklearn.linear_model import ElasticNet, Lasso, Ridge

        kind = p.get("regularization", "ridge")
        if kind == "ridge":
            return Ridge(alpha=p["alpha"], random_state=seed)
        if kind == "lasso":
            return Lasso(alpha=p["alpha"], random_state=seed, max_iter=5000)
        return ElasticNet(alpha=p["alpha"], l1_ratio=p.get("l1_ratio", 0.5), random_state=seed, max_iter=5000)
    if name in ("random_forest", "extra_trees"):
        from sklearn import ensemble

        cls = {("random_forest", True): ensemble.RandomForestClassifier,
               ("random_forest", False): ensemble.RandomForestRegressor,
               ("extra_trees", True): ensemble.ExtraTreesClassifier,
               ("extra_trees", False): ensemble.ExtraTreesRegressor}[(name, classify)]
        return cls(n_estimators=int(p["n_estimators"]), max_depth=_opt_int(p.get("max_depth")),
                   min_samples_leaf=int(p.get("min_samples_leaf", 1)), max_features=p.get("max_features", 1.0),
                   n_jobs=threads, random_state=seed)
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        hgb = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return hgb(max_iter=int(p["max_iter"]), learning_rate=p["learning_rate"],
                   max_leaf_nodes=int(p["max_leaf_nodes"]), min_samples_leaf=int(p["min_samples_leaf"]),
                   l2_regularization=p["l2_regularization"], early_stopping=False, random_state=seed)
    if name == "lightgbm":
        import lightgbm

        lgb = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return lgb(n_estimators=int(p["n_estimators"]), learning_rate=p["learning_rate"],
                   num_leaves=int(p["num_leaves"]), min_child_samples=int(p["min_child_samples"]),
                   subsample=p["subsample"], subsample_freq=1, colsample_bytree=p["colsample_bytree"],
                   reg_lambda=p["reg_lambda"], n_jobs=threads, random_state=seed, deterministic=True,
                   force_row_wise=True, verbosity=-1)
    if name == "xgboost":
        import xgboost

        xgb = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
        return xgb(n_estimators=int(p["n_estimators"]), learning_rate=p["learning_rate"],
                   max_depth=int(p["max_depth"]), min_child_weight=p["min_child_weight"], subsample=p["subsample"],
                   colsample_bytree=p["colsample_bytree"], reg_lambda=p["reg_lambda"], tree_method="hist",
                   n_jobs=threads, random_state=seed, verbosity=0)
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        knn = KNeighborsClassifier if classify else KNeighborsRegressor
        return knn(n_neighbors=int(p["n_neighbors"]), weights=p["weights"], p=int(p["p"]), n_jobs=threads)
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        mlp = MLPClassifier if classify else MLPRegressor
        layers = (int(p["hidden_units"]),) * int(p.get("layers", 1))
        return mlp(hidden_layer_sizes=layers, alpha=p["alpha"], learning_rate_init=p["learning_rate_init"],
                   max_iter=int(p["max_iter"]), random_state=seed)
    raise ValueError(f"unknown algorithm {name!r}")


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def scale_resource(algorithm: Algorithm, params: dict[str, Any], fraction: float) -> tuple[dict[str, Any], float]:
    """Params at ``fraction`` of the resource, and the data fraction to train on (1.0 unless scaled)."""
    if fraction >= 1.0:
        return dict(params), 1.0
    if algorithm.resource == "data_fraction":
        return dict(params), fraction
    scaled = dict(params)
    scaled[algorithm.resource] = max(1, math.ceil(int(params[algorithm.resource]) * fraction))
    return scaled, 1.0

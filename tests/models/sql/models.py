"""Shared fixtures for model-to-SQL and scorer tests: random data with NULLs, hostile names, unseen categories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

NUM_A = 'amount "usd"; --'
NUM_B = "score"
NUM_C = "age's"
CAT = 'country"; DROP TABLE x; --'
CATEGORIES = ["FR", "it's", 'q"uote', "semi;colon", "DE"]


def frame(n: int, seed: int, unseen: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = [*CATEGORIES, "unseen'); --"] if unseen else CATEGORIES
    df = pd.DataFrame({
        NUM_A: rng.lognormal(3, 1, n),
        NUM_B: rng.normal(0, 1, n),
        NUM_C: rng.integers(18, 90, n).astype(float),
        CAT: rng.choice(cats, n).astype(object),
    })
    df.loc[rng.random(n) < 0.1, NUM_A] = np.nan
    df.loc[rng.random(n) < 0.1, NUM_B] = np.nan
    df.loc[rng.random(n) < 0.1, CAT] = None
    return df


def targets(df: pd.DataFrame, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    a = np.log(df[NUM_A].fillna(20.0)) + df[NUM_B].fillna(0.0) + (df[CAT] == "FR") * 1.0
    noisy = a + rng.normal(0, 0.5, len(df))
    return {
        "binary": (noisy > np.median(noisy)).astype(int).to_numpy(),
        "multiclass": np.digitize(noisy, np.quantile(noisy, [0.33, 0.66])).astype(int),
        "labels": np.where(noisy > np.median(noisy), "yes 'y'", "no").astype(object),
        "regression": (noisy * 10 + df[NUM_C] / 10).to_numpy(),
    }


def preprocessor(scaler: str = "standard", numeric_strategy: str = "mean", cat_strategy: str = "most_frequent") -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    scale = StandardScaler() if scaler == "standard" else MinMaxScaler(clip=scaler == "minmax_clip")
    cat_imp = SimpleImputer(strategy=cat_strategy, fill_value="FR") if cat_strategy == "constant" else SimpleImputer(
        strategy=cat_strategy)
    return ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy=numeric_strategy)), ("scale", scale)]), [NUM_A, NUM_B]),
        ("cat", Pipeline([("impute", cat_imp), ("onehot", OneHotEncoder(handle_unknown="ignore"))]), [CAT]),
        ("raw", "passthrough", [NUM_C]),
    ])


def _models() -> dict[str, tuple[Callable[[], Any], str, dict[str, Any]]]:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    return {
        "logistic_binary": (lambda: LogisticRegression(max_iter=500), "binary", {}),
        "logistic_multinomial": (lambda: LogisticRegression(max_iter=500), "multiclass", {}),
        "logistic_labels": (lambda: LogisticRegression(max_iter=500), "labels", {"scaler": "minmax_clip"}),
        "linear": (LinearRegression, "regression", {"numeric_strategy": "median"}),
        "ridge": (Ridge, "regression", {"scaler": "minmax"}),
        "lasso": (lambda: Lasso(alpha=0.01), "regression", {}),
        "elasticnet": (lambda: ElasticNet(alpha=0.01), "regression", {"cat_strategy": "constant"}),
        "decision_tree": (lambda: DecisionTreeClassifier(max_depth=6, random_state=0), "multiclass", {}),
        "decision_tree_reg": (lambda: DecisionTreeRegressor(max_depth=8, random_state=0), "regression", {}),
        "random_forest": (lambda: RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), "binary", {}),
        "random_forest_labels": (
            lambda: RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), "labels", {}),
        "random_forest_reg": (
            lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0), "regression", {}),
        "extra_trees": (lambda: ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0), "multiclass", {}),
        "extra_trees_reg": (lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0), "regression",
                            {"scaler": "minmax"}),
        "gradient_boosting": (lambda: GradientBoostingClassifier(n_estimators=20, random_state=0), "binary", {}),
        "gradient_boosting_multi": (
            lambda: GradientBoostingClassifier(n_estimators=10, random_state=0), "multiclass", {}),
        "gradient_boosting_reg": (lambda: GradientBoostingRegressor(n_estimators=20, random_state=0), "regression", {}),
        "hist_gradient_boosting": (lambda: HistGradientBoostingClassifier(max_iter=20), "binary", {}),
        "hist_gradient_boosting_multi": (lambda: HistGradientBoostingClassifier(max_iter=10), "multiclass", {}),
        "hist_gradient_boosting_reg": (lambda: HistGradientBoostingRegressor(max_iter=20), "regression", {}),
        "lightgbm": (lambda: lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1), "binary", {}),
        "lightgbm_multi": (lambda: lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1), "multiclass", {}),
        "lightgbm_reg": (lambda: lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1), "regression", {}),
        "xgboost": (lambda: xgb.XGBClassifier(n_estimators=20, max_depth=4), "binary", {}),
        "xgboost_reg": (lambda: xgb.XGBRegressor(n_estimators=20, max_depth=4), "regression", {}),
    }


MODEL_NAMES = sorted(_models())
_CACHE: dict[str, Any] = {}


def fitted(name: str) -> Any:
    """The fitted pipeline for ``name`` (cached per session)."""
    if name not in _CACHE:
        import warnings

        from sklearn.pipeline import Pipeline

        make, target, pre_kwargs = _models()[name]
        train = frame(800, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and feature-name chatter from third-party fits
            _CACHE[name] = Pipeline([("prep", preprocessor(**pre_kwargs)), ("model", make())]).fit(
                train, targets(train, 2)[target])
    return _CACHE[name]


def expected(pipeline: Any, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The Python pipeline's own outputs, named like the SQL/scorer outputs."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"prediction": np.asarray(pipeline.predict(df))}
        if hasattr(pipeline, "predict_proba") and hasattr(pipeline.steps[-1][1], "classes_"):
            proba = pipeline.predict_proba(df)
            for i, c in enumerate(pipeline.classes_):
                out[f"proba_{c}"] = np.asarray(proba[:, i], dtype=np.float64)
    return out


def tolerance(name: str, output: str) -> float:
    """1e-9 everywhere, except XGBoost probabilities: XGBoost rounds through glibc's expf in float32."""
    if name == "xgboost" and output.startswith("proba_"):
        return 1.2e-7
    return 1e-9

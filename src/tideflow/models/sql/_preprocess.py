"""Preprocessing steps as ops on symbolic features (ColumnTransformer, imputers, scalers, one-hot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tideflow.errors import UnsupportedPushdown
from tideflow.models.sql.plan import Feature, is_missing, py_value

SUPPORTED_STEPS = "ColumnTransformer, SimpleImputer, StandardScaler, MinMaxScaler, OneHotEncoder, 'passthrough', 'drop'"


def apply_step(step: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    """The features after ``step``; raises ``UnsupportedPushdown`` for anything else."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return features
    if isinstance(step, str) and step == "drop":
        return []
    kind = type(step).__name__
    if kind == "FunctionTransformer" and step.func is None:  # how ColumnTransformer stores 'passthrough'
        return features
    if kind == "Pipeline":
        for name, sub in step.steps:
            features = apply_step(sub, features, f"{where} -> {name!r}", columns)
        return features
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise UnsupportedPushdown(where, f"{kind} is not supported in model-to-SQL; supported steps: {SUPPORTED_STEPS}")
    n_in = getattr(step, "n_features_in_", None)
    if kind != "ColumnTransformer" and n_in is not None and n_in != len(features):
        raise UnsupportedPushdown(where, f"{kind} was fitted on {n_in} columns but receives {len(features)}")
    return handler(step, features, where, columns)


def _column_transformer(ct: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    if getattr(ct, "n_features_in_", len(features)) != len(features):
        raise UnsupportedPushdown(where, f"ColumnTransformer expects {ct.n_features_in_} columns, got {len(features)}")
    indices = getattr(ct, "_transformer_to_input_indices", None)
    if indices is None:
        raise UnsupportedPushdown(where, "this scikit-learn version does not expose the ColumnTransformer's columns")
    out: list[Feature] = []
    for name, trans, _cols in ct.transformers_:
        idx = [int(i) for i in indices.get(name, [])]
        if not idx:
            continue
        sub = [features[i] for i in idx]
        out += apply_step(trans, sub, f"{where} -> {name!r}", columns)
    return out


def _simple_imputer(imp: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    if not is_missing(imp.missing_values):
        raise UnsupportedPushdown(where, f"SimpleImputer(missing_values={imp.missing_values!r}): only NaN/None is NULL")
    if getattr(imp, "add_indicator", False):
        raise UnsupportedPushdown(where, "SimpleImputer(add_indicator=True) is not supported")
    if imp.strategy not in ("mean", "median", "most_frequent", "constant"):
        raise UnsupportedPushdown(where, f"SimpleImputer(strategy={imp.strategy!r}) is not supported")
    out: list[Feature] = []
    for feature, stat in zip(features, imp.statistics_, strict=True):
        value = py_value(stat)
        if value is None:
            if getattr(imp, "keep_empty_features", False):
                raise UnsupportedPushdown(where, "SimpleImputer(keep_empty_features=True) on an all-missing column")
            continue  # scikit-learn drops columns that were all missing at fit time
        if feature.is_indicator:
            raise UnsupportedPushdown(where, "SimpleImputer after OneHotEncoder is not supported")
        out.append(Feature(feature.column, (*feature.ops, ("fill", value))))
    return out


def _standard_scaler(sc: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    out = []
    for i, feature in enumerate(features):
        _require_numeric(feature, where, "StandardScaler")
        ops = list(feature.ops)
        if sc.with_mean and sc.mean_ is not None:
            ops.append(("sub", float(sc.mean_[i])))
        if sc.with_std and sc.scale_ is not None:
            ops.append(("div", float(sc.scale_[i])))
        out.append(Feature(feature.column, tuple(ops)))
    return out


def _min_max_scaler(sc: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    out = []
    lo, hi = (float(v) for v in sc.feature_range)
    for i, feature in enumerate(features):
        _require_numeric(feature, where, "MinMaxScaler")
        ops = [*feature.ops, ("mul", float(sc.scale_[i])), ("add", float(sc.min_[i]))]
        if getattr(sc, "clip", False):
            ops.append(("clip", lo, hi))
        out.append(Feature(feature.column, tuple(ops)))
    return out


def _require_numeric(feature: Feature, where: str, kind: str) -> None:
    if feature.is_indicator:
        raise UnsupportedPushdown(where, f"{kind} after OneHotEncoder (on {feature.column!r}) is not supported")
    for op in feature.ops:
        if op[0] == "fill" and isinstance(op[1], str):
            raise UnsupportedPushdown(where, f"{kind} on the text column {feature.column!r}")


def _one_hot(enc: Any, features: list[Feature], where: str, columns: Sequence[str]) -> list[Feature]:
    if enc.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise UnsupportedPushdown(
            where,
            f"OneHotEncoder(handle_unknown={enc.handle_unknown!r}) raises on unseen categories, which SQL cannot do;"
            " refit with handle_unknown='ignore'",
        )
    if getattr(enc, "_infrequent_enabled", False):
        raise UnsupportedPushdown(where, "OneHotEncoder with infrequent categories (min_frequency/max_categories)")
    drop_idx = getattr(enc, "drop_idx_", None)
    out: list[Feature] = []
    for i, (feature, cats) in enumerate(zip(features, enc.categories_, strict=True)):
        if feature.is_indicator or any(op[0] != "fill" for op in feature.ops):
            raise UnsupportedPushdown(where, f"OneHotEncoder on the transformed column {feature.column!r}")
        dropped = None if drop_idx is None or drop_idx[i] is None else int(drop_idx[i])
        for j, cat in enumerate(np.asarray(cats).tolist()):
            if j == dropped:
                continue
            out.append(Feature(feature.column, feature.ops, (py_value(cat),)))
    return out


_HANDLERS = {
    "ColumnTransformer": _column_transformer,
    "SimpleImputer": _simple_imputer,
    "StandardScaler": _standard_scaler,
    "MinMaxScaler": _min_max_scaler,
    "OneHotEncoder": _one_hot,
}

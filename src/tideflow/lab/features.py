"""Feature roles detected from the data, with the spec's overrides, and the preprocessing they make.

``plan_features`` is pure over a pandas frame; ``build_preprocessor`` turns the plan into a
scikit-learn ``ColumnTransformer`` that goes inside every trial's pipeline, so the saved artifact is
preprocessing + model as one object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tideflow.lab.specs import ModelSpec


@dataclass(frozen=True)
class ColumnPlan:
    """How one input column is prepared."""

    column: str
    role: str  # numeric | categorical | text | date
    imputation: str = "none"
    scaling: str = "none"
    encoding: str = "one_hot"
    text: str = "skip"
    date_parts: tuple[str, ...] = ()

    def group_key(self) -> tuple[Any, ...]:
        return (self.role, self.imputation, self.scaling, self.encoding, self.date_parts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date_parts"] = list(self.date_parts)
        return data


def detect_role(frame: Any, column: str, spec: ModelSpec) -> str:
    """numeric for numbers and booleans, date for dates/timestamps, categorical or text for strings."""
    import pandas as pd

    series = frame[column]
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    distinct = series.nunique(dropna=True)
    if distinct >= spec.features.text.min_distinct and distinct > 0.5 * max(1, series.notna().sum()):
        return "text"
    return "categorical"


def plan_features(frame: Any, spec: ModelSpec) -> list[ColumnPlan]:
    """The input columns (target, excluded and skipped ones removed) and how each is prepared."""
    feats = spec.features
    columns = list(feats.include) if feats.include is not None else list(frame.columns)
    plans: list[ColumnPlan] = []
    for column in columns:
        if column == spec.target or column in feats.exclude:
            continue
        override = feats.columns.get(column)
        role = (override.role if override and override.role else None) or detect_role(frame, column, spec)
        if role == "skip":
            continue
        o = override
        if role == "numeric":
            plan = ColumnPlan(column, role, imputation=(o and o.imputation) or feats.numeric.imputation,
                              scaling=(o and o.scaling) or feats.numeric.scaling)
        elif role == "categorical":
            plan = ColumnPlan(column, role, imputation=(o and o.imputation) or feats.categorical.imputation,
                              encoding=(o and o.encoding) or feats.categorical.encoding)
        elif role == "text":
            handling = (o and o.text) or feats.text.handling
            if handling == "skip":
                continue
            plan = ColumnPlan(column, role, text=handling)
        else:
            parts = tuple((o and o.date_parts) or feats.date.parts)
            plan = ColumnPlan(column, role, imputation=(o and o.imputation) or "median", date_parts=parts,
                              scaling=(o and o.scaling) or "none")
        plans.append(plan)
    return plans


_PART_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def date_parts(frame: Any, parts: tuple[str, ...] = ("year", "month", "day", "dayofweek")) -> np.ndarray:
    """Numeric parts of every date column of ``frame`` (NaN where the date is missing)."""
    import pandas as pd

    out = []
    for column in frame.columns:
        values = pd.to_datetime(frame[column])
        for part in parts:
            attribute = _PART_ATTRIBUTES.get(part, part)
            out.append(getattr(values.dt, attribute).astype("float64").to_numpy())
    return np.column_stack(out) if out else np.empty((len(frame), 0))


def fill_text(values: Any) -> Any:
    """Missing text becomes an empty string (HashingVectorizer needs strings)."""
    import pandas as pd

    series = values.iloc[:, 0] if hasattr(values, "iloc") and getattr(values, "ndim", 1) == 2 else values
    return pd.Series(series).fillna("").astype(str).tolist()


def _imputer(strategy: str, categorical: bool) -> Any:
    from sklearn.impute import SimpleImputer

    if strategy == "none":
        return None
    if strategy == "constant":
        return SimpleImputer(strategy="constant", fill_value="__missing__" if categorical else 0.0)
    return SimpleImputer(strategy=strategy)


def _scaler(kind: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}.get(kind, lambda: None)()


def build_preprocessor(plans: list[ColumnPlan], spec: ModelSpec, seed: int) -> Any:
    """A ColumnTransformer for ``plans``: one branch per group of identically prepared columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, TargetEncoder

    groups: dict[tuple[Any, ...], list[ColumnPlan]] = {}
    for plan in plans:
        if plan.role == "text":
            groups[("text", plan.column)] = [plan]
        else:
            groups.setdefault(plan.group_key(), []).append(plan)
    branches: list[tuple[str, Any, Any]] = []
    for i, members in enumerate(groups.values()):
        plan = members[0]
        columns = [m.column for m in members]
        steps: list[tuple[str, Any]] = []
        if plan.role == "text":
            steps = [("fill", FunctionTransformer(fill_text)),
                     ("hash", HashingVectorizer(n_features=spec.features.text.hash_features, alternate_sign=False))]
            branches.append((f"text_{i}", Pipeline(steps), plan.column))
            continue
        if plan.role == "date":
            steps.append(("parts", FunctionTransformer(date_parts, kw_args={"parts": plan.date_parts})))
        imputer = _imputer(plan.imputation, plan.role == "categorical")
        if plan.role == "categorical":
            steps.append(("impute", imputer))
            if plan.encoding == "one_hot":
                steps.append(("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,
                                                      max_categories=spec.features.categorical.max_categories)))
            elif plan.encoding == "ordinal":
                steps.append(("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                       encoded_missing_value=-1)))
            else:
                target_type = "continuous" if spec.task == "regression" else spec.task
                steps.append(("encode", TargetEncoder(target_type=target_type, random_state=seed)))
        else:
            if imputer is not None:
                steps.append(("impute", imputer))
            scaler = _scaler(plan.scaling)
            if scaler is not None:
                steps.append(("scale", scaler))
        if not steps:
            branches.append((f"{plan.role}_{i}", "passthrough", columns))
        else:
            branches.append((f"{plan.role}_{i}", Pipeline(steps), columns))
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)

"""Which input features a fitted model cannot score with a missing value: decided once, by a probe.

A Lab model trained with ``impute: none`` hands a missing number straight to its algorithm. Most
scikit-learn estimators (logistic and linear models, k-NN, MLP, ...) refuse NaN; LightGBM, XGBoost,
HistGradientBoosting and recent random forests take it natively. Rather than guess from the algorithm
or read library error messages, ``missing_refused`` scores one valid record with features set to
missing, as the API node builds its input frame, and keeps the features for which the pipeline raises
or gives no number (NaN). The Lab stores the answer with the saved version
(``record["missing_refused"]``, ``ModelVersion.missing_refused``); the API node then refuses a ``null``
for those features with a 422 instead of failing while scoring. A version saved without it (before the
probe existed, or by other means) takes a missing value for every feature, as before.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tideflow.models.frames import records_frame

MISSING_REFUSED = "missing_refused"  # the key of the experiment record that holds the list


def base_record(frame: Any, schema: Mapping[str, str]) -> dict[str, Any]:
    """One record of JSON-like values for the features of ``schema``: the first present value of each
    column of ``frame`` (a pandas frame, e.g. the training inputs), None for a column without one."""
    import pandas as pd

    out: dict[str, Any] = {}
    for name, kind in schema.items():
        present = frame[name].dropna() if name in frame else pd.Series([], dtype=object)
        out[name] = _json_value(present.iloc[0], kind) if len(present) else None
    return out


def _json_value(value: Any, kind: str) -> Any:
    """``value`` (a numpy or pandas scalar) as the API node receives a value of type ``kind``."""
    import pandas as pd

    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, pd.Timestamp):
        value = item()
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return int(value)
    if kind == "double":
        return float(value)
    if kind in ("date", "timestamp"):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if kind == "date" else stamp.isoformat()
    return str(value)


def scores(pipeline: Any, frame: Any) -> bool:
    """``pipeline`` scores ``frame``: neither ``predict`` nor ``predict_proba`` (when it has one) raises,
    and every numeric output is a number (no NaN, no infinity)."""
    methods = [pipeline.predict] + ([pipeline.predict_proba] if hasattr(pipeline, "predict_proba") else [])
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = np.asarray(method(frame))
            except Exception:  # whatever the library raises on a missing value: the model cannot take it
                return False
        if out.dtype.kind in "fc":
            if not np.isfinite(out).all():
                return False
        elif out.dtype.kind == "O":
            numbers = [v for v in out.ravel().tolist() if isinstance(v, float)]
            if numbers and not np.isfinite(np.asarray(numbers)).all():
                return False
    return True


def missing_refused(pipeline: Any, schema: Mapping[str, str], base: Mapping[str, Any]) -> list[str] | None:
    """The features of ``schema`` (in its order) for which ``pipeline`` cannot score a missing value.

    ``base`` is one record that scores (every feature present, e.g. ``base_record`` of the training
    inputs). The probe sets all features to missing at once, then halves of each group that fails, down
    to single features: one prediction when the model takes every missing value, about two per refusing
    feature otherwise. None when ``base`` itself does not score: the probe cannot tell anything.
    """
    names = list(schema)
    frame_schema = dict(schema)

    def ok(missing: Sequence[str]) -> bool:
        record = {**{n: base.get(n) for n in names}, **dict.fromkeys(missing)}
        return scores(pipeline, records_frame([record], frame_schema))

    if not ok(()):
        return None
    refused: list[str] = []

    def search(group: list[str]) -> None:
        if ok(group):
            return
        if len(group) == 1:
            refused.append(group[0])
            return
        half = len(group) // 2
        search(group[:half])
        search(group[half:])

    if names:
        search(names)
    return refused

"""Compiled scorers equal the Python pipeline to 1e-6, on Arrow, dict, DataFrame and single records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from tests.models.sql.models import MODEL_NAMES, expected, fitted, frame

from tideflow.errors import UnsupportedPushdown
from tideflow.models.scorers import Scorer, compile_scorer, load_scorer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:sklearn")


def _check(name: str, got: dict[str, Any], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for output, values in want.items():
        if values.dtype.kind == "f" and not (output == "prediction" and "proba_0" in want):
            tol = 1e-6 * max(1.0, float(np.abs(values).max())) if name.startswith("xgboost") else 1e-6
            assert np.abs(np.asarray(got[output], dtype=np.float64) - values).max() <= tol, (name, output)
        else:
            assert list(got[output]) == values.tolist(), (name, output)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_scorer_equals_pipeline(name: str, tmp_path: Path) -> None:
    pipeline = fitted(name)
    rows = frame(200, 11, unseen=True)
    want = expected(pipeline, rows)
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, Scorer)
    _check(name, scorer.predict(pa.Table.from_pandas(rows, preserve_index=False)), want)
    _check(name, scorer.predict(rows), want)
    _check(name, scorer.predict({c: rows[c].tolist() for c in rows.columns}), want)
    scorer.save(tmp_path / "scorer")
    loaded = load_scorer(tmp_path / "scorer")
    assert loaded.kind == scorer.kind
    _check(name, loaded.predict(rows), want)
    for i in (0, 5, 17):
        one = loaded.predict_one({c: rows[c].iloc[i] for c in rows.columns})
        _check(name, {k: [v] for k, v in one.items()}, {k: v[i : i + 1] for k, v in want.items()})


@pytest.mark.parametrize(("name", "kind"), [
    ("logistic_binary", "numpy_linear"), ("ridge", "numpy_linear"), ("random_forest", "onnx_trees"),
    ("lightgbm", "lleaves"), ("xgboost", "onnx_trees"), ("hist_gradient_boosting", "onnx_trees"),
])
def test_auto_backend_per_family(name: str, kind: str) -> None:
    assert compile_scorer(fitted(name)).kind == kind


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
def test_tree_backends_agree(backend: str) -> None:
    pipeline = fitted("lightgbm_multi")
    rows = frame(100, 5, unseen=True)
    _check("lightgbm_multi", compile_scorer(pipeline, backend=backend).predict(rows), expected(pipeline, rows))


def test_unsupported_scorer_says_why() -> None:
    with pytest.raises(UnsupportedPushdown, match="lleaves compiles LightGBM models only"):
        compile_scorer(fitted("random_forest"), backend="lleaves")
    with pytest.raises(ValueError, match="unknown scorer backend 'tvm'"):
        compile_scorer(fitted("random_forest"), backend="tvm")

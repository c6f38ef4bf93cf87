"""Prediction runners score with the version's stored compiled scorer; the worker channel's framing."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tests.serving.conftest import SCHEMA, features, fitted

from tideflow.serving.errors import InvalidInput
from tideflow.serving.runners import SCORER_DIR, PredictionRunner, RunnerTarget, build_runner
from tideflow.serving.worker_process import frame, unframe


def records(n: int, seed: int) -> list[dict[str, object]]:
    frame = features(n, seed)
    return [{"amount": float(a), "n_tx": int(t), "channel": str(c)}
            for a, t, c in zip(frame["amount"], frame["n_tx"], frame["channel"], strict=True)]


def test_the_compiled_scorer_is_stored_reloaded_and_answers_as_the_pipeline(tmp_path: Path) -> None:
    pipeline = fitted(2)
    stored = tmp_path / SCORER_DIR
    first = PredictionRunner(2, SCHEMA, pipeline, scorer_dir=stored)
    assert first.scorer is not None and (stored / "scorer.json").is_file()
    again = PredictionRunner(2, SCHEMA, pipeline, scorer_dir=stored)  # loaded, not compiled
    assert again.scorer is not None and again.scorer.kind == first.scorer.kind
    rows = records(20, 7)
    rows[3]["channel"] = "never-seen"
    expected = pipeline.predict_proba(pd.DataFrame(rows))
    one = again(rows[:1])
    many = again(rows)
    assert one[0]["probability"] == pytest.approx(expected[0, 1], abs=1e-9)
    assert [o["probability"] for o in many] == pytest.approx(list(expected[:, 1]), abs=1e-9)
    assert [o["prediction"] for o in many] == [int(p) for p in expected.argmax(axis=1)]


def test_an_input_the_model_cannot_take_goes_to_the_pipeline_not_a_nan_answer(tmp_path: Path) -> None:
    x = features(200, 1)[["amount", "n_tx"]]
    pipeline = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), ["amount", "n_tx"])])),
                         ("model", LogisticRegression())]).fit(x, (x["amount"] > 100).astype(int))
    runner = PredictionRunner(1, {"amount": "double", "n_tx": "integer"}, pipeline, scorer_dir=tmp_path / "s")
    assert runner.scorer is not None
    ok = runner([{"amount": 120.0, "n_tx": 3}])
    assert not math.isnan(ok[0]["probability"])
    # saved without the probe's answer: the null is the likely cause, the client's to fix (a 422)
    with pytest.raises(InvalidInput, match="field 'amount': the model failed on this record's missing values"):
        runner([{"amount": None, "n_tx": 3}])
    # with the answer (the model takes nulls, says the probe): a failure is the model's, raised as it came
    known = PredictionRunner(1, {"amount": "double", "n_tx": "integer"}, pipeline, scorer_dir=tmp_path / "s",
                             missing_refused=[])
    with pytest.raises(ValueError, match="NaN"):  # scikit-learn's own error, as without a compiled scorer
        known([{"amount": None, "n_tx": 3}])


def test_build_runner_stores_the_scorer_with_the_saved_version(project: Path) -> None:
    runner = build_runner(RunnerTarget(str(project), "fraud", "pinned", "2"))
    assert isinstance(runner, PredictionRunner) and runner.scorer is not None
    assert (project / ".tide" / "models" / "fraud" / "2" / SCORER_DIR / "scorer.json").is_file()


def test_frames_cut_whole_messages_and_keep_a_partial_one() -> None:
    messages = [(1, [{"x": 1.5}]), ("ready", "3"), None, (2, True, [{"p": np.float64(0.25)}], 0.001)]
    data = b"".join(frame(m) for m in messages)
    buf = bytearray(data[:-5])
    got = unframe(buf)
    assert got == messages[:-1] and len(buf) == len(frame(messages[-1])) - 5
    buf += data[-5:]
    assert unframe(buf) == messages[-1:] and not buf
    assert pickle.loads(frame("x")[4:]) == "x"

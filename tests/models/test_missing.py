"""The missing-value probe: which features a fitted pipeline cannot score missing, stored with the version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tideflow.models import Registry
from tideflow.models.frames import records_frame
from tideflow.models.missing import MISSING_REFUSED, base_record, missing_refused, scores

SCHEMA = {"amount": "double", "n_tx": "integer", "channel": "string"}


def frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"amount": rng.gamma(2.0, 50.0, n), "n_tx": rng.integers(0, 30, n).astype("float64"),
                         "channel": rng.choice(["web", "pos", "app"], n).astype(object)})


def pipeline(numeric: Any, model: Any) -> Pipeline:
    x = frame()
    y = (x["amount"] > 100).astype(int)
    pre = ColumnTransformer([("num", numeric, ["amount", "n_tx"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"])])
    return Pipeline([("pre", pre), ("model", model)]).fit(x, y)


def test_a_model_without_imputation_refuses_its_numbers_and_takes_a_missing_category() -> None:
    fitted = pipeline(StandardScaler(), LogisticRegression())
    assert missing_refused(fitted, SCHEMA, base_record(frame(), SCHEMA)) == ["amount", "n_tx"]


@pytest.mark.parametrize("numeric", [Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                                     SimpleImputer(strategy="constant", fill_value=0.0)])
def test_an_imputing_model_takes_every_missing_value(numeric: Any) -> None:
    assert missing_refused(pipeline(numeric, LogisticRegression()), SCHEMA, base_record(frame(), SCHEMA)) == []


def test_an_algorithm_that_takes_nan_natively_takes_every_missing_value() -> None:
    x = frame()
    fitted = Pipeline([("pre", ColumnTransformer([("num", "passthrough", ["amount", "n_tx"])])),
                       ("model", HistGradientBoostingRegressor(max_iter=5))]).fit(x, x["amount"] * 2)
    assert missing_refused(fitted, SCHEMA, base_record(x, SCHEMA)) == []


def test_a_nan_answer_is_a_refusal_and_a_base_that_does_not_score_tells_nothing() -> None:
    class NanOnMissing:
        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return np.where(x["amount"].isna(), np.nan, 1.0)

    assert scores(NanOnMissing(), records_frame([{"amount": 1.0}], {"amount": "double"}))
    assert missing_refused(NanOnMissing(), {"amount": "double", "n_tx": "integer"},
                           {"amount": 1.0, "n_tx": 2}) == ["amount"]
    fitted = pipeline(StandardScaler(), LogisticRegression())
    assert missing_refused(fitted, SCHEMA, {"amount": None, "n_tx": 3, "channel": "web"}) is None


def test_the_base_record_is_what_the_api_node_receives() -> None:
    x = pd.DataFrame({"amount": [np.nan, 12.5], "n_tx": [np.nan, 3.0], "flag": [1.0, 0.0],
                      "channel": np.array([np.nan, "web"], dtype=object),
                      "day": pd.to_datetime([None, "2026-02-03"]), "at": pd.to_datetime(["2026-02-03 04:05", None]),
                      "empty": [np.nan, np.nan]})
    schema = {"amount": "double", "n_tx": "integer", "flag": "boolean", "channel": "string", "day": "date",
              "at": "timestamp", "empty": "double"}
    base = base_record(x, schema)
    assert base == {"amount": 12.5, "n_tx": 3, "flag": True, "channel": "web", "day": "2026-02-03",
                    "at": "2026-02-03T04:05:00", "empty": None}
    assert type(base["n_tx"]) is int and dt.date.fromisoformat(base["day"])


def test_many_features_need_few_predictions_when_one_refuses() -> None:
    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(40)]
    x = pd.DataFrame(rng.normal(size=(200, 40)), columns=names)
    imputed = [n for n in names if n != "f17"]
    pre = ColumnTransformer([("imputed", SimpleImputer(), imputed), ("raw", "passthrough", ["f17"])])
    fitted = Pipeline([("pre", pre), ("model", LinearRegression())]).fit(x, x["f0"])
    schema = dict.fromkeys(names, "double")
    calls = 0
    predict = fitted.predict

    def counted(frame: Any) -> Any:
        nonlocal calls
        calls += 1
        return predict(frame)

    fitted.predict = counted  # type: ignore[method-assign]
    assert missing_refused(fitted, schema, base_record(x, schema)) == ["f17"]
    assert calls <= 2 * (2 * 6 + 1)  # the base, then one path of halves down to f17


def test_the_registry_keeps_the_answer_and_an_old_version_has_none(tmp_path: Path) -> None:
    fitted = pipeline(StandardScaler(), LogisticRegression())
    with Registry(tmp_path / ".tide") as registry:
        old = registry.save("m", fitted, algorithm="logistic", metric="auc", score=0.9, metrics={},
                            input_schema=SCHEMA, record={"seed": 1})
        new = registry.save("m", fitted, algorithm="logistic", metric="auc", score=0.9, metrics={},
                            input_schema=SCHEMA, record={"seed": 1, MISSING_REFUSED: ["amount", "n_tx"]})
        assert registry.get("m", old.version).missing_refused is None
        assert registry.get("m", new.version).missing_refused == ["amount", "n_tx"]
        assert registry.get("m").as_dict()["missing_refused"] == ["amount", "n_tx"]
    doc = json.loads((tmp_path / ".tide" / "models" / "m" / "2" / "record.json").read_text())
    assert doc["record"][MISSING_REFUSED] == ["amount", "n_tx"]

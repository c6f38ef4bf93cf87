"""Synthetic data with known shift, and a saved model to evaluate (a real scikit-learn pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import yaml

from tideflow.models.registry import ModelVersion, Registry

MERCHANTS = ["grocery", "travel", "online", "fuel", "luxury"]
MERCHANT_P = [0.4, 0.2, 0.2, 0.15, 0.05]
SHIFTED_P = [0.2, 0.2, 0.45, 0.1, 0.05]
SCHEMA = {"amount": "double", "age": "integer", "velocity": "double", "merchant": "string"}
SPEC = {"input": "tx", "target": "is_fraud", "task": "binary", "features": {"exclude": ["tx_id"]},
        "algorithms": {"logistic": {}}, "budget": {"trials": 1}, "seed": 7}

Maker = Callable[..., pa.Table]


def transactions(n: int = 1000, seed: int = 0, *, amount_shift: float = 0.0, merchant_p: list[float] | None = None,
                 concept_flip: bool = False, velocity_missing: float = 0.05) -> pa.Table:
    """Transactions with a learnable fraud label. ``amount_shift`` moves log(amount) (in sd units),
    ``merchant_p`` changes the category mix, ``concept_flip`` inverts the label (performance drift)."""
    rng = np.random.default_rng(seed)
    amount = np.exp(rng.normal(3.0 + amount_shift, 1.0, n))
    age = rng.integers(18, 80, n).astype("int64")
    velocity = rng.poisson(2.0, n).astype("float64")
    velocity[rng.random(n) < velocity_missing] = np.nan
    merchant = rng.choice(MERCHANTS, n, p=merchant_p or MERCHANT_P)
    logit = -3.0 + 0.9 * (np.log(amount) - 3.0) - 0.03 * (age - 50) + 0.5 * np.nan_to_num(velocity)
    logit += np.where(merchant == "online", 1.2, 0.0)
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    if concept_flip:
        fraud = 1 - fraud
    return pa.table({
        "tx_id": pa.array(np.arange(n, dtype="int64")),
        "amount": pa.array(amount),
        "age": pa.array(age),
        "velocity": pa.array(velocity, from_pandas=True),
        "merchant": pa.array(merchant.tolist()),
        "is_fraud": pa.array(fraud),
    })


def fit_pipeline(table: pa.Table) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from tideflow.monitoring.frames import model_frame

    frame = model_frame(table, list(SCHEMA))
    numbers = make_pipeline(SimpleImputer(strategy="median"), FunctionTransformer(np.log1p), StandardScaler())
    prep = ColumnTransformer([("num", numbers, ["amount", "age", "velocity"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["merchant"])])
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])
    return pipe.fit(frame, table.column("is_fraud").to_numpy())


def save_model(state_dir: Path, table: pa.Table, *, metrics: dict[str, float] | None = None,
               data_version: str = "d1") -> ModelVersion:
    """A saved ``fraud`` model as the Lab leaves it: pipeline, test metrics, input schema, record with the spec."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from tideflow.lab.loading import parse_model_spec
    from tideflow.monitoring.frames import model_frame

    pipe = fit_pipeline(table)
    proba = pipe.predict_proba(model_frame(table, list(SCHEMA)))
    y = table.column("is_fraud").to_numpy()
    measured = {"auc": round(float(roc_auc_score(y, proba[:, 1])), 6),
                "logloss": round(float(log_loss(y, proba)), 6),
                "accuracy": round(float(accuracy_score(y, proba.argmax(axis=1))), 6)}
    spec = parse_model_spec(dict(SPEC), shown="models/fraud.yaml", name="fraud").spec.model_dump(mode="json")
    record = {"input": "tx", "spec": spec, "classes": [0, 1], "seed": 7, "data_version": data_version}
    with Registry(state_dir) as registry:
        return registry.save("fraud", pipe, algorithm="logistic", metric="auc", score=measured["auc"],
                             metrics=metrics or measured, input_schema=dict(SCHEMA), record=record)


def write_table(root: Path, name: str, table: pa.Table) -> None:
    (root / ".tide").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.register("incoming", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
        con.unregister("incoming")
    finally:
        con.close()


@pytest.fixture()
def monitored_project(tmp_path: Path) -> Path:
    """A project with ``tx`` (training data), ``tx_same`` (same distribution), ``tx_shifted`` (amount and
    merchant shifted) in DuckDB, ``models/fraud.yaml``, and a saved ``fraud`` model trained on ``tx``."""
    root = tmp_path / "proj"
    (root / "datasets").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "tideflow.yaml").write_text("name: monitored\n")
    for name in ("tx", "tx_same", "tx_shifted"):
        (root / "datasets" / f"{name}.yaml").write_text(f"table: {name}\n")
    (root / "models" / "fraud.yaml").write_text(yaml.safe_dump(SPEC))
    train = transactions(2000, seed=1)
    write_table(root, "tx", train)
    write_table(root, "tx_same", transactions(1000, seed=2))
    write_table(root, "tx_shifted", transactions(1000, seed=3, amount_shift=0.6, merchant_p=SHIFTED_P))
    save_model(root / ".tide", train)
    return root

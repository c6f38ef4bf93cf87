"""The ``train``, ``score`` and ``evaluate`` steps of a scenario on a real DuckDB project.

``score`` and ``evaluate`` build the named recipe's outputs through the normal Flow build: the Flow's
``score`` / ``evaluate`` recipe kinds when ``tideflow.recipes`` has them, else an ordinary SQL recipe
(the step is the same either way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import yaml

from tideflow.automation.scenarios_loading import load_scenario
from tideflow.automation.scenarios_run import run_scenario
from tideflow.errors import ProjectError
from tideflow.models import Registry
from tideflow.project import load_project
from tideflow.recipes import RECIPE_TYPES

MODEL = {"input": "tx", "target": "is_fraud", "task": "binary", "algorithms": {"logistic": {}},
         "budget": {"trials": 1}, "seed": 7}
NIGHTLY = """\
steps:
  - {name: train, type: train, model: fraud, local: true}
  - {name: score, type: score, recipe: score_tx}
  - {name: evaluate, type: evaluate, recipe: eval_fraud}
"""


def transactions(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = np.exp(rng.normal(3.0, 1.0, n))
    age = rng.integers(18, 80, n).astype("int64")
    merchant = rng.choice(["grocery", "travel", "online"], n)
    logit = -2.0 + 0.9 * (np.log(amount) - 3.0) + np.where(merchant == "online", 1.2, 0.0)
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pa.table({"amount": amount, "age": age, "merchant": merchant.tolist(), "is_fraud": fraud})


def recipes() -> dict[str, dict[str, Any]]:
    """A scoring and an evaluating recipe: the Flow's model recipe kinds if they exist, else SQL."""
    if "score" in RECIPE_TYPES and "evaluate" in RECIPE_TYPES:
        return {"score_tx": {"type": "score", "inputs": ["tx"], "outputs": ["tx_scored"], "model": "fraud"},
                "eval_fraud": {"type": "evaluate", "inputs": ["tx"], "outputs": ["fraud_metrics"], "model": "fraud"}}
    return {"score_tx": {"type": "sql", "inputs": ["tx"], "outputs": ["tx_scored"],
                         "sql": "SELECT *, CAST(amount > 40 AS INTEGER) AS prediction FROM tx"},
            "eval_fraud": {"type": "sql", "inputs": ["tx"], "outputs": ["fraud_metrics"],
                           "sql": "SELECT 'fraud_rate' AS metric, avg(is_fraud) AS value FROM tx"}}


def make_project(root: Path) -> Path:
    for folder in ("datasets", "recipes", "models", "scenarios"):
        (root / folder).mkdir(parents=True)
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: modelsteps\n")
    (root / "datasets" / "tx.yaml").write_text("table: tx\n")
    (root / "models" / "fraud.yaml").write_text(yaml.safe_dump(MODEL))
    for name, spec in recipes().items():
        (root / "recipes" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (root / "scenarios" / "nightly.yaml").write_text(NIGHTLY)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    con.register("incoming", transactions(600, seed=1))
    con.execute("CREATE TABLE tx AS SELECT * FROM incoming")
    con.close()
    return root


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_train_then_score_then_evaluate(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    run = run_scenario(load_project(root), "nightly")
    assert run.outcome == "succeeded", run.message
    train, score, evaluate = run.steps
    assert train.message == "saved fraud v1 (logistic), active"
    with Registry(root / ".tide") as registry:
        assert registry.get("fraud").version == 1
    assert score.message.startswith(f"{recipes()['score_tx']['type']} recipe 'score_tx' built tx_scored in ")
    assert evaluate.message.startswith(f"{recipes()['eval_fraud']['type']} recipe 'eval_fraud' built fraud_metrics")
    assert query(root, "SELECT count(*) FROM tx_scored") == [(600,)]
    columns = [r[0] for r in query(root, "SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'tx_scored'")]
    assert "prediction" in columns
    metrics = query(root, "SELECT metric, value FROM fraud_metrics")
    assert metrics and all(isinstance(v, float) for _, v in metrics)

    again = run_scenario(load_project(root), "nightly")  # smart: scoring reruns only when something changed
    assert again.outcome == "succeeded", again.message
    assert again.steps[0].message == "saved fraud v2 (logistic), active"
    if recipes()["score_tx"]["type"] == "score":  # a new active model version makes the score recipe outdated
        assert again.steps[1].message.startswith("score recipe 'score_tx' built tx_scored"), again.steps[1].message
    else:
        assert again.steps[1].message == "sql recipe 'score_tx' is up to date: tx_scored not rebuilt"


def test_score_names_a_recipe_of_the_project(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "scenarios" / "bad.yaml").write_text("steps:\n  - {type: score, recipe: score_xt}\n")
    with pytest.raises(ProjectError, match=r"scenarios/bad.yaml:2 at steps\[0\].recipe: unknown recipe 'score_xt': "
                                           r"did you mean 'score_tx'\?"):
        load_scenario(load_project(root), "bad")
    (root / "scenarios" / "bad.yaml").write_text("steps:\n  - {type: evaluate, recipe: eval_fraud, model: x}\n")
    with pytest.raises(ProjectError, match=r"steps\[0\].model: unknown key 'model'"):
        load_scenario(load_project(root), "bad")

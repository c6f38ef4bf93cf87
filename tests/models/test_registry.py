"""The saved-model registry: versions, the active one, artifacts, comparisons, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tideflow.errors import ProjectError
from tideflow.models import Registry

SCHEMA = {"x1": "double", "x2": "double"}


def fitted(seed: int) -> Pipeline:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y)


def save(registry: Registry, seed: int, auc: float, activate: bool = True) -> int:
    version = registry.save("churn", fitted(seed), algorithm="logistic", metric="auc", score=auc - 0.01,
                            metrics={"auc": auc, "f1": 0.5, "calibration": [{"count": 1}]}, input_schema=SCHEMA,
                            record={"data_version": f"d{seed}", "seed": seed, "trials": [{}, {}]}, activate=activate)
    return version.version


def test_versions_artifacts_and_the_active_one(tmp_path: Path) -> None:
    with Registry(tmp_path / ".tide") as registry:
        assert save(registry, 1, 0.80) == 1
        assert save(registry, 2, 0.85) == 2
        assert save(registry, 3, 0.70, activate=False) == 3
        assert [(v.version, v.active) for v in registry.list("churn")] == [(1, False), (2, True), (3, False)]
        assert registry.get("churn").version == 2
        assert registry.get("churn", 3).metrics["auc"] == 0.70

        artifact = tmp_path / ".tide" / "models" / "churn" / "3"
        assert (artifact / "pipeline.joblib").is_file()
        doc = json.loads((artifact / "record.json").read_text())
        assert doc["version"] == 3 and doc["input_schema"] == SCHEMA and doc["record"]["seed"] == 3

        pipeline = registry.load_pipeline("churn", 3)
        assert pipeline.predict_proba(np.zeros((4, 2))).shape == (4, 2)

        registry.activate("churn", 1)
        assert registry.get("churn").version == 1
        assert [v.active for v in registry.list()] == [True, False, False]

    with Registry(tmp_path / ".tide") as reopened:  # state is on disk
        assert reopened.get("churn").version == 1


def test_compare_puts_versions_side_by_side(tmp_path: Path) -> None:
    with Registry(tmp_path) as registry:
        save(registry, 1, 0.80)
        save(registry, 2, 0.85)
        comparison = registry.compare("churn", [1, 2])
    rows = dict(comparison.rows)
    assert comparison.versions == [1, 2]
    assert rows["auc"] == [0.80, 0.85] and rows["f1"] == [0.5, 0.5]
    assert rows["data version"] == ["d1", "d2"] and rows["active"] == ["", "yes"]
    assert "calibration" not in rows  # lists are records, not comparable cells


def test_unknown_names_and_versions_are_errors(tmp_path: Path) -> None:
    with Registry(tmp_path) as registry:
        with pytest.raises(ProjectError, match=r"no saved model 'churn' \(saved models: none; train one"):
            registry.get("churn")
        save(registry, 1, 0.8)
        with pytest.raises(ProjectError, match=r"no saved model 'chrun': did you mean 'churn'\?"):
            registry.list("chrun")
        with pytest.raises(ProjectError, match=r"model 'churn' has no version 7 \(versions: 1\)"):
            registry.activate("churn", 7)
        with pytest.raises(ProjectError, match=r"has no version 9"):
            registry.compare("churn", [1, 9])

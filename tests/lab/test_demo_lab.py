"""The demo's model spec (``models/card_fraud.yaml``) loads and validates against the demo project."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.cli import demo_data
from tideflow.cli.demo_lab import DEMO_MODEL, missing_label
from tideflow.cli.init_cmd import copy_tree, package_tree
from tideflow.flow import dataset_schema
from tideflow.lab import load_model_spec, model_names
from tideflow.lab.loading import check_schema
from tideflow.lab.search import search_space
from tideflow.project import load_project
from tideflow.recipes import ColumnType


@pytest.fixture()
def demo_copy(tmp_path: Path) -> Path:
    """The shipped demo project with a small generated warehouse (the Flow is not built: schemas are inferred)."""
    copy_tree(package_tree("demo_project"), tmp_path)
    demo_data.generate(tmp_path / ".tide" / "warehouse.duckdb", 2_000, seed=7)
    return tmp_path


def test_the_demo_model_spec_loads_against_the_demo_project(demo_copy: Path) -> None:
    project = load_project(demo_copy)
    assert DEMO_MODEL in model_names(project)
    spec = load_model_spec(project, DEMO_MODEL).spec  # input dataset and resource profile checked
    assert spec.task == "binary" and spec.metric_name == "auc"
    assert {"logistic", "random_forest", "lightgbm"} <= set(spec.algorithms)
    assert spec.strategy == "bayesian" and spec.early_stopping.method == "asha"
    assert spec.budget.trials <= 20  # a small search: the demo trains in about a minute
    assert spec.input in project.datasets and not project.datasets[spec.input].virtual
    for algorithm in spec.algorithms:  # every override lies inside the algorithm's valid range
        assert search_space(spec, algorithm)


def test_the_demo_model_spec_validates_against_the_card_features(demo_copy: Path) -> None:
    project = load_project(demo_copy)
    model_file = load_model_spec(project, DEMO_MODEL)
    spec = model_file.spec
    schema = {column: ColumnType(kind) for column, kind in dataset_schema(project, spec.input).items()}
    assert "card_id" in schema and "card_id" in spec.features.exclude
    assert missing_label(project, spec) is None
    check_schema(model_file, schema)  # target, overridden columns; the target suits a binary task
    assert schema[spec.target] in (ColumnType.INTEGER, ColumnType.BOOLEAN)

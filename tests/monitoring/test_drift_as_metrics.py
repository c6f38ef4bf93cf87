"""Drift metrics are metrics like any other: dataset checks bound them, scenario steps run on them.

Real evaluations (``tide monitor evaluate``'s runner) of a saved model on same-distribution and shifted
data record the drift metrics in the checks' history; dataset checks read them with
``{model: fraud, metric: ...}`` (fixed and typical ranges, compare), and a scenario retrains only when
the amount's PSI passed a threshold.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from tideflow.automation.scenarios_run import run_scenario
from tideflow.checks import check_dataset
from tideflow.cli.monitor_cmds import run_evaluation
from tideflow.errors import ProjectError
from tideflow.flow import Workspace
from tideflow.models import Registry
from tideflow.project import DatasetSpec, load_project
from tideflow.project.checks_specs import MetricRef

CHECKS = """\
table: tx_shifted
checks_after_build: false
checks:
  - name: amount stable for fraud
    rule: within_range
    metric: {model: fraud, metric: psi, column: amount}
    warning: {max: 0.1}
    error: {max: 0.25}
  - name: age as usual
    rule: within_range
    metric: {model: fraud, metric: psi, column: age}
    warning: {typical: {history: 10, sigmas: 3, min_history: 2}}
  - name: few drifting features
    rule: within_range
    metric: {model: fraud, metric: drifting_features}
    max: 1
    severity: warning
  - name: fewer drifting features than columns
    rule: compare
    left: {model: fraud, metric: drifting_features}
    op: "<"
    right: column_count
"""
RETRAIN = """\
steps:
  - name: retrain
    type: train
    model: fraud
    local: true
    when:
      metric: {model: fraud, metric: psi, column: amount}
      op: ">"
      value: 0.2
"""


def outcomes(root: Path) -> dict[str, tuple[str, str, str]]:
    with Workspace(load_project(root)) as workspace:
        report = check_dataset(workspace, "tx_shifted")
    return {o.check: (o.outcome, o.expected, o.got) for o in report.outcomes}


def test_dataset_checks_bound_a_models_drift_metrics(monitored_project: Path) -> None:
    root = monitored_project
    (root / "datasets" / "tx_shifted.yaml").write_text(CHECKS)
    before = outcomes(root)  # never evaluated: nothing recorded, the fixed ranges fail
    assert before["amount stable for fraud"] == (
        "error", "model:fraud.psi(amount) within error: [-inf, 0.25]; warning: [-inf, 0.1]", "no recorded value")
    assert before["fewer drifting features than columns"] == (
        "error", "model:fraud.drifting_features < column_count", "NULL < 6 (model:fraud.drifting_features is no "
                                                                 "recorded value)")

    project = load_project(root)
    start = time.time() - 100
    run_evaluation(project, "fraud", data="tx", domain=False, now=start)
    run_evaluation(project, "fraud", data="tx_same", domain=False, now=start + 1)
    same = outcomes(root)
    assert {name: o[0] for name, o in same.items()} == {
        "amount stable for fraud": "ok", "age as usual": "ok", "few drifting features": "ok",
        "fewer drifting features than columns": "ok"}
    assert same["age as usual"][1] == ("model:fraud.psi(age) within warning: typical range still learning "
                                       "(1 of 2 values recorded)")  # the latest value is checked, the earlier learn

    shifted = run_evaluation(project, "fraud", data="tx_shifted", domain=False, now=start + 2)
    assert "amount" in shifted.evaluation.drifting_features
    after = outcomes(root)
    outcome, _, got = after["amount stable for fraud"]
    assert outcome == "error" and float(got) == pytest.approx(shifted.evaluation.metrics()[("psi", "amount")])
    assert after["age as usual"][1].startswith("model:fraud.psi(age) within warning: typical [")  # learned from 2
    assert after["few drifting features"][0] == ("warning" if len(shifted.evaluation.drifting_features) > 1
                                                 else "ok")
    assert after["fewer drifting features than columns"][0] == "ok"


def test_a_scenario_retrains_only_when_drift_passed_the_threshold(monitored_project: Path) -> None:
    root = monitored_project
    (root / "scenarios").mkdir()
    (root / "scenarios" / "retrain.yaml").write_text(RETRAIN)
    project = load_project(root)

    idle = run_scenario(project, "retrain")
    assert idle.outcome == "succeeded" and idle.steps[0].outcome == "skipped"
    assert idle.steps[0].message == ("skipped: when model:fraud.psi(amount) > 0.2 does not hold: no recorded value "
                                     "of model:fraud.psi(amount)")

    run_evaluation(project, "fraud", data="tx_same", domain=False)
    calm = run_scenario(project, "retrain")
    assert calm.steps[0].outcome == "skipped"
    assert "does not hold: model:fraud.psi(amount) = 0.0" in calm.steps[0].message, calm.steps[0].message
    with Registry(root / ".tide") as registry:
        assert [v.version for v in registry.list("fraud")] == [1]

    run_evaluation(project, "fraud", data="tx_shifted", domain=False)
    drifted = run_scenario(project, "retrain")
    assert drifted.outcome == "succeeded", drifted.message
    assert drifted.steps[0].outcome == "succeeded" and drifted.steps[0].message == "saved fraud v2 (logistic), active"

    # a stale value does not count
    (root / "scenarios" / "retrain.yaml").write_text(RETRAIN + "      max_age_s: 1\n")
    time.sleep(1.2)
    stale = run_scenario(load_project(root), "retrain")
    assert stale.steps[0].outcome == "skipped" and "older than max_age_s 1" in stale.steps[0].message


@pytest.mark.parametrize(("ref", "message"), [
    ({"metric": "psi", "column": "amount"}, r"'psi' is a drift metric of a saved model: add 'model'"),
    ({"model": "fraud", "metric": "record_count"}, r"a saved model records drift metrics \(drift_score, .*got "
                                                   r"'record_count'"),
    ({"model": "fraud", "metric": "psi"}, r"drift metric 'psi' needs 'column': the feature"),
    ({"model": "fraud", "metric": "drift_score", "column": "amount"}, r"drift metric 'drift_score' is not per "
                                                                      r"column: remove 'column'"),
    ({"model": "fraud", "dataset": "tx", "metric": "alarm"}, r"give 'dataset' or 'model', not both"),
])
def test_model_metric_references_are_validated(ref: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MetricRef.model_validate(ref)


def test_a_dataset_metric_list_cannot_hold_drift_metrics(monitored_project: Path) -> None:
    with pytest.raises(ValidationError, match=r"metrics\.0\.metric"):
        DatasetSpec.model_validate({"name": "x", "metrics": [{"metric": "psi", "column": "amount"}]})
    (monitored_project / "datasets" / "tx.yaml").write_text(
        "table: tx\nchecks:\n  - {rule: within_range, metric: {model: fraud, metric: drift_score}, max: 0.7}\n"
        "  - {rule: within_range, metric: {metric: drift_score}, max: 0.7}\n")
    with pytest.raises(ProjectError, match=r"datasets/tx.yaml:4 at checks\[1\].metric: .*add 'model'"):
        load_project(monitored_project)

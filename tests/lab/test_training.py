"""Searches on a real DuckDB project and the session's compute runtime: save, reproduce, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import TideflowError
from tideflow.lab import LabEvent, TrainingInterrupted, leaderboard, train
from tideflow.models import Registry
from tideflow.project import load_project

from .conftest import FRAUD_SPEC, ProjectMaker, make_transactions, write_table


def test_a_search_with_three_algorithms_saves_a_version(lab_project: ProjectMaker, lab_runtime: object) -> None:
    root = lab_project()
    project = load_project(root)
    events: list[LabEvent] = []
    result = train(project, "fraud", runtime=lab_runtime, on_event=events.append)

    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "saved" and kinds.count("trial") == 6
    assert [f.algorithm for f in result.finals] == ["logistic", "random_forest", "lightgbm"]
    assert {t.status for t in result.trials} <= {"complete", "pruned"}
    assert any(t.status == "pruned" for t in result.trials)  # successive halving stopped some trials early
    for final in result.finals:
        metrics = final.test_metrics
        assert 0.6 < metrics["auc"] <= 1.0
        assert {"logloss", "f1", "accuracy", "precision", "recall", "brier", "threshold", "calibration"} <= set(metrics)
        assert sum(b["count"] for b in metrics["calibration"]) == 300  # the test set: 20% of 1500 rows

    version = result.version
    assert version is not None and version.version == 1 and version.active
    record = version.record
    assert record["input"] == "tx" and record["seed"] == 7 and record["spec"]["target"] == "is_fraud"
    assert record["data_version"] == record["data_fingerprint"]  # a source table: its content fingerprint
    assert {"scikit-learn", "lightgbm", "numpy", "python"} <= set(record["libraries"])
    assert "git_commit" in record and record["resources"]["profile"] == "default"
    assert len(record["trials"]) == 6
    assert set(version.input_schema) == {"amount", "age", "velocity", "merchant", "day"}
    assert version.missing_refused == [] and record["missing_refused"] == []  # imputed: nulls are fine

    with Registry(project.state_dir) as registry:
        pipeline = registry.load_pipeline("fraud")
    frame = make_transactions(50, seed=9).to_pandas()
    proba = pipeline.predict_proba(frame[list(version.input_schema)])
    assert proba.shape == (50, 2)

    board = leaderboard(project, "fraud")
    assert board.run is not None and board.run.status == "finished" and len(board.rows) == 6
    assert board.best is not None and board.best.rung == max(r.rung for r in board.rows)


def test_same_spec_data_and_seed_reproduce_the_metrics(lab_project: ProjectMaker, lab_runtime: object) -> None:
    root = lab_project()
    project = load_project(root)
    first = train(project, "fraud", runtime=lab_runtime)
    second = train(project, "fraud", runtime=lab_runtime)
    assert first.version is not None and second.version is not None
    assert second.version.version == 2
    assert second.version.metrics == first.version.metrics
    assert [f.test_metrics for f in second.finals] == [f.test_metrics for f in first.finals]
    assert [(t.params, t.score) for t in second.trials] == [(t.params, t.score) for t in first.trials]
    assert second.version.record["data_version"] == first.version.record["data_version"]

    write_table(Path(root), "tx", make_transactions(1500, seed=1))  # the data changes
    third = train(project, "fraud", runtime=lab_runtime)
    assert third.version is not None
    assert third.version.record["data_version"] != first.version.record["data_version"]
    assert third.version.record["experiment_key"] != first.version.record["experiment_key"]
    assert third.version.metrics != first.version.metrics


def test_an_interrupted_search_resumes_without_redoing_trials(lab_project: ProjectMaker,
                                                              lab_runtime: object) -> None:
    spec = FRAUD_SPEC.replace("strategy: random", "strategy: bayesian").replace("trials: 6", "trials: 9")
    root = lab_project({"fraud": spec})
    project = load_project(root)
    reference = train(project, "fraud", runtime=lab_runtime)

    finished: list[int] = []

    def stop_after_three(event: LabEvent) -> None:
        if event.kind == "trial" and not event.replayed:
            finished.append(1)
            if len(finished) == 3:
                raise KeyboardInterrupt  # what Ctrl-C does in the middle of a search

    with pytest.raises(TrainingInterrupted, match=r"interrupted: 3 finished trials kept .* --resume"):
        train(project, "fraud", runtime=lab_runtime, on_event=stop_after_three)
    board = leaderboard(project, "fraud")
    assert board.run is not None and board.run.status == "interrupted" and len(board.rows) == 3

    new_work: list[LabEvent] = []
    resumed = train(project, "fraud", resume=True, runtime=lab_runtime,
                    on_event=lambda e: new_work.append(e) if e.kind == "evaluation" and not e.replayed else None)
    assert resumed.resumed and resumed.run_id == board.run.run_id
    assert len(resumed.trials) == 9
    # the same search: the same configurations and scores as the uninterrupted reference run
    assert [(t.algorithm, t.params, t.score) for t in resumed.trials] == \
        [(t.algorithm, t.params, t.score) for t in reference.trials]
    assert resumed.version is not None and reference.version is not None
    assert resumed.version.metrics == reference.version.metrics
    total = sum(1 for t in reference.trials for _ in range(t.rung + 1))
    assert len(new_work) < total  # finished evaluations were not run again

    with pytest.raises(TideflowError, match=r"no interrupted training of 'fraud' to resume"):
        train(project, "fraud", resume=True, runtime=lab_runtime)


def test_regression_with_kfold_and_trials_override(lab_project: ProjectMaker, lab_runtime: object) -> None:
    spec = """\
input: tx
target: amount
task: regression
features: {exclude: [tx_id, is_fraud], columns: {merchant: {encoding: target}}}
split: {method: kfold, folds: 3}
algorithms:
  linear: {regularization: [ridge, lasso]}
  hist_gradient_boosting: {max_iter: {low: 20, high: 40}}
  knn: {}
strategy: grid
grid_points: 2
early_stopping: {method: none}
seed: 1
"""
    root = lab_project({"amount": spec})
    result = train(load_project(root), "amount", trials=5, runtime=lab_runtime)
    assert len(result.trials) == 5 and result.metric == "rmse"
    assert {f.algorithm for f in result.finals} == {"linear", "hist_gradient_boosting", "knn"}
    assert result.version is not None and set(result.version.metrics) == {"rmse", "mae", "r2"}


def test_a_killed_worker_is_retried_and_the_search_finishes(lab_project: ProjectMaker,
                                                            lab_runtime: object) -> None:
    import os
    import signal

    from .conftest import WarmRuntime

    if not isinstance(lab_runtime, WarmRuntime) or not hasattr(lab_runtime.rt, "total_resources"):
        pytest.skip("needs the Ray runtime of tideflow.compute")
    root = lab_project()
    project = load_project(root)
    reference = train(project, "fraud", runtime=lab_runtime)
    pool = lab_runtime.worker_pool(project.config.compute.profiles["default"])
    pids = [s["pid"] for s in pool._pool.stats()]
    killed: list[int] = []

    def kill_one(event: LabEvent) -> None:
        if event.kind == "evaluation" and not killed:
            killed.append(pids[0])
            os.kill(pids[0], signal.SIGKILL)  # a worker process this test session started

    result = train(project, "fraud", runtime=lab_runtime, on_event=kill_one)
    assert killed
    assert {t.status for t in result.trials} <= {"complete", "pruned"}
    assert result.version is not None and reference.version is not None
    assert result.version.metrics == reference.version.metrics


def test_multiclass_on_a_time_split(lab_project: ProjectMaker, lab_runtime: object) -> None:
    spec = """\
input: tx
target: merchant
task: multiclass
features: {exclude: [tx_id], columns: {day: {role: skip}}}
split: {method: time, column: day, test_ratio: 0.25}
metric: accuracy
algorithms: [logistic, extra_trees, xgboost]
strategy: random
budget: {trials: 3}
early_stopping: {method: none}
"""
    root = lab_project({"merchant": spec})
    result = train(load_project(root), "merchant", runtime=lab_runtime)
    assert result.version is not None
    assert result.version.record["classes"] == ["fuel", "grocery", "luxury", "online", "travel"]
    assert {"auc", "logloss", "accuracy", "f1", "precision", "recall", "brier"} <= set(result.version.metrics)
    assert "threshold" not in result.version.metrics
    assert "day" not in result.version.input_schema


def test_a_trial_seconds_budget_ends_the_search_before_the_next_rung(lab_project: ProjectMaker,
                                                                      lab_runtime: object) -> None:
    spent_at_once = FRAUD_SPEC.replace("budget:\n  trials: 6\n", "budget:\n  trials: 6\n  trial_seconds: 0.001\n")
    assert spent_at_once != FRAUD_SPEC
    root = lab_project({"fraud": spent_at_once})
    result = train(load_project(root), "fraud", runtime=lab_runtime)
    # the first bracket (3 trials) ran its first rung; then the budget was spent: its survivor stopped
    # before the full resource, the others were pruned, and no second bracket started
    assert len(result.trials) == 3
    assert sorted(t.status for t in result.trials) == ["pruned", "pruned", "stopped"]
    assert all(t.rung == 0 and t.score is not None for t in result.trials)
    assert result.version is not None  # the best trial so far is still refitted and saved
    stopped = next(t for t in result.trials if t.status == "stopped")
    assert stopped.trial_id in [f.trial_id for f in result.finals]

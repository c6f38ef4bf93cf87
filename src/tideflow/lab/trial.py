"""What a worker runs: one trial at one rung (validation score), or one final refit (test metrics).

``run_task(shared, task)`` is the function handed to the worker pool; ``shared`` is the
``PreparedData`` put in the object store once. Everything here is deterministic given the task's seed.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tideflow.lab.algorithms import ALGORITHMS, build_estimator, scale_resource
from tideflow.lab.data import PreparedData
from tideflow.lab.features import build_preprocessor
from tideflow.lab.metrics import choose_threshold, evaluate, metric_value, predictions


@dataclass(frozen=True)
class TrialTask:
    """One unit of work: a trial's config at a rung (``fraction`` of its resource) or a final refit."""

    kind: Literal["trial", "final"]
    trial_id: int
    algorithm: str
    params: dict[str, Any]
    seed: int
    threads: int = 1
    rung: int = 0
    fraction: float = 1.0
    threshold: tuple[str, float, float] = ("f1", 1.0, 1.0)


@dataclass
class TaskResult:
    trial_id: int
    rung: int
    score: float
    seconds: float
    pipeline: Any = None
    test_metrics: dict[str, Any] = field(default_factory=dict)


def make_pipeline(data: PreparedData, algorithm: str, params: dict[str, Any], seed: int, threads: int) -> Any:
    """Preprocessing + estimator as one scikit-learn Pipeline (what a saved model holds)."""
    from sklearn.pipeline import Pipeline

    estimator = build_estimator(algorithm, data.task, params, seed=seed, threads=threads)  # type: ignore[arg-type]
    return Pipeline([("prepare", build_preprocessor(data.plans, data.spec, seed)), ("model", estimator)])


def _fit(pipeline: Any, x: Any, y: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*does not have valid feature names.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*[Ff]ound unknown categories.*", category=UserWarning)
        pipeline.fit(x, y)
    return pipeline


def _predict(pipeline: Any, x: Any, task: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have valid feature names.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*[Ff]ound unknown categories.*", category=UserWarning)
        return predictions(pipeline, x, task)


def run_task(shared: PreparedData, task: TrialTask) -> TaskResult:
    """Run ``task`` on the shared data with ``task.threads`` threads."""
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(limits=task.threads):
        if task.kind == "final":
            result = _final(shared, task)
        else:
            result = TaskResult(task.trial_id, task.rung, _validate(shared, task), 0.0)
    result.seconds = round(time.perf_counter() - start, 4)
    return result


def _validate(data: PreparedData, task: TrialTask) -> float:
    """Mean validation score over the folds, at the task's rung."""
    algorithm = ALGORITHMS[task.algorithm]
    params, data_fraction = scale_resource(algorithm, task.params, task.fraction)
    n_classes = max(2, len(data.classes))
    scores = []
    for i, (fit_idx, val_idx) in enumerate(data.folds):
        if data_fraction < 1.0:
            rng = np.random.default_rng([task.seed, i])
            keep = max(n_classes * 2, int(np.ceil(len(fit_idx) * data_fraction)))
            fit_idx = np.sort(rng.permutation(fit_idx)[:keep])
        pipeline = make_pipeline(data, task.algorithm, params, task.seed, task.threads)
        y_fit = data.y_train[fit_idx]
        if data.task != "regression" and len(np.unique(y_fit)) < n_classes:
            return float("nan")  # a class is missing from this sample: the rung cannot score it
        _fit(pipeline, data.x_train.iloc[fit_idx], y_fit)
        pred = _predict(pipeline, data.x_train.iloc[val_idx], data.task)
        scores.append(metric_value(data.metric, data.task, data.y_train[val_idx], pred, n_classes))
    return round(float(np.mean(scores)), 6)


def _final(data: PreparedData, task: TrialTask) -> TaskResult:
    """Refit on the whole training set, score on the test set (threshold chosen on validation rows)."""
    n_classes = max(2, len(data.classes))
    threshold = 0.5
    if data.task == "binary":
        fit_idx, val_idx = data.folds[0]
        probe = make_pipeline(data, task.algorithm, task.params, task.seed, task.threads)
        _fit(probe, data.x_train.iloc[fit_idx], data.y_train[fit_idx])
        p_val = _predict(probe, data.x_train.iloc[val_idx], data.task)[:, 1]
        optimize, fp_cost, fn_cost = task.threshold
        threshold = choose_threshold(data.y_train[val_idx], p_val, optimize, fp_cost, fn_cost)
    pipeline = make_pipeline(data, task.algorithm, task.params, task.seed, task.threads)
    _fit(pipeline, data.x_train, data.y_train)
    pred = _predict(pipeline, data.x_test, data.task)
    metrics = evaluate(data.task, data.y_test, pred, n_classes=n_classes, threshold=threshold)
    score = round(metric_value(data.metric, data.task, data.y_test, pred, n_classes), 6)
    return TaskResult(task.trial_id, -1, score, 0.0, pipeline=pipeline, test_metrics=metrics)

"""Domain classifier, prediction and performance drift, the store, drift checks, the query log, the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tideflow.errors import ProjectError
from tideflow.models.registry import Registry
from tideflow.monitoring import (
    Batch,
    DriftThresholds,
    EvaluationStore,
    LogSelection,
    Monitor,
    MonitorSpec,
    domain_drift,
    read_query_log,
    render_report,
    run_drift_checks,
)
from tideflow.monitoring.frames import feature_columns, kinds_of

from .conftest import SHIFTED_P, transactions

FAST = DriftThresholds(domain_trees=30)
SCHEMA = {"amount": "double", "age": "integer", "velocity": "double", "merchant": "string"}


def columns(table: pa.Table) -> dict:
    return feature_columns(table, kinds_of(SCHEMA), what="test")


def test_domain_classifier_is_near_one_half_without_drift_and_high_with_drift() -> None:
    kinds = kinds_of(SCHEMA)
    for seed in range(3):
        same = domain_drift(columns(transactions(600, 10 + seed)), columns(transactions(600, 20 + seed)), kinds,
                            thresholds=FAST)
        assert abs(same.auc - 0.5) < 0.06 and not same.drifting, same
    shifted = domain_drift(columns(transactions(600, 30)), columns(transactions(600, 31, amount_shift=1.0)), kinds,
                           thresholds=FAST)
    assert shifted.auc > 0.65 and shifted.drifting and shifted.required >= 0.55


def test_domain_classifier_sees_a_joint_shift_the_marginals_miss() -> None:
    """Two features whose correlation flips: each marginal is unchanged, the domain classifier notices."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1200, 2))
    ref = {"x": z[:600, 0], "y": z[:600, 0] + 0.3 * z[:600, 1]}
    cur = {"x": z[600:, 0], "y": -z[600:, 0] + 0.3 * z[600:, 1]}
    kinds = {"x": "numeric", "y": "numeric"}
    from tideflow.monitoring import data_drift

    assert data_drift(ref, cur, kinds).drifting == []  # type: ignore[arg-type]
    assert domain_drift(ref, cur, kinds, thresholds=FAST).drifting  # type: ignore[arg-type]


def _monitor(monitored_project: Path) -> tuple[Monitor, Batch]:
    monitor = Monitor(monitored_project / ".tide", thresholds=FAST)
    reference = Batch(transactions(2000, seed=1), source="dataset:tx", data_version="d1")
    return monitor, reference


def test_no_alarm_on_the_same_distribution(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    e = monitor.evaluate("fraud", None, reference, Batch(transactions(1000, seed=2), "dataset:tx_same", "s1"),
                         now=1_000.0)
    assert not e.alarm, e.reasons
    assert e.drifting_features == [] and e.domain is not None and not e.domain.drifting
    assert e.prediction is not None and not e.prediction.drifting
    assert [m.metric for m in e.performance] == ["auc", "logloss", "accuracy", "brier"]
    assert not any(m.degraded for m in e.performance) and e.labelled_rows == 1000


def test_shift_names_the_features_and_moves_the_predictions(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    current = Batch(transactions(1000, seed=3, amount_shift=0.6, merchant_p=SHIFTED_P), "dataset:tx_shifted")
    e = monitor.evaluate("fraud", None, reference, current, now=2_000.0)
    assert set(e.drifting_features) == {"amount", "merchant"}
    assert e.domain is not None and e.domain.drifting
    assert e.prediction is not None and e.prediction.drifting  # more online, larger amounts -> higher P(fraud)
    assert e.alarm and "data drift in" in e.reasons[0]


def test_performance_drift_with_labels(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    flipped = Batch(transactions(1000, seed=4, concept_flip=True), "dataset:tx_flipped")
    e = monitor.evaluate("fraud", None, reference, flipped, now=3_000.0, domain=False)
    assert e.drifting_features == []  # the inputs did not move: only the concept did
    degraded = {m.metric for m in e.performance if m.degraded}
    assert {"auc", "logloss", "accuracy"} <= degraded
    auc = next(m for m in e.performance if m.metric == "auc")
    assert auc.recorded is not None and auc.current < 0.5 < auc.recorded and auc.change is not None
    assert any("auc degraded" in r for r in e.reasons)
    unlabelled = Batch(transactions(500, seed=5).drop(["is_fraud"]), "dataset:nolabels")
    e2 = monitor.evaluate("fraud", None, reference, unlabelled, now=3_100.0, domain=False)
    assert e2.performance == [] and "no labels" in e2.notes[0]


def test_store_round_trips_and_keeps_metrics_over_time(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    first = monitor.evaluate("fraud", None, reference, Batch(transactions(500, seed=6), "dataset:a", "v1"),
                             now=10.0, domain=False)
    second = monitor.evaluate("fraud", None, reference,
                              Batch(transactions(500, seed=7, amount_shift=0.8), "dataset:b", "v2"), now=20.0,
                              domain=False)
    store = EvaluationStore(monitored_project / ".tide")  # a new instance reads what the first wrote
    assert first.id is not None and store.get(first.id) == first
    assert [e.id for e in store.list("fraud")] == [first.id, second.id]
    assert store.latest("fraud") == second and store.models() == ["fraud"]
    loaded = store.get(second.id or 0)
    assert loaded.as_dict() == second.as_dict() and loaded.current.data_version == "v2"
    assert loaded.current.fingerprint == Batch(transactions(500, seed=7, amount_shift=0.8), "x").fingerprint
    psi = store.series("fraud", "psi", "amount")
    assert [p.created_at for p in psi] == [10.0, 20.0] and psi[1].value > psi[0].value
    assert store.series("fraud", "drifting_features")[1].value >= 1
    # Reference samples.
    assert store.reference("fraud", 1) is None
    store.save_reference("fraud", 1, Batch(transactions(300, seed=8), "dataset:tx", "d1", note="why"))
    kept = store.reference("fraud", 1)
    assert kept is not None and kept.table.num_rows == 300 and kept.note == "why" and kept.data_version == "d1"
    with pytest.raises(ProjectError, match="no evaluation 999"):
        store.get(999)


def test_evaluation_names_missing_columns(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    broken = Batch(transactions(100, seed=9).rename_columns(
        ["tx_id", "amount_usd", "age", "velocity", "merchant", "is_fraud"]), "dataset:broken")
    with pytest.raises(ProjectError, match=r"lacks the model's input column\(s\) 'amount'.*did you mean 'amount_usd'"):
        monitor.evaluate("fraud", None, reference, broken, record=False)


CHECKS_YAML = """
thresholds: {alpha: 0.05, psi_threshold: 0.1}
checks:
  - name: no_overall_drift
    metric: drift_score
    warning: {max: 0.6}
    error: {max: 0.75}
  - metric: psi
    feature: amount
    error: {max: 0.25}
  - metric: drifting_features
    severity: warning
    max: 0
  - metric: performance_change
    feature: auc
    error: {min: -0.05}
"""


def test_drift_checks_evaluate_metrics_and_skip_what_was_not_measured(monitored_project: Path) -> None:
    import yaml

    spec = MonitorSpec.model_validate(yaml.safe_load(CHECKS_YAML))
    monitor, reference = _monitor(monitored_project)
    current = Batch(transactions(800, seed=3, amount_shift=1.0).drop(["is_fraud"]), "dataset:shifted")
    e = monitor.evaluate("fraud", None, reference, current, now=5.0, record=False)
    outcomes, skipped = run_drift_checks(spec.checks, e)
    by_name = {o.check: o for o in outcomes}
    assert by_name["psi(amount)"].outcome == "error"
    assert by_name["drifting_features"].outcome == "warning"
    assert by_name["no_overall_drift"].outcome in ("warning", "error")
    assert skipped == ["performance_change(auc)"]  # no labels in this batch
    with pytest.raises(ValueError, match=r"unknown threshold 'alhpa'.*did you mean 'alpha'"):
        MonitorSpec.model_validate({"thresholds": {"alhpa": 0.1}})
    with pytest.raises(ValueError, match="metric 'psi' needs 'feature'"):
        MonitorSpec.model_validate({"checks": [{"metric": "psi", "max": 0.2}]})


def test_query_log_is_read_as_a_batch(tmp_path: Path) -> None:
    folder = tmp_path / "fraud_api" / "score"
    folder.mkdir(parents=True)
    lines = [{"ts": 1_780_000_000.0 + i, "request_id": str(i), "endpoint": "score", "version": "1",
              "inputs": [{"amount": 10.0 + i, "age": 30, "velocity": None, "merchant": "online"}],
              "outputs": [{"prediction": 0, "probability": 0.1}], "latency_ms": 1.0} for i in range(5)]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{\"ts\": 17"  # a torn last line is skipped
    (folder / "2026-05-28.jsonl").write_text(text)
    table = read_query_log(tmp_path, LogSelection("fraud_api"), SCHEMA)
    assert table.num_rows == 5 and table.schema.field("age").type == pa.int64()
    assert table.column("velocity").null_count == 5 and table.column("_probability").to_pylist()[0] == 0.1
    window = read_query_log(tmp_path, LogSelection("fraud_api", "score", since=1_780_000_003.0), SCHEMA)
    assert window.num_rows == 2
    with pytest.raises(ProjectError, match=r"no query log for service 'fraud'.*did you mean 'fraud_api'"):
        read_query_log(tmp_path, LogSelection("fraud"), SCHEMA)


def test_report_is_self_contained_html_with_svg_plots(monitored_project: Path) -> None:
    monitor, reference = _monitor(monitored_project)
    for i, shift in enumerate((0.0, 0.4, 0.9)):
        monitor.evaluate("fraud", None, reference, Batch(transactions(500, seed=40 + i, amount_shift=shift),
                                                         f"dataset:day{i}"), now=100.0 * (i + 1), domain=i == 2)
    evaluations = monitor.history("fraud")
    page = render_report(evaluations)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= len(SCHEMA) + 1 + 4
    assert not re.search(r"""(src|href)=["']?https?:""", page) and "<script" not in page
    assert "Drift over time" in page and "amount" in page and "ALARM" in page
    with Registry(monitored_project / ".tide") as registry:
        assert registry.get("fraud").version == 1

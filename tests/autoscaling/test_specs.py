"""The autoscaling: section: defaults, and errors that name the field, expected and got."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tideflow.autoscaling import AutoscalingSpec, StepLimit, load_autoscaling_spec, parse_autoscaling_spec
from tideflow.errors import ProjectError


def test_defaults_are_documented_values() -> None:
    spec = AutoscalingSpec()
    assert (spec.min_replicas, spec.max_replicas, spec.metric, spec.target) == (1, 10, "in_flight", 0.7)
    assert (spec.tolerance, spec.sync_period_s, spec.metric_window_s) == (0.1, 1.0, 10.0)
    assert (spec.scale_up_stabilization_s, spec.scale_down_stabilization_s) == (0.0, 300.0)
    assert (spec.panic_window_s, spec.panic_threshold) == (3.0, 2.0)
    assert spec.scale_up_step == StepLimit(replicas=4, percent=100, period_s=1)
    assert spec.scale_down_step == StepLimit(replicas=1, percent=50, period_s=10)
    assert not spec.scale_to_zero.enabled
    assert spec.share.min_workers == 1 and spec.share.hysteresis_workers == 0.5


def test_target_default_follows_the_metric() -> None:
    assert AutoscalingSpec(metric="cpu").target == 0.7
    assert AutoscalingSpec(metric="rps", target=40).target == 40
    with pytest.raises(ValidationError, match=r"target: expected the requests/s one replica serves .* got nothing"):
        AutoscalingSpec(metric="rps")


def test_spec_is_frozen_and_strict() -> None:
    spec = AutoscalingSpec()
    with pytest.raises(ValidationError, match="frozen"):
        spec.min_replicas = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="max_replica"):
        AutoscalingSpec(max_replica=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_replicas": 4, "max_replicas": 2}, r"max_replicas: expected >= min_replicas \(4\), got 2"),
    ({"min_replicas": 0}, r"min_replicas: expected >= 1 unless scale_to_zero.enabled is true, got 0"),
    ({"scale_to_zero": {"enabled": True}}, r"scale_to_zero.enabled: expected min_replicas 0 .* got min_replicas 1"),
    ({"metric": "cpu", "target": 70}, r"target: expected a utilization in \(0, 1\] for metric 'cpu', got 70"),
    ({"panic_window_s": 20}, r"panic_window_s: expected < metric_window_s \(10.0\), got 20"),
    ({"panic_threshold": 1.05}, r"panic_threshold: expected > 1 \+ tolerance \(1.1\), got 1.05"),
    ({"scale_up_step": {"replicas": 0, "percent": 0, "period_s": 1}}, r"scale_up_step.replicas: expected >= 1"),
    ({"sync_period_s": 30}, r"sync_period_s: expected <= metric_window_s \(10.0\), got 30"),
    ({"share": {"min_workers": 3, "max_workers": 2}}, r"share.max_workers: expected >= share.min_workers \(3\), got 2"),
    ({"tolerance": 1.5}, r"tolerance\n.*less than 1 .*input_value=1.5"),
])
def test_validation_errors_name_field_expected_got(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AutoscalingSpec.model_validate(kwargs)


def test_parse_reports_a_located_project_error() -> None:
    expected = r"^api/fraud.yaml at autoscaling.max_replicas: expected >= min_replicas \(5\), got 2$"
    with pytest.raises(ProjectError, match=expected):
        parse_autoscaling_spec({"autoscaling": {"min_replicas": 5, "max_replicas": 2}}, shown="api/fraud.yaml")
    with pytest.raises(ProjectError, match=r"unknown key 'max_replica': did you mean 'max_replicas'\?"):
        parse_autoscaling_spec({"max_replica": 2})
    assert parse_autoscaling_spec(None) == AutoscalingSpec()


def test_cross_field_error_in_a_file_has_its_line(tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text("autoscaling:\n  min_replicas: 1\n  panic_window_s: 30\n")
    with pytest.raises(ProjectError, match=r"scale.yaml:3 at autoscaling.panic_window_s: expected < metric_window_s"):
        load_autoscaling_spec(path)


def test_load_from_yaml_with_line(tmp_path: Path) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text("autoscaling:\n  min_replicas: 2\n  metric: in_flght\n")
    with pytest.raises(ProjectError, match=r"scale.yaml:3 at autoscaling.metric: expected one of .*in_flight"):
        load_autoscaling_spec(path)
    path.write_text("autoscaling:\n  min_replicas: 0\n  scale_to_zero: {enabled: true, idle_s: 60}\n")
    spec = load_autoscaling_spec(path)
    assert spec.min_replicas == 0 and spec.scale_to_zero.idle_s == 60


def test_step_limit_bounds() -> None:
    up = StepLimit(replicas=4, percent=100, period_s=15)
    assert up.bound(1, up=True) == 5 and up.bound(10, up=True) == 20
    down = StepLimit(replicas=1, percent=50, period_s=10)
    assert down.bound(10, up=False) == 5 and down.bound(1, up=False) == 0

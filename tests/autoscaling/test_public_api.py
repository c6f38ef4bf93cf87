"""The autoscaling API is chosen: these names are what the API node and users import."""

from __future__ import annotations

import subprocess
import sys

import tideflow.autoscaling


def test_autoscaling_api() -> None:
    assert sorted(tideflow.autoscaling.__all__) == sorted([
        "BUNDLED", "AutoscalingSpec", "Decision", "DecisionRecord", "HpaDefaults", "HpaPolicy", "KpaDefaults",
        "KpaPolicy", "MetricSample", "PipelineLoad", "PipelineShareSpec", "ReplayReport", "ReplicaPolicy",
        "ReplicaSnapshot", "ScaleToZeroSpec", "ShareDecision", "SharePolicy", "ShareSnapshot", "ShareSpec",
        "ShareState", "SimConfig", "StaticPolicy", "StepLimit", "StepRecord", "TideflowPolicy", "TideflowState",
        "Trace", "load_autoscaling_spec", "load_trace", "parse_autoscaling_spec", "parse_trace", "policy_by_name",
        "replay", "static_peak_replicas",
    ])
    for name in tideflow.autoscaling.__all__:
        assert hasattr(tideflow.autoscaling, name), name


def test_imports_neither_ray_nor_compute() -> None:
    code = ("import sys, tideflow.autoscaling, tideflow.cli.autoscale_cmds; "
            "bad = [m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'tideflow.compute'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

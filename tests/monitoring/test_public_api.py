"""The public API of ``tideflow.monitoring`` is chosen, and the package stays beside ``models``."""

from __future__ import annotations

import subprocess
import sys

import tideflow.monitoring


def test_monitoring_api() -> None:
    assert sorted(tideflow.monitoring.__all__) == [
        "Batch", "BatchInfo", "DataDrift", "DomainDrift", "DriftCheck", "DriftCheckOutcome", "DriftThresholds",
        "Evaluation", "EvaluationStore", "FeatureDrift", "LogSelection", "MetricChange", "MetricPoint", "Monitor",
        "MonitorSpec", "categorical_drift", "data_drift", "domain_drift", "evaluate_model", "load_monitor_spec",
        "numeric_drift", "performance_drift", "prediction_drift", "psi", "read_query_log", "render_report",
        "run_drift_checks",
    ]
    for name in tideflow.monitoring.__all__:
        assert hasattr(tideflow.monitoring, name), name


def test_importing_monitoring_loads_no_upper_layer() -> None:
    code = ("import sys, tideflow.monitoring; bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['tideflow', 'flow'], ['tideflow', 'checks'], ['tideflow', 'lab'], ['tideflow', 'serving'], "
            "['tideflow', 'compute']) or m == 'ray'); print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

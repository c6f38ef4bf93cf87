"""Monitoring: drift statistics (pure), the evaluation store, reports. See docs/monitoring.md.

This package sits beside ``models``: it reads the registry, never the Flow. Reading datasets is done by
the caller (``tideflow.cli.monitor_cmds``); ``monitoring.history.record_evaluation`` writes an evaluation's
drift metrics to the checks' metric history, where dataset checks and scenario conditions read them.
"""

from tideflow.monitoring.domain import DomainDrift, domain_drift
from tideflow.monitoring.drift import (
    DataDrift,
    DriftThresholds,
    FeatureDrift,
    categorical_drift,
    data_drift,
    numeric_drift,
    psi,
)
from tideflow.monitoring.evaluation import Batch, BatchInfo, Evaluation, evaluate_model
from tideflow.monitoring.performance import MetricChange, performance_drift, prediction_drift
from tideflow.monitoring.querylog import LogSelection, read_query_log
from tideflow.monitoring.report import render_report
from tideflow.monitoring.specs import DriftCheck, DriftCheckOutcome, MonitorSpec, load_monitor_spec, run_drift_checks
from tideflow.monitoring.store import EvaluationStore, MetricPoint, Monitor

__all__ = [
    "Batch",
    "BatchInfo",
    "DataDrift",
    "DomainDrift",
    "DriftCheck",
    "DriftCheckOutcome",
    "DriftThresholds",
    "Evaluation",
    "EvaluationStore",
    "FeatureDrift",
    "LogSelection",
    "MetricChange",
    "MetricPoint",
    "Monitor",
    "MonitorSpec",
    "categorical_drift",
    "data_drift",
    "domain_drift",
    "evaluate_model",
    "load_monitor_spec",
    "numeric_drift",
    "performance_drift",
    "prediction_drift",
    "psi",
    "read_query_log",
    "render_report",
    "run_drift_checks",
]

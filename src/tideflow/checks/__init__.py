"""Dataset metrics computed in the database, and checks (rules with warning and error bounds).

Declared in ``datasets/<name>.yaml`` (``tideflow.project.checks_specs``); computed by one
aggregate query per dataset where the data lives (Polars for files and in-memory outputs);
evaluated purely; recorded in the state store's history. See docs/checks.md.
"""

from tideflow.checks.building import (
    BuildChecks,
    check_dataset,
    dataset_source,
    dataset_version,
    verify_declared,
    wants_checks,
)
from tideflow.checks.history import REJECTED, MetricHistory, RecordedMetric, RecordedOutcome
from tideflow.checks.measures import Measure, MetricValue, TopValue, measure_of, schema_fingerprint, show_value
from tideflow.checks.memory import compute_arrow
from tideflow.checks.rules import CheckOutcome, Outcome, RuleError, check_measures, evaluate, range_bounds, worst
from tideflow.checks.runner import (
    ArrowSource,
    ChecksFailed,
    DatasetReport,
    Source,
    SqlSource,
    compute,
    plan,
    profile_metrics,
    run_checks,
)
from tideflow.checks.sqlcompute import aggregate_query, compute_sql, duplicates_query, top_values_query

__all__ = [
    "REJECTED",
    "ArrowSource",
    "BuildChecks",
    "CheckOutcome",
    "ChecksFailed",
    "DatasetReport",
    "Measure",
    "MetricHistory",
    "MetricValue",
    "Outcome",
    "RecordedMetric",
    "RecordedOutcome",
    "RuleError",
    "Source",
    "SqlSource",
    "TopValue",
    "aggregate_query",
    "check_dataset",
    "check_measures",
    "compute",
    "compute_arrow",
    "compute_sql",
    "dataset_source",
    "dataset_version",
    "duplicates_query",
    "evaluate",
    "measure_of",
    "plan",
    "profile_metrics",
    "range_bounds",
    "run_checks",
    "schema_fingerprint",
    "show_value",
    "top_values_query",
    "verify_declared",
    "wants_checks",
    "worst",
]

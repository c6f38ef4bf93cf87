"""The public names of tideflow.checks are chosen: changing them is a decision."""

from __future__ import annotations

import tideflow.checks


def test_checks_api() -> None:
    assert sorted(tideflow.checks.__all__) == sorted([
        "REJECTED", "ArrowSource", "BuildChecks", "CheckOutcome", "ChecksFailed", "DatasetReport", "Measure",
        "MetricHistory", "MetricValue", "Outcome", "RecordedMetric", "RecordedOutcome", "RuleError", "Source",
        "SqlSource", "TopValue", "aggregate_query", "check_dataset", "check_measures", "compute", "compute_arrow",
        "compute_sql", "dataset_source", "dataset_version", "duplicates_query", "evaluate", "measure_of", "plan",
        "profile_metrics", "range_bounds", "run_checks", "schema_fingerprint", "show_value", "top_values_query",
        "verify_declared", "wants_checks", "worst",
    ])
    for name in tideflow.checks.__all__:
        assert hasattr(tideflow.checks, name), name
    assert issubclass(tideflow.checks.ChecksFailed, tideflow.errors.TideflowError)

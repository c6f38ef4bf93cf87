"""The history tables: one value per (dataset, metric, version), typed values round-trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tideflow.checks import REJECTED, CheckOutcome, Measure, MetricHistory, TopValue

RC = Measure("record_count")
TOP = Measure("top_values", column="day", k=2)


def test_values_round_trip_and_versions_dedupe(tmp_path: Path) -> None:
    history = MetricHistory(tmp_path / ".tide" / "state.db")
    top = (TopValue(dt.date(2024, 1, 2), 3), TopValue(dt.date(2024, 1, 1), 1))
    history.record("d", "v1", {RC: 10, TOP: top}, [], now=1.0)
    history.record("d", "v2", {RC: 12}, [], now=2.0)
    history.record("d", "v2", {RC: 12}, [], now=3.0)  # same version again: replaced, not added
    history.record("d", REJECTED, {RC: 10**6}, [], now=4.0)  # rejected data: never learnt
    assert [(r.version, r.value) for r in history.recent("d", RC, 10)] == [("v2", 12), ("v1", 10)]
    assert [r.value for r in history.recent("d", RC, 10, exclude_version="v2")] == [10]
    assert history.recent("d", TOP, 1)[0].value == top
    assert history.recent("other", RC, 10) == []


def test_outcomes_are_recorded_for_rejected_data(tmp_path: Path) -> None:
    history = MetricHistory(tmp_path / "state.db")
    outcome = CheckOutcome(dataset="d", check="rows", rule="not_empty", outcome="error", expected="at least 1 row",
                           got="0 rows")
    history.record("d", REJECTED, {RC: 0}, [outcome], now=5.0)
    [recorded] = history.outcomes("d")
    assert (recorded.check, recorded.outcome, recorded.version, recorded.got) == ("rows", "error", REJECTED, "0 rows")
    assert history.recent("d", RC, 5) == []

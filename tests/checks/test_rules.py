"""Each rule's outcomes, evaluated purely from metric values, a schema and history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter

from tideflow.checks import CheckOutcome, Measure, MetricValue, RuleError, evaluate
from tideflow.project.checks_specs import CheckSpec
from tideflow.recipes import ColumnType, Schema

CHECK: TypeAdapter[Any] = TypeAdapter(CheckSpec)
SCHEMA: Schema = {"id": ColumnType.INTEGER, "amount": ColumnType.DOUBLE, "status": ColumnType.STRING,
                  "day": ColumnType.DATE}
RC = Measure("record_count")


def run(spec: dict[str, Any], values: dict[Measure, MetricValue], *, schema: Schema = SCHEMA,
        past: dict[tuple[str, Measure], list[MetricValue]] | None = None) -> CheckOutcome:
    return evaluate(CHECK.validate_python(spec), dataset="orders", values=values, schema=schema, past=past or {})


@pytest.mark.parametrize(("count", "outcome"), [(0, "error"), (5, "warning"), (99, "warning"), (100, "ok"),
                                                (500, "ok"), (501, "warning")])
def test_within_range_fixed_bounds_pick_the_worst_severity(count: int, outcome: str) -> None:
    spec = {"name": "rows", "rule": "within_range", "metric": "record_count",
            "warning": {"min": 100, "max": 500}, "error": {"min": 1}}
    result = run(spec, {RC: count})
    assert result.outcome == outcome
    assert result.got == str(count)
    assert result.expected == "record_count within error: [1, +inf]; warning: [100, 500]"
    if outcome != "ok":
        assert result.message.startswith(f"dataset 'orders': check 'rows' (within_range) "
                                         f"{'failed' if outcome == 'error' else 'warning'}: expected record_count")


def test_within_range_shorthand_severity_and_null_value() -> None:
    spec = {"rule": "within_range", "metric": {"metric": "avg", "column": "amount"}, "max": 10, "severity": "warning"}
    m = Measure("avg", column="amount")
    assert run(spec, {m: 3.5}).outcome == "ok"
    assert run(spec, {m: 10.5}).outcome == "warning"
    null = run(spec, {m: None})
    assert (null.outcome, null.got, null.check) == ("warning", "NULL", "within_range(avg(amount))")


def test_within_range_on_dates_and_strings() -> None:
    m = Measure("max", column="day")
    spec = {"rule": "within_range", "metric": {"metric": "max", "column": "day"}, "error": {"min": "2024-01-01"}}
    assert run(spec, {m: dt.date(2024, 3, 1)}).outcome == "ok"
    assert run(spec, {m: dt.date(2023, 12, 31)}).outcome == "error"
    with pytest.raises(RuleError, match=r"^max\(day\) is a date: expected a date such as 2024-01-31, "
                                        r"got a string 'soon'$"):
        run({**spec, "error": {"min": "soon"}}, {m: dt.date(2024, 1, 1)})
    with pytest.raises(RuleError, match=r"^record_count is an integer: expected a number, got a string 'a'$"):
        run({"rule": "within_range", "metric": "record_count", "min": "a"}, {RC: 12})


def test_typical_range_learns_from_history() -> None:
    spec = {"name": "volume", "rule": "within_range", "metric": "record_count",
            "error": {"typical": {"history": 5, "sigmas": 2, "min_history": 3}}}
    # Not enough history: not enforced, and the message says it is learning.
    learning = run(spec, {RC: 10**9}, past={("orders", RC): [100, 102]})
    assert learning.outcome == "ok"
    assert "learning (2 of 3 values recorded)" in learning.expected
    # mean 100, sample stdev 2 over the last 5 values (older ones ignored): range [96, 104].
    past: dict[tuple[str, Measure], list[MetricValue]] = {("orders", RC): [98, 102, 98, 102, 100, 10**6, 10**6]}
    assert run(spec, {RC: 104}, past=past).outcome == "ok"
    assert run(spec, {RC: 96}, past=past).outcome == "ok"
    failed = run(spec, {RC: 105}, past=past)
    assert failed.outcome == "error"
    assert "typical [96, 104]" in failed.expected


def test_typical_range_needs_a_numeric_metric() -> None:
    spec = {"rule": "within_range", "metric": {"metric": "min", "column": "status"}, "typical": {"history": 3}}
    with pytest.raises(RuleError, match=r"^a typical range needs a numeric metric \(an integer or a double\), "
                                        r"got min\(status\), a string$"):
        run(spec, {Measure("min", column="status"): "a"}, past={})


def test_in_set_counts_values_outside() -> None:
    spec = {"rule": "in_set", "column": "status", "values": ["new", "paid"], "severity": "warning"}
    m = Measure("outside_set", column="status", values=("new", "paid"))
    assert run(spec, {m: 0}).outcome == "ok"
    bad = run(spec, {m: 3})
    assert (bad.outcome, bad.got) == ("warning", "3 rows with other values")
    assert bad.expected == "every non-NULL 'status' in {'new', 'paid'}"
    with pytest.raises(RuleError, match=r"value for column 'id': expected an integer value, got a string 'x'"):
        run({"rule": "in_set", "column": "id", "values": [1, "x"]}, {})


def test_not_empty_and_unique() -> None:
    assert run({"rule": "not_empty"}, {RC: 0}).outcome == "error"
    assert run({"rule": "not_empty"}, {RC: 1}).outcome == "ok"
    dup = Measure("duplicates", columns=("id", "day"))
    spec = {"rule": "unique", "columns": ["id", "day"]}
    assert run(spec, {dup: 0}).outcome == "ok"
    bad = run(spec, {dup: 4})
    assert (bad.outcome, bad.check, bad.got) == ("error", "unique(id, day)", "4 rows sharing a key with another row")


def test_schema_equals_and_contains() -> None:
    contains = {"rule": "schema_contains", "columns": {"id": "integer", "amount": "double"}}
    assert run(contains, {}).outcome == "ok"
    wrong = run({**contains, "columns": {"id": "string", "amout": "double"}}, {})
    assert wrong.outcome == "error"
    assert wrong.got == "column 'id' is integer, not string; missing column 'amout' (nearest: 'amount')"
    equals = {"rule": "schema_equals", "columns": {"id": "integer", "amount": "double", "status": "string"},
              "severity": "warning"}
    result = run(equals, {})
    assert (result.outcome, result.got) == ("warning", "unexpected columns 'day'")
    assert run({**equals, "columns": {**equals["columns"], "day": "date"}}, {}).outcome == "ok"


def test_compare_two_metrics_and_another_dataset() -> None:
    nulls = Measure("nulls", column="amount")
    spec = {"rule": "compare", "left": {"metric": "nulls", "column": "amount"}, "op": "<", "right": "record_count"}
    assert run(spec, {nulls: 2, RC: 10}).outcome == "ok"
    bad = run(spec, {nulls: 10, RC: 10})
    assert (bad.outcome, bad.expected, bad.got) == ("error", "nulls(amount) < record_count", "10 < 10")
    cross = {"rule": "compare", "left": "record_count", "op": "<=",
             "right": {"dataset": "raw_orders", "metric": "record_count"}, "severity": "warning"}
    assert run(cross, {RC: 5}, past={("raw_orders", RC): [7, 3]}).outcome == "ok"  # latest recorded: 7
    assert run(cross, {RC: 8}, past={("raw_orders", RC): [7]}).outcome == "warning"
    missing = run(cross, {RC: 8}, past={})
    assert missing.outcome == "warning"
    assert "raw_orders.record_count is no recorded value" in missing.got

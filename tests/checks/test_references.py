"""The rules ``plan`` verifies on a schema (no row read) and their wording, shared with ``evaluate``.

The planner verifies declarations on the schema it infers; ``evaluate`` meets the same problems in
measured values only where no schema told (a saved model's drift metric, another dataset's recorded
value). Both word them with one function, from the type of the schema column or of the value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter

from tideflow.checks import Measure, MetricValue, RuleError, evaluate, plan
from tideflow.errors import ProjectError
from tideflow.project import DatasetSpec
from tideflow.project.checks_specs import CheckSpec
from tideflow.recipes import ColumnType, Schema

CHECK: TypeAdapter[Any] = TypeAdapter(CheckSpec)
SCHEMA: Schema = {"id": ColumnType.INTEGER, "name": ColumnType.STRING, "day": ColumnType.DATE,
                  "ts": ColumnType.TIMESTAMP, "ok": ColumnType.BOOLEAN}


def planned(check: dict[str, Any]) -> str | None:
    """The message ``plan`` refuses ``check`` with (None: accepted)."""
    spec = DatasetSpec.model_validate({"name": "x", "checks": [check]})
    try:
        plan(spec, SCHEMA, file="datasets/x.yaml", datasets=["x"])
    except ProjectError as err:
        return err.message
    return None


def evaluated(check: dict[str, Any], values: dict[Measure, MetricValue],
              past: dict[tuple[str, Measure], list[MetricValue]] | None = None) -> str:
    with pytest.raises(RuleError) as info:
        evaluate(CHECK.validate_python(check), dataset="x", values=values, schema=SCHEMA, past=past or {})
    return str(info.value)


@pytest.mark.parametrize(("metric", "bound", "value", "message"), [
    ({"metric": "max", "column": "name"}, 5, "abc", "max(name) is a string: expected a string, got an integer 5"),
    ("record_count", True, 3, "record_count is an integer: expected a number, got a boolean true"),
    ({"metric": "min", "column": "ok"}, 1, False, "min(ok) is a boolean: expected a boolean (true or false), got "
                                                  "an integer 1"),
    ({"metric": "max", "column": "ts"}, "noon", dt.datetime(2024, 1, 1, 12),
     "max(ts) is a timestamp: expected a timestamp or a date such as 2024-01-31 08:00:00, got a string 'noon'"),
    ({"metric": "min", "column": "day"}, dt.datetime(2024, 1, 1, 8), dt.date(2024, 1, 1),
     "min(day) is a date: expected a date such as 2024-01-31, got a timestamp 2024-01-01 08:00:00"),
])
def test_a_bound_of_the_wrong_type_is_worded_once(metric: Any, bound: Any, value: MetricValue, message: str) -> None:
    check = {"name": "c", "rule": "within_range", "metric": metric, "error": {"min": bound}}
    assert planned(check) == f"check 'c': {message}"
    measure = Measure(metric if isinstance(metric, str) else metric["metric"],
                      column=None if isinstance(metric, str) else metric["column"])
    assert evaluated(check, {measure: value}) == message  # the same words from the measured value


@pytest.mark.parametrize(("metric", "bound"), [
    ({"metric": "max", "column": "ts"}, dt.date(2024, 1, 1)), ({"metric": "max", "column": "ts"}, "2024-01-01 08:00"),
    ({"metric": "max", "column": "day"}, "2024-01-01"), ({"metric": "avg", "column": "id"}, 1),
    ({"metric": "sum", "column": "id"}, 0.5), ({"metric": "max", "column": "ok"}, True),
    ("schema_fingerprint", "abc"),
])
def test_bounds_of_the_metric_type_are_accepted(metric: Any, bound: Any) -> None:
    assert planned({"rule": "within_range", "metric": metric, "error": {"min": bound}}) is None


def test_compare_accepts_a_date_with_a_timestamp_both_ways() -> None:
    day, ts = Measure("max", column="day"), Measure("max", column="ts")
    values: dict[Measure, MetricValue] = {day: dt.date(2024, 1, 2), ts: dt.datetime(2024, 1, 1, 23)}
    for left, op, right, outcome in (("day", ">", "ts", "ok"), ("ts", ">", "day", "error")):
        check = {"rule": "compare", "left": {"metric": "max", "column": left}, "op": op,
                 "right": {"metric": "max", "column": right}}
        assert planned(check) is None
        result = evaluate(CHECK.validate_python(check), dataset="x", values=values, schema=SCHEMA, past={})
        assert result.outcome == outcome


def test_compare_of_other_types_is_worded_once() -> None:
    check = {"name": "c", "rule": "compare", "left": {"metric": "max", "column": "name"}, "op": "<",
             "right": "record_count"}
    message = ("cannot compare max(name) with record_count: expected two numbers, two dates or timestamps, or two "
               "values of one type, got a string < an integer")
    assert planned(check) == f"check 'c': {message}"
    assert evaluated(check, {Measure("max", column="name"): "a", Measure("record_count"): 1}) == message
    top = {**check, "left": {"metric": "top_values", "column": "name"}}
    assert planned(top) == ("check 'c': top_values(name, k=10) is a list of values: it cannot be compared (compare "
                            "its column's other metrics)")


def test_a_drift_metric_is_verified_on_its_recorded_value_in_the_same_words() -> None:
    """A saved model's metric has no schema: its recorded value is checked when the check runs."""
    check = {"name": "c", "rule": "within_range", "metric": {"model": "fraud", "metric": "alarm"},
             "error": {"typical": {"history": 5}}}
    assert planned(check) is None
    alarm = Measure("alarm")
    message = evaluated(check, {}, past={("model:fraud", alarm): [True, False, True]})
    assert message == ("a typical range needs a numeric metric (an integer or a double), got model:fraud.alarm, "
                       "a boolean")
    local = {**check, "metric": {"metric": "max", "column": "name"}}
    assert planned(local) == ("check 'c': a typical range needs a numeric metric (an integer or a double), got "
                              "max(name), a string")

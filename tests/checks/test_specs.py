"""Spec errors: at load time (unknown keys, bad shapes) and when checks run (unknown columns)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.checks import ArrowSource, run_checks
from tideflow.errors import ProjectError
from tideflow.project import DatasetSpec, load_project
from tideflow.recipes import ColumnType, Schema

from .conftest import DAY, arrow_table

SCHEMA: Schema = {"amount": ColumnType.DOUBLE, "day": ColumnType.DATE}


def project(tmp_path: Path, dataset_yaml: str) -> Path:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "tideflow.yaml").write_text("name: t\n")
    (tmp_path / "datasets" / "orders.yaml").write_text(dataset_yaml)
    return tmp_path


@pytest.mark.parametrize(("text", "match"), [
    ("checks:\n  - rule: not_empty\n    severty: warning\n",
     r"datasets/orders.yaml:3 at checks\[0\].severty: unknown key 'severty': did you mean 'severity'\?"),
    ("checks:\n  - rule: in_sett\n    column: a\n",
     r"checks\[0\].rule: expected one of .*'in_set'.*got 'in_sett': did you mean 'in_set'\?"),
    ("metrics:\n  - {metric: nulls}\n", r"metrics\[0\]: metric 'nulls' is computed on a column: add 'column'"),
    ("metrics:\n  - {metric: record_count, column: a}\n", r"'record_count' is a dataset metric: remove 'column'"),
    ("metrics:\n  - {metric: min, column: a, k: 3}\n", r"'k' is for top_values, not 'min'"),
    ("metrics:\n  - medain\n", r"metrics\[0\].metric: expected one of .*got 'medain'"),
    ("checks:\n  - rule: within_range\n    metric: record_count\n",
     r"within_range needs a 'warning' or an 'error' range"),
    ("checks:\n  - rule: within_range\n    metric: record_count\n    error: {min: 5, max: 1}\n",
     r"min \(5\) is greater than max \(1\)"),
    ("checks:\n  - rule: within_range\n    metric: record_count\n    error: {min: 1, typical: {history: 5}}\n",
     r"give either min/max or typical, not both"),
    ("checks:\n  - rule: within_range\n    metric: record_count\n    min: 1\n    error: {max: 3}\n",
     r"give the error range either at the top level or under 'error', not both"),
    ("checks:\n  - rule: unique\n    columns: [a, a]\n", r"column 'a' is listed twice"),
    ("checks:\n  - rule: in_set\n    column: a\n    values: []\n", r"checks\[0\].values: List should have at least"),
    ("checks:\n  - rule: not_empty\n  - rule: not_empty\n", r"two checks are named 'not_empty'"),
    ("checks:\n  - rule: schema_contains\n    columns: {a: text}\n", r"expected one of .*'string'.*got 'text'"),
    ("checks:\n  - rule: compare\n    left: record_count\n    op: '=<'\n    right: record_count\n",
     r"checks\[0\].op: expected one of"),
    ("checks:\n  - rule: within_range\n    metric: {metric: top_values, column: a}\n    min: 1\n",
     r"within_range cannot bound top_values"),
    ("checks_after_build: maybe\n", r"checks_after_build: Input should be a valid boolean"),
])
def test_invalid_specs_fail_at_load_time(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ProjectError, match=match):
        load_project(project(tmp_path, text))


def test_unknown_columns_are_reported_when_checks_run(tmp_path: Path) -> None:
    root = project(tmp_path, "checks:\n  - name: amounts\n    rule: within_range\n"
                             "    metric: {metric: avg, column: amout}\n    error: {min: 0}\n")
    proj = load_project(root)
    source = ArrowSource(arrow_table([{"amount": 1.0, "day": DAY}], SCHEMA))
    with pytest.raises(ProjectError, match=r"^datasets/orders.yaml at checks\[0\].metric.column: check 'amounts': "
                                           r"unknown column 'amout': did you mean 'amount'\? "
                                           r"\(the dataset has: 'amount', 'day'\)$"):
        run_checks(proj.datasets["orders"], source, file=proj.files["orders"])


@pytest.mark.parametrize(("spec", "match"), [
    ({"metrics": [{"metric": "sum", "column": "day"}]},
     r"at metrics\[0\]: metric 'sum\(day\)': sum needs an integer or double column, got 'day' of type date"),
    ({"metrics": [{"metric": "top_values", "column": "dya"}]},
     r"at metrics\[0\].column: metric 'top_values\(dya, k=10\)': unknown column 'dya': did you mean 'day'\?"),
    ({"checks": [{"rule": "unique", "columns": ["amount", "dy"]}]},
     r"at checks\[0\].columns\[1\]: check 'unique\(amount, dy\)': unknown column 'dy': did you mean 'day'\?"),
    ({"checks": [{"rule": "in_set", "column": "day", "values": ["2024-01-01", "tomorrow"]}]},
     r"at checks\[0\].values\[1\]: check 'in_set\(day\)': value for column 'day': expected a date value, "
     r"got a string 'tomorrow'"),
    ({"checks": [{"rule": "compare", "left": "record_count", "op": "<",
                  "right": {"dataset": "ordres", "metric": "record_count"}}]},
     r"at checks\[0\].right.dataset: check .*: unknown dataset 'ordres': did you mean 'orders'\?"),
])
def test_reference_errors_name_file_check_and_nearest(spec: dict[str, object], match: str) -> None:
    dataset = DatasetSpec.model_validate({"name": "x", **spec})
    source = ArrowSource(arrow_table([{"amount": 1.0, "day": DAY}], SCHEMA))
    with pytest.raises(ProjectError, match=r"^datasets/x.yaml " + match):
        run_checks(dataset, source, file="datasets/x.yaml", datasets=["x", "orders"])

"""Metrics and checks are verified against the schema the planner knows, before anything runs.

A check naming a column the dataset will not have (a typo, a column its recipe dropped or renamed), or
comparing a value of the wrong type, is a ``ProjectError`` of ``plan_build``, ``build`` and
``explain_recipe``: the file, the line, the key path, what it takes, what it got and the nearest name.
Where only running tells the schema (a Python recipe's output), the checks are verified when they run,
in the same words.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.errors import ProjectError
from tideflow.flow import build, explain_recipe, plan_build
from tideflow.project import load_project

from .conftest import Writer, duck_exec

# orders(id, customer, amount, day) -> clean: the filter keeps every column, then ``amount`` is renamed.
PREPARE = """\
type: prepare
inputs: orders
outputs: clean
steps:
  - op: filter
    expr: amount > 0
  - op: rename
    columns: {amount: total}
"""
# The same output computed in Python: its schema is known only once it has run.
PYTHON = "type: python\ninputs: [orders]\noutputs: clean\nfile: code.py\nfunction: transform\n"
CODE = ("def transform(inputs):\n"
        "    return inputs['orders'].filter(inputs['orders']['amount'] > 0).rename({'amount': 'total'})\n")
COLUMNS = "(the dataset has: 'id', 'customer', 'total', 'day')"


def seed(root: Path) -> None:
    duck_exec(root, "CREATE OR REPLACE TABLE orders AS SELECT * FROM (VALUES (1, 'ann', 10.0, DATE '2024-01-02'), "
                    "(2, 'bob', -5.0, DATE '2024-01-03')) t(id, customer, amount, day)")


def project(make_project: Writer, clean: str, *, recipe: str = PREPARE, orders: str = "table: orders\n") -> Path:
    extra = {"recipes/code.py": CODE} if recipe is PYTHON else None
    root = make_project({"clean.yaml": recipe}, {"orders.yaml": orders, "clean.yaml": clean}, extra=extra)
    seed(root)
    return root


def tables(root: Path) -> set[str]:
    return {r[0] for r in duck_exec(root, "SELECT table_name FROM information_schema.tables")}  # type: ignore[misc]


def refused(root: Path) -> str:
    """The error of plan_build, explain_recipe and build (each the same), after checking nothing ran."""
    messages = []
    for call in (lambda p: plan_build(p), lambda p: explain_recipe(p, "clean"), lambda p: build(p)):
        with pytest.raises(ProjectError) as info:
            call(load_project(root))
        messages.append(str(info.value))
    assert len(set(messages)) == 1, messages
    assert "clean" not in tables(root)  # the build never started
    return messages[0]


@pytest.mark.parametrize(("clean", "message"), [
    # a typo: the nearest column, and every column the output will have
    ("checks:\n  - rule: not_empty\n  - rule: in_set\n    column: custmer\n    values: [ann]\n",
     "datasets/clean.yaml:4 at checks[1].column: check 'in_set(custmer)': unknown column 'custmer': did you mean "
     f"'customer'? {COLUMNS}"),
    # the column the recipe renamed
    ("metrics:\n  - record_count\n  - {metric: sum, column: amount}\n",
     f"datasets/clean.yaml:3 at metrics[1].column: metric 'sum(amount)': unknown column 'amount' {COLUMNS}"),
    ("checks:\n  - name: keys\n    rule: unique\n    columns: [id, dya]\n",
     "datasets/clean.yaml:4 at checks[0].columns[1]: check 'keys': unknown column 'dya': did you mean 'day'? "
     f"{COLUMNS}"),
    ("checks:\n  - rule: within_range\n    metric: {metric: max, column: totl}\n    error: {max: 10}\n",
     "datasets/clean.yaml:3 at checks[0].metric.column: check 'within_range(max(totl))': unknown column 'totl': "
     f"did you mean 'total'? {COLUMNS}"),
    # a numeric range on a string column, a date rule on an integer
    ("checks:\n  - rule: within_range\n    metric: {metric: max, column: customer}\n    error: {min: 5}\n",
     "datasets/clean.yaml:4 at checks[0].error.min: check 'within_range(max(customer))': max(customer) is a string: "
     "expected a string, got an integer 5"),
    ("checks:\n  - rule: within_range\n    metric: {metric: min, column: id}\n    warning:\n      max: 2024-01-01\n",
     "datasets/clean.yaml:5 at checks[0].warning.max: check 'within_range(min(id))': min(id) is an integer: "
     "expected a number, got a date 2024-01-01"),
    ("checks:\n  - rule: within_range\n    metric: {metric: max, column: day}\n    error: {min: soon}\n",
     "datasets/clean.yaml:4 at checks[0].error.min: check 'within_range(max(day))': max(day) is a date: expected a "
     "date such as 2024-01-31, got a string 'soon'"),
    ("metrics:\n  - {metric: avg, column: customer}\n",
     "datasets/clean.yaml:2 at metrics[0]: metric 'avg(customer)': avg needs an integer or double column, got "
     "'customer' of type string"),
    ("checks:\n  - rule: in_set\n    column: id\n    values: [1, two]\n",
     "datasets/clean.yaml:4 at checks[0].values[1]: check 'in_set(id)': value for column 'id': expected an integer "
     "value, got a string 'two'"),
    ("checks:\n  - rule: within_range\n    metric: {metric: max, column: customer}\n"
     "    error: {typical: {history: 5}}\n",
     "datasets/clean.yaml:4 at checks[0].error.typical: check 'within_range(max(customer))': a typical range needs a "
     "numeric metric (an integer or a double), got max(customer), a string"),
    ("checks:\n  - rule: compare\n    left: {metric: max, column: day}\n    op: '>'\n    right: record_count\n",
     "datasets/clean.yaml:5 at checks[0].right: check 'compare(max(day) > record_count)': cannot compare max(day) "
     "with record_count: expected two numbers, two dates or timestamps, or two values of one type, got a date > "
     "an integer"),
])
def test_wrong_checks_on_a_recipe_output_are_refused_before_anything_runs(make_project: Writer, clean: str,
                                                                           message: str) -> None:
    assert refused(project(make_project, clean)) == message


def test_checks_that_fit_the_inferred_schema_build(make_project: Writer) -> None:
    clean = ("metrics:\n  - {metric: sum, column: total}\n  - {metric: top_values, column: customer, k: 2}\n"
             "checks:\n  - rule: within_range\n    metric: {metric: max, column: day}\n    error: {min: 2024-01-01}\n"
             "  - rule: within_range\n    metric: {metric: max, column: customer}\n    error: {min: a, max: zz}\n"
             "  - rule: compare\n    left: {metric: min, column: day}\n    op: '<='\n"
             "    right: {metric: max, column: day}\n  - rule: in_set\n    column: id\n    values: [1, 2.0]\n")
    root = project(make_project, clean)
    assert plan_build(load_project(root)).steps
    result = build(load_project(root))
    assert result.ok, result.failed


def test_the_schema_is_the_one_the_build_will_write(make_project: Writer) -> None:
    """A rebuilt output is verified against its inferred schema, not the table of the previous build."""
    root = project(make_project, "checks:\n  - rule: not_empty\n")
    assert build(load_project(root)).ok  # clean(id, customer, total, day) is stored
    (root / "recipes" / "clean.yaml").write_text(PREPARE + "  - op: formula\n    column: big\n    expr: total > 5\n")
    (root / "datasets" / "clean.yaml").write_text("checks:\n  - rule: in_set\n    column: big\n    values: [true]\n")
    result = build(load_project(root))  # 'big' is not in the stored table, it is in the new output
    assert result.ok, result.failed
    (root / "recipes" / "clean.yaml").write_text(PREPARE)
    with pytest.raises(ProjectError, match=r"^datasets/clean.yaml:3 at checks\[0\].column: check 'in_set\(big\)': "
                                           r"unknown column 'big' \(the dataset has: 'id', 'customer', 'total', "
                                           r"'day'\)$"):
        build(load_project(root))  # the stored table still has 'big': the output will not


def test_an_up_to_date_output_is_verified_against_its_stored_schema(make_project: Writer) -> None:
    root = project(make_project, "checks:\n  - rule: not_empty\n")
    assert build(load_project(root)).ok
    (root / "datasets" / "clean.yaml").write_text("checks:\n  - rule: unique\n    columns: [ide]\n")
    with pytest.raises(ProjectError, match=r"^datasets/clean.yaml:3 at checks\[0\].columns\[0\]: .*unknown column "
                                           r"'ide': did you mean 'id'\?"):
        build(load_project(root))  # nothing to run (the recipe is up to date), and still refused


def test_a_source_is_verified_against_its_stored_schema(make_project: Writer) -> None:
    orders = "table: orders\nchecks:\n  - rule: within_range\n    metric: {metric: max, column: amount}\n" \
             "    error: {min: '0'}\n"
    root = project(make_project, "checks:\n  - rule: not_empty\n", orders=orders)
    assert refused(root) == ("datasets/orders.yaml:5 at checks[0].error.min: check 'within_range(max(amount))': "
                             "max(amount) is a double: expected a number, got a string '0'")


def test_compare_with_another_dataset_reads_its_schema(make_project: Writer) -> None:
    clean = ("checks:\n  - rule: compare\n    left: {metric: max, column: total}\n    op: '<='\n"
             "    right: {dataset: orders, metric: max, column: amont}\n")
    root = project(make_project, clean)
    assert refused(root) == (
        "datasets/clean.yaml:5 at checks[0].right.column: check 'compare(max(total) <= orders.max(amont))': unknown "
        "column 'amont': did you mean 'amount'? (dataset 'orders' has: 'id', 'customer', 'amount', 'day')")
    (root / "datasets" / "clean.yaml").write_text(clean.replace("max, column: amont", "max, column: day"))
    assert "cannot compare max(total) with orders.max(day)" in refused(root)


@pytest.mark.parametrize("clean", [
    "checks:\n  - rule: in_set\n    column: custmer\n    values: [ann]\n",
    "checks:\n  - rule: within_range\n    metric: {metric: max, column: day}\n    error: {min: 5}\n",
])
def test_an_unknown_schema_is_verified_when_the_checks_run_in_the_same_words(make_project: Writer,
                                                                              clean: str) -> None:
    planned = refused(project(make_project, clean))  # from a prepare recipe: known, refused at planning
    root = project(make_project, clean, recipe=PYTHON)  # from Python: known once it has run
    assert plan_build(load_project(root)).steps
    result = build(load_project(root))
    assert not result.ok
    assert result.failed[0].error == planned
    assert "clean" not in tables(root)  # the checks ran before the output was written


def test_a_python_output_is_not_verified_against_its_previous_table(make_project: Writer) -> None:
    root = project(make_project, "checks:\n  - rule: not_empty\n", recipe=PYTHON)
    assert build(load_project(root)).ok
    (root / "recipes" / "code.py").write_text(CODE.replace(".rename(", ".with_columns(flag=True).rename("))
    (root / "datasets" / "clean.yaml").write_text("checks:\n  - rule: in_set\n    column: flag\n    values: [true]\n")
    result = build(load_project(root))  # the stored table has no 'flag'; the new output will
    assert result.ok, result.failed


@pytest.mark.postgres
def test_postgres_outputs_and_sources_are_verified(make_project: Writer, pg_conn: Any, pg_schema: str) -> None:
    config = (f"name: t\nconnections:\n  warehouse: {{type: postgres, dbname: test, user: postgres, "
              f"schema: {pg_schema}}}\n")
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".orders AS SELECT * FROM (VALUES (1, \'ann\', 10.0::float8, '
                    f"DATE '2024-01-02')) t(id, customer, amount, day)")
    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n",
                                                  "clean.yaml": "metrics:\n  - {metric: stddev, column: amount}\n"},
                        config=config)
    with pytest.raises(ProjectError, match=re.escape(f"datasets/clean.yaml:2 at metrics[0].column: metric "
                                                     f"'stddev(amount)': unknown column 'amount' {COLUMNS}")):
        build(load_project(root))
    tables_now = pg_conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                 (pg_schema,)).fetchall()
    assert tables_now == [("orders",)]
    (root / "datasets" / "orders.yaml").write_text("table: orders\nchecks:\n  - rule: in_set\n    column: day\n"
                                                   "    values: [2024-01-02, soon]\n")
    (root / "datasets" / "clean.yaml").write_text("metrics:\n  - {metric: stddev, column: total}\n")
    with pytest.raises(ProjectError, match=re.escape("datasets/orders.yaml:5 at checks[0].values[1]: check "
                                                     "'in_set(day)': value for column 'day': expected a date value, "
                                                     "got a string 'soon'")):
        plan_build(load_project(root))
    (root / "datasets" / "orders.yaml").write_text("table: orders\n")
    assert build(load_project(root)).ok


def test_cli_explain_and_build_exit_2(make_project: Writer) -> None:
    root = project(make_project, "checks:\n  - rule: in_set\n    column: custmer\n    values: [ann]\n")
    runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    for argv in (["flow", "explain"], ["flow", "explain", "clean"], ["flow", "build"], ["flow", "build", "clean"]):
        result = runner.invoke(app, [*argv, "--project", str(root)])
        assert result.exit_code == 2, (argv, result.output)
        assert ("error: datasets/clean.yaml:3 at checks[0].column: check 'in_set(custmer)': unknown column "
                "'custmer': did you mean 'customer'?") in result.stderr
    assert "clean" not in tables(root)

"""docs/checks.md examples validate; ``tide dataset metrics | check`` print tables and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tideflow.cli.checks_cmds import dataset_checks_app
from tideflow.project import DatasetSpec
from tideflow.project.checks_specs import RULES
from tideflow.project.yamlfile import loads

from .test_build import duck, write_project

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("block", BLOCKS)
def test_doc_example_validates(block: str) -> None:
    DatasetSpec.model_validate({"name": "example", **loads(block)})


def test_docs_show_every_rule_and_metric() -> None:
    specs = [DatasetSpec.model_validate({"name": "e", **loads(b)}) for b in BLOCKS]
    assert {c.rule for s in specs for c in s.checks} == set(RULES)
    assert {m.metric for s in specs for m in s.metrics} == {
        "record_count", "column_count", "schema_fingerprint", "nulls", "distinct_count", "min", "max", "avg",
        "sum", "stddev", "top_values"}


@pytest.fixture()
def cli() -> tuple[CliRunner, typer.Typer]:
    app = typer.Typer()
    app.add_typer(dataset_checks_app, name="dataset")
    return CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None}), app


def test_cli_metrics_and_check(tmp_path: Path, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    root = write_project(tmp_path / "p", after="false")
    duck(root, "CREATE TABLE orders AS SELECT * FROM (VALUES (1, 5.0), (2, 500.0)) t(id, amount)")
    duck(root, "CREATE TABLE clean AS SELECT * FROM orders")
    metrics = runner.invoke(app, ["dataset", "metrics", "clean", "-p", str(root)])
    assert metrics.exit_code == 0, metrics.output
    assert re.search(r"record_count\s+│\s+2", metrics.output)
    assert re.search(r"sum\(amount\)\s+│\s+505", metrics.output)
    profile = runner.invoke(app, ["dataset", "metrics", "orders", "-p", str(root)])  # declares none: a profile
    assert profile.exit_code == 0, profile.output
    assert "stddev(amount)" in profile.output and "schema_fingerprint" in profile.output

    checked = runner.invoke(app, ["dataset", "check", "clean", "-p", str(root)])
    assert checked.exit_code == 0, checked.output  # only a warning: max(amount) 500 > 100
    assert "2 checks: 0 failed, 1 warning" in checked.output
    duck(root, "DELETE FROM clean")
    failed = runner.invoke(app, ["dataset", "check", "clean", "-p", str(root)])
    assert failed.exit_code == 1, failed.output
    assert re.search(r"has rows\s+│\s+not_empty\s+│\s+error\s+│\s+at least 1 row\s+│\s+0 rows", failed.output)

    missing = runner.invoke(app, ["dataset", "check", "clen", "-p", str(root)])
    assert missing.exit_code == 2
    assert "unknown dataset 'clen': did you mean 'clean'?" in missing.output

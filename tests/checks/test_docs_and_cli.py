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
ALL_BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
BLOCKS = [b for b in ALL_BLOCKS if not b.startswith("# recipes/")]  # dataset files (the rest: their recipes)


@pytest.mark.parametrize("block", BLOCKS)
def test_doc_example_validates(block: str) -> None:
    DatasetSpec.model_validate({"name": "example", **loads(block)})


def _section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_doc_example_verified_before_the_build(tmp_path: Path) -> None:
    """The files of 'Verified before the build' refused as the page says, by `tide flow explain` and
    `tide flow build` (exit 2), nothing built; the same project with the fixes it names builds."""
    from tideflow.cli.main import app

    section = _section("Verified before the build")
    files = {b.splitlines()[0].removeprefix("# "): b for b in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)}
    assert set(files) == {"recipes/clean_orders.yaml", "datasets/clean_orders.yaml"}
    expected = re.findall(r"```text\n(.*?)```", section, flags=re.S)[0].splitlines()
    root = tmp_path / "p"
    for name, text in {"tideflow.yaml": "name: t\n", "datasets/orders.yaml": "table: orders\n", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    duck(root, "CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'new', DATE '2024-01-02')) t(id, status, day)")
    runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    dataset = root / "datasets" / "clean_orders.yaml"
    for line in expected:
        for command in ("explain", "build"):
            result = runner.invoke(app, ["flow", command, "-p", str(root)])
            assert result.exit_code == 2, result.output
            assert result.stderr.strip() == line
        dataset.write_text(dataset.read_text().replace("column: status", "column: state"))
    assert duck(root, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'clean_orders'") == [(0,)]
    dataset.write_text(dataset.read_text().replace("{min: 2024}", "{min: 2024-01-01}"))
    result = runner.invoke(app, ["flow", "build", "-p", str(root)])
    assert result.exit_code == 0, result.output


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

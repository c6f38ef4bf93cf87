"""What ``tide`` prints for a bad project file: one ``error:`` line naming file, line and key; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})


@pytest.fixture()
def shop(tmp_path: Path, runner: CliRunner) -> Path:
    root = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def line_of(path: Path, text: str, nth: int = 1) -> int:
    """The line of the ``nth`` line of ``path`` containing ``text`` (the template may move keys)."""
    found = [i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line]
    return found[nth - 1]


def fails(runner: CliRunner, root: Path, *argv: str) -> str:
    result = runner.invoke(app, [*argv, "-p", str(root)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    return result.stderr.strip()


def test_unclosed_quote_in_an_expression(shop: Path, runner: CliRunner) -> None:
    recipe = shop / "recipes" / "clean_orders.yaml"
    edit(recipe, "expr: \"status <> 'cancelled'\"", "expr: '\"amount > 0'")
    assert fails(runner, shop, "flow", "build") == (
        f"error: recipes/clean_orders.yaml:{line_of(recipe, 'amount > 0')} at steps[0].expr: syntax error: "
        "unclosed double quote at column 1: expected a closing \"; double quotes name a column, single quotes "
        "make a string in expression '\"amount > 0'")


def test_unknown_column_names_the_line(shop: Path, runner: CliRunner) -> None:
    recipe = shop / "recipes" / "clean_orders.yaml"
    edit(recipe, 'expr: "amount * 1.2"', 'expr: "amout * 1.2"')
    error = fails(runner, shop, "flow", "explain", "clean_orders")
    assert error.startswith(f"error: recipes/clean_orders.yaml:{line_of(recipe, 'amout')} at steps[2].expr: "
                            "unknown column 'amout': did you mean 'amount'?")


def test_incomplete_expression_in_words(shop: Path, runner: CliRunner) -> None:
    recipe = shop / "recipes" / "clean_orders.yaml"
    edit(recipe, "expr: \"status <> 'cancelled'\"", 'expr: "status <> "')
    assert fails(runner, shop, "flow", "build") == (
        f"error: recipes/clean_orders.yaml:{line_of(recipe, 'status <>')} at steps[0].expr: incomplete "
        "expression: '<>' at column 8 needs a right-hand side in expression 'status <> '")


def test_sql_recipe_file_with_an_unclosed_quote(shop: Path, runner: CliRunner) -> None:
    (shop / "recipes" / "q.yaml").write_text("type: sql\ninputs: orders\noutputs: q\nfile: q.sql\n")
    (shop / "recipes" / "q.sql").write_text("SELECT 'abc\n")
    assert fails(runner, shop, "flow", "show") == (
        "error: recipes/q.sql:1: syntax error in the duckdb query: unclosed single quote at column 8: "
        "expected a closing '")


def test_path_leaving_the_root_names_the_dataset_file(shop: Path, runner: CliRunner) -> None:
    dataset = shop / "datasets" / "orders.yaml"
    edit(dataset, "path: orders.csv", "path: ../../../../etc/passwd")
    assert fails(runner, shop, "flow", "build") == (
        f"error: datasets/orders.yaml:{line_of(dataset, 'path:')} at path: path '../../../../etc/passwd' leaves "
        "the root of connection 'files' (data/): expected a path inside it")


def test_format_that_does_not_match_the_file(shop: Path, runner: CliRunner) -> None:
    (shop / "datasets" / "orders.yaml").write_text("connection: files\npath: orders.csv\nformat: parquet\n")
    error = fails(runner, shop, "dataset", "schema", "orders")
    assert error.startswith("error: datasets/orders.yaml:3 at format: format 'parquet' does not match the path "
                            "'orders.csv': expected 'csv'")


def test_duplicate_key_in_tideflow_yaml(shop: Path, runner: CliRunner) -> None:
    config = shop / "tideflow.yaml"
    config.write_text(config.read_text() + "defaults:\n  parallelism: 3\n")
    first, second = line_of(config, "defaults:"), line_of(config, "defaults:", 2)
    error = fails(runner, shop, "flow", "show")
    assert error.startswith(f"error: tideflow.yaml:{second} at defaults: the key 'defaults' is written twice "
                            f"(lines {first} and {second}): expected each key once")

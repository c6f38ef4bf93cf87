"""``tide init`` and the exit codes / error lines every command shares (no build needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.project import load_project


def test_init_scaffolds_a_valid_project(project_dir: Path) -> None:
    project = load_project(project_dir)
    assert project.config.name == "shop"
    assert {r.type for r in project.recipes.values()} == {"prepare", "group"}
    assert project.graph.sources() == ["orders"]
    assert (project_dir / "data" / "orders.csv").is_file()
    assert (project_dir / ".gitignore").read_text() == ".tide/\n"
    assert "{{" not in (project_dir / "README.md").read_text()


def test_init_name_option(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--name", "sales"])
    assert result.exit_code == 0, result.output
    assert load_project(tmp_path / "x").config.name == "sales"


def test_init_refuses_to_overwrite_a_project(project_dir: Path, runner: CliRunner) -> None:
    before = (project_dir / "tideflow.yaml").read_text()
    result = runner.invoke(app, ["init", str(project_dir)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "refusing to overwrite an existing project" in result.stderr
    assert "Traceback" not in result.output
    assert (project_dir / "tideflow.yaml").read_text() == before


def test_init_refuses_to_overwrite_files(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "p" / "recipes").mkdir(parents=True)
    (tmp_path / "p" / "recipes" / "clean_orders.yaml").write_text("mine\n")
    result = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "recipes/clean_orders.yaml" in result.stderr
    assert (tmp_path / "p" / "recipes" / "clean_orders.yaml").read_text() == "mine\n"


def test_show_draws_the_flow(project_dir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["flow", "show", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if word in line)
             for word in ("orders  source", "clean_orders  [prepare]", "orders_clean",
                          "revenue_by_country  [group]")]
    assert order == sorted(order)


def test_project_from_environment(project_dir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["flow", "show"], env={"TIDE_PROJECT": str(project_dir)})
    assert result.exit_code == 0, result.output
    assert "clean_orders" in result.stdout


def test_bad_project_file_exits_2_with_the_file_name(project_dir: Path, runner: CliRunner) -> None:
    (project_dir / "recipes" / "clean_orders.yaml").write_text(
        "type: prepare\ninputs: orders\noutputs: orders_clean\n"
        "steps:\n  - op: fliter\n    expr: 'amount > 0'\n"
    )
    result = runner.invoke(app, ["flow", "show", "-p", str(project_dir)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: recipes/clean_orders.yaml:5")
    assert "'filter'" in result.stderr  # the nearest valid step
    assert "Traceback" not in result.output


def test_invalid_yaml_exits_2(project_dir: Path, runner: CliRunner) -> None:
    (project_dir / "datasets" / "orders.yaml").write_text("path: [unclosed\n")
    result = runner.invoke(app, ["flow", "show", "-p", str(project_dir)])
    assert result.exit_code == 2
    assert "datasets/orders.yaml" in result.stderr
    assert "invalid YAML" in result.stderr


def test_not_a_project_exits_2(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["flow", "show", "-p", str(tmp_path)])
    assert result.exit_code == 2
    assert "no tideflow.yaml" in result.stderr
    assert "tide init" in result.stderr


@pytest.mark.parametrize("argv", [
    ["flow", "build", "--mode", "fast"],
    ["flow", "build", "--engine", "spark"],
    ["dataset", "head"],
    ["nope"],
])
def test_usage_errors_exit_2(argv: list[str], project_dir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, [*argv, "--project", str(project_dir)] if argv[0] != "nope" else argv)
    assert result.exit_code == 2, result.output


def test_no_arguments_prints_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "flow" in result.output and "dataset" in result.output and "demo" in result.output


def test_init_prints_next_steps_that_paste_into_a_shell(tmp_path: Path, runner: CliRunner) -> None:
    target = tmp_path / "shop 4"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert f"$ tide flow build --project '{target}'" in result.output

"""init -> flow build -> dataset head/schema -> recipe sql -> flow explain, on a fresh project."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tideflow.cli.main import app


def _run(runner: CliRunner, project: Path, *argv: str, code: int = 0) -> str:
    result = runner.invoke(app, [*argv, "--project", str(project)])
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.stderr


def test_the_whole_round_trip(project_dir: Path, runner: CliRunner) -> None:
    built = _run(runner, project_dir, "flow", "build")
    assert "clean_orders" in built and "revenue_by_country" in built
    assert "2 ok" in built and "failed" not in built

    again = _run(runner, project_dir, "flow", "build")
    assert "up to date" in again

    head = _run(runner, project_dir, "dataset", "head", "revenue_by_country", "-n", "3")
    for column in ("country", "orders", "revenue", "average_amount"):
        assert column in head

    # Plain formats for a file or a pipe: the same rows as the API of the Flow
    from tideflow.flow import dataset_head
    from tideflow.project import load_project

    rows = dataset_head(load_project(project_dir), "orders_clean", 4).to_pylist()
    csv_text = _run(runner, project_dir, "dataset", "head", "orders_clean", "-n", "4", "--format", "csv")
    lines = csv_text.splitlines()
    assert lines[0] == ",".join(f'"{c}"' for c in rows[0]) and len(lines) == 5
    jsonl = [json.loads(line) for line in _run(runner, project_dir, "dataset", "head", "orders_clean", "-n", "4",
                                               "-f", "jsonl").splitlines()]
    assert jsonl == [{k: (str(v) if k == "ordered_at" else v) for k, v in row.items()} for row in rows]

    schema = _run(runner, project_dir, "dataset", "schema", "orders_clean")
    assert "amount_with_vat" in schema and "double" in schema
    assert "order_month" in schema and "integer" in schema

    sql = _run(runner, project_dir, "recipe", "sql", "revenue_by_country")
    assert "GROUP BY" in sql.upper() and "revenue" in sql
    pg = _run(runner, project_dir, "recipe", "sql", "clean_orders", "--dialect", "postgres")
    assert "SELECT" in pg.upper()

    explained = _run(runner, project_dir, "flow", "explain", "clean_orders")
    assert "clean_orders" in explained and "engine" in explained and "why" in explained
    assert "no: up to date" in explained
    assert "SELECT" in explained.upper()

    everything = _run(runner, project_dir, "flow", "explain")
    assert "clean_orders" in everything and "revenue_by_country" in everything


def test_build_modes_and_targets(project_dir: Path, runner: CliRunner) -> None:
    _run(runner, project_dir, "flow", "build")
    only = _run(runner, project_dir, "flow", "build", "revenue_by_country", "--mode", "dataset")
    assert "1 ok" in only
    forced = _run(runner, project_dir, "flow", "build", "revenue_by_country", "--mode", "forced",
                  "--engine", "memory")
    assert "2 ok" in forced and "memory" in forced
    downstream = _run(runner, project_dir, "flow", "build", "orders_clean", "--mode", "downstream")
    assert "2 ok" in downstream


def test_unknown_names_exit_2_with_a_suggestion(project_dir: Path, runner: CliRunner) -> None:
    p = project_dir
    assert "did you mean 'orders_clean'" in _run(runner, p, "dataset", "head", "orders_clen", code=2)
    assert "did you mean 'clean_orders'" in _run(runner, p, "recipe", "sql", "clean_order", code=2)
    assert "did you mean 'clean_orders'" in _run(runner, p, "flow", "explain", "clean_ordrs", code=2)
    assert _run(runner, project_dir, "flow", "build", "nope", code=2).startswith("error: ")


def test_a_failing_recipe_exits_1(project_dir: Path, runner: CliRunner) -> None:
    (project_dir / "recipes" / "broken.yaml").write_text(
        "type: sql\ninputs: orders_clean\noutputs: broken\n"
        "sql: SELECT CAST(customer AS INTEGER) AS c FROM orders_clean\n"
    )
    result = runner.invoke(app, ["flow", "build", "--project", str(project_dir)])
    assert result.exit_code == 1, result.output
    assert "broken" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_database_exits_3(project_dir: Path, runner: CliRunner) -> None:
    config = project_dir / "tideflow.yaml"
    config.write_text(config.read_text().replace(
        "  files:\n",
        "  remote:\n    type: postgres\n    port: 1\n    dbname: nowhere\n    user: nobody\n"
        "    connect_timeout_s: 2\n  files:\n",
    ))
    (project_dir / "datasets" / "remote_orders.yaml").write_text("connection: remote\ntable: orders\n")
    result = runner.invoke(app, ["dataset", "head", "remote_orders", "--project", str(project_dir)])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_head_into_a_pipe_prints_csv_unless_told(runner: CliRunner, project_dir: Path) -> None:
    """The CLI runner is not a terminal, like a pipe: plain CSV rows, not a table whose columns get cut."""
    _run(runner, project_dir, "flow", "build")
    piped = _run(runner, project_dir, "dataset", "head", "revenue_by_country", "-n", "2").splitlines()
    assert piped[0] == '"country","orders","revenue","average_amount"' and len(piped) == 3
    table = _run(runner, project_dir, "dataset", "head", "revenue_by_country", "-n", "2", "--format", "table")
    assert "revenue_by_country (first 2 rows)" in table and "│" in table

"""Inputs that used to end in a Python traceback (exit 1, read by scripts as "the build failed") are clear
errors with the exit code of their kind: a text nested deeper than the SQL parser follows, a project
directory that cannot be made, a name that would add keys to tideflow.yaml, a DuckDB file in a folder
that cannot be made."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from tideflow.cli.main import app

runner = CliRunner()


def tide(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def starter(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    assert tide("init", str(root))[0] == 0
    return root


def test_a_deeply_nested_expression_or_query_is_a_project_error(tmp_path: Path) -> None:
    root = starter(tmp_path)
    recipe = root / "recipes" / "clean_orders.yaml"
    deep = "(" * 60 + "status <> 'cancelled'" + ")" * 60
    recipe.write_text(recipe.read_text().replace("\"status <> 'cancelled'\"", f'"{deep}"'))
    code, output = tide("flow", "explain", "clean_orders", "--project", str(root))
    assert code == 2 and "recipes/clean_orders.yaml:7 at steps[0].expr: nested too deeply" in output, output
    recipe.write_text("type: prepare\ninputs: orders\noutputs: orders_clean\nsteps: []\n")
    (root / "recipes" / "sq.yaml").write_text("type: sql\ninputs: orders_clean\noutputs: sq\nfile: sq.sql\n")
    (root / "recipes" / "sq.sql").write_text("SELECT * FROM orders_clean WHERE " + "(" * 300 + "amount > 0"
                                             + ")" * 300)
    code, output = tide("flow", "show", "--project", str(root))
    assert code == 2 and "query is nested too deeply" in output, output


def test_init_where_no_directory_can_be_made_and_a_hostile_name(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    code, output = tide("init", str(tmp_path / "afile" / "sub"))
    assert code == 2 and "cannot create the project in" in output and "Not a directory" in output, output
    for hostile in ("x\nconnections: {}", "a\x85b", "\ufeffname", ""):  # C0, C1 and format characters
        code, output = tide("init", str(tmp_path / "q"), "--name", hostile)
        assert code == 2 and "--name: expected a name on one line" in output, (hostile, output)
    assert tide("init", str(tmp_path / "u"), "--name", "café ✓")[0] == 0
    assert yaml.safe_load((tmp_path / "u" / "tideflow.yaml").read_text())["name"] == "café ✓"
    assert tide("init", str(tmp_path / "q"), "--name", "a: b #c")[0] == 0
    config = yaml.safe_load((tmp_path / "q" / "tideflow.yaml").read_text())
    assert config["name"] == "a: b #c" and set(config) == {"name", "description", "connections", "defaults"}


def test_a_duckdb_file_in_a_folder_that_cannot_be_made_is_a_connection_error(tmp_path: Path) -> None:
    root = starter(tmp_path)
    (tmp_path / "afile").write_text("x")
    config = root / "tideflow.yaml"
    config.write_text(config.read_text().replace("path: .tide/warehouse.duckdb", f"path: {tmp_path}/afile/w.duckdb"))
    code, output = tide("flow", "build", "--project", str(root))
    assert code == 3, output
    assert f"connection 'warehouse': cannot create folder {tmp_path}/afile for DuckDB file w.duckdb" in output


def test_a_misspelt_column_in_a_csv_sources_types_is_a_project_error(tmp_path: Path) -> None:
    root = starter(tmp_path)
    with (root / "datasets" / "orders.yaml").open("a") as dataset:
        dataset.write("types: {amout: string}\n")
    code, output = tide("flow", "build", "--project", str(root))
    assert code == 2, output
    assert ("dataset 'orders': types names column 'amout', which data/orders.csv does not have: did you mean "
            "'amount'?") in output

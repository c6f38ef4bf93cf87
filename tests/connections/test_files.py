"""Files datasets: a file its reader refuses is one clean ConnectionError_, wherever it is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.connections import FileStore
from tideflow.errors import ConnectionError_, ProjectError
from tideflow.project import DatasetSpec, FilesConnection

CSV = "id,amount\n1,2.5\n2,3.0\n"


def store(tmp_path: Path) -> FileStore:
    (tmp_path / "data").mkdir()
    return FileStore("raw", FilesConnection(type="files", root="data"), tmp_path)


def test_schema_of_a_csv_file_named_parquet_is_a_clean_error(tmp_path: Path) -> None:
    files = store(tmp_path)
    (tmp_path / "data" / "orders.parquet").write_text(CSV)
    spec = DatasetSpec(name="orders", path="orders.parquet")
    expected = (r"^dataset 'orders': cannot read data/orders.parquet as parquet \(the format from the extension "
                r"of its path\): Parquet magic bytes not found")
    with pytest.raises(ConnectionError_, match=expected):
        files.schema(spec)
    with pytest.raises(ConnectionError_, match=expected):
        files.read_arrow(spec)


def test_explicit_format_is_named_in_the_read_error(tmp_path: Path) -> None:
    files = store(tmp_path)
    (tmp_path / "data" / "orders.bin").write_text(CSV)
    with pytest.raises(ConnectionError_, match=r"cannot read data/orders.bin as parquet \(the format from its "
                                               r"'format'\): "):
        files.schema(DatasetSpec(name="orders", path="orders.bin", format="parquet"))


def test_csv_schema_still_reads(tmp_path: Path) -> None:
    files = store(tmp_path)
    (tmp_path / "data" / "orders.csv").write_text(CSV)
    assert files.schema(DatasetSpec(name="orders", path="orders.csv")) == {"id": "integer", "amount": "double"}


def test_missing_file_is_named_relative_to_the_project(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError_, match=r"^dataset 'orders': file data/orders.csv does not exist$"):
        store(tmp_path).read_arrow(DatasetSpec(name="orders", path="orders.csv"))


def test_path_leaving_the_root_says_which_connection(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"^dataset 'orders': path '../x.csv' leaves the root of connection "
                                           r"'raw' \(.*data\): expected a path inside it$"):
        store(tmp_path).path_of(DatasetSpec(name="orders", path="../x.csv"))


@pytest.mark.parametrize("argv", [["dataset", "schema", "orders"], ["dataset", "head", "orders"],
                                  ["flow", "build"]])
def test_commands_print_one_error_line_exit_3(tmp_path: Path, argv: list[str]) -> None:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    root = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    (root / "data" / "orders.csv").rename(root / "data" / "orders.parquet")
    (root / "datasets" / "orders.yaml").write_text("connection: files\npath: orders.parquet\n")
    result = runner.invoke(app, [*argv, "-p", str(root)])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: dataset 'orders': cannot read data/orders.parquet as parquet")
    assert "Traceback" not in result.output and "pyarrow" not in result.stderr

"""CSV sources: the reader guesses column types from the first rows. Its schema is read from that guess
(DESCRIBE, not a read of the whole file); a later value that does not fit is one line naming the dataset,
the line, the column and the fix; ``types`` in the dataset file sets a column's type, and SQL and memory
engines then read the file alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tideflow.connections import FileStore
from tideflow.errors import ProjectError
from tideflow.flow import Workspace, build
from tideflow.project import DatasetSpec, FilesConnection, load_project
from tideflow.recipes import ColumnType as T

HOSTILE = "it's \"amount\"; --"
CONFIG = ("name: t\nconnections:\n  warehouse: {type: duckdb, path: .tide/warehouse.duckdb}\n"
          "  files: {type: files, root: data}\n")
CAST = f"""type: prepare
inputs: orders
outputs: clean
steps:
  - {{op: cast, columns: ['{HOSTILE.replace("'", "''")}'], to: double}}
"""
TOTALS = """type: group
inputs: clean
outputs: totals
keys: [day]
aggregations:
  - {fn: count, output: n}
  - {fn: sum, column: 'X', output: amount}
""".replace("'X'", "'" + HOSTILE.replace("'", "''") + "'")


def _project(root: Path, types: str = "", late: str = "lots") -> Path:
    for folder in ("datasets", "recipes", "data"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    header = '"' + HOSTILE.replace('"', '""') + '"'
    rows = [f"id,{header},day"] + [f"{i},{i * 1.5},2024-01-{i % 28 + 1:02d}" for i in range(25_000)]
    (root / "data" / "orders.csv").write_text("\n".join([*rows, f"25000,{late},2024-02-01"]) + "\n")
    (root / "tideflow.yaml").write_text(CONFIG)
    (root / "datasets" / "orders.yaml").write_text(f"connection: files\npath: orders.csv\n{types}")
    (root / "recipes" / "clean.yaml").write_text(CAST)
    (root / "recipes" / "totals.yaml").write_text(TOTALS)
    return root


def _totals(root: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        return con.execute("SELECT day, n, round(amount, 6) FROM totals ORDER BY day").fetchall()


@pytest.mark.parametrize("engine", ["sql", "memory"])
def test_a_value_the_guess_does_not_fit_is_one_line_with_the_fix(tmp_path: Path, engine: str) -> None:
    root = _project(tmp_path / "p")
    result = build(load_project(root), engine=engine)
    assert not result.ok
    escaped = HOSTILE.replace("'", "\\'")
    assert result.failed[0].error == (
        f"dataset 'orders': data/orders.csv: line 25002, column '{escaped}': 'lots' is not a double (the CSV "
        "reader guessed the column's type from its first 20,480 rows): declare the column's type in the dataset "
        f"file, e.g. types: {{{json.dumps(HOSTILE)}: string}}")


def test_types_set_the_column_and_both_engines_agree(tmp_path: Path) -> None:
    types = "types: {'" + HOSTILE.replace("'", "''") + "': string}\n"
    sql_root, memory_root = _project(tmp_path / "sql", types), _project(tmp_path / "memory", types)
    with Workspace(load_project(sql_root)) as workspace:
        assert workspace.stored_schema("orders") == {"id": T.INTEGER, HOSTILE: T.STRING, "day": T.DATE}
    assert build(load_project(sql_root), engine="sql").ok
    assert build(load_project(memory_root), engine="memory").ok
    totals = _totals(sql_root)
    assert totals == _totals(memory_root)
    assert totals[-1][1:] == (1, None)  # the day of 'lots': one row, its amount NULL (the cast's rule)
    assert sum(n for _, n, _ in totals) == 25_001


def test_the_schema_is_the_readers_guess_without_reading_the_file(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    store = FileStore("files", FilesConnection(type="files", root="data"), root)
    spec = DatasetSpec(name="orders", path="orders.csv")
    # the guess from the first rows, although the last one would fail a read of the whole file
    assert store.schema(spec) == {"id": T.INTEGER, HOSTILE: T.DOUBLE, "day": T.DATE}
    typed = DatasetSpec(name="orders", path="orders.csv", types={"id": T.STRING, "day": T.TIMESTAMP})
    assert store.schema(typed) == {"id": T.STRING, HOSTILE: T.DOUBLE, "day": T.TIMESTAMP}


@pytest.mark.parametrize(("dataset", "message"), [
    ("table: orders\ntypes: {a: string}\n", r"^datasets/orders.yaml:2 at types: 'types' is for CSV files, whose reader "
                                            r"guesses column types; 'orders' is a table on duckdb connection "
                                            r"'warehouse', which has its types$"),
    ("connection: files\npath: o.parquet\ntypes: {a: string}\n", r"^datasets/orders.yaml:3 at types: .*'orders' is a "
                                                                 r"parquet file, which carries its types$"),
    ("connection: files\npath: o.csv\ntypes: {a: strng}\n", r"^datasets/orders.yaml:3 at types.a: Input should be "
                                                            r"'boolean', 'integer', 'double', 'string', 'date' or "
                                                            r"'timestamp' \(got 'strng'\)$"),
])
def test_types_are_checked_when_the_project_loads(tmp_path: Path, dataset: str, message: str) -> None:
    root = _project(tmp_path / "p")
    (root / "datasets" / "orders.yaml").write_text(dataset)
    with pytest.raises(ProjectError, match=message):
        load_project(root)

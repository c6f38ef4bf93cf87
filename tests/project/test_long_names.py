"""PostgreSQL keeps the first 63 bytes of a name and drops the rest without a word, so two long names
become one. A table or schema name over the limit is refused when the project loads; an output column
over it when a build writes it (a Python recipe's columns are known only then). DuckDB has no limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import ProjectError
from tideflow.project import load_project

from .helpers import CONFIG, make

PG = ("name: t\nconnections:\n  pg:\n    type: postgres\n    dbname: test\n    user: postgres\n{schema}"
      "defaults: {{connection: pg}}\n")
SORT = "type: sort\ninputs: src\noutputs: {out}\norder_by: [{{column: id}}]\n"
LONG = "t" * 60 + "ä" * 2  # 64 bytes, 62 characters


def test_a_table_name_over_63_bytes_on_postgres_is_refused_at_load(tmp_path: Path) -> None:
    root = make(tmp_path, {}, {"src": f"description: raw\ntable: {LONG}\n"}, config=PG.format(schema=""))
    with pytest.raises(ProjectError, match=rf"^datasets/src.yaml:2 at table: dataset 'src': table name '{LONG}' is "
                                           r"64 bytes long; a postgres database keeps only the first 63 bytes of a "
                                           r"name \(two long names could become one\): expected at most 63 bytes, "
                                           r"shorten it$"):
        load_project(root)


def test_an_output_named_over_63_bytes_says_where_to_give_it_a_table(tmp_path: Path) -> None:
    root = make(tmp_path, {"s.yaml": SORT.format(out=LONG)}, config=PG.format(schema=""))
    with pytest.raises(ProjectError, match=rf"^recipes/s.yaml:3 at outputs\[0\]: dataset '{LONG}': table name .* "
                                           rf"shorten it \(rename the output, or declare it in datasets/{LONG}.yaml "
                                           r"with a shorter 'table'\)$"):
        load_project(root)


def test_a_schema_name_over_63_bytes_is_refused(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=PG.format(schema=f"    schema: {LONG}\n"))
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:7 at connections.pg.schema: schema name .* is 64 bytes "
                                           r"long; a postgres database keeps only the first 63 bytes"):
        load_project(root)


def test_63_bytes_fit_and_duckdb_takes_longer_names(tmp_path: Path) -> None:
    fits = "t" * 61 + "ä"  # 63 bytes
    (tmp_path / "pg").mkdir()
    (tmp_path / "duck").mkdir()
    assert load_project(make(tmp_path / "pg", {}, {"src": f"table: {fits}\n"}, config=PG.format(schema="")))
    long_duck = make(tmp_path / "duck", {"s.yaml": SORT.format(out=LONG * 2)}, {"src": f"table: {LONG}\n"},
                     config=CONFIG)
    assert LONG * 2 in load_project(long_duck).datasets

"""What makes a recipe outdated beyond its own spec: every change to a source's rows or columns (equal
rows that an XOR of hashes would cancel, an added column, a view's underlying table), and every move of
an input or output (its connection, table, declared types), including a move back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.flow import build, explain_recipe
from tideflow.project import load_project

from .conftest import Writer, duck_exec

KEEP_ALL = "type: prepare\ninputs: src\noutputs: out\nsteps:\n  - {op: formula, column: v2, expr: v * 2}\n"


def reason(root: Path) -> str:
    return explain_recipe(load_project(root), "out").outdated_reason


def test_a_change_to_one_of_two_equal_rows_is_seen(make_project: Writer) -> None:
    root = make_project({"out.yaml": KEEP_ALL}, {"src.yaml": "table: src\n"})
    duck_exec(root, "CREATE TABLE src AS SELECT * FROM (VALUES (1, 5), (1, 5), (2, 7)) t(k, v)")
    assert build(load_project(root)).ok and reason(root) == ""
    duck_exec(root, "UPDATE src SET v = 100 WHERE k = 1")  # the pair cancelled in an XOR before and after
    assert reason(root) == "input 'src' changed"
    assert build(load_project(root)).ok
    assert sorted(duck_exec(root, "SELECT v2 FROM out")) == [(14,), (200,), (200,)]


def test_a_renamed_column_is_seen(make_project: Writer) -> None:
    root = make_project({"out.yaml": KEEP_ALL}, {"src.yaml": "table: src\n"})
    duck_exec(root, "CREATE TABLE src AS SELECT 1 AS k, 5 AS v")
    assert build(load_project(root)).ok
    duck_exec(root, "ALTER TABLE src RENAME COLUMN k TO key")  # the same values: the rows hash the same
    assert reason(root) == "input 'src' changed"
    assert build(load_project(root)).ok
    assert duck_exec(root, "SELECT key, v, v2 FROM out") == [(1, 5, 10)]


def test_moving_an_output_and_back_rebuilds_it(make_project: Writer) -> None:
    root = make_project({"out.yaml": KEEP_ALL}, {"src.yaml": "table: src\n", "out.yaml": "table: out\n"})
    duck_exec(root, "CREATE TABLE src AS SELECT 1 AS k, 5 AS v")
    assert build(load_project(root)).ok
    (root / "datasets" / "out.yaml").write_text("table: out_new\n")
    assert reason(root) == "the recipe changed"
    assert build(load_project(root)).ok
    duck_exec(root, "INSERT INTO src VALUES (2, 7)")
    assert build(load_project(root)).ok  # out_new has both rows, the old table 'out' one
    (root / "datasets" / "out.yaml").write_text("table: out\n")
    assert reason(root) == "the recipe changed"  # the old table is stale: it was served as up to date
    assert build(load_project(root)).ok
    assert sorted(duck_exec(root, "SELECT k FROM out")) == [(1,), (2,)]


def test_declaring_a_source_column_type_rebuilds_its_readers(make_project: Writer) -> None:
    config = "name: t\nconnections:\n  warehouse: {type: duckdb}\n  files: {type: files, root: data}\n"
    text = "type: prepare\ninputs: src\noutputs: out\nsteps:\n  - {op: keep, columns: [code]}\n"
    root = make_project({"out.yaml": text}, {"src.yaml": "connection: files\npath: src.csv\n"}, config=config,
                        extra={"data/src.csv": "code\n1\n12\n"})
    assert build(load_project(root)).ok
    assert sorted(duck_exec(root, "SELECT code FROM out")) == [(1,), (12,)]
    (root / "datasets" / "src.yaml").write_text("connection: files\npath: src.csv\ntypes: {code: string}\n")
    assert reason(root) == "the recipe changed"
    assert build(load_project(root)).ok
    assert sorted(duck_exec(root, "SELECT code FROM out")) == [("1",), ("12",)]


@pytest.mark.postgres
def test_postgres_sources_columns_views_and_materialized_views(make_project: Writer, pg_schema: str,
                                                               pg_conn: object) -> None:
    run = pg_conn.execute  # type: ignore[attr-defined]
    run(f'CREATE TABLE "{pg_schema}".base AS SELECT 1 AS k, 5 AS v')
    run(f'CREATE VIEW "{pg_schema}".src AS SELECT k, v FROM "{pg_schema}".base')
    run(f'CREATE MATERIALIZED VIEW "{pg_schema}".msrc AS SELECT k, v FROM "{pg_schema}".base')
    config = (f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {pg_schema}}}\n"
              "defaults: {connection: pg}\n")
    from_matview = KEEP_ALL.replace("inputs: src", "inputs: msrc").replace("outputs: out", "outputs: mout")
    root = make_project({"out.yaml": KEEP_ALL, "mout.yaml": from_matview},
                        {"src.yaml": "table: src\n", "msrc.yaml": "table: msrc\n", "base.yaml": "table: base\n"},
                        config=config)
    assert build(load_project(root)).ok  # a view has no xmin, a materialized view no information_schema columns
    assert reason(root) == ""
    run(f'UPDATE "{pg_schema}".base SET v = 6')
    assert reason(root) == "input 'src' changed"  # the view shows the change
    assert explain_recipe(load_project(root), "mout").outdated_reason == ""  # not refreshed yet
    run(f'REFRESH MATERIALIZED VIEW "{pg_schema}".msrc')
    assert explain_recipe(load_project(root), "mout").outdated_reason == "input 'msrc' changed"
    assert build(load_project(root)).ok
    assert run(f'SELECT v2 FROM "{pg_schema}".out').fetchall() == [(12,)]
    assert run(f'SELECT v2 FROM "{pg_schema}".mout').fetchall() == [(12,)]
    run(f'CREATE TABLE "{pg_schema}".other AS SELECT 1 AS k, 6 AS v')
    assert explain_recipe(load_project(root), "mout").outdated_reason == ""
    run(f'ALTER TABLE "{pg_schema}".other ADD COLUMN extra INTEGER DEFAULT 8')
    text = KEEP_ALL.replace("inputs: src", "inputs: other").replace("outputs: out", "outputs: oout")
    (root / "recipes" / "oout.yaml").write_text(text)
    (root / "datasets" / "other.yaml").write_text("table: other\n")
    assert build(load_project(root), ["oout"]).ok
    run(f'ALTER TABLE "{pg_schema}".other ADD COLUMN more INTEGER')
    assert explain_recipe(load_project(root), "oout").outdated_reason == "input 'other' changed"

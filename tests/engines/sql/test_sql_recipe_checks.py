"""SQL recipes that every database would refuse whatever the data are refused when the Flow is planned
(``tide flow explain`` exits 2 naming the recipe file): unknown columns (with the nearest name), a
SELECT without columns, set operations of different widths, a negative LIMIT. Valid SQL the
qualifier cannot fully follow is left alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.engines.sql import compile_recipe
from tideflow.errors import ProjectError

from .cases import TABLES, recipe
from .harness import inputs_for

INPUTS = inputs_for(TABLES)


def sql_recipe(query: str, dialect: str = "duckdb") -> object:
    return recipe(type="sql", sql=query, inputs=["orders", "customers"], dialect=dialect)


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT amout FROM orders", r"^recipes/q.yaml at sql: unknown column 'amout': did you mean 'amount'\? in the "
                                 r"query at line 1, column 8 \(columns of the inputs: orders: id, customer, amount, "
                                 r"qty, note, day, ts, paid; customers: name, city, tier\)$"),
    ("SELECT count(*) AS n FROM orders GROUP BY nope",
     r"unknown column 'nope': did you mean 'note'\? in the query at line 1, column 43"),
    ("SELECT o.nope FROM orders o", r"unknown column 'nope'"),
    ("SELECT x.id FROM orders", r"unknown table or alias 'x' \(in 'x'.'id'\)"),
    ("WITH c AS (SELECT id AS z FROM orders) SELECT z, nope FROM c", r"unknown column 'nope'"),
    ("SELECT", r"at sql: a SELECT without columns: expected at least one column after SELECT$"),
    ("SELECT 1 AS a UNION ALL SELECT 1 AS a, 2 AS b",
     r"at sql: the two sides of a UNION give 1 and 2 columns: expected the same number of columns on both sides$"),
    ("SELECT id FROM orders EXCEPT SELECT id, qty FROM orders", r"the two sides of a EXCEPT give 1 and 2 columns"),
    ("SELECT id FROM orders LIMIT -1", r"at sql: LIMIT -1: expected a number >= 0$"),
    ("SELECT id FROM orders LIMIT 2 OFFSET -1", r"at sql: OFFSET -1: expected a number >= 0$"),
])
def test_queries_every_database_refuses(query: str, message: str) -> None:
    for dialect in ("duckdb", "postgres"):
        with pytest.raises(ProjectError, match=message):
            compile_recipe(sql_recipe(query), INPUTS, dialect, where="recipes/q.yaml")


@pytest.mark.parametrize("query", [
    "SELECT amount * 2 AS a, a + 1 AS b FROM orders",
    "SELECT customer, count(*) FROM orders GROUP BY ALL",
    "SELECT AMOUNT, Id FROM orders",
    "SELECT * EXCLUDE (id) FROM orders",
    "SELECT * FROM orders UNION ALL SELECT * FROM orders",
    "SELECT o.* FROM orders o",
    "SELECT id FROM orders QUALIFY row_number() OVER (ORDER BY id) = 1",
    "SELECT g FROM generate_series(1, 3) AS t(g)",
    "SELECT id, (SELECT max(tier) FROM customers) AS m FROM orders WHERE customer IN (SELECT name FROM customers)",
    "SELECT amount FROM orders ORDER BY ALL",
    "SELECT id AS x FROM orders GROUP BY x",
    "SELECT id FROM orders LIMIT 0",
])
def test_valid_queries_are_left_alone(query: str) -> None:
    compile_recipe(sql_recipe(query), INPUTS, "duckdb", where="recipes/q.yaml")


def test_explain_refuses_an_unknown_column_naming_the_sql_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "datasets").mkdir(parents=True)
    (root / "recipes").mkdir()
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: t\n")
    (root / "datasets" / "src.yaml").write_text("table: src\n")
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    con.execute("CREATE TABLE src AS SELECT range AS id, range * 1.5 AS amount FROM range(3)")
    con.close()
    (root / "recipes" / "q.yaml").write_text("type: sql\ninputs: src\noutputs: q\nfile: q.sql\n")
    (root / "recipes" / "q.sql").write_text("SELECT id,\n  amout FROM src\n")
    runner = CliRunner()
    result = runner.invoke(app, ["flow", "explain", "--project", str(root)])
    assert result.exit_code == 2, result.output
    assert ("recipes/q.yaml at sql: unknown column 'amout': did you mean 'amount'? in the query of q.sql at line 2, "
            "column 3") in result.stderr
    # the same recipe run by the memory engine (an embedded DuckDB) is checked when planned too
    (root / "recipes" / "q.yaml").write_text("type: sql\ninputs: src\noutputs: q\nfile: q.sql\nengine: memory\n")
    result = runner.invoke(app, ["flow", "explain", "--project", str(root)])
    assert result.exit_code == 2 and "unknown column 'amout'" in result.stderr, result.output
    (root / "recipes" / "q.sql").write_text("SELECT id, amount FROM src\n")
    assert runner.invoke(app, ["flow", "build", "--project", str(root)]).exit_code == 0

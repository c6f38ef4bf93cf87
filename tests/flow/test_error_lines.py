"""Errors found when a recipe is planned name the line of their key, like expression errors do.

The SQL compiler knows a recipe's file and key path; the Flow fills in the line from the lines the loader
recorded (the key's own, or the nearest enclosing key's), whichever entry point finds the error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.errors import ProjectError
from tideflow.flow import build, explain_recipe, plan_build, recipe_sql
from tideflow.project import load_project

from .conftest import Writer, duck_exec

ORDERS = "table: orders\n"
# line:  1            2               3                 4           5
GROUP = ("type: group\ninputs: orders\noutputs: totals\nkeys:\n  - {key}\naggregations:\n"
         "  - {{fn: count, output: n}}\n"                       # 7
         "  - fn: sum\n    column: {column}\n    output: total\n"  # 8-10
         "  - {{fn: avg, column: {avg}, output: mean}}\n")       # 11


def seed(root: Path) -> None:
    duck_exec(root, "CREATE OR REPLACE TABLE orders AS SELECT * FROM (VALUES (1, 'ann', 'fr', 10.0), "
                    "(2, 'bob', 'de', 5.0)) t(id, customer, country, amount)")


def group_project(make_project: Writer, *, key: str = "country", column: str = "amount", avg: str = "amount",
                  extra: str = "", config: str = "name: t\n") -> Path:
    text = GROUP.format(key=key, column=column, avg=avg) + extra
    root = make_project({"totals.yaml": text}, {"orders.yaml": ORDERS}, config=config)
    seed(root)
    return root


def refused(root: Path) -> list[str]:
    """The message of every entry point that plans the recipe: they agree."""
    messages = []
    for call in (lambda p: plan_build(p), lambda p: build(p), lambda p: explain_recipe(p, "totals")):
        with pytest.raises(ProjectError) as caught:
            call(load_project(root))
        messages.append(str(caught.value))
    assert len(set(messages)) == 1, messages
    return messages


COLUMNS = "(expected one of: 'id', 'customer', 'country', 'amount')"


def test_an_unknown_key_column_names_its_line(make_project: Writer) -> None:
    root = group_project(make_project, key="countri")
    assert refused(root)[0] == (f"recipes/totals.yaml:5 at keys[0]: unknown column 'countri': did you mean "
                                f"'country'? {COLUMNS}")


def test_an_unknown_aggregated_column_names_the_line_of_its_key(make_project: Writer) -> None:
    root = group_project(make_project, column="amout")
    assert refused(root)[0] == (f"recipes/totals.yaml:9 at aggregations[1].column: unknown column 'amout': "
                                f"did you mean 'amount'? {COLUMNS}")


def test_a_flow_style_aggregation_names_the_line_it_is_written_on(make_project: Writer) -> None:
    root = group_project(make_project, avg="customer")
    assert refused(root)[0] == ("recipes/totals.yaml:11 at aggregations[2].column: avg needs a numeric column; "
                                "'customer' is string")


def test_a_name_too_long_for_postgres_names_its_line(make_project: Writer) -> None:
    long = "n" * 70
    root = group_project(make_project)
    path = root / "recipes" / "totals.yaml"
    path.write_text(path.read_text().replace("output: n}", f"output: {long}}}"))
    with pytest.raises(ProjectError) as caught:
        recipe_sql(load_project(root), "totals", "postgres")
    assert str(caught.value) == (
        f"recipes/totals.yaml:7 at aggregations[0].output: output column name {long!r} is 70 bytes long; a postgres "
        "database keeps only the first 63 bytes of a name (two long names could become one): expected at most "
        "63 bytes, shorten it")


FILES = ("name: t\nconnections:\n  warehouse: {type: duckdb, path: .tide/warehouse.duckdb}\n"
         "  files: {type: files, root: data}\n")
FORCED = "recipe 'totals': the sql engine was forced but output is on files connection 'files'"


def files_output(make_project: Writer, *, recipe_engine: str = "", defaults: str = "") -> Path:
    root = group_project(make_project, extra=recipe_engine, config=FILES + defaults)
    (root / "datasets" / "totals.yaml").write_text("connection: files\npath: totals.parquet\n")
    (root / "data").mkdir(exist_ok=True)
    return root


def test_a_forced_sql_engine_that_cannot_run_names_the_engine_key(make_project: Writer) -> None:
    root = files_output(make_project, recipe_engine="engine: sql\n")
    assert refused(root)[0] == f"recipes/totals.yaml:12 at engine: {FORCED}"


def test_a_forced_sql_engine_names_where_it_was_forced(make_project: Writer) -> None:
    root = files_output(make_project, defaults="defaults:\n  engine: sql\n")
    assert refused(root)[0] == f"tideflow.yaml:6 at defaults.engine: {FORCED}"
    root = files_output(make_project)
    with pytest.raises(ProjectError) as caught:
        plan_build(load_project(root), engine="sql")
    assert str(caught.value) == FORCED.replace("was forced", "was forced for this build")


def test_an_error_with_its_line_or_without_a_file_keeps_its_text() -> None:
    located = ProjectError("bad", file="recipes/r.yaml", line=3, key_path="keys")
    assert str(located.at_line(9)) == "recipes/r.yaml:3 at keys: bad" and located.line == 3
    assert str(ProjectError("bad", key_path="keys").at_line(9)) == "keys: bad"
    moved = ProjectError("bad", file="recipes/r.yaml", key_path="keys[0]").at_line(4)
    assert str(moved) == "recipes/r.yaml:4 at keys[0]: bad" and moved.line == 4

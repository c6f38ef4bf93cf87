"""What an audit of the loader's errors found: key paths and lines of connections of every type,
suggestions that never name the rejected key, one problem for a union of scalar types, and SQL
recipes that are not one SELECT refused when the project loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlglot import exp

from tideflow.engines.sql import SqlInput, compile_recipe
from tideflow.errors import GraphError, ProjectError
from tideflow.project import load_project
from tideflow.recipes import ColumnType, SqlRecipe

from .helpers import make

FILES = "name: t\nconnections:\n  warehouse: {type: duckdb, path: .tide/w.duckdb}\n  files:\n    type: files\n"


def refused(root: Path) -> str:
    with pytest.raises(ProjectError) as info:
        load_project(root)
    return str(info.value)


# ---------------------------------------------------------------- 1. the connection's name and line


def test_an_unknown_key_of_a_files_connection_names_the_connection_and_its_line(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=FILES + "    root: data\n    threads: 4\n")
    assert refused(root) == ("tideflow.yaml:7 at connections.files.threads: unknown key 'threads': it is a key of "
                             "duckdb connections, not files ones")


def test_a_wrong_value_in_a_files_connection_names_the_connection_and_its_line(tmp_path: Path) -> None:
    root = make(tmp_path, {}, config=FILES + "    root: [data]\n")
    assert refused(root) == ("tideflow.yaml:6 at connections.files.root: Input should be a valid string "
                             "(got a list)")


def test_a_connection_named_like_a_type_keeps_its_name(tmp_path: Path) -> None:
    config = "name: t\nconnections:\n  duckdb:\n    type: duckdb\n    duckdb: 1\n"
    assert refused(make(tmp_path, {}, config=config)) == ("tideflow.yaml:5 at connections.duckdb.duckdb: unknown key "
                                                          "'duckdb'")
    (tmp_path / "tideflow.yaml").write_text("name: t\nconnections:\n  postgres:\n    type: postgres\n    user: u\n")
    assert refused(tmp_path) == "tideflow.yaml:3 at connections.postgres.dbname: missing required key 'dbname'"


# ---------------------------------------------------------------- 2. never "did you mean" the key itself

GROUP = "type: group\ninputs: src\noutputs: daily\nkeys: [id]\naggregations:\n  - {column: amount, fn: sum}\n"


def test_a_key_of_a_nested_mapping_written_one_level_up_says_where_it_belongs(tmp_path: Path) -> None:
    root = make(tmp_path, {"daily.yaml": GROUP + "column: amount\n"})
    assert refused(root) == ("recipes/daily.yaml:7 at column: unknown key 'column': it is a key of each item of "
                             "'aggregations', not of this mapping")
    (tmp_path / "tideflow.yaml").write_text("name: t\nparallelism: 4\n")
    assert refused(tmp_path) == ("tideflow.yaml:2 at parallelism: unknown key 'parallelism': it is a key of "
                                 "'defaults', not of this mapping")


def test_a_key_of_another_connection_type_names_that_type(tmp_path: Path) -> None:
    config = "name: t\nconnections:\n  warehouse: {type: duckdb, connect_timeout_s: 5}\n"
    assert refused(make(tmp_path, {}, config=config)) == (
        "tideflow.yaml:3 at connections.warehouse.connect_timeout_s: unknown key 'connect_timeout_s': it is a key "
        "of postgres connections, not duckdb ones")


def test_a_key_of_another_recipe_type_or_check_rule_names_that_type(tmp_path: Path) -> None:
    sort = "type: sort\ninputs: src\noutputs: s\nkeys: [id]\norder_by: [{column: id}]\n"
    assert refused(make(tmp_path, {"s.yaml": sort})) == ("recipes/s.yaml:4 at keys: unknown key 'keys': it is a "
                                                         "key of group recipes, not sort ones")
    (tmp_path / "recipes" / "s.yaml").unlink()
    (tmp_path / "datasets" / "src.yaml").write_text("table: src\nchecks:\n  - {rule: not_empty, column: a}\n")
    assert refused(tmp_path) == ("datasets/src.yaml:3 at checks[0].column: unknown key 'column': it is a key of "
                                 "in_set checks, not not_empty ones")


def test_a_typo_is_still_named(tmp_path: Path) -> None:
    config = "name: t\nconnections:\n  warehouse: {type: duckdb, thread: 4}\n"
    assert refused(make(tmp_path, {}, config=config)) == ("tideflow.yaml:3 at connections.warehouse.thread: unknown "
                                                          "key 'thread': did you mean 'threads'?")


@pytest.mark.parametrize("metrics", ["[{metric: drift_score, model: fraud}]", "[record_count, drift_score]"])
def test_a_drift_metric_under_metrics_says_it_cannot_be_listed_there(tmp_path: Path, metrics: str) -> None:
    root = make(tmp_path, {}, {"src": f"table: src\nmetrics: {metrics}\n"})
    index = metrics.count(",") if "model" not in metrics else 0
    assert refused(root) == (
        f"datasets/src.yaml:2 at metrics[{index}].metric: 'drift_score' is a drift metric of a saved model: drift "
        "metrics cannot be listed under 'metrics:' (each evaluation of the model records them): expected one of "
        "record_count, column_count, nulls, distinct_count, min, max, avg, sum, stddev, top_values, "
        "schema_fingerprint, got 'drift_score'; read it in a check with {model: NAME, metric: drift_score}")


def test_a_drift_metric_read_by_a_check_still_loads(tmp_path: Path) -> None:
    check = "checks:\n  - {rule: within_range, metric: {metric: drift_score, model: fraud}, max: 0.5}\n"
    load_project(make(tmp_path, {}, {"src": "table: src\n" + check}))


CASES = {
    "tideflow.yaml": [FILES + "    threads: 4\n", "name: t\nparallelism: 4\n",
                      "name: t\nconnections:\n  w: {type: duckdb, connect_timeout_s: 5}\n",
                      "name: t\nconnections:\n  w: {type: postgres, dbname: d, user: u, threads: 2}\n",
                      "name: t\ndefaults: {connection: warehouse, name: x}\n"],
    "recipes/r.yaml": [GROUP + "column: amount\n", GROUP + "fn: sum\n", GROUP + "order_by: [{column: id}]\n",
                       "type: sort\ninputs: src\noutputs: s\nkeys: [id]\norder_by: [{column: id}]\n",
                       "type: prepare\ninputs: src\noutputs: p\nsteps:\n"
                       "  - {op: filter, expr: 'id > 0', column: id}\n"],
}


@pytest.mark.parametrize(("file", "text"), [(f, t) for f, texts in CASES.items() for t in texts])
def test_no_suggestion_names_the_key_it_rejects(tmp_path: Path, file: str, text: str) -> None:
    root = make(tmp_path, {})
    (root / file).write_text(text)
    message = refused(root)
    rejected = re.findall(r"unknown key '(\w+)'", message)
    assert rejected, message
    assert f"did you mean '{rejected[0]}'" not in message


# ---------------------------------------------------------------- 3. one problem for a union of scalars

FILL = "type: prepare\ninputs: src\noutputs: p\nsteps:\n  - {op: filter, expr: 'id > 0'}\n  - op: fill_empty\n" \
       "    columns: [d]\n    value: {value}\n"


def test_a_date_where_a_scalar_is_expected_is_one_problem_at_its_key(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": FILL.replace("{value}", "2025-01-01")})
    assert refused(root) == ("recipes/p.yaml:8 at steps[1].value: expected a string, number or boolean, got a date "
                             "2025-01-01: quote it, as in '2025-01-01', to keep it as text")


def test_a_list_where_a_scalar_is_expected_is_one_problem_at_its_key(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": FILL.replace("{value}", "[1, 2]")})
    assert refused(root) == "recipes/p.yaml:8 at steps[1].value: expected a string, number or boolean, got a list"


def test_several_problems_have_a_first_line_and_no_variant_names(tmp_path: Path) -> None:
    root = make(tmp_path, {"p.yaml": FILL.replace("{value}", "2025-01-01").replace("columns:", "colums:")})
    assert refused(root) == (
        "recipes/p.yaml:6 at steps[1].columns: 3 problems:\n"
        "  steps[1].columns (line 6): missing required key 'columns'\n"
        "  steps[1].value (line 8): expected a string, number or boolean, got a date 2025-01-01: quote it, as in "
        "'2025-01-01', to keep it as text\n"
        "  steps[1].colums (line 7): unknown key 'colums': did you mean 'columns'?")


# ---------------------------------------------------------------- 4. SQL recipes that are not one SELECT

SQL = "type: sql\ninputs: src\noutputs: r\nfile: r.sql\n"
WRITES = "a SQL recipe only reads its inputs; Tideflow writes the output"
NOT_ONE = "expected one SELECT query, got"


@pytest.mark.parametrize(("code", "message"), [
    ("-- clean up\n\nDELETE FROM src\n", f"recipes/r.sql:3: {NOT_ONE} a DELETE statement: {WRITES}"),
    ("SELECT 1 AS a;\nSELECT 2 AS b\n", "recipes/r.sql:2: expected exactly one SELECT query, got 2 statements"),
    ("", "recipes/r.sql:1: expected exactly one SELECT query, got 0 statements"),
    ("-- to do\n", "recipes/r.sql:1: expected exactly one SELECT query, got 0 statements"),
    ("SELECT id\nINTO copy\nFROM src\n", f"recipes/r.sql:2: {NOT_ONE} an INTO statement: {WRITES}"),
    ("CREATE TABLE x AS SELECT 1 AS a", f"recipes/r.sql:1: {NOT_ONE} a CREATE statement: {WRITES}"),
])
def test_a_sql_file_that_is_not_one_select_is_refused_at_load_with_its_line(
    tmp_path: Path, code: str, message: str,
) -> None:
    assert refused(make(tmp_path, {"r.yaml": SQL, "r.sql": code})) == message


def test_an_inline_query_of_two_statements_names_the_sql_key(tmp_path: Path) -> None:
    recipe = "type: sql\ninputs: src\noutputs: r\nsql: |\n  SELECT 1 AS a;\n  SELECT 2 AS b\n"
    assert refused(make(tmp_path, {"r.yaml": recipe})) == ("recipes/r.yaml:4 at sql: expected exactly one SELECT "
                                                           "query, got 2 statements")


def test_an_unknown_dialect_is_refused_at_load_at_its_key(tmp_path: Path) -> None:
    root = make(tmp_path, {"r.yaml": SQL + "dialect: postgress\n", "r.sql": "SELECT 1 AS a\n"})
    assert refused(root) == "recipes/r.yaml:5 at dialect: unknown SQL dialect 'postgress': did you mean 'postgres'?"


def test_one_select_in_a_dialect_sqlglot_reads_loads(tmp_path: Path) -> None:
    root = make(tmp_path, {"r.yaml": SQL + "dialect: postgres\n", "r.sql": "-- one query\nSELECT id FROM src;\n"})
    assert load_project(root).recipes["r"].sql == "-- one query\nSELECT id FROM src;\n"


def test_an_input_listed_twice_is_refused_at_its_key(tmp_path: Path) -> None:
    recipe = "type: sort\ninputs:\n  - src\n  - src\noutputs: s\norder_by: [{column: id}]\n"
    with pytest.raises(GraphError) as info:
        load_project(make(tmp_path, {"s.yaml": recipe}))
    assert str(info.value) == ("recipes/s.yaml:4 at inputs[1]: recipe 's' lists input 'src' twice: expected each "
                               "input once")


@pytest.mark.parametrize(("code", "dialect"), [
    ("DELETE FROM src", "duckdb"), ("SELECT 1 AS a; SELECT 2 AS b", "duckdb"), ("", "duckdb"),
    ("SELECT id INTO copy FROM src", "duckdb"), ("SELECT 1 AS a", "postgress"),
])
def test_loading_and_planning_say_the_same_words(tmp_path: Path, code: str, dialect: str) -> None:
    """A recipe built in code, never loaded, meets the same problems when it is planned."""
    root = make(tmp_path, {"r.yaml": SQL + f"dialect: {dialect}\n", "r.sql": code})
    with pytest.raises(ProjectError) as loading:
        load_project(root)
    spec = SqlRecipe(type="sql", name="r", inputs=["src"], outputs=["r"], sql=code, dialect=dialect)
    with pytest.raises(ProjectError) as planning:
        compile_recipe(spec, {"src": SqlInput(exp.to_table("src"), {"id": ColumnType.INTEGER})}, "duckdb")
    assert loading.value.message == planning.value.message

"""Scenario values in SQL are literals, never SQL text: hostile values on real DuckDB and PostgreSQL.

A caller of ``tide automation run --param`` or ``POST /scenarios/{name}/run`` chooses the values; a
``run_sql`` step must store them as they came and never run them. Non-finite floats are refused.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from tideflow.automation.runs import RunHistory
from tideflow.automation.scenarios_loading import load_scenario
from tideflow.automation.scenarios_run import run_scenario
from tideflow.automation.sql_values import SqlValueError, render_sql, sql_literal
from tideflow.cli.automation_cmds import automation_app
from tideflow.errors import ProjectError
from tideflow.project import load_project

REPRO = "x' AS label, 1 AS v; DROP TABLE victim; SELECT 'y"
HOSTILE = [
    REPRO,
    "'); DROP TABLE victim; --",
    "a\\'; DROP TABLE victim; --",
    "back\\slash \\\\ and a last one\\",
    "$$; DROP TABLE victim; $$",
    "$tag$ DROP TABLE victim; $tag$",
    "*/ DROP TABLE victim; /*",
    "-- DROP TABLE victim\n; DROP TABLE victim;\n",
    '"; DROP TABLE victim; --',
    "naïve 日本語 ☃ 🙂 \u202e ünïcödé",
    "%s %(x)s ? :x $1",
    "${run_id} ${params.v0}",
    "",
]
PARAMS = {f"v{i}": value for i, value in enumerate(HOSTILE)}


def _scenario_text(table: str) -> str:
    """Every hostile value as a bare value, inside a quoted string and inside a longer string."""
    params = "".join(f"      v{i}: {{type: str}}\n" for i in range(len(HOSTILE)))
    columns = "".join(f"      ${{params.v{i}}} AS b{i}, '${{params.v{i}}}' AS q{i},"
                      f" 'pre ${{params.v{i}}} post' AS s{i},\n" for i in range(len(HOSTILE)))
    return ("triggers:\n  - type: manual\n    params:\n" + params
            + "      n: {type: int}\n      f: {type: float}\n      flag: {type: bool}\n"
            + "steps:\n  - name: store\n    type: run_sql\n    connection: CONN\n    sql: |\n"
            + f"      CREATE TABLE {table} AS SELECT\n" + columns
            + "      ${params.n} AS n, 1 -${params.n} AS minus, ${params.f} AS f, ${params.flag} AS flag,\n"
            + "      ${run_id} AS run_id, '${scenario}' AS scenario\n")


def _expected(run_id: str) -> tuple[Any, ...]:
    row: list[Any] = []
    for value in HOSTILE:
        row += [value, value, f"pre {value} post"]
    return (*row, -5, 6, Decimal("-0.25"), True, run_id, "hostile")


def _duck_project(root: Path) -> Path:
    for folder in ("datasets", "scenarios", ".tide"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text("name: t\n")
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.execute("CREATE TABLE victim AS SELECT * FROM (VALUES (1), (2)) t(v)")
    finally:
        con.close()
    return root


def _duck(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_hostile_values_land_intact_in_duckdb_and_never_run(tmp_path: Path) -> None:
    root = _duck_project(tmp_path)
    (root / "scenarios" / "hostile.yaml").write_text(_scenario_text("out").replace("CONN", "warehouse"))
    record = run_scenario(load_project(root), "hostile", params={**PARAMS, "n": "-5", "f": "-0.25", "flag": "yes"})
    assert record.outcome == "succeeded", record.message
    assert _duck(root, "SELECT v FROM victim ORDER BY v") == [(1,), (2,)]
    assert _duck(root, "SELECT * FROM out") == [_expected(record.run_id)]


def test_the_audit_repro_through_the_cli_stores_the_label_and_keeps_the_victim(tmp_path: Path) -> None:
    root = _duck_project(tmp_path)
    (root / "scenarios" / "repro.yaml").write_text(
        "triggers:\n  - type: manual\n    params:\n      label: {type: str}\n"
        "steps:\n  - type: run_sql\n    connection: warehouse\n"
        "    sql: CREATE OR REPLACE TABLE t AS SELECT '${params.label}' AS label\n")
    result = CliRunner().invoke(automation_app, ["run", "repro", "--param", f"label={REPRO}", "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert _duck(root, "SELECT v FROM victim ORDER BY v") == [(1,), (2,)]
    assert _duck(root, "SELECT label FROM t") == [(REPRO,)]


@pytest.mark.postgres
def test_hostile_values_land_intact_in_postgres_and_never_run(tmp_path: Path, pg_conn: Any, pg_schema: str) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".victim AS SELECT * FROM (VALUES (1), (2)) t(v)')
    for folder in ("datasets", "scenarios"):
        (tmp_path / folder).mkdir()
    (tmp_path / "tideflow.yaml").write_text(
        f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {pg_schema}}}\n"
        "defaults: {connection: pg}\n")
    (tmp_path / "scenarios" / "hostile.yaml").write_text(
        _scenario_text(f'"{pg_schema}".out').replace("CONN", "pg"))
    record = run_scenario(load_project(tmp_path), "hostile",
                          params={**PARAMS, "n": -5, "f": -0.25, "flag": True})
    assert record.outcome == "succeeded", record.message
    assert pg_conn.execute(f'SELECT v FROM "{pg_schema}".victim ORDER BY v').fetchall() == [(1,), (2,)]
    assert pg_conn.execute(f'SELECT * FROM "{pg_schema}".out').fetchall() == [_expected(record.run_id)]


@pytest.mark.postgres
def test_a_postgres_session_reading_backslashes_as_escapes_is_refused(tmp_path: Path, pg_conn: Any,
                                                                      pg_schema: str) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".victim AS SELECT 1 AS v')
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "tideflow.yaml").write_text(
        f"name: t\nconnections:\n  pg:\n    type: postgres\n    dbname: test\n    user: postgres\n"
        f"    schema: {pg_schema}\n    settings: {{standard_conforming_strings: 'off'}}\n"
        "defaults: {connection: pg}\n")
    (tmp_path / "scenarios" / "s.yaml").write_text(
        "triggers:\n  - type: manual\n    params:\n      label: {type: str}\n"
        f"steps:\n  - type: run_sql\n    connection: pg\n"
        f"    sql: CREATE TABLE \"{pg_schema}\".out AS SELECT ${{params.label}} AS label\n")
    record = run_scenario(load_project(tmp_path), "s", params={"label": "\\'; DROP TABLE victim; --"})
    assert record.outcome == "failed"
    assert "connection 'pg': expected standard_conforming_strings on to run SQL with ${...} values, got 'off'" \
        in record.message
    assert pg_conn.execute(f'SELECT v FROM "{pg_schema}".victim').fetchall() == [(1,)]
    assert pg_conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}".out',)).fetchall() == [(None,)]


@pytest.mark.parametrize(("sql", "where"), [
    ('CREATE TABLE "${params.v}" AS SELECT 1', "is inside a double-quoted name"),
    ("SELECT 1 -- ${params.v}", "is inside a comment"),
    ("SELECT /* ${params.v} */ 1", "is inside a comment"),
    ("SELECT $$${params.v}$$", "is inside a dollar-quoted string"),
    ("SELECT E'${params.v}'", "is inside an E'' string"),
    ("CREATE TABLE t_${params.v} AS SELECT 1", "is glued to other SQL"),
    ("SELECT * FROM main.${params.v}", "is glued to other SQL"),
    ("SELECT 'a'${params.v}", "is glued to other SQL"),
])
def test_a_substitution_that_is_not_a_value_is_refused_at_load(tmp_path: Path, sql: str, where: str) -> None:
    root = _duck_project(tmp_path)
    (root / "scenarios" / "bad.yaml").write_text(
        "triggers:\n  - type: manual\n    params:\n      v: {type: str}\n"
        f"steps:\n  - type: run_sql\n    connection: warehouse\n    sql: |\n      {sql}\n")
    with pytest.raises(ProjectError) as caught:
        load_scenario(load_project(root), "bad")
    message = str(caught.value)
    assert message.startswith("scenarios/bad.yaml:8 at steps[0].sql: ${params.v} " + where), message
    assert "in SQL a substitution is a value (a literal), never a name or SQL text" in message
    assert "expected it where a value goes" in message and "got `" in message


@pytest.mark.parametrize("given", ["nan", "NaN", float("nan"), "inf", "-Infinity", float("-inf"), "1e999"])
def test_a_non_finite_float_parameter_is_refused_naming_it(tmp_path: Path, given: object) -> None:
    root = _duck_project(tmp_path)
    (root / "scenarios" / "f.yaml").write_text(
        "triggers:\n  - type: manual\n    params:\n      min_amount: {type: float}\n"
        "steps:\n  - type: run_sql\n    connection: warehouse\n"
        "    sql: CREATE TABLE t AS SELECT ${params.min_amount} AS m\n")
    project = load_project(root)
    with pytest.raises(ProjectError) as caught:
        run_scenario(project, "f", params={"min_amount": given})
    assert str(caught.value) == (f"parameter 'min_amount' of scenario 'f': expected a finite number (float), "
                                 f"got {given!r}")
    assert RunHistory(project.state_dir).runs("f") == []


def test_a_non_finite_float_default_is_refused_at_load(tmp_path: Path) -> None:
    root = _duck_project(tmp_path)
    (root / "scenarios" / "f.yaml").write_text(
        "triggers:\n  - type: manual\n    params:\n      min_amount: {type: float, default: .nan}\n"
        "steps:\n  - type: run_sql\n    connection: warehouse\n    sql: SELECT ${params.min_amount}\n")
    with pytest.raises(ProjectError, match=r"scenarios/f.yaml:4.*expected a finite number \(float\), got nan"):
        load_scenario(load_project(root), "f")


def test_literals_are_typed_and_self_contained() -> None:
    values = {"params.n": -5, "params.f": 1e300, "params.b": False, "params.s": "it's", "params.z": None}
    for dialect in ("duckdb", "postgres"):
        assert render_sql("SELECT 1 -${params.n}, ${params.f}, ${params.b}, ${params.s}, ${params.z}", values,
                          dialect) == "SELECT 1 - (-5) ,  1e+300 ,  FALSE ,  'it''s' ,  NULL "
        assert render_sql("SELECT DATE '2024-01-0${params.n}'", {"params.n": 7}, dialect) == "SELECT DATE '2024-01-07'"
        assert render_sql("SELECT 'no values here' -- $", {}, dialect) == "SELECT 'no values here' -- $"
    with pytest.raises(SqlValueError, match=r"expected a finite number, got nan"):
        sql_literal(math.nan, "duckdb")
    with pytest.raises(SqlValueError, match=r"is inside a comment"):
        render_sql("SELECT 1 -- ${x}", {"x": 1}, "duckdb")


def test_the_sql_of_the_docs_examples_holds_values_only() -> None:
    from tideflow.automation.scenarios import RunSqlStep
    from tideflow.automation.sql_values import check_sql

    from .test_scenario_specs import doc_examples, parse

    steps = [s for name, text in doc_examples() for s in parse(text, name).steps  # type: ignore[attr-defined]
             if isinstance(s, RunSqlStep)]
    assert steps
    for step in steps:
        assert check_sql(step.sql, "duckdb") is None and check_sql(step.sql, "postgres") is None

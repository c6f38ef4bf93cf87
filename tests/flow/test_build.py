"""Building Flows on real DuckDB and PostgreSQL: modes, outdated detection, engines, atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tideflow.flow import build, explain_recipe, plan_build
from tideflow.project import load_project

from .conftest import Writer, duck_exec

PREPARE = """\
type: prepare
inputs: orders
outputs: clean
steps:
  - op: filter
    expr: amount > 0
  - op: formula
    column: amount_x2
    expr: amount * 2
"""
GROUP = """\
type: group
inputs: clean
outputs: by_customer
keys: [customer]
aggregations:
  - fn: sum
    column: amount
  - fn: count
"""


def seed_orders(root: Path) -> None:
    duck_exec(root, "CREATE OR REPLACE TABLE orders AS SELECT * FROM (VALUES "
                    "(1, 'ann', 10.0), (2, 'bob', -5.0), (3, 'ann', 2.5), (4, 'cy', NULL)) t(id, customer, amount)")


def test_build_runs_in_database_and_smart_mode_skips_up_to_date(make_project: Writer) -> None:
    root = make_project({"clean.yaml": PREPARE, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    project = load_project(root)
    result = build(project)
    assert result.ok, result.failed
    assert {r.recipe: r.engine for r in result.runs} == {"clean": "sql", "by_customer": "sql"}
    assert all(r.bytes_through_python == 0 for r in result.runs)
    rows = duck_exec(root, 'SELECT customer, amount_sum, "count" FROM by_customer ORDER BY customer')
    assert rows == [("ann", 12.5, 2)]

    again = build(load_project(root))
    assert again.runs == []  # nothing outdated

    # A changed recipe rebuilds it and what reads it; a changed source rebuilds its readers.
    (root / "recipes" / "clean.yaml").write_text(PREPARE.replace("amount > 0", "amount > -100"))
    third = build(load_project(root))
    assert [r.recipe for r in third.runs] == ["clean", "by_customer"]
    duck_exec(root, "INSERT INTO orders VALUES (5, 'dee', 1.0)")
    plan = plan_build(load_project(root))
    assert [s.recipe for s in plan.steps] == ["clean", "by_customer"]
    assert plan.steps[0].outdated_reason == "input 'orders' changed"


def test_build_modes_select_the_right_recipes(make_project: Writer) -> None:
    root = make_project({"clean.yaml": PREPARE, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    project = load_project(root)
    assert build(project).ok
    assert [s.recipe for s in plan_build(project, ["by_customer"], "dataset").steps] == ["by_customer"]
    assert [s.recipe for s in plan_build(project, ["by_customer"], "forced").steps] == ["clean", "by_customer"]
    assert [s.recipe for s in plan_build(project, ["clean"], "downstream").steps] == ["clean", "by_customer"]
    assert plan_build(project, ["by_customer"], "smart").steps == []


def test_explain_says_engine_reason_and_sql(make_project: Writer) -> None:
    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    planned = explain_recipe(load_project(root), "clean")
    assert planned.engine == "sql"
    assert "duckdb connection 'warehouse'" in planned.reason
    assert '"amount"' in planned.sql["clean"] and "SELECT" in planned.sql["clean"].upper()
    forced = explain_recipe(load_project(root), "clean", engine="memory")
    assert forced.engine == "memory" and "forced" in forced.reason


def test_virtual_chain_runs_as_one_query_and_writes_no_intermediate(make_project: Writer) -> None:
    root = make_project({"clean.yaml": PREPARE, "by_customer.yaml": GROUP},
                        {"orders.yaml": "table: orders\n", "clean.yaml": "virtual: true\n"})
    seed_orders(root)
    project = load_project(root)
    result = build(project)
    assert result.ok, result.failed
    assert {r.recipe: r.status for r in result.runs} == {"by_customer": "ok"}
    forced = build(project, mode="forced")
    assert {r.recipe: r.status for r in forced.runs} == {"clean": "skipped", "by_customer": "ok"}
    tables = {r[0] for r in duck_exec(root, "SELECT table_name FROM information_schema.tables")}
    assert "clean" not in tables and "by_customer" in tables
    assert duck_exec(root, 'SELECT customer, amount_sum FROM by_customer') == [("ann", 12.5)]
    sql = explain_recipe(project, "by_customer").sql["by_customer"]
    assert "WITH" in sql.upper() and "__tide_virtual_clean" in sql


def test_failed_recipe_leaves_previous_output_and_cancels_downstream(make_project: Writer) -> None:
    sql_recipe = "type: sql\ninputs: orders\noutputs: clean\nsql: SELECT id, customer, amount FROM orders\n"
    root = make_project({"clean.yaml": sql_recipe, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    assert build(load_project(root)).ok
    before = duck_exec(root, "SELECT * FROM clean ORDER BY id")
    # Same columns, but a query that fails at run time (a cast DuckDB refuses).
    (root / "recipes" / "clean.yaml").write_text(
        "type: sql\ninputs: orders\noutputs: clean\n"
        "sql: SELECT id, customer, CAST(customer AS DOUBLE) + amount AS amount FROM orders\n")
    result = build(load_project(root))
    assert not result.ok
    by_name = {r.recipe: r for r in result.runs}
    assert (by_name["clean"].status == "failed" and "clean" in by_name["clean"].error) or by_name["clean"].error
    assert by_name["by_customer"].status == "cancelled"
    assert duck_exec(root, "SELECT * FROM clean ORDER BY id") == before
    leftovers = duck_exec(root, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '__tide_tmp%'")
    assert leftovers == []


def test_killed_build_leaves_previous_output_readable(make_project: Writer) -> None:
    slow = ("type: sql\ninputs: orders\noutputs: big\nsql: >-\n  SELECT a.range AS x, b.range AS y "
            "FROM range(200000) a, range(20000) b WHERE (a.range * b.range) % 7 = 3 ORDER BY x, y\n")
    quick = "type: sql\ninputs: orders\noutputs: big\nsql: SELECT 1 AS x, 2 AS y FROM orders\n"
    root = make_project({"big.yaml": quick}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    assert build(load_project(root)).ok
    before = duck_exec(root, "SELECT * FROM big")
    (root / "recipes" / "big.yaml").write_text(slow)
    script = textwrap.dedent(f"""
        from tideflow.flow import build
        from tideflow.project import load_project
        print("started", flush=True)
        build(load_project({str(root)!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(2.0)  # well inside the CREATE TABLE of the slow query
        assert proc.poll() is None, "the slow build finished before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert duck_exec(root, "SELECT * FROM big") == before
    (root / "recipes" / "big.yaml").write_text(quick.replace("1 AS x", "3 AS x"))
    assert build(load_project(root)).ok
    assert duck_exec(root, "SELECT DISTINCT x FROM big") == [(3,)]
    leftovers = duck_exec(root, "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '__tide_tmp%'")
    assert leftovers == []


def test_files_are_read_through_duckdb_and_written_atomically(make_project: Writer) -> None:
    config = "name: t\nconnections:\n  warehouse: {type: duckdb}\n  raw: {type: files, root: data}\n"
    root = make_project(
        {"clean.yaml": PREPARE, "export.yaml": "type: sort\ninputs: clean\noutputs: export\n"
                                                "order_by: [{column: id}]\n"},
        {"orders.yaml": "connection: raw\npath: orders.csv\n",
         "export.yaml": "connection: raw\npath: out/export.parquet\n"},
        config=config, extra={"data/orders.csv": "id,customer,amount\n1,ann,10.0\n2,bob,-5.0\n3,ann,2.5\n"})
    result = build(load_project(root))
    assert result.ok, result.failed
    engines = {r.recipe: r.engine for r in result.runs}
    assert engines == {"clean": "sql", "export": "memory"}
    import pyarrow.parquet as pq

    table = pq.read_table(root / "data" / "out" / "export.parquet")
    assert table.column("id").to_pylist() == [1, 3]
    reason = explain_recipe(load_project(root), "export").reason
    assert "files connection 'raw'" in reason


@pytest.mark.postgres
def test_postgres_in_database_and_cross_connection_memory(make_project: Writer, pg_schema: str,
                                                          pg_conn: object) -> None:
    pg_conn.execute(  # type: ignore[attr-defined]
        f'CREATE TABLE "{pg_schema}".orders AS SELECT * FROM (VALUES (1, \'ann\', 10.0::float8), '
        f"(2, 'bob', -5.0::float8), (3, 'ann', 2.5::float8)) t(id, customer, amount)")
    config = (f"name: t\nconnections:\n  warehouse: {{type: duckdb}}\n  pg:\n    type: postgres\n"
              f"    dbname: test\n    user: postgres\n    schema: {pg_schema}\n"
              "    password_env: TIDE_TEST_PG_PASSWORD\n"
              "defaults: {connection: pg}\n")
    root = make_project(
        {"clean.yaml": PREPARE, "by_customer.yaml": GROUP},
        {"orders.yaml": "table: orders\n", "by_customer.yaml": "connection: warehouse\n"}, config=config)
    os.environ["TIDE_TEST_PG_PASSWORD"] = "not-needed-with-trust-auth"
    try:
        project = load_project(root)
        result = build(project)
        assert result.ok, result.failed
        engines = {r.recipe: r.engine for r in result.runs}
        assert engines == {"clean": "sql", "by_customer": "memory"}
        moved = {r.recipe: r.bytes_through_python for r in result.runs}
        assert moved["clean"] == 0 and moved["by_customer"] > 0
        assert duck_exec(root, "SELECT customer, amount_sum, count FROM by_customer") == [("ann", 12.5, 2)]
        planned = explain_recipe(project, "by_customer")
        assert "input 'clean' is on connection 'pg'" in planned.reason
        assert "not-needed" not in planned.reason + "".join(explain_recipe(project, "clean").sql.values())
    finally:
        del os.environ["TIDE_TEST_PG_PASSWORD"]


def test_missing_password_env_is_a_clear_connection_error(make_project: Writer) -> None:
    config = ("name: t\nconnections:\n  pg: {type: postgres, dbname: test, user: postgres, "
              "password_env: TIDE_SURELY_UNSET_VAR}\ndefaults: {connection: pg}\n")
    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n"}, config=config)
    from tideflow.errors import ConnectionError_

    with pytest.raises(ConnectionError_, match=r"connection 'pg': environment variable TIDE_SURELY_UNSET_VAR"):
        plan_build(load_project(root))


def test_independent_recipes_run_in_parallel(make_project: Writer) -> None:
    slow = "type: sql\ninputs: orders\noutputs: {out}\nsql: SELECT sum(range % 7) AS s FROM range(40000000)\n"
    config = ("name: t\ndefaults: {parallelism: 2}\n"
              "connections:\n  warehouse: {type: duckdb, concurrent_queries: 2}\n")
    root = make_project({"a.yaml": slow.format(out="a"), "b.yaml": slow.format(out="b")},
                        {"orders.yaml": "table: orders\n"}, config=config)
    seed_orders(root)
    events: list[tuple[str, str]] = []
    result = build(load_project(root), on_event=lambda e: events.append((e.kind, e.recipe)))
    assert result.ok
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["started", "started"], events  # both were running before either finished
    # By default an embedded DuckDB runs one recipe at a time: it already spreads each query over every core.
    (root / "tideflow.yaml").write_text("name: t\ndefaults: {parallelism: 2}\n", encoding="utf-8")
    one_at_a_time: list[tuple[str, str]] = []
    assert build(load_project(root), mode="forced", on_event=lambda e: one_at_a_time.append((e.kind, e.recipe))).ok
    assert [k for k, _ in one_at_a_time] == ["started", "finished", "started", "finished"]
    serial: list[tuple[str, str]] = []
    assert build(load_project(root), mode="forced", parallelism=1,
                 on_event=lambda e: serial.append((e.kind, e.recipe))).ok
    assert [k for k, _ in serial] == ["started", "finished", "started", "finished"]


@pytest.mark.postgres
def test_postgres_session_settings_apply_and_a_refused_one_names_the_key(make_project: Writer, pg_schema: str,
                                                                          pg_conn: object) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".orders AS SELECT 1 AS id')  # type: ignore[attr-defined]
    recipe = "type: sql\ninputs: orders\noutputs: mem\nsql: SELECT current_setting('work_mem') AS w FROM orders\n"

    def config(value: str) -> str:
        return (f"name: t\nconnections:\n  pg:\n    type: postgres\n    dbname: test\n    user: postgres\n"
                f"    schema: {pg_schema}\n    settings: {{work_mem: '{value}'}}\ndefaults: {{connection: pg}}\n")

    root = make_project({"mem.yaml": recipe}, {"orders.yaml": "table: orders\n"}, config=config("48MB"))
    assert build(load_project(root)).ok
    assert pg_conn.execute(f'SELECT w FROM "{pg_schema}".mem').fetchall() == [("48MB",)]  # type: ignore[attr-defined]
    (root / "tideflow.yaml").write_text(config("lots; DROP TABLE orders"), encoding="utf-8")
    from tideflow.errors import ProjectError

    # a project error (exit 2) at the line of the setting, not a connection error: retrying cannot help
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:8 at connections.pg.settings.work_mem: connection 'pg': "
                                           r"settings.work_mem: PostgreSQL refused 'lots; DROP TABLE orders': "
                                           r"invalid value"):
        build(load_project(root), mode="forced")
    (root / "tideflow.yaml").write_text(config("48MB").replace("work_mem:", "wrk_mem:"), encoding="utf-8")
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:8 at connections.pg.settings.wrk_mem: .*unrecognized "
                                           r"configuration parameter \"wrk_mem\": did you mean 'work_mem'\?"):
        build(load_project(root), mode="forced")
    assert pg_conn.execute(f'SELECT count(*) FROM "{pg_schema}".orders').fetchall() == [(1,)]  # type: ignore[attr-defined]


def test_explain_says_whether_a_smart_build_would_run_the_recipe_and_why(make_project: Writer) -> None:
    root = make_project({"clean.yaml": PREPARE, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    assert explain_recipe(load_project(root), "by_customer").outdated_reason == "never built"
    assert build(load_project(root)).ok
    assert explain_recipe(load_project(root), "clean").outdated_reason == ""  # up to date
    duck_exec(root, "INSERT INTO orders VALUES (5, 'dee', 1.0)")
    project = load_project(root)
    assert explain_recipe(project, "clean").outdated_reason == "input 'orders' changed"
    assert explain_recipe(project, "by_customer").outdated_reason == "input 'clean' is being rebuilt"


def test_a_missing_source_is_a_connection_error_naming_it_not_build_it_first(make_project: Writer) -> None:
    from tideflow.errors import ConnectionError_

    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n"})
    with pytest.raises(ConnectionError_, match=r"source dataset 'orders' \(declared in datasets/orders.yaml\), an "
                                               r"input of recipe 'clean', cannot be read: table 'orders' on "
                                               r"connection 'warehouse' does not exist"):
        plan_build(load_project(root))
    files = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "connection: files\npath: orders.csv\n"},
                         config="name: t\nconnections:\n  warehouse: {type: duckdb}\n  files: {type: files, "
                                "root: data}\n")
    with pytest.raises(ConnectionError_, match=r"source dataset 'orders'.* file .*/data/orders.csv does not exist \(a "
                                               r"source is not built by the Flow"):
        build(load_project(files))


@pytest.mark.postgres
def test_a_postgres_schema_that_does_not_exist_is_named_with_its_key(make_project: Writer) -> None:
    from tideflow.errors import ProjectError

    config = ("name: t\nconnections:\n  pg: {type: postgres, dbname: test, user: postgres, "
              "schema: tide_surely_missing_schema}\ndefaults: {connection: pg}\n")
    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n"}, config=config)
    with pytest.raises(ProjectError, match=r"^tideflow.yaml:3 at connections.pg.schema: connection 'pg': schema "
                                           r"'tide_surely_missing_schema' does not exist in database 'test'"):
        build(load_project(root))


def test_a_failed_recipe_is_named_once_in_its_error(make_project: Writer) -> None:
    recipe = "type: python\ninputs: [orders]\noutputs: out\nfile: code.py\nfunction: broken\n"
    code = "def broken(inputs):\n    raise ValueError('boom')\n"
    root = make_project({"out.yaml": recipe}, {"orders.yaml": "table: orders\n"}, extra={"recipes/code.py": code})
    seed_orders(root)
    messages: list[str] = []
    result = build(load_project(root), on_event=lambda e: messages.append(e.message) if e.kind == "failed" else None)
    assert not result.ok
    assert result.failed[0].error == "recipes/code.py:broken raised ValueError: boom"
    assert messages == ["recipe 'out' failed: recipes/code.py:broken raised ValueError: boom"]


@pytest.mark.parametrize("engine", ["sql", "memory"])
def test_a_recipe_invalid_for_its_inputs_is_a_project_error_before_the_build_on_every_engine(
        make_project: Writer, engine: str) -> None:
    from tideflow.errors import ProjectError

    bad = "type: prepare\ninputs: orders\noutputs: clean\nsteps:\n  - op: fill_empty\n    columns: [id]\n" \
          "    value: \"it's\"\n"
    root = make_project({"clean.yaml": bad, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    events: list[str] = []
    with pytest.raises(ProjectError, match=r"recipes/clean.yaml:7 at steps\[0\].value: .*integer.*it's"):
        build(load_project(root), engine=engine, on_event=lambda e: events.append(e.kind))
    assert events == []  # nothing ran


def test_a_damaged_state_store_is_a_project_error_that_says_what_to_do(tmp_path: Path) -> None:
    from tideflow.errors import ProjectError
    from tideflow.flow.state import StateStore

    (tmp_path / "state.db").write_bytes(b"this is not a database" * 200)
    with pytest.raises(ProjectError, match=r"state.db: the build state store is damaged \(file is not a "
                                           r"database\); expected a SQLite database.*--mode forced"):
        StateStore(tmp_path)


def test_damage_inside_the_state_store_and_a_read_only_one_are_clear_errors(make_project: Writer) -> None:
    import sqlite3

    from tideflow.errors import ConnectionError_, ProjectError
    from tideflow.flow.state import StateStore

    root = make_project({"clean.yaml": PREPARE}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    assert build(load_project(root)).ok
    store = StateStore(root / ".tide")
    for i in range(50):  # pages a build reads, past a valid header: found only when queried
        store.record_success(f"r{i}", "f" * 16, {"x": "y" * 400}, {"o": 1})
    store.close()  # the last connection writes the WAL back into the file
    with (root / ".tide" / "state.db").open("r+b") as db:
        db.seek(4096)
        db.write(bytes(range(256)) * 64)
    with pytest.raises(ProjectError, match=r"the build state store is damaged \(.*\).*--mode forced"):
        build(load_project(root), mode="smart")
    store = StateStore(root.parent / "fresh")
    refused = store._failure(sqlite3.OperationalError("attempt to write a readonly database"))
    assert isinstance(refused, ConnectionError_) and "expected a writable" in str(refused)


def test_downstream_of_a_source_rebuilds_what_it_feeds(make_project: Writer) -> None:
    from tideflow.errors import ProjectError

    root = make_project({"clean.yaml": PREPARE, "by_customer.yaml": GROUP}, {"orders.yaml": "table: orders\n"})
    seed_orders(root)
    assert build(load_project(root)).ok
    result = build(load_project(root), ["orders"], mode="downstream")
    assert result.ok and sorted(r.recipe for r in result.runs) == ["by_customer", "clean"]
    with pytest.raises(ProjectError, match=r"dataset 'orders' is a source: no recipe builds it \(to rebuild what "
                                           r"reads it, use --mode downstream\)"):
        build(load_project(root), ["orders"], mode="forced")


@pytest.mark.postgres
def test_the_outputs_of_one_memory_recipe_are_swapped_in_together(make_project: Writer, pg_schema: str,
                                                                  pg_conn: object) -> None:
    run = pg_conn.execute  # type: ignore[attr-defined]
    run(f'CREATE TABLE "{pg_schema}".src AS SELECT 1 AS k')
    config = (f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {pg_schema}}}\n"
              "defaults: {connection: pg}\n")
    code = ("import polars as pl\n\ndef two(inputs):\n    k = inputs['src']\n"
            "    return {{'two_a': k.with_columns(gen=pl.lit({gen})), 'two_b': k.with_columns({b}=pl.lit({gen}))}}\n")
    recipe = "type: python\ninputs: src\noutputs: [two_a, two_b]\nfile: two.py\nfunction: two\n"
    root = make_project({"two.yaml": recipe}, {"src.yaml": "table: src\n"}, config=config,
                        extra={"recipes/two.py": code.format(gen=1, b="gen")})
    assert build(load_project(root)).ok
    # the second output cannot be written (a 70-byte column name): the first must not be replaced alone
    (root / "recipes" / "two.py").write_text(code.format(gen=2, b="g" * 70))
    assert not build(load_project(root), mode="forced").ok
    assert run(f'SELECT gen FROM "{pg_schema}".two_a').fetchall() == [(1,)]
    assert run(f'SELECT gen FROM "{pg_schema}".two_b').fetchall() == [(1,)]
    leftovers = run("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name LIKE '\\_\\_tide\\_tmp%%'", (pg_schema,)).fetchall()
    assert leftovers == [(0,)]
    (root / "recipes" / "two.py").write_text(code.format(gen=3, b="gen"))
    assert build(load_project(root)).ok
    assert run(f'SELECT gen FROM "{pg_schema}".two_a').fetchall() == [(3,)]

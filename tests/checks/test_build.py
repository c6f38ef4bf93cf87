"""Checks after a build: they run on the new table before it replaces the previous one, so a
failing error check fails the recipe, names the check and leaves the previous data in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tideflow.checks import Measure, MetricHistory, check_dataset
from tideflow.flow import Workspace, build
from tideflow.project import load_project

PREPARE = """\
type: prepare
inputs: orders
outputs: clean
engine: {engine}
steps:
  - op: filter
    expr: amount > 0
"""
CLEAN = """\
checks_after_build: {after}
metrics:
  - record_count
  - {{metric: sum, column: amount}}
checks:
  - name: has rows
    rule: not_empty
  - rule: within_range
    metric: {{metric: max, column: amount}}
    warning: {{max: 100}}
"""


def write_project(root: Path, *, engine: str = "auto", after: str = "true", config: str = "name: t\n",
                  clean: str | None = None) -> Path:
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text(config)
    (root / "datasets" / "orders.yaml").write_text("table: orders\n")
    (root / "datasets" / "clean.yaml").write_text(clean if clean is not None else CLEAN.format(after=after))
    (root / "recipes" / "clean.yaml").write_text(PREPARE.format(engine=engine))
    return root


def duck(root: Path, sql: str) -> list[tuple[Any, ...]]:
    (root / ".tide").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def history(root: Path) -> MetricHistory:
    return MetricHistory(root / ".tide" / "state.db")


@pytest.mark.parametrize("engine", ["sql", "memory"])
def test_failing_error_check_keeps_previous_data_on_duckdb(tmp_path: Path, engine: str) -> None:
    root = write_project(tmp_path / "p", engine=engine)
    duck(root, "CREATE TABLE orders AS SELECT * FROM (VALUES (1, 10.0), (2, 250.0), (3, -1.0)) t(id, amount)")
    first = build(load_project(root))
    assert first.ok, first.failed
    assert duck(root, "SELECT id FROM clean ORDER BY id") == [(1,), (2,)]
    recorded = history(root).recent("clean", Measure("sum", column="amount"), 10)
    assert [r.value for r in recorded] == [260.0]
    with Workspace(load_project(root)) as ws:
        version = ws.state.dataset_version("clean")
    assert recorded[0].version == version
    outcomes = {o.check: o.outcome for o in history(root).outcomes("clean")}
    assert outcomes == {"has rows": "ok", "within_range(max(amount))": "warning"}

    duck(root, "UPDATE orders SET amount = -abs(amount)")  # now the filter keeps no rows
    second = build(load_project(root))
    assert not second.ok
    run = second.runs[0]
    assert run.status == "failed"
    assert "dataset 'clean': check 'has rows' (not_empty) failed: expected at least 1 row, got 0 rows" in run.error
    assert "previous data was kept" in run.error
    assert duck(root, "SELECT id FROM clean ORDER BY id") == [(1,), (2,)]  # the previous data
    assert duck(root, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '__tide_tmp_%'") == [(0,)]
    with Workspace(load_project(root)) as ws:
        assert ws.state.dataset_version("clean") == version  # not recorded as built
    assert len(history(root).recent("clean", Measure("sum", column="amount"), 10)) == 1  # rejected: not learnt
    rejected = {o.check: o.outcome for o in history(root).outcomes("clean") if o.version == "rejected"}
    assert rejected == {"has rows": "error", "within_range(max(amount))": "warning"}  # max of no rows: NULL


@pytest.mark.postgres
def test_failing_error_check_keeps_previous_data_on_postgres(tmp_path: Path, pg_conn: Any, pg_schema: str) -> None:
    config = (f"name: t\nconnections:\n  warehouse: {{type: postgres, dbname: test, user: postgres, "
              f"schema: {pg_schema}}}\n")
    root = write_project(tmp_path / "p", config=config, engine="sql")
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".orders AS SELECT * FROM (VALUES (1, 10.0::float8), '
                    f"(2, -3.0::float8)) t(id, amount)")
    assert build(load_project(root)).ok
    pg_conn.execute(f'UPDATE "{pg_schema}".orders SET amount = -abs(amount)')
    result = build(load_project(root))
    assert not result.ok
    assert "check 'has rows' (not_empty) failed" in result.runs[0].error
    rows = pg_conn.execute(f'SELECT id, amount FROM "{pg_schema}".clean').fetchall()
    assert rows == [(1, 10.0)]
    temps = pg_conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_name LIKE '\\_\\_tide\\_tmp\\_%%'", (pg_schema,)).fetchone()
    assert temps == (0,)


def test_checks_after_build_false_builds_and_check_dataset_reports(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", after="false")
    duck(root, "CREATE TABLE orders AS SELECT * FROM (VALUES (1, -10.0)) t(id, amount)")
    assert build(load_project(root)).ok
    with Workspace(load_project(root)) as ws:
        report = check_dataset(ws, "clean")
    assert report.outcome == "error"
    assert [o.check for o in report.errors] == ["has rows"]
    assert [(s.label, v) for s, v in report.metrics] == [("record_count", 0), ("sum(amount)", None)]


def test_typical_range_learns_across_builds(tmp_path: Path) -> None:
    clean = ("checks:\n  - name: volume\n    rule: within_range\n    metric: record_count\n"
             "    error: {typical: {history: 10, sigmas: 3, min_history: 3}}\n")
    root = write_project(tmp_path / "p", clean=clean)
    duck(root, "CREATE TABLE orders (id INTEGER, amount DOUBLE)")
    for i, n in enumerate([100, 104, 98, 101]):  # learning for 3 builds, then enforced
        duck(root, f"DELETE FROM orders; INSERT INTO orders SELECT range, 1.0 FROM range({n})")
        assert build(load_project(root)).ok, i
    duck(root, "DELETE FROM orders; INSERT INTO orders SELECT range, 1.0 FROM range(400)")
    jump = build(load_project(root))
    assert not jump.ok
    assert "check 'volume' (within_range) failed: expected record_count within error: typical [" in jump.runs[0].error
    assert "got 400" in jump.runs[0].error
    assert duck(root, "SELECT count(*) FROM clean") == [(101,)]
    recorded = history(root).recent("clean", Measure("record_count"), 10)
    assert [r.value for r in recorded] == [101, 98, 104, 100]

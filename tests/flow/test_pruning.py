"""Pruning the fused CTE chain: what it drops, what it must keep, and that no output changes.

The demo Flow (prepare -> join -> window -> prepare -> group, plus a group over the join) is built
in the database, with pruned CTEs, on DuckDB and on PostgreSQL, and compared with the memory
engine's build of the same project: the oracle never sees SQL.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from psycopg import sql as pgsql

from tideflow.cli import demo_data
from tideflow.cli.init_cmd import copy_tree, package_tree
from tideflow.flow import build, recipe_sql
from tideflow.flow.pruning import prune_projections
from tideflow.project import load_project

OUTPUTS = ("card_features", "card_features_train", "card_features_test", "merchant_daily", "merchant_risk")
ROWS = 3_000


def pruned(sql: str, ctes: set[str]) -> str:
    return prune_projections(sqlglot.parse_one(sql), ctes).sql()


def test_drops_what_no_later_part_reads_through_ctes_and_subqueries() -> None:
    got = pruned("WITH a AS (SELECT x, y, z FROM (SELECT x, y, z, v FROM t) AS s), "
                 "b AS (SELECT x, SUM(y) OVER (PARTITION BY x ORDER BY z) AS r, z FROM a) "
                 "SELECT x, MAX(r) AS m FROM b GROUP BY x", {"a", "b"})
    assert got == ("WITH a AS (SELECT x, y, z FROM (SELECT x, y, z FROM t) AS s), "
                   "b AS (SELECT x, SUM(y) OVER (PARTITION BY x ORDER BY z) AS r FROM a) "
                   "SELECT x, MAX(r) AS m FROM b GROUP BY x")


@pytest.mark.parametrize("sql", [
    "WITH a AS (SELECT DISTINCT x, y FROM t) SELECT x FROM a",      # DISTINCT rows depend on y
    "WITH a AS (SELECT x, y FROM t) SELECT * FROM a",               # a star reads everything
    "WITH a AS (SELECT x, y FROM t) SELECT a.* FROM a",
    "WITH a AS (SELECT x, y FROM t ORDER BY 2) SELECT x FROM a",    # a position would shift
    "WITH a AS (SELECT x, y FROM t GROUP BY 1, 2) SELECT x FROM a",
    "WITH a AS (SELECT x FROM t UNION ALL SELECT y FROM u) SELECT x FROM a",
    "WITH a AS (SELECT x, y FROM t) SELECT a.x FROM a JOIN b USING (y)",  # a USING key is read
])
def test_keeps_what_dropping_could_change(sql: str) -> None:
    assert pruned(sql, {"a"}) == sqlglot.parse_one(sql).sql()


def test_keeps_the_last_projection_and_leaves_other_ctes_alone() -> None:
    assert pruned("WITH a AS (SELECT x, y FROM t) SELECT COUNT(*) AS n FROM a", {"a"}) == \
        "WITH a AS (SELECT x, y FROM t) SELECT COUNT(*) AS n FROM a"
    assert pruned("WITH a AS (SELECT x, y FROM t) SELECT x FROM a", set()) == \
        "WITH a AS (SELECT x, y FROM t) SELECT x FROM a"


def test_demo_window_cte_carries_only_the_columns_read_after_it(tmp_path: Path) -> None:
    copy_tree(package_tree("demo_project"), tmp_path)
    demo_data.generate(tmp_path / ".tide" / "warehouse.duckdb", 500, seed=7)
    query = sqlglot.parse_one(recipe_sql(load_project(tmp_path), "card_features")["card_features"], read="duckdb")
    window = next(c.this for c in query.find_all(sqlglot.exp.CTE) if c.alias == "__tide_virtual_card_activity")
    carried = {p.alias_or_name for p in window.expressions}
    assert {"card_id", "ts", "amount_eur", "merchant_id", "card_country", "merchant_country"} <= carried
    assert not carried & {"tx_date", "tx_hour", "channel", "status", "merchant_category"}


# ------------------------------------------------------------------ the demo Flow against the oracle


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return "NaN" if math.isnan(v) else float(f"{v:.9g}") + 0.0
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v

    rows = [tuple(norm(v) for v in row.values()) for row in table.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def _demo(root: Path, config_tail: str = "") -> Path:
    copy_tree(package_tree("demo_project"), root)
    if config_tail:
        config = root / "tideflow.yaml"
        text = config.read_text(encoding="utf-8")
        start, end = text.index("connections:"), text.index("defaults:")
        config.write_text(text[:start] + config_tail + text[end:], encoding="utf-8")
    return root


def _duck_outputs(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return {name: _rows(con.sql(f'SELECT * FROM "{name}"').to_arrow_table()) for name in OUTPUTS}
    finally:
        con.close()


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """The demo Flow built by the memory engine (Polars): no SQL involved."""
    root = _demo(tmp_path_factory.mktemp("oracle"))
    demo_data.generate(root / ".tide" / "warehouse.duckdb", ROWS, seed=11)
    result = build(load_project(root), mode="forced", engine="memory")
    assert result.ok, result.failed
    assert all(run.engine == "memory" for run in result.runs if run.status == "ok")
    return _duck_outputs(root)


def test_demo_flow_on_duckdb_equals_the_memory_engine(tmp_path: Path, oracle: dict[str, Any]) -> None:
    root = _demo(tmp_path)
    demo_data.generate(root / ".tide" / "warehouse.duckdb", ROWS, seed=11)
    result = build(load_project(root), mode="forced", engine="sql")
    assert result.ok, result.failed
    got = _duck_outputs(root)
    for name in OUTPUTS:
        assert got[name] == oracle[name], name


PG_TYPES = {"int64": "BIGINT", "double": "DOUBLE PRECISION", "string": "TEXT", "timestamp[us]": "TIMESTAMP",
            "date32[day]": "DATE"}


@pytest.mark.postgres
def test_demo_flow_on_postgres_equals_the_memory_engine(tmp_path: Path, oracle: dict[str, Any], pg_conn: Any,
                                                        pg_schema: str) -> None:
    for name, table in demo_data.generate_tables(ROWS, seed=11).items():
        target = pgsql.Identifier(pg_schema, name)
        columns = pgsql.SQL(", ").join(
            pgsql.SQL("{} {}").format(pgsql.Identifier(f.name), pgsql.SQL(PG_TYPES[str(f.type)]))
            for f in table.schema)
        pg_conn.execute(pgsql.SQL("CREATE TABLE {} ({})").format(target, columns))
        with pg_conn.cursor().copy(pgsql.SQL("COPY {} FROM STDIN").format(target)) as copy:
            for row in table.to_pylist():
                copy.write_row(tuple(row.values()))
    root = _demo(tmp_path, f"connections:\n  warehouse:\n    type: postgres\n    host: 127.0.0.1\n"
                           f"    dbname: test\n    user: postgres\n    schema: {pg_schema}\n")
    result = build(load_project(root), mode="forced", engine="sql")
    assert result.ok, result.failed
    assert all(run.engine == "sql" for run in result.runs if run.status == "ok")
    for name in OUTPUTS:
        cur = pg_conn.execute(pgsql.SQL("SELECT * FROM {}").format(pgsql.Identifier(pg_schema, name)))
        columns = [d.name for d in cur.description]
        table = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in cur.fetchall()])
        assert _rows(table) == oracle[name], name

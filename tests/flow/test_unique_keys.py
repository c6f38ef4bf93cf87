"""``unique:`` on a source: verified once per build, then a LEFT JOIN to it that no kept column reads is
dropped from the fused query (it cannot change a row). Results equal those without the declaration;
a declaration the data breaks stops the build before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from tideflow.errors import ProjectError
from tideflow.flow import build, explain_recipe, recipe_sql
from tideflow.flow.joins import drop_unused_joins
from tideflow.project import load_project

# ---------------------------------------------------------------- the pass on SQL


def _dropped(sql: str, keys: dict[str, list[frozenset[str]]]) -> str:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Query)
    return drop_unused_joins(tree, lambda t: keys.get(t.name)).sql("duckdb")


KEY = {"c": [frozenset({"id"})]}


@pytest.mark.parametrize(("sql", "drops"), [
    ("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid = j.id", True),
    ("SELECT a.x FROM a LEFT JOIN c AS j ON j.id = a.cid AND j.flag = 1", True),
    ("SELECT a.x, j.name FROM a LEFT JOIN c AS j ON a.cid = j.id", False),        # reads the right side
    ("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid = j.id WHERE j.name = 'x'", False),
    ("SELECT a.x FROM a INNER JOIN c AS j ON a.cid = j.id", False),               # may remove rows
    ("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid = j.other", False),             # not the key
    ("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid < j.id", False),
    ("SELECT x FROM a LEFT JOIN c AS j ON a.cid = j.id", False),                  # unqualified: might be j's
    ("SELECT * FROM a LEFT JOIN c AS j ON a.cid = j.id", False),
    ("SELECT a.x FROM a LEFT JOIN d AS j ON a.cid = j.id", False),                # no verified key
    ("SELECT a.x FROM a LEFT JOIN (SELECT id FROM c) AS j ON a.cid = j.id", False),
])
def test_only_a_left_join_on_a_unique_key_that_nothing_reads_is_dropped(sql: str, drops: bool) -> None:
    out = _dropped(sql, KEY)
    assert ("JOIN" not in out) is drops, out


def test_a_composite_key_needs_every_column_equated() -> None:
    keys = {"c": [frozenset({"id", "day"})]}
    assert "JOIN" in _dropped("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid = j.id", keys)
    assert "JOIN" not in _dropped("SELECT a.x FROM a LEFT JOIN c AS j ON a.cid = j.id AND a.d = j.day", keys)


# ---------------------------------------------------------------- in a Flow, on real databases

JOIN = """type: join
inputs: [orders, customers]
outputs: enriched
joins:
  - with: customers
    type: left
    "on": [{left: customer_id, right: customer_id}]
select:
  customers: {columns: [segment], prefix: c_}
"""
BY_COUNTRY = """type: group
inputs: enriched
outputs: by_country
keys: [country]
aggregations:
  - {fn: count, output: n}
  - {fn: sum, column: amount, output: amount}
"""
BY_SEGMENT = """type: group
inputs: enriched
outputs: by_segment
keys: [c_segment]
aggregations:
  - {fn: count, output: n}
"""
ORDERS = [(1, 1, "FR", 10.0), (2, 1, "FR", 5.0), (3, 2, "DE", 7.5), (4, 9, "DE", 1.0), (5, None, "IT", 2.0)]
CUSTOMERS = [(1, "gold"), (2, "silver"), (3, "gold"), (None, "ghost"), (None, "ghost")]


def _project(root: Path, config: str, unique: str) -> Path:
    for folder in ("datasets", "recipes"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text(config)
    (root / "datasets" / "orders.yaml").write_text("table: orders\n")
    (root / "datasets" / "customers.yaml").write_text(f"table: customers\n{unique}")
    (root / "datasets" / "enriched.yaml").write_text("virtual: true\n")
    for name, text in (("enrich.yaml", JOIN), ("by_country.yaml", BY_COUNTRY), ("by_segment.yaml", BY_SEGMENT)):
        (root / "recipes" / name).write_text(text)
    return root


def _duck(root: Path, customers: list[tuple[Any, ...]] = CUSTOMERS) -> Path:
    (root / ".tide").mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        con.execute("CREATE OR REPLACE TABLE orders (id BIGINT, customer_id BIGINT, country VARCHAR, amount DOUBLE)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
        con.execute("CREATE OR REPLACE TABLE customers (customer_id BIGINT, segment VARCHAR)")
        con.executemany("INSERT INTO customers VALUES (?, ?)", customers)
    return root


def _rows(root: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def test_duckdb_drops_the_unread_join_and_gives_the_same_rows(tmp_path: Path) -> None:
    declared = _duck(_project(tmp_path / "declared", "name: t\n", "unique: [customer_id]\n"))
    plain = _duck(_project(tmp_path / "plain", "name: t\n", ""))
    by_country = recipe_sql(load_project(declared), "by_country")["by_country"]
    assert "customers" not in by_country and "JOIN" not in by_country
    assert "customers" in recipe_sql(load_project(plain), "by_country")["by_country"]
    assert '"main"."customers"' in recipe_sql(load_project(declared), "by_segment")["by_segment"]  # read: kept
    for root in (declared, plain):
        result = build(load_project(root))
        assert result.ok, result.failed
    for table in ("by_country", "by_segment"):
        assert _rows(declared, table) == _rows(plain, table)
    assert _rows(declared, "by_country") == [("DE", 2, 8.5), ("FR", 2, 15.0), ("IT", 1, 2.0)]


def test_explain_says_which_join_it_left_out(tmp_path: Path) -> None:
    declared = _duck(_project(tmp_path / "declared", "name: t\n", "unique: [customer_id]\n"))
    assert explain_recipe(load_project(declared), "by_country").notes == (
        "the join to customers in enriched is left out: no column of it is read, and a verified unique key "
        "matches each row at most once",)
    assert explain_recipe(load_project(declared), "by_segment").notes == ()  # it reads the segment
    plain = _duck(_project(tmp_path / "plain", "name: t\n", ""))
    assert explain_recipe(load_project(plain), "by_country").notes == ()


def test_a_key_the_data_breaks_stops_the_build_before_anything_runs(tmp_path: Path) -> None:
    root = _duck(_project(tmp_path / "p", "name: t\n", "unique: [customer_id]\n"),
                 [*CUSTOMERS, (2, "bronze")])
    with pytest.raises(ProjectError, match=r"^datasets/customers.yaml:2 at unique: dataset 'customers' is declared "
                                           r"unique on \(customer_id\), but customer_id = 2 is in 2 rows: expected "
                                           r"each key once .* fix the data, or remove 'unique'$"):
        build(load_project(root))
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'by_%'").fetchone() \
            == (0,)


def test_an_unknown_key_column_is_named_with_a_suggestion(tmp_path: Path) -> None:
    root = _duck(_project(tmp_path / "p", "name: t\n", "unique: [customer]\n"))
    with pytest.raises(ProjectError, match=r"^datasets/customers.yaml:2 at unique\[0\]: dataset 'customers': unknown "
                                           r"column 'customer' in its unique key: did you mean 'customer_id'\?"):
        recipe_sql(load_project(root), "by_country")


def test_a_column_listed_twice_is_refused_at_load(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "name: t\n", "unique: [customer_id, customer_id]\n")
    with pytest.raises(ProjectError, match=r"^datasets/customers.yaml:2 at unique: .*column 'customer_id' is listed "
                                           r"twice"):
        load_project(root)


def test_postgres_drops_it_too(tmp_path: Path, pg_schema: str, pg_conn: Any) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".orders (id BIGINT, customer_id BIGINT, country TEXT, '
                    "amount DOUBLE PRECISION)")
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".customers (customer_id BIGINT, segment TEXT)')
    with pg_conn.cursor() as cur:
        cur.executemany(f'INSERT INTO "{pg_schema}".orders VALUES (%s, %s, %s, %s)', ORDERS)
        cur.executemany(f'INSERT INTO "{pg_schema}".customers VALUES (%s, %s)', CUSTOMERS)
    config = (f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {pg_schema}}}\n"
              "defaults: {connection: pg}\n")
    root = _project(tmp_path / "p", config, "unique: [customer_id]\n")
    assert "customers" not in recipe_sql(load_project(root), "by_country")["by_country"]
    assert build(load_project(root)).ok
    rows = pg_conn.execute(f'SELECT country, n, amount FROM "{pg_schema}".by_country ORDER BY country').fetchall()
    assert rows == [("DE", 2, 8.5), ("FR", 2, 15.0), ("IT", 1, 2.0)]
    pg_conn.execute(f'INSERT INTO "{pg_schema}".customers VALUES (1, \'again\')')
    with pytest.raises(ProjectError, match=r"customer_id = 1 is in 2 rows"):
        build(load_project(root), mode="forced")

"""Shared helpers of the bundle and deploy tests (no tests here).

``tests/automation`` has no ``__init__.py`` of ours, so the test files load this one by path.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tideflow.models import Registry

SECRET = "s3cret-Pa55word-xyz"

CONFIG = """\
name: shop
# dev settings: a local DuckDB file
connections:
  dev_db:
    type: duckdb
    path: dev.duckdb
defaults:
  connection: dev_db
"""

DATASETS = {
    "orders.yaml": "description: raw orders\nconnection: dev_db  # the source table\ntable: orders\n",
    "revenue.yaml": "connection: dev_db\n",
    "top_countries.yaml": "connection: dev_db\n",
}

RECIPES = {
    "revenue.yaml": """\
type: group
inputs: orders
outputs: revenue
keys: [country]
aggregations:
  - {fn: count, output: orders}
  - {fn: sum, column: amount, output: total}
""",
    "top_countries.yaml": "type: sql\ninputs: revenue\noutputs: top_countries\nfile: top_countries.sql\n",
    "top_countries.sql": "SELECT country, total FROM revenue WHERE total > 10\n",
}

DEV_ROWS = [("fr", 10.0), ("fr", 5.0), ("de", 7.0)]
PROD_ROWS = [("fr", 100.0), ("us", 50.0), ("us", 25.0), ("de", 1.0)]


def duck(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def seed_orders(path: Path, rows: list[tuple[str, float]]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE OR REPLACE TABLE orders (country VARCHAR, amount DOUBLE)")
        con.executemany("INSERT INTO orders VALUES (?, ?)", rows)
    finally:
        con.close()


def write_shop(root: Path, *, with_models: bool = True) -> Path:
    """A project with a DuckDB dev connection, a group recipe, a SQL recipe file, a scenario, a model, an API."""
    for folder in ("datasets", "recipes", "scenarios", "models", "api", ".tide"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text(CONFIG)
    for name, text in DATASETS.items():
        (root / "datasets" / name).write_text(text)
    for name, text in RECIPES.items():
        (root / "recipes" / name).write_text(text)
    (root / "recipes" / "__pycache__").mkdir(exist_ok=True)
    (root / "recipes" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (root / "scenarios" / "nightly.yaml").write_text("trigger: {cron: '0 2 * * *'}\nsteps:\n  - build: all\n"
                                                  "  - {sql: 'SELECT 1', connection: dev_db}\n")
    (root / ".tide" / "secrets.yaml").write_text(f"dev_password: {SECRET}\n")
    seed_orders(root / "dev.duckdb", DEV_ROWS)
    if with_models:
        (root / "models" / "fraud.yaml").write_text("input: revenue\ntarget: orders\n")
        (root / "api" / "scoring.yaml").write_text(
            "endpoints:\n  - {name: score, type: prediction, model: fraud, version: 1}\n")
        with Registry(root / ".tide") as registry:
            for version in (1, 2, 3):
                registry.save("fraud", {"weights": [version]}, algorithm="logistic", metric="auc",
                              score=0.5 + version / 10, metrics={"auc": 0.5 + version / 10},
                              input_schema={"total": "double"}, record={"seed": version})
            registry.activate("fraud", 2)
            registry.save("unused", {"w": 0}, algorithm="tree", metric="auc", score=0.1, metrics={},
                          input_schema={}, record={})
    return root


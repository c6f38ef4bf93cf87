"""Fixture recipes (one or more per kind) and the hand data they run on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tideflow.recipes import ColumnType, recipe_adapter
from tideflow.recipes.types import Schema

T = ColumnType

ORDERS_SCHEMA: Schema = {
    "id": T.INTEGER,
    "customer": T.STRING,
    "amount": T.DOUBLE,
    "qty": T.INTEGER,
    "note": T.STRING,
    "day": T.DATE,
    "ts": T.TIMESTAMP,
    "paid": T.BOOLEAN,
}
ORDERS_ROWS: list[tuple[Any, ...]] = [
    (1, "alice", 10.5, 3, " 42 ", dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 10, 30, 15), True),
    (2, "bob", 2.5, 0, "x-1-y", dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 59, 59), False),
    (3, "Alice", -2.5, -7, "3.5", dt.date(2023, 12, 31), dt.datetime(2023, 12, 31, 0, 0, 0), None),
    (4, None, None, None, None, None, None, None),
    (5, "bob", 7.0, 2, "", dt.date(2024, 3, 4), dt.datetime(2024, 3, 4, 12, 0, 0), True),
    (6, "émile", 0.5, 5, "2024-02-30", dt.date(2024, 3, 5), dt.datetime(2024, 3, 5, 6, 7, 8), False),
]
CUSTOMERS_SCHEMA: Schema = {"name": T.STRING, "city": T.STRING, "tier": T.INTEGER}
CUSTOMERS_ROWS: list[tuple[Any, ...]] = [
    ("alice", "Paris", 1),
    ("bob", "Oslo", 2),
    ("carol", "Rome", 3),
    (None, "Nowhere", 9),
]
TABLES = {"orders": (ORDERS_SCHEMA, ORDERS_ROWS), "customers": (CUSTOMERS_SCHEMA, CUSTOMERS_ROWS)}


def recipe(**spec: Any) -> Any:
    spec.setdefault("name", spec["type"])
    spec.setdefault("inputs", ["orders"])
    spec.setdefault("outputs", ["out"])
    return recipe_adapter.validate_python(spec)


RECIPES: dict[str, Any] = {
    "prepare": recipe(
        type="prepare",
        steps=[
            {"op": "filter", "expr": "id <> 4"},
            {"op": "formula", "column": "ratio", "expr": "qty / 2"},
            {"op": "formula", "column": "rem", "expr": "qty % 4"},
            {"op": "formula", "column": "half", "expr": "round(amount / 4, 1)"},
            {"op": "cast", "columns": ["note"], "to": "integer"},
            {"op": "rename", "columns": {"customer": "who"}},
            {"op": "fill_empty", "columns": ["who"], "value": "?"},
            {"op": "replace", "columns": ["who"], "replacements": [{"old": "bob", "new": "robert"}]},
            {"op": "trim", "columns": ["who"]},
            {"op": "case", "columns": ["who"], "mode": "upper"},
            {"op": "concat", "columns": ["who", "qty"], "separator": "/", "output": "label"},
            {"op": "split", "column": "label", "separator": "/", "outputs": ["p1", "p2", "p3"]},
            {
                "op": "regex_extract",
                "column": "who",
                "pattern": "^([A-Z])([A-Z]+)",
                "group": 2,
                "output": "tail",
            },
            {"op": "date_part", "column": "ts", "part": "dayofweek", "output": "dow"},
            {"op": "date_diff", "start": "day", "end": "ts", "unit": "hour", "output": "hours"},
            {
                "op": "if_then_else",
                "output": "size",
                "cases": [{"when": "qty > 2", "then": "'big'"}],
                "else": "'small'",
            },
            {"op": "flag", "output": "rich", "expr": "amount > 5"},
            {"op": "round", "columns": ["amount"], "decimals": 0},
            {"op": "bin", "column": "amount", "output": "bucket", "width": 5},
            {"op": "drop", "columns": ["ts"]},
            {
                "op": "keep",
                "columns": [
                    "id",
                    "who",
                    "ratio",
                    "rem",
                    "half",
                    "note",
                    "label",
                    "p1",
                    "p2",
                    "p3",
                    "tail",
                    "dow",
                    "hours",
                    "size",
                    "rich",
                    "amount",
                    "bucket",
                ],
            },
        ],
    ),
    "group": recipe(
        type="group",
        keys=["customer"],
        aggregations=[
            {"fn": "count"},
            {"fn": "count", "column": "amount"},
            {"fn": "count_distinct", "column": "qty"},
            {"fn": "sum", "column": "qty"},
            {"fn": "sum", "column": "amount"},
            {"fn": "avg", "column": "qty"},
            {"fn": "min", "column": "note"},
            {"fn": "max", "column": "paid"},
            {"fn": "stddev", "column": "amount"},
            {"fn": "first", "column": "note", "order_by": [{"column": "id"}]},
            {"fn": "last", "column": "amount", "order_by": [{"column": "id"}]},
            {"fn": "concat", "column": "id", "separator": ";", "order_by": [{"column": "id", "desc": True}]},
        ],
    ),
    "join": recipe(
        type="join",
        inputs=["orders", "customers"],
        outputs=["out", "lonely"],
        joins=[{"with": "customers", "type": "left", "on": [{"left": "customer", "right": "name"}]}],
        select={"customers": {"prefix": "c_"}},
        unmatched_output="lonely",
    ),
    "window": recipe(
        type="window",
        partition_by=["customer"],
        order_by=[{"column": "id"}],
        functions=[
            {"fn": "row_number"},
            {"fn": "rank"},
            {"fn": "lag", "column": "amount"},
            {"fn": "lead", "column": "qty", "offset": 2},
            {"fn": "sum", "column": "qty", "output": "running_qty"},
            {"fn": "avg", "column": "amount", "frame": {"preceding": 1, "following": 1}},
            {"fn": "count", "frame": {"preceding": None, "following": None}, "output": "n_rows"},
        ],
    ),
    "stack": recipe(type="stack", inputs=["orders", "customers"], origin_column="src"),
    "distinct": recipe(type="distinct", columns=["customer", "paid"], count_column="n"),
    "sort": recipe(type="sort", order_by=[{"column": "customer"}, {"column": "amount", "desc": True}]),
    "top_n": recipe(
        type="top_n",
        partition_by=["paid"],
        order_by=[{"column": "amount", "desc": True}],
        first=1,
        last=1,
        rank_column="rank",
    ),
    "split_rules": recipe(
        type="split",
        outputs=["big", "small", "rest"],
        rules=[{"output": "big", "expr": "amount >= 5"}, {"output": "small", "expr": "amount < 5"}],
        else_output="rest",
    ),
    "split_random": recipe(
        type="split",
        outputs=["train", "test"],
        random={"seed": 42, "key": ["id"], "ratios": {"train": 0.7, "test": 0.3}},
    ),
    "sample": recipe(type="sample", mode="random", fraction=0.5, seed=7, key=["id", "customer"]),
    "sample_first": recipe(type="sample", mode="first", n=2, order_by=[{"column": "amount", "nulls": "first"}]),
    "pivot": recipe(
        type="pivot",
        index=["paid"],
        column="customer",
        values=["alice", "bob"],
        aggregations=[{"fn": "count"}, {"fn": "sum", "column": "qty"}],
    ),
    "sql": recipe(
        type="sql",
        inputs=["orders", "customers"],
        dialect="duckdb",
        sql="SELECT o.id, c.city, o.amount * 2 AS double_amount FROM orders AS o "
        "JOIN customers c ON o.customer = c.name WHERE o.amount > 1",
    ),
}

"""Hostile names and values never change a query's meaning on either database."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.engines.sql import compile_recipe, to_sql
from tideflow.recipes import ColumnType

from .cases import recipe
from .harness import fetch_duck, fetch_pg, inputs_for, load_duck, load_pg, sort_rows

T = ColumnType
EVIL_COL = 'a"; DROP TABLE victim; --'
EVIL_COL2 = "b'); DELETE FROM victim; --"
EVIL_TABLE = 'in"; DROP TABLE victim; --'
EVIL_VALUE = "'); DROP TABLE victim; --"
UNICODE_COL = "naïve col ü 日本"

TABLES = {
    EVIL_TABLE: (
        {EVIL_COL: T.STRING, EVIL_COL2: T.INTEGER, UNICODE_COL: T.STRING},
        [(EVIL_VALUE, 1, "x"), ("plain", 2, "y"), (None, 3, EVIL_VALUE), ('"quoted"', 4, "z")],
    ),
    "victim": ({"v": T.INTEGER}, [(1,), (2,)]),
}

SPECS = [
    recipe(
        type="prepare",
        inputs=[EVIL_TABLE],
        steps=[
            {"op": "filter", "rules": [{"column": EVIL_COL, "op": "in", "value": [EVIL_VALUE, '"quoted"']}]},
            {"op": "formula", "column": "lit", "expr": "'it''s; DROP TABLE victim; --'"},
            {"op": "fill_empty", "columns": [UNICODE_COL], "value": EVIL_VALUE},
            {"op": "replace", "columns": [EVIL_COL], "replacements": [{"old": EVIL_VALUE, "new": "safe"}]},
            {
                "op": "concat",
                "columns": [EVIL_COL, UNICODE_COL],
                "separator": "'; --",
                "output": EVIL_COL + "2",
            },
            {"op": "rename", "columns": {EVIL_COL2: 'x"y'}},
        ],
    ),
    recipe(
        type="group",
        inputs=[EVIL_TABLE],
        keys=[UNICODE_COL],
        aggregations=[{"fn": "sum", "column": EVIL_COL2, "output": EVIL_COL}],
    ),
    recipe(
        type="pivot",
        inputs=[EVIL_TABLE],
        column=EVIL_COL,
        values=[EVIL_VALUE, "plain"],
        aggregations=[{"fn": "count"}],
    ),
    recipe(
        type="split",
        inputs=[EVIL_TABLE],
        outputs=[EVIL_VALUE, "rest"],
        rules=[{"output": EVIL_VALUE, "expr": f"\"{EVIL_COL.replace(chr(34), chr(34) * 2)}\" = 'plain'"}],
        else_output="rest",
    ),
    recipe(type="sample", inputs=[EVIL_TABLE], mode="random", fraction=0.99, seed=1, key=[EVIL_COL, EVIL_COL2]),
]

EXPECTED = [
    {"out": sort_rows([("safe", 1, "x", "lit", "safe'; --x"), ('"quoted"', 4, "z", "lit", '"quoted"\'; --z')])},
    {"out": sort_rows([("x", 1), ("y", 2), (EVIL_VALUE, 3), ("z", 4)])},
    {"out": [(1, 1)]},
    {
        EVIL_VALUE: [("plain", 2, "y")],
        "rest": sort_rows([(EVIL_VALUE, 1, "x"), (None, 3, EVIL_VALUE), ('"quoted"', 4, "z")]),
    },
    None,
]


def _fix(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple("lit" if v == "it's; DROP TABLE victim; --" else v for v in r) for r in rows]


@pytest.mark.parametrize("index", range(len(SPECS)))
def test_hostile_names_and_values(index: int, duck: Any, pg_conn: Any, pg_schema: str) -> None:
    spec = SPECS[index]
    load_duck(duck, TABLES)
    load_pg(pg_conn, pg_schema, TABLES)
    d = compile_recipe(spec, inputs_for(TABLES), "duckdb")
    p = compile_recipe(spec, inputs_for(TABLES, pg_schema), "postgres")
    for name in d:
        drows = _fix(sort_rows(fetch_duck(duck, d[name])))
        prows = _fix(sort_rows(fetch_pg(pg_conn, p[name])))
        assert drows == prows
        if EXPECTED[index] is not None:
            assert drows == EXPECTED[index][name]  # type: ignore[index]
        else:
            assert len(drows) <= 4
    assert duck.execute('SELECT count(*) FROM "victim"').fetchall() == [(2,)]
    assert pg_conn.execute(f'SELECT count(*) FROM "{pg_schema}"."victim"').fetchall() == [(2,)]


def test_hostile_text_stays_inside_literals_and_identifiers() -> None:
    spec = SPECS[0]
    for dialect in ("duckdb", "postgres"):
        text = to_sql(compile_recipe(spec, inputs_for(TABLES), dialect)["out"], dialect, pretty=False)
        assert '"a""; DROP TABLE victim; --"' in text
        assert "'''); DROP TABLE victim; --'" in text

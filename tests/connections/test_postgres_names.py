"""A column name over PostgreSQL's 63 bytes, written by a recipe the memory engine runs (its columns are
known only when it returns): the build fails with a worded error and the previous output stays, where
PostgreSQL would have cut the name silently, or failed with a raw DuplicateColumn for two such names."""

from __future__ import annotations

from pathlib import Path

from tideflow.flow import build
from tideflow.project import load_project

RECIPE = "type: python\ninputs: src\noutputs: out\nfile: add.py\nfunction: add\n"
CODE = """import polars as pl

def add(inputs):
    return inputs["src"].with_columns(pl.lit(1).alias({a!r}), pl.lit(2).alias({b!r}))
"""
LONG = "a_column_name_that_runs_past_the_postgres_limit_of_sixty_three_b"  # 64 bytes


def _project(root: Path, schema: str, a: str, b: str) -> Path:
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    (root / "recipes").mkdir(exist_ok=True)
    (root / "tideflow.yaml").write_text(
        f"name: t\nconnections:\n  pg:\n    type: postgres\n    dbname: test\n    user: postgres\n"
        f"    schema: {schema}\ndefaults: {{connection: pg}}\n")
    (root / "datasets" / "src.yaml").write_text("table: src\n")
    (root / "recipes" / "add.yaml").write_text(RECIPE)
    (root / "recipes" / "add.py").write_text(CODE.format(a=a, b=b))
    return root


def test_a_long_output_column_fails_the_build_and_keeps_the_previous_output(tmp_path: Path, pg_schema: str,
                                                                            pg_conn: object) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".src AS SELECT 1 AS id')  # type: ignore[attr-defined]
    root = _project(tmp_path / "proj", pg_schema, "x", "y")
    first = build(load_project(root))
    assert first.ok, first.failed
    rows = pg_conn.execute(f'SELECT id, x, y FROM "{pg_schema}".out').fetchall()  # type: ignore[attr-defined]
    assert rows == [(1, 1, 2)]

    for a, b in ((LONG, "y"), (LONG + "1", LONG + "2")):
        _project(root, pg_schema, a, b)
        result = build(load_project(root), mode="forced")
        assert not result.ok
        (failed,) = result.failed
        assert failed.error == (
            f"cannot write table 'out' on connection 'pg': output column name '{a}' is {len(a)} bytes long; a "
            "postgres database keeps only the first 63 bytes of a name (two long names could become one): "
            "expected at most 63 bytes, shorten it")
        assert pg_conn.execute(  # type: ignore[attr-defined]
            f'SELECT id, x, y FROM "{pg_schema}".out').fetchall() == rows

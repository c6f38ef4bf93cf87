"""Which database column types Tideflow reads, and the clear refusal of the others (lists, structs, maps,
intervals, bytes). Type names were matched by substring: DuckDB's INTEGER[] and INTERVAL and
PostgreSQL's point read as integers, and `tide dataset head` then failed with a traceback."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.connections.base import UnreadColumnType, arrow_read_type, logical_type
from tideflow.flow import Workspace
from tideflow.project import load_project
from tideflow.recipes import ColumnType as T


@pytest.mark.parametrize(("physical", "logical"), [
    ("BIGINT", T.INTEGER), ("integer", T.INTEGER), ("int4", T.INTEGER), ("HUGEINT", T.INTEGER),
    ("UBIGINT", T.INTEGER), ("smallint", T.INTEGER),
    ("DOUBLE", T.DOUBLE), ("double precision", T.DOUBLE), ("DECIMAL(18,3)", T.DOUBLE), ("numeric", T.DOUBLE),
    ("float8", T.DOUBLE), ("REAL", T.DOUBLE),
    ("BOOLEAN", T.BOOLEAN), ("bool", T.BOOLEAN), ("DATE", T.DATE),
    ("TIMESTAMP", T.TIMESTAMP), ("timestamp without time zone", T.TIMESTAMP),
    ("TIMESTAMP WITH TIME ZONE", T.TIMESTAMP), ("TIMESTAMP_NS", T.TIMESTAMP),
    ("VARCHAR", T.STRING), ("character varying", T.STRING), ("text", T.STRING), ("UUID", T.STRING),
    ("point", T.STRING), ("json", T.STRING), ("USER-DEFINED", T.STRING), ("TIME", T.STRING),
    ("INTEGER[]", None), ("VARCHAR[3]", None), ("_int4", None), ("ARRAY", None), ("INTERVAL", None),
    ("interval", None), ("STRUCT(a INTEGER)", None), ("MAP(VARCHAR, INTEGER)", None), ("BLOB", None),
    ("bytea", None), ("UNION(a INTEGER, b VARCHAR)", None),
])
def test_type_names_map_by_whole_name(physical: str, logical: T | None) -> None:
    assert logical_type(physical) == logical


@pytest.mark.parametrize(("dtype", "logical"), [
    (pa.int64(), T.INTEGER), (pa.float64(), T.DOUBLE), (pa.string(), T.STRING), (pa.bool_(), T.BOOLEAN),
    (pa.date32(), T.DATE), (pa.timestamp("us"), T.TIMESTAMP), (pa.dictionary(pa.int8(), pa.string()), T.STRING),
    (pa.list_(pa.int64()), None), (pa.struct([("a", pa.int64())]), None), (pa.binary(), None),
    (pa.duration("s"), None), (pa.map_(pa.string(), pa.int64()), None),
])
def test_arrow_types(dtype: pa.DataType, logical: T | None) -> None:
    assert arrow_read_type(dtype) == logical


MESSAGE = ("table main.listy on connection 'warehouse': column 'l' has type INTEGER[], which Tideflow does not "
           "read: expected boolean, integer, double, string, date or timestamp; cast it where it is made "
           "(e.g. CAST(l AS VARCHAR)) or leave it out")


def test_a_duckdb_list_column_is_refused_by_every_reader_with_the_cast_that_fixes_it(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})
    root = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    (root / "recipes" / "listy.yaml").write_text("type: sql\ninputs: [orders]\noutputs: listy\nfile: listy.sql\n")
    (root / "recipes" / "listy.sql").write_text("SELECT order_id, CAST([1, 2] AS VARCHAR) AS l FROM orders LIMIT 1")
    assert runner.invoke(app, ["flow", "build", "--project", str(root)]).exit_code == 0
    schema = runner.invoke(app, ["dataset", "schema", "listy", "--project", str(root)])
    assert schema.exit_code == 0 and "string" in schema.output

    # a build whose output Tideflow could not read fails before the swap: the previous table stays
    (root / "recipes" / "listy.sql").write_text("SELECT order_id, [1, 2] AS l FROM orders LIMIT 1")
    build = runner.invoke(app, ["flow", "build", "--project", str(root)])
    assert build.exit_code == 1
    said = " ".join(build.output.split())
    assert MESSAGE.replace("table main.listy on connection 'warehouse'", "output 'listy' of recipe 'listy'") in said
    assert runner.invoke(app, ["dataset", "schema", "listy", "--project", str(root)]).exit_code == 0

    # a table made outside Tideflow: every reader refuses it with the same words, never a traceback
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        con.execute("CREATE OR REPLACE TABLE listy AS SELECT 1 AS order_id, [1, 2] AS l")
    for command in (["dataset", "schema", "listy"], ["dataset", "head", "listy"],
                    ["dataset", "head", "listy", "--format", "csv"], ["dataset", "metrics", "listy"]):
        result = runner.invoke(app, [*command, "--project", str(root)])
        assert result.exit_code == 2, (command, result.output)
        assert " ".join(result.output.split()) == f"error: {MESSAGE}", command
        assert "Traceback" not in result.output


def _pg_project(root: Path, schema: str, table: str) -> None:
    """A project whose one dataset is ``table`` in ``schema`` on the test server."""
    (root / "datasets").mkdir()
    (root / "tideflow.yaml").write_text(
        f"name: t\nconnections:\n  pg: {{type: postgres, dbname: test, user: postgres, schema: {schema}}}\n"
        "defaults: {connection: pg}\n")
    (root / "datasets" / f"{table}.yaml").write_text(f"table: {table}\n")


def test_postgres_arrays_and_intervals_are_refused(pg_schema: str, pg_conn: Any, tmp_path: Path) -> None:
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".t AS SELECT 1 AS id, ARRAY[1, 2] AS a, INTERVAL \'3 days\' AS i, '
                    "point(1, 2) AS p")
    _pg_project(tmp_path, pg_schema, "t")
    with Workspace(load_project(tmp_path)) as workspace:
        sql = workspace.sql("pg")
        with pytest.raises(UnreadColumnType, match=rf"^table {pg_schema}.t on connection 'pg': column 'a' has type "
                                                   r"ARRAY, which Tideflow does not read"):
            sql.table_schema("t")
        with pytest.raises(UnreadColumnType, match=r"^a query on connection 'pg': column 'i' has type interval"):
            sql.query_schema(f'SELECT id, i FROM "{pg_schema}".t')
        assert sql.query_schema(f'SELECT id, p FROM "{pg_schema}".t') == {"id": T.INTEGER, "p": T.STRING}
        # psycopg files an array's type under its element's: int4[] must not read as an integer
        with pytest.raises(UnreadColumnType, match=r"^a query on connection 'pg': column 'a' has type _int4"):
            sql.query_schema(f'SELECT id, a FROM "{pg_schema}".t')


def test_postgres_rows_keep_the_servers_types_when_no_value_says_them(pg_schema: str, pg_conn: Any,
                                                                       tmp_path: Path) -> None:
    """An empty table or a column of NULLs read into memory kept no type (Arrow's null, then a string): a
    memory recipe summing such a BIGINT column failed with "must be integer or double, got type string"."""
    pg_conn.execute(f'CREATE TABLE "{pg_schema}".e (n BIGINT, x DOUBLE PRECISION, d DATE, b BOOLEAN, s TEXT, '
                    "u UUID, j JSONB, m NUMERIC)")
    _pg_project(tmp_path, pg_schema, "e")
    expected = pa.schema([("n", pa.int64()), ("x", pa.float64()), ("d", pa.date32()), ("b", pa.bool_()),
                          ("s", pa.string()), ("u", pa.string()), ("j", pa.string()), ("m", pa.float64())])
    with Workspace(load_project(tmp_path)) as workspace:
        assert workspace.read_arrow("e").schema == expected  # no rows
        pg_conn.execute(f'INSERT INTO "{pg_schema}".e VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), '
                        "(NULL, NULL, NULL, NULL, NULL, '00000000-0000-0000-0000-000000000001', '{\"k\": [1]}', 2.5)")
        data = workspace.read_arrow("e")
        assert data.schema.remove(7) == expected.remove(7)  # all NULL but u, j and m
        assert data.column("u").to_pylist()[1] == "00000000-0000-0000-0000-000000000001"
        assert data.column("j").to_pylist()[1] == '{"k": [1]}'
        # NUMERIC values stay exact (a SUM of BIGINTs is NUMERIC on PostgreSQL: 2**53 + 1 must not round)
        assert pa.types.is_decimal(data.schema.field("m").type) and data.column("m").to_pylist()[1] == Decimal("2.5")


def test_a_parquet_list_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"id": [1], "tags": [["a", "b"]]}), tmp_path / "data" / "tagged.parquet")
    (tmp_path / "tideflow.yaml").write_text("name: t\nconnections:\n  raw: {type: files, root: data}\n"
                                            "defaults: {connection: raw}\n")
    (tmp_path / "datasets" / "tagged.yaml").write_text("connection: raw\npath: tagged.parquet\n")
    with Workspace(load_project(tmp_path)) as workspace, pytest.raises(
            UnreadColumnType, match=r"^dataset 'tagged' \(.*tagged.parquet\): column 'tags' has type "
                                    r"list<element: string>, which Tideflow does not read"):
        workspace.stored_schema("tagged")

"""A build writes each output as a temporary table, then swaps it in; the next build drops what a killed
one left behind. It drops only the temporaries of the table it writes: never those of ``big_copy`` when
it writes ``big``, nor those of a name alike in its first 30 characters (which another recipe of the
same build may be writing at that moment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tideflow.connections.base import SqlConnection, is_temp_of, temp_table_name
from tideflow.connections.duck import DuckDBSql
from tideflow.connections.files import FileStore
from tideflow.connections.postgres import PostgresSql
from tideflow.project import DatasetSpec, FilesConnection

from ..conftest import PG_DSN

LONG = "a_table_name_of_more_than_thirty_characters"
NAMES = ["big", "big_copy", LONG + "_one", LONG + "_two", "naïve ✓ 表", 'q"; drop']


def test_temporary_names_belong_to_one_table_and_fit_postgresql() -> None:
    for name in NAMES:
        temp = temp_table_name(name)
        assert len(temp.encode("utf-8")) <= 63 and temp.isascii(), temp
        assert is_temp_of(temp, name)
        assert [other for other in NAMES if is_temp_of(temp, other)] == [name]
    assert temp_table_name("big") != temp_table_name("big")
    assert not is_temp_of(temp_table_name("big")[:-1], "big")


@pytest.fixture(params=["duckdb", "postgres"])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlConnection]:
    if request.param == "duckdb":
        con = duckdb.connect(str(tmp_path / "wh.duckdb"))
        yield DuckDBSql("wh", con)
        con.close()
        return
    import psycopg

    schema = request.getfixturevalue("pg_schema")
    with psycopg.connect(PG_DSN, autocommit=True) as pg:
        yield PostgresSql("pg", pg, schema)


@pytest.mark.postgres
def test_stale_temporaries_of_a_table_are_dropped_and_no_others(sql: SqlConnection) -> None:
    temps = {name: temp_table_name(name) for name in NAMES}
    for temp in temps.values():
        sql.write_arrow(temp, pa.table({"x": [1]}))  # what killed builds left (written as plain tables)
    sql.drop_stale_temps("big")
    sql.drop_stale_temps(LONG + "_one")
    left = {name for name, temp in temps.items() if sql.table_schema(temp) is not None}
    assert left == set(NAMES) - {"big", LONG + "_one"}


def test_a_files_output_drops_its_own_leftover_temporary_files(tmp_path: Path) -> None:
    files = FileStore("files", FilesConnection(type="files", root="data"), tmp_path)
    spec = DatasetSpec(name="out", connection="files", path="out.csv")
    (tmp_path / "data").mkdir()
    mine = tmp_path / "data" / ".out.csv.0123abcd.tmp"
    other = tmp_path / "data" / ".out.csv.backup.tmp"  # not the shape of a temporary: left alone
    neighbour = tmp_path / "data" / ".out.csv2.0123abcd.tmp"
    for path in (mine, other, neighbour):
        path.write_text("x")
    assert files.write_arrow(spec, pa.table({"x": [1, 2]})) == 2
    assert not mine.exists() and other.exists() and neighbour.exists()
    assert (tmp_path / "data" / "out.csv").read_text().splitlines() == ['"x"', "1", "2"]

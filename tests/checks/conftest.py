"""Helpers for checks tests: Tideflow connections over the shared DuckDB / PostgreSQL fixtures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tideflow.connections import DuckDBSql, PostgresSql
from tideflow.recipes import ColumnType, Schema

ARROW = {ColumnType.INTEGER: pa.int64(), ColumnType.DOUBLE: pa.float64(), ColumnType.STRING: pa.string(),
         ColumnType.DATE: pa.date32(), ColumnType.TIMESTAMP: pa.timestamp("us"), ColumnType.BOOLEAN: pa.bool_()}


def arrow_table(rows: Sequence[Mapping[str, Any]], schema: Schema) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in rows], type=ARROW[t]) for c, t in schema.items()},
                    schema=pa.schema([(c, ARROW[t]) for c, t in schema.items()]))


@pytest.fixture()
def duck_sql(duck: duckdb.DuckDBPyConnection) -> DuckDBSql:
    return DuckDBSql("duck", duck.cursor())


@pytest.fixture()
def pg_sql(pg_conn: Any, pg_schema: str) -> Iterator[PostgresSql]:
    yield PostgresSql("pg", pg_conn, pg_schema)  # the session fixture owns (and closes) the connection


DAY = dt.date(2024, 1, 1)

"""The engines the differential tests compare: an in-memory DuckDB and a scratch schema on the real
PostgreSQL server (dropped after the module). The memory engine needs no fixture."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from psycopg import sql as pgsql


@pytest.fixture(scope="module")
def engines(pg_conn: Any) -> Iterator[dict[str, Any]]:
    schema = f"tide_diff_{uuid.uuid4().hex[:10]}"
    pg_conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    duck = duckdb.connect(":memory:")
    try:
        yield {"duck": duck, "pg": pg_conn, "schema": schema}
    finally:
        duck.close()
        pg_conn.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))

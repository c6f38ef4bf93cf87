"""Shared fixtures: real DuckDB and the real PostgreSQL server on 127.0.0.1:5432.

A test that needs PostgreSQL fails (never skips) when the server is down: CI must not go green
without it. ``make test`` starts the server if it is not running.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import duckdb
import pytest

PG_DSN = os.environ.get("TIDE_TEST_PG_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")


@pytest.fixture()
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh in-memory DuckDB connection."""
    con = duckdb.connect(":memory:")
    try:
        yield con
    finally:
        con.close()


@pytest.fixture(scope="session")
def pg_conn() -> Iterator[object]:
    """One autocommit psycopg connection to the test server for the whole session."""
    import psycopg

    try:
        con = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:  # fail, do not skip
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required for this test and is not reachable: {err}")
    try:
        yield con
    finally:
        con.close()


@pytest.fixture()
def pg_schema(pg_conn: object) -> Iterator[str]:
    """A fresh schema in the test database, dropped after the test. Yields its name."""
    from psycopg import sql

    name = f"tide_test_{uuid.uuid4().hex[:12]}"
    pg_conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))  # type: ignore[attr-defined]
    try:
        yield name
    finally:
        pg_conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))  # type: ignore[attr-defined]

"""Connections to where datasets live: DuckDB (embedded default), PostgreSQL, files.

Credentials come from environment variables or the ignored ``.tide/secrets.yaml`` and never appear
in logs, errors or explain output.
"""

from tideflow.connections.base import (
    SqlConnection,
    UnreadColumnType,
    arrow_logical_type,
    logical_type,
    temp_table_name,
)
from tideflow.connections.duck import DatabaseBusy, DuckDBDatabase, DuckDBSql
from tideflow.connections.files import FileStore
from tideflow.connections.postgres import PostgresDatabase, PostgresSql

__all__ = [
    "DatabaseBusy",
    "DuckDBDatabase",
    "DuckDBSql",
    "FileStore",
    "PostgresDatabase",
    "PostgresSql",
    "SqlConnection",
    "UnreadColumnType",
    "arrow_logical_type",
    "logical_type",
    "temp_table_name",
]

"""Embedded DuckDB: the default warehouse, a file under the project's ``.tide/``."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from tideflow.connections.base import (
    BeforeSwap,
    SqlConnection,
    is_temp_of,
    read_schema,
    temp_prefix,
    temp_table_name,
)
from tideflow.errors import ConnectionError_
from tideflow.project import DuckDBConnection
from tideflow.recipes import Schema

# How long opening the file waits for another process's lock: a process that holds it for minutes (a
# build, an API node with a sql_query endpoint) still stops this one, clearly; a short read does not.
LOCK_WAIT_S = 5.0
_LOCKED = "Could not set lock on file"  # DuckDB's words when another process holds the file


class DatabaseBusy(ConnectionError_):
    """Another process holds the DuckDB file's lock (DuckDB admits one writing process per file)."""


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def open_duckdb(path: str, connection: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file ``path`` of ``connection``, waiting up to ``LOCK_WAIT_S`` while another
    process holds its lock (DuckDB admits one process per file while one writes: another build, a
    ``tide dataset head``, an API node building a lookup's index); ``DatabaseBusy`` after that, and
    ``ConnectionError_`` naming the connection and the file for any other failure."""
    deadline = time.monotonic() + LOCK_WAIT_S
    pause_s = 0.005
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as err:
            if _LOCKED not in str(err):
                raise ConnectionError_(f"connection {connection!r}: cannot open DuckDB file {path}: "
                                       f"{err}") from None
            if time.monotonic() >= deadline:
                raise DatabaseBusy(f"connection {connection!r}: DuckDB file {path} is held by another "
                                   f"process for more than {LOCK_WAIT_S:g} s: {err}") from None
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 0.1)
        except duckdb.Error as err:
            raise ConnectionError_(f"connection {connection!r}: cannot open DuckDB file {path}: {err}") from None


class DuckDBDatabase:
    """A DuckDB database (file or memory) opened once, shared by threads through cursors."""

    def __init__(self, name: str, spec: DuckDBConnection, project_root: Path) -> None:
        self.name = name
        self.spec = spec
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        if spec.path == ":memory:":
            self.path = ":memory:"
        else:
            path = (project_root / spec.path).resolve()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConnectionError_(f"connection {name!r}: cannot create folder {path.parent} for DuckDB file "
                                       f"{path.name}: {err.strerror or err}") from None
            self.path = str(path)

    def root_connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = self._open()
                if self.spec.threads:
                    self._con.execute(f"SET threads = {int(self.spec.threads)}")
            return self._con

    def connect(self) -> DuckDBSql:
        return DuckDBSql(self.name, self.root_connection().cursor(), self.spec.schema_)

    def _open(self) -> duckdb.DuckDBPyConnection:
        return open_duckdb(self.path, self.name)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


class DuckDBSql(SqlConnection):
    """A DuckDB cursor (one per thread)."""

    dialect = "duckdb"

    def __init__(self, name: str, cursor: duckdb.DuckDBPyConnection, schema: str = "main") -> None:
        self.name = name
        self.con = cursor
        self.schema = schema
        if schema != "main":
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")

    def table_ref(self, table: str) -> exp.Expression:
        return exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(self.schema, quoted=True))

    def _qualified(self, table: str) -> str:
        return f"{_ident(self.schema)}.{_ident(table)}"

    def table_schema(self, table: str) -> Schema | None:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.schema, table],
        ).fetchall()
        if not rows:
            return None
        where = f"table {self.schema}.{table} on connection {self.name!r}"
        return read_schema(((str(n), str(t)) for n, t in rows), where)

    def query_schema(self, sql: str) -> Schema:
        rows = self.con.execute(f"DESCRIBE {sql}").fetchall()
        return read_schema(((str(r[0]), str(r[1])) for r in rows), f"a query on connection {self.name!r}")

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        self.con.execute(sql, list(params) if params else None)

    def fetch_arrow(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        return self.con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def replace_tables(self, statements: dict[str, str], before_swap: BeforeSwap | None = None) -> dict[str, int]:
        temps = {table: temp_table_name(table) for table in statements}
        try:
            for table, select_sql in statements.items():
                self.con.execute(f"CREATE TABLE {self._qualified(temps[table])} AS {select_sql}")
            if before_swap is not None:  # e.g. dataset checks: raising keeps the previous tables
                before_swap(dict(temps))
        except Exception:
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        return self._swap(temps)

    def write_arrow(self, table: str, data: pa.Table) -> int:
        return self.write_arrows({table: data})[table]

    def fetch_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        reader = self.con.sql(sql).to_arrow_reader(batch_rows)
        try:
            yield from reader
        finally:
            reader.close()

    def write_batches(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                      before_swap: BeforeSwap | None = None) -> int:
        temp = self._write_temp(table, schema, batches)
        self.checked_temps({table: temp}, before_swap)
        return self._swap({table: temp})[table]

    def write_arrows(self, tables: dict[str, pa.Table]) -> dict[str, int]:
        temps: dict[str, str] = {}
        try:
            for table, data in tables.items():
                temps[table] = temp = temp_table_name(table)
                view = f"__tide_arrow_{temp}"
                self.con.register(view, data)
                try:
                    self.con.execute(f"CREATE TABLE {self._qualified(temp)} AS SELECT * FROM {_ident(view)}")
                finally:
                    self.con.unregister(view)
        except BaseException:
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        return self._swap(temps)

    def _write_temp(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> str:
        """A new temporary table of ``table`` holding ``batches``; dropped again when writing fails."""
        temp = temp_table_name(table)
        view = f"__tide_arrow_{temp}"
        self.con.register(view, pa.Table.from_batches([], schema=schema))
        try:
            self.con.execute(f"CREATE TABLE {self._qualified(temp)} AS SELECT * FROM {_ident(view)}")
            self.con.unregister(view)
            for batch in batches:
                self.con.register(view, pa.Table.from_batches([batch], schema=schema))
                self.con.execute(f"INSERT INTO {self._qualified(temp)} SELECT * FROM {_ident(view)}")
                self.con.unregister(view)
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(view)
            self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        return temp

    def _swap(self, temps: dict[str, str]) -> dict[str, int]:
        """Swap every temp table in for its target in one transaction."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            for table, temp in temps.items():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(table)}")
                self.con.execute(f"ALTER TABLE {self._qualified(temp)} RENAME TO {_ident(table)}")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        counts = {}
        for table in temps:
            # fetchall, not fetchone: DuckDB 2.0 leaves a half-read result that blocks the next con.sql()
            rows = self.con.execute(f"SELECT count(*) FROM {self._qualified(table)}").fetchall()
            counts[table] = int(rows[0][0]) if rows else 0
        return counts

    def fingerprint(self, table: str) -> str:
        """Row count, the sum of the rows' hashes and the columns' names and types. A sum, not an XOR: two
        equal rows would cancel in an XOR, and so would a change to one of them."""
        columns = self.con.execute(  # fetchall: see _swap
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.schema, table],
        ).fetchall()
        rows = self.con.execute(
            f"SELECT count(*)::BIGINT, coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {self._qualified(table)} AS t"
        ).fetchall()
        row = rows[0] if rows else None
        shape = hashlib.sha256(repr(columns).encode()).hexdigest()[:12]
        return f"{row[0]}:{row[1]}:{shape}" if row else "missing"

    def drop_stale_temps(self, table: str) -> None:
        prefix = temp_prefix(table)
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND starts_with(table_name, ?)",
            [self.schema, prefix],
        ).fetchall()
        for (name,) in rows:
            if is_temp_of(str(name), table):
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(str(name))}")

    def close(self) -> None:
        self.con.close()

"""A project opened for work: its connections, its state store, and dataset I/O."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterable
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from tideflow.connections import DuckDBDatabase, FileStore, PostgresDatabase, SqlConnection
from tideflow.connections.base import BeforeSwap
from tideflow.errors import ConnectionError_, ProjectError, TideflowError
from tideflow.flow.state import StateStore
from tideflow.project import DatasetSpec, Project
from tideflow.recipes import Schema

# How big a table is, per dialect: DuckDB estimates rows x columns x 8 bytes; PostgreSQL knows its pages.
_SIZE_QUERIES = {
    "duckdb": ("SELECT estimated_size * column_count * 8 FROM duckdb_tables() "
               "WHERE schema_name = ? AND table_name = ?", "schema_table"),
    "postgres": ("SELECT pg_total_relation_size(%s::regclass)", "name"),
}


class Workspace:
    """Opens connections lazily; a SQL connection per (connection, thread)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.state = StateStore(project.state_dir)
        self._databases: dict[str, DuckDBDatabase | PostgresDatabase] = {}
        self._files: dict[str, FileStore] = {}
        self._local = threading.local()
        self._opened: list[SqlConnection] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- connections

    def connection_type(self, name: str) -> str:
        return self.project.config.connections[name].type

    def sql(self, name: str) -> SqlConnection:
        """This thread's SQL connection for ``name``."""
        cache: dict[str, SqlConnection] = getattr(self._local, "cache", None) or {}
        self._local.cache = cache
        if name not in cache:
            db = self._database(name)
            con = db.connect()
            cache[name] = con
            with self._lock:
                self._opened.append(con)
        return cache[name]

    def _database(self, name: str) -> DuckDBDatabase | PostgresDatabase:
        with self._lock:
            if name not in self._databases:
                spec = self.project.config.connections[name]
                if spec.type == "duckdb":
                    self._databases[name] = DuckDBDatabase(name, spec, self.project.root)
                elif spec.type == "postgres":
                    self._databases[name] = PostgresDatabase(name, spec, self.project.root)
                else:
                    raise ConnectionError_(f"connection {name!r} is a files connection, not a SQL database")
            return self._databases[name]

    def files(self, name: str) -> FileStore:
        with self._lock:
            if name not in self._files:
                spec = self.project.config.connections[name]
                if spec.type != "files":
                    raise ConnectionError_(f"connection {name!r} is {spec.type}, not files")
                self._files[name] = FileStore(name, spec, self.project.root)
            return self._files[name]

    # -------------------------------------------------------------- datasets

    def dataset_spec(self, name: str) -> DatasetSpec:
        return self.project.dataset(name)

    def is_files(self, dataset: str) -> bool:
        return self.connection_type(self.project.connection_of(dataset)) == "files"

    def file_dataset(self, path: str) -> str | None:
        """``dataset 'orders': data/orders.csv`` for the files dataset stored at ``path``, or None."""
        for name, spec in self.project.datasets.items():
            if not spec.virtual and spec.path and self.is_files(name):
                store = self.files(self.project.connection_of(name))
                if str(store.path_of(spec)) == path:
                    return f"dataset {name!r}: {store.shown(Path(path))}"
        return None

    def relation(self, dataset: str, for_connection: str) -> exp.Expression | None:
        """How a query on ``for_connection`` reads ``dataset``, or None if it cannot."""
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if conn == for_connection and not self.is_files(dataset):
            return self.sql(conn).table_ref(spec.table_name)
        if self.is_files(dataset) and self.connection_type(for_connection) == "duckdb":
            return self.files(conn).relation(spec)
        return None

    def stored_schema(self, dataset: str) -> Schema | None:
        """The schema of the stored dataset, or None if it has not been built / does not exist."""
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            return self.files(conn).schema(spec)
        return self.sql(conn).table_schema(spec.table_name)

    def read_arrow(self, dataset: str, limit: int | None = None) -> pa.Table:
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            data = self.files(conn).read_arrow(spec)
            return data.slice(0, limit) if limit is not None else data
        sql = self.sql(conn)
        if sql.table_schema(spec.table_name) is None:
            raise self.not_there(dataset)
        query = exp.select("*").from_(sql.table_ref(spec.table_name))
        if limit is not None:
            query = query.limit(exp.Literal.number(int(limit)))
        return sql.fetch_arrow(query.sql(sql.dialect))

    def location(self, dataset: str) -> str:
        """Where ``dataset`` is stored, in words: ``table 'x' on connection 'warehouse'`` or its file."""
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            return f"file {self.files(conn).path_of(spec)} on connection {conn!r}"
        return f"table {spec.table_name!r} on connection {conn!r}"

    def not_there(self, dataset: str) -> TideflowError:
        """The error for a dataset whose table or file does not exist: a recipe's output is built by
        ``tide flow build``; a source is not built by the Flow, so its table or file is missing."""
        if dataset in self.project.graph.producer:
            return ProjectError(f"dataset {dataset!r} has not been built yet: run 'tide flow build {dataset}'")
        file = self.project.dataset_files.get(dataset)
        declared = f" (declared in {file})" if file else ""
        key = "path" if self.is_files(dataset) else "table"
        return ConnectionError_(f"source dataset {dataset!r}{declared} cannot be read: {self.location(dataset)} "
                                f"does not exist (a source is not built by the Flow: load it, or fix its {key})")

    def write_arrow(self, dataset: str, data: pa.Table) -> int:
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            return self.files(conn).write_arrow(spec, data)
        sql = self.sql(conn)
        sql.drop_stale_temps(spec.table_name)  # a killed build's leftovers
        return sql.write_arrow(spec.table_name, data)

    def write_arrows(self, data: dict[str, pa.Table]) -> dict[str, int]:
        """Write several datasets (the outputs of one recipe): those of one SQL connection are swapped in
        together, in one transaction; files are each replaced atomically."""
        rows: dict[str, int] = {}
        by_connection: dict[str, dict[str, tuple[str, pa.Table]]] = {}
        for dataset, table in data.items():
            if self.is_files(dataset):
                rows[dataset] = self.write_arrow(dataset, table)
            else:
                spec = self.dataset_spec(dataset)
                by_connection.setdefault(self.project.connection_of(dataset), {})[spec.table_name] = (dataset, table)
        for conn, tables in by_connection.items():
            sql = self.sql(conn)
            for name in tables:
                sql.drop_stale_temps(name)  # a killed build's leftovers
            counts = sql.write_arrows({name: table for name, (_, table) in tables.items()})
            rows.update({dataset: counts[name] for name, (dataset, _) in tables.items()})
        return rows

    def read_batches(self, dataset: str, batch_rows: int) -> Generator[pa.RecordBatch, None, None]:
        """The rows of ``dataset`` in record batches, streamed from its database on a connection of
        their own (so that this thread's connection can write meanwhile). A files dataset is read whole."""
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            yield from self.files(conn).read_arrow(spec).to_batches(max_chunksize=batch_rows)
            return
        if self.sql(conn).table_schema(spec.table_name) is None:
            raise self.not_there(dataset)
        reader = self._database(conn).connect()
        try:
            query = exp.select("*").from_(reader.table_ref(spec.table_name))
            yield from reader.fetch_batches(query.sql(reader.dialect), batch_rows)
        finally:
            with contextlib.suppress(ConnectionError_):
                reader.close()

    def write_batches(self, dataset: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                      before_swap: BeforeSwap | None = None) -> int:
        """Atomically replace a SQL dataset with ``batches``, written as they come."""
        spec = self.dataset_spec(dataset)
        sql = self.sql(self.project.connection_of(dataset))
        sql.drop_stale_temps(spec.table_name)  # a killed build's leftovers
        return sql.write_batches(spec.table_name, schema, batches, before_swap)

    def estimated_bytes(self, dataset: str) -> int | None:
        """A rough size of ``dataset`` (its files, or the table's storage), or None when unknown."""
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            path = self.files(conn).path_of(spec)
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
            return sum(f.stat().st_size for f in files) if files else None
        sql = self.sql(conn)
        if sql.table_schema(spec.table_name) is None:
            return None
        name = sql.table_ref(spec.table_name).sql(sql.dialect)
        query, params = _SIZE_QUERIES[sql.dialect]
        found = sql.fetch_arrow(query, (name,) if params == "name" else (getattr(sql, "schema", ""), spec.table_name))
        value = found.column(0)[0].as_py() if found.num_rows else None
        return int(value) if value is not None else None

    def source_fingerprint(self, dataset: str) -> str:
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            return self.files(conn).fingerprint(spec)
        sql = self.sql(conn)
        if sql.table_schema(spec.table_name) is None:
            return "missing"
        return sql.fingerprint(spec.table_name)

    def exists(self, dataset: str) -> bool:
        return self.stored_schema(dataset) is not None

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for con in opened:
            with contextlib.suppress(ConnectionError_):
                con.close()
        self.state.close()
        for db in self._databases.values():
            db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


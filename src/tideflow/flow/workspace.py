"""A project opened for work: its connections, its state store, and dataset I/O."""

from __future__ import annotations

import contextlib
import threading

import pyarrow as pa
from sqlglot import exp

from tideflow.connections import DuckDBDatabase, FileStore, PostgresDatabase, SqlConnection
from tideflow.errors import ConnectionError_, ProjectError
from tideflow.flow.state import StateStore
from tideflow.project import DatasetSpec, Project
from tideflow.recipes import Schema


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
            raise ProjectError(f"dataset {dataset!r} has not been built yet: run 'tide flow build {dataset}'")
        query = exp.select("*").from_(sql.table_ref(spec.table_name))
        if limit is not None:
            query = query.limit(exp.Literal.number(int(limit)))
        return sql.fetch_arrow(query.sql(sql.dialect))

    def write_arrow(self, dataset: str, data: pa.Table) -> int:
        spec = self.dataset_spec(dataset)
        conn = self.project.connection_of(dataset)
        if self.is_files(dataset):
            return self.files(conn).write_arrow(spec, data)
        return self.sql(conn).write_arrow(spec.table_name, data)

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


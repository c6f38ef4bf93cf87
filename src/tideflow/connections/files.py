"""A folder of CSV / Parquet files. Read through DuckDB; written atomically (temp file + rename)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlglot import exp

from tideflow.connections.base import arrow_logical_type
from tideflow.errors import ConnectionError_, ProjectError
from tideflow.project import DatasetSpec, FilesConnection
from tideflow.recipes import Schema


class FileStore:
    """Datasets stored as files under ``root``."""

    def __init__(self, name: str, spec: FilesConnection, project_root: Path) -> None:
        self.name = name
        self.root = (project_root / spec.root).resolve()

    def path_of(self, dataset: DatasetSpec) -> Path:
        path = (self.root / (dataset.path or "")).resolve()
        if not path.is_relative_to(self.root):
            raise ProjectError(f"dataset {dataset.name!r}: path {dataset.path!r} leaves the connection root",
                               key_path="path")
        return path

    def relation(self, dataset: DatasetSpec) -> exp.Expression:
        """A DuckDB table function reading the file; the path is a bound literal, never pasted text."""
        reader = "read_csv_auto" if dataset.file_format == "csv" else "read_parquet"
        return exp.Anonymous(this=reader, expressions=[exp.Literal.string(str(self.path_of(dataset)))])

    def exists(self, dataset: DatasetSpec) -> bool:
        return self.path_of(dataset).is_file()

    def read_arrow(self, dataset: DatasetSpec) -> pa.Table:
        path = self.path_of(dataset)
        if not path.is_file():
            raise ConnectionError_(f"dataset {dataset.name!r}: file {path} does not exist")
        try:
            if dataset.file_format == "csv":
                con = duckdb.connect(":memory:")
                try:
                    return con.sql("SELECT * FROM read_csv_auto(?)", params=[str(path)]).to_arrow_table()
                finally:
                    con.close()
            return pq.read_table(path)
        except (OSError, duckdb.Error, pa.ArrowException) as err:
            raise ConnectionError_(f"dataset {dataset.name!r}: cannot read {path}: {err}") from None

    def schema(self, dataset: DatasetSpec) -> Schema | None:
        if not self.exists(dataset):
            return None
        path = self.path_of(dataset)
        if dataset.file_format == "parquet":
            arrow_schema = pq.read_schema(path)
        else:
            arrow_schema = self.read_arrow(dataset).schema
        return {f.name: arrow_logical_type(f.type) for f in arrow_schema}

    def write_arrow(self, dataset: DatasetSpec, data: pa.Table) -> int:
        """Write to a temporary file beside the target, then rename over it (atomic on POSIX)."""
        path = self.path_of(dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            if dataset.file_format == "csv":
                pacsv.write_csv(data, temp)
            else:
                pq.write_table(data, temp)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return data.num_rows

    def fingerprint(self, dataset: DatasetSpec) -> str:
        try:
            st = self.path_of(dataset).stat()
        except FileNotFoundError:
            return "missing"
        return f"{st.st_size}:{st.st_mtime_ns}"

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

from tideflow.connections.base import arrow_read_type, read_schema
from tideflow.errors import ConnectionError_, ProjectError
from tideflow.project import DatasetSpec, FilesConnection
from tideflow.recipes import Schema


class FileStore:
    """Datasets stored as files under ``root``."""

    def __init__(self, name: str, spec: FilesConnection, project_root: Path) -> None:
        self.name = name
        self.project_root = project_root.resolve()
        self.root = (project_root / spec.root).resolve()

    def path_of(self, dataset: DatasetSpec) -> Path:
        path = (self.root / (dataset.path or "")).resolve()
        if not path.is_relative_to(self.root):
            raise ProjectError(f"dataset {dataset.name!r}: path {dataset.path!r} leaves the root of connection "
                               f"{self.name!r} ({self.root}): expected a path inside it")
        return path

    def _shown(self, path: Path) -> str:
        """The path as the user wrote the project: relative to the project directory when it is inside."""
        return str(path.relative_to(self.project_root)) if path.is_relative_to(self.project_root) else str(path)

    def _unreadable(self, dataset: DatasetSpec, path: Path, err: Exception) -> ConnectionError_:
        """A file the reader refused: which dataset and file, the format expected, what the reader said."""
        fmt = dataset.file_format
        source = "its 'format'" if dataset.format else "the extension of its path"
        said = " ".join(str(err).split()) or type(err).__name__
        said = said.replace(f"Could not open Parquet input source '{path}': ", "")  # the file is named already
        return ConnectionError_(f"dataset {dataset.name!r}: cannot read {self._shown(path)} as {fmt} (the format "
                                f"from {source}): {said}")

    def relation(self, dataset: DatasetSpec) -> exp.Expression:
        """A DuckDB table function reading the file; the path is a bound literal, never pasted text."""
        reader = "read_csv_auto" if dataset.file_format == "csv" else "read_parquet"
        return exp.Anonymous(this=reader, expressions=[exp.Literal.string(str(self.path_of(dataset)))])

    def exists(self, dataset: DatasetSpec) -> bool:
        return self.path_of(dataset).is_file()

    def read_arrow(self, dataset: DatasetSpec) -> pa.Table:
        path = self.path_of(dataset)
        if not path.is_file():
            raise ConnectionError_(f"dataset {dataset.name!r}: file {self._shown(path)} does not exist")
        try:
            if dataset.file_format == "csv":
                con = duckdb.connect(":memory:")
                try:
                    return con.sql("SELECT * FROM read_csv_auto(?)", params=[str(path)]).to_arrow_table()
                finally:
                    con.close()
            return pq.read_table(path)
        except (OSError, duckdb.Error, pa.ArrowException) as err:
            raise self._unreadable(dataset, path, err) from None

    def schema(self, dataset: DatasetSpec) -> Schema | None:
        """The file's columns; a file its reader refuses is a ``ConnectionError_`` as in ``read_arrow``."""
        if not self.exists(dataset):
            return None
        path = self.path_of(dataset)
        if dataset.file_format == "parquet":
            try:
                arrow_schema = pq.read_schema(path)
            except (OSError, pa.ArrowException) as err:
                raise self._unreadable(dataset, path, err) from None
        else:
            arrow_schema = self.read_arrow(dataset).schema
        return read_schema(((f.name, f.type) for f in arrow_schema), f"dataset {dataset.name!r} ({self._shown(path)})",
                           arrow_read_type)

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

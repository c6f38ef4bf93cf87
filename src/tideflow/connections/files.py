"""A folder of CSV / Parquet files. Read through DuckDB; written atomically (temp file + rename)."""

from __future__ import annotations

import glob
import json
import os
import re
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlglot import exp

from tideflow.connections.base import arrow_read_type, logical_type, read_schema
from tideflow.errors import ConnectionError_, ProjectError, did_you_mean
from tideflow.project import DatasetSpec, FilesConnection
from tideflow.recipes import Schema
from tideflow.recipes.operand_types import SQL_TYPE_NAMES

# DuckDB's error for a CSV value that does not fit the type its sniffer guessed from the first rows
_CSV_CAST = re.compile(r'CSV Error on Line: (?P<line>\d+).*?Error when converting column "(?P<column>.*?)"\. '
                       r'Could not convert string "(?P<value>.*?)" to \'(?P<type>\w+)\'', re.S)
_SAMPLE = re.compile(r"sample_size = (\d+)")
_FILE = re.compile(r"^\s*file = (.+?)\s*$", re.M)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a column name YAML reads as written


def csv_file_of(message: str) -> str | None:
    """The file a DuckDB CSV conversion error names, or None when ``message`` is not one."""
    found = _FILE.search(message) if _CSV_CAST.search(message) else None
    return found.group(1) if found else None


def csv_cast_error(message: str, where: str) -> str | None:
    """DuckDB's long CSV conversion error, said in one line with the fix a Tideflow project can make (its
    ``types``), or None when ``message`` is not one."""
    found = _CSV_CAST.search(message)
    if found is None:
        return None
    sample = _SAMPLE.search(message)
    first = f"its first {int(sample.group(1)):,} rows" if sample else "its first rows"
    column = found.group("column")  # as written in the file: DuckDB does not escape its quotes
    value = found.group("value")
    typ = logical_type(found.group("type"))
    return (f"{where}: line {found.group('line')}, column {column!r}: {value[:60]!r} is not "
            f"{typ.with_article if typ is not None else found.group('type')} "
            f"(the CSV reader guessed the column's type from {first}): declare the column's type in the dataset "
            f"file, e.g. types: {{{column if _PLAIN.fullmatch(column) else json.dumps(column)}: string}}")


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

    def shown(self, path: Path) -> str:
        """The path as the user wrote the project: relative to the project directory when it is inside."""
        return str(path.relative_to(self.project_root)) if path.is_relative_to(self.project_root) else str(path)

    def _unreadable(self, dataset: DatasetSpec, path: Path, err: Exception) -> ConnectionError_:
        """A file the reader refused: which dataset and file, the format expected, what the reader said."""
        fmt = dataset.file_format
        source = "its 'format'" if dataset.format else "the extension of its path"
        condensed = csv_cast_error(str(err), f"dataset {dataset.name!r}: {self.shown(path)}")
        if condensed is not None:
            return ConnectionError_(condensed)
        said = " ".join(str(err).split()) or type(err).__name__
        said = said.replace(f"Could not open Parquet input source '{path}': ", "")  # the file is named already
        return ConnectionError_(f"dataset {dataset.name!r}: cannot read {self.shown(path)} as {fmt} (the format "
                                f"from {source}): {said}")

    def relation(self, dataset: DatasetSpec) -> exp.Expression:
        """A DuckDB table function reading the file (a CSV file with the dataset's ``types``); the path and
        the column names are literals quoted by sqlglot, never pasted text."""
        path = exp.Literal.string(str(self.path_of(dataset)))
        if dataset.file_format != "csv":
            return exp.Anonymous(this="read_parquet", expressions=[path])
        arguments: list[exp.Expression] = [path]
        if dataset.types:
            types = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(column),
                                                           expression=exp.Literal.string(SQL_TYPE_NAMES[typ]))
                                            for column, typ in dataset.types.items()])
            arguments.append(exp.EQ(this=exp.column("types"), expression=types))
        return exp.Anonymous(this="read_csv_auto", expressions=arguments)

    def _csv_sql(self, dataset: DatasetSpec, describe: bool = False) -> str:
        query = exp.select("*").from_(exp.Table(this=self.relation(dataset)))
        return ("DESCRIBE " if describe else "") + query.sql("duckdb")

    def _check_declared_types(self, con: duckdb.DuckDBPyConnection, dataset: DatasetSpec, path: Path) -> None:
        """A column ``types`` names that the file does not have is the dataset file's mistake (the reader
        would only say 'Binder Error'): a ``ProjectError`` naming it and the nearest column."""
        if not dataset.types:
            return
        plain = dataset.model_copy(update={"types": None})
        columns = [str(row[0]) for row in con.execute(self._csv_sql(plain, describe=True)).fetchall()]
        for column in dataset.types:
            if column not in columns:
                raise ProjectError(f"dataset {dataset.name!r}: types names column {column!r}, which "
                                   f"{self.shown(path)} does not have{did_you_mean(column, columns)} "
                                   f"(columns: {', '.join(columns)})", key_path=f"types.{column}")

    def exists(self, dataset: DatasetSpec) -> bool:
        return self.path_of(dataset).is_file()

    def read_arrow(self, dataset: DatasetSpec) -> pa.Table:
        path = self.path_of(dataset)
        if not path.is_file():
            raise ConnectionError_(f"dataset {dataset.name!r}: file {self.shown(path)} does not exist")
        try:
            if dataset.file_format == "csv":
                con = duckdb.connect(":memory:")
                try:
                    self._check_declared_types(con, dataset, path)
                    return con.sql(self._csv_sql(dataset)).to_arrow_table()
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
        where = f"dataset {dataset.name!r} ({self.shown(path)})"
        if dataset.file_format == "csv":
            # the types the reader's sniffer gives, from a sample: not a read of the whole file (3M rows: 0.04 s
            # instead of 0.6 s, and no copy of the file in memory)
            con = duckdb.connect(":memory:")
            try:
                self._check_declared_types(con, dataset, path)
                described = con.execute(self._csv_sql(dataset, describe=True)).fetchall()
            except duckdb.Error as err:
                raise self._unreadable(dataset, path, err) from None
            finally:
                con.close()
            return read_schema(((str(row[0]), str(row[1])) for row in described), where)
        try:
            arrow_schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as err:
            raise self._unreadable(dataset, path, err) from None
        return read_schema(((f.name, f.type) for f in arrow_schema), where, arrow_read_type)

    def write_arrow(self, dataset: DatasetSpec, data: pa.Table) -> int:
        """Write to a temporary file beside the target, then rename over it (atomic on POSIX)."""
        path = self.path_of(dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # a killed build's leftovers
            if re.fullmatch(r"[0-9a-f]{8}", stale.name[len(path.name) + 2 : -4]):
                stale.unlink(missing_ok=True)
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

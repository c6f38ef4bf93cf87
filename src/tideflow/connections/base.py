"""What every SQL connection offers the Flow, and the shared helpers (types, secrets, temp names)."""

from __future__ import annotations

import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from sqlglot import exp

from tideflow.errors import ConnectionError_
from tideflow.recipes import ColumnType, Schema

TEMP_PREFIX = "__tide_tmp_"
# Called with {table: temporary table} once every new table is written, before the swap; raising
# drops the temporary tables and leaves the previous tables in place (used by dataset checks).
BeforeSwap = Callable[[dict[str, str]], None]
SECRETS_FILE = ".tide/secrets.yaml"

# Physical type names (lower case, without parameters) -> logical types.
_TYPE_WORDS: list[tuple[str, ColumnType]] = [
    ("bool", ColumnType.BOOLEAN),
    ("timestamp", ColumnType.TIMESTAMP),
    ("datetime", ColumnType.TIMESTAMP),
    ("date", ColumnType.DATE),
    ("hugeint", ColumnType.INTEGER),
    ("int", ColumnType.INTEGER),
    ("serial", ColumnType.INTEGER),
    ("double", ColumnType.DOUBLE),
    ("float", ColumnType.DOUBLE),
    ("real", ColumnType.DOUBLE),
    ("numeric", ColumnType.DOUBLE),
    ("decimal", ColumnType.DOUBLE),
    ("char", ColumnType.STRING),
    ("text", ColumnType.STRING),
    ("string", ColumnType.STRING),
    ("uuid", ColumnType.STRING),
]


def logical_type(physical: str) -> ColumnType:
    """Map a database type name (``BIGINT``, ``character varying``, ``DECIMAL(18,3)``) to a logical type."""
    word = physical.lower()
    for needle, logical in _TYPE_WORDS:
        if needle in word:
            return logical
    return ColumnType.STRING


def arrow_logical_type(dtype: pa.DataType) -> ColumnType:
    if pa.types.is_boolean(dtype):
        return ColumnType.BOOLEAN
    if pa.types.is_integer(dtype):
        return ColumnType.INTEGER
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return ColumnType.DOUBLE
    if pa.types.is_date(dtype):
        return ColumnType.DATE
    if pa.types.is_timestamp(dtype):
        return ColumnType.TIMESTAMP
    return ColumnType.STRING


_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.DOUBLE: pa.float64(),
    ColumnType.STRING: pa.string(),
    ColumnType.DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("us"),
}


def arrow_type(logical: ColumnType) -> pa.DataType:
    """The Arrow type a logical type travels as."""
    return _ARROW_TYPES[logical]


def temp_table_name(target: str) -> str:
    """A fresh name for the table a build writes before swapping it in (fits PostgreSQL's 63 bytes)."""
    safe = re.sub(r"[^0-9A-Za-z_]", "_", target)[:30]
    return f"{TEMP_PREFIX}{safe}_{uuid.uuid4().hex[:10]}"


def read_secret(project_root: Path, key: str, *, connection: str) -> str:
    """A secret from the ignored ``.tide/secrets.yaml``. Errors never show secret values."""
    path = project_root / SECRETS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConnectionError_(
            f"connection {connection!r}: password_secret {key!r} needs {SECRETS_FILE}, which does not exist"
        ) from None
    except (OSError, yaml.YAMLError) as err:
        raise ConnectionError_(f"connection {connection!r}: cannot read {SECRETS_FILE}: {type(err).__name__}") from None
    if not isinstance(data, dict) or key not in data:
        raise ConnectionError_(f"connection {connection!r}: key {key!r} is missing from {SECRETS_FILE}")
    return str(data[key])


def read_env_secret(name: str, *, connection: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConnectionError_(f"connection {connection!r}: environment variable {name} (password_env) is not set")
    return value


class SqlConnection(ABC):
    """A database the Flow can push SQL into. One instance per thread; ``close`` when done."""

    name: str
    dialect: str

    @abstractmethod
    def table_ref(self, table: str) -> exp.Expression:
        """The quoted, schema-qualified reference of ``table`` for FROM clauses."""

    @abstractmethod
    def table_schema(self, table: str) -> Schema | None:
        """The logical schema of ``table``, or None when it does not exist."""

    @abstractmethod
    def query_schema(self, sql: str) -> Schema:
        """The logical schema of the rows ``sql`` would return (without running it fully)."""

    @abstractmethod
    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None: ...

    @abstractmethod
    def fetch_arrow(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table: ...

    def replace_table(self, table: str, select_sql: str) -> int:
        """Atomically replace ``table`` with the result of ``select_sql``; return its row count."""
        return self.replace_tables({table: select_sql})[table]

    @abstractmethod
    def replace_tables(self, statements: dict[str, str], before_swap: BeforeSwap | None = None) -> dict[str, int]:
        """Atomically replace each table with the result of its SELECT; return the row counts.

        The rows go to temporary tables first; the swap of all of them (drop + rename) is one
        transaction, so a failed or killed build leaves every previous table intact.
        ``before_swap`` (if given) sees the temporary tables first; raising cancels the swap.
        """

    @abstractmethod
    def write_arrow(self, table: str, data: pa.Table) -> int:
        """Atomically replace ``table`` with ``data``; return the row count."""

    @abstractmethod
    def fetch_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows of ``sql`` as record batches of at most ``batch_rows`` rows, streamed from the
        database. Use a connection that runs nothing else until the iterator is exhausted or closed."""

    @abstractmethod
    def write_batches(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                      before_swap: BeforeSwap | None = None) -> int:
        """Atomically replace ``table`` with the rows of ``batches`` (each with ``schema``), written as
        they come; ``before_swap`` sees the temporary table first. Return the row count."""

    @abstractmethod
    def fingerprint(self, table: str) -> str:
        """A value that changes when the table's content changes (for outdated detection)."""

    @abstractmethod
    def drop_stale_temps(self, table: str) -> None:
        """Drop temporary tables a killed build of ``table`` may have left."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SqlConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

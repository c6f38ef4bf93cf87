"""What every SQL connection offers the Flow, and the shared helpers (types, secrets, temp names)."""

from __future__ import annotations

import hashlib
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

from tideflow.errors import ConnectionError_, TideflowError
from tideflow.recipes import ColumnType, Schema

TEMP_PREFIX = "__tide_tmp_"
# Called with {table: temporary table} once every new table is written, before the swap; raising
# drops the temporary tables and leaves the previous tables in place (used by dataset checks).
BeforeSwap = Callable[[dict[str, str]], None]
SECRETS_FILE = ".tide/secrets.yaml"

# Physical type names (lower case, without parameters) -> logical types, by whole name: a substring
# match read DuckDB's INTEGER[] and INTERVAL, and PostgreSQL's point, as integers.
_TYPE_NAMES: dict[str, ColumnType] = {
    **dict.fromkeys(("bool", "boolean", "logical"), ColumnType.BOOLEAN),
    **dict.fromkeys(("tinyint", "smallint", "integer", "int", "bigint", "hugeint", "int1", "int2", "int4", "int8",
                     "int16", "int32", "int64", "int128", "utinyint", "usmallint", "uinteger", "ubigint",
                     "uhugeint", "signed", "short", "long", "serial", "smallserial", "bigserial", "serial4",
                     "serial8"), ColumnType.INTEGER),
    **dict.fromkeys(("double", "double precision", "float", "float4", "float8", "real", "numeric", "decimal"),
                    ColumnType.DOUBLE),
    "date": ColumnType.DATE,
    **dict.fromkeys(("timestamp", "datetime", "timestamp without time zone", "timestamp with time zone",
                     "timestamptz", "timestamp_s", "timestamp_ms", "timestamp_ns", "timestamp_us"),
                    ColumnType.TIMESTAMP),
}
# Kinds Tideflow does not read: nested values, durations, bytes. Any other scalar type reads as text.
_UNREAD = ("[]", "array", "list", "struct", "map", "union", "interval", "blob", "bytea", "bytes", "varbinary",
           "binary", "bit", "row", "record", "variant")
READ_TYPES = "boolean, integer, double, string, date or timestamp"


def logical_type(physical: str) -> ColumnType | None:
    """Map a database type name (``BIGINT``, ``character varying``, ``DECIMAL(18,3)``, ``int4``) to a logical
    type; None for a type Tideflow does not read (a list, struct, map, interval, bytes)."""
    word = physical.strip().lower()
    if word.startswith("_") or word.endswith("]") or word.split("(")[0].strip() in _UNREAD:
        return None  # a PostgreSQL array type name (_int4), a DuckDB list (INTEGER[], INTEGER[3]) or a nested kind
    base = " ".join(word.split("(")[0].split())
    return _TYPE_NAMES.get(base, ColumnType.STRING)


class UnreadColumnType(TideflowError):
    """A column of a type Tideflow does not read (a list, struct, map, interval or bytes), in ``where``."""

    def __init__(self, where: str, column: str, physical: str) -> None:
        self.where, self.column, self.physical = where, column, physical
        super().__init__(
            f"{where}: column {column!r} has type {physical}, which Tideflow does not read: expected "
            f"{READ_TYPES}; cast it where it is made (e.g. CAST({column} AS VARCHAR)) or leave it out")

    def at(self, where: str) -> UnreadColumnType:
        """The same error said of another place (e.g. the dataset a temporary table becomes)."""
        return UnreadColumnType(where, self.column, self.physical)


def read_schema(columns: Iterable[tuple[str, Any]], where: str,
                read: Callable[[Any], ColumnType | None] = logical_type) -> Schema:
    """Logical types of ``(name, physical type)`` columns (``read`` maps a type: a database type name by
    default, ``arrow_read_type`` for Arrow types); a column of a type Tideflow does not read raises
    ``UnreadColumnType`` naming ``where`` (e.g. "table main.x on connection 'warehouse'"), the column and the
    cast that fixes it."""
    out: Schema = {}
    for name, physical in columns:
        typ = read(physical)
        if typ is None:
            raise UnreadColumnType(where, name, str(physical))
        out[name] = typ
    return out


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


def arrow_read_type(dtype: pa.DataType) -> ColumnType | None:
    """``arrow_logical_type``, or None for an Arrow type Tideflow does not read (nested, bytes, durations)."""
    t = pa.types
    value = dtype.value_type if t.is_dictionary(dtype) else dtype
    if (t.is_nested(value) or t.is_binary(value) or t.is_large_binary(value) or t.is_fixed_size_binary(value)
            or t.is_duration(value) or t.is_interval(value)):
        return None
    return arrow_logical_type(dtype)


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


def temp_prefix(target: str) -> str:
    """What every temporary table of ``target`` starts with: its name made safe and cut to 30 characters,
    then a digest of the whole name, so that no other table's temporaries share it (``big`` and
    ``big_copy``, or two names alike in their first 30 characters)."""
    safe = re.sub(r"[^0-9A-Za-z_]", "_", target)[:30]
    return f"{TEMP_PREFIX}{safe}_{hashlib.sha1(target.encode('utf-8')).hexdigest()[:8]}_"


def temp_table_name(target: str) -> str:
    """A fresh name for the table a build writes before swapping it in (61 ASCII bytes at most: fits
    PostgreSQL's 63)."""
    return f"{temp_prefix(target)}{uuid.uuid4().hex[:10]}"


def is_temp_of(name: str, target: str) -> bool:
    """``name`` is a temporary table of ``target`` (one a failed or killed build left behind)."""
    prefix = temp_prefix(target)
    return name.startswith(prefix) and re.fullmatch(r"[0-9a-f]{10}", name[len(prefix):]) is not None


def read_secret(project_root: Path, key: str, *, connection: str) -> str:
    """A secret from the ignored ``.tide/secrets.yaml``. Errors never show secret values."""
    path = project_root / SECRETS_FILE
    try:
        # BaseLoader: every value is the text as written (0123 stays 0123, yes stays yes), never typed
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    except FileNotFoundError:
        raise ConnectionError_(
            f"connection {connection!r}: password_secret {key!r} needs {SECRETS_FILE}, which does not exist"
        ) from None
    except UnicodeDecodeError:
        raise ConnectionError_(f"connection {connection!r}: cannot read {SECRETS_FILE}: expected UTF-8 text") from None
    except yaml.YAMLError as err:  # the position only: YAML's message quotes the line, which may hold a secret
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConnectionError_(f"connection {connection!r}: cannot read {SECRETS_FILE}: expected YAML "
                               f"'key: value' lines, got invalid YAML{at}") from None
    except OSError as err:
        raise ConnectionError_(f"connection {connection!r}: cannot read {SECRETS_FILE}: {type(err).__name__}") from None
    if not isinstance(data, dict) or key not in data:
        raise ConnectionError_(f"connection {connection!r}: key {key!r} is missing from {SECRETS_FILE}")
    value = data[key]
    if not isinstance(value, str):
        raise ConnectionError_(f"connection {connection!r}: key {key!r} of {SECRETS_FILE} holds a "
                               f"{'list' if isinstance(value, list) else 'mapping'}; expected text")
    return value


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

    def drop_tables(self, tables: Iterable[str]) -> None:
        """Drop ``tables`` where they exist (the temporary tables of a write that failed)."""
        for table in tables:
            self.execute(f"DROP TABLE IF EXISTS {self.table_ref(table).sql(self.dialect)}")

    def checked_temps(self, temps: dict[str, str], before_swap: BeforeSwap | None) -> None:
        """Show the written temporary tables to ``before_swap``; drop them when it raises."""
        if before_swap is None:
            return
        try:
            before_swap(dict(temps))
        except BaseException:
            self.drop_tables(temps.values())
            raise

    @abstractmethod
    def write_arrows(self, tables: dict[str, pa.Table]) -> dict[str, int]:
        """Atomically replace several tables: every one is written to its temporary table first, then all
        are swapped in one transaction (a failure or a kill before it leaves every previous table).
        Return the row count of each."""

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

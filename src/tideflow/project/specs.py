"""Specs of ``tideflow.yaml`` (project, connections, defaults) and ``datasets/*.yaml``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from tideflow.errors import did_you_mean, name_too_long
from tideflow.project.checks_specs import CheckList, MetricSpec, distinct_columns
from tideflow.project.compute_specs import ComputeSpec
from tideflow.project.yamlfile import key_error
from tideflow.recipes import ColumnType, Strict

DEFAULT_CONNECTION = "warehouse"
DEFAULT_DUCKDB_PATH = ".tide/warehouse.duckdb"
# The file formats of a files connection, each with the path endings it is recognised by.
FILE_FORMATS: dict[str, tuple[str, ...]] = {"csv": (".csv", ".csv.gz", ".tsv"), "parquet": (".parquet", ".pq")}
# Upper bounds of connection settings: far above any machine or wait that makes sense, far below the
# values that crash a driver (DuckDB aborts on threads: 100000000000).
MAX_THREADS = 1024
MAX_CONNECT_TIMEOUT_S = 3600


def format_of_path(path: str) -> str | None:
    """The file format a path's ending names (``orders.csv`` -> ``csv``), or None when it names none."""
    lowered = path.lower()
    return next((fmt for fmt, endings in FILE_FORMATS.items() if lowered.endswith(endings)), None)


class DuckDBConnection(Strict):
    """Embedded DuckDB. ``path`` is relative to the project directory (``:memory:`` for none)."""

    type: Literal["duckdb"]
    path: str = DEFAULT_DUCKDB_PATH
    schema_: str = Field(default="main", alias="schema")
    # Bounded: DuckDB allocates per thread, and a huge count aborts the process (std::bad_alloc).
    threads: StrictInt | None = Field(default=None, ge=1, le=MAX_THREADS)
    # DuckDB spreads one query over every core: two heavy recipes at once only contend for them.
    concurrent_queries: StrictInt = Field(default=1, ge=1, le=64)


class PostgresConnection(Strict):
    """PostgreSQL through psycopg 3.

    The password is never written in the project: it comes from the environment variable named by
    ``password_env`` or from the key ``password_secret`` of the ignored ``.tide/secrets.yaml``.
    """

    # PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1) and drops the rest.
    max_name_bytes: ClassVar[int] = 63

    type: Literal["postgres"]
    host: str = "127.0.0.1"
    port: StrictInt = Field(default=5432, ge=1, le=65535)
    dbname: str
    user: str
    password_env: str | None = None
    password_secret: str | None = None
    schema_: str = Field(default="public", alias="schema")
    connect_timeout_s: StrictInt = Field(default=10, ge=1, le=MAX_CONNECT_TIMEOUT_S)
    # Recipes of one build that may query the server at once (each is a backend); default: the build's parallelism.
    concurrent_queries: StrictInt | None = Field(default=None, ge=1, le=64)
    # Session settings for build connections, e.g. {work_mem: 256MB}: set with set_config(), values bound.
    settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("schema_")
    @classmethod
    def _schema_fits(cls, value: str) -> str:
        message = name_too_long("schema", value, "postgres", cls.max_name_bytes)
        if message is not None:
            raise ValueError(message)
        return value


class FilesConnection(Strict):
    """A folder of CSV / Parquet files (relative to the project directory), read through DuckDB."""

    type: Literal["files"]
    root: str = "data"


ConnectionSpec = Annotated[DuckDBConnection | PostgresConnection | FilesConnection, Field(discriminator="type")]
SQL_CONNECTION_TYPES = ("duckdb", "postgres")


class Defaults(Strict):
    connection: str = DEFAULT_CONNECTION
    engine: Literal["auto", "sql", "memory"] = "auto"
    parallelism: StrictInt = Field(default=2, ge=1, le=64)


def _default_connections() -> dict[str, ConnectionSpec]:
    return {DEFAULT_CONNECTION: DuckDBConnection(type="duckdb")}


class ProjectConfig(Strict):
    """``tideflow.yaml``."""

    name: str = Field(min_length=1)
    description: str = ""
    connections: dict[str, ConnectionSpec] = Field(default_factory=_default_connections)
    defaults: Defaults = Field(default_factory=Defaults)
    compute: ComputeSpec = Field(default_factory=ComputeSpec)

    @model_validator(mode="after")
    def _default_exists(self) -> ProjectConfig:
        name = self.defaults.connection
        if name not in self.connections:
            known = ", ".join(self.connections) or "none declared"
            raise key_error(("defaults", "connection"), f"unknown connection {name!r}: expected a declared "
                            f"connection ({known}), got {name!r}{did_you_mean(name, self.connections)}")
        return self


class DatasetSpec(Strict):
    """``datasets/<name>.yaml``: where a dataset lives.

    On a SQL connection it is a table (``table``, default: the dataset name). On a files connection
    it is a file (``path`` under the connection's root; ``format`` from the extension by default).
    ``virtual: true`` marks an intermediate dataset of a SQL chain: it is never written, its recipe
    becomes a CTE of the recipe that reads it.
    """

    name: str = Field(min_length=1)
    connection: str | None = None
    table: str | None = None
    path: str | None = None
    format: Literal["csv", "parquet"] | None = None
    virtual: StrictBool = False
    description: str = ""
    metrics: list[MetricSpec] = []
    checks: CheckList = []
    checks_after_build: StrictBool = True
    # Columns that together identify a row (a key): the Flow verifies it on a source before relying on
    # it, and then drops a LEFT JOIN to the dataset whose columns a query does not read.
    unique: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    # The types of some columns of a CSV file, where the reader should not guess them from its first rows.
    types: dict[Annotated[str, Field(min_length=1)], ColumnType] | None = Field(default=None, min_length=1)

    @field_validator("unique")
    @classmethod
    def _unique_once(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else distinct_columns(value)

    @property
    def table_name(self) -> str:
        return self.table or self.name

    @property
    def file_format(self) -> str:
        if self.format:
            return self.format
        return format_of_path(self.path or "") or "parquet"

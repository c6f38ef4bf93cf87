"""PostgreSQL through psycopg 3. Credentials come from the environment or the secrets file."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlglot import exp

from tideflow.connections.base import (
    BeforeSwap,
    SqlConnection,
    arrow_type,
    is_temp_of,
    logical_type,
    read_env_secret,
    read_schema,
    read_secret,
    temp_prefix,
    temp_table_name,
)
from tideflow.errors import ConnectionError_, MissingExtraError, ProjectError, did_you_mean, name_too_long
from tideflow.project import PostgresConnection
from tideflow.recipes import ColumnType, Schema

_PG_TYPES = {
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.DOUBLE: "DOUBLE PRECISION",
    ColumnType.STRING: "TEXT",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMP",
}


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("postgres")


class PostgresDatabase:
    """Opens one psycopg connection per thread for a ``postgres`` connection spec."""

    def __init__(self, name: str, spec: PostgresConnection, project_root: Path) -> None:
        self.name = name
        self.spec = spec
        self.project_root = project_root

    def _password(self) -> str | None:
        if self.spec.password_env:
            return read_env_secret(self.spec.password_env, connection=self.name)
        if self.spec.password_secret:
            return read_secret(self.project_root, self.spec.password_secret, connection=self.name)
        return None

    def connect(self) -> PostgresSql:
        try:
            import psycopg
        except ImportError:
            raise MissingExtraError("psycopg", "postgres") from None
        kwargs: dict[str, Any] = {
            "host": self.spec.host, "port": self.spec.port, "dbname": self.spec.dbname, "user": self.spec.user,
            "connect_timeout": self.spec.connect_timeout_s, "autocommit": True,
        }
        password = self._password()
        if password is not None:
            kwargs["password"] = password
        try:
            con = psycopg.connect(**kwargs)
        except psycopg.Error as err:
            # psycopg's message names host/port/user, never the password; strip it anyway.
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if password:
                message = message.replace(password, "***")
            raise ConnectionError_(
                f"connection {self.name!r}: cannot connect to PostgreSQL at {self.spec.host}:{self.spec.port} "
                f"database {self.spec.dbname!r} as {self.spec.user!r}: {message}"
            ) from None
        for setting, value in self.spec.settings.items():
            try:
                con.execute("SELECT set_config(%s, %s, false)", (setting, value))
            except psycopg.Error as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                hint = ""
                if isinstance(err, psycopg.errors.UndefinedObject):  # no such parameter: name the nearest
                    names = [str(r[0]) for r in con.execute("SELECT name FROM pg_settings").fetchall()]
                    hint = did_you_mean(setting, names)
                con.close()
                raise ProjectError(
                    f"connection {self.name!r}: settings.{setting}: PostgreSQL refused {value!r}: {first}{hint} "
                    "(expected a session setting of PostgreSQL and a value it accepts)",
                    file="tideflow.yaml", key_path=f"connections.{self.name}.settings.{setting}") from None
        if con.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.spec.schema_,)).fetchone() is None:
            con.close()
            raise ProjectError(
                f"connection {self.name!r}: schema {self.spec.schema_!r} does not exist in database "
                f"{self.spec.dbname!r} at {self.spec.host}:{self.spec.port} (expected an existing schema: create "
                f"it, or name another one)", file="tideflow.yaml", key_path=f"connections.{self.name}.schema")
        return PostgresSql(self.name, con, self.spec.schema_)

    def close(self) -> None:
        """Connections are per thread and closed by their owner; nothing shared to close."""


class PostgresSql(SqlConnection):
    dialect = "postgres"

    def __init__(self, name: str, con: Any, schema: str = "public") -> None:
        self.name = name
        self.con = con
        self.schema = schema

    def table_ref(self, table: str) -> exp.Expression:
        return exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(self.schema, quoted=True))

    def _qualified(self, table: str) -> str:
        return f"{_ident(self.schema)}.{_ident(table)}"

    def table_schema(self, table: str) -> Schema | None:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        ).fetchall()
        if not rows:  # a materialized view: the information schema does not list its columns
            rows = self._catalog_columns(table, kinds=("m",))
        if not rows:
            return None
        where = f"table {self.schema}.{table} on connection {self.name!r}"
        return read_schema(((str(n), str(t)) for n, t in rows), where)

    def query_schema(self, sql: str) -> Schema:
        from psycopg.adapt import PyFormat  # noqa: F401 - the extra is present if we got here

        cur = self.con.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
        columns = [(col.name, self._type_name(col.type_code)) for col in cur.description or []]
        return read_schema(columns, f"a query on connection {self.name!r}")

    def _type_name(self, oid: int) -> str:
        """The name of a result column's type: ``_int4`` for an array of int4 (psycopg files an array's oid
        under its element's type), ``text`` for a type psycopg does not know."""
        info = self.con.adapters.types.get(oid)
        if info is None:
            return "text"
        return f"_{info.name}" if oid == info.array_oid and oid != info.oid else str(info.name)

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        self.con.execute(sql, params)

    def fetch_arrow(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        """The rows of ``sql`` as Arrow, each column typed by what the server says it is (not by its
        values: an empty result or a column of NULLs keeps its type); a type Tideflow does not read
        (an array, an interval) is left to Arrow to infer, and NUMERIC values stay exact decimals."""
        cur = self.con.execute(sql, params)
        described = cur.description or []
        if not described:
            return pa.table({})
        kinds = [self._type_name(c.type_code) for c in described]
        targets = [arrow_type(t) if (t := logical_type(k)) else None for k in kinds]
        rows = cur.fetchall()
        columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in described]
        arrays = [_fetched(values, t, k) for values, t, k in zip(columns, targets, kinds, strict=True)]
        return pa.Table.from_arrays(arrays, names=[c.name for c in described])

    def replace_tables(self, statements: dict[str, str], before_swap: BeforeSwap | None = None) -> dict[str, int]:
        temps = {table: temp_table_name(table) for table in statements}
        counts: dict[str, int] = {}
        try:
            for table, select_sql in statements.items():
                cur = self.con.execute(f"CREATE TABLE {self._qualified(temps[table])} AS {select_sql}")
                counts[table] = max(int(cur.rowcount), 0)
            if before_swap is not None:  # e.g. dataset checks: raising keeps the previous tables
                before_swap(dict(temps))
        except Exception:
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        self._swap(temps)
        return counts

    def write_arrow(self, table: str, data: pa.Table) -> int:
        return self.write_arrows({table: data})[table]

    def fetch_batches(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Through a server-side cursor in a transaction of its own: ``batch_rows`` rows per fetch."""
        with self.con.transaction(), self.con.cursor(name=f"tide_scan_{uuid.uuid4().hex[:12]}") as cur:
            cur.execute(sql)
            described = cur.description or []
            names = [c.name for c in described]
            logical = read_schema([(c.name, self._type_name(c.type_code)) for c in described],
                                  f"a query on connection {self.name!r}")
            targets = [arrow_type(t) for t in logical.values()]
            schema = pa.schema([pa.field(n, t) for n, t in zip(names, targets, strict=True)])
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    return
                columns = [list(c) for c in zip(*rows, strict=True)]
                arrays = [_to_arrow(values, t) for values, t in zip(columns, targets, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    def write_batches(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                      before_swap: BeforeSwap | None = None) -> int:
        temp, rows = self._write_temp(table, schema, batches)
        self.checked_temps({table: temp}, before_swap)
        self._swap({table: temp})
        return rows

    def write_arrows(self, tables: dict[str, pa.Table]) -> dict[str, int]:
        temps: dict[str, str] = {}
        rows: dict[str, int] = {}
        try:
            for table, data in tables.items():
                temps[table], rows[table] = self._write_temp(table, data.schema, data.to_batches(max_chunksize=50_000))
        except BaseException:
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        self._swap(temps)
        return rows

    def _write_temp(self, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[str, int]:
        """A new temporary table of ``table`` holding ``batches`` (its name, its rows); dropped again when
        writing fails."""
        from tideflow.connections.base import arrow_logical_type

        for name in schema.names:
            too_long = name_too_long("output column", name, "postgres", PostgresConnection.max_name_bytes)
            if too_long is not None:
                raise ConnectionError_(f"cannot write table {table!r} on connection {self.name!r}: {too_long}")
        temp = temp_table_name(table)
        columns = ", ".join(f"{_ident(f.name)} {_PG_TYPES[arrow_logical_type(f.type)]}" for f in schema)
        self.con.execute(f"CREATE TABLE {self._qualified(temp)} ({columns})")
        rows = 0
        # Each batch goes as CSV written by Arrow (3x faster than a Python row at a time): every value
        # quoted, so an unquoted empty field is NULL and "" an empty string; columns first cast to the
        # Arrow type of their logical type (a dictionary, an int32, a time-zoned timestamp in UTC).
        target = pa.schema([pa.field(f.name, arrow_type(arrow_logical_type(f.type))) for f in schema])
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        try:
            names = ", ".join(_ident(n) for n in schema.names)
            with self.con.cursor().copy(f"COPY {self._qualified(temp)} ({names}) FROM STDIN (FORMAT csv)") as copy:
                for batch in batches:
                    sink = io.BytesIO()
                    pacsv.write_csv(batch.cast(target), sink, options)
                    copy.write(sink.getbuffer())
                    rows += batch.num_rows
        except BaseException:
            self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise
        return temp, rows

    def _swap(self, temps: dict[str, str]) -> None:
        """Swap every temp table in for its target in one transaction."""
        try:
            with self.con.transaction():
                for table, temp in temps.items():
                    self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(table)}")
                    self.con.execute(f"ALTER TABLE {self._qualified(temp)} RENAME TO {_ident(table)}")
        except Exception:
            for temp in temps.values():
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(temp)}")
            raise

    def _catalog_columns(self, table: str, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """(name, type) of the columns of relation ``table`` when its kind (``pg_class.relkind``) is one of
        ``kinds``, from the catalog."""
        rows = self.con.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind = ANY(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            (self.schema, table, list(kinds)),
        ).fetchall()
        return [(str(n), str(t)) for n, t in rows]

    def fingerprint(self, table: str) -> str:
        """Row count, a sum over the rows and the columns' names and types: any insert, update or delete,
        and any added, dropped, renamed or retyped column, changes it.

        A table (or materialized view) sums its row-version ids (``xmin``): 5x cheaper than hashing every
        row's text (measured: 0.5 s vs 2.8 s for 2M rows). A view or a foreign table has no row versions:
        it sums a hash of each row's text.
        """
        kind = self.con.execute(
            "SELECT c.relkind FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (self.schema, table)).fetchone()
        if kind is None:
            return "missing"
        columns = self._catalog_columns(table, kinds=(str(kind[0]),))
        shape = hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:12]
        rows = "xmin::text::bigint" if kind[0] in ("r", "p", "m") else "hashtextextended(t::text, 0)::numeric"
        row = self.con.execute(
            f"SELECT count(*), coalesce(sum({rows}), 0) FROM {self._qualified(table)} AS t"
        ).fetchone()
        return f"{row[0]}:{row[1]}:{shape}" if row else "missing"

    def drop_stale_temps(self, table: str) -> None:
        prefix = temp_prefix(table)
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND left(table_name, %s) = %s",
            (self.schema, len(prefix), prefix),
        ).fetchall()
        for (name,) in rows:
            if is_temp_of(str(name), table):
                self.con.execute(f"DROP TABLE IF EXISTS {self._qualified(str(name))}")

    def close(self) -> None:
        try:
            self.con.close()
        except Exception as err:  # closing a broken connection must not hide the real error
            raise ConnectionError_(f"connection {self.name!r}: close failed: {type(err).__name__}") from None


def _fetched(values: list[Any], target: pa.DataType | None, kind: str) -> pa.Array:
    """A fetched column as Arrow: as ``target`` (the type of its logical type); inferred when Tideflow
    does not read its type (None), and for NUMERIC values, which stay exact decimals (a SUM of BIGINTs
    is one) unless there are none (an empty or all-NULL column keeps its target type)."""
    if target is None:
        return pa.array(values)
    if kind == "numeric":
        exact = pa.array(values)
        if not pa.types.is_null(exact.type):
            return exact
    return _to_arrow(values, target)


def _to_arrow(values: list[Any], target: pa.DataType) -> pa.Array:
    """A column of Python values as ``target`` (NUMERIC arrives as Decimal and becomes a double)."""
    try:
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if pa.types.is_string(target):  # a uuid, json, inet...: its text (json as JSON)
            return pa.array([v if v is None or isinstance(v, str) else
                             json.dumps(v) if isinstance(v, dict | list) else str(v) for v in values], type=target)
        return pa.array(values).cast(target)

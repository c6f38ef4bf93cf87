"""Where datasets are stored: each dataset of a SQL connection has a table of its own.

Two datasets on one table lose data: building the one overwrites the other (a recipe output with
``table: merchants`` replaces the source ``merchants``). Tables are compared ignoring case: DuckDB
ignores it (``Merchants`` is ``merchants``), and on PostgreSQL, where Tideflow quotes names, two
names that differ only in case are two tables that read as one. Files datasets (files, not tables)
and virtual datasets (never stored) have no table. Pure: compares names, opens nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tideflow.errors import GraphError, ProjectError, name_too_long
from tideflow.project.specs import DuckDBConnection, PostgresConnection

if TYPE_CHECKING:
    from tideflow.project.loader import Project


@dataclass(frozen=True)
class _Stored:
    """A dataset stored as a table, with where it is declared: its dataset file, or else the recipe
    that writes it (an output without a dataset file is a table named after it)."""

    dataset: str
    table: str
    connection: str
    schema: str
    written_by: str | None
    file: str | None
    line: int | None
    key_path: str | None

    @property
    def shown(self) -> str:
        if self.file and self.file.startswith("datasets/"):
            return f"{self.dataset!r} ({self.file})"
        return f"{self.dataset!r} (an output of {self.file or 'a recipe'}, stored under its own name)"


def check_tables(project: Project) -> None:
    """Refuse two datasets stored in one table of one database (see the module's docstring), and a
    table name longer than the database keeps (PostgreSQL: 63 bytes; it would cut it silently)."""
    seen: dict[tuple[str, ...], _Stored] = {}
    for name in project.datasets:
        stored = _stored(project, name)
        if stored is None:
            continue
        conn = project.config.connections[stored.connection]
        if isinstance(conn, PostgresConnection):
            too_long = name_too_long("table", stored.table, "postgres", conn.max_name_bytes)
            if too_long is not None:
                fix = "" if stored.file and stored.file.startswith("datasets/") else (
                    f" (rename the output, or declare it in datasets/{stored.dataset}.yaml with a shorter 'table')")
                raise ProjectError(f"dataset {stored.dataset!r}: {too_long}{fix}",
                                   file=stored.file, line=stored.line, key_path=stored.key_path)
        key = (*_database(project, stored.connection), stored.schema.lower(), stored.table.lower())
        if key in seen:
            raise _shared_table(seen[key], stored)
        seen[key] = stored


def _stored(project: Project, name: str) -> _Stored | None:
    spec = project.datasets[name]
    connection = spec.connection or project.config.defaults.connection
    conn = project.config.connections.get(connection)
    if spec.virtual or not isinstance(conn, DuckDBConnection | PostgresConnection):
        return None  # a file, or never stored
    writer = project.graph.producer.get(name)
    file, line, key_path = project.dataset_files.get(name), None, None
    if file is not None:
        key = "table" if spec.table is not None else "name"
        line = project.dataset_lines.get(name, {}).get((key,))
        key_path = key if line is not None else None
    elif writer is not None:
        file = project.files.get(writer)
        index = project.recipes[writer].outputs.index(name)
        key_path = f"outputs[{index}]"
        line = project.key_line(writer, "outputs", index) or project.key_line(writer, "outputs")
    return _Stored(name, spec.table_name, connection, conn.schema_, writer, file, line, key_path)


def _database(project: Project, connection: str) -> tuple[str, ...]:
    """What identifies the database behind a connection: two connections to one DuckDB file or one
    PostgreSQL database share its tables."""
    conn = project.config.connections[connection]
    if isinstance(conn, DuckDBConnection):
        if conn.path == ":memory:":
            return ("duckdb", ":memory:", connection)  # each connection has its own in-memory database
        return ("duckdb", os.path.normpath(Path(project.root) / conn.path))
    if isinstance(conn, PostgresConnection):
        return ("postgres", conn.host.lower(), str(conn.port), conn.dbname)
    return (conn.type, connection)


def _shared_table(first: _Stored, second: _Stored) -> GraphError:
    """The error names both datasets and their files, at the one to change: the output (building it
    would overwrite the other), or else the later one."""
    at = first if first.written_by is not None and second.written_by is None else second
    other = second if at is first else first
    where = f"connection {first.connection!r}" if first.connection == second.connection else (
        f"connections {first.connection!r} and {second.connection!r} (one database)")
    if at.written_by is not None:
        harm = f"building {at.dataset!r} would overwrite {other.dataset!r}"
    else:
        harm = "two sources on one table are one dataset under two names"
    fix = f"give {at.dataset!r} another 'table'" if at.file and at.file.startswith("datasets/") else (
        f"rename the output, or declare it in datasets/{at.dataset}.yaml with another 'table'")
    if at.table == other.table:
        got = f"table {at.table!r} for both"
    else:
        got = (f"table {at.table!r} for {at.dataset!r} and {other.table!r} for {other.dataset!r}, one table in any "
               "case (DuckDB ignores the case of names)")
    return GraphError(
        f"datasets {first.shown} and {second.shown} are stored in one table: expected a table of its own for "
        f"each dataset, got {got}, on {where} (schema {first.schema}); {harm}: {fix}",
        file=at.file, line=at.line, key_path=at.key_path,
    )

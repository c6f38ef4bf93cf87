"""Checks where datasets live: after a build (before its swap) and on demand (CLI, REST API).

``BuildChecks`` is what the Flow's builder calls: the checks of a SQL output run on the temporary
table *before* it replaces the previous one, the checks of a memory output on its Arrow table
before it is written. An error-severity failure raises ``ChecksFailed``, so the recipe fails and
the previous data stays in place. ``check_dataset`` runs a stored dataset's metrics and checks.
``verify_declared`` is the planner's side: the declarations against a schema, before a build.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from tideflow.checks.history import REJECTED, MetricHistory
from tideflow.checks.references import SchemaOf
from tideflow.checks.runner import ArrowSource, ChecksFailed, DatasetReport, Source, SqlSource, plan, run_checks
from tideflow.connections import SqlConnection
from tideflow.errors import ProjectError
from tideflow.project import Project
from tideflow.project.checks_specs import MetricSpec
from tideflow.recipes import Schema


class _StateLike(Protocol):
    @property
    def path(self) -> Path: ...

    def dataset_version(self, name: str) -> str | None: ...


class WorkspaceLike(Protocol):
    """What checks need of ``tideflow.flow.Workspace`` (the Flow sits above this package)."""

    @property
    def project(self) -> Project: ...

    @property
    def state(self) -> _StateLike: ...

    def is_files(self, dataset: str) -> bool: ...

    def sql(self, name: str) -> SqlConnection: ...

    def read_arrow(self, dataset: str, limit: int | None = None) -> pa.Table: ...

    def source_fingerprint(self, dataset: str) -> str: ...


@contextlib.contextmanager
def naming_its_file(project: Project, dataset: str) -> Iterator[str | None]:
    """The file a dataset's checks are declared in, for their errors: ``datasets/<name>.yaml``, not the
    recipe that shares its name. The runner knows the key path of a wrong check (``checks[0].column``),
    not its line: an error about one gets the line of that key in the file."""
    file = project.dataset_files.get(dataset)
    try:
        yield file
    except ProjectError as err:
        if type(err) is not ProjectError or err.line is not None or file is None or err.file != file:
            raise
        raise ProjectError(err.message, file=file, line=project.dataset_key_line(dataset, err.key_path),
                           key_path=err.key_path) from None


def verify_declared(project: Project, dataset: str, schema: Schema, *, schema_of: SchemaOf | None = None) -> None:
    """Refuse ``dataset``'s declared metrics and checks, before anything runs, when they cannot run on
    ``schema`` (the schema the planner knows it will have): a ``ProjectError`` naming its file, line and
    key path, worded as the same error is when the checks run (``runner.plan`` verifies both)."""
    with naming_its_file(project, dataset) as file:
        plan(project.datasets[dataset], schema, file=file, datasets=project.datasets, schema_of=schema_of)


def history_of(state: _StateLike) -> MetricHistory:
    return MetricHistory(state.path)


def wants_checks(project: Project, dataset: str) -> bool:
    spec = project.datasets.get(dataset)
    return spec is not None and spec.checks_after_build and bool(spec.checks or spec.metrics)


class BuildChecks:
    """The builder's side of checks. One per build; safe to use from the builder's threads."""

    def __init__(self, project: Project, state_path: Path) -> None:
        self.project = project
        self.state_path = state_path
        self._history: MetricHistory | None = None
        self._verified: dict[str, DatasetReport] = {}
        self._lock = threading.Lock()

    @property
    def history(self) -> MetricHistory:
        with self._lock:
            if self._history is None:
                self._history = MetricHistory(self.state_path)
            return self._history

    def _verify(self, dataset: str, source: Source) -> None:
        with naming_its_file(self.project, dataset) as file:
            report = run_checks(self.project.datasets[dataset], source, file=file, history=self.history,
                                datasets=self.project.datasets)
        if report.errors:
            self.history.record(dataset, REJECTED, {}, report.outcomes)
            raise ChecksFailed(report, kept_previous=True)
        with self._lock:
            self._verified[dataset] = report

    def sql_hook(self, connection: SqlConnection, outputs: dict[str, str]) -> Callable[[dict[str, str]], None] | None:
        """A ``before_swap`` hook for ``replace_tables``: ``outputs`` maps table -> dataset."""
        if not any(wants_checks(self.project, d) for d in outputs.values()):
            return None

        def before_swap(temps: dict[str, str]) -> None:
            for table, temp in temps.items():
                dataset = outputs[table]
                if not wants_checks(self.project, dataset):
                    continue
                schema = connection.table_schema(temp) or {}
                self._verify(dataset, SqlSource(connection, connection.table_ref(temp), schema))

        return before_swap

    def verify_arrow(self, dataset: str, table: pa.Table) -> None:
        """Check a memory-engine output before it is written."""
        if wants_checks(self.project, dataset):
            self._verify(dataset, ArrowSource(table))

    def commit(self, versions: dict[str, str]) -> None:
        """Record the metrics and outcomes of the verified outputs under their new versions."""
        for dataset, version in versions.items():
            with self._lock:
                report = self._verified.pop(dataset, None)
            if report is not None:
                self.history.record(dataset, version, report.values, report.outcomes)


def dataset_source(workspace: WorkspaceLike, dataset: str) -> Source:
    """Where ``dataset``'s metrics run: its database, or Polars for a files dataset."""
    project = workspace.project
    spec = project.dataset(dataset)
    if workspace.is_files(dataset):
        return ArrowSource(workspace.read_arrow(dataset))
    sql = workspace.sql(project.connection_of(dataset))
    schema = sql.table_schema(spec.table_name)
    if schema is None:
        raise ProjectError(f"dataset {dataset!r} has not been built yet: run 'tide flow build {dataset}'")
    return SqlSource(sql, sql.table_ref(spec.table_name), schema)


def dataset_version(workspace: WorkspaceLike, dataset: str) -> str:
    """The recorded version of a built dataset, or ``source:<fingerprint>`` for a source."""
    return workspace.state.dataset_version(dataset) or "source:" + workspace.source_fingerprint(dataset)


def check_dataset(workspace: WorkspaceLike, dataset: str, *, metrics: list[MetricSpec] | None = None,
                  checks: bool = True, record: bool = True) -> DatasetReport:
    """Compute a stored dataset's metrics (``metrics`` overrides the declared ones) and evaluate its
    checks where it lives; record them in the history under the dataset's current version."""
    project = workspace.project
    spec = project.dataset(dataset)
    source = dataset_source(workspace, dataset)
    version = dataset_version(workspace, dataset)
    history = history_of(workspace.state)
    with naming_its_file(project, dataset) as file:
        report = run_checks(spec, source, file=file, history=history, version=version, metrics=metrics,
                            checks=checks, datasets=project.datasets)
    if record:
        history.record(dataset, version, report.values, report.outcomes)
    return report

"""The Flow's entry points used by the CLI and the REST API."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from tideflow.engines.sql import to_sql
from tideflow.errors import ProjectError, UnsupportedPushdown
from tideflow.flow.builder import Builder
from tideflow.flow.buildlock import WAIT_S, build_lock
from tideflow.flow.locate import with_lines
from tideflow.flow.model import BuildEvent, BuildMode, BuildResult, Plan, PlannedRecipe
from tideflow.flow.planner import Planner
from tideflow.flow.workspace import Workspace
from tideflow.project import Project


def _check_mode(mode: str) -> BuildMode:
    from tideflow.errors import did_you_mean
    from tideflow.flow.model import BUILD_MODES

    if mode not in BUILD_MODES:
        raise ProjectError(f"unknown build mode {mode!r}{did_you_mean(mode, BUILD_MODES)}; "
                           f"expected one of {', '.join(BUILD_MODES)}")
    return mode  # type: ignore[return-value,unused-ignore]


def _check_engine(engine: str | None) -> str | None:
    if engine not in (None, "sql", "memory"):
        raise ProjectError(f"unknown engine {engine!r}: expected 'sql' or 'memory'")
    return engine


@with_lines
def plan_build(project: Project, targets: list[str] | None = None, mode: str = "smart",
               engine: str | None = None) -> Plan:
    """What ``build`` would run, on which engine and why, with the SQL. Reads; writes nothing."""
    with Workspace(project) as workspace:
        planner = Planner(project, workspace, engine_override=_check_engine(engine))
        selected = planner.select(targets, _check_mode(mode))
        steps = [planner.planned(n, why) for n, why in selected.items()]
        candidates = planner.target_recipes(targets, mode)
        skipped = [n for n in project.graph.order if n in candidates and n not in selected]
        planner.verify_checks([*selected, *candidates])
        return Plan(steps=steps, skipped=skipped)


@with_lines
def build(project: Project, targets: list[str] | None = None, mode: str = "smart", engine: str | None = None,
          *, on_event: Callable[[BuildEvent], None] | None = None, parallelism: int | None = None,
          lock_wait_s: float = WAIT_S) -> BuildResult:
    """Build ``targets`` (dataset names; None: everything) in ``mode``; one build of a project at a time
    (``buildlock``: a second one waits ``lock_wait_s``, then ``BuildBusy``)."""
    with build_lock(project.state_dir, wait_s=lock_wait_s), Workspace(project) as workspace:
        planner = Planner(project, workspace, engine_override=_check_engine(engine))
        selected = planner.select(targets, _check_mode(mode))
        for name in selected:
            planner.decide(name)
        # metrics and checks that cannot run on the schemas the plan knows are refused before anything runs
        planner.verify_checks([*selected, *planner.target_recipes(targets, mode)])
        builder = Builder(planner, parallelism=parallelism or project.config.defaults.parallelism,
                          on_event=on_event)
        return builder.run(selected)


@with_lines
def explain_recipe(project: Project, recipe: str, engine: str | None = None) -> PlannedRecipe:
    """The engine chosen for ``recipe``, why, whether a smart build would run it (``outdated_reason``;
    empty: up to date) and its SQL (in its connection's dialect)."""
    spec = project.recipe(recipe)
    with Workspace(project) as workspace:
        planner = Planner(project, workspace, engine_override=_check_engine(engine))
        outdated = planner.select(list(spec.outputs), "smart")  # its upstream only: fingerprints cost a scan
        planned = planner.planned(recipe, outdated.get(recipe, ""))
        planner.verify_checks([recipe])
        return planned


@with_lines
def recipe_sql(project: Project, recipe: str, dialect: str | None = None) -> dict[str, str]:
    """The SQL of ``recipe`` per output, for its connection or transpiled to ``dialect``."""
    spec = project.recipe(recipe)
    with Workspace(project) as workspace:
        planner = Planner(project, workspace)
        connection = planner.output_connection(spec)
        if connection is None or workspace.connection_type(connection) == "files":
            connection = project.config.defaults.connection
        target = dialect or workspace.sql(connection).dialect
        try:
            compiled = planner.compiler.compile(spec, connection, target)
        except UnsupportedPushdown as err:
            raise ProjectError(f"recipe {recipe!r} has no SQL form for {target}: {err}") from None
        return {out: to_sql(q, target) for out, q in compiled.queries.items()}


@with_lines
def dataset_head(project: Project, name: str, n: int = 10) -> pa.Table:
    """The first ``n`` rows of a stored dataset (a virtual one is computed by its SQL)."""
    spec = project.dataset(name)
    with Workspace(project) as workspace:
        if spec.virtual:
            planner = Planner(project, workspace)
            producer = project.recipes[project.graph.producer[name]]
            connection = project.connection_of(name)
            query = planner.compiler.compile(producer, connection).queries[name]
            sql = workspace.sql(connection)
            return sql.fetch_arrow(to_sql(query.limit(n) if hasattr(query, "limit") else query, sql.dialect))
        return workspace.read_arrow(name, limit=n)


@with_lines
def dataset_schema(project: Project, name: str) -> dict[str, str]:
    """Column -> logical type of a dataset (stored, or inferred when not built yet)."""
    project.dataset(name)
    with Workspace(project) as workspace:
        planner = Planner(project, workspace)
        schema = planner.schema_of(name)
        if schema is None:
            _raise_why_unknown(planner, name)
            raise ProjectError(f"the schema of dataset {name!r} is unknown until it is built: "
                               f"run 'tide flow build {name}'")
        return {col: str(t) for col, t in schema.items()}


def _raise_why_unknown(planner: Planner, dataset: str) -> None:
    """Raise what keeps the schema of ``dataset`` from being known without a build, when it is an error:
    a source whose table or file is missing, or a recipe upstream that does not plan (an unknown column,
    a bad expression), found as ``explain`` and ``build`` find it. Return when only a build tells (the
    output of a Python recipe, or of a recipe reading one)."""
    project = planner.project
    producer = project.graph.producer.get(dataset)
    if producer is None:
        if not planner.workspace.exists(dataset):
            raise planner.workspace.not_there(dataset)
        return
    recipe = project.recipes[producer]
    for inp in recipe.inputs:
        if planner.schema_of(inp) is None:
            _raise_why_unknown(planner, inp)
            return
    planner.compiler.validate(recipe)  # raises the planning error, if any

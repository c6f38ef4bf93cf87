"""Routes of the project, the Flow (datasets, recipes, builds) and checks: thin calls into ``tideflow.flow``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from tideflow.api.context import Platform, jsonable, platform, project
from tideflow.api.errors import TideflowRoute, require
from tideflow.api.schemas import (
    BuildInfo,
    BuildRequest,
    CheckResult,
    ChecksReport,
    ConnectionInfo,
    DatasetInfo,
    DatasetPreview,
    DatasetSchema,
    MetricResult,
    ProjectInfo,
    RecipeDetail,
    RecipeExplain,
    RecipeInfo,
    RecipeSql,
)
from tideflow.project import Project

router = APIRouter(route_class=TideflowRoute)
ProjectDep = Annotated[Project, Depends(project)]
PlatformDep = Annotated[Platform, Depends(platform)]
MAX_PREVIEW_ROWS = 1000
#: The dialects ``tideflow.engines.sql`` compiles to (its ``TRAITS`` table; a test pins the two together).
SqlDialect = Literal["duckdb", "postgres", "spark", "snowflake"]


def _version() -> str:
    try:
        return version("tideflow")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@router.get("/projects/current", response_model=ProjectInfo, tags=["project"])
def current_project(proj: ProjectDep) -> ProjectInfo:
    """The project this server runs on: name, connections (types only), counts of each kind of object."""
    from tideflow.automation.scenarios_loading import scenario_names
    from tideflow.lab import model_names
    from tideflow.serving.specs import service_files

    config = proj.config
    return ProjectInfo(
        name=config.name, description=config.description, root=str(proj.root), tideflow_version=_version(),
        connections=[ConnectionInfo(name=n, type=c.type, default=n == config.defaults.connection)
                     for n, c in config.connections.items()],
        default_engine=config.defaults.engine, parallelism=config.defaults.parallelism,
        datasets=len(proj.datasets), recipes=len(proj.recipes), models=len(model_names(proj)),
        services=len(service_files(proj.root)), scenarios=len(scenario_names(proj.root)))


# ------------------------------------------------------------------ datasets


def _dataset_info(proj: Project, name: str) -> DatasetInfo:
    spec = proj.datasets[name]
    connection = proj.connection_of(name)
    conn = proj.config.connections.get(connection)
    is_file = conn is not None and conn.type == "files"
    return DatasetInfo(
        name=name, connection=connection, kind="file" if is_file else "table",
        table=None if is_file else spec.table_name, path=spec.path if is_file else None, virtual=spec.virtual,
        produced_by=proj.graph.producer.get(name),
        consumed_by=[r for r in proj.graph.order if name in proj.recipes[r].inputs],
        checks=len(spec.checks), metrics=len(spec.metrics), description=spec.description,
        file=proj.dataset_files.get(name))


@router.get("/datasets", response_model=list[DatasetInfo], tags=["datasets"])
def list_datasets(proj: ProjectDep) -> list[DatasetInfo]:
    """Every dataset of the Flow: sources and recipe outputs."""
    return [_dataset_info(proj, name) for name in sorted(proj.datasets)]


@router.get("/datasets/{name}", response_model=DatasetInfo, tags=["datasets"])
def get_dataset(name: str, proj: ProjectDep) -> DatasetInfo:
    """One dataset: where it lives, which recipe writes it and which read it."""
    require("dataset", name, proj.datasets)
    return _dataset_info(proj, name)


@router.get("/datasets/{name}/schema", response_model=DatasetSchema, tags=["datasets"])
def get_dataset_schema(name: str, proj: ProjectDep) -> DatasetSchema:
    """Columns and logical types (stored, or inferred from the recipe when not built yet)."""
    from tideflow.flow import dataset_schema

    require("dataset", name, proj.datasets)
    return DatasetSchema(dataset=name, columns=dataset_schema(proj, name))


@router.get("/datasets/{name}/preview", response_model=DatasetPreview, tags=["datasets"])
def preview_dataset(
    name: str, proj: ProjectDep,
    limit: Annotated[int, Query(ge=0, le=MAX_PREVIEW_ROWS, description="Rows to return.")] = 20,
) -> DatasetPreview:
    """The first rows of a dataset (a virtual dataset is computed by its SQL)."""
    from tideflow.flow import dataset_head

    require("dataset", name, proj.datasets)
    table = dataset_head(proj, name, limit)
    rows = [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
    return DatasetPreview(dataset=name, columns=list(table.column_names), rows=rows, count=len(rows))


@router.get("/datasets/{name}/checks", response_model=ChecksReport, tags=["checks"])
def run_dataset_checks(name: str, proj: ProjectDep) -> ChecksReport:
    """Compute the dataset's metrics and evaluate its checks where it lives; the values join its history."""
    from tideflow.checks import check_dataset, show_value
    from tideflow.flow import Workspace

    require("dataset", name, proj.datasets)
    with Workspace(proj) as workspace:
        report = check_dataset(workspace, name)
    checks = [CheckResult(check=o.check, rule=o.rule, outcome=o.outcome, severity=o.severity, expected=o.expected,
                          got=o.got, message=o.message) for o in report.outcomes]
    metrics = [MetricResult(metric=spec.label, value=jsonable(value), shown=show_value(value))
               for spec, value in report.metrics]
    return ChecksReport(dataset=name, outcome=report.outcome, errors=len(report.errors),
                        warnings=len(report.warnings), checks=checks, metrics=metrics)


# ------------------------------------------------------------------ recipes


def _recipe_info(proj: Project, name: str) -> RecipeInfo:
    recipe = proj.recipes[name]
    return RecipeInfo(name=name, type=str(recipe.type), inputs=list(recipe.inputs), outputs=list(recipe.outputs),
                      file=proj.files.get(name))


@router.get("/recipes", response_model=list[RecipeInfo], tags=["recipes"])
def list_recipes(proj: ProjectDep) -> list[RecipeInfo]:
    """Every recipe, in build order."""
    return [_recipe_info(proj, name) for name in proj.graph.order]


@router.get("/recipes/{name}", response_model=RecipeDetail, tags=["recipes"])
def get_recipe(name: str, proj: ProjectDep) -> RecipeDetail:
    """A recipe's spec as declared (validated) and its code."""
    require("recipe", name, proj.recipes)
    info = _recipe_info(proj, name)
    spec = jsonable(proj.recipes[name].model_dump(mode="json", by_alias=True, exclude_none=True))
    return RecipeDetail(**info.model_dump(), spec=spec, code=proj.code.get(name))


@router.get("/recipes/{name}/sql", response_model=RecipeSql, tags=["recipes"])
def get_recipe_sql(
    name: str, proj: ProjectDep,
    dialect: Annotated[SqlDialect | None, Query(description="Transpile to this dialect (default: the recipe's "
                                                            "connection's).")] = None,
) -> RecipeSql:
    """The SQL a recipe runs, per output, in its connection's dialect or transpiled to ``dialect``."""
    from tideflow.flow import recipe_sql

    require("recipe", name, proj.recipes)
    return RecipeSql(recipe=name, dialect=dialect, sql=recipe_sql(proj, name, dialect))


@router.get("/recipes/{name}/explain", response_model=RecipeExplain, tags=["recipes"])
def explain(name: str, proj: ProjectDep) -> RecipeExplain:
    """The engine the planner picks for the recipe, why, and the SQL it would run."""
    from tideflow.flow import explain_recipe

    require("recipe", name, proj.recipes)
    p = explain_recipe(proj, name)
    return RecipeExplain(recipe=p.recipe, engine=p.engine, reason=p.reason, connection=p.connection, sql=dict(p.sql),
                         outdated_reason=p.outdated_reason, virtual_outputs=list(p.virtual_outputs),
                         fused_into=p.fused_into)


# ------------------------------------------------------------------ builds


@router.post("/builds", response_model=BuildInfo, status_code=status.HTTP_202_ACCEPTED, tags=["builds"])
def start_build(body: BuildRequest, plat: PlatformDep) -> BuildInfo:
    """Plan a build now (errors answer at once), run it in the background; poll ``GET /builds/{id}``."""
    return plat.builds.submit(body)


@router.get("/builds", response_model=list[BuildInfo], tags=["builds"])
def list_builds(plat: PlatformDep) -> list[BuildInfo]:
    """Builds started through this server, newest first."""
    return plat.builds.list()


@router.get("/builds/{build_id}", response_model=BuildInfo, tags=["builds"])
def get_build(build_id: str, plat: PlatformDep) -> BuildInfo:
    """A build's status and the run of each recipe (engine, seconds, rows, error)."""
    return plat.builds.get(build_id)

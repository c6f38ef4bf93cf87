"""Routes of the Lab (runs, leaderboards), saved models (versions, activation) and drift (evaluations)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tideflow.api.context import finite, jsonable, project
from tideflow.api.errors import TideflowRoute, UnknownName, require
from tideflow.api.schemas import (
    ActivateRequest,
    EvaluationDetail,
    EvaluationSummary,
    LabRun,
    LeaderboardInfo,
    ModelVersionDetail,
    ModelVersionInfo,
    SavedModel,
    SavedModelDetail,
    Trial,
)
from tideflow.project import Project

router = APIRouter(route_class=TideflowRoute)
ProjectDep = Annotated[Project, Depends(project)]


# ------------------------------------------------------------------ Lab


def _lab_run(row: Any) -> LabRun:
    return LabRun(run_id=row.run_id, model=row.model, status=row.status, started_at=row.started_at,
                  finished_at=row.finished_at, version=row.version, metric=row.metric,
                  higher_is_better=row.higher_is_better)


@router.get("/lab/runs", response_model=list[LabRun], tags=["lab"])
def lab_runs(
    proj: ProjectDep,
    model: Annotated[str | None, Query(description="Only the runs of this model (models/<model>.yaml).")] = None,
) -> list[LabRun]:
    """Searches of the Lab (one run = one search of one model spec), newest first."""
    from tideflow.lab import model_names
    from tideflow.lab.store import TrialStore

    names = model_names(proj)
    if model is not None:
        names = [require("model", model, names)]
    with TrialStore(proj.state_dir) as store:
        rows = [row for name in names for row in store.runs(name)]
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return [_lab_run(r) for r in rows]


@router.get("/lab/{model}/leaderboard", response_model=LeaderboardInfo, tags=["lab"])
def lab_leaderboard(
    model: str, proj: ProjectDep,
    run: Annotated[str | None, Query(description="A run id (default: the latest run).")] = None,
) -> LeaderboardInfo:
    """The trials of a search, best first (rung reached, then score)."""
    from tideflow.lab import leaderboard, model_names
    from tideflow.lab.store import TrialStore

    require("model", model, model_names(proj))
    with TrialStore(proj.state_dir) as store:
        run_ids = [r.run_id for r in store.runs(model)]
    if not run_ids:
        raise UnknownName("Lab run of model", model, [], message=f"model {model!r} has not been trained yet: "
                                                                 f"run 'tide lab train {model}'")
    if run is not None:
        require("run", run, run_ids)
    board = leaderboard(proj, model, run)
    best = board.best
    trials = [Trial(rank=i, trial_id=r.trial_id, algorithm=r.algorithm, params=jsonable(r.params), status=r.status,
                    rung=r.rung, fraction=r.fraction, score=finite(r.score), seconds=r.seconds)
              for i, r in enumerate(board.rows, 1)]
    return LeaderboardInfo(model=model, run=_lab_run(board.run) if board.run else None, metric=board.metric,
                           higher_is_better=board.higher_is_better, best=best.trial_id if best else None,
                           trials=trials)


# ------------------------------------------------------------------ saved models


def _version_info(v: Any) -> ModelVersionInfo:
    return ModelVersionInfo(name=v.name, version=v.version, created_at=v.created_at, active=v.active,
                            algorithm=v.algorithm, metric=v.metric, score=finite(v.score), metrics=jsonable(v.metrics),
                            input_schema=dict(v.input_schema))


def _saved_model(name: str, versions: list[ModelVersionInfo]) -> SavedModel:
    active = next((v for v in versions if v.active), None)
    return SavedModel(name=name, active_version=active.version if active else None, versions=len(versions),
                      algorithm=active.algorithm if active else None, metric=active.metric if active else None,
                      score=active.score if active else None)


@router.get("/models", response_model=list[SavedModel], tags=["models"])
def list_models(proj: ProjectDep) -> list[SavedModel]:
    """Saved models: the active version and how many versions each has."""
    from tideflow.models import Registry

    with Registry(proj.state_dir) as registry:
        versions = [_version_info(v) for v in registry.list()]
    names = sorted({v.name for v in versions})
    return [_saved_model(n, [v for v in versions if v.name == n]) for n in names]


def _require_model(registry: Any, name: str) -> None:
    require("saved model", name, registry.names(), hint="train one with 'tide lab train'")


@router.get("/models/{name}", response_model=SavedModelDetail, tags=["models"])
def get_model(name: str, proj: ProjectDep) -> SavedModelDetail:
    """A saved model and all its versions."""
    from tideflow.models import Registry

    with Registry(proj.state_dir) as registry:
        _require_model(registry, name)
        versions = [_version_info(v) for v in registry.list(name)]
    return SavedModelDetail(**_saved_model(name, versions).model_dump(), all_versions=versions)


@router.get("/models/{name}/versions/{version}", response_model=ModelVersionDetail, tags=["models"])
def get_model_version(name: str, version: int, proj: ProjectDep) -> ModelVersionDetail:
    """One version: metrics, input schema and its experiment record."""
    from tideflow.models import Registry

    with Registry(proj.state_dir) as registry:
        _require_model(registry, name)
        require(f"version of {name!r}", str(version), [str(v.version) for v in registry.list(name)])
        found = registry.get(name, version)
    return ModelVersionDetail(**_version_info(found).model_dump(), record=jsonable(found.record))


@router.post("/models/{name}/activate", response_model=ModelVersionInfo, tags=["models"])
def activate_model(name: str, body: ActivateRequest, proj: ProjectDep) -> ModelVersionInfo:
    """Make a version the active one (what scoring and prediction endpoints use)."""
    from tideflow.models import Registry

    with Registry(proj.state_dir) as registry:
        _require_model(registry, name)
        require(f"version of {name!r}", str(body.version), [str(v.version) for v in registry.list(name)])
        return _version_info(registry.activate(name, body.version))


# ------------------------------------------------------------------ drift (tideflow.monitoring)


def _summary(e: Any) -> dict[str, Any]:
    return {"id": int(e.id or 0), "model": e.model, "version": e.version, "created_at": e.created_at,
            "source": e.current.source, "data_version": e.current.data_version, "rows": e.current.rows,
            "drift_score": finite(e.drift_score), "drifting_features": list(e.drifting_features),
            "alarm": bool(e.alarm), "reasons": list(e.reasons)}


def _monitored(proj: Project, name: str) -> list[str]:
    from tideflow.models import Registry
    from tideflow.monitoring import EvaluationStore

    with Registry(proj.state_dir) as registry:
        known = set(registry.names())
    known |= set(EvaluationStore(proj.state_dir).models())
    return sorted(known)


@router.get("/models/{name}/evaluations", response_model=list[EvaluationSummary], tags=["drift"])
def list_evaluations(
    name: str, proj: ProjectDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="The newest N evaluations.")] = 100,
) -> list[EvaluationSummary]:
    """Drift evaluations of a saved model, oldest first: drift score, drifting features, alarm and why."""
    from tideflow.monitoring import EvaluationStore

    require("saved model", name, _monitored(proj, name))
    return [EvaluationSummary(**_summary(e)) for e in EvaluationStore(proj.state_dir).list(name, limit=limit)]


@router.get("/models/{name}/evaluations/{evaluation_id}", response_model=EvaluationDetail, tags=["drift"])
def get_evaluation(name: str, evaluation_id: int, proj: ProjectDep) -> EvaluationDetail:
    """One evaluation in full: per-feature drift (PSI, KS, chi-square), domain classifier, prediction and
    performance drift."""
    from tideflow.monitoring import EvaluationStore

    require("saved model", name, _monitored(proj, name))
    store = EvaluationStore(proj.state_dir)
    ids = [str(e.id) for e in store.list(name, limit=100_000)]
    require(f"evaluation of {name!r}", str(evaluation_id), ids)
    found = store.get(evaluation_id)
    return EvaluationDetail(**_summary(found), evaluation=jsonable(found.as_dict()))

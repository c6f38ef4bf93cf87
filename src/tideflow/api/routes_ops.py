"""Routes of API services (specs, replica history) and scenarios (specs, run history, manual runs)."""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from tideflow.api.context import Platform, jsonable, platform, project
from tideflow.api.errors import TideflowRoute, UnknownName, require
from tideflow.api.schemas import (
    EndpointInfo,
    ReplicaDecision,
    ScenarioAttempt,
    ScenarioInfo,
    ScenarioRun,
    ScenarioRunRequest,
    ScenarioRunStarted,
    ScenarioStep,
    ServiceDetail,
    ServiceInfo,
)
from tideflow.errors import ProjectError
from tideflow.project import Project

router = APIRouter(route_class=TideflowRoute)
ProjectDep = Annotated[Project, Depends(project)]
PlatformDep = Annotated[Platform, Depends(platform)]
#: How long ``POST /scenarios/{name}/run`` waits for the run to take the scenario's lock.
START_WAIT_S = 30.0


# ------------------------------------------------------------------ API services


def _service_info(spec: Any) -> ServiceInfo:
    endpoints = [EndpointInfo(name=e.name, type=e.type, versions=e.version_labels(), workers=e.num_workers,
                              batching=e.batching.model_dump() if e.batching else None) for e in spec.endpoints]
    return ServiceInfo(name=spec.name, description=spec.description, endpoints=endpoints,
                       autoscaling=spec.autoscaling is not None)


@router.get("/services", response_model=list[ServiceInfo], tags=["services"])
def list_services(proj: ProjectDep) -> list[ServiceInfo]:
    """API services (``api/*.yaml``) and their endpoints; an invalid file is listed with its error."""
    from tideflow.serving.specs import load_service, service_files

    found = []
    for name in service_files(proj.root):
        try:
            found.append(_service_info(load_service(proj.root, name)))
        except ProjectError as error:
            found.append(ServiceInfo(name=name, description="", endpoints=[], autoscaling=False, error=str(error)))
    return found


@router.get("/services/{name}", response_model=ServiceDetail, tags=["services"])
def get_service(
    name: str, proj: ProjectDep,
    decisions: Annotated[int, Query(ge=0, le=1000, description="Newest replica decisions to return.")] = 50,
) -> ServiceDetail:
    """A service's spec, and when it was served with autoscaling here: its last status and replica history."""
    from tideflow.autoscaling.controller import read_decisions
    from tideflow.serving.router import state_dir
    from tideflow.serving.specs import load_service, service_files

    require("API service", name, service_files(proj.root))
    spec = load_service(proj.root, name)
    folder = state_dir(proj.root, name)
    status_doc: dict[str, Any] | None = None
    status_file = folder / "status.json"
    if status_file.is_file():
        try:
            status_doc = jsonable(json.loads(status_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            status_doc = None
    history = read_decisions(folder / "decisions.jsonl", decisions) if decisions else []
    replica_history = [
        ReplicaDecision(time=d.time, replicas_before=d.replicas_before, replicas_after=d.replicas_after, ready=d.ready,
                        metric=d.metric, value=jsonable(d.value), observed=jsonable(d.observed), reason=d.reason,
                        event=d.event, panic=bool(d.panic))
        for d in history]
    return ServiceDetail(**_service_info(spec).model_dump(), spec=jsonable(spec.model_dump(mode="json", by_alias=True)),
                         status=status_doc, decisions=replica_history)


# ------------------------------------------------------------------ scenarios


@router.get("/scenarios", response_model=list[ScenarioInfo], tags=["scenarios"])
def list_scenarios(proj: ProjectDep) -> list[ScenarioInfo]:
    """Scenarios (``scenarios/*.yaml``): triggers, steps and manual parameters; an invalid file shows its error."""
    from tideflow.automation.scenarios_loading import load_scenario, scenario_names

    found = []
    for name in scenario_names(proj.root):
        try:
            spec = load_scenario(proj, name).spec
        except ProjectError as error:
            found.append(ScenarioInfo(name=name, description="", enabled=False, triggers=[], steps=[], params={},
                                      error=str(error)))
            continue
        found.append(ScenarioInfo(name=name, description=spec.description, enabled=spec.enabled,
                                  triggers=[t.type for t in spec.triggers],
                                  steps=[spec.step_name(i) for i in range(len(spec.steps))],
                                  params={k: p.type for k, p in spec.params.items()}))
    return found


def _require_scenario(proj: Project, name: str) -> None:
    from tideflow.automation.scenarios_loading import scenario_names

    require("scenario", name, scenario_names(proj.root))


def _run(record: Any) -> ScenarioRun:
    steps = [ScenarioStep(index=s.index, step=s.step, type=s.type, outcome=s.outcome, attempts=s.attempts,
                          seconds=s.seconds, message=s.message, started_at=s.started_at,
                          attempt_log=[ScenarioAttempt(attempt=a.attempt, outcome=a.outcome, seconds=a.seconds,
                                                       message=a.message, log=a.log, started_at=a.started_at)
                                       for a in s.attempt_log])
             for s in record.steps]
    return ScenarioRun(run_id=record.run_id, scenario=record.scenario, trigger=record.trigger,
                       params=jsonable(record.params), outcome=record.outcome, failed_step=record.failed_step,
                       message=record.message, started_at=record.started_at, finished_at=record.finished_at,
                       seconds=record.seconds, steps=steps)


@router.get("/scenarios/{name}/runs", response_model=list[ScenarioRun], tags=["scenarios"])
def scenario_runs(
    name: str, proj: ProjectDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="The newest N runs.")] = 20,
) -> list[ScenarioRun]:
    """Past runs of a scenario, newest first (without steps: see ``/scenarios/{name}/runs/{run_id}``)."""
    from tideflow.automation import RunHistory

    _require_scenario(proj, name)
    return [_run(r) for r in RunHistory(proj.state_dir).runs(name, limit)]


@router.get("/scenarios/{name}/runs/{run_id}", response_model=ScenarioRun, tags=["scenarios"])
def scenario_run(name: str, run_id: str, proj: ProjectDep) -> ScenarioRun:
    """One run with its steps, every attempt and their logs."""
    from tideflow.automation import RunHistory

    _require_scenario(proj, name)
    history = RunHistory(proj.state_dir)
    record = history.run(run_id)
    if record is None or record.scenario != name:
        raise UnknownName(f"run of scenario {name!r}", run_id, [r.run_id for r in history.runs(name, 1000)])
    return _run(record)


@router.post("/scenarios/{name}/run", response_model=ScenarioRunStarted, status_code=status.HTTP_202_ACCEPTED,
             tags=["scenarios"])
def start_scenario(name: str, body: ScenarioRunRequest, proj: ProjectDep, plat: PlatformDep) -> ScenarioRunStarted:
    """Run a scenario now, in the background (manual trigger with parameters); poll its run by id.

    Bad parameters answer 400 at once; a scenario already running answers 409 (the skipped run is recorded).
    """
    from tideflow.automation.scenarios_loading import load_scenario
    from tideflow.automation.scenarios_run import resolve_params, run_scenario

    _require_scenario(proj, name)
    resolve_params(load_scenario(proj, name).spec, body.params)  # errors before anything runs
    started = threading.Event()
    box: dict[str, Any] = {}

    def on_start(run_id: str) -> None:
        box["run_id"] = run_id
        started.set()

    def target() -> None:
        try:
            run_scenario(proj, name, params=body.params, trigger="api", on_start=on_start)
        except Exception as error:  # before the start: answered to the client; after: in the history
            box.setdefault("error", error)
        finally:
            started.set()

    thread = threading.Thread(target=target, name=f"tide-scenario-{name}", daemon=True)
    plat.jobs.append(thread)
    thread.start()
    started.wait(START_WAIT_S)
    if "run_id" not in box:
        if "error" in box:
            raise box["error"]
        raise ProjectError(f"scenario {name!r} did not start within {START_WAIT_S:g} s")
    return ScenarioRunStarted(run_id=box["run_id"], scenario=name,
                              status="running" if thread.is_alive() else "finished")

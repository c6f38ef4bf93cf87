"""Read ``scenarios/<name>.yaml`` with located errors and check it against the project.

Errors are ``ProjectError``s naming the file, the line, the key path, expected and got, and the
nearest valid name ("unknown step type 'biuld': did you mean 'build'?").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tideflow.automation.scenarios import (
    BUILTIN_NAMES,
    REPORTER_TYPES,
    STEP_TYPES,
    TRIGGER_TYPES,
    AfterScenarioTrigger,
    BuildStep,
    DatasetChangedTrigger,
    EvaluateStep,
    LogFileReporter,
    ManualTrigger,
    RefreshApiStep,
    RunPythonStep,
    RunSqlStep,
    ScenarioSpec,
    ScoreStep,
    SendMessageStep,
    SqlChangedTrigger,
    TimeTrigger,
    TrainStep,
    VerifyChecksStep,
    WebhookReporter,
    template_names,
)
from tideflow.automation.sql_values import check_sql
from tideflow.automation.triggers import check_read_only
from tideflow.errors import ProjectError, did_you_mean
from tideflow.project import SQL_CONNECTION_TYPES, Project
from tideflow.project.yamlfile import KeyPath, format_path, read_yaml, validate

SCENARIOS_DIR = "scenarios"

_ITEM_CLASSES: dict[str, dict[str, type[BaseModel]]] = {
    "triggers": {"time": TimeTrigger, "dataset_changed": DatasetChangedTrigger, "sql_changed": SqlChangedTrigger,
                 "after_scenario": AfterScenarioTrigger, "manual": ManualTrigger},
    "steps": dict(zip(STEP_TYPES, (BuildStep, VerifyChecksStep, TrainStep, ScoreStep, EvaluateStep, RefreshApiStep,
                                   RunSqlStep, RunPythonStep, SendMessageStep), strict=True)),
    "reporters": {"webhook": WebhookReporter, "log_file": LogFileReporter},
}
_KINDS = {"triggers": ("trigger", TRIGGER_TYPES), "steps": ("step", STEP_TYPES),
          "reporters": ("reporter", REPORTER_TYPES)}


@dataclass(frozen=True)
class ScenarioFile:
    """A validated scenario with where it came from, so later checks point at a line."""

    spec: ScenarioSpec
    shown: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def error(self, message: str, *path: str | int) -> ProjectError:
        line = None
        probe: KeyPath = tuple(path)
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe[:-1]
        return ProjectError(message, file=self.shown, line=line, key_path=format_path(path) or None)


def parse_scenario(data: Any, *, shown: str, name: str, lines: dict[KeyPath, int] | None = None) -> ScenarioFile:
    """Validate the shape and the static meaning of a scenario (no project needed)."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ProjectError(f"expected a mapping of keys, got {type(data).__name__}", file=shown, line=1)
    if "name" in data and data["name"] != name:
        raise ProjectError(f"name {data['name']!r} differs from the file name {name!r}", file=shown,
                           line=lines.get(("name",)), key_path="name")
    for section, classes in _ITEM_CLASSES.items():
        items = data.get(section)
        if not isinstance(items, list):
            continue
        what, types = _KINDS[section]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind is None:
                raise ProjectError(f"missing the key 'type' (one of {', '.join(types)})", file=shown,
                                   line=lines.get((section, i)), key_path=format_path((section, i, "type")))
            if kind not in classes:
                raise ProjectError(f"unknown {what} type {kind!r}{did_you_mean(str(kind), types)} "
                                   f"(expected one of {', '.join(types)})", file=shown,
                                   line=lines.get((section, i, "type")), key_path=format_path((section, i, "type")))
            cls = classes[kind]
            probe = {"name": "probe", **item} if section == "steps" else item
            validate(cls, probe, shown=shown, lines=lines, vocabulary_of=cls, prefix=(section, i))
    spec: ScenarioSpec = validate(ScenarioSpec, {**data, "name": name}, shown=shown, lines=lines,
                                  vocabulary_of=ScenarioSpec)
    scenario = ScenarioFile(spec=spec, shown=shown, lines=lines)
    _check_static(scenario)
    return scenario


def _check_static(file: ScenarioFile) -> None:
    spec = file.spec
    seen: dict[str, int] = {}
    for i in range(len(spec.steps)):
        name = spec.step_name(i)
        if name in seen:
            raise file.error(f"step name {name!r} is used twice (also steps[{seen[name]}])", "steps", i, "name")
        seen[name] = i
    reporters: dict[str, int] = {}
    for i, reporter in enumerate(spec.reporters):
        if reporter.name in reporters:
            raise file.error(f"reporter name {reporter.name!r} is used twice", "reporters", i, "name")
        reporters[reporter.name] = i
    params = spec.params
    if any(not isinstance(t, ManualTrigger) for t in spec.triggers):
        for trigger_index, trigger in enumerate(spec.triggers):
            if not isinstance(trigger, ManualTrigger):
                continue
            for param, param_spec in trigger.params.items():
                if param_spec.default is None:
                    raise file.error(f"parameter {param!r} needs a default: the scenario also has automatic "
                                     "triggers, which run it without parameters",
                                     "triggers", trigger_index, "params", param)
    known = [*BUILTIN_NAMES, *(f"params.{p}" for p in params)]
    for i, step in enumerate(spec.steps):
        if isinstance(step, SendMessageStep) and step.reporter not in reporters:
            raise file.error(f"unknown reporter {step.reporter!r}{did_you_mean(step.reporter, reporters)} "
                             f"(reporters: {', '.join(reporters) or 'none'})", "steps", i, "reporter")
        for key in ("sql", "text"):
            text = getattr(step, key, None)
            if not isinstance(text, str):
                continue
            for used in template_names(text):
                if used not in known:
                    raise file.error(f"unknown name ${{{used}}}{did_you_mean(used, known)} "
                                     f"(known: {', '.join(known)})", "steps", i, key)
    for i, trigger in enumerate(spec.triggers):
        if isinstance(trigger, AfterScenarioTrigger) and trigger.scenario == spec.name:
            raise file.error("a scenario cannot trigger itself", "triggers", i, "scenario")


def scenario_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / SCENARIOS_DIR).glob("*.y*ml"))


def scenario_path(root: Path, name: str) -> Path:
    for suffix in (".yaml", ".yml"):
        path = root / SCENARIOS_DIR / f"{name}{suffix}"
        if path.is_file():
            return path
    known = scenario_names(root)
    raise ProjectError(f"unknown scenario {name!r}{did_you_mean(name, known)} "
                       f"(scenarios/ holds: {', '.join(known) or 'none'})")


def load_scenario(project: Project, name: str) -> ScenarioFile:
    """Read, validate and check ``scenarios/<name>.yaml`` against ``project``."""
    path = scenario_path(project.root, name)
    shown = f"{SCENARIOS_DIR}/{path.name}"
    data, lines = read_yaml(path, shown)
    scenario = parse_scenario(data, shown=shown, name=name, lines=lines)
    check_against_project(scenario, project)
    return scenario


def load_scenarios(project: Project) -> dict[str, ScenarioFile]:
    return {name: load_scenario(project, name) for name in scenario_names(project.root)}


def _sql_connection(file: ScenarioFile, project: Project, name: str, *path: str | int) -> str:
    connections = project.config.connections
    if name not in connections:
        raise file.error(f"unknown connection {name!r}{did_you_mean(name, connections)} "
                         f"(declared: {', '.join(connections)})", *path)
    kind = connections[name].type
    if kind not in SQL_CONNECTION_TYPES:
        raise file.error(f"connection {name!r} is {kind}: expected a SQL connection "
                         f"({', '.join(SQL_CONNECTION_TYPES)})", *path)
    return kind


def _dataset(file: ScenarioFile, project: Project, name: str, *path: str | int) -> None:
    if name not in project.datasets:
        raise file.error(f"unknown dataset {name!r}{did_you_mean(name, project.datasets)}", *path)


def check_against_project(file: ScenarioFile, project: Project) -> None:
    """Every dataset, connection, model, service, file and scenario named must exist."""
    from tideflow.lab.loading import model_names
    from tideflow.serving.specs import service_files

    spec = file.spec
    for i, trigger in enumerate(spec.triggers):
        if isinstance(trigger, DatasetChangedTrigger):
            for j, dataset in enumerate(trigger.datasets):
                _dataset(file, project, dataset, "triggers", i, "datasets", j)
        elif isinstance(trigger, SqlChangedTrigger):
            dialect = _sql_connection(file, project, trigger.connection, "triggers", i, "connection")
            problem = check_read_only(trigger.sql, dialect)
            if problem:
                raise file.error(problem, "triggers", i, "sql")
        elif isinstance(trigger, AfterScenarioTrigger):
            known = scenario_names(project.root)
            if trigger.scenario not in known:
                raise file.error(f"unknown scenario {trigger.scenario!r}{did_you_mean(trigger.scenario, known)}",
                                 "triggers", i, "scenario")
    for i, step in enumerate(spec.steps):
        when = getattr(step, "when", None)
        if when is not None and when.metric.dataset is not None:
            _dataset(file, project, when.metric.dataset, "steps", i, "when", "metric", "dataset")
        if isinstance(step, BuildStep | VerifyChecksStep):
            for j, dataset in enumerate(step.datasets):
                _dataset(file, project, dataset, "steps", i, "datasets", j)
        elif isinstance(step, TrainStep):
            models = model_names(project)
            if step.model not in models:
                raise file.error(f"unknown model {step.model!r}{did_you_mean(step.model, models)} "
                                 f"(models/ holds: {', '.join(models) or 'none'})", "steps", i, "model")
        elif isinstance(step, ScoreStep | EvaluateStep):
            if step.recipe not in project.recipes:
                raise file.error(f"unknown recipe {step.recipe!r}{did_you_mean(step.recipe, project.recipes)} "
                                 f"(recipes: {', '.join(project.recipes) or 'none'})", "steps", i, "recipe")
        elif isinstance(step, RefreshApiStep):
            services = service_files(project.root)
            if step.service not in services:
                raise file.error(f"unknown API service {step.service!r}{did_you_mean(step.service, services)}",
                                 "steps", i, "service")
        elif isinstance(step, RunSqlStep):
            dialect = _sql_connection(file, project, step.connection, "steps", i, "connection")
            problem = check_sql(step.sql, dialect)  # each ${...} must stand as a value (a literal)
            if problem:
                raise file.error(problem, "steps", i, "sql")
        elif isinstance(step, RunPythonStep):
            base = project.root.resolve()
            path = (base / step.file).resolve()
            if not path.is_relative_to(base):
                raise file.error(f"expected a file inside the project, got {step.file!r}", "steps", i, "file")
            if not path.is_file():
                raise file.error(f"file {step.file} not found", "steps", i, "file")

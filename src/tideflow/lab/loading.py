"""Read ``models/<name>.yaml`` and check it against the project and the dataset, before any trial."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.errors import ProjectError, did_you_mean
from tideflow.lab.algorithms import ALGORITHMS
from tideflow.lab.specs import CLASSIFICATION_METRICS, REGRESSION_METRICS, ModelSpec
from tideflow.project import Project
from tideflow.project.yamlfile import KeyPath, format_path, read_yaml, validate
from tideflow.recipes import ColumnType, Schema

MODELS_DIR = "models"


@dataclass(frozen=True)
class ModelFile:
    """A validated spec with where it came from, so later checks can point at a line."""

    spec: ModelSpec
    shown: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def error(self, message: str, *path: str | int) -> ProjectError:
        line = None
        probe: KeyPath = tuple(path)
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe[:-1]
        return ProjectError(message, file=self.shown, line=line, key_path=format_path(path) or None)

    @property
    def where_resources(self) -> str:
        return f"{self.shown} at resources"


def model_names(project: Project) -> list[str]:
    return sorted(p.stem for p in (project.root / MODELS_DIR).glob("*.y*ml"))


def spec_path(project: Project, name: str) -> Path:
    for suffix in (".yaml", ".yml"):
        path = project.root / MODELS_DIR / f"{name}{suffix}"
        if path.is_file():
            return path
    known = model_names(project)
    listing = ", ".join(known) if known else "none"
    raise ProjectError(f"unknown model {name!r}{did_you_mean(name, known)} (models/ holds: {listing})")


def parse_model_spec(data: Any, *, shown: str, lines: dict[KeyPath, int] | None = None,
                     name: str = "example") -> ModelFile:
    """Validate the shape and the static meaning of a spec (no project needed)."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ProjectError(f"expected a mapping of keys, got {type(data).__name__}", file=shown, line=1)
    data = {"name": name, **data}
    spec = validate(ModelSpec, data, shown=shown, lines=lines, vocabulary_of=ModelSpec)
    model_file = ModelFile(spec=spec, shown=shown, lines=lines)
    check_static(model_file)
    return model_file


def load_model_spec(project: Project, name: str) -> ModelFile:
    """Load and check ``models/<name>.yaml`` against the project (dataset declared, profile known)."""
    path = spec_path(project, name)
    shown = f"{MODELS_DIR}/{path.name}"
    data, lines = read_yaml(path, shown)
    model_file = parse_model_spec(data, shown=shown, lines=lines, name=path.stem)
    spec = model_file.spec
    if spec.input not in project.datasets:
        raise model_file.error(f"unknown dataset {spec.input!r}{did_you_mean(spec.input, project.datasets)}",
                               "input")
    profiles = project.config.compute.profiles
    if spec.resources not in profiles:
        raise model_file.error(
            f"unknown resource profile {spec.resources!r}{did_you_mean(spec.resources, profiles)} "
            f"(tideflow.yaml compute.profiles declares: {', '.join(profiles) or 'none'})", "resources")
    return model_file


def check_static(model_file: ModelFile) -> None:
    """Algorithms exist and suit the task, search spaces lie inside each algorithm's valid range."""
    spec = model_file.spec
    metric = spec.metric_name
    allowed = REGRESSION_METRICS if spec.task == "regression" else CLASSIFICATION_METRICS
    if metric not in allowed:
        raise model_file.error(f"metric {metric!r} is not for a {spec.task} task: expected one of "
                               f"{', '.join(allowed)}", "metric")
    for name, overrides in spec.algorithms.items():
        algorithm = ALGORITHMS.get(name)
        if algorithm is None:
            raise model_file.error(f"unknown algorithm {name!r}{did_you_mean(name, ALGORITHMS)} "
                                   f"(expected one of {', '.join(ALGORITHMS)})", "algorithms", name)
        if spec.task not in algorithm.tasks:
            other = "linear" if name == "logistic" else "logistic" if name == "linear" else None
            hint = f": use {other!r}" if other else ""
            raise model_file.error(f"algorithm {name!r} cannot be trained for a {spec.task} task{hint}",
                                   "algorithms", name)
        for param_name, search in overrides.items():
            param = algorithm.params.get(param_name)
            if param is None:
                raise model_file.error(
                    f"unknown parameter {param_name!r} of {name}{did_you_mean(param_name, algorithm.params)} "
                    f"(expected one of {', '.join(algorithm.params)})", "algorithms", name, param_name)
            if search.kind == "range" and param.kind == "categorical":
                raise model_file.error(f"{param_name} of {name} takes {param.describe_valid()}: give a list, "
                                       "not a range", "algorithms", name, param_name)
            for value in search.values_to_check():
                if not param.accepts(value):
                    raise model_file.error(
                        f"search space outside the valid range of {name}.{param_name}: expected "
                        f"{param.describe_valid()}, got {value!r}", "algorithms", name, param_name)


def check_schema(model_file: ModelFile, schema: Schema) -> None:
    """The target, overridden columns and the time column exist; the target suits the task."""
    spec = model_file.spec
    columns = list(schema)
    if spec.target not in schema:
        raise model_file.error(f"target {spec.target!r} is not a column of dataset {spec.input!r}"
                               f"{did_you_mean(spec.target, columns)} (columns: {', '.join(columns)})", "target")
    if spec.task == "regression" and not schema[spec.target].is_numeric:
        raise model_file.error(f"a regression target must be numeric, {spec.target!r} is {schema[spec.target]}",
                               "task")
    named: list[tuple[str, tuple[str | int, ...]]] = [(c, ("features", "columns", c)) for c in spec.features.columns]
    named += [(c, ("features", "exclude")) for c in spec.features.exclude]
    named += [(c, ("features", "include")) for c in spec.features.include or []]
    if spec.split.column:
        named.append((spec.split.column, ("split", "column")))
    for column, path in named:
        if column not in schema:
            raise model_file.error(f"unknown column {column!r} of dataset {spec.input!r}"
                                   f"{did_you_mean(column, columns)}", *path)
    if spec.split.column and not (schema[spec.split.column].is_temporal or schema[spec.split.column].is_numeric):
        raise model_file.error(f"a time split orders rows by a date, timestamp or number; {spec.split.column!r} is "
                               f"{schema[spec.split.column]}", "split", "column")
    if spec.split.column == spec.target:
        raise model_file.error("the split column cannot be the target", "split", "column")
    if schema[spec.target] == ColumnType.DOUBLE and spec.task != "regression":
        raise model_file.error(f"target {spec.target!r} is a floating-point number: a {spec.task} task needs "
                               "classes (integer, boolean or string); use task: regression", "task")

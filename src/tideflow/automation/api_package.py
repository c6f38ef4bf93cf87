"""API packages: one API service with everything it serves, checksummed, and the check that it can serve.

A package is a directory like a bundle (``verify_bundle`` checks it the same way)::

    manifest.json        kind "api_service", the service, the files with sha256 and size, the saved-model
                         versions (and which is active), the connections the endpoints use, the source
    project/             tideflow.yaml, api/<service>.yaml, the Python files of its function endpoints,
                         datasets/<name>.yaml of its lookup endpoints
    saved_models/<model>/<version>/   pipeline.joblib + record.json of every version its endpoints use

The source is the current project (its model registry) or a bundle (its ``saved_models/``, checked
against the bundle's manifest first). ``verify_service`` is the check made before any switch: every
endpoint version resolves (the model version exists and unpickles, the function imports), every key
given as a secret resolves, the connections the endpoints use open.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tideflow import __version__
from tideflow.automation.bundle_contents import secret_values
from tideflow.automation.bundles import (
    MANIFEST,
    MODELS_PART,
    PROJECT_PART,
    BundleError,
    Manifest,
    _entries,
    _refuse_secrets,
    verify_bundle,
)
from tideflow.automation.deploy_connections import DeployRefused, ResolvedConnection, check_opens
from tideflow.errors import TideflowError, did_you_mean
from tideflow.project import PROJECT_FILE, DuckDBConnection, Project, load_project
from tideflow.serving.specs import (
    API_DIR,
    FunctionEndpoint,
    LookupEndpoint,
    PredictionEndpoint,
    ServiceSpec,
    SqlQueryEndpoint,
    load_service,
    service_files,
)

KIND = "api_service"

# (model, version or None for the active one) -> (version, artifact folder, is the active version)
ModelLookup = Callable[[str, "int | None"], tuple[int, Path, bool]]


@dataclass(frozen=True)
class ServiceSource:
    """Where a package is made from: a project directory, how to find its saved-model versions, and the
    secret values no packaged file may contain (a bundle was checked when it was created)."""

    root: Path
    label: str
    models: ModelLookup
    secrets: dict[str, str] = field(default_factory=dict)


def project_source(project: Project) -> ServiceSource:
    """The current project and its model registry (``.tide/models.db``)."""
    state = project.state_dir

    def lookup(model: str, version: int | None) -> tuple[int, Path, bool]:
        if not (state / "models.db").is_file():
            raise DeployRefused(f"model {model!r} is not saved in this project (no {state / 'models.db'}): "
                                "train it first")
        from tideflow.models import Registry

        with Registry(state) as registry:
            names = registry.names()
            if model not in names:
                raise DeployRefused(f"model {model!r} is not saved{did_you_mean(model, names)} "
                                    f"(saved models: {', '.join(names) or 'none'})")
            try:
                found = registry.get(model, version)
            except TideflowError as err:
                raise DeployRefused(str(err)) from None
            active = registry.get(model).version
        return found.version, found.path, found.version == active

    return ServiceSource(project.root, f"project {project.root}", lookup, secret_values(project))


def bundle_source(bundle_dir: Path) -> ServiceSource:
    """A bundle directory, verified against its manifest first; models come from its ``saved_models/``."""
    try:
        manifest = verify_bundle(bundle_dir)
    except BundleError as err:
        raise DeployRefused(f"deploy refused: {err}") from None
    entries = [(str(e["name"]), int(e["version"]), bool(e.get("active"))) for e in manifest.models]

    def lookup(model: str, version: int | None) -> tuple[int, Path, bool]:
        mine = [(v, active) for name, v, active in entries if name == model]
        if not mine:
            names = sorted({n for n, _, _ in entries})
            raise DeployRefused(f"bundle {manifest.name!r} holds no version of model {model!r}"
                                f"{did_you_mean(model, names)} (models: {', '.join(names) or 'none'})")
        wanted = [(v, a) for v, a in mine if (a if version is None else v == version)]
        if not wanted:
            held = ", ".join(str(v) for v, _ in sorted(mine))
            what = "an active version" if version is None else f"version {version}"
            raise DeployRefused(f"bundle {manifest.name!r} holds no {what} of model {model!r} (versions: {held})")
        number, active = wanted[0]
        return number, bundle_dir / MODELS_PART / model / str(number), active

    return ServiceSource(bundle_dir / PROJECT_PART, f"bundle {manifest.name} ({manifest.digest})", lookup)


# ---------------------------------------------------------------------- what a service uses


def service_file(root: Path, service: str) -> Path:
    files = service_files(root)
    if service not in files:
        raise DeployRefused(f"no API service {service!r}{did_you_mean(service, files)} in {root / API_DIR} "
                            f"(services: {', '.join(files) or 'none'})")
    return files[service]


def used_versions(spec: ServiceSpec) -> list[tuple[str, int | None, str]]:
    """(model, version or None for active, where in the spec) of every prediction endpoint version."""
    found: list[tuple[str, int | None, str]] = []
    for i, endpoint in enumerate(spec.endpoints):
        if not isinstance(endpoint, PredictionEndpoint):
            continue
        if endpoint.versions:
            found += [(endpoint.model, v.version, f"endpoints[{i}].versions[{j}]")
                      for j, v in enumerate(endpoint.versions)]
        else:
            found.append((endpoint.model, endpoint.version, f"endpoints[{i}]" + (".version" if endpoint.version
                                                                                else ".model")))
    return found


def used_connections(project: Project, spec: ServiceSpec) -> list[str]:
    """Connections the endpoints open: their SQL queries' and their lookup datasets'."""
    names = []
    default = project.config.defaults.connection
    for endpoint in spec.endpoints:
        if isinstance(endpoint, SqlQueryEndpoint):
            names.append(endpoint.connection or default)
        elif isinstance(endpoint, LookupEndpoint) and endpoint.dataset in project.datasets:
            names.append(project.datasets[endpoint.dataset].connection or default)
    return list(dict.fromkeys(names))


def _code_files(root: Path, spec: ServiceSpec, shown: str) -> list[str]:
    files = []
    for i, endpoint in enumerate(spec.endpoints):
        if not isinstance(endpoint, FunctionEndpoint):
            continue
        for key, file in [("file", endpoint.file), *((f"versions[{j}].file", v.file)
                                                     for j, v in enumerate(endpoint.versions) if v.file)]:
            path = (root / str(file)).resolve()
            if not path.is_relative_to(root.resolve()) or not path.is_file():
                raise DeployRefused(f"{shown} at endpoints[{i}].{key}: expected a file inside the project, "
                                    f"got {file!r}" + ("" if path.is_file() else " (no such file)"))
            files.append(path.relative_to(root.resolve()).as_posix())
    return list(dict.fromkeys(files))


# ---------------------------------------------------------------------- assemble


def package_service(source: ServiceSource, service: str, out: Path, *, project: Project | None = None) -> Manifest:
    """Write the package of ``service`` into ``out`` (a new directory) and return its manifest."""
    root = source.root
    project = project or load_project(root)
    path = service_file(root, service)
    shown = f"{API_DIR}/{path.name}"
    spec = load_service(root, service)
    copies = [PROJECT_FILE, f"{API_DIR}/{path.name}", *_code_files(root, spec, shown)]
    generated: dict[str, str] = {}
    for i, endpoint in enumerate(spec.endpoints):
        if isinstance(endpoint, LookupEndpoint):
            if endpoint.dataset not in project.datasets:
                raise DeployRefused(f"{shown} at endpoints[{i}].dataset: unknown dataset {endpoint.dataset!r}"
                                    f"{did_you_mean(endpoint.dataset, project.datasets)}")
            declared = project.dataset_files.get(endpoint.dataset)
            if declared:
                copies.append(declared)
            else:  # a recipe output without a file: declare where it lives
                dataset = project.datasets[endpoint.dataset]
                generated[f"datasets/{endpoint.dataset}.yaml"] = yaml.safe_dump(
                    dataset.model_dump(mode="json", include={"connection", "table", "path", "format"},
                                       exclude_none=True), sort_keys=False)
    out.mkdir(parents=True)
    for rel in dict.fromkeys(copies):
        target = out / PROJECT_PART / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    for rel, text in generated.items():
        target = out / PROJECT_PART / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text or "{}\n", encoding="utf-8")
    models: dict[tuple[str, int], dict[str, Any]] = {}
    for model, version, where in used_versions(spec):
        try:
            number, folder, active = source.models(model, version)
        except DeployRefused as err:
            raise DeployRefused(f"{shown} at {where}: {err}") from None
        if (model, number) in models:
            continue
        if not (folder / "record.json").is_file():
            raise DeployRefused(f"{shown} at {where}: the artifacts of model {model!r} v{number} are missing "
                                f"(expected {folder / 'record.json'})")
        shutil.copytree(folder, out / MODELS_PART / model / str(number))
        models[(model, number)] = {"name": model, "version": number, "active": active}
    _refuse_secrets(out, source.secrets)
    manifest = Manifest(
        name=service, project=project.config.name, created_at=datetime.fromtimestamp(time.time(), UTC).isoformat(),
        tideflow_version=__version__, git_commit=None, git_dirty=None, notes=f"API service {service} from "
        f"{source.label}", connections=used_connections(project, spec), files=_entries(out),
        models=sorted(models.values(), key=lambda m: (m["name"], m["version"])))
    doc = {**manifest.as_dict(), "kind": KIND, "service": service, "source": source.label}
    (out / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_package(package: Path) -> tuple[Manifest, str]:
    """The verified manifest of an API package and its service (``DeployRefused`` if not intact)."""
    try:
        manifest = verify_bundle(package)
        doc = json.loads((package / MANIFEST).read_text(encoding="utf-8"))
    except (BundleError, OSError, ValueError) as err:
        raise DeployRefused(f"API package {package} failed verification: {err}") from None
    if doc.get("kind") != KIND:
        raise DeployRefused(f"{package / MANIFEST}: expected kind {KIND!r}, got {doc.get('kind')!r}")
    return manifest, str(doc["service"])


# ---------------------------------------------------------------------- verify


def verify_service(project_root: Path, service: str,
                   connections: dict[str, ResolvedConnection] | None = None) -> list[str]:
    """Check that ``service`` can serve from ``project_root``; returns what it serves ("fraud v2", ...).

    Raises ``DeployRefused`` naming the file, the endpoint, expected and got.
    """
    from tideflow.models import Registry
    from tideflow.serving.keys import resolve_key
    from tideflow.serving.runners import load_function

    project = load_project(project_root)
    path = service_file(project.root, service)
    shown = f"{API_DIR}/{path.name}"
    spec = load_service(project.root, service)
    served: list[str] = []
    for i, endpoint in enumerate(spec.endpoints):
        where = f"{shown} at endpoints[{i}] ({endpoint.name!r})"
        try:
            if isinstance(endpoint, PredictionEndpoint):
                with Registry(project.state_dir) as registry:
                    wanted: list[int | None] = [v.version for v in endpoint.versions] or [endpoint.version]
                    for version in wanted:
                        found = registry.get(endpoint.model, version)
                        registry.load_pipeline(endpoint.model, found.version)
                        served.append(f"{endpoint.model} v{found.version}")
            elif isinstance(endpoint, FunctionEndpoint):
                for label in endpoint.version_labels():
                    file, function = endpoint.target(label)
                    load_function(project.root, file, function)
                served.append(f"{endpoint.name} ({endpoint.type})")
            else:
                if isinstance(endpoint, LookupEndpoint) and endpoint.dataset not in project.datasets:
                    raise DeployRefused(f"unknown dataset {endpoint.dataset!r}"
                                        f"{did_you_mean(endpoint.dataset, project.datasets)}")
                served.append(f"{endpoint.name} ({endpoint.type})")
        except DeployRefused as err:
            raise DeployRefused(f"{where}: {err}") from None
        except TideflowError as err:
            raise DeployRefused(f"{where}: {err}") from None
        except Exception as err:  # unpickling a model, importing a function: name the error, not a traceback
            raise DeployRefused(f"{where}: {type(err).__name__}: {err}") from None
    for j, key in enumerate(spec.api_keys):
        if key.secret is None:
            continue  # environment variables are the API node process's own: it checks them when it loads
        try:
            resolve_key(project.root, spec.name, key)
        except TideflowError as err:
            raise DeployRefused(f"{shown} at api_keys[{j}]: {err}") from None
    if connections is not None:
        for name in used_connections(project, spec):
            if name in connections:
                _check_connection(connections[name], project.root)
    return list(dict.fromkeys(served))


def _check_connection(conn: ResolvedConnection, root: Path) -> None:
    """As ``check_opens``, except that an existing DuckDB file is not opened: the running API node may hold
    it (DuckDB lets one process open a file for writing)."""
    spec = conn.spec
    if isinstance(spec, DuckDBConnection) and spec.path != ":memory:" and Path(spec.path).is_file():
        return
    check_opens(conn, root)


__all__ = ["KIND", "ServiceSource", "bundle_source", "package_service", "project_source", "read_package",
           "used_connections", "used_versions", "verify_service"]

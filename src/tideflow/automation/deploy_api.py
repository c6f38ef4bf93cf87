"""``tide deploy api SERVICE``: activate an API service on an API node directory, atomically, with history.

API node layout (``DIR``; it may be an automation node's directory too: they share the operator's files)::

    connections.yaml  secrets.yaml                  the operator's files (see ``deploy_connections``)
    api/<service>/releases/<id>/package/            the API package as received (re-verifiable)
    api/<service>/releases/<id>/project/            the runnable project: connections resolved, saved models
                                                    registered, .tide/query_log and .tide/autoscaling linked
                                                    to the service's own folders (they outlive releases)
    api/<service>/releases/<id>/deployment.json
    api/<service>/active -> releases/<id>           replaced by ``os.replace`` of a fresh symlink
    api/<service>/deployments.jsonl                 every deploy, rollback, refusal and revert
    api/<service>/node.json                         written by the running ``tide api serve SERVICE --node DIR``
    api/<service>/query_log/  autoscaling/

A deploy packages the service (``api_package``), verifies the package's checksums, resolves the
connections on the node (``--remap`` as for bundles), checks that every model version, function, key
and connection resolves, and only then switches ``active``. If the service's API node is running
(its node record answers), it is asked to reload (``serving.noderecord``): it starts the new release
beside the old one and switches when ready, dropping no request. If that reload fails, ``active`` is
switched back and the deploy is refused: the node keeps serving what ``active`` names.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.automation.api_package import (
    ServiceSource,
    package_service,
    read_package,
    service_file,
    used_connections,
    verify_service,
)
from tideflow.automation.bundles import MODELS_PART, PROJECT_PART, Manifest
from tideflow.automation.deploy import (
    _install_models,
    _log,
    _node_lock,
    _now,
    _switch,
    active_id,
    history,
    materialize_project,
)
from tideflow.automation.deploy_connections import (
    DeployRefused,
    ResolvedConnection,
    _anchor,
)
from tideflow.errors import ProjectError, TideflowError
from tideflow.project import Project
from tideflow.serving.noderecord import RECORD, ReloadOutcome, record_path, request_reload, running_node

API_NODE_DIR = "api"
RELEASES = "releases"
PACKAGE = "package"
ACTIVE = "active"
RECORD_FILE = "deployment.json"
SHARED = ("query_log", "autoscaling")  # state folders every release of a service shares
RELOAD_TIMEOUT_S = 300.0


def service_dir(node_dir: Path, service: str) -> Path:
    return Path(node_dir).resolve() / API_NODE_DIR / service


def node_record(node_dir: Path, service: str) -> Path:
    """Where ``tide api serve SERVICE --node DIR`` records itself."""
    return service_dir(node_dir, service) / RECORD


def served_root(node_dir: Path, service: str) -> Path:
    """The project the API node serves: ``DIR/api/<service>/active/project`` (the link, not its target)."""
    folder = service_dir(node_dir, service)
    if active_id(folder) is None:
        raise ProjectError(f"no release of API service {service!r} is active on {Path(node_dir).resolve()}: "
                           f"deploy one with 'tide deploy api {service} --to {node_dir}'")
    return folder / ACTIVE / PROJECT_PART


@dataclass(frozen=True)
class ApiDeployment:
    """One release of an API service on a node. ``reload`` says what the running API node did."""

    id: str
    service: str
    digest: str
    deployed_at: str
    source: str
    remap: dict[str, str]
    connections: dict[str, str]
    serves: list[str]
    path: Path
    previous: str | None = None
    reload: str = ""
    unchanged: bool = False

    @property
    def project_dir(self) -> Path:
        return self.path / PROJECT_PART

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "service": self.service, "digest": self.digest, "deployed_at": self.deployed_at,
                "source": self.source, "remap": self.remap, "connections": self.connections, "serves": self.serves,
                "previous": self.previous}


@dataclass(frozen=True)
class ApiStatus:
    node_dir: Path
    service: str
    active: ApiDeployment | None
    integrity: str  # "intact", "no active release", or the verification error
    node: dict[str, Any] | None  # the running API node's record, if one answers
    history: list[dict[str, Any]] = field(default_factory=list)


def load_release(folder: Path, release_id: str) -> ApiDeployment:
    path = folder / RELEASES / release_id
    try:
        d = json.loads((path / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DeployRefused(f"release {release_id!r} in {folder} is unreadable: {type(err).__name__}") from None
    return ApiDeployment(id=d["id"], service=d["service"], digest=d["digest"], deployed_at=d["deployed_at"],
                         source=d.get("source", ""), remap=dict(d.get("remap", {})),
                         connections=dict(d.get("connections", {})), serves=list(d.get("serves", [])), path=path,
                         previous=d.get("previous"))


# ---------------------------------------------------------------------- deploy


def deploy_api(source: ServiceSource, service: str, node_dir: Path, *, remap: dict[str, str] | None = None,
               reload: bool = True, reload_timeout_s: float = RELOAD_TIMEOUT_S) -> ApiDeployment:
    """Package ``service`` from ``source``, verify it on ``node_dir``, activate it, reload its running node.

    Refusals raise ``DeployRefused`` (logged in the service's history); ``active`` is then unchanged.
    Deploying what is already active (same digest and remap) makes no new release.
    """
    remap = dict(remap or {})
    node_dir = Path(node_dir).resolve()
    folder = service_dir(node_dir, service)
    with _node_lock(folder):
        (folder / RELEASES).mkdir(exist_ok=True)
        staging = folder / RELEASES / f".staging-{uuid.uuid4().hex[:10]}"
        staging.mkdir()
        previous = active_id(folder)
        try:
            package_service(source, service, staging / PACKAGE)
            manifest, _ = read_package(staging / PACKAGE)  # what is on disk, checked against the manifest
            current = load_release(folder, previous) if previous else None
            if current is not None and current.digest == manifest.digest and current.remap == remap:
                shutil.rmtree(staging, ignore_errors=True)
                _log(folder, {"action": "unchanged", "deployment": current.id, "digest": current.digest})
                ok, message = _reload(folder, current, reload, reload_timeout_s)
                if not ok:
                    raise DeployRefused(message)
                return _with(current, reload=message, unchanged=True)
            resolved, serves = _materialize(manifest, staging, node_dir, folder, service, remap)
            release_id = _next_id(folder, manifest.digest)
            deployment = ApiDeployment(
                id=release_id, service=service, digest=manifest.digest, deployed_at=_now(), source=source.label,
                remap=remap, connections={n: c.describe() for n, c in resolved.items()}, serves=serves,
                path=folder / RELEASES / release_id, previous=previous)
            (staging / RECORD_FILE).write_text(json.dumps(deployment.as_dict(), indent=2) + "\n", encoding="utf-8")
            staging.rename(deployment.path)
        except TideflowError as err:
            shutil.rmtree(staging, ignore_errors=True)
            _log(folder, {"action": "refused", "service": service, "source": source.label, "remap": remap,
                          "reason": str(err), "active": previous})
            if isinstance(err, DeployRefused):
                raise
            raise DeployRefused(f"deploy refused: {err}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _switch(folder, deployment.id, RELEASES)
        _log(folder, {"action": "deploy", "deployment": deployment.id, "digest": deployment.digest,
                      "source": source.label, "remap": remap, "serves": serves, "previous": previous})
        ok, message = _reload(folder, deployment, reload, reload_timeout_s)
        if not ok:
            _revert(folder, deployment.id, previous, message)
        return _with(deployment, reload=message)


def _with(deployment: ApiDeployment, **changes: Any) -> ApiDeployment:
    from dataclasses import replace

    return replace(deployment, **changes)


def _materialize(manifest: Manifest, staging: Path, node_dir: Path, folder: Path, service: str,
                 remap: dict[str, str]) -> tuple[dict[str, ResolvedConnection], list[str]]:
    """Write ``staging/project`` (servable on this node) and check that everything it serves resolves."""
    source = staging / PACKAGE / PROJECT_PART
    project_dir = staging / PROJECT_PART
    resolved = materialize_project(source, project_dir, node_dir, remap)
    state = project_dir / ".tide"
    for name in SHARED:
        (folder / name).mkdir(exist_ok=True)
        os.symlink(os.path.relpath(folder / name, state), state / name)
    _install_models(manifest, staging / PACKAGE / MODELS_PART, state)
    serves = verify_service(project_dir, service, resolved)
    return resolved, serves


def _next_id(folder: Path, digest: str) -> str:
    numbers = [int(p.name.split("-", 1)[0]) for p in (folder / RELEASES).iterdir()
               if p.name[:4].isdigit() and "-" in p.name]
    return f"{max(numbers, default=0) + 1:04d}-{digest}"


# ---------------------------------------------------------------------- the running node


def _reload(folder: Path, deployment: ApiDeployment, reload: bool, timeout_s: float) -> tuple[bool, str]:
    """(ok, what happened) for the service's running API node, if any."""
    record = folder / RECORD
    info = running_node(record)
    if info is None:
        return True, "no API node of this service is running on the node directory"
    pid, url = info.get("pid"), info.get("url")
    if Path(str(info.get("release", ""))) == (deployment.path / PROJECT_PART).resolve():
        return True, f"the API node (pid {pid}, {url}) already serves {deployment.id}"
    if not reload:
        return True, f"the API node (pid {pid}, {url}) was not asked to reload (--no-reload)"
    outcome = request_reload(record, timeout_s=timeout_s)
    if outcome is None:
        return True, "no API node of this service is running on the node directory"
    return outcome.ok, (f"the API node (pid {pid}, {url}) reloaded without dropping requests: {outcome.message}"
                        if outcome.ok else outcome.message)


def _revert(folder: Path, failed: str, previous: str | None, reason: str) -> None:
    """The node did not load ``failed``: point ``active`` back at ``previous`` and refuse."""
    if previous is not None:
        _switch(folder, previous, RELEASES)
    else:
        (folder / ACTIVE).unlink(missing_ok=True)
    _log(folder, {"action": "reverted", "deployment": failed, "active": previous, "reason": reason})
    record = folder / RECORD
    info = running_node(record)
    state = (info or {}).get("reload") or {}
    if info is not None and state.get("state") == "reloading":  # still at it: make it end on what is active
        os.kill(int(info["pid"]), signal.SIGHUP)
    back = f"switched back to {previous}" if previous else "no release is active"
    raise DeployRefused(f"{reason}; {back} (the API node keeps serving it)")


# ---------------------------------------------------------------------- rollback and status


def rollback_api(node_dir: Path, service: str, *, reload: bool = True,
                 reload_timeout_s: float = RELOAD_TIMEOUT_S) -> ApiDeployment:
    """Re-activate the release that was active before the current one (its package re-verified first)."""
    folder = service_dir(node_dir, service)
    with _node_lock(folder):
        current = active_id(folder)
        if current is None:
            raise DeployRefused(f"nothing to roll back: no release of API service {service!r} is active on "
                                f"{Path(node_dir).resolve()}")
        target = load_release(folder, current).previous
        if target is None:
            raise DeployRefused(f"nothing to roll back to: {current!r} was the first release of API service "
                                f"{service!r} on {Path(node_dir).resolve()}")
        deployment = load_release(folder, target)
        try:
            read_package(deployment.path / PACKAGE)
        except DeployRefused as err:
            _log(folder, {"action": "refused", "rollback_to": target, "reason": str(err), "active": current})
            raise DeployRefused(f"rollback refused: {err}") from None
        _switch(folder, target, RELEASES)
        _log(folder, {"action": "rollback", "deployment": target, "digest": deployment.digest, "previous": current})
        ok, message = _reload(folder, deployment, reload, reload_timeout_s)
        if not ok:
            _revert(folder, target, current, message)
        return _with(deployment, reload=message)


def api_status(node_dir: Path, service: str, *, last: int = 10) -> ApiStatus:
    """The active release, whether its package still matches its manifest, the running node, the history."""
    folder = service_dir(node_dir, service)
    node = running_node(folder / RECORD)
    recent = history(folder)[-last:]
    current = active_id(folder)
    if current is None:
        return ApiStatus(Path(node_dir).resolve(), service, None, "no active release", node, recent)
    deployment = load_release(folder, current)
    try:
        read_package(deployment.path / PACKAGE)
        integrity = "intact"
    except DeployRefused as err:
        integrity = str(err)
    return ApiStatus(Path(node_dir).resolve(), service, deployment, integrity, node, recent)


# ---------------------------------------------------------------------- the project's own node, manifests


def refresh_project_node(project: Project, service: str, *,
                         timeout_s: float = RELOAD_TIMEOUT_S) -> tuple[list[str], ReloadOutcome]:
    """Check that the project can serve ``service``, then reload the API node serving the project.

    Raises ``DeployRefused`` when the check fails or no node of ``service`` runs for this project.
    """
    service_file(project.root, service)
    own = {name: ResolvedConnection(name, _anchor(spec, project.root), "project")
           for name, spec in project.config.connections.items()}
    serves = verify_service(project.root, service, own)
    record = record_path(project.root, service)
    outcome = request_reload(record, timeout_s=timeout_s)
    if outcome is None:
        raise DeployRefused(f"no API node of service {service!r} is running for this project (no live {record}): "
                            f"start one with 'tide api serve {service}', or deploy with --to DIR")
    if not outcome.ok:
        raise DeployRefused(outcome.message)
    return serves, outcome


def write_api_manifests(source: ServiceSource, service: str, out_dir: Path, *, image: str,
                        namespace: str | None = None) -> list[tuple[Path, str]]:
    """``out_dir/<service>/``: the package (checksummed), the servable project an image copies to /project
    (saved models registered), and the Kubernetes manifests and Ray Serve config of ``serving.manifests``."""
    from tideflow.serving.manifests import write_manifests
    from tideflow.serving.specs import load_service

    folder = Path(out_dir) / service
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex[:10]}"
    staging.mkdir()
    try:
        package_service(source, service, staging / PACKAGE)
        manifest, _ = read_package(staging / PACKAGE)
        shutil.copytree(staging / PACKAGE / PROJECT_PART, staging / PROJECT_PART)
        _install_models(manifest, staging / PACKAGE / MODELS_PART, staging / PROJECT_PART / ".tide")
        serves = verify_service(staging / PROJECT_PART, service)
        for part in (PACKAGE, PROJECT_PART):
            shutil.rmtree(folder / part, ignore_errors=True)
            (staging / part).rename(folder / part)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    spec = load_service(folder / PROJECT_PART, service)
    written = [(folder / PACKAGE, f"API package {manifest.digest}: {len(manifest.files)} files, "
                                  f"serves {', '.join(serves)}"),
               (folder / PROJECT_PART, "the project to copy to /project in the image")]
    return written + write_manifests(spec, Path(out_dir), image=image, namespace=namespace)


__all__ = ["ApiDeployment", "ApiStatus", "api_status", "deploy_api", "node_record", "refresh_project_node",
           "rollback_api", "served_root", "service_dir", "used_connections", "write_api_manifests"]

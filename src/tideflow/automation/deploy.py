"""The deployer: activate a bundle on an automation node directory, atomically, with history.

Node layout (``DIR``)::

    connections.yaml           the node's production connections (no secret values)
    secrets.yaml               optional: the node's secrets (linked, never copied, into each project)
    bundles/<id>/bundle/       the bundle exactly as received (re-verifiable at any time)
    bundles/<id>/project/      the runnable project: connections resolved, references remapped,
                               saved models under .tide/models; run it with ``--project DIR/active/project``
    bundles/<id>/deployment.json
    active -> bundles/<id>     replaced by ``os.replace`` of a fresh symlink: readers see old or new
    deployments.jsonl          every deploy, rollback and refusal, one JSON object per line

A deploy is refused — and ``active`` left untouched — when a checksum does not match, a remap
names an unknown connection, a connection is unknown on the node, or one cannot be opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tideflow.automation.bundles import (
    MODELS_PART,
    PROJECT_PART,
    BundleError,
    Manifest,
    unpacked,
    verify_bundle,
)
from tideflow.automation.deploy_connections import (
    NODE_SECRETS,
    DeployRefused,
    ResolvedConnection,
    check_opens,
    materialized_config,
    remap_references,
    resolve_connections,
)
from tideflow.errors import TideflowError
from tideflow.project import PROJECT_FILE, load_project

BUNDLES = "bundles"
ACTIVE = "active"
HISTORY = "deployments.jsonl"
RECORD = "deployment.json"
_LOCK = ".deploy.lock"


@dataclass(frozen=True)
class Deployment:
    """One activated bundle on a node."""

    id: str
    bundle: str
    digest: str
    deployed_at: str
    remap: dict[str, str]
    connections: dict[str, str]
    path: Path
    previous: str | None = None
    loaded_data: list[str] = field(default_factory=list)

    @property
    def project_dir(self) -> Path:
        return self.path / PROJECT_PART

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "bundle": self.bundle, "digest": self.digest, "deployed_at": self.deployed_at,
                "remap": self.remap, "connections": self.connections, "previous": self.previous,
                "loaded_data": self.loaded_data}


@dataclass(frozen=True)
class NodeStatus:
    node_dir: Path
    active: Deployment | None
    integrity: str  # "intact", "no active bundle", or the verification error
    history: list[dict[str, Any]]


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat()


@contextlib.contextmanager
def _node_lock(node_dir: Path) -> Iterator[None]:
    """One deploy or rollback at a time per node (an exclusive lock file)."""
    node_dir.mkdir(parents=True, exist_ok=True)
    with (node_dir / _LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log(node_dir: Path, entry: dict[str, Any]) -> None:
    with (node_dir / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"at": _now(), **entry}, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def history(node_dir: Path) -> list[dict[str, Any]]:
    """Every deploy, rollback and refusal on the node, oldest first."""
    path = Path(node_dir) / HISTORY
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def active_id(node_dir: Path) -> str | None:
    link = Path(node_dir) / ACTIVE
    if not link.is_symlink():
        return None
    return Path(os.readlink(link)).name


def _switch(node_dir: Path, deployment_id: str, folder: str = BUNDLES) -> None:
    """Point ``active`` at ``<folder>/<id>`` atomically (a new symlink renamed over the old one)."""
    tmp = node_dir / f".{ACTIVE}.tmp-{uuid.uuid4().hex[:8]}"
    os.symlink(f"{folder}/{deployment_id}", tmp)
    try:
        os.replace(tmp, node_dir / ACTIVE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_deployment(node_dir: Path, deployment_id: str) -> Deployment:
    path = Path(node_dir) / BUNDLES / deployment_id
    try:
        data = json.loads((path / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DeployRefused(f"deployment {deployment_id!r} on {node_dir} is unreadable: {type(err).__name__}") from None
    return Deployment(id=data["id"], bundle=data["bundle"], digest=data["digest"], deployed_at=data["deployed_at"],
                      remap=dict(data.get("remap", {})), connections=dict(data.get("connections", {})), path=path,
                      previous=data.get("previous"), loaded_data=list(data.get("loaded_data", [])))


# ---------------------------------------------------------------------- deploy


def deploy_bundle(bundle: Path, node_dir: Path, *, remap: dict[str, str] | None = None,
                  load_data: bool = False) -> Deployment:
    """Verify ``bundle`` (a directory or ``.tar.gz``), resolve its connections on ``node_dir``, activate it.

    Refusals raise ``DeployRefused`` (logged in the history); ``active`` is then unchanged.
    ``load_data`` writes the bundle's exported source datasets that do not exist yet on the node.
    """
    node_dir = Path(node_dir).resolve()
    remap = dict(remap or {})
    with _node_lock(node_dir):
        (node_dir / BUNDLES).mkdir(exist_ok=True)
        staging = node_dir / BUNDLES / f".staging-{uuid.uuid4().hex[:10]}"
        staging.mkdir()
        manifest: Manifest | None = None
        try:
            manifest = _stage_bundle(Path(bundle), staging / "bundle")
            resolved = _materialize(manifest, staging, node_dir, remap)
            loaded = _load_data(manifest, staging) if load_data else []
            previous = active_id(node_dir)
            deployment_id = _next_id(node_dir, manifest.name)
            deployment = Deployment(
                id=deployment_id, bundle=manifest.name, digest=manifest.digest, deployed_at=_now(), remap=remap,
                connections={n: c.describe() for n, c in resolved.items()}, path=node_dir / BUNDLES / deployment_id,
                previous=previous, loaded_data=loaded)
            (staging / RECORD).write_text(json.dumps(deployment.as_dict(), indent=2) + "\n", encoding="utf-8")
            staging.rename(deployment.path)
        except TideflowError as err:
            shutil.rmtree(staging, ignore_errors=True)
            reason = str(err)
            _log(node_dir, {"action": "refused", "bundle": manifest.name if manifest else str(bundle),
                            "remap": remap, "reason": reason, "active": active_id(node_dir)})
            if isinstance(err, DeployRefused):
                raise
            raise DeployRefused(f"deploy refused: {reason}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _switch(node_dir, deployment.id)
        _log(node_dir, {"action": "deploy", "deployment": deployment.id, "bundle": deployment.bundle,
                        "digest": deployment.digest, "remap": remap, "previous": previous})
        return deployment


def _stage_bundle(bundle: Path, target: Path) -> Manifest:
    if not bundle.exists():
        raise BundleError(f"no bundle at {bundle}")
    if bundle.is_dir():
        shutil.copytree(bundle, target, symlinks=True)
    else:
        with unpacked(bundle, into=target):
            pass
    try:
        return verify_bundle(target)
    except BundleError as err:
        raise DeployRefused(f"deploy refused: {err}") from None


def materialize_project(source: Path, project_dir: Path, node_dir: Path,
                        remap: dict[str, str]) -> dict[str, ResolvedConnection]:
    """Copy a packaged project to ``project_dir`` with its connections resolved on this node (``remap``
    applied to the project file and every reference), its state folder made, and the node's secrets
    linked in (linked, so no secret value is ever copied into a release)."""
    shutil.copytree(source, project_dir)
    packaged = load_project(source)  # validates the package's own specs first
    resolved = resolve_connections(dict(packaged.config.connections), remap, node_dir)
    config_text = (source / PROJECT_FILE).read_text(encoding="utf-8")
    (project_dir / PROJECT_FILE).write_text(materialized_config(config_text, resolved, remap), encoding="utf-8")
    for path in sorted(project_dir.rglob("*.y*ml")):
        rel = path.relative_to(project_dir).as_posix()
        if rel != PROJECT_FILE:
            remap_references(path, rel, remap)
    state = project_dir / ".tide"
    state.mkdir()
    secrets = node_dir / NODE_SECRETS
    if secrets.is_file():
        os.symlink(os.path.relpath(secrets, state), state / "secrets.yaml")
    return resolved


def _materialize(manifest: Manifest, staging: Path, node_dir: Path,
                 remap: dict[str, str]) -> dict[str, ResolvedConnection]:
    """Write ``staging/project`` (runnable on this node) and check every connection opens."""
    source = staging / "bundle" / PROJECT_PART
    project_dir = staging / PROJECT_PART
    resolved = materialize_project(source, project_dir, node_dir, remap)
    state = project_dir / ".tide"
    _install_models(manifest, staging / "bundle" / MODELS_PART, state)
    project = load_project(project_dir)  # the remapped project must be valid too
    for name in sorted(resolved):
        check_opens(resolved[name], project.root)
    return resolved


def _install_models(manifest: Manifest, source: Path, state: Path) -> None:
    """Copy the bundled saved-model versions and register them (same schema as ``tideflow.models``)."""
    if not manifest.models:
        return
    from tideflow.models import Registry

    Registry(state).close()  # creates the database and its tables
    con = sqlite3.connect(state / "models.db", isolation_level=None)
    try:
        con.execute("BEGIN")
        for entry in manifest.models:
            name, version = str(entry["name"]), int(entry["version"])
            shutil.copytree(source / name / str(version), state / "models" / name / str(version))
            doc = json.loads((source / name / str(version) / "record.json").read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO versions (name, version, created_at, algorithm, metric, score, metrics, input_schema, "
                "record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, version, float(doc["created_at"]), doc["algorithm"], doc["metric"], doc.get("score"),
                 json.dumps(doc.get("metrics", {}), sort_keys=True), json.dumps(doc.get("input_schema", {})),
                 json.dumps(doc.get("record", {}), sort_keys=True, default=str)))
            if entry.get("active"):
                con.execute("INSERT OR REPLACE INTO active (name, version) VALUES (?, ?)", (name, version))
        con.execute("COMMIT")
    finally:
        con.close()


def _load_data(manifest: Manifest, staging: Path) -> list[str]:
    """Write the bundle's exported source datasets that the node does not have yet."""
    import pyarrow.parquet as pq

    from tideflow.flow import Workspace

    project = load_project(staging / PROJECT_PART)
    loaded = []
    with Workspace(project) as workspace:
        for entry in manifest.data:
            name = str(entry["dataset"])
            if not entry.get("source") or name not in project.datasets or workspace.exists(name):
                continue
            workspace.write_arrow(name, pq.read_table(staging / "bundle" / str(entry["path"])))
            loaded.append(name)
    return loaded


def _next_id(node_dir: Path, bundle_name: str) -> str:
    numbers = [int(p.name.split("-", 1)[0]) for p in (node_dir / BUNDLES).iterdir()
               if p.name[:4].isdigit() and "-" in p.name]
    return f"{max(numbers, default=0) + 1:04d}-{bundle_name}"


# ---------------------------------------------------------------------- rollback and status


def rollback(node_dir: Path) -> Deployment:
    """Re-activate the deployment that was active before the current one was deployed.

    Repeated rollbacks walk further back. The target's bundle is re-verified first.
    """
    node_dir = Path(node_dir).resolve()
    with _node_lock(node_dir):
        current = active_id(node_dir)
        if current is None:
            raise DeployRefused(f"nothing to roll back on {node_dir}: no bundle is active")
        target = load_deployment(node_dir, current).previous
        if target is None:
            raise DeployRefused(f"nothing to roll back to: {current!r} was the first bundle deployed on {node_dir}")
        deployment = load_deployment(node_dir, target)
        try:
            verify_bundle(deployment.path / "bundle")
        except BundleError as err:
            _log(node_dir, {"action": "refused", "rollback_to": target, "reason": str(err), "active": current})
            raise DeployRefused(f"rollback refused: {err}") from None
        _switch(node_dir, target)
        _log(node_dir, {"action": "rollback", "deployment": target, "bundle": deployment.bundle,
                        "digest": deployment.digest, "previous": current})
        return deployment


def node_status(node_dir: Path, *, last: int = 10) -> NodeStatus:
    """The active deployment, whether its files still match the manifest, and the recent history."""
    node_dir = Path(node_dir).resolve()
    current = active_id(node_dir)
    if current is None:
        return NodeStatus(node_dir, None, "no active bundle", history(node_dir)[-last:])
    deployment = load_deployment(node_dir, current)
    try:
        verify_bundle(deployment.path / "bundle")
        integrity = "intact"
    except BundleError as err:
        integrity = str(err)
    return NodeStatus(node_dir, deployment, integrity, history(node_dir)[-last:])


__all__ = ["DeployRefused", "Deployment", "NodeStatus", "deploy_bundle", "history", "node_status", "rollback"]

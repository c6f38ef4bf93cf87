"""Bundles: an immutable snapshot of a project, ready to deploy on an automation node.

A bundle is a directory (or the same directory as a ``.tar.gz``) under ``.tide/bundles/``::

    <name>/
      manifest.json          files with sha256 and size, Tideflow version, created time, git commit,
                             connections, saved-model versions, exported datasets
      RELEASE_NOTES.md       the notes given with ``--notes``
      project/               tideflow.yaml, datasets/, recipes/ (with code), scenarios/, models/, api/
      saved_models/<model>/<version>/   pipeline.joblib + record.json of each version the project uses
      data/<dataset>.parquet  only with ``--with-data``: stored datasets exported as Parquet

``manifest.json`` lists every other file; a bundle is intact when the files on disk are exactly
those files with those checksums (``verify_bundle``). ``.tide/secrets.yaml`` is never copied, and
creation is refused when a file to be bundled contains the value of a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tideflow import __version__
from tideflow.automation.bundle_contents import git_state, project_files, secret_values, used_models
from tideflow.errors import TideflowError, did_you_mean
from tideflow.project import Project

MANIFEST = "manifest.json"
NOTES = "RELEASE_NOTES.md"
BUNDLES_DIR = "bundles"  # under the project's .tide/
FORMAT_VERSION = 1
PROJECT_PART = "project"
MODELS_PART = "saved_models"
DATA_PART = "data"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class BundleError(TideflowError):
    """A bundle cannot be created, found or trusted (missing file, checksum mismatch, secret inside)."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says about a bundle."""

    name: str
    project: str
    created_at: str
    tideflow_version: str
    git_commit: str | None
    git_dirty: bool | None
    notes: str
    connections: list[str]
    files: list[FileEntry]
    models: list[dict[str, Any]] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    format: int = FORMAT_VERSION

    @property
    def digest(self) -> str:
        """A short hash of the file list: two bundles with the same content have the same digest."""
        text = "\n".join(f"{f.path}\0{f.sha256}" for f in self.files)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "name": self.name, "project": self.project, "created_at": self.created_at,
            "tideflow_version": self.tideflow_version, "git_commit": self.git_commit, "git_dirty": self.git_dirty,
            "notes": self.notes, "connections": self.connections, "models": self.models, "data": self.data,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Manifest:
        if not isinstance(data, dict):
            raise BundleError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            files = [FileEntry(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in data["files"]]
            return cls(name=str(data["name"]), project=str(data["project"]), created_at=str(data["created_at"]),
                       tideflow_version=str(data["tideflow_version"]), git_commit=data.get("git_commit"),
                       git_dirty=data.get("git_dirty"), notes=str(data.get("notes", "")),
                       connections=[str(c) for c in data.get("connections", [])], files=files,
                       models=list(data.get("models", [])), data=list(data.get("data", [])),
                       format=int(data.get("format", FORMAT_VERSION)))
        except (KeyError, TypeError, ValueError) as err:
            raise BundleError(f"{where}: malformed manifest ({type(err).__name__}: {err})") from None


@dataclass(frozen=True)
class BundleInfo:
    """A bundle on disk: where it is and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name


# ---------------------------------------------------------------------- checksums


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entries(root: Path) -> list[FileEntry]:
    """Every file under ``root`` except the manifest, sorted by path (symlinks are refused)."""
    entries = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise BundleError(f"bundle file {rel} is a symbolic link: a bundle holds regular files only")
        if path.is_file() and rel != MANIFEST:
            entries.append(FileEntry(rel, sha256_file(path), path.stat().st_size))
    return entries


def read_manifest(bundle_dir: Path) -> Manifest:
    path = bundle_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{bundle_dir} is not a bundle: {MANIFEST} is missing") from None
    except (OSError, ValueError) as err:
        raise BundleError(f"cannot read {path}: {type(err).__name__}: {err}") from None
    return Manifest.from_dict(data, str(path))


def verify_bundle(bundle_dir: Path) -> Manifest:
    """The manifest, once every file matches it: same set of files, sizes and sha256.

    Raises ``BundleError`` naming every tampered, missing or unexpected file.
    """
    manifest = read_manifest(bundle_dir)
    expected = {f.path: f for f in manifest.files}
    actual = {f.path: f for f in _entries(bundle_dir)}
    problems = []
    for rel, want in expected.items():
        got = actual.get(rel)
        if got is None:
            problems.append(f"{rel}: missing")
        elif got.sha256 != want.sha256 or got.size != want.size:
            problems.append(f"{rel}: checksum mismatch (expected sha256 {want.sha256[:12]}…, "
                            f"got {got.sha256[:12]}…)")
    problems += [f"{rel}: not in the manifest" for rel in sorted(set(actual) - set(expected))]
    if problems:
        raise BundleError(f"bundle {manifest.name!r} failed verification: " + "; ".join(problems))
    return manifest


# ---------------------------------------------------------------------- create


def bundles_dir(project: Project) -> Path:
    return project.state_dir / BUNDLES_DIR


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BundleError(f"invalid bundle name {name!r}: expected letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit, at most 100 characters)")
    return name


def create_bundle(project: Project, name: str, *, notes: str = "", with_data: bool = False,
                  archive: bool = False) -> BundleInfo:
    """Snapshot ``project`` as ``.tide/bundles/<name>/`` (or ``<name>.tar.gz`` with ``archive``).

    Bundles are immutable: an existing name is an error. Nothing is written unless the whole
    bundle is complete (it is assembled in a temporary directory, then renamed into place).
    """
    check_name(name)
    target_dir = bundles_dir(project)
    if (target_dir / name).exists() or (target_dir / f"{name}.tar.gz").exists():
        raise BundleError(f"bundle {name!r} already exists in {target_dir}: bundles are immutable, pick a new name")
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = target_dir / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _assemble(project, name, staging, notes=notes, with_data=with_data)
        if archive:
            final = target_dir / f"{name}.tar.gz"
            tmp_archive = target_dir / f".{name}.tar.gz.tmp-{uuid.uuid4().hex[:8]}"
            with tarfile.open(tmp_archive, "w:gz") as tar:
                for path in sorted(staging.rglob("*")):
                    tar.add(path, arcname=path.relative_to(staging).as_posix(), recursive=False)
            os.replace(tmp_archive, final)
            shutil.rmtree(staging)
        else:
            final = target_dir / name
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BundleInfo(final, _manifest_of(final))


def _assemble(project: Project, name: str, out: Path, *, notes: str, with_data: bool) -> None:
    secrets = secret_values(project)
    for rel in project_files(project):
        src = project.root / rel
        dst = out / PROJECT_PART / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    models = _copy_models(project, out / MODELS_PART)
    data = _export_data(project, out / DATA_PART) if with_data else []
    (out / NOTES).write_text(notes.rstrip() + "\n" if notes else f"# {name}\n", encoding="utf-8")
    _refuse_secrets(out, secrets)
    commit, dirty = git_state(project.root)
    manifest = Manifest(
        name=name, project=project.config.name, created_at=datetime.fromtimestamp(time.time(), UTC).isoformat(),
        tideflow_version=__version__, git_commit=commit, git_dirty=dirty, notes=notes,
        connections=sorted(project.config.connections), files=_entries(out), models=models, data=data,
    )
    (out / MANIFEST).write_text(json.dumps(manifest.as_dict(), indent=2) + "\n", encoding="utf-8")


def _refuse_secrets(out: Path, secrets: dict[str, str]) -> None:
    if not secrets:
        return
    needles = {label: value.encode() for label, value in secrets.items()}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.suffix in (".joblib", ".parquet"):
            continue
        content = path.read_bytes()
        for label, needle in needles.items():
            if needle in content:
                raise BundleError(f"refusing to bundle: {path.relative_to(out).as_posix()} contains the value of "
                                  f"{label}; move it to .tide/secrets.yaml or an environment variable")


def _copy_models(project: Project, out: Path) -> list[dict[str, Any]]:
    used = used_models(project)
    pinned = sorted(m for m, versions in used.items() if versions != {None})
    if not (project.state_dir / "models.db").is_file():
        if pinned:
            raise BundleError(f"api/ pins versions of models that are not saved: {', '.join(pinned)}")
        return []
    from tideflow.models import Registry

    copied: list[dict[str, Any]] = []
    with Registry(project.state_dir) as registry:
        saved = set(registry.names())
        for model in sorted(used):
            if model not in saved:
                continue  # a spec not trained yet: nothing to ship
            versions = used[model]
            active = registry.get(model)
            wanted = sorted({active.version if v is None else v for v in versions})
            for number in wanted:
                version = registry.get(model, number)
                if not version.path.is_dir():
                    raise BundleError(f"the artifacts of model {model!r} v{number} are missing: expected "
                                      f"{version.path}")
                shutil.copytree(version.path, out / model / str(number))
                copied.append({"name": model, "version": number, "active": number == active.version,
                               "algorithm": version.algorithm})
        missing = [m for m in pinned if m not in saved]
    if missing:
        raise BundleError(f"api/ pins versions of models that are not saved: {', '.join(missing)}")
    return copied


def _export_data(project: Project, out: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from tideflow.flow import Workspace

    exported: list[dict[str, Any]] = []
    out.mkdir(parents=True, exist_ok=True)
    with Workspace(project) as workspace:
        for name, spec in sorted(project.datasets.items()):
            if spec.virtual or not workspace.exists(name):
                continue
            table = workspace.read_arrow(name)
            pq.write_table(table, out / f"{name}.parquet")
            exported.append({"dataset": name, "rows": table.num_rows, "path": f"{DATA_PART}/{name}.parquet",
                             "source": name not in project.graph.producer})
    return exported


# ---------------------------------------------------------------------- find, open, list


def _manifest_of(path: Path) -> Manifest:
    if path.is_dir():
        return read_manifest(path)
    with tarfile.open(path, "r:gz") as tar:
        try:
            member = tar.extractfile(MANIFEST)
        except KeyError:
            member = None
        if member is None:
            raise BundleError(f"{path} is not a bundle: {MANIFEST} is missing")
        return Manifest.from_dict(json.loads(member.read().decode("utf-8")), f"{path}:{MANIFEST}")


def list_bundles(project: Project) -> list[BundleInfo]:
    folder = bundles_dir(project)
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        if path.is_dir() or path.name.endswith(".tar.gz"):
            with contextlib.suppress(BundleError, tarfile.TarError, ValueError):
                found.append(BundleInfo(path, _manifest_of(path)))
    return found


def find_bundle(reference: str | Path, project: Project | None = None) -> Path:
    """A bundle by name (in the project's ``.tide/bundles/``) or by path (directory or ``.tar.gz``)."""
    path = Path(reference)
    if path.exists() and (path.is_dir() or path.name.endswith(".tar.gz")) and (
        path.is_file() or (path / MANIFEST).is_file()
    ):
        return path.resolve()
    if project is not None:
        folder = bundles_dir(project)
        for candidate in (folder / str(reference), folder / f"{reference}.tar.gz"):
            if candidate.exists():
                return candidate
        names = [b.name for b in list_bundles(project)]
        raise BundleError(f"no bundle {str(reference)!r}{did_you_mean(str(reference), names)} "
                          f"(bundles: {', '.join(names) or 'none'}; create one with 'tide bundle create')")
    raise BundleError(f"no bundle at {reference}: expected a bundle directory or a .tar.gz")


@contextlib.contextmanager
def unpacked(bundle: Path, into: Path | None = None) -> Iterator[Path]:
    """The bundle as a directory: itself, or a ``.tar.gz`` safely extracted into ``into`` / a temp dir."""
    if bundle.is_dir():
        yield bundle
        return
    with contextlib.ExitStack() as stack:
        target = into if into is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        target.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(bundle, "r:gz") as tar:
                tar.extractall(target, filter="data")  # refuses absolute paths, '..' and links outside
        except (tarfile.TarError, OSError) as err:
            raise BundleError(f"cannot unpack {bundle}: {type(err).__name__}: {err}") from None
        yield target


"""What goes into a bundle: the project's files, the saved-model versions it uses, and the secrets it can see
(so that creating a bundle refuses a file that holds one). Reads the project; writes nothing."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tideflow.project import Project

# Project folders a bundle carries, whole (recipes/ includes its code files).
SPEC_DIRS = ("datasets", "recipes", "scenarios", "models", "api")
_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
_MIN_SECRET_LEN = 4  # shorter values match too much text to be a useful leak check


def project_files(project: Project) -> list[str]:
    """Project-relative paths of the files to snapshot."""
    root = project.root
    found = ["tideflow.yaml"]
    for folder in SPEC_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if any(p.startswith(".") or p in _SKIPPED_PARTS for p in rel.parts) or path.suffix == ".pyc":
                continue
            if path.is_file():
                found.append(rel.as_posix())
    found += [f for f in service_code_files(root) if f not in found]
    return found


def service_code_files(root: Path) -> list[str]:
    """Python files of API function endpoints that live outside ``api/`` (they are part of the service)."""
    out: list[str] = []
    for path in sorted((root / "api").glob("*.y*ml")) if (root / "api").is_dir() else []:
        for value in values_of(safe_yaml(path), "file"):
            target = (root / value).resolve()
            if target.is_file() and target.is_relative_to(root) and ".tide" not in target.relative_to(root).parts:
                out.append(target.relative_to(root).as_posix())
    return out


def safe_yaml(path: Path) -> Any:
    from tideflow.project.yamlfile import loads

    try:
        return loads(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def values_of(data: Any, key: str) -> Iterator[str]:
    """Every string value of ``key`` anywhere in parsed YAML."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key and isinstance(v, str):
                yield v
            yield from values_of(v, key)
    elif isinstance(data, list):
        for item in data:
            yield from values_of(item, key)


def used_models(project: Project) -> dict[str, set[int | None]]:
    """Saved models the project uses -> versions (None: the active one).

    ``models/<name>.yaml`` (the Lab) and ``model:`` keys of ``scenarios/`` use the active version;
    ``score`` and ``evaluate`` recipes their pinned ``version`` or the active one; prediction
    endpoints of ``api/`` use theirs (pinned, A/B versions, or the active one).
    """
    from tideflow.recipes import EvaluateRecipe, ScoreRecipe

    used: dict[str, set[int | None]] = {}
    for recipe in project.recipes.values():
        if isinstance(recipe, ScoreRecipe | EvaluateRecipe):
            used.setdefault(recipe.model, set()).add(recipe.version)
    for path in sorted((project.root / "models").glob("*.y*ml")):
        used.setdefault(path.stem, set()).add(None)
    for path in sorted((project.root / "scenarios").rglob("*.y*ml")):
        for value in values_of(safe_yaml(path), "model"):
            used.setdefault(value, set()).add(None)
    for path in sorted((project.root / "api").glob("*.y*ml")):
        for endpoint in (safe_yaml(path) or {}).get("endpoints", []) or []:
            if not isinstance(endpoint, dict) or endpoint.get("type") != "prediction":
                continue
            versions = {int(v["version"]) for v in endpoint.get("versions") or [] if isinstance(v, dict)}
            if endpoint.get("version") is not None:
                versions.add(int(endpoint["version"]))
            used.setdefault(str(endpoint.get("model")), set()).update(versions or {None})
    return used


def secret_values(project: Project) -> dict[str, str]:
    """Label -> value of every secret the project can see (secrets file, password env vars)."""
    found: dict[str, str] = {}
    secrets_file = project.state_dir / "secrets.yaml"
    if secrets_file.is_file():
        with contextlib.suppress(OSError, yaml.YAMLError):
            data = yaml.safe_load(secrets_file.read_text(encoding="utf-8")) or {}
            if isinstance(data, dict):
                found.update({f"secret {k!r} of .tide/secrets.yaml": str(v) for k, v in data.items()})
    for name, spec in project.config.connections.items():
        env = getattr(spec, "password_env", None)
        if env and os.environ.get(env):
            found[f"environment variable {env} (password of connection {name!r})"] = os.environ[env]
    for path in sorted((project.root / "api").glob("*.y*ml")):  # API keys given by environment variable
        for key in (safe_yaml(path) or {}).get("api_keys", []) or []:
            env = key.get("env") if isinstance(key, dict) else None
            if isinstance(env, str) and os.environ.get(env):
                found[f"environment variable {env} (API key of {path.stem!r})"] = os.environ[env]
    return {label: value for label, value in found.items() if len(value) >= _MIN_SECRET_LEN}


def git_state(root: Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=False)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=root, capture_output=True,
                                text=True, timeout=10, check=False)
        return commit.stdout.strip() or None, bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None

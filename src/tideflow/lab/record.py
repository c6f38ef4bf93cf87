"""The experiment record of a saved model: everything needed to reproduce it."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("tideflow", "scikit-learn", "lightgbm", "xgboost", "optuna", "numpy", "pandas", "pyarrow", "ray",
             "joblib")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(root: Path) -> str | None:
    """``git rev-parse HEAD`` in ``root``, or None outside a repository (or without git)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def git_dirty(root: Path) -> bool | None:
    try:
        done = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def experiment_key(spec_key: dict[str, Any], data_fingerprint: str) -> str:
    """A hash of what decides the search: the spec (without its budget) and the data."""
    payload = json.dumps({"spec": spec_key, "data": data_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]

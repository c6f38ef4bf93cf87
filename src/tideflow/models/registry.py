"""The saved-model registry: versions in ``.tide/models.db``, artifacts in ``.tide/models/<name>/<version>/``.

Each version directory holds ``pipeline.joblib`` (preprocessing + model as one scikit-learn
pipeline) and ``record.json`` (metrics, input schema and the experiment record). One version per
model is active; ``get`` and ``load_pipeline`` return it unless asked for another. The experiment
record of a Lab version also says which features it cannot score missing (``missing_refused``,
decided by ``tideflow.models.missing`` when it was saved).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.errors import MissingExtraError, ProjectError, did_you_mean
from tideflow.models.missing import MISSING_REFUSED

VersionList = list[int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    algorithm TEXT NOT NULL,
    metric TEXT NOT NULL,
    score REAL,
    metrics TEXT NOT NULL,
    input_schema TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS active (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class ModelVersion:
    """One saved version of a model: what it is, how it scored, and how it was made."""

    name: str
    version: int
    created_at: float
    active: bool
    algorithm: str
    metric: str
    score: float | None
    metrics: dict[str, Any]
    input_schema: dict[str, str]
    record: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()

    @property
    def missing_refused(self) -> list[str] | None:
        """The features this version cannot score with a missing value (``null``), decided by a probe when
        it was saved (``tideflow.models.missing``); None when the version holds no such answer (saved before
        the probe, or not by the Lab): every feature then takes a missing value, as it always did."""
        value = self.record.get(MISSING_REFUSED)
        return [str(v) for v in value] if isinstance(value, list) else None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "created_at": self.created_at, "active": self.active,
                "algorithm": self.algorithm, "metric": self.metric, "score": self.score, "metrics": self.metrics,
                "input_schema": self.input_schema, "missing_refused": self.missing_refused, "record": self.record}


@dataclass(frozen=True)
class Comparison:
    """Versions side by side: ``rows`` are (label, one value per version)."""

    name: str
    versions: list[int]
    rows: list[tuple[str, list[Any]]]


class Registry:
    """Saved models of one project. Constructing it opens (or creates) the database; nothing else."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.root = state_dir / "models"
        self._lock = threading.Lock()
        self._con = sqlite3.connect(state_dir / "models.db", check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.executescript(_SCHEMA)

    # ------------------------------------------------------------------ writing

    def save(self, name: str, pipeline: Any, *, algorithm: str, metric: str, score: float | None,
             metrics: dict[str, Any], input_schema: dict[str, str], record: dict[str, Any],
             activate: bool = True) -> ModelVersion:
        """Write a new version (artifact first, then the row): it becomes active unless ``activate=False``."""
        joblib = _joblib()
        with self._lock:
            row = self._con.execute("SELECT max(version) FROM versions WHERE name = ?", (name,)).fetchone()
            version = int(row[0] or 0) + 1
            final = self.root / name / str(version)
            tmp = self.root / name / f".{version}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            created = time.time()
            joblib.dump(pipeline, tmp / "pipeline.joblib")
            doc = {"name": name, "version": version, "created_at": created, "algorithm": algorithm, "metric": metric,
                   "score": score, "metrics": metrics, "input_schema": input_schema, "record": record}
            (tmp / "record.json").write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            self._con.execute("BEGIN")
            try:
                self._con.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  (name, version, created, algorithm, metric, score,
                                   json.dumps(metrics, sort_keys=True), json.dumps(input_schema),
                                   json.dumps(record, sort_keys=True, default=str)))
                has_active = self._con.execute("SELECT 1 FROM active WHERE name = ?", (name,)).fetchone()
                if activate or not has_active:
                    self._con.execute("INSERT OR REPLACE INTO active VALUES (?, ?)", (name, version))
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise
        return self.get(name, version)

    def activate(self, name: str, version: int) -> ModelVersion:
        self.get(name, version)  # unknown name or version -> error
        with self._lock:
            self._con.execute("INSERT OR REPLACE INTO active VALUES (?, ?)", (name, version))
        return self.get(name, version)

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._con.execute("SELECT DISTINCT name FROM versions ORDER BY name")]

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``), by name then version."""
        if name is not None:
            self._check_name(name)
        query = "SELECT * FROM versions" + (" WHERE name = ?" if name else "") + " ORDER BY name, version"
        with self._lock:
            rows = self._con.execute(query, (name,) if name else ()).fetchall()
            active = dict(self._con.execute("SELECT name, version FROM active").fetchall())
        return [self._version(r, active) for r in rows]

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """``version`` of ``name``, or its active version."""
        self._check_name(name)
        with self._lock:
            active = dict(self._con.execute("SELECT name, version FROM active").fetchall())
            wanted = active.get(name) if version is None else version
            row = self._con.execute("SELECT * FROM versions WHERE name = ? AND version = ?", (name, wanted)).fetchone()
            known = [r[0] for r in self._con.execute("SELECT version FROM versions WHERE name = ? ORDER BY version",
                                                     (name,))]
        if row is None:
            raise ProjectError(f"model {name!r} has no version {wanted} (versions: {', '.join(map(str, known))})")
        return self._version(row, active)

    def load_pipeline(self, name: str, version: int | None = None) -> Any:
        """The fitted pipeline (preprocessing + model) of a version, the active one by default."""
        found = self.get(name, version)
        path = found.path / "pipeline.joblib"
        if not path.is_file():
            raise ProjectError(f"the artifact of {name} v{found.version} is missing: expected {path}")
        return _joblib().load(path)

    def compare(self, name: str, versions: VersionList) -> Comparison:
        """Metrics and provenance of ``versions`` side by side."""
        found = [self.get(name, v) for v in versions]
        keys: list[str] = []
        for v in found:
            keys += [k for k, value in v.metrics.items() if k not in keys and not isinstance(value, list | dict)]
        rows: list[tuple[str, list[Any]]] = [
            ("algorithm", [v.algorithm for v in found]),
            ("active", ["yes" if v.active else "" for v in found]),
            (f"validation {found[0].metric}" if found else "validation", [v.score for v in found]),
        ]
        rows += [(k, [v.metrics.get(k) for v in found]) for k in keys]
        rows += [("data version", [v.record.get("data_version") for v in found]),
                 ("seed", [v.record.get("seed") for v in found]),
                 ("trials", [len(v.record.get("trials", [])) for v in found])]
        return Comparison(name, [v.version for v in found], rows)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_name(self, name: str) -> None:
        with self._lock:
            found = self._con.execute("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (name,)).fetchone()
        if found is None:
            known = self.names()
            raise ProjectError(f"no saved model {name!r}{did_you_mean(name, known)} "
                               f"(saved models: {', '.join(known) or 'none'}; train one with 'tide lab train')")

    def _version(self, row: tuple[Any, ...], active: dict[str, int]) -> ModelVersion:
        name, version = row[0], int(row[1])
        return ModelVersion(name=name, version=version, created_at=float(row[2]), active=active.get(name) == version,
                            algorithm=row[3], metric=row[4], score=None if row[5] is None else float(row[5]),
                            metrics=json.loads(row[6]), input_schema=json.loads(row[7]), record=json.loads(row[8]),
                            path=self.root / name / str(version))


def _joblib() -> Any:
    try:
        import joblib
    except ImportError:  # pragma: no cover
        raise MissingExtraError("joblib", "lab") from None
    return joblib

"""The evaluation store: ``.tide/monitoring.db`` (SQLite) and reference samples under ``.tide/monitoring/``.

Every evaluation is one row (time, model version, current data source / version / fingerprint,
the headline numbers) with the whole result as JSON, plus one row per metric so drift over time
is a query. A *reference sample* is the data a model version is compared with; it is kept as
Parquet (``.tide/monitoring/reference/<model>/<version>.parquet``) so every evaluation of a version
compares with the same rows even after its input dataset changed.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tideflow.errors import ProjectError
from tideflow.models.registry import Registry
from tideflow.monitoring.drift import DriftThresholds
from tideflow.monitoring.evaluation import Batch, Evaluation, evaluate_model

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,
    data_version TEXT,
    fingerprint TEXT NOT NULL,
    rows INTEGER NOT NULL,
    drift_score REAL,
    drifting TEXT NOT NULL,
    alarm INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_model ON evaluations (model, created_at);
CREATE TABLE IF NOT EXISTS evaluation_metrics (
    evaluation INTEGER NOT NULL REFERENCES evaluations (id),
    metric TEXT NOT NULL,
    feature TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (evaluation, metric, feature)
);
CREATE TABLE IF NOT EXISTS reference_samples (
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    data_version TEXT,
    fingerprint TEXT NOT NULL,
    rows INTEGER NOT NULL,
    note TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (model, version)
);
"""


@dataclass(frozen=True)
class MetricPoint:
    """One recorded value of a metric, for drift over time."""

    evaluation: int
    created_at: float
    version: int
    value: float


class EvaluationStore:
    """Evaluations and reference samples of one project (``state_dir`` is its ``.tide``). Each call opens
    its own short SQLite connection, so one instance is safe to share between threads."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / "monitoring.db"
        self.samples = self.state_dir / "monitoring" / "reference"
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as con:
            yield con

    # ------------------------------------------------------------------ evaluations

    def record(self, evaluation: Evaluation) -> Evaluation:
        """Store ``evaluation`` and its metrics in one transaction; return it with its ``id``."""
        doc = evaluation.as_dict()
        cur = evaluation.current
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "INSERT INTO evaluations (model, version, created_at, source, data_version, fingerprint, rows, "
                    "drift_score, drifting, alarm, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (evaluation.model, evaluation.version, evaluation.created_at, cur.source, cur.data_version,
                     cur.fingerprint, cur.rows, evaluation.drift_score, json.dumps(evaluation.drifting_features),
                     int(evaluation.alarm), json.dumps(doc, sort_keys=True)))
                ident = int(row.lastrowid or 0)
                con.executemany("INSERT INTO evaluation_metrics VALUES (?, ?, ?, ?)",
                                [(ident, metric, feature or "", value)
                                 for (metric, feature), value in evaluation.metrics().items()])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return Evaluation.from_dict({**doc, "id": ident})

    def get(self, ident: int) -> Evaluation:
        with self._connect() as con:
            row = con.execute("SELECT id, doc FROM evaluations WHERE id = ?", (int(ident),)).fetchone()
        if row is None:
            raise ProjectError(f"no evaluation {ident} in {self.path}")
        return Evaluation.from_dict({**json.loads(row[1]), "id": int(row[0])})

    def list(self, model: str | None = None, *, limit: int = 100) -> builtins.list[Evaluation]:
        """The last ``limit`` evaluations (of ``model``), oldest first."""
        where, args = ("WHERE model = ?", (model,)) if model else ("", ())
        with self._connect() as con:
            rows = con.execute(f"SELECT id, doc FROM evaluations {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                               (*args, int(limit))).fetchall()
        return [Evaluation.from_dict({**json.loads(doc), "id": int(i)}) for i, doc in reversed(rows)]

    def latest(self, model: str) -> Evaluation | None:
        found = self.list(model, limit=1)
        return found[0] if found else None

    def models(self) -> builtins.list[str]:
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT model FROM evaluations ORDER BY model")]

    def series(self, model: str, metric: str, feature: str | None = None, *,
               limit: int = 1000) -> builtins.list[MetricPoint]:
        """A metric over time (oldest first): ``series('fraud', 'psi', 'amount')``."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT e.id, e.created_at, e.version, m.value FROM evaluation_metrics m JOIN evaluations e "
                "ON e.id = m.evaluation WHERE e.model = ? AND m.metric = ? AND m.feature = ? "
                "ORDER BY e.created_at DESC, e.id DESC LIMIT ?", (model, metric, feature or "", int(limit))).fetchall()
        return [MetricPoint(int(i), float(t), int(v), float(x)) for i, t, v, x in reversed(rows)]

    # ------------------------------------------------------------------ reference samples

    def sample_path(self, model: str, version: int) -> Path:
        return self.samples / model / f"{version}.parquet"

    def save_reference(self, model: str, version: int, batch: Batch, *, now: float | None = None) -> Batch:
        """Keep ``batch`` as the reference of ``model`` v``version`` (replacing any earlier one)."""
        path = self.sample_path(model, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        batch = Batch(batch.table.replace_schema_metadata(None), batch.source, batch.data_version, batch.note)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        pq.write_table(batch.table, tmp)
        tmp.replace(path)
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO reference_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (model, version, batch.source, batch.data_version, batch.fingerprint, batch.table.num_rows,
                         batch.note, time.time() if now is None else now))
        return batch

    def reference(self, model: str, version: int) -> Batch | None:
        """The stored reference sample of ``model`` v``version``, or None."""
        with self._connect() as con:
            row = con.execute("SELECT source, data_version, note, fingerprint FROM reference_samples "
                              "WHERE model = ? AND version = ?", (model, version)).fetchone()
        path = self.sample_path(model, version)
        if row is None or not path.is_file():
            return None
        table: pa.Table = pq.read_table(path)
        return Batch(table, source=str(row[0]), data_version=row[1], note=str(row[2]), known_fingerprint=str(row[3]))


class Monitor:
    """Evaluate saved models and keep the results: ``Monitor(state_dir).evaluate('fraud', None, ref, cur)``."""

    def __init__(self, state_dir: Path, *, thresholds: DriftThresholds | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.thresholds = thresholds or DriftThresholds()
        self.store = EvaluationStore(self.state_dir)

    def evaluate(self, model: str, version: int | None, reference: Batch, current: Batch, *,
                 now: float | None = None, record: bool = True, domain: bool = True,
                 notes: list[str] | None = None) -> Evaluation:
        """Evaluate ``model`` (its active version when ``version`` is None) on ``current`` against
        ``reference``; store the evaluation unless ``record=False``."""
        with Registry(self.state_dir) as registry:
            found = registry.get(model, version)
            pipeline = registry.load_pipeline(model, found.version)
        evaluation = evaluate_model(found, pipeline, reference, current, now=time.time() if now is None else now,
                                    thresholds=self.thresholds, domain=domain, notes=notes)
        return self.store.record(evaluation) if record else evaluation

    def history(self, model: str, limit: int = 100) -> list[Evaluation]:
        return self.store.list(model, limit=limit)

    def describe(self) -> dict[str, Any]:
        return {"store": str(self.store.path), "thresholds": self.thresholds.as_dict()}

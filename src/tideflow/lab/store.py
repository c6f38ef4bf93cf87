"""Lab runs and their trials in the state store (``.tide/lab.db``), written as each trial finishes.

A run is one search of one model spec; ``key`` hashes what defines it (spec minus budget, data
fingerprint), so ``resume`` only continues a search that would make the same choices.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    version INTEGER,
    metric TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    run_id TEXT NOT NULL,
    trial_id INTEGER NOT NULL,
    rung INTEGER NOT NULL,
    fraction REAL NOT NULL,
    score REAL,
    seconds REAL NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (run_id, trial_id, rung)
);
CREATE TABLE IF NOT EXISTS trials (
    run_id TEXT NOT NULL,
    trial_id INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    rung INTEGER NOT NULL,
    fraction REAL NOT NULL,
    score REAL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, trial_id)
);
"""


@dataclass
class TrialRow:
    """A trial as the leaderboard shows it. ``status``: running, pruned, stopped (a time budget ended the
    search before its next rung), complete or failed."""

    trial_id: int
    algorithm: str
    params: dict[str, Any]
    status: str
    rung: int
    fraction: float
    score: float | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "algorithm": self.algorithm, "params": self.params,
                "status": self.status, "rung": self.rung, "fraction": self.fraction, "score": self.score,
                "seconds": self.seconds}


@dataclass(frozen=True)
class RunRow:
    run_id: str
    model: str
    key: str
    status: str  # running | interrupted | finished | failed
    started_at: float
    finished_at: float | None
    version: int | None
    metric: str
    higher_is_better: bool


class TrialStore:
    """A small SQLite database; one connection, guarded by a lock."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "lab.db"
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.executescript(_SCHEMA)

    def start_run(self, model: str, key: str, metric: str, higher_is_better: bool) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._lock:
            self._con.execute("INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, NULL, ?, ?)",
                              (run_id, model, key, time.time(), metric, int(higher_is_better)))
        return run_id

    def set_status(self, run_id: str, status: str, version: int | None = None) -> None:
        with self._lock:
            self._con.execute("UPDATE runs SET status = ?, finished_at = ?, version = coalesce(?, version) "
                              "WHERE run_id = ?", (status, time.time(), version, run_id))

    def runs(self, model: str) -> list[RunRow]:
        """Runs of ``model``, newest first."""
        with self._lock:
            rows = self._con.execute("SELECT * FROM runs WHERE model = ? ORDER BY started_at DESC, rowid DESC",
                                     (model,)).fetchall()
        return [RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])) for r in rows]

    def evaluations(self, run_id: str) -> dict[tuple[int, int], tuple[float | None, float]]:
        """(trial, rung) -> (score, seconds) of every evaluation already done in ``run_id``."""
        with self._lock:
            rows = self._con.execute("SELECT trial_id, rung, score, seconds FROM evaluations WHERE run_id = ?",
                                     (run_id,)).fetchall()
        return {(int(t), int(r)): (None if s is None else float(s), float(sec)) for t, r, s, sec in rows}

    def record_evaluation(self, run_id: str, trial_id: int, rung: int, fraction: float, score: float | None,
                          seconds: float, error: str = "") -> None:
        with self._lock:
            self._con.execute("INSERT OR REPLACE INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (run_id, trial_id, rung, fraction, score, seconds, error))

    def record_trial(self, run_id: str, row: TrialRow) -> None:
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, row.trial_id, row.algorithm, json.dumps(row.params, sort_keys=True), row.status, row.rung,
                 row.fraction, row.score, row.seconds))

    def trials(self, run_id: str) -> list[TrialRow]:
        with self._lock:
            rows = self._con.execute(
                "SELECT trial_id, algorithm, params, status, rung, fraction, score, seconds FROM trials "
                "WHERE run_id = ? ORDER BY trial_id", (run_id,)).fetchall()
        return [TrialRow(int(r[0]), r[1], json.loads(r[2]), r[3], int(r[4]), float(r[5]),
                         None if r[6] is None else float(r[6]), float(r[7])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

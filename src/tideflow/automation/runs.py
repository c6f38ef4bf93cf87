"""Run history of scenarios (``.tide/automation.db``) and the locks that keep runs apart.

Tables: ``scenario_runs`` (one row per run, or per skipped/missed firing), ``step_runs`` (one row
per step: outcome, attempts, duration), ``step_attempts`` (each attempt with its log) and
``trigger_state`` (what each trigger saw last: a dataset version, a query digest, a cron time).

Locks are ``flock`` file locks under ``.tide/automation/locks/``: the kernel releases them when the
holder dies, so a crashed run never leaves a scenario locked. ``ScenarioLock`` keeps two runs of
one scenario apart (threads and processes alike: each lock opens its own file description).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.project.filelock import FileLock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scenario_runs (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    trigger TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    failed_step TEXT,
    message TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS scenario_runs_by_name ON scenario_runs (scenario, started_at);
CREATE TABLE IF NOT EXISTS step_runs (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    step TEXT NOT NULL,
    type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    seconds REAL NOT NULL,
    message TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS step_attempts (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    seconds REAL NOT NULL,
    message TEXT NOT NULL,
    log TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (run_id, idx, attempt)
);
CREATE TABLE IF NOT EXISTS trigger_state (
    scenario TEXT NOT NULL,
    trigger TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (scenario, trigger)
);
"""

RUN_OUTCOMES = ("running", "succeeded", "failed", "skipped", "missed")
STEP_OUTCOMES = ("succeeded", "failed", "timed_out", "skipped")


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    outcome: str
    seconds: float
    message: str
    log: str
    started_at: float


@dataclass(frozen=True)
class StepRecord:
    index: int
    step: str
    type: str
    outcome: str
    attempts: int
    seconds: float
    message: str
    started_at: float
    attempt_log: list[AttemptRecord] = field(default_factory=list)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    scenario: str
    trigger: str
    params: dict[str, Any]
    outcome: str
    failed_step: str | None
    message: str
    started_at: float
    finished_at: float | None
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


class RunHistory:
    """The history database. Opens a connection per call: safe from threads and processes."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "automation.db"
        # Switching to WAL (persistent in the file) and creating the tables take locks that SQLite does
        # not always wait for: several threads or processes opening a fresh history at once retry here.
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._connect() as con:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    # -------------------------------------------------------------- writing

    def start_run(self, run_id: str, scenario: str, trigger: str, params: dict[str, Any],
                  *, outcome: str = "running", message: str = "", finished: bool = False) -> None:
        now = time.time()
        with self._connect() as con:
            con.execute("INSERT INTO scenario_runs VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                        (run_id, scenario, trigger, json.dumps(params, sort_keys=True), outcome, message, now,
                         now if finished else None))

    def finish_run(self, run_id: str, outcome: str, failed_step: str | None, message: str) -> None:
        with self._connect() as con:
            con.execute("UPDATE scenario_runs SET outcome = ?, failed_step = ?, message = ?, finished_at = ? "
                        "WHERE run_id = ?", (outcome, failed_step, message, time.time(), run_id))

    def record_attempt(self, run_id: str, index: int, attempt: int, outcome: str, seconds: float, message: str,
                       log: str, started_at: float) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO step_attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, index, attempt, outcome, seconds, message, log, started_at))

    def record_step(self, run_id: str, index: int, step: str, kind: str, outcome: str, attempts: int,
                    seconds: float, message: str, started_at: float) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO step_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, index, step, kind, outcome, attempts, seconds, message, started_at))

    def trigger_value(self, scenario: str, trigger: str) -> str | None:
        with self._connect() as con:
            row = con.execute("SELECT value FROM trigger_state WHERE scenario = ? AND trigger = ?",
                              (scenario, trigger)).fetchone()
        return None if row is None else str(row[0])

    def set_trigger_value(self, scenario: str, trigger: str, value: str) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO trigger_state VALUES (?, ?, ?, ?)",
                        (scenario, trigger, value, time.time()))

    # -------------------------------------------------------------- reading

    def runs(self, scenario: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Runs, newest first, without their steps."""
        query = "SELECT * FROM scenario_runs"
        args: tuple[Any, ...] = ()
        if scenario is not None:
            query += " WHERE scenario = ?"
            args = (scenario,)
        query += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._connect() as con:
            rows = con.execute(query, (*args, limit)).fetchall()
        return [_run(row) for row in rows]

    def finished_since(self, after_s: float) -> list[RunRecord]:
        """Runs that finished (succeeded or failed) after ``after_s``, oldest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM scenario_runs WHERE finished_at > ? AND outcome IN "
                               "('succeeded', 'failed') ORDER BY finished_at", (after_s,)).fetchall()
        return [_run(row) for row in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run with its steps and every attempt (logs included)."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM scenario_runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            steps = con.execute("SELECT idx, step, type, outcome, attempts, seconds, message, started_at "
                                "FROM step_runs WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
            attempts = con.execute("SELECT idx, attempt, outcome, seconds, message, log, started_at "
                                   "FROM step_attempts WHERE run_id = ? ORDER BY idx, attempt", (run_id,)).fetchall()
        by_step: dict[int, list[AttemptRecord]] = {}
        for a in attempts:
            by_step.setdefault(a[0], []).append(AttemptRecord(*a[1:]))
        records = [StepRecord(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], by_step.get(s[0], [])) for s in steps]
        base = _run(row)
        return RunRecord(**{**base.__dict__, "steps": records})


def _run(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(run_id=row[0], scenario=row[1], trigger=row[2], params=json.loads(row[3]), outcome=row[4],
                     failed_step=row[5], message=row[6], started_at=row[7], finished_at=row[8])


def locks_dir(state_dir: Path) -> Path:
    return state_dir / "automation" / "locks"


def scenario_lock(state_dir: Path, scenario: str) -> FileLock:
    """The lock that keeps two runs of ``scenario`` apart."""
    return FileLock(locks_dir(state_dir) / f"scenario-{scenario}.lock")


def database_lock(state_dir: Path) -> FileLock:
    """The lock around work that opens the project's embedded DuckDB files (one process at a time)."""
    return FileLock(locks_dir(state_dir) / "duckdb.lock")

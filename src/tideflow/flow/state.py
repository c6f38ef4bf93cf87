"""The state store under ``.tide/state.db``: what was built, from what, and the run log."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tideflow.errors import ConnectionError_, ProjectError, TideflowError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recipe_state (
    recipe TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    input_versions TEXT NOT NULL,
    built_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dataset_state (
    dataset TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    rows INTEGER,
    built_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    build_id TEXT NOT NULL,
    recipe TEXT NOT NULL,
    engine TEXT NOT NULL,
    status TEXT NOT NULL,
    seconds REAL NOT NULL,
    rows TEXT NOT NULL,
    error TEXT NOT NULL,
    finished_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class RecipeState:
    fingerprint: str
    input_versions: dict[str, str]
    built_at: float


class StateStore:
    """A small SQLite database; safe to use from the builder's threads."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "state.db"
        self._lock = threading.Lock()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise self._unwritable(err) from None
        try:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            self._con.close()
            raise self._failure(err) from None

    def _unwritable(self, err: Exception) -> ConnectionError_:
        return ConnectionError_(f"cannot write the build state store {self.path} ({err}): expected a writable "
                                f"{self.path.parent} folder (every command that reads the Flow records there)")

    def _failure(self, err: sqlite3.Error) -> TideflowError:
        """A read-only file or folder is a connection error (exit 3); anything else SQLite refuses means a
        truncated or overwritten file: say what to do with it (exit 2)."""
        text = str(err).lower()
        if isinstance(err, sqlite3.OperationalError) and "locked" in text:
            return ConnectionError_(f"the build state store {self.path} is busy: another process is writing it "
                                    f"({err}); retry when it is done")
        if isinstance(err, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text
                                                          or "disk i/o" in text):
            return self._unwritable(err)
        return ProjectError(
            f"the build state store is damaged ({err}); expected a SQLite database. It only records "
            "what was built and when: move it aside and run `tide flow build --mode forced` to rebuild it",
            file=str(self.path))

    @contextlib.contextmanager
    def _sql(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; SQLite's errors as Tideflow's (never a traceback)."""
        with self._lock:
            try:
                yield self._con
            except sqlite3.Error as err:
                raise self._failure(err) from None

    def recipe(self, name: str) -> RecipeState | None:
        with self._sql() as con:
            row = con.execute(
                "SELECT fingerprint, input_versions, built_at FROM recipe_state WHERE recipe = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        return RecipeState(fingerprint=row[0], input_versions=json.loads(row[1]), built_at=row[2])

    def dataset_version(self, name: str) -> str | None:
        with self._sql() as con:
            row = con.execute("SELECT version FROM dataset_state WHERE dataset = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def record_success(
        self, recipe: str, fingerprint: str, input_versions: dict[str, str], outputs: dict[str, int]
    ) -> dict[str, str]:
        """Record a successful build of ``recipe``; return the new version of each output."""
        now = time.time()
        versions = {out: uuid.uuid4().hex[:16] for out in outputs}
        with self._sql() as con:
            con.execute("BEGIN")
            try:
                con.execute(
                    "INSERT OR REPLACE INTO recipe_state VALUES (?, ?, ?, ?)",
                    (recipe, fingerprint, json.dumps(input_versions, sort_keys=True), now),
                )
                for out, rows in outputs.items():
                    con.execute(
                        "INSERT OR REPLACE INTO dataset_state VALUES (?, ?, ?, ?)", (out, versions[out], rows, now)
                    )
                con.execute("COMMIT")
            except Exception:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return versions

    def log_run(self, build_id: str, recipe: str, engine: str, status: str, seconds: float,
                rows: dict[str, int], error: str) -> None:
        with self._sql() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (build_id, recipe, engine, status, seconds, json.dumps(rows), error, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._con.close()

"""Metric and check history, in the project's state store (``.tide/state.db``, own tables).

One metric row per (dataset, measure, dataset version): recomputing metrics of an unchanged
dataset replaces its row instead of adding one, so typical ranges learn from distinct versions.
Metrics of data a failing check rejected are never recorded (they would widen the typical range);
check outcomes are recorded always, with the version ``rejected`` for rejected data.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tideflow.checks.measures import Measure, MetricValue, decode_value, encode_value
from tideflow.checks.rules import CheckOutcome

REJECTED = "rejected"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS check_metric_history (
    dataset TEXT NOT NULL,
    measure TEXT NOT NULL,
    label TEXT NOT NULL,
    version TEXT NOT NULL,
    value TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (dataset, measure, version)
);
CREATE INDEX IF NOT EXISTS check_metric_history_time ON check_metric_history (dataset, measure, recorded_at);
CREATE TABLE IF NOT EXISTS check_outcome_history (
    dataset TEXT NOT NULL,
    check_name TEXT NOT NULL,
    rule TEXT NOT NULL,
    outcome TEXT NOT NULL,
    expected TEXT NOT NULL,
    got TEXT NOT NULL,
    version TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS check_outcome_history_time ON check_outcome_history (dataset, recorded_at);
"""


@dataclass(frozen=True)
class RecordedMetric:
    version: str
    recorded_at: float
    value: MetricValue


@dataclass(frozen=True)
class RecordedOutcome:
    check: str
    rule: str
    outcome: str
    expected: str
    got: str
    version: str
    recorded_at: float


class MetricHistory:
    """Reads and writes the history tables of ``path`` (the state database). Each call opens its
    own short SQLite connection, so one instance is safe to share between the builder's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as con:
            yield con

    def record(self, dataset: str, version: str, values: dict[Measure, MetricValue],
               outcomes: Sequence[CheckOutcome], *, now: float | None = None) -> None:
        """Record metric values (unless ``version`` is ``rejected``) and check outcomes."""
        at = time.time() if now is None else now
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if version != REJECTED:
                    con.executemany(
                        "INSERT OR REPLACE INTO check_metric_history VALUES (?, ?, ?, ?, ?, ?)",
                        [(dataset, m.key, m.label, version, json.dumps(encode_value(v), ensure_ascii=False), at)
                         for m, v in values.items()],
                    )
                con.executemany(
                    "INSERT INTO check_outcome_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(dataset, o.check, o.rule, o.outcome, o.expected, o.got, version, at) for o in outcomes],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def recent(self, dataset: str, measure: Measure, limit: int, *,
               exclude_version: str | None = None) -> list[RecordedMetric]:
        """The last ``limit`` recorded values of ``measure`` on ``dataset``, most recent first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT version, recorded_at, value FROM check_metric_history WHERE dataset = ? AND measure = ? "
                "AND version != ? ORDER BY recorded_at DESC LIMIT ?",
                (dataset, measure.key, exclude_version or "", int(limit)),
            ).fetchall()
        return [RecordedMetric(str(v), float(t), decode_value(json.loads(val))) for v, t, val in rows]

    def outcomes(self, dataset: str, limit: int = 100) -> list[RecordedOutcome]:
        """The last ``limit`` check outcomes recorded for ``dataset``, most recent first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT check_name, rule, outcome, expected, got, version, recorded_at FROM check_outcome_history "
                "WHERE dataset = ? ORDER BY recorded_at DESC, rowid DESC LIMIT ?",
                (dataset, int(limit)),
            ).fetchall()
        return [RecordedOutcome(str(c), str(r), str(o), str(e), str(g), str(v), float(t))
                for c, r, o, e, g, v, t in rows]

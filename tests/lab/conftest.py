"""Small real projects for Lab tests: a DuckDB source table of generated transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

FRAUD_SPEC = """\
input: tx
target: is_fraud
task: binary
features:
  exclude: [tx_id]
algorithms:
  logistic: {}
  random_forest:
    n_estimators: {low: 20, high: 60}
    max_depth: {low: 3, high: 8}
  lightgbm:
    n_estimators: {low: 20, high: 60}
strategy: random
budget:
  trials: 6
early_stopping:
  method: asha
  reduction_factor: 3
  min_fraction: 0.34
seed: 7
"""


def make_transactions(n: int = 1500, seed: int = 0, shift: float = 0.0) -> pa.Table:
    """Transactions with a learnable fraud label (numeric, categorical, date and id columns)."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 1.0, n)
    age = rng.integers(18, 80, n).astype("int64")
    velocity = rng.poisson(2.0, n).astype("float64")
    velocity[rng.random(n) < 0.05] = np.nan
    merchant = rng.choice(["grocery", "travel", "online", "fuel", "luxury"], n)
    day = [dt.date(2026, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, n)]
    logit = -2.5 + 0.6 * np.log(amount) - 0.03 * age + 0.4 * np.nan_to_num(velocity) + shift
    logit += np.where(merchant == "online", 1.2, 0.0) + np.where(merchant == "luxury", 0.8, 0.0)
    is_fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pa.table({
        "tx_id": pa.array(np.arange(n, dtype="int64")),
        "amount": pa.array(amount),
        "age": pa.array(age),
        "velocity": pa.array(velocity, from_pandas=True),
        "merchant": pa.array(merchant.tolist()),
        "day": pa.array(day, type=pa.date32()),
        "is_fraud": pa.array(is_fraud),
    })


def write_table(root: Path, name: str, table: pa.Table) -> None:
    (root / ".tide").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.register("incoming", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
        con.unregister("incoming")
    finally:
        con.close()


ProjectMaker = Callable[..., Path]


@pytest.fixture()
def lab_project(tmp_path: Path) -> ProjectMaker:
    """Write a project with a ``tx`` source table and ``models/<name>.yaml`` files; return its root."""

    def make(models: dict[str, str] | None = None, *, rows: int = 1500, seed: int = 0,
             config: str = "name: lab\n") -> Path:
        root = tmp_path / "proj"
        (root / "datasets").mkdir(parents=True, exist_ok=True)
        (root / "models").mkdir(exist_ok=True)
        (root / "tideflow.yaml").write_text(config)
        (root / "datasets" / "tx.yaml").write_text("table: tx\n")
        for name, text in (models if models is not None else {"fraud": FRAUD_SPEC}).items():
            (root / "models" / f"{name}.yaml").write_text(text)
        write_table(root, "tx", make_transactions(rows, seed))
        return root

    return make


class _KeptPool:
    """A pool that outlives one training: ``close`` is left to the session."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.size = getattr(pool, "size", None)

    def map_unordered(self, *args: Any, **kwargs: Any) -> Any:
        return self._pool.map_unordered(*args, **kwargs)

    def close(self) -> None:
        return None


class WarmRuntime:
    """The session's runtime, keeping one warm pool per (profile, size) across trainings: starting
    actors (a process importing scikit-learn and LightGBM each) is the slow part of a small test."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.name = getattr(rt, "name", type(rt).__name__)
        self._pools: dict[tuple[str, int | None], Any] = {}

    def check_feasible(self, profile: Any, *, where: str) -> None:
        self.rt.check_feasible(profile, where=where)

    def put(self, value: Any) -> Any:
        return self.rt.put(value)

    def worker_pool(self, profile: Any, size: int | None = None) -> Any:
        key = (profile.model_dump_json(), size)
        if key not in self._pools:
            self._pools[key] = self.rt.worker_pool(profile, size=size)
        return _KeptPool(self._pools[key])

    def close_pools(self) -> None:
        for pool in self._pools.values():
            pool.close()


@pytest.fixture(scope="session")
def lab_runtime() -> Iterator[object]:
    """ONE runtime for the whole session: Ray through tideflow.compute when it exists, else in-process."""
    import os

    from tideflow.lab.runtime import open_lab_runtime
    from tideflow.project import ComputeSpec

    # A stale /tmp/ray/ray_current_cluster (another cluster on this machine) must not capture ray.init.
    previous = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = "local"
    try:
        with open_lab_runtime(ComputeSpec(num_cpus=2)) as rt:
            warm = WarmRuntime(rt)
            yield warm
            warm.close_pools()
    finally:
        if previous is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = previous

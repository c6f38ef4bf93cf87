"""A real project for the platform REST API: the ``tide init`` starter on DuckDB, built once, plus a
Lab run, saved model versions, an evaluation, an API service with replica history and a scenario.

``served`` runs the app in a real uvicorn server on a free 127.0.0.1 port (httpx talks HTTP to it).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

KEY = "test-key-7f3a"
OTHER_KEY = "second-key-91"

ORDERS_CLEAN_CHECKS = """\
description: Orders that were not cancelled, with VAT and the order month.
metrics:
  - record_count
  - {metric: avg, column: amount}
checks:
  - name: enough rows
    rule: within_range
    metric: record_count
    error: {min: 1}
  - rule: in_set
    column: status
    values: [paid, shipped, new]
    severity: warning
  - rule: not_empty
"""

MODEL_SPEC = """\
input: orders_clean
target: status
task: binary
algorithms:
  logistic: {}
budget:
  trials: 2
seed: 7
"""

SERVICE = """\
description: Score orders.
endpoints:
  - name: double
    type: function
    file: scoring.py
    function: double
    batching: {max_batch_size: 8, max_wait_ms: 1}
"""

SCORING = """\
def double(records):
    return [2 * r["x"] for r in records]
"""

SCENARIO = """\
description: Tell the team.
triggers:
  - type: manual
    params:
      label: {type: str, default: nightly}
steps:
  - name: tell
    type: send_message
    reporter: log
    text: run ${run_id} (${params.label}) of ${scenario}
reporters:
  - name: log
    type: log_file
    path: .tide/automation/test.log
"""


def _lab_run(root: Path) -> str:
    from tideflow.lab.store import TrialRow, TrialStore

    with TrialStore(root / ".tide") as store:
        run_id = store.start_run("orders_model", "key", "auc", True)
        store.record_trial(run_id, TrialRow(0, "logistic", {"C": 0.5}, "complete", 1, 1.0, 0.71, 0.2))
        store.record_trial(run_id, TrialRow(1, "logistic", {"C": 2.0}, "complete", 1, 1.0, 0.83, 0.3))
        store.record_trial(run_id, TrialRow(2, "logistic", {"C": 9.0}, "failed", 0, 0.3, None, 0.1))
        store.set_status(run_id, "finished", version=2)
    return run_id


def _saved_models(root: Path) -> None:
    from tideflow.models import Registry

    with Registry(root / ".tide") as registry:
        for score in (0.71, 0.83):
            registry.save("orders_model", {"stand-in": "pipeline"}, algorithm="logistic", metric="auc", score=score,
                          metrics={"auc": score, "nan_metric": float("nan")},
                          input_schema={"amount": "double", "country": "string"},
                          record={"seed": 7, "data_version": "v1", "trials": [{"id": 0}]})


def _evaluation(root: Path) -> None:
    import numpy as np

    from tideflow.models import Registry
    from tideflow.monitoring import Batch, EvaluationStore, evaluate_model

    rng = np.random.default_rng(0)
    ref = pa.table({"amount": rng.normal(100, 10, 400), "country": rng.choice(["DE", "FR"], 400)})
    cur = pa.table({"amount": rng.normal(160, 10, 400), "country": rng.choice(["DE", "FR"], 400)})
    with Registry(root / ".tide") as registry:
        version = registry.get("orders_model")
    evaluation = evaluate_model(version, None, Batch(ref, "reference"), Batch(cur, "dataset orders_clean", "v9"),
                                now=time.time(), domain=False)
    EvaluationStore(root / ".tide").record(evaluation)


def _replica_history(root: Path) -> None:
    from tideflow.autoscaling.controller import DecisionEntry, DecisionLog

    log = DecisionLog(root / ".tide" / "autoscaling" / "scoring" / "decisions.jsonl")
    log.append(DecisionEntry(time=time.time(), elapsed_s=3.0, policy="tideflow", metric="in_flight", value=4.0,
                             observed=2.0, replicas_before=1, replicas_after=2, ready=1, reason="load above target"))


def make_project(root: Path) -> Path:
    from tideflow.cli.init_cmd import scaffold
    from tideflow.flow import build
    from tideflow.project import load_project

    scaffold(root, "shop")
    (root / "datasets" / "orders_clean.yaml").write_text(ORDERS_CLEAN_CHECKS)
    (root / "models").mkdir()
    (root / "models" / "orders_model.yaml").write_text(MODEL_SPEC)
    (root / "api").mkdir()
    (root / "api" / "scoring.yaml").write_text(SERVICE)
    (root / "api" / "broken.yaml").write_text("endpoints: []\n")
    (root / "scoring.py").write_text(SCORING)
    (root / "scenarios").mkdir()
    (root / "scenarios" / "notify.yaml").write_text(SCENARIO)
    result = build(load_project(root))
    assert result.ok, result.failed
    _lab_run(root)
    _saved_models(root)
    _evaluation(root)
    _replica_history(root)
    return root


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("api") / "shop")


@dataclass
class Served:
    url: str
    app: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(project_root: Path) -> Iterator[Served]:
    """The app in a real uvicorn server on 127.0.0.1 (stopped after the module)."""
    import uvicorn

    from tideflow.api import create_app

    app = create_app(project_root, api_keys=[KEY, OTHER_KEY])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(10)

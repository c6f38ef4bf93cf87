"""A small project with two saved model versions, functions, a table, and API services; a real server.

The server is a real uvicorn process (uvloop + httptools) on a free 127.0.0.1 port, started and
stopped by PID by these fixtures.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tideflow.models import Registry

KEY_FRAUD = "fraud-key-0123456789"
KEY_OTHER = "other-key-9876543210"
SCHEMA = {"amount": "double", "n_tx": "integer", "channel": "string"}

FUNCS = '''
def double(records):
    return [{"doubled": r["x"] * 2} for r in records]


def triple(records):
    return [{"doubled": r["x"] * 3} for r in records]


def boom(records):
    raise RuntimeError("secret internal detail /home/model.py line 3")


def slow(records):
    import time
    time.sleep(0.02)
    return [r["x"] + 1 for r in records]
'''

FRAUD_YAML = '''
description: Fraud scoring for the tests
api_keys:
  - {name: tests, env: TIDE_TEST_KEY_FRAUD}
limits: {max_body_bytes: 20000, max_records: 50}
endpoints:
  - name: score
    type: prediction
    model: fraud
    versions:
      - {version: 1, weight: 80}
      - {version: 2, weight: 20}
    sticky_key: card_id
    workers: 1
    batching: {max_batch_size: 16, max_wait_ms: 2}
  - name: pinned
    type: prediction
    model: fraud
    version: 2
    workers: 1
  - name: double
    type: function
    file: api/funcs.py
    function: double
    inputs: {x: double}
    versions:
      - {name: a, function: double, weight: 1}
      - {name: b, function: triple, weight: 1}
    workers: 0
  - name: boom
    type: function
    file: api/funcs.py
    function: boom
    workers: 1
  - name: merchant_by_name
    type: sql_query
    query: "SELECT merchant_id, name, risk FROM merchants WHERE name = :name ORDER BY merchant_id"
    parameters: {name: string}
  - name: merchant
    type: lookup
    dataset: merchants
    key: merchant_id
'''

OTHER_YAML = '''
api_keys:
  - {name: them, env: TIDE_TEST_KEY_OTHER}
endpoints:
  - {name: double, type: function, file: api/funcs.py, function: double, workers: 0}
'''


def features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.gamma(2.0, 50.0, n), "n_tx": rng.integers(0, 30, n),
                         "channel": rng.choice(["web", "pos", "app"], n)})


def fitted(seed: int) -> Pipeline:
    x = features(400, seed)
    y = ((x["amount"] > 100) ^ (x["channel"] == "web")).astype(int)
    pre = ColumnTransformer([("num", StandardScaler(), ["amount", "n_tx"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"])])
    return Pipeline([("pre", pre), ("model", LogisticRegression(C=float(seed)))]).fit(x, y)


def make_project(root: Path) -> Path:
    (root / "datasets").mkdir(parents=True)
    (root / "api").mkdir()
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: servetest\n")
    (root / "datasets" / "merchants.yaml").write_text("table: merchants\n")
    (root / "api" / "funcs.py").write_text(FUNCS)
    (root / "api" / "fraud.yaml").write_text(FRAUD_YAML)
    (root / "api" / "other.yaml").write_text(OTHER_YAML)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    con.execute("CREATE TABLE merchants AS SELECT * FROM (VALUES (1, 'acme', 0.1), (2, 'globex', 0.7), "
                "(3, 'o''reilly', 0.3)) t(merchant_id, name, risk)")
    con.close()
    with Registry(root / ".tide") as registry:
        for seed in (1, 2):
            registry.save("fraud", fitted(seed), algorithm="logistic", metric="auc", score=0.9, metrics={},
                          input_schema=SCHEMA, record={"classes": [0, 1]})
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    root: Path
    log: Path

    def client(self, key: str | None = KEY_FRAUD) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


def start_server(root: Path, service: str, *, workers: int | None = None) -> Server:
    port = free_port()
    env = {**os.environ, "TIDE_TEST_KEY_FRAUD": KEY_FRAUD, "TIDE_TEST_KEY_OTHER": KEY_OTHER}
    code = ("import sys; from tideflow.serving.app import serve; w = sys.argv[4]; "
            "serve(sys.argv[1], sys.argv[2], port=int(sys.argv[3]), workers=None if w == '-' else int(w))")
    log = root / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code, str(root), service, str(port),
                                    "-" if workers is None else str(workers)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return Server(url, process, root, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(Server(url, process, root, log))
    raise RuntimeError(f"the server was not ready in 90 s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    """Stop by PID: SIGTERM (graceful: uvicorn drains, pools stop), then SIGKILL if it hangs."""
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


@pytest.fixture(scope="package")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("serving") / "proj")


@pytest.fixture(scope="package")
def server(project: Path) -> Iterator[Server]:
    srv = start_server(project, "fraud")
    try:
        yield srv
    finally:
        stop_server(srv)

"""A Lab model trained with ``impute: none`` on an algorithm that refuses NaN: the node answers a null (or a
binary NaN) for such a feature with a 422 naming it, never a 500; models that take missing values, and
versions saved before the probe, still take nulls (over real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.lab.conftest import make_transactions, write_table
from tests.serving.conftest import Server, start_server, stop_server

from tideflow.lab import train
from tideflow.lab.runtime import LocalRuntime
from tideflow.models import Registry
from tideflow.models.missing import MISSING_REFUSED
from tideflow.project import load_project

STRICT = """\
input: tx
target: is_fraud
task: binary
features:
  exclude: [tx_id, velocity]
  numeric: {imputation: none}
algorithms:
  logistic: {}
strategy: random
budget: {trials: 1}
early_stopping: {method: none}
seed: 3
"""

NATIVE = """\
input: tx
target: is_fraud
task: binary
features:
  exclude: [tx_id]
  numeric: {imputation: none}
algorithms:
  lightgbm: {n_estimators: 10}
strategy: random
budget: {trials: 1}
early_stopping: {method: none}
seed: 3
"""

SERVICE = """\
api_keys:
  - {name: tests, env: TIDE_TEST_KEY_FRAUD}
endpoints:
  - {name: strict, type: prediction, model: strict, workers: 0}
  - {name: strict_worker, type: prediction, model: strict, workers: 1}
  - {name: native, type: prediction, model: native, workers: 0}
  - {name: legacy, type: prediction, model: legacy, workers: 0}
  - {name: legacy_strict, type: prediction, model: legacy_strict, workers: 0}
  - {name: legacy_strict_worker, type: prediction, model: legacy_strict, workers: 1}
"""

ROW = {"amount": 25.0, "age": 40, "merchant": "online", "day": "2026-03-01"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("missing") / "proj"
    (root / "datasets").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "api").mkdir()
    (root / "tideflow.yaml").write_text("name: missing\n")
    (root / "datasets" / "tx.yaml").write_text("table: tx\n")
    (root / "models" / "strict.yaml").write_text(STRICT)
    (root / "models" / "native.yaml").write_text(NATIVE)
    (root / "api" / "lab.yaml").write_text(SERVICE)
    write_table(root, "tx", make_transactions(400, seed=1))
    project = load_project(root)
    for name in ("strict", "native"):
        assert train(project, name, runtime=LocalRuntime()).version is not None
    with Registry(project.state_dir) as registry:  # versions saved before the probe existed
        for source, legacy in (("native", "legacy"), ("strict", "legacy_strict")):
            saved = registry.get(source)
            old_record = {k: v for k, v in saved.record.items() if k != MISSING_REFUSED}
            registry.save(legacy, registry.load_pipeline(source), algorithm=saved.algorithm, metric=saved.metric,
                          score=saved.score, metrics=saved.metrics, input_schema=saved.input_schema,
                          record=old_record)
    return root


@pytest.fixture(scope="module")
def node(trained: Path) -> Iterator[Server]:
    srv = start_server(trained, "lab")
    try:
        yield srv
    finally:
        stop_server(srv)


def test_the_probe_is_stored_with_each_saved_version(trained: Path) -> None:
    with Registry(trained / ".tide") as registry:
        strict, native, legacy = registry.get("strict"), registry.get("native"), registry.get("legacy")
    assert strict.algorithm == "logistic" and strict.missing_refused == ["amount", "age"]  # not merchant, day
    assert native.algorithm == "lightgbm" and native.missing_refused == []
    assert legacy.missing_refused is None and MISSING_REFUSED not in legacy.record
    doc = json.loads((strict.path / "record.json").read_text())
    assert doc["record"][MISSING_REFUSED] == ["amount", "age"]


def _error(r: httpx.Response) -> Any:
    assert "Traceback" not in r.text and r.headers["content-type"] == "application/json", r.text
    return r.json()["error"]


@pytest.mark.parametrize("endpoint", ["strict", "strict_worker"])
def test_a_null_the_model_cannot_score_is_a_422_naming_the_field(node: Server, endpoint: str) -> None:
    with node.client() as c:
        ok = c.post(f"/v1/endpoints/{endpoint}/predict", json=ROW)
        assert ok.status_code == 200, ok.text
        r = c.post(f"/v1/endpoints/{endpoint}/predict", json={**ROW, "amount": None})
        assert r.status_code == 422, r.text
        error = _error(r)
        assert error["field"] == "amount"
        assert error["message"].startswith("field 'amount': this model cannot score a missing value")
        assert "impute: none" in error["message"] and "expected a number (double), got null" in error["message"]
        many = c.post(f"/v1/endpoints/{endpoint}/predict", json=[ROW, {**ROW, "age": None}])
        assert many.status_code == 422, many.text
        assert _error(many)["message"].startswith("record 1, field 'age': this model cannot score a missing value")
        assert "expected an integer, got null" in _error(many)["message"]
        # imputed or encoded features of the same model still take a null
        fine = c.post(f"/v1/endpoints/{endpoint}/predict", json={**ROW, "merchant": None, "day": None})
        assert fine.status_code == 200, fine.text


def test_mlflow_and_v2_refuse_it_too_binary_nan_included(node: Server) -> None:
    with node.client() as c:
        r = c.post("/v1/endpoints/strict/invocations", json={"dataframe_records": [{**ROW, "amount": None}]})
        assert r.status_code == 422 and _error(r)["field"] == "amount", r.text
        tensors = [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [25.0, None]},
                   {"name": "age", "shape": [2], "datatype": "INT64", "data": [40, 41]},
                   {"name": "merchant", "shape": [2], "datatype": "BYTES", "data": ["online", "fuel"]},
                   {"name": "day", "shape": [2], "datatype": "BYTES", "data": ["2026-03-01", "2026-03-02"]}]
        r = c.post("/v2/models/strict/infer", json={"inputs": tensors})
        assert r.status_code == 422, r.text
        assert _error(r).startswith("field 'amount': this model cannot score a missing value")
        assert "got null at index 1" in _error(r)
        raw = struct.pack("<dd", float("nan"), 25.0)
        header = json.dumps({"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64",
                                         "parameters": {"binary_data_size": len(raw)}}, *tensors[1:]]}).encode()
        r = c.post("/v2/models/strict/infer", content=header + raw,
                   headers={"inference-header-content-length": str(len(header)),
                            "content-type": "application/octet-stream"})
        assert r.status_code == 422, r.text
        assert "field 'amount'" in _error(r) and "got NaN at index 0" in _error(r)
        tensors[0]["data"] = [25.0, 30.0]
        assert c.post("/v2/models/strict/infer", json={"inputs": tensors}).status_code == 200


def test_a_model_that_takes_missing_values_and_an_old_version_answer_200(node: Server) -> None:
    nulls = {"amount": None, "age": None, "velocity": None, "merchant": None, "day": None}
    with node.client() as c:
        for endpoint in ("native", "legacy"):
            r = c.post(f"/v1/endpoints/{endpoint}/predict", json=nulls)
            assert r.status_code == 200, r.text
            assert 0.0 <= r.json()["output"]["probability"] <= 1.0
            both = c.post(f"/v1/endpoints/{endpoint}/predict", json=[{**ROW, "velocity": 1.0}, nulls])
            assert both.status_code == 200 and len(both.json()["outputs"]) == 2, both.text


def test_the_endpoint_description_and_openapi_say_which_features_need_a_value(node: Server) -> None:
    with node.client() as c:
        described = {e["name"]: e for e in c.get("/v1/endpoints").json()["endpoints"]}
        doc = c.get("/openapi.json").json()
    assert described["strict"]["missing_refused"] == ["amount", "age"]
    assert described["native"]["missing_refused"] == [] and described["legacy"]["missing_refused"] == []
    strict = doc["components"]["schemas"]["strict_record"]["properties"]
    assert strict["amount"]["type"] == "number" and strict["age"]["type"] == "integer"
    assert strict["merchant"]["type"] == ["string", "null"]
    native = doc["components"]["schemas"]["native_record"]["properties"]
    assert native["amount"]["type"] == ["number", "null"]


@pytest.mark.parametrize("endpoint", ["legacy_strict", "legacy_strict_worker"])
def test_an_old_version_that_fails_on_a_null_answers_422_naming_the_nulls(node: Server, endpoint: str) -> None:
    """Saved without the probe's answer, the server cannot refuse the null up front; the model fails on
    it while scoring, and the answer is still the client's 422, not a 500."""
    with node.client() as c:
        assert c.post(f"/v1/endpoints/{endpoint}/predict", json=ROW).status_code == 200
        r = c.post(f"/v1/endpoints/{endpoint}/predict", json={**ROW, "amount": None, "merchant": None})
        assert r.status_code == 422, r.text
        error = _error(r)
        assert error["field"] == "amount"
        assert error["message"].startswith("field 'amount': the model failed on this record's missing values "
                                           "(null: 'amount', 'merchant')")
        assert "saved without the list of features" in error["message"]
        assert "expected a number (double), got null" in error["message"]
        many = c.post(f"/v1/endpoints/{endpoint}/predict", json=[ROW, {**ROW, "age": None}])
        assert many.status_code == 422, many.text
        assert _error(many)["message"].startswith("record 1, field 'age': the model failed")
        # the endpoint keeps serving
        assert c.post(f"/v1/endpoints/{endpoint}/predict", json=[ROW, ROW]).status_code == 200

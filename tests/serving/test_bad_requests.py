"""Bad requests get 4xx naming the field, never a 500 (over real HTTP): integers beyond int64, malformed
v2 tensors, unknown versions, routes and methods, the admin route's key and limit; a lookup endpoint
holds no lock on the warehouse while the node serves."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from tests.serving.conftest import KEY_FRAUD, Server, start_server, stop_server

from tideflow.serving.errors import InvalidInput
from tideflow.serving.inputs import validate_records
from tideflow.serving.protocols.v2 import records_of

ROW = {"amount": 120.0, "n_tx": 3, "channel": "web"}
TENSORS = [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [120.0]},
           {"name": "n_tx", "shape": [1], "datatype": "INT64", "data": [3]},
           {"name": "channel", "shape": [1], "datatype": "BYTES", "data": ["web"]}]


def _no_trace(r: httpx.Response) -> None:
    assert "Traceback" not in r.text and r.headers["content-type"] == "application/json", r.text


# ----------------------------------------------------------------------------------- 1. integers beyond int64

@pytest.mark.parametrize("body", [
    b'{"amount": 120.0, "n_tx": 9223372036854775808, "channel": "web"}',
    b'{"amount": 120.0, "n_tx": 1e20, "channel": "web"}',
    b'{"amount": 120.0, "n_tx": 1000000000000000000000000000000, "channel": "web"}',
    b'{"amount": 120.0, "n_tx": -1e19, "channel": "web"}',
])
def test_native_integer_beyond_int64_is_a_422_naming_the_field(server: Server, body: bytes) -> None:
    with server.client() as c:
        r = c.post("/v1/endpoints/pinned/predict", content=body, headers={"content-type": "application/json"})
        many = c.post("/v1/endpoints/pinned/predict", content=b"[" + json.dumps(ROW).encode() + b", " + body + b"]",
                      headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "n_tx" and "integer out of range" in error["message"]
    _no_trace(r)
    assert many.status_code == 422 and many.json()["error"]["message"].startswith("record 1, field 'n_tx'")


def test_int64_bounds_are_accepted_and_mlflow_refuses_beyond(server: Server) -> None:
    with server.client() as c:
        for edge in (9223372036854775807, -9223372036854775808):
            r = c.post("/v1/endpoints/pinned/predict", json={**ROW, "n_tx": edge})
            assert r.status_code == 200, r.text
        r = c.post("/v1/endpoints/pinned/invocations", json={"dataframe_records": [{**ROW, "n_tx": 1e20}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "n_tx"


def test_validation_refuses_integers_beyond_int64() -> None:
    schema = {"n": "integer", "x": "double"}
    assert validate_records([{"n": 2**63 - 1, "x": 2**64}], schema, max_records=5) == [{"n": 2**63 - 1, "x": 2**64}]
    assert validate_records([{"n": -(2**63), "x": 1}], schema, max_records=5)[0]["n"] == -(2**63)
    for value in (2**63, -(2**63) - 1, 1e20, 10**30):
        with pytest.raises(InvalidInput, match=r"field 'n': integer out of range") as err:
            validate_records([{"n": value, "x": 1.0}], schema, max_records=5)
        assert err.value.field == "n"


# ----------------------------------------------------------------------------------- 2. the v2 protocol

def _v2_binary(c: httpx.Client, model: str, binary_tensor: dict[str, Any], raw: bytes,
               others: list[dict[str, Any]] | None = None) -> httpx.Response:
    header = json.dumps({"inputs": [binary_tensor, *(others if others is not None else TENSORS[1:])]}).encode()
    return c.post(f"/v2/models/{model}/infer", content=header + raw,
                  headers={"Inference-Header-Content-Length": str(len(header))})


def _with(i: int, **changes: Any) -> dict[str, Any]:
    inputs = [dict(t) for t in TENSORS]
    inputs[i].update(changes)
    for key in [k for k, v in changes.items() if v is _DROP]:
        del inputs[i][key]
    return {"inputs": inputs}


_DROP = object()


@pytest.mark.parametrize(("body", "field", "text"), [
    (_with(0, parameters=["binary_data_size"]), "amount", "expected 'parameters' to be an object, got array"),
    (_with(0, parameters="x"), "amount", "expected 'parameters' to be an object, got string"),
    ({"inputs": TENSORS, "parameters": [1]}, "parameters", "expected 'parameters' to be an object"),
    ({"inputs": TENSORS, "outputs": 5}, "outputs", "expected 'outputs' to be an array"),
    ({"inputs": TENSORS, "outputs": [{"nom": "probability"}]}, "outputs[0]", "string 'name'"),
    ({"inputs": TENSORS, "outputs": [{"name": "probability", "parameters": 3}]}, "outputs[0]", "'parameters'"),
    (_with(0, data=_DROP), "amount", "no 'data'"),
    (_with(0, data=None), "amount", "expected 'data' to be an array of values, got null"),
    (_with(0, data=120.0), "amount", "expected 'data' to be an array"),
    (_with(0, shape=[True]), "amount", "non-negative integers"),
    (_with(0, shape=[-1]), "amount", "non-negative integers"),
    (_with(0, shape=[1.0]), "amount", "non-negative integers"),
    (_with(1, data=[1e30]), "n_tx", "out of range for INT64"),
    (_with(1, data=[9223372036854775808]), "n_tx", "out of range for INT64"),
    (_with(1, datatype="INT8", data=[1000]), "n_tx", "out of range for INT8"),
    (_with(0, parameters={"binary_data_size": True}), "amount", "binary_data_size to be a non-negative integer"),
    (_with(0, parameters={"binary_data_size": -8}), "amount", "binary_data_size to be a non-negative integer"),
])
def test_v2_malformed_requests_are_422_naming_the_field(server: Server, body: dict[str, Any], field: str,
                                                        text: str) -> None:
    with server.client() as c:
        r = c.post("/v2/models/pinned/infer", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["error"]
    assert isinstance(message, str) and f"field {field!r}" in message and text in message, message
    _no_trace(r)


def test_v2_outputs_are_checked_before_the_model_scores(server: Server) -> None:
    # ``boom`` always fails: a 422 (not its 500) shows the request was refused before scoring
    x = [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]
    with server.client() as c:
        r = c.post("/v2/models/boom/infer", json={"inputs": x, "outputs": 5})
        assert r.status_code == 422 and "field 'outputs'" in r.json()["error"], r.text
        assert c.post("/v2/models/boom/infer", json={"inputs": x}).status_code == 500


@pytest.mark.parametrize(("datatype", "raw"), [
    ("FP64", struct.pack("<d", float("inf"))),
    ("FP64", struct.pack("<d", float("-inf"))),
    ("FP32", struct.pack("<f", float("inf"))),
])
def test_v2_binary_infinity_is_a_422(server: Server, datatype: str, raw: bytes) -> None:
    tensor = {"name": "amount", "shape": [1], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}
    with server.client() as c:
        r = _v2_binary(c, "pinned", tensor, raw)
    assert r.status_code == 422, r.text
    assert "field 'amount'" in r.json()["error"] and "finite" in r.json()["error"]
    _no_trace(r)


def test_v2_binary_errors_beyond_floats(server: Server) -> None:
    with server.client() as c:
        big = struct.pack("<Q", 2**64 - 1)
        r = _v2_binary(c, "pinned", {"name": "n_tx", "shape": [1], "datatype": "UINT64",
                                     "parameters": {"binary_data_size": 8}}, big, [TENSORS[0], TENSORS[2]])
        assert r.status_code == 422 and "field 'n_tx'" in r.json()["error"] and "out of range" in r.text
        short = struct.pack("<I", 10) + b"web"  # says 10 bytes, holds 3
        r = _v2_binary(c, "pinned", {"name": "channel", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(short)}}, short, TENSORS[:2])
        assert r.status_code == 422 and "field 'channel'" in r.json()["error"] and "runs past" in r.text


def test_v2_binary_nan_is_the_missing_value_as_json_null() -> None:
    schema = {"amount": "double", "n_tx": "integer", "channel": "string"}
    raw = struct.pack("<dd", float("nan"), 7.5)
    header = json.dumps({"inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
        {"name": "n_tx", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "channel", "shape": [2], "datatype": "BYTES", "data": ["web", "pos"]}]}).encode()
    binary, _ = records_of(header + raw, str(len(header)), schema)
    as_json = json.dumps({"inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [None, 7.5]},
        {"name": "n_tx", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "channel", "shape": [2], "datatype": "BYTES", "data": ["web", "pos"]}]}).encode()
    from_json, _ = records_of(as_json, None, schema)
    assert binary == from_json == [{"amount": None, "n_tx": 1, "channel": "web"},
                                   {"amount": 7.5, "n_tx": 2, "channel": "pos"}]


# ----------------------------------------------------------------------------------- 5. v2 versions

def test_v2_unknown_version_is_404_for_metadata_and_ready(server: Server) -> None:
    with server.client() as c:
        for path in ("/v2/models/pinned/versions/999", "/v2/models/pinned/versions/999/ready",
                     "/v2/models/score/versions/3/ready"):
            r = c.get(path)
            assert r.status_code == 404, (path, r.text)
            assert "no version" in r.json()["error"]
        r = c.post("/v2/models/pinned/versions/999/infer", json={"inputs": TENSORS})
        assert r.status_code == 404
        meta = c.get("/v2/models/score/versions/1")
        assert meta.status_code == 200 and meta.json()["versions"] == ["1"]
        assert c.get("/v2/models/score/versions/2/ready").status_code == 200
        assert c.get("/v2/models/score").json()["versions"] == ["1", "2"]


# ----------------------------------------------------------------------------------- 6. routes and methods

def test_unknown_routes_and_methods_answer_the_json_error_body(server: Server) -> None:
    with server.client() as c:
        r = c.get("/nope")
        assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownRoute"
        assert "GET /nope" in r.json()["error"]["message"]
        r = c.get("/v1/endpoints/pinned/predict")
        assert r.status_code == 405 and r.json()["error"]["type"] == "MethodNotAllowed"
        assert "POST" in r.headers["allow"] and "POST" in r.json()["error"]["message"]
        r = c.delete("/healthz")
        assert r.status_code == 405 and r.json()["error"]["type"] == "MethodNotAllowed"
        r = c.post("/v1/endpoints/a/b/predict", json=ROW)  # not the fast path's one-segment name
        assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownRoute"
        r = c.get("/v2/models/pinned/infer")  # v2 routes answer the flat v2 error body
        assert r.status_code == 405 and isinstance(r.json()["error"], str)
        r = c.get("/v2/nope")
        assert r.status_code == 404 and "no route GET /v2/nope" in r.json()["error"]
        for r in (c.get("/nope"), c.get("/v1/endpoints/pinned/predict")):
            _no_trace(r)


# ----------------------------------------------------------------------------------- 4. the admin route

def test_resize_needs_an_admin_key(server: Server) -> None:
    with server.client() as c:
        r = c.put("/v1/admin/endpoints/boom/workers", json={"workers": 2})
    assert r.status_code == 403 and "admin: true" in r.json()["error"]["message"]
    with server.client(key=None) as c:
        assert c.put("/v1/admin/endpoints/boom/workers", json={"workers": 2}).status_code == 401


def test_worker_limit_follows_the_share_max_workers(tmp_path: Path) -> None:
    import asyncio

    from tideflow.serving.dataplane import DataPlane
    from tideflow.serving.specs import load_service

    (tmp_path / "api").mkdir()
    (tmp_path / "tideflow.yaml").write_text("name: limits\n")
    (tmp_path / "api" / "f.py").write_text("def f(records):\n    return records\n")
    (tmp_path / "api" / "s.yaml").write_text(
        "query_log: {enabled: false}\n"
        "autoscaling: {share: {max_workers: 3, pipelines: {b: {max_workers: 5}}}}\n"
        "endpoints:\n"
        "  - {name: a, type: function, file: api/f.py, function: f, workers: 0}\n"
        "  - {name: b, type: function, file: api/f.py, function: f, workers: 0}\n")
    (tmp_path / "api" / "t.yaml").write_text(
        "query_log: {enabled: false}\nendpoints:\n  - {name: a, type: function, file: api/f.py, function: f, "
        "workers: 0}\n")

    async def limits(service: str) -> dict[str, int]:
        plane = DataPlane(tmp_path, load_service(tmp_path, service))
        await plane.start()
        try:
            return {name: plane.worker_limit(name) for name in plane.endpoints}
        finally:
            await plane.close()

    assert asyncio.run(limits("s")) == {"a": 3, "b": 5}
    assert asyncio.run(limits("t")) == {"a": min(256, 4 * (os.cpu_count() or 1))}


# ----------------------------------------------------------------------------------- 3. lookups hold no lock

def test_a_lookup_node_leaves_the_duckdb_file_free(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "datasets").mkdir(parents=True)
    (root / "api").mkdir()
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: locktest\n")
    (root / "datasets" / "merchants.yaml").write_text("table: merchants\n")
    (root / "api" / "lookups.yaml").write_text(
        "api_keys: [{name: k, env: TIDE_TEST_KEY_FRAUD}]\n"
        "endpoints:\n"
        "  - {name: inline, type: lookup, dataset: merchants, key: merchant_id}\n"            # workers: 0
        "  - {name: pooled, type: lookup, dataset: merchants, key: merchant_id, workers: 1}\n")
    warehouse = root / ".tide" / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE merchants AS SELECT * FROM (VALUES (1, 'acme'), (2, 'globex')) t(merchant_id, name)")
    con.close()
    server = start_server(root, "lookups")
    try:
        with server.client(KEY_FRAUD) as c:
            for endpoint in ("inline", "pooled"):
                r = c.post(f"/v1/endpoints/{endpoint}/predict", json={"merchant_id": 2})
                assert r.json()["output"] == {"found": True, "name": "globex"}
            # another process (a build, the platform API) opens the file read-write while the node serves
            writer = subprocess.run(
                [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                 "con.execute('CREATE TABLE built AS SELECT 42 AS answer'); con.close()", str(warehouse)],
                capture_output=True, text=True, timeout=60, check=False)
            assert writer.returncode == 0, writer.stderr
            r = c.post("/v1/endpoints/inline/predict", json={"merchant_id": 1})
            assert r.json()["output"] == {"found": True, "name": "acme"}  # the index is in memory
    finally:
        stop_server(server)

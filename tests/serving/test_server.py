"""The API node over real HTTP: keys, protocols (httpx; tritonclient for v2), errors, A/B, logs, metrics."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import numpy as np
import pytest
from tests.serving.conftest import KEY_OTHER, SCHEMA, Server, features, fitted

ROW = {"amount": 120.0, "n_tx": 3, "channel": "web"}


def test_keys_401_without_and_403_for_another_service(server: Server) -> None:
    with server.client(key=None) as c:
        r = c.post("/v1/endpoints/pinned/predict", json=ROW)
        assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    with server.client(key="not-a-key") as c:
        assert c.post("/v1/endpoints/pinned/predict", json=ROW).status_code == 401
    with server.client(key=KEY_OTHER) as c:
        r = c.post("/v1/endpoints/pinned/predict", json=ROW)
        assert r.status_code == 403 and "another API service" in r.json()["error"]["message"]
        assert KEY_OTHER not in r.text
    with server.client() as c, httpx.Client(base_url=server.url, headers={"X-API-Key": "fraud-key-0123456789"}) as x:
        assert c.post("/v1/endpoints/pinned/predict", json=ROW).status_code == 200
        assert x.post("/v1/endpoints/pinned/predict", json=ROW).status_code == 200


def test_native_one_and_many_records_match_the_pipeline(server: Server) -> None:
    rows = features(5, seed=7)
    expected = fitted(2).predict_proba(rows)[:, 1]
    records = rows.to_dict(orient="records")
    with server.client() as c:
        one = c.post("/v1/endpoints/pinned/predict", json=records[0]).json()
        many = c.post("/v1/endpoints/pinned/predict", json=records).json()
    assert one["version"] == "2" and one["output"]["probability"] == pytest.approx(expected[0], abs=1e-9)
    assert [o["probability"] for o in many["outputs"]] == pytest.approx(list(expected), abs=1e-9)


@pytest.mark.parametrize(("body", "status", "field", "text"), [
    ({"n_tx": 3, "channel": "web"}, 422, "amount", "missing feature"),
    ({**ROW, "amuont": 1.0}, 422, "amuont", "did you mean 'amount'"),
    ({**ROW, "amount": "lots"}, 422, "amount", "expected a number"),
    ({**ROW, "n_tx": 2.5}, 422, "n_tx", "expected an integer"),
    ({**ROW, "channel": ["web"]}, 422, "channel", "expected a string"),
    ([ROW, 3], 422, None, "record 1: expected an object"),
    ("just a string", 422, None, "expected a record"),
    ([], 422, None, "at least one record"),
    ([ROW] * 51, 413, None, "over the limit of 50"),
])
def test_bad_records_get_4xx_naming_the_field(server: Server, body: object, status: int, field: str | None,
                                              text: str) -> None:
    with server.client() as c:
        r = c.post("/v1/endpoints/pinned/predict", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert text in error["message"]
    assert error.get("field") == field
    assert "Traceback" not in r.text


def test_invalid_json_oversized_body_and_unknown_endpoint(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/endpoints/pinned/predict", content=b'{"amount": 1.0,',
                   headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
        r = c.post("/v1/endpoints/pinned/predict", content=b"x" * 30_000)
        assert r.status_code == 413 and "20000 bytes" in r.json()["error"]["message"]
        r = c.post("/v1/endpoints/pinnd/predict", json=ROW)
        assert r.status_code == 404 and "did you mean 'pinned'" in r.json()["error"]["message"]
        r = c.post("/v1/endpoints/score/predict?version=7", json=ROW)
        assert r.status_code == 404 and "no version '7'" in r.json()["error"]["message"]


def test_a_model_error_is_a_500_with_an_id_and_no_traceback(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/endpoints/boom/predict", json={"x": 1})
    assert r.status_code == 500
    error = r.json()["error"]
    assert len(error["error_id"]) == 16 and error["error_id"] in error["message"]
    assert "Traceback" not in r.text and "secret internal detail" not in r.text
    time.sleep(0.2)
    assert error["error_id"] in server.log.read_text()  # the details are in the server log


def test_ab_weights_are_honoured_and_sticky_keys_are_stable(server: Server) -> None:
    with server.client() as c:
        versions = Counter(c.post("/v1/endpoints/score/predict", json=ROW).json()["version"] for _ in range(400))
        # 80/20 split: 400 draws, binomial sd = 8; 4.5 sd either side
        assert 320 - 36 <= versions["1"] <= 320 + 36, versions
        sticky = {}
        for card in range(40):
            seen = {c.post("/v1/endpoints/score/predict", json={**ROW, "card_id": f"card-{card}"}).json()["version"]
                    for _ in range(3)}
            assert len(seen) == 1  # a card always lands on the same version
            sticky[card] = seen.pop()
        assert set(sticky.values()) == {"1", "2"}
        via_query = c.post("/v1/endpoints/score/predict?sticky=card-3", json=ROW).json()["version"]
        assert via_query == sticky[3]
        assert c.post("/v1/endpoints/score/predict?version=2", json=ROW).json()["version"] == "2"


def test_function_versions_split_by_weight(server: Server) -> None:
    with server.client() as c:
        seen = Counter(c.post("/v1/endpoints/double/predict", json={"x": 2}).json()["output"]["doubled"]
                       for _ in range(200))
    assert set(seen) == {4, 6} and 60 <= seen[4] <= 140


def test_open_inference_v2_with_tritonclient(server: Server) -> None:
    tritonclient_http = pytest.importorskip("tritonclient.http")
    client = tritonclient_http.InferenceServerClient(url=server.url.removeprefix("http://"))
    headers = {"Authorization": "Bearer fraud-key-0123456789"}
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("pinned", headers=headers)
        meta = client.get_model_metadata("pinned", headers=headers)
        assert [i["name"] for i in meta["inputs"]] == list(SCHEMA)
        rows = features(4, seed=11)
        expected = fitted(2).predict_proba(rows)[:, 1]
        for binary in (False, True):
            inputs = []
            for name, dtype, values in [("amount", "FP64", rows["amount"].to_numpy(np.float64)),
                                        ("n_tx", "INT64", rows["n_tx"].to_numpy(np.int64)),
                                        ("channel", "BYTES", rows["channel"].to_numpy(object))]:
                tensor = tritonclient_http.InferInput(name, [len(rows)], dtype)
                tensor.set_data_from_numpy(values, binary_data=binary)
                inputs.append(tensor)
            result = client.infer("pinned", inputs, headers=dict(headers))  # the client writes into headers
            assert result.as_numpy("probability").tolist() == pytest.approx(list(expected), abs=1e-9)
        bad = tritonclient_http.InferInput("amount", [1], "BYTES")
        bad.set_data_from_numpy(np.array(["x"], dtype=object), binary_data=False)
        with pytest.raises(Exception, match="amount"):
            client.infer("pinned", [bad], headers=dict(headers))
    finally:
        client.close()


def test_v2_shape_and_datatype_errors_name_the_tensor(server: Server) -> None:
    with server.client() as c:
        body = {"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0]},
                           {"name": "n_tx", "shape": [1], "datatype": "INT64", "data": [1]},
                           {"name": "channel", "shape": [1], "datatype": "BYTES", "data": ["web"]}]}
        r = c.post("/v2/models/pinned/infer", json=body)
        assert r.status_code == 422 and "field 'amount'" in r.json()["error"] and "holds 2 values" in r.text
        body["inputs"][0] = {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]}
        body["inputs"][1]["datatype"] = "FP64"
        r = c.post("/v2/models/pinned/infer", json=body)
        assert r.status_code == 422 and "field 'n_tx'" in r.json()["error"] and "INT64" in r.text
        assert c.get("/v2/models/nope/ready").status_code == 404


def test_mlflow_invocations_split_and_records(server: Server) -> None:
    rows = features(3, seed=5)
    with server.client() as c:
        split = c.post("/v1/endpoints/pinned/invocations", json={"dataframe_split": {
            "columns": list(rows.columns), "data": rows.to_numpy().tolist()}})
        records = c.post("/v1/endpoints/pinned/invocations",
                         json={"dataframe_records": rows.to_dict(orient="records")})
        assert split.status_code == 200 and split.json() == records.json()
        assert len(split.json()["predictions"]) == 3
        r = c.post("/invocations", json={"dataframe_split": {"columns": ["amount", "n_tx"], "data": [[1.0]]}})
        assert r.status_code == 422 and "dataframe_split.data[0]" in r.json()["error"]["field"]
        r = c.post("/invocations", json={"instances": [1]})
        assert r.status_code == 422 and "dataframe_split" in r.text


def test_sql_query_binds_hostile_values_and_lookup_by_key(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/endpoints/merchant_by_name/predict", json={"name": "o'reilly"})
        assert r.json()["output"]["rows"] == [{"merchant_id": 3, "name": "o'reilly", "risk": 0.3}]
        for hostile in ["x' OR '1'='1", "'; DROP TABLE merchants; --", "acme' --"]:
            r = c.post("/v1/endpoints/merchant_by_name/predict", json={"name": hostile})
            assert r.status_code == 200 and r.json()["output"]["rows"] == []
        r = c.post("/v1/endpoints/merchant_by_name/predict", json={"name": "acme"})
        assert r.json()["output"]["rows"][0]["merchant_id"] == 1  # the table is still there
        r = c.post("/v1/endpoints/merchant/predict", json=[{"merchant_id": 2}, {"merchant_id": 99}])
        assert r.json()["outputs"] == [{"found": True, "name": "globex", "risk": 0.7},
                                       {"found": False, "name": None, "risk": None}]
        r = c.post("/v1/endpoints/merchant/predict", json={"merchant_id": "2"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "merchant_id"


def test_query_log_metrics_health_and_openapi(server: Server) -> None:
    with server.client() as c:
        c.post("/v1/endpoints/pinned/predict", json={**ROW, "amount": 4321.5})
        time.sleep(1.2)
        logs = list((server.root / ".tide" / "query_log" / "fraud" / "pinned").glob("*.jsonl"))
        entries = [json.loads(line) for p in logs for line in p.read_text().splitlines()]
        mine = [e for e in entries if e["inputs"][0]["amount"] == 4321.5]
        assert mine and mine[0]["version"] == "2" and "probability" in mine[0]["outputs"][0]
        assert mine[0]["latency_ms"] > 0
        metrics = c.get("/metrics").text
        for name in ("tide_api_requests_total", "tide_api_request_duration_seconds_bucket",
                     "tide_api_in_flight_requests", "tide_api_batch_size_records_bucket", "tide_api_workers"):
            assert name in metrics
        assert 'tide_api_workers{endpoint="pinned",state="ready"} 1.0' in metrics
        assert c.get("/healthz").json() == {"status": "ok"} and c.get("/readyz").status_code == 200
        doc = c.get("/openapi.json").json()
        schema = doc["components"]["schemas"]["pinned_record"]
        assert schema["required"] == list(SCHEMA) and doc["openapi"].startswith("3.")

"""The native route's plain-ASGI fast path answers exactly as the Starlette route it stands in front of,
and the node's lock-free metrics count exactly as prometheus_client's own classes do."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tideflow.serving.app import ApiNode
from tideflow.serving.fastpath import FastPredict
from tideflow.serving.metrics import LATENCY_BUCKETS_S, NodeMetrics
from tideflow.serving.specs import load_service

from .conftest import KEY_FRAUD, KEY_OTHER

HOSTILE = "x'; DROP TABLE t; --"

# (method, path, headers, body): good and bad requests of every kind the native route answers
CASES: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 2.5}'),
    ("POST", "/v1/endpoints/double/predict", {"X-API-Key": KEY_OTHER}, b'[{"x": 1}, {"x": -4}]'),
    ("POST", "/v1/endpoints/double/predict?version=1", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 3}'),
    ("POST", "/v1/endpoints/double/predict?version=zz", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 3}'),
    ("POST", "/v1/endpoints/double/predict", {}, b'{"x": 1}'),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": "Bearer wrong"}, b'{"x": 1}'),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_FRAUD}"}, b'{"x": 1}'),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": '),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b""),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'"just a string"'),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": {"nested": 1}}'),
    ("POST", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"},
     b'{"x": "' + b"a" * 1_100_000 + b'"}'),
    ("POST", f"/v1/endpoints/{HOSTILE}/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 1}'),
    ("POST", "/v1/endpoints/doubl/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 1}'),
    ("GET", "/v1/endpoints/double/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, None),
    ("POST", "/v1/endpoints//predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 1}'),
    ("POST", "/v1/endpoints/a/b/predict", {"Authorization": f"Bearer {KEY_OTHER}"}, b'{"x": 1}'),
]


def client(app: Any, root_path: str = "") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, root_path=root_path), base_url="http://node")


async def answer(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
                 body: bytes | None) -> Any:
    r = await client.request(method, path, headers=headers, content=body)
    try:
        payload = r.json()
    except ValueError:
        payload = r.text
    if isinstance(payload, dict):
        payload.pop("request_id", None)
        error = payload.get("error")
        if isinstance(error, dict) and "error_id" in error:  # random per answer
            error["error_id"] = "-"
            error["message"] = error["message"].split(" (error id")[0]
    return r.status_code, r.headers.get("content-type"), r.headers.get("www-authenticate"), payload


@pytest.fixture()
def node(project: Path, monkeypatch: pytest.MonkeyPatch) -> ApiNode:
    monkeypatch.setenv("TIDE_TEST_KEY_OTHER", KEY_OTHER)
    monkeypatch.setenv("TIDE_TEST_KEY_FRAUD", KEY_FRAUD)
    return ApiNode(project, load_service(project, "other"), others=[load_service(project, "fraud")])


def test_the_fast_path_answers_as_the_starlette_route(node: ApiNode) -> None:
    app = node.app()
    assert isinstance(app, FastPredict)

    async def run() -> str:
        async with node.lifespan(app.app), client(app) as fast, client(app.app) as slow:
            # slow: Starlette alone, the native route without the fast path in front of it
            for method, path, headers, body in CASES:
                got = await answer(fast, method, path, headers, body)
                want = await answer(slow, method, path, headers, body)
                assert got == want, (method, path, body[:40] if body else body)
            ok = await answer(fast, *CASES[0])
            assert ok[0] == 200 and ok[3]["output"] == {"doubled": 5.0}
            assert (await answer(fast, *CASES[4]))[:3] == (401, "application/json", "Bearer")
            assert (await answer(fast, *CASES[6]))[0] == 403
            assert (await answer(fast, *CASES[11]))[0] == 413
            assert (await answer(fast, *CASES[14]))[0] == 405
            return (await fast.get("/metrics")).text

    metrics = asyncio.run(run())
    # both paths counted each request once, by status (3 good cases twice, and one more)
    assert 'tide_api_requests_total{endpoint="double",protocol="native",status="200"} 7.0' in metrics
    assert 'tide_api_requests_total{endpoint="_unknown",protocol="native",status="404"} 4.0' in metrics


def test_the_fast_path_sees_the_route_without_the_root_path(node: ApiNode) -> None:
    app = node.app()

    async def run() -> httpx.Response:
        async with node.lifespan(app.app), client(app, root_path="/svc") as c:
            return await c.post("/svc/v1/endpoints/double/predict", json={"x": 4}, headers={"X-API-Key": KEY_OTHER})

    r = asyncio.run(run())
    assert r.status_code == 200 and r.json()["output"] == {"doubled": 8.0}


def test_lock_free_metrics_render_as_prometheus_client_does() -> None:
    """Oracle: prometheus_client's Counter and Histogram fed the same random updates."""
    rng = random.Random(7)
    ours = NodeMetrics("svc")
    registry = CollectorRegistry()
    counter = Counter("tide_api_requests", "x", ["endpoint", "protocol", "status"], registry=registry)
    histogram = Histogram("tide_api_request_duration_seconds", "x", ["endpoint", "protocol"],
                          buckets=LATENCY_BUCKETS_S, registry=registry)
    for _ in range(5000):
        endpoint, status = rng.choice(["a", "b'\"c"]), rng.choice(["200", "422"])
        value = rng.choice([*LATENCY_BUCKETS_S, rng.expovariate(200.0), 20.0])  # bounds themselves too
        ours.requests(endpoint, "native", status).inc()
        counter.labels(endpoint, "native", status).inc()
        ours.latency(endpoint, "native").observe(value)
        histogram.labels(endpoint, "native").observe(value)

    def samples(text: bytes, prefix: str) -> dict[str, float]:
        out = {}
        for line in text.decode().splitlines():
            if line.startswith(prefix) and "_created" not in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    for prefix in ("tide_api_requests_total", "tide_api_request_duration_seconds_bucket",
                   "tide_api_request_duration_seconds_count"):
        assert samples(ours.render(), prefix) == samples(generate_latest(registry), prefix)
    got = samples(ours.render(), "tide_api_request_duration_seconds_sum")
    want = samples(generate_latest(registry), "tide_api_request_duration_seconds_sum")
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k]) for k in got)
    with pytest.raises(ValueError, match="takes labels"):
        ours.requests("only-one")

"""Bad requests to the platform API, over real HTTP: the key is checked before the body is read, bodies
are capped, only strict JSON is parsed (no NaN), unknown body fields are refused with the nearest one,
and nothing answers a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import KEY, Served

from tideflow.api.gate import MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers={"X-API-Key": KEY}, timeout=30) as c:
        yield c


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert "Traceback" not in body["message"]
    return str(body["message"])


def test_the_key_is_checked_before_the_body_is_read_or_parsed(served: Served) -> None:
    broken = httpx.post(served.url + "/builds", content=b'{"mode": ', headers=JSON)
    assert "missing the X-API-Key header" in error_of(broken, 401, "unauthorized")
    huge = httpx.post(served.url + "/builds", content=b"x" * (MAX_BODY_BYTES + 10), headers=JSON)
    error_of(huge, 401, "unauthorized")
    wrong = httpx.post(served.url + "/builds", content=b"{}", headers={**JSON, "X-API-Key": "nope"})
    assert "unknown key" in error_of(wrong, 401, "unauthorized")
    assert wrong.headers["www-authenticate"] == "ApiKey"
    # Public paths need no key
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(served.url + "/openapi.json").status_code == 200
    assert httpx.get(served.url + "/ui/").status_code == 200


def test_bodies_over_the_cap_are_refused_whether_declared_or_streamed(client: httpx.Client) -> None:
    declared = client.post("/builds", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)
    assert f"larger than {MAX_BODY_BYTES:,} bytes" in error_of(declared, 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    streamed = client.post("/builds", content=chunks(), headers=JSON)
    assert "POST /builds" in error_of(streamed, 413, "too_large")
    # A body just under the cap is read and judged on its content
    fine = client.post("/models/orders_model/activate", content=b'{"version": 1}' + b" " * 1000, headers=JSON)
    assert fine.status_code == 200 and fine.json()["version"] == 1


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"version": NaN}', "NaN is not a JSON number"),
    (b'{"version": Infinity}', "Infinity is not a JSON number"),
    (b'{"targets": [-Infinity]}', "-Infinity is not a JSON number"),
    (b'{"mode": ', "not valid JSON: Expecting value at line 1, column 10"),
    (b'{"mode": "smart",}', "not valid JSON"),
    (b'{"mode": "sm\xffart"}', "not UTF-8: byte 12 is b'\\xff'"),
])
def test_a_body_that_is_not_strict_json_is_a_400_naming_the_problem(client: httpx.Client, body: bytes,
                                                                    expected: str) -> None:
    path = "/models/orders_model/activate" if b"version" in body else "/builds"
    before = len(client.get("/builds").json())
    message = error_of(client.post(path, content=body, headers=JSON), 400, "bad_request")
    assert expected in message and path in message
    assert len(client.get("/builds").json()) == before  # nothing started


def test_an_unknown_body_field_is_refused_with_the_nearest_one_and_starts_nothing(client: httpx.Client) -> None:
    before = len(client.get("/builds").json())
    got = client.post("/builds", json={"tragets": ["revenue_by_country"], "mode": "dataset"})
    assert got.status_code == 422
    messages = " ".join(d["msg"] for d in got.json()["detail"])
    assert "unknown field 'tragets': did you mean 'targets'?" in messages
    assert "expected: targets, mode, engine" in messages
    assert len(client.get("/builds").json()) == before
    got = client.post("/models/orders_model/activate", json={"version": 1, "force": True})
    assert got.status_code == 422 and "unknown field 'force'" in got.text
    got = client.post("/scenarios/notify/run", json={"parms": {}})
    assert got.status_code == 422 and "did you mean 'params'?" in got.text


def test_validation_errors_that_echo_odd_values_are_json(client: httpx.Client) -> None:
    for params in ({"limit": "nan"}, {"limit": "inf"}, {"limit": "1e400"}):
        got = client.get("/datasets/orders/preview", params=params)
        assert got.status_code == 422, got.text
        assert got.json()["detail"][0]["loc"] == ["query", "limit"]
    got = client.post("/models/orders_model/activate", json={"version": "two"})
    assert got.status_code == 422 and got.json()["detail"][0]["input"] == "two"

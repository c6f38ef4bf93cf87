"""Every route family of the platform REST API, over real HTTP (uvicorn on 127.0.0.1) with httpx."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import KEY, OTHER_KEY, Served


@pytest.fixture()
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers={"X-API-Key": KEY}, timeout=30) as c:
        yield c


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def wait_build(client: httpx.Client, build_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        info: dict[str, Any] = ok(client.get(f"/builds/{build_id}"))
        if info["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return info
        time.sleep(0.05)


# ------------------------------------------------------------------ auth


def test_every_route_but_healthz_needs_a_known_key(served: Served) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        missing = anonymous.get("/datasets")
        assert missing.status_code == 401
        assert missing.json()["error"] == "unauthorized"
        assert "missing the X-API-Key header" in missing.json()["message"]
        wrong = anonymous.get("/datasets", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert "unknown key" in wrong.json()["message"]
        assert "nope" not in wrong.text
        assert anonymous.post("/builds", json={}).status_code == 401
        assert anonymous.post("/models/orders_model/activate", json={"version": 1}).status_code == 401
        assert anonymous.get("/datasets", headers={"X-API-Key": OTHER_KEY}).status_code == 200


def test_every_operation_of_the_schema_answers_401_without_a_key(served: Served) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        paths = anonymous.get("/openapi.json").json()["paths"]
        for path, operations in paths.items():
            for method in operations:
                url = path.replace("{", "").replace("}", "")  # any value: auth is checked first
                response = anonymous.request(method.upper(), url, json={} if method == "post" else None)
                expected = 200 if path == "/healthz" else 401
                assert response.status_code == expected, (method, path, response.text)


def test_keys_come_from_the_environment_and_are_required(project_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tideflow.api import create_app, keys_from_env
    from tideflow.errors import ProjectError

    monkeypatch.setenv("TIDE_PLATFORM_KEYS", " a1 , ,b2")
    assert keys_from_env() == ["a1", "b2"]
    assert create_app(project_root).state.api_keys == (b"a1", b"b2")
    monkeypatch.delenv("TIDE_PLATFORM_KEYS")
    with pytest.raises(ProjectError, match="no API keys: set TIDE_PLATFORM_KEYS"):
        create_app(project_root)
    with pytest.raises(ProjectError, match=r"no tideflow\.yaml in"):
        create_app(project_root / "datasets", api_keys=["k"])


def test_the_openapi_schema_documents_auth_and_errors(client: httpx.Client) -> None:
    schema = ok(client.get("/openapi.json"))
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "One of the platform's keys (env TIDE_PLATFORM_KEYS)."}
    paths = schema["paths"]
    for path in ("/projects/current", "/datasets", "/datasets/{name}/schema", "/datasets/{name}/preview",
                 "/datasets/{name}/checks", "/recipes", "/recipes/{name}", "/recipes/{name}/sql",
                 "/recipes/{name}/explain", "/builds", "/builds/{build_id}", "/lab/runs", "/lab/{model}/leaderboard",
                 "/models", "/models/{name}", "/models/{name}/versions/{version}", "/models/{name}/activate",
                 "/services", "/services/{name}", "/scenarios", "/scenarios/{name}/runs", "/scenarios/{name}/run",
                 "/models/{name}/evaluations"):
        assert path in paths, path
    get_dataset = paths["/datasets/{name}/schema"]["get"]
    assert get_dataset["security"] == [{"ApiKey": []}]
    assert {"401", "404", "500", "503"} <= set(get_dataset["responses"])
    assert "security" not in paths["/healthz"]["get"]


# ------------------------------------------------------------------ project, datasets, recipes


def test_project(client: httpx.Client, project_root: Path) -> None:
    info = ok(client.get("/projects/current"))
    assert info["name"] == "shop"
    assert info["root"] == str(project_root)
    assert info["connections"] == [{"name": "warehouse", "type": "duckdb", "default": True},
                                   {"name": "files", "type": "files", "default": False}]
    assert (info["datasets"], info["recipes"], info["models"], info["services"], info["scenarios"]) == (3, 2, 1, 2, 1)


def test_datasets_schema_and_preview(client: httpx.Client) -> None:
    datasets = {d["name"]: d for d in ok(client.get("/datasets"))}
    assert set(datasets) == {"orders", "orders_clean", "revenue_by_country"}
    assert datasets["orders"]["kind"] == "file"
    assert datasets["orders"]["consumed_by"] == ["clean_orders"]
    assert datasets["orders_clean"]["produced_by"] == "clean_orders"
    assert datasets["orders_clean"]["checks"] == 3
    assert ok(client.get("/datasets/orders_clean"))["table"] == "orders_clean"

    schema = ok(client.get("/datasets/orders/schema"))
    assert schema["columns"]["amount"] == "double"
    assert schema["columns"]["ordered_at"] == "timestamp"

    preview = ok(client.get("/datasets/revenue_by_country/preview", params={"limit": 3}))
    assert preview["columns"] == ["country", "orders", "revenue", "average_amount"]
    assert preview["count"] == len(preview["rows"]) == 3
    raw = ok(client.get("/datasets/orders/preview", params={"limit": 1}))["rows"][0]
    assert isinstance(raw["ordered_at"], str) and raw["ordered_at"].startswith("2025-")  # timestamps as ISO text
    assert client.get("/datasets/orders/preview", params={"limit": -1}).status_code == 422
    typo = client.get("/datasets/orders/preview", params={"limt": 2})
    assert typo.status_code == 400
    assert typo.json()["suggestion"] == "limit"
    assert typo.json()["message"] == "unknown query parameter 'limt': did you mean 'limit'? (known: limit)"


def test_unknown_names_answer_404_with_the_nearest_name(client: httpx.Client) -> None:
    for url, suggestion in (("/datasets/ordrs/schema", "orders"), ("/datasets/orders_clen/preview", "orders_clean"),
                            ("/datasets/revenue_by_contry/checks", "revenue_by_country"),
                            ("/recipes/clean_order", "clean_orders"), ("/recipes/clean_ordrs/sql", "clean_orders"),
                            ("/models/orders_modl", "orders_model"), ("/lab/orders_mdel/leaderboard", "orders_model"),
                            ("/services/scorng", "scoring"), ("/scenarios/notfy/runs", "notify"),
                            ("/models/orders_model/versions/3", None), ("/builds/nope", None)):
        response = client.get(url)
        assert response.status_code == 404, (url, response.text)
        body = response.json()
        assert body["error"] == "not_found"
        assert body["suggestion"] == suggestion, url
        if suggestion:
            assert f"did you mean {suggestion!r}?" in body["message"]
    body = client.get("/datasets/zzz/schema").json()
    assert body["message"] == "unknown dataset 'zzz' (known: orders, orders_clean, revenue_by_country)"


def test_recipes_spec_sql_and_explain(client: httpx.Client) -> None:
    recipes = ok(client.get("/recipes"))
    assert [(r["name"], r["type"]) for r in recipes] == [("clean_orders", "prepare"), ("revenue_by_country", "group")]
    detail = ok(client.get("/recipes/revenue_by_country"))
    assert detail["spec"]["type"] == "group"
    assert detail["inputs"] == ["orders_clean"]

    sql = ok(client.get("/recipes/revenue_by_country/sql"))
    assert sql["dialect"] is None
    assert "GROUP BY" in sql["sql"]["revenue_by_country"]
    pg = ok(client.get("/recipes/clean_orders/sql", params={"dialect": "postgres"}))
    assert "DATE_PART('month', " in pg["sql"]["orders_clean"]  # PostgreSQL's spelling: EXTRACT is NUMERIC there
    assert client.get("/recipes/clean_orders/sql", params={"dialect": "postgress"}).status_code == 422
    spark = ok(client.get("/recipes/revenue_by_country/sql", params={"dialect": "spark"}))
    assert "GROUP BY" in spark["sql"]["revenue_by_country"]

    explained = ok(client.get("/recipes/clean_orders/explain"))
    assert explained["engine"] == "sql"
    assert "duckdb" in explained["reason"]
    assert "SELECT" in explained["sql"]["orders_clean"]


# ------------------------------------------------------------------ checks


def test_checks_run_in_the_database(client: httpx.Client) -> None:
    report = ok(client.get("/datasets/orders_clean/checks"))
    assert report["outcome"] == "ok"
    assert [c["check"] for c in report["checks"]] == ["enough rows", "in_set(status)", "not_empty"]
    assert all(c["outcome"] == "ok" for c in report["checks"])
    metrics = {m["metric"]: m["value"] for m in report["metrics"]}
    assert metrics["record_count"] == 36
    assert isinstance(metrics["avg(amount)"], float)
    none_declared = ok(client.get("/datasets/revenue_by_country/checks"))
    assert none_declared == {"dataset": "revenue_by_country", "outcome": "ok", "errors": 0, "warnings": 0,
                             "checks": [], "metrics": []}


# ------------------------------------------------------------------ builds


def test_a_build_end_to_end(client: httpx.Client) -> None:
    started = ok(client.post("/builds", json={"targets": ["revenue_by_country"], "mode": "forced"}), 202)
    assert started["status"] in ("queued", "running")
    assert [r["recipe"] for r in started["runs"]] == ["clean_orders", "revenue_by_country"]
    done = wait_build(client, started["id"])
    assert done["status"] == "succeeded", done
    runs = {r["recipe"]: r for r in done["runs"]}
    assert runs["clean_orders"]["status"] == "ok"
    assert runs["clean_orders"]["engine"] == "sql"
    assert runs["clean_orders"]["rows"] == {"orders_clean": 36}
    assert runs["revenue_by_country"]["rows"] == {"revenue_by_country": 6}
    assert done["message"] == "2 recipe(s) built"
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert started["id"] in [b["id"] for b in ok(client.get("/builds"))]

    again = wait_build(client, ok(client.post("/builds", json={}), 202)["id"])  # smart: nothing outdated
    assert again["status"] == "succeeded"
    assert {r["status"] for r in again["runs"]} == {"skipped"}


def test_a_bad_build_request_answers_at_once(client: httpx.Client) -> None:
    unknown = client.post("/builds", json={"targets": ["revenue_by_cuntry"]})
    assert unknown.status_code == 404
    assert unknown.json()["suggestion"] == "revenue_by_country"
    assert client.post("/builds", json={"mode": "smrt"}).status_code == 422
    assert client.post("/builds", json={"engine": "spark"}).status_code == 422


def test_a_bad_recipe_answers_at_once_and_a_failing_one_is_reported(tmp_path: Path) -> None:
    import asyncio

    from tests.api.conftest import make_project

    from tideflow.api import create_app
    from tideflow.api.app import platform_of

    root = make_project(tmp_path / "shop")
    recipe = root / "recipes" / "revenue_by_country.yaml"
    good = recipe.read_text()
    recipe.write_text(good.replace("amount", "amount_missing", 1))
    app = create_app(root, api_keys=[KEY])

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers={"X-API-Key": KEY}) as c:
            found = [await c.post("/builds", json={"mode": "forced"})]
            recipe.write_text(good)
            (root / "recipes" / "broken_cast.yaml").write_text(
                "type: sql\ninputs: [orders_clean]\noutputs: [broken]\n"
                "sql: SELECT CAST(customer AS INTEGER) AS n FROM orders_clean\n")
            started = await c.post("/builds", json={"targets": ["broken"]})
            found.append(started)
            platform_of(app).builds.wait(60)
            found.append(await c.get(f"/builds/{started.json()['id']}"))
            return found

    planned_bad, started, done = asyncio.run(calls())
    assert planned_bad.status_code == 400
    assert "recipes/revenue_by_country.yaml:8 at aggregations" in planned_bad.json()["message"]
    assert "did you mean 'amount_with_vat'?" in planned_bad.json()["message"]
    assert started.status_code == 202, started.text
    info = done.json()
    assert info["status"] == "failed", info
    assert info["message"] == "1 recipe(s) failed: broken_cast"
    failed = {r["recipe"]: r for r in info["runs"]}["broken_cast"]
    assert failed["status"] == "failed"
    assert "broken_cast" in failed["error"] or "customer" in failed["error"], failed


# ------------------------------------------------------------------ Lab and saved models


def test_lab_runs_and_leaderboard(client: httpx.Client) -> None:
    runs = ok(client.get("/lab/runs"))
    assert [(r["model"], r["status"], r["version"]) for r in runs] == [("orders_model", "finished", 2)]
    assert ok(client.get("/lab/runs", params={"model": "orders_model"})) == runs
    assert client.get("/lab/runs", params={"model": "orders_mode"}).json()["suggestion"] == "orders_model"
    board = ok(client.get("/lab/orders_model/leaderboard"))
    assert board["metric"] == "auc" and board["higher_is_better"] is True
    assert [t["trial_id"] for t in board["trials"]] == [1, 0, 2]
    assert board["best"] == 1
    assert board["trials"][2]["score"] is None
    assert client.get("/lab/orders_model/leaderboard", params={"run": "nope"}).status_code == 404


def test_saved_models_versions_and_activation(client: httpx.Client) -> None:
    models = ok(client.get("/models"))
    assert [(m["name"], m["versions"]) for m in models] == [("orders_model", 2)]
    detail = ok(client.get("/models/orders_model"))
    assert [v["version"] for v in detail["all_versions"]] == [1, 2]
    v1 = ok(client.get("/models/orders_model/versions/1"))
    assert v1["record"]["seed"] == 7
    assert v1["metrics"]["nan_metric"] is None  # NaN is not JSON: null
    assert v1["input_schema"] == {"amount": "double", "country": "string"}

    activated = ok(client.post("/models/orders_model/activate", json={"version": 1}))
    assert activated["active"] is True and activated["version"] == 1
    assert ok(client.get("/models/orders_model"))["active_version"] == 1
    assert client.post("/models/orders_model/activate", json={"version": 9}).status_code == 404
    assert client.post("/models/orders_model/activate", json={"version": 0}).status_code == 422
    ok(client.post("/models/orders_model/activate", json={"version": 2}))


def test_drift_evaluations(client: httpx.Client) -> None:
    evaluations = ok(client.get("/models/orders_model/evaluations"))
    assert len(evaluations) == 1
    first = evaluations[0]
    assert first["alarm"] is True
    assert first["drifting_features"][0] == "amount"
    assert first["source"] == "dataset orders_clean" and first["data_version"] == "v9"
    detail = ok(client.get(f"/models/orders_model/evaluations/{first['id']}"))
    assert detail["evaluation"]["model"] == "orders_model"
    assert client.get("/models/orders_model/evaluations/999").status_code == 404
    assert client.get("/models/orders_modl/evaluations").json()["suggestion"] == "orders_model"


# ------------------------------------------------------------------ API services and scenarios


def test_services_and_replica_history(client: httpx.Client) -> None:
    services = {s["name"]: s for s in ok(client.get("/services"))}
    assert services["scoring"]["endpoints"] == [{"name": "double", "type": "function", "versions": ["1"],
                                                 "workers": 1, "batching": {"max_batch_size": 8.0,
                                                                            "max_wait_ms": 1.0}}]
    assert services["broken"]["error"] and "api/broken.yaml" in services["broken"]["error"]
    detail = ok(client.get("/services/scoring"))
    assert detail["spec"]["endpoints"][0]["function"] == "double"
    assert [(d["replicas_before"], d["replicas_after"]) for d in detail["decisions"]] == [(1, 2)]
    assert detail["status"] is None
    broken = client.get("/services/broken")
    assert broken.status_code == 400
    assert "api/broken.yaml" in broken.json()["message"]


def test_scenarios_run_and_history(client: httpx.Client, served: Served, project_root: Path) -> None:
    from tideflow.api.app import platform_of

    listed = ok(client.get("/scenarios"))
    assert listed == [{"name": "notify", "description": "Tell the team.", "enabled": True, "triggers": ["manual"],
                       "steps": ["tell"], "params": {"label": "str"}, "error": None}]
    bad = client.post("/scenarios/notify/run", json={"params": {"lable": "x"}})
    assert bad.status_code == 400
    assert "did you mean 'label'?" in bad.json()["message"]

    started = ok(client.post("/scenarios/notify/run", json={"params": {"label": "from-api"}}), 202)
    for thread in platform_of(served.app).jobs:  # type: ignore[arg-type]
        thread.join(30)
    run = ok(client.get(f"/scenarios/notify/runs/{started['run_id']}"))
    assert run["outcome"] == "succeeded", run
    assert run["trigger"] == "api"
    assert run["params"] == {"label": "from-api"}
    assert run["steps"][0]["step"] == "tell" and run["steps"][0]["outcome"] == "succeeded"
    history = ok(client.get("/scenarios/notify/runs"))
    assert started["run_id"] in [r["run_id"] for r in history]
    log = (project_root / ".tide" / "automation" / "test.log").read_text()
    assert "(from-api) of notify" in log
    assert client.get("/scenarios/notify/runs/nope").status_code == 404


# ------------------------------------------------------------------ errors


def test_unexpected_errors_answer_500_with_an_id_and_no_traceback(
        client: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import tideflow.flow

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(tideflow.flow, "dataset_schema", boom)
    with caplog.at_level(logging.ERROR, logger="tideflow.api"):
        response = client.get("/datasets/orders/schema")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and len(body["error_id"]) == 16
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert body["error_id"] in caplog.text
    assert KEY not in caplog.text


def test_connection_errors_answer_503(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import tideflow.flow
    from tideflow.errors import ConnectionError_

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError_("cannot reach PostgreSQL at 127.0.0.1:5999")

    monkeypatch.setattr(tideflow.flow, "dataset_head", down)
    response = client.get("/datasets/orders/preview")
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message": "cannot reach PostgreSQL at 127.0.0.1:5999",
                               "suggestion": None, "error_id": None}


def test_the_dialects_of_the_api_are_the_compilers() -> None:
    from typing import get_args

    from tideflow.api.routes_flow import SqlDialect
    from tideflow.engines.sql.dialects import TRAITS

    assert set(get_args(SqlDialect)) == set(TRAITS)

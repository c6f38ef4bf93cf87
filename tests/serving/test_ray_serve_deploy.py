"""The Ray Serve target deployed for real: the application config `tide api manifest` writes, mapped
from the service's `autoscaling:` spec, runs on a local Ray runtime, serves the API node's endpoints,
and its replicas follow a bounded load step up and come back down after it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tideflow.compute import open_runtime
from tideflow.compute.serve import deploy, num_replicas, undeploy
from tideflow.project.compute_specs import ComputeSpec
from tideflow.serving.manifests import ray_serve_config
from tideflow.serving.specs import load_service

FUNCS = '''
import time


def work(records):
    time.sleep(0.05)
    return [r["x"] + 1 for r in records]
'''

SERVICE = '''
endpoints:
  - {name: work, type: function, file: api/funcs.py, function: work, inputs: {x: double}, workers: 1}
query_log: {enabled: false}
autoscaling:
  min_replicas: 1
  max_replicas: 3
  target: 1
  metric_window_s: 4
  panic_window_s: 2
  scale_up_stabilization_s: 1
  scale_down_stabilization_s: 3
'''

LOAD_S = 40.0  # upper bound on the load phase; it stops as soon as the replicas went up
CONCURRENCY = 8
MAX_REQUESTS = 2_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: object, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout_s} s")


async def load(base: str, app: str, stop_at: float) -> tuple[int, int, int]:
    """Closed loop, CONCURRENCY at once, until the replicas went up or ``stop_at``; (ok, failed, peak)."""
    ok = failed = peak = sent = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def one(i: int) -> None:
            nonlocal ok, failed
            r = await client.post("/v1/endpoints/work/predict", json={"x": i})
            if r.status_code == 200 and r.json()["output"] == {"output": i + 1}:
                ok += 1
            else:
                failed += 1

        while time.monotonic() < stop_at and sent < MAX_REQUESTS:
            await asyncio.gather(*(one(sent + k) for k in range(CONCURRENCY)))
            sent += CONCURRENCY
            peak = max(peak, await asyncio.to_thread(num_replicas, app))
            if peak >= 2:
                break
    return ok, failed, peak


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")  # Ray Serve's own pydantic v1-style fields
def test_the_ray_serve_config_deploys_serves_and_scales(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "tideflow.yaml").write_text("name: served\n")
    (tmp_path / "api" / "funcs.py").write_text(FUNCS)
    (tmp_path / "api" / "svc.yaml").write_text(SERVICE)
    spec = load_service(tmp_path, "svc")
    config = ray_serve_config(spec, project_root=str(tmp_path))
    auto = config["applications"][0]["deployments"][0]["autoscaling_config"]
    assert (auto["min_replicas"], auto["max_replicas"], auto["target_ongoing_requests"]) == (1, 3, 1)
    port = free_port()
    with open_runtime(ComputeSpec(num_cpus=2)):
        try:
            # no CPU reservation: the replicas must place even when the suite's shared runtime has its
            # CPUs reserved by warm worker pools of other tests (each replica works 50 ms per request)
            # serve.run blocks until the app is healthy: bound it, so a replica that cannot start fails the test
            started = threading.Thread(target=deploy, args=(config,), daemon=True,
                                       kwargs={"port": port, "factory_kwargs": {"workers": 1},
                                               "ray_actor_options": {"num_cpus": 0}})
            started.start()
            started.join(timeout=180)
            assert not started.is_alive(), "the Ray Serve application did not become ready within 180 s"
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: num_replicas("svc") == 1, 120, "the first replica")
            first = httpx.post(f"{base}/v1/endpoints/work/predict", json={"x": 41}, timeout=60)
            assert first.status_code == 200 and first.json()["output"] == {"output": 42}, first.text
            bad = httpx.post(f"{base}/v1/endpoints/work/predict", json={"y": 1}, timeout=30)
            assert bad.status_code == 422 and "x" in bad.text  # the API node's validation, inside Serve

            ok, failed, peak = asyncio.run(load(base, "svc", time.monotonic() + LOAD_S))
            assert failed == 0 and ok > 0
            assert peak >= 2, f"replicas never went above 1 under {CONCURRENCY} concurrent requests"
            # load over: back to min_replicas after the 3 s downscale delay (Serve's own loop, slack for 2 CPUs)
            wait_for(lambda: num_replicas("svc") == 1, 90, "scale-down to min_replicas after the load")
            after = httpx.post(f"{base}/v1/endpoints/work/predict", json={"x": 1}, timeout=30)
            assert after.status_code == 200 and after.json()["output"] == {"output": 2}
        finally:
            undeploy()

"""Replica processes behind the router: least-outstanding routing and graceful scale-in (real processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tideflow.serving.router import Router
from tideflow.serving.specs import load_service

SLOW = '''
import time


def slow(records):
    time.sleep(0.6)
    return [r["x"] + 1 for r in records]
'''


def test_a_leaving_replica_finishes_its_requests_then_exits(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "api").mkdir(parents=True)
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: replicas\n")
    (root / "api" / "funcs.py").write_text(SLOW)
    (root / "api" / "svc.yaml").write_text(
        "endpoints:\n  - {name: slow, type: function, file: api/funcs.py, function: slow, workers: 1}\n"
        "query_log: {enabled: false}\nautoscaling: {min_replicas: 1, max_replicas: 2}\n")

    async def main() -> None:
        router = Router(root, load_service(root, "svc"), port=0, standby=0)
        router.replicas.resize(2)  # the replica set alone: no controller deciding meanwhile
        try:
            assert await router.replicas.wait_ready(2, 180)
            transport = httpx.ASGITransport(app=router)
            async with httpx.AsyncClient(transport=transport, base_url="http://router", timeout=60) as client:
                calls = [asyncio.ensure_future(client.post("/v1/endpoints/slow/predict", json={"x": i}))
                         for i in range(6)]
                await asyncio.sleep(0.3)
                busy = sorted(r.outstanding for r in router.replicas.replicas)
                assert busy == [1, 1]  # least outstanding: one each, the other four wait at the router
                leaving = max(router.replicas.replicas, key=lambda r: r.rid)
                router.replicas.resize(1)  # scale in while both replicas hold a request
                assert leaving.state == "draining" and leaving.outstanding == 1
                responses = await asyncio.gather(*calls)
                assert [r.json()["output"] for r in responses] == [{"output": i + 1} for i in range(6)]
                await asyncio.wait_for(leaving.exited.wait(), 60)
                assert leaving.process.returncode is not None and router.replicas.current == 1
                assert router.failures == 0 and router.completions == 6
                assert (await client.get("/v1/autoscaling")).json()["ready"] == 1
        finally:
            await router.replicas.close()

    asyncio.run(main())


def test_a_reload_rolls_in_a_new_generation_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    """``ReplicaSet.roll``: the new replicas serve once all are ready, the old leave; a generation that cannot
    start is stopped and the old one keeps serving."""
    def project(name: str, body: str) -> Path:
        root = tmp_path / name
        (root / "api").mkdir(parents=True)
        (root / "tideflow.yaml").write_text("name: replicas\n")
        (root / "api" / "funcs.py").write_text(body)
        (root / "api" / "svc.yaml").write_text(
            "endpoints:\n  - {name: f, type: function, file: api/funcs.py, function: f, workers: 0}\n"
            "query_log: {enabled: false}\nautoscaling: {min_replicas: 1, max_replicas: 1}\n")
        return root

    old = project("old", "def f(records):\n    return ['old' for r in records]\n")
    new = project("new", "def f(records):\n    return ['new' for r in records]\n")
    broken = project("broken", "raise ImportError('this release cannot start')\n")

    async def main() -> None:
        router = Router(old, load_service(old, "svc"), port=0, standby=0)
        router.replicas.resize(1)
        try:
            assert await router.replicas.wait_ready(1, 180)
            transport = httpx.ASGITransport(app=router)
            async with httpx.AsyncClient(transport=transport, base_url="http://router", timeout=60) as client:
                async def answer() -> str:
                    response = await client.post("/v1/endpoints/f/predict", json={"x": 1})
                    return str(response.json()["output"]["output"])

                first = router.replicas.replicas[0]
                assert await answer() == "old"
                with pytest.raises(RuntimeError, match="exited before it was ready"):
                    await router.replicas.roll(broken, timeout_s=120)
                assert router.replicas.replicas == [first] and router.replicas.generation == 1
                assert await answer() == "old"
                assert await router.replicas.roll(new, timeout_s=120) == 2
                assert await answer() == "new"
                await asyncio.wait_for(first.exited.wait(), 60)
                assert [(r.generation, r.state) for r in router.replicas.replicas] == [(2, "ready")]
        finally:
            await router.replicas.close()

    asyncio.run(main())

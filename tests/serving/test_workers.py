"""Worker pools: real processes, resized up and down under load without losing a request."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.serving.conftest import KEY_FRAUD, start_server, stop_server

from tideflow.serving.runners import RunnerTarget
from tideflow.serving.workers import WorkerPool


def test_resize_under_load_loses_no_request(project: Path) -> None:
    async def main() -> tuple[list[object], list[int]]:
        pool = WorkerPool(RunnerTarget(str(project), "slowsvc", "slow", "1"), 1)
        await pool.wait_ready(120)
        sizes: list[int] = []

        async def load() -> list[object]:
            return await asyncio.gather(*(pool([{"x": i}]) for i in range(300)), return_exceptions=True)

        async def resizer() -> None:
            for n in (3, 1, 2, 1):
                await asyncio.sleep(0.4)
                pool.resize(n)
                sizes.append(len([w for w in pool.workers if w.state in ("starting", "ready")]))

        results, _ = await asyncio.gather(load(), resizer())
        await pool.wait_settled(60)
        final = pool.stats()
        await pool.close()
        assert final.ready == 1 and final.draining == 0
        return results, sizes

    (project / "api" / "slowsvc.yaml").write_text(
        "endpoints:\n  - {name: slow, type: function, file: api/funcs.py, function: slow, workers: 1}\n")
    results, sizes = asyncio.run(main())
    assert results == [[{"output": i + 1}] for i in range(300)]  # every request answered, in its own order
    assert sizes == [3, 1, 2, 1]


def test_resize_through_the_admin_route_while_serving(project: Path) -> None:
    import httpx

    (project / "api" / "resizable.yaml").write_text(
        "api_keys: [{name: k, env: TIDE_TEST_KEY_FRAUD, admin: true}]\n"
        "endpoints:\n  - {name: slow, type: function, file: api/funcs.py, function: slow, workers: 1}\n")
    server = start_server(project, "resizable")
    try:
        headers = {"Authorization": f"Bearer {KEY_FRAUD}"}

        async def main() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as c:
                async def one(i: int) -> int:
                    r = await c.post("/v1/endpoints/slow/predict", json={"x": i})
                    return r.json()["output"]["output"] if r.status_code == 200 else -r.status_code

                async def resize() -> None:
                    for n in (2, 1):
                        await asyncio.sleep(0.5)
                        r = await c.put("/v1/admin/endpoints/slow/workers", json={"workers": n})
                        assert r.status_code == 200

                results, _ = await asyncio.gather(asyncio.gather(*(one(i) for i in range(150))), resize())
                limit = min(256, 4 * (os.cpu_count() or 1))
                for n in (0, True, "2", limit + 1, 10**6):
                    bad = await c.put("/v1/admin/endpoints/slow/workers", json={"workers": n})
                    assert bad.status_code == 422 and bad.json()["error"]["field"] == "workers", bad.text
                    assert f"from 1 to {limit}" in bad.json()["error"]["message"]
                missing = await c.put("/v1/admin/endpoints/nope/workers", json={"workers": 1})
                assert missing.status_code == 404
                return list(results)

        assert asyncio.run(main()) == [i + 1 for i in range(150)]
    finally:
        stop_server(server)

"""The real test: `tide api serve` with autoscaling on 127.0.0.1 under a bounded load step.

A function endpoint that works ~30 ms per request, one worker per replica. Load (open loop, bounded
in count and time): 4 rps for 3 s, a 15x step to 60 rps for 8 s, 6 rps for 10 s while replicas
leave, then nothing. The node must go from 1 replica to more within the reaction bound, come back to
1 after the load, and answer every request with 200: including those in flight when replicas leave.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

FUNCS = '''
import time


def work(records):
    time.sleep(0.03)
    return [r["x"] + 1 for r in records]
'''

SERVICE = '''
endpoints:
  - {name: work, type: function, file: api/funcs.py, function: work, inputs: {x: double}, workers: 1}
query_log: {enabled: false}
autoscaling:
  min_replicas: 1
  max_replicas: 4
  metric_window_s: 4
  panic_window_s: 2
  scale_down_stabilization_s: 3
  scale_down_step: {replicas: 4, percent: 100, period_s: 1}
'''

# (requests/s, seconds). The step needs at least 60 x 0.03 = 1.8 requests in flight (Little's law; HTTP
# overhead only adds), so at 0.7 per replica at least 3 replicas on any machine: at 40 rps a fast machine
# serves the step with 2 (1.3 in flight), a slow one needs 3.
PHASES = ((4.0, 3.0), (60.0, 8.0), (6.0, 10.0))
MAX_REQUESTS = 600
REACTION_BOUND_S = 10.0  # sync 1 s + panic window 2 s + promotion of a standby; slack for a loaded 2-CPU machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(root: Path) -> Path:
    (root / "api").mkdir(parents=True)
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: autoscaled\n")
    (root / "api" / "funcs.py").write_text(FUNCS)
    (root / "api" / "svc.yaml").write_text(SERVICE)
    return root


def start_node(root: Path, port: int, standby: int) -> subprocess.Popen[bytes]:
    code = "from tideflow.cli.main import app; app()"
    with (root / "node.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", code, "api", "serve", "svc", "--port", str(port),
                                    "--standby", str(standby), "--project", str(root)], stdout=log,
                                   stderr=subprocess.STDOUT, cwd=root)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tide api serve exited: {(root / 'node.log').read_text()}")
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/v1/autoscaling", timeout=2).json()
            if status["ready"] >= 1 and status["standby"] >= standby and all(
                    r["state"] != "starting" for r in status["replicas"]):
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_node(process)
    raise RuntimeError("the autoscaled node was not ready in 180 s")


def stop_node(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


async def run_load(url: str) -> dict[str, object]:
    """Open-loop load through the phases; replicas (ready) polled every 0.25 s."""
    results: list[tuple[float, int | str]] = []
    timeline: list[tuple[float, int, int]] = []
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        t0 = time.monotonic()
        done = asyncio.Event()

        async def one(i: int) -> None:
            sent = time.monotonic() - t0
            try:
                r = await client.post("/v1/endpoints/work/predict", json={"x": i})
                ok = r.status_code == 200 and r.json()["output"] == i + 1
                results.append((sent, 200 if ok else r.status_code))
            except httpx.HTTPError as err:
                results.append((sent, type(err).__name__))

        async def watch() -> None:
            while not done.is_set():
                with_status = (await client.get("/v1/autoscaling")).json()
                timeline.append((time.monotonic() - t0, with_status["ready"], with_status["current"]))
                await asyncio.sleep(0.25)

        watcher = asyncio.ensure_future(watch())
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        step_at = PHASES[0][1]
        for rate, seconds in PHASES:
            n = int(rate * seconds)
            for k in range(n):
                if len(tasks) >= MAX_REQUESTS:
                    break
                await asyncio.sleep(max(0.0, start + k / rate - time.monotonic()))
                tasks.append(asyncio.ensure_future(one(len(tasks))))
            start += seconds
        await asyncio.gather(*tasks)
        load_end = time.monotonic() - t0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for the scale-in (bounded)
            status = (await client.get("/v1/autoscaling")).json()
            if status["current"] == 1 and status["draining"] == 0:
                break
            await asyncio.sleep(0.25)
        back_at = time.monotonic() - t0
        done.set()
        await watcher
        final = (await client.get("/v1/autoscaling")).json()
        metrics = (await client.get("/metrics")).text
    return {"results": results, "timeline": timeline, "step_at": step_at, "load_end": load_end,
            "back_at": back_at, "final": final, "metrics": metrics}


@pytest.mark.slow
def test_local_node_scales_up_on_a_step_and_back_without_a_failed_request(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    port = free_port()
    node = start_node(root, port, standby=2)
    try:
        out = asyncio.run(run_load(f"http://127.0.0.1:{port}"))
    finally:
        stop_node(node)
    results = out["results"]
    assert isinstance(results, list)
    failed = [r for r in results if r[1] != 200]
    assert len(results) >= 400 and failed == []  # zero failed requests, during scale-up and scale-in
    timeline = out["timeline"]
    assert isinstance(timeline, list)
    step_at = float(out["step_at"])  # type: ignore[arg-type]
    up = [t for t, ready, _ in timeline if ready > 1 and t >= step_at]
    assert up, f"never more than one ready replica: {timeline}"
    assert up[0] - step_at <= REACTION_BOUND_S, f"{up[0] - step_at:.1f} s to a second replica"
    assert max(ready for _, ready, _ in timeline) >= 3  # >= 1.8 in flight at 0.7 per replica (see PHASES)
    final = out["final"]
    assert isinstance(final, dict)
    assert final["current"] == 1 and final["failures"] == 0
    decisions = [json.loads(line) for line in (root / ".tide/autoscaling/svc/decisions.jsonl").read_text().splitlines()]
    assert any(d["replicas_after"] > d["replicas_before"] for d in decisions)
    assert any(d["replicas_after"] < d["replicas_before"] for d in decisions)
    assert all(d["metric"] == "in_flight" and d["reason"] for d in decisions)
    metrics = str(out["metrics"])
    assert 'tide_autoscaling_decisions_total{direction="up"}' in metrics
    assert "tide_autoscaling_router_failed_total 0.0" in metrics
    # `tide api status` shows the same decisions
    status = subprocess.run([sys.executable, "-c", "from tideflow.cli.main import app; app()", "api", "status", "svc",
                             "--project", str(root)], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert "decisions" in status.stdout and "->" in status.stdout

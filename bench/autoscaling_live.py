"""The real local API node on a 10x load step: seconds from the step to enough replicas, failed requests.

Run: ``python bench/autoscaling_live.py`` (about 2-4 minutes; writes the ``## Autoscaling (live API
node)`` section of bench/RESULTS.md, leaving the other sections as they are).

A temporary project with one ``function`` endpoint that works 30 ms per request (one worker per
replica) is served by ``tide api serve`` (router + replica processes + controller) on 127.0.0.1.
Open-loop load: 5 rps for 5 s, then 50 rps (10x) for 15 s, then nothing; at most 1,000 requests.
Enough replicas = ceil(50 rps x 30 ms / 0.7 target) = 3. Two runs: with 2 warm standby replicas
(the promoted path) and with none (every new replica is a cold process). Targets: under 5 s from
the step to enough replicas, 0 failed requests.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from machine import machine

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Autoscaling (live API node)"
WORK_S = 0.03
BASE_RPS, STEP_RPS, BASE_S, STEP_S = 5.0, 50.0, 5.0, 15.0
MAX_REQUESTS = 1000
TARGET = 0.7
ENOUGH = math.ceil(STEP_RPS * WORK_S / TARGET)

FUNCS = f'''
import time


def work(records):
    time.sleep({WORK_S})
    return [r["x"] + 1 for r in records]
'''

SERVICE = '''
endpoints:
  - {name: work, type: function, file: api/funcs.py, function: work, inputs: {x: double}, workers: 1}
query_log: {enabled: false}
autoscaling:
  min_replicas: 1
  max_replicas: 6
  metric_window_s: 4
  panic_window_s: 2
  scale_down_stabilization_s: 3
  scale_down_step: {replicas: 6, percent: 100, period_s: 1}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(root: Path, port: int, standby: int) -> subprocess.Popen[bytes]:
    with (root / f"node-{port}.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", "from tideflow.cli.main import app; app()", "api",
                                    "serve", "svc", "--port", str(port), "--standby", str(standby), "--project",
                                    str(root)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tide api serve exited with {process.returncode}")
        try:
            st = httpx.get(f"http://127.0.0.1:{port}/v1/autoscaling", timeout=2).json()
            if st["ready"] >= 1 and st["standby"] >= standby and all(r["state"] != "starting" for r in st["replicas"]):
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_node(process)
    raise RuntimeError("the node was not ready in 300 s")


def stop_node(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


async def step_load(url: str) -> dict[str, float]:
    latencies: list[float] = []
    failed = 0
    timeline: list[tuple[float, int, int]] = []
    decisions: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=500)) as client:
        t0 = time.monotonic()
        done = asyncio.Event()

        async def one(i: int) -> None:
            nonlocal failed
            started = time.monotonic()
            try:
                r = await client.post("/v1/endpoints/work/predict", json={"x": i})
                if r.status_code == 200:
                    latencies.append(time.monotonic() - started)
                else:
                    failed += 1
            except httpx.HTTPError:
                failed += 1

        async def watch() -> None:
            while not done.is_set():
                st = (await client.get("/v1/autoscaling")).json()
                now = time.monotonic() - t0
                timeline.append((now, st["ready"], st["current"]))
                if st["desired"] > 1 and not decisions:
                    decisions.append(now)
                await asyncio.sleep(0.1)

        watcher = asyncio.ensure_future(watch())
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for rate, seconds in ((BASE_RPS, BASE_S), (STEP_RPS, STEP_S)):
            for k in range(int(rate * seconds)):
                if len(tasks) >= MAX_REQUESTS:
                    break
                await asyncio.sleep(max(0.0, start + k / rate - time.monotonic()))
                tasks.append(asyncio.ensure_future(one(len(tasks))))
            start += seconds
        sent_by = time.monotonic() - t0
        await asyncio.gather(*tasks)
        done.set()
        await watcher
    step = BASE_S
    first = next((t for t, _, cur in timeline if t >= step and cur > 1), math.nan)
    second = next((t for t, ready, _ in timeline if t >= step and ready >= 2), math.nan)
    enough = next((t for t, ready, _ in timeline if t >= step and ready >= ENOUGH), math.nan)
    latencies.sort()
    return {"requests": float(len(tasks)), "failed": float(failed), "decision_s": first - step,
            "second_s": second - step, "enough_s": enough - step, "max_ready": float(max(r for _, r, _ in timeline)),
            "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else math.nan,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else math.nan,
            "send_lag_s": sent_by - (BASE_S + STEP_S)}


def run(standby: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tide-live-") as tmp:
        root = Path(tmp)
        (root / "api").mkdir()
        (root / ".tide").mkdir()
        (root / "tideflow.yaml").write_text("name: live\n")
        (root / "api" / "funcs.py").write_text(FUNCS)
        (root / "api" / "svc.yaml").write_text(SERVICE)
        port = free_port()
        node = start_node(root, port, standby)
        try:
            out = asyncio.run(step_load(f"http://127.0.0.1:{port}"))
            st = httpx.get(f"http://127.0.0.1:{port}/v1/autoscaling", timeout=5).json()
            out["cold_start_s"] = float(st["startup_s"])
            return out
        finally:
            stop_node(node)


def fmt(x: float, spec: str = ".1f") -> str:
    return "n/a" if math.isnan(x) else format(x, spec)


def section(rows: list[tuple[int, dict[str, float]]], load: str) -> str:
    lines = [SECTION, "",
             f"Run {time.strftime('%Y-%m-%dT%H:%M:%S')}: `python bench/autoscaling_live.py`. Machine: "
             f"{machine()}; load average {load} at the start (other work was running).", "",
             f"`tide api serve` on 127.0.0.1 (router + replica processes + controller), a function endpoint working "
             f"{WORK_S * 1000:.0f} ms per request, one worker per replica. Open-loop step: {BASE_RPS:g} rps for "
             f"{BASE_S:g} s, then {STEP_RPS:g} rps (10x) for {STEP_S:g} s. Enough replicas = ceil({STEP_RPS:g} x "
             f"{WORK_S:g} / {TARGET}) = {ENOUGH}. Seconds are from the step; the router's status is polled every "
             "0.1 s.", "",
             "| standby | requests | failed | decision s | 2 ready s | enough ready s | target < 5 s | max ready "
             "| p50 ms | p99 ms | cold replica start s | load generator lag s |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for standby, r in rows:
        ok = "yes" if r["enough_s"] < 5 and r["failed"] == 0 else "no"
        lines.append(f"| {standby} | {r['requests']:,.0f} | {r['failed']:,.0f} | {fmt(r['decision_s'])} | "
                     f"{fmt(r['second_s'])} | {fmt(r['enough_s'])} | {ok} | {r['max_ready']:.0f} | "
                     f"{fmt(r['p50_ms'], '.0f')} | {fmt(r['p99_ms'], '.0f')} | {fmt(r['cold_start_s'])} | "
                     f"{fmt(r['send_lag_s'])} |")
    lines += ["", "standby: warm replicas kept started out of rotation (`tide api serve --standby N`, default 1); "
              "a scale-up promotes them at once and starts replacements. With 0, every new replica is a cold "
              "process (Python start, imports, a worker process loading the function). Load generator lag: how "
              "late the last request was sent (a loaded machine slows the generator too).", ""]
    return "\n".join(lines)


def write_section(text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--standby", default="2,0", help="comma-separated standby counts to run (default 2,0)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    loadavg = Path("/proc/loadavg")
    load = " / ".join(loadavg.read_text().split()[:3]) if loadavg.exists() else "?"
    rows = []
    for standby in (int(x) for x in args.standby.split(",")):
        result = run(standby)
        print(f"standby {standby}: {result}", flush=True)
        rows.append((standby, result))
    text = section(rows, load)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()

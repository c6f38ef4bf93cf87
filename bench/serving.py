"""Serving benchmark: single-row requests/s and p50/p99 at concurrency 1/16/64 on 127.0.0.1, in one run.

Targets, each a real uvicorn server (uvloop + httptools) in its own process, scoring the same fitted
logistic-regression pipeline:
  - bare:   a bare Starlette app calling the pipeline in-process, nothing else (the limit);
  - native: the API node, POST /v1/endpoints/score/predict (auth, validation, metrics, query log, 1 worker);
  - v2:     the API node, POST /v2/models/score/infer.
The load generator is another process (httpx, asyncio), bounded by ``--seconds`` per cell. It writes a
``## Serving`` section into bench/RESULTS.md (only that section is replaced).

    python bench/serving.py --seconds 3
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
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

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789"
ROW = {"amount": 120.0, "n_tx": 3.0, "age_days": 400.0}
V2 = {"inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()]}

BARE_APP = '''
import sys
import joblib, numpy as np, orjson, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
model = joblib.load(sys.argv[1])
import pandas as pd
async def predict(request):
    r = orjson.loads(await request.body())
    p = model.predict_proba(pd.DataFrame({k: [float(r[k])] for k in ("amount", "n_tx", "age_days")}))[0, 1]
    return Response(orjson.dumps({"probability": float(p)}), media_type="application/json")
app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), loop="uvloop", http="httptools", access_log=False,
            log_level="warning")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_project(root: Path) -> Path:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from tideflow.models import Registry

    (root / "api").mkdir(parents=True)
    (root / "tideflow.yaml").write_text("name: servebench\n")
    (root / "api" / "bench.yaml").write_text(
        "api_keys: [{name: bench, env: TIDE_BENCH_KEY}]\n"
        "endpoints:\n  - {name: score, type: prediction, model: risk, workers: 1}\n")
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"amount": rng.gamma(2, 50, 2000), "n_tx": rng.integers(0, 30, 2000).astype(float),
                      "age_days": rng.uniform(0, 2000, 2000)})
    y = (x["amount"] / 100 + rng.normal(size=2000) > 1).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y)
    with Registry(root / ".tide") as registry:
        saved = registry.save("risk", pipe, algorithm="logistic", metric="auc", score=None, metrics={},
                              input_schema={k: "double" for k in ROW}, record={})
    return saved.path / "pipeline.joblib"


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout_s} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the API node's workers), MB."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in children.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


LOADGEN = '''
import asyncio, json, sys, time
import httpx
url, body, headers = sys.argv[1], sys.argv[2].encode(), json.loads(sys.argv[3])
concurrency, seconds = int(sys.argv[4]), float(sys.argv[5])
async def main():
    lat, failed = [], 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {**headers, "content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as c:
        for _ in range(min(concurrency, 8)):
            await c.post(url, content=body)
        end = time.perf_counter() + seconds
        async def worker():
            nonlocal failed
            while time.perf_counter() < end:
                t = time.perf_counter()
                try:
                    r = await c.post(url, content=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t)
                failed += not ok
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(json.dumps({"requests": len(lat), "rps": len(lat) / wall, "p50_ms": q(0.5), "p99_ms": q(0.99),
                      "failed": failed}))
asyncio.run(main())
'''


def run_cell(url: str, body: dict[str, object], headers: dict[str, str], concurrency: int,
             seconds: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", LOADGEN, url, json.dumps(body), json.dumps(headers),
                          str(concurrency), str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Serving\n.*?(?=^## |\Z)", flags=re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _: text, current)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        artifact = make_project(root)
        env = {**os.environ, "TIDE_BENCH_KEY": KEY}
        bare_port, node_port = free_port(), free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(artifact), str(bare_port)], env=env)
        node = subprocess.Popen([sys.executable, "-c", "import sys; from tideflow.serving.app import serve; "
                                 "serve(sys.argv[1], 'bench', port=int(sys.argv[2]))", str(root), str(node_port)],
                                env=env)
        rows = []
        try:
            wait_ready(f"http://127.0.0.1:{bare_port}/predict", bare)
            wait_ready(f"http://127.0.0.1:{node_port}/readyz", node)
            auth = {"Authorization": f"Bearer {KEY}"}
            targets = [("bare Starlette (limit)", f"http://127.0.0.1:{bare_port}/predict", ROW, {}, bare),
                       ("API node, native", f"http://127.0.0.1:{node_port}/v1/endpoints/score/predict", ROW, auth,
                        node),
                       ("API node, v2", f"http://127.0.0.1:{node_port}/v2/models/score/infer", V2, auth, node)]
            base: dict[int, float] = {}
            for concurrency in levels:
                for name, url, body, headers, proc in targets:
                    r = run_cell(url, body, headers, concurrency, args.seconds)
                    if name.startswith("bare"):
                        base[concurrency] = r["rps"]
                    ratio = r["rps"] / base[concurrency] if base.get(concurrency) else float("nan")
                    rows.append((name, concurrency, r, ratio, rss_mb(proc.pid)))
                    print(f"{name:24} c={concurrency:3} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  failed {r['failed']}  {ratio:5.2f}x of bare", flush=True)
        finally:
            stop(bare)
            stop(node)
    load = os.getloadavg()[0]
    lines = ["## Serving", "",
             f"Run {dt.datetime.now().isoformat(timespec='seconds')}: `python bench/serving.py --seconds "
             f"{args.seconds:g}`; {os.cpu_count()} CPUs, load average {load:.1f} at the end (other work shares "
             "this machine). Single-row requests of a 3-feature scaled logistic regression; the load generator "
             "is one httpx process on 127.0.0.1 (it is itself a bottleneck near ~1-2k req/s).", "",
             "| target | concurrency | requests | req/s | p50 ms | p99 ms | failed | vs bare | server RSS MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, concurrency, r, ratio, rss in rows:
        lines.append(f"| {name} | {concurrency} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['failed']} | {ratio:.2f}x | {rss:,.0f} |")
    lines += ["", "The API node path: key check, body limit, JSON parse, per-feature validation, traffic split, "
              "pipe to a worker process (pickle), pandas frame + pipeline in the worker, metrics, query log "
              "(buffered). Its server RSS includes the worker process.", ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()

"""Serving benchmark (issue 4): single-row predictions of a 200-tree LightGBM model over HTTP on 127.0.0.1.

One run, three servers, each in its own process, scoring the same saved model version:

  - bare:      the limit - a bare Starlette app on uvicorn (uvloop + httptools) calling the fastest compiled
               scorer (loaded from the version's stored ``scorer/``, as the API node loads it), nothing else;
  - API node:  ``tide api serve`` with its features on: API-key auth, input validation, Prometheus metrics,
               the query log (native protocol, one record per request), twice: the endpoint scoring in one
               worker process (the default; a slow or crashing model cannot stall the HTTP loop), and in the
               server process (``workers: 0``: the least CPU per request, one core's worth of requests/s);
  - Ray Serve: a local Ray (2 CPUs, no dashboard) with one deployment replica wrapping the pipeline's own
               ``predict_proba`` (a one-row DataFrame per request).

The load generator is another process (asyncio + uvloop, raw HTTP/1.1 keep-alive connections, one
precomputed request, closed loop: each connection sends its next request when the previous one is
answered), bounded by ``--seconds`` per cell (after ``--warmup``) and ``--max-requests``. Its own ceiling
is measured against a fixed-response server and printed. Concurrency 16 and 64. Ray starts only after
the other two servers are stopped (its background processes would take CPU from them on 2 cores).

Prints a table (requests/s, p50/p99 latency, failed requests, server memory and CPU per request) and
writes the ``## Serving`` section of bench/RESULTS.md (only that section is replaced).

    python bench/serving.py                  # 5 s per cell
    python bench/serving.py --seconds 2 --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from machine import machine

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key-0123456789abcdef"
MODEL = "fraud"
SERVICE = "bench"
SERVICE_INLINE = "bench_inline"
ENDPOINT = "score"
LEVELS = (16, 64)

# ----------------------------------------------------------------------------------------- the model

NUMERIC = ["amount", "amount_avg_7d", "amount_avg_30d", "amount_std_30d", "amount_to_avg", "distance_home_km",
           "distance_last_km", "minutes_since_last", "merchant_risk", "merchant_fraud_rate_30d", "device_age_days",
           "ip_risk", "velocity_score", "balance_ratio"]
INTEGER = ["hour_of_day", "day_of_week", "n_tx_1h", "n_tx_24h", "n_tx_7d", "n_merchants_24h", "n_countries_7d",
           "account_age_days", "card_age_days", "failed_logins_24h"]
CATEGORICAL = {"channel": ["web", "pos", "app", "moto"],
               "country": ["FR", "DE", "ES", "IT", "GB", "US", "NL", "BE", "PL", "PT", "SE", "RO"],
               "mcc_group": [f"mcc{i}" for i in range(10)],
               "device_type": ["mobile", "desktop", "tablet"]}
WITH_NULLS = ["minutes_since_last", "merchant_risk", "device_age_days"]


def fraud_frame(n: int, seed: int) -> tuple[Any, Any]:
    """A fraud-like table: 14 doubles (3 with nulls), 10 integers, 4 categoricals (one with nulls); label ~4%."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 40.0, n)
    avg7 = amount * rng.uniform(0.5, 1.5, n)
    data: dict[str, Any] = {
        "amount": amount, "amount_avg_7d": avg7, "amount_avg_30d": avg7 * rng.uniform(0.7, 1.3, n),
        "amount_std_30d": rng.gamma(2.0, 15.0, n), "amount_to_avg": amount / np.maximum(avg7, 1.0),
        "distance_home_km": rng.exponential(20.0, n), "distance_last_km": rng.exponential(50.0, n),
        "minutes_since_last": rng.exponential(600.0, n), "merchant_risk": rng.beta(2, 8, n),
        "merchant_fraud_rate_30d": rng.beta(1, 60, n), "device_age_days": rng.exponential(300.0, n),
        "ip_risk": rng.beta(2, 10, n), "velocity_score": rng.normal(0, 1, n), "balance_ratio": rng.uniform(0, 1, n),
        "hour_of_day": rng.integers(0, 24, n), "day_of_week": rng.integers(0, 7, n), "n_tx_1h": rng.poisson(0.5, n),
        "n_tx_24h": rng.poisson(3, n), "n_tx_7d": rng.poisson(15, n), "n_merchants_24h": rng.poisson(2, n),
        "n_countries_7d": rng.poisson(0.3, n) + 1, "account_age_days": rng.integers(1, 4000, n),
        "card_age_days": rng.integers(1, 2000, n), "failed_logins_24h": rng.poisson(0.2, n),
    }
    for name, levels in CATEGORICAL.items():
        data[name] = rng.choice(levels, n).astype(object)
    df = pd.DataFrame(data)
    for name in WITH_NULLS:
        df.loc[rng.random(n) < 0.08, name] = np.nan
    df.loc[rng.random(n) < 0.05, "device_type"] = None
    z = (1.2 * np.log1p(df["amount_to_avg"]) + 2.5 * df["ip_risk"] + 30 * df["merchant_fraud_rate_30d"]
         + 0.4 * df["n_tx_1h"] + 0.5 * df["failed_logins_24h"] + 0.004 * df["distance_last_km"]
         + 0.8 * (df["channel"] == "moto") + 0.6 * df["country"].isin(["RO", "PL"]) - 0.0004 * df["account_age_days"]
         + 0.3 * df["velocity_score"] + 0.7 * ((df["hour_of_day"] < 5) & (df["amount"] > 150)))
    y = (z + rng.logistic(0, 0.8, n) > 4.2).astype(int)
    return df, y.to_numpy()


def make_project(root: Path) -> tuple[Path, dict[str, Any], str]:
    """A project with the model saved as a real version, its compiled scorer stored with it, and the API
    service file. Returns (the version's directory, one request record, the scorer's kind)."""
    import lightgbm as lgb
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tideflow.models import Registry
    from tideflow.models.scorers import compile_scorer
    from tideflow.serving.runners import SCORER_DIR

    (root / "api").mkdir(parents=True)
    (root / "tideflow.yaml").write_text("name: servebench\n")
    (root / "api" / f"{SERVICE}.yaml").write_text(
        "description: single-row fraud scoring (bench/serving.py)\n"
        "api_keys:\n  - {name: bench, env: TIDE_BENCH_KEY}\n"
        f"endpoints:\n  - {{name: {ENDPOINT}, type: prediction, model: {MODEL}}}\n"
        "query_log: {enabled: true, sample_rate: 1.0}\n")
    (root / "api" / f"{SERVICE_INLINE}.yaml").write_text(
        "description: the same endpoint in the server process (bench/serving.py)\n"
        "api_keys:\n  - {name: bench, env: TIDE_BENCH_KEY}\n"
        f"endpoints:\n  - {{name: {ENDPOINT}, type: prediction, model: {MODEL}, workers: 0}}\n"
        "query_log: {enabled: true, sample_rate: 1.0}\n")
    train, y = fraud_frame(20_000, 1)
    test, y_test = fraud_frame(5_000, 2)
    numeric = NUMERIC + INTEGER
    prep = ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]), numeric),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="most_frequent")),
                          ("oh", OneHotEncoder(handle_unknown="ignore"))]), list(CATEGORICAL)),
    ])
    model = lgb.LGBMClassifier(n_estimators=200, num_leaves=31, learning_rate=0.05, verbose=-1, n_jobs=1)
    pipe = Pipeline([("prep", prep), ("model", model)]).fit(train, y)
    auc = float(roc_auc_score(y_test, pipe.predict_proba(test)[:, 1]))
    schema = {c: "double" for c in NUMERIC} | {c: "integer" for c in INTEGER} | {c: "string" for c in CATEGORICAL}
    with Registry(root / ".tide") as registry:
        saved = registry.save(MODEL, pipe, algorithm="lightgbm", metric="auc", score=auc, metrics={"auc": auc},
                              input_schema=schema, record={"classes": [0, 1], "bench": "serving"})
    scorer = compile_scorer(pipe)  # auto: the fastest measured back end for the family (lleaves for LightGBM)
    scorer.save(saved.path / SCORER_DIR)
    row = test.iloc[int(np.flatnonzero(test.notna().all(axis=1).to_numpy())[0])]
    record = {c: (int(row[c]) if c in INTEGER else float(row[c]) if c in NUMERIC else str(row[c])) for c in schema}
    return saved.path, record, str(scorer.kind)


# ----------------------------------------------------------------------------------------- the servers

BARE_APP = r'''
import sys
import orjson, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from tideflow.models.scorers import load_scorer

scorer = load_scorer(sys.argv[1])
proba = [n for n in scorer.output_names if n.startswith("proba_")][-1]

async def predict(request):
    out = scorer.predict_one(orjson.loads(await request.body()))
    return Response(orjson.dumps({"prediction": out["prediction"], "probability": out[proba]}),
                    media_type="application/json")

app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), loop="uvloop", http="httptools", access_log=False,
            log_level="warning")
'''

# The load generator's ceiling: a server that answers every request with a fixed response, no framework.
FIXED_SERVER = r'''
import asyncio, sys, uvloop
BODY = b'{"prediction":0,"probability":0.0123456789}'
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)

class Fixed(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, bytearray()

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[:end + 4 + length]
            self.transport.write(RESPONSE)

async def main():
    server = await asyncio.get_running_loop().create_server(Fixed, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()

uvloop.run(main())
'''

RAY_APP = r'''
import signal, sys, threading
from tideflow.compute._ray import import_ray, keep_on_loopback

ray = import_ray()
keep_on_loopback(ray)
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

pipeline_path, port = sys.argv[1], int(sys.argv[2])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
ray.init(address="local", include_dashboard=False, num_cpus=2, _node_ip_address="127.0.0.1",
         log_to_driver=False, configure_logging=False)
try:
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
    class Fraud:
        """The model's own predict: the fitted pipeline's predict_proba on a one-row DataFrame."""

        def __init__(self, path):
            import joblib
            self.pipeline = joblib.load(path)
            self.columns = list(self.pipeline.feature_names_in_)

        async def __call__(self, request: Request):
            import pandas as pd
            record = await request.json()
            proba = self.pipeline.predict_proba(pd.DataFrame([record], columns=self.columns))[0]
            return JSONResponse({"prediction": int(self.pipeline.classes_[proba.argmax()]),
                                 "probability": float(proba[1])})

    serve.run(Fraud.bind(pipeline_path), name="fraud", route_prefix="/")
    print("READY", flush=True)
    stop.wait()
finally:
    try:
        serve.shutdown()
    finally:
        ray.shutdown()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    name: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    descendants: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def start(name: str, argv: list[str], port: int, path: str, body: bytes, headers: dict[str, str], log: Path,
          env: dict[str, str]) -> Target:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Target(name, port, path, body, headers, process, log)


def wait_answering(target: Target, timeout_s: float, ok_status: int = 200) -> dict[str, Any]:
    """Poll with the bench request until it is answered ``ok_status``; the JSON answer."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            raise RuntimeError(f"{target.name}: exited with {target.process.returncode}:\n"
                               f"{target.log.read_text()[-3000:]}")
        try:
            r = httpx.post(target.url, content=target.body, headers=target.headers, timeout=10)
            if r.status_code == ok_status:
                answer: dict[str, Any] = r.json()
                return answer
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as err:
            last = repr(err)
        time.sleep(0.25)
    raise RuntimeError(f"{target.name}: not answering after {timeout_s:g} s (last: {last})\n"
                       f"{target.log.read_text()[-3000:]}")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards), None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant still running (from /proc: Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if _stat(p) is not None:
            out.append(p)
            todo += children.get(p, [])
    return out


def remember(target: Target) -> None:
    """Record the PIDs of the server's process tree (so each can be stopped by its PID at the end)."""
    target.descendants |= set(tree(target.process.pid)[1:])


def memory_mb(target: Target) -> float:
    """Proportional set size (PSS: shared pages split between the processes) of the server's process tree."""
    total_kb = 0
    for pid in tree(target.process.pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def cpu_s(target: Target) -> tuple[float, float]:
    """User + system CPU seconds of the server's process tree and of its first process alone (exited
    children are not counted)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = main = 0.0
    for pid in tree(target.process.pid):
        fields = _stat(pid)
        if fields is not None:
            seconds = (int(fields[11]) + int(fields[12])) / ticks
            total += seconds
            if pid == target.process.pid:
                main = seconds
    return total, main


def stop(target: Target, timeout_s: float = 60.0) -> None:
    """SIGTERM the server by PID (graceful: uvicorn drains, pools and Ray shut down), then SIGKILL any process
    of its recorded tree that is still there, each by its PID."""
    remember(target)
    if target.process.poll() is None:
        os.kill(target.process.pid, signal.SIGTERM)
        try:
            target.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(target.process.pid, signal.SIGKILL)
            target.process.wait(10)
    time.sleep(0.5)
    for pid in sorted(target.descendants):
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z":
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------------------- the load generator

LOADGEN = r'''
import asyncio, json, sys, time
import uvloop

cfg = json.loads(sys.argv[1])
REQUEST = cfg["request"].encode("latin-1")
HOST, PORT = "127.0.0.1", cfg["port"]
CONCURRENCY, SECONDS, WARMUP, MAX_WARMUP = cfg["concurrency"], cfg["seconds"], cfg["warmup"], cfg["max_warmup"]
MAX_REQUESTS, TIMEOUT = cfg["max_requests"], cfg["timeout_s"]
clock = time.perf_counter


class Gen:
    """Warm-up until WARMUP seconds have passed and 2 x CONCURRENCY answers came back (a server that takes
    seconds per request reaches its steady state first), at most MAX_WARMUP seconds; then SECONDS of
    measurement."""

    def __init__(self):
        self.start = clock()
        self.measure_from, self.until = None, float("inf")
        self.warm = 0
        self.latencies, self.failed, self.sent, self.statuses = [], 0, 0, {}
        self.connections = []

    def _begin(self, now):
        self.measure_from, self.until = now, now + SECONDS

    def running(self):
        now = clock()
        if self.measure_from is None and now - self.start >= MAX_WARMUP:
            self._begin(now)
        return now < self.until and self.sent < MAX_REQUESTS

    def record(self, t0, ok, status):
        # answers completed inside the measured window count for requests/s and latency; a failure counts
        # when it happens after the warm-up (a request still unanswered at the end may time out later)
        now = clock()
        if self.measure_from is None:
            self.warm += 1
            if now - self.start >= WARMUP and self.warm >= 2 * CONCURRENCY or now - self.start >= MAX_WARMUP:
                self._begin(now)
            return
        if not ok:
            self.failed += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
        elif now <= self.until:
            self.latencies.append(now - t0)


class Conn(asyncio.Protocol):
    def __init__(self, gen, idle):
        self.gen, self.idle, self.buf, self.t0, self.transport = gen, idle, bytearray(), None, None

    def connection_made(self, transport):
        self.transport = transport
        self.send()

    def send(self):
        if not self.gen.running():
            self.t0 = None
            self.transport.close()
            return
        self.gen.sent += 1
        self.t0 = clock()
        self.transport.write(REQUEST)

    def data_received(self, data):
        self.buf += data
        while self.t0 is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            status = int(head[9:12])
            i = head.find(b"content-length:")
            if i >= 0:
                total = end + 4 + int(head[i + 15:].split(b"\r\n", 1)[0])
                if len(self.buf) < total:
                    return
            elif b"chunked" in head:
                j = self.buf.find(b"\r\n0\r\n\r\n", end)
                if j < 0:
                    return
                total = j + 7
            else:
                total = end + 4
            del self.buf[:total]
            self.gen.record(self.t0, status == 200, status)
            self.send()

    def connection_lost(self, exc):
        if self.t0 is not None:  # a request was in flight: failed
            self.gen.record(self.t0, False, "closed")
            self.t0 = None
        if not self.idle.done():
            self.idle.set_result(None)


async def one_connection(gen):
    loop = asyncio.get_running_loop()
    while gen.running():
        idle = loop.create_future()
        conn = Conn(gen, idle)
        try:
            await loop.create_connection(lambda: conn, HOST, PORT)
        except OSError:
            gen.record(clock(), False, "connect")
            await asyncio.sleep(0.05)
            continue
        gen.connections.append(conn)
        while not idle.done():
            await asyncio.wait([idle], timeout=0.25)
            if conn.t0 is not None and clock() - conn.t0 > TIMEOUT:  # answer overdue: failed, reconnect
                gen.record(conn.t0, False, "timeout")
                conn.t0 = None
                conn.transport.abort()
        gen.connections.remove(conn)


async def main():
    gen = Gen()
    cpu0 = time.process_time()
    await asyncio.gather(*(one_connection(gen) for _ in range(CONCURRENCY)))
    if gen.measure_from is None:  # --max-requests reached during the warm-up
        gen._begin(clock())
    wall = max(min(clock(), gen.until) - gen.measure_from, 1e-9)
    warmup = gen.measure_from - gen.start
    cpu = time.process_time() - cpu0
    lat = sorted(gen.latencies)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    done = len(lat) + gen.failed
    print(json.dumps({"requests": done, "ok": len(lat), "failed": gen.failed, "rps": len(lat) / wall,
                      "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": lat[-1] * 1000 if lat else float("nan"),
                      "loadgen_cpu_us": cpu / max(gen.sent, 1) * 1e6, "sent": gen.sent, "warmup_s": warmup,
                      "statuses": {str(k): v for k, v in gen.statuses.items()}}))

uvloop.run(main())
'''


def raw_request(target: Target) -> str:
    head = [f"POST {target.path} HTTP/1.1", f"Host: 127.0.0.1:{target.port}", "Content-Type: application/json",
            f"Content-Length: {len(target.body)}", *[f"{k}: {v}" for k, v in target.headers.items()]]
    return ("\r\n".join(head) + "\r\n\r\n").encode().decode("latin-1") + target.body.decode("latin-1")


def run_cell(target: Target, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    cfg = {"request": raw_request(target), "port": target.port, "concurrency": concurrency,
           "seconds": args.seconds, "warmup": args.warmup, "max_warmup": args.max_warmup,
           "max_requests": args.max_requests,
           "timeout_s": args.timeout}
    cpu0, main0 = cpu_s(target)
    out = subprocess.run([sys.executable, "-c", LOADGEN, json.dumps(cfg)], capture_output=True, text=True,
                         timeout=args.max_warmup + args.seconds + 2 * args.timeout + 60)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    cpu1, main1 = cpu_s(target)
    result["server_cpu_us"] = (cpu1 - cpu0) / max(result["sent"], 1) * 1e6
    result["main_cpu_us"] = (main1 - main0) / max(result["sent"], 1) * 1e6
    result["memory_mb"] = memory_mb(target)
    return result


# ----------------------------------------------------------------------------------------- report

@dataclass
class Row:
    target: str
    concurrency: int
    r: dict[str, Any]


def find(rows: list[Row], target: str, concurrency: int) -> dict[str, Any] | None:
    return next((row.r for row in rows if row.target == target and row.concurrency == concurrency), None)


def targets_table(rows: list[Row]) -> list[tuple[str, bool, str]]:
    node16, node64 = find(rows, NODE, 16), find(rows, NODE, 64)
    bare16, bare64, ray64 = find(rows, BARE, 16), find(rows, BARE, 64), find(rows, RAY, 64)
    out: list[tuple[str, bool, str]] = []
    if node64 and bare64:
        ratio = node64["rps"] / bare64["rps"]
        out.append(("API node >= 70% of the bare limit's requests/s (concurrency 64)", ratio >= 0.7,
                    f"{ratio:.0%} ({node64['rps']:,.0f} vs {bare64['rps']:,.0f} req/s)"))
    if node64 and ray64:
        ratio = node64["rps"] / ray64["rps"] if ray64["rps"] > 0 else math.inf
        out.append(("API node >= 10x Ray Serve's requests/s (concurrency 64)", ratio >= 10,
                    f"{ratio:.1f}x ({node64['rps']:,.0f} vs {ray64['rps']:,.0f} req/s)"))
    if node16:
        out.append(("API node p99 < 20 ms (concurrency 16)", node16["p99_ms"] < 20, f"{node16['p99_ms']:.1f} ms"))
    node_rows = [row.r for row in rows if row.target == NODE]
    if node_rows:
        failed = sum(r["failed"] for r in node_rows)
        out.append(("API node: zero failed requests", failed == 0,
                    f"{failed} of {sum(r['requests'] for r in node_rows):,}"))
    if node16 and bare16:
        ratio = node16["rps"] / bare16["rps"]
        out.append(("(also) API node >= 70% of the bare limit's requests/s at concurrency 16", ratio >= 0.7,
                    f"{ratio:.0%} ({node16['rps']:,.0f} vs {bare16['rps']:,.0f} req/s)"))
    inline64 = find(rows, NODE_INLINE, 64)
    if inline64 and bare64:
        ratio = inline64["rps"] / bare64["rps"]
        out.append(("(also) API node, endpoint in the server process (workers: 0), >= 70% of the bare limit "
                    "(concurrency 64)", ratio >= 0.7,
                    f"{ratio:.0%} ({inline64['rps']:,.0f} vs {bare64['rps']:,.0f} req/s)"))
    return out


def mean_cpu(rows: list[Row], target: str, key: str) -> float | None:
    found = [row.r[key] for row in rows if row.target == target]
    return sum(found) / len(found) if found else None


def limits_sentence(rows: list[Row]) -> str:
    main, tree = mean_cpu(rows, NODE, "main_cpu_us"), mean_cpu(rows, NODE, "server_cpu_us")
    bare = mean_cpu(rows, BARE, "server_cpu_us")
    if main is None or tree is None or bare is None:
        return ""
    text = (f"What limits the API node: its server process (HTTP, auth, validation, metrics, query log, the hand-off "
            f"to the worker) spends {main:.0f} µs of CPU per request and its worker {tree - main:.0f} µs (scoring, "
            f"framing), against {bare:.0f} µs for the whole bare server (mean over the cells). The two processes "
            "work in parallel, so on 2 vCPUs the node can pass the bare server, whose one event loop does "
            "everything on one core; it pays for that in CPU per request (the hand-off: a socket write and read on "
            "each side, a wake-up per burst of requests). The native route skips Starlette's router and "
            "middleware and the metrics take no lock: that is what brought the server process's share down.")
    inline = mean_cpu(rows, NODE_INLINE, "server_cpu_us")
    if inline is not None:
        text += (f" With the endpoint in the server process (`workers: 0`) one event loop does all of it in "
                 f"{inline:.0f} µs: less CPU per request, one core's worth of requests/s.")
    return text


def print_table(rows: list[Row], ceiling: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=170)
    table = Table(title="Single-row predictions, 200-tree LightGBM, 127.0.0.1")
    for col in ("target", "conc.", "requests", "req/s", "p50 ms", "p99 ms", "failed", "vs bare",
                "server MB", "server CPU µs/req", "loadgen CPU µs/req"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for row in rows:
        r, bare = row.r, find(rows, BARE, row.concurrency)
        vs = f"{r['rps'] / bare['rps']:.2f}x" if bare and bare["rps"] else "-"
        table.add_row(row.target, str(row.concurrency), f"{r['requests']:,}", f"{r['rps']:,.0f}",
                      f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["failed"]), vs, f"{r['memory_mb']:,.0f}",
                      f"{r['server_cpu_us']:,.0f}", f"{r['loadgen_cpu_us']:,.0f}")
    console.print(table)
    if ceiling:
        console.print(f"load generator ceiling (fixed-response server, concurrency 64): {ceiling['rps']:,.0f} req/s, "
                      f"{ceiling['loadgen_cpu_us']:.0f} µs of its CPU per request")
    node16, node64 = find(rows, NODE, 16), find(rows, NODE, 64)
    bare64, ray64 = find(rows, BARE, 64), find(rows, RAY, 64)
    if node16:
        console.print(f"API node p99 at concurrency 16: {node16['p99_ms']:.2f} ms")
    if node64 and bare64:
        console.print(f"API node vs bare at concurrency 64: {node64['rps'] / bare64['rps']:.2f}x")
    if node64 and ray64 and ray64["rps"]:
        console.print(f"API node vs Ray Serve at concurrency 64: {node64['rps'] / ray64['rps']:.1f}x")
    console.print(limits_sentence(rows))
    for text, met, measured in targets_table(rows):
        console.print(f"  {'met ' if met else 'MISS'}  {text}: {measured}")


def render(rows: list[Row], ceiling: dict[str, Any] | None, info: dict[str, Any], args: argparse.Namespace) -> str:
    lines = ["## Serving", "",
             f"Run {info['date']}: `python bench/serving.py --seconds {args.seconds:g}` ({info['elapsed_s']:.0f} s). "
             f"Machine: {machine()}; load average {info['load_start']} at the start, {info['load_end']} at the end"
             + (" (other work shares this machine: the final numbers need a quiet one)." if info["busy"] else "."),
             "",
             f"Single-row predictions of a 200-tree LightGBM model ({len(NUMERIC) + len(INTEGER)} numeric features, "
             f"3 with nulls, {len(CATEGORICAL)} categoricals; median/most-frequent imputation, scaling, one-hot; "
             "a real saved version in a temporary project). The load generator is one process "
             "(asyncio + uvloop, raw HTTP/1.1 keep-alive connections, one precomputed request, closed loop). "
             f"Per cell: a warm-up of at least {args.warmup:g} s and 2 x concurrency answers (at most "
             f"{args.max_warmup:g} s), then {args.seconds:g} s measured: requests/s and latency are over the answers "
             f"completed in that window; a request fails on a non-200 answer, a closed connection or no answer in "
             f"{args.timeout:g} s.", "",
             f"- **bare Starlette (limit)**: uvicorn (uvloop + httptools) + Starlette, `orjson` in and out, the "
             f"compiled scorer (`{info['scorer']}`, loaded from the version's stored `scorer/`) in-process; nothing "
             "else.",
             "- **API node**: `tide api serve` - API-key auth, body limit, native JSON protocol, validation against "
             "the input schema, Prometheus metrics, query log (every request); the same stored compiled scorer "
             "(`predict_one`). **worker process**: the default, one worker process for the endpoint (a slow or "
             "crashing model cannot stall the HTTP loop); **in-process**: `workers: 0`, scoring on the server's "
             "event loop.",
             "- **Ray Serve**: local Ray (`num_cpus=2`, no dashboard), one replica (1 CPU) wrapping the pipeline's "
             "own `predict_proba` on a one-row DataFrame, through Ray Serve's HTTP proxy. Started after the other "
             "servers were stopped.", "",
             "| target | concurrency | requests | req/s | p50 ms | p99 ms | failed | vs bare | server MB (PSS) "
             "| server CPU µs/req | load generator CPU µs/req |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        r, bare = row.r, find(rows, BARE, row.concurrency)
        vs = f"{r['rps'] / bare['rps']:.2f}x" if bare and bare["rps"] else "-"
        lines.append(f"| {row.target} | {row.concurrency} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['failed']} | {vs} | {r['memory_mb']:,.0f} | {r['server_cpu_us']:,.0f} | "
                     f"{r['loadgen_cpu_us']:,.0f} |")
    lines.append("")
    if ceiling:
        bare64 = find(rows, BARE, 64)
        share = f"; the bare server's {bare64['rps']:,.0f} req/s at 64 is {bare64['rps'] / ceiling['rps']:.0%} of it" \
            if bare64 else ""
        lines += [f"Load generator ceiling: {ceiling['rps']:,.0f} req/s at concurrency 64 against a fixed-response "
                  f"server (raw asyncio, no framework), {ceiling['loadgen_cpu_us']:.0f} µs of its CPU per "
                  f"request{share}. On 2 cores the load generator and the server share the CPU: every target "
                  "pays the load generator's CPU per request.", ""]
    lines += ["Server MB: proportional set size of the server's whole process tree (API node: server + worker if any; "
              "Ray Serve: the driver, GCS, raylet, Serve controller, proxy and replica). Server CPU µs/req: CPU time "
              "of that tree per request sent - a cost per request that moves less with the machine's load than "
              "requests/s.", ""]
    limits = limits_sentence(rows)
    if limits:
        lines += [limits, ""]
    if info.get("answers"):
        lines += [f"Same answer from every target before the load: {info['answers']}.", ""]
    lines += ["| target (issue 4) | met | measured |", "| --- | --- | --- |"]
    for text, met, measured in targets_table(rows):
        lines.append(f"| {text} | {'yes' if met else 'NO'} | {measured} |")
    lines.append("")
    if info.get("notes"):
        lines += [info["notes"], ""]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Serving\n.*?(?=^## |\Z)", flags=re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _: text, current)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


# ----------------------------------------------------------------------------------------- main

BARE, NODE, RAY = "bare Starlette (limit)", "API node (worker process)", "Ray Serve (predict_proba)"
NODE_INLINE = "API node (in-process)"


def load_text() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load before each measurement (longer until every connection had 2 answers)")
    parser.add_argument("--max-warmup", type=float, default=30.0, help="upper bound on a cell's warm-up")
    parser.add_argument("--max-requests", type=int, default=500_000, help="bound on requests per cell")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before an unanswered request fails")
    parser.add_argument("--concurrency", default=",".join(map(str, LEVELS)))
    parser.add_argument("--no-ray", action="store_true", help="skip Ray Serve (development runs)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--notes", default="", help="a paragraph appended to the section")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    started = time.monotonic()
    info: dict[str, Any] = {"date": dt.datetime.now().isoformat(timespec="seconds"), "load_start": load_text(),
                            "notes": args.notes}
    rows: list[Row] = []
    ceiling: dict[str, Any] | None = None
    env = {**os.environ, "TIDE_BENCH_KEY": KEY, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    tide = Path(sys.executable).with_name("tide")
    with tempfile.TemporaryDirectory(prefix="tide-servebench-") as tmp:
        root = Path(tmp) / "proj"
        print("training and saving the model, compiling its scorer ...", flush=True)
        version, record, kind = make_project(root)
        info["scorer"] = kind
        body = json.dumps(record).encode()
        logs = Path(tmp)
        node_cmd = [str(tide)] if tide.exists() else [sys.executable, "-c", "from tideflow.cli.main import app; app()"]
        answers: dict[str, float] = {}
        servers: list[Target] = []
        try:
            fixed = start("fixed", [sys.executable, "-c", FIXED_SERVER, str(port := free_port())], port, "/predict",
                          body, {}, logs / "fixed.log", env)
            servers.append(fixed)
            bare = start(BARE, [sys.executable, "-c", BARE_APP, str(version / "scorer"), str(port := free_port())],
                         port, "/predict", body, {}, logs / "bare.log", env)
            servers.append(bare)
            node = start(NODE, [*node_cmd, "api", "serve", SERVICE, "--port", str(port := free_port()), "--project",
                                str(root)], port, f"/v1/endpoints/{ENDPOINT}/predict", body,
                         {"Authorization": f"Bearer {KEY}"}, logs / "node.log", env)
            servers.append(node)
            inline = start(NODE_INLINE, [*node_cmd, "api", "serve", SERVICE_INLINE, "--port",
                                         str(port := free_port()), "--project", str(root)], port,
                           f"/v1/endpoints/{ENDPOINT}/predict", body, {"Authorization": f"Bearer {KEY}"},
                           logs / "inline.log", env)
            servers.append(inline)
            wait_answering(fixed, 60)
            print("servers starting ...", flush=True)
            answers[BARE] = float(wait_answering(bare, 180)["probability"])
            answers[NODE] = float(wait_answering(node, 300)["output"]["probability"])
            answers[NODE_INLINE] = float(wait_answering(inline, 300)["output"]["probability"])
            for t in servers:
                remember(t)
            if httpx.post(node.url, content=body, timeout=10).status_code != 401:
                raise RuntimeError("the API node answered a request without its API key: auth is not on")
            ceiling = run_cell(fixed, 64, args)
            print(f"load generator ceiling: {ceiling['rps']:,.0f} req/s ({ceiling['loadgen_cpu_us']:.0f} µs CPU "
                  "per request)", flush=True)
            stop(fixed)
            for concurrency in levels:
                for target in (bare, node, inline):
                    r = run_cell(target, concurrency, args)
                    rows.append(Row(target.name, concurrency, r))
                    print(f"{target.name:28} c={concurrency:3} {r['rps']:8,.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  failed {r['failed']} {r['statuses'] or ''}", flush=True)
        finally:
            for t in servers:
                stop(t)
        logged = sorted((root / ".tide" / "query_log").rglob("*.jsonl"))
        info["query_log_lines"] = sum(len(p.read_bytes().splitlines()) for p in logged)
        if not args.no_ray:
            print("starting Ray Serve ...", flush=True)
            ray = start(RAY, [sys.executable, "-c", RAY_APP, str(version / "pipeline.joblib"),
                              str(port := free_port())], port, "/", body, {}, logs / "ray.log", env)
            try:
                answers[RAY] = float(wait_answering(ray, 300)["probability"])
                remember(ray)
                for concurrency in levels:
                    r = run_cell(ray, concurrency, args)
                    remember(ray)
                    rows.append(Row(RAY, concurrency, r))
                    print(f"{RAY:28} c={concurrency:3} {r['rps']:8,.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  failed {r['failed']} {r['statuses'] or ''}", flush=True)
            finally:
                stop(ray, timeout_s=90)
    rows.sort(key=lambda row: (row.concurrency, [BARE, NODE, NODE_INLINE, RAY].index(row.target)))
    spread = max(answers.values()) - min(answers.values()) if answers else 0.0
    info["answers"] = (", ".join(f"{k} {v:.9f}" for k, v in answers.items())
                       + f" (max difference {spread:.1e})")
    info["load_end"] = load_text()
    info["busy"] = max(os.getloadavg()) > 0.5 * (os.cpu_count() or 1) or \
        float(info["load_start"].split(",")[0]) > 0.5 * (os.cpu_count() or 1)
    info["elapsed_s"] = time.monotonic() - started
    print_table(rows, ceiling)
    print(f"query log lines written by the API node: {info['query_log_lines']:,}")
    text = render(rows, ceiling, info, args)
    if not args.no_write:
        write_section(text)
        print("wrote the ## Serving section of bench/RESULTS.md")


if __name__ == "__main__":
    main()

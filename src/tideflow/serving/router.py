"""The local autoscaled API node: a lean ASGI reverse proxy in front of replica processes.

``tide api serve SERVICE`` runs this when the service has an ``autoscaling:`` section. The router

- accepts every request on 127.0.0.1:PORT and sends it to the ready replica with the fewest
  outstanding requests (least-outstanding-requests), at most ``concurrency`` per replica; the rest
  wait at the router in arrival order, so a replica that starts or frees up takes the oldest waiting
  request at once (a queue at the router, not inside an old replica, is what a new replica can help);
- counts what the policy needs: arrivals, completions, and the time integrals of requests in
  flight (waiting + sent) and in service (sent) — ``Router.read() -> Counters`` is the controller's
  ``MetricsSource``;
- runs the autoscaling ``Controller`` (pure ``TideflowPolicy`` + ``ReplicaSet`` actuator, with
  ``standby`` warm replicas that a scale-up promotes at once);
- answers ``/healthz``, ``/readyz``, ``/metrics`` (its own Prometheus registry: replicas, decisions,
  the counters above) and ``/v1/autoscaling`` (replicas and recent decisions as JSON) itself, and
  proxies everything else (authentication stays with the replicas).

Reload (``serving.noderecord``): on SIGHUP (with a node record) the router re-reads the service from its
project root as given (an API node's ``active`` link is followed again) and rolls a new generation of
replicas in (``ReplicaSet.roll``); ``/v1/node`` answers the node record. Changes to ``autoscaling:``
itself take effect when the node restarts.

A request waits at most ``queue_timeout_s`` for a replica (then 503). A request whose connection was
refused or closed before any response is retried once (scoring is idempotent); a leaving replica gets
no new request, so none is lost to scale-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx

from tideflow.autoscaling.controller import Controller, Counters, DecisionEntry, DecisionLog
from tideflow.autoscaling.policies import TideflowPolicy
from tideflow.autoscaling.snapshot import MetricSample
from tideflow.serving.noderecord import NODE_PATH, NodeRecorder, ReloadLoop
from tideflow.serving.replicas import Replica, ReplicaSet
from tideflow.serving.specs import ServiceSpec, load_service

log = logging.getLogger("tideflow.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailers",
              b"transfer-encoding", b"upgrade", b"host", b"content-length"}
INLINE_CONCURRENCY = 8  # requests one replica takes at once per in-process (workers: 0) endpoint
# Idle client connections stay open longer than clients keep them (a load balancer's habit): a server that
# closes an idle connection just as a client reuses it fails that request (uvicorn's default is 5 s).
KEEP_ALIVE_S = 75
LOCAL_PATHS = ("/healthz", "/readyz", "/metrics", "/v1/autoscaling", NODE_PATH)


def state_dir(project_root: Path, service: str) -> Path:
    """Where the local autoscaled node keeps its decision log, status file and replica log."""
    return project_root / ".tide" / "autoscaling" / service


def replica_concurrency(spec: ServiceSpec) -> int:
    """Requests the router sends one replica at once: one per worker process, a few per in-process endpoint."""
    return max(1, sum(e.num_workers if e.num_workers > 0 else INLINE_CONCURRENCY for e in spec.endpoints))


class Unrouted(Exception):
    """No replica took the request within the queue timeout."""


class Router:
    """An ASGI app: least-outstanding-requests proxy with a FIFO wait queue, and the node's counters."""

    def __init__(self, project_root: Path, spec: ServiceSpec, *, port: int, concurrency: int | None = None,
                 queue_timeout_s: float | None = None, standby: int = 1,
                 clock: Callable[[], float] = time.monotonic, source_root: Path | None = None,
                 recorder: NodeRecorder | None = None) -> None:
        if spec.autoscaling is None:
            raise ValueError(f"API service {spec.name!r} has no autoscaling: section")
        self.root = project_root
        self.source_root = Path(source_root) if source_root is not None else Path(project_root)
        self.recorder = recorder
        self._reloads: ReloadLoop | None = None
        self.spec = spec
        self.auto = spec.autoscaling
        self.port = port
        self.clock = clock
        self.concurrency = concurrency or replica_concurrency(spec)
        self.queue_timeout_s = queue_timeout_s or max(e.timeout_s for e in spec.endpoints)
        self.max_body = spec.limits.max_body_bytes
        self.dir = state_dir(project_root, spec.name)
        self.replicas = ReplicaSet(project_root, spec.name, concurrency=self.concurrency,
                                   log_path=self.dir / "replicas.log", on_change=self._dispatch, standby=standby)
        self.waiters: deque[asyncio.Future[Replica]] = deque()
        # counters (MetricsSource)
        self.arrivals = 0
        self.completions = 0
        self.failures = 0  # answered by the router with 502/503 (no replica answered)
        self.in_flight = 0
        self.in_service = 0
        self.in_flight_area = 0.0
        self.in_service_area = 0.0
        self._t = clock()
        # controller
        self.decision_log = DecisionLog(self.dir / "decisions.jsonl")
        self.controller = Controller.for_spec(self.auto, TideflowPolicy(self.auto), self, self.replicas,
                                              log_file=self.decision_log, observer=self)
        self.desired = max(self.auto.min_replicas, 0)
        self.panic = False
        self.last_sample: MetricSample | None = None
        self.decisions_by_direction = {"up": 0, "down": 0, "event": 0}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ counters

    def _touch(self) -> None:
        now = self.clock()
        dt = now - self._t
        if dt > 0:
            self.in_flight_area += self.in_flight * dt
            self.in_service_area += self.in_service * dt
            self._t = now

    def read(self) -> Counters:
        self._touch()
        busy = self.in_service_area / self.concurrency  # replica-equivalents busy
        return Counters(self._t, self.arrivals, self.completions, self.in_flight, self.in_service,
                        self.in_flight_area, self.in_service_area, busy, self.replicas.ready)

    # ------------------------------------------------------------------ controller observer

    def evaluated(self, sample: MetricSample, desired: int, current: int, ready: int, panic: bool) -> None:
        self.last_sample = sample
        self.desired = desired
        self.panic = panic
        self._write_status()

    def decided(self, entry: DecisionEntry) -> None:
        if entry.replicas_after > entry.replicas_before:
            self.decisions_by_direction["up"] += 1
        elif entry.replicas_after < entry.replicas_before:
            self.decisions_by_direction["down"] += 1
        else:
            self.decisions_by_direction["event"] += 1

    # ------------------------------------------------------------------ routing

    def _dispatch(self) -> None:
        """Hand free replica slots to the oldest waiting requests."""
        while self.waiters:
            replica = self.replicas.pick()
            if replica is None:
                return
            future = self.waiters.popleft()
            if future.done():
                continue
            replica.outstanding += 1
            future.set_result(replica)

    async def acquire(self) -> Replica:
        if not self.waiters:
            replica = self.replicas.pick()
            if replica is not None:
                replica.outstanding += 1
                return replica
        future: asyncio.Future[Replica] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        await asyncio.wait({future}, timeout=self.queue_timeout_s)
        if future.done():
            return future.result()
        future.cancel()
        with contextlib.suppress(ValueError):
            self.waiters.remove(future)
        raise Unrouted(f"no replica of API service {self.spec.name!r} took the request within "
                       f"{self.queue_timeout_s:g} s")

    async def forward(self, scope: Scope, body: bytes) -> httpx.Response:
        """Send the request to a replica; refused or closed before a response, it is retried once."""
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        for attempt in (1, 2):
            replica = await self.acquire()
            self._touch()
            self.in_service += 1
            try:
                return await replica.client.request(scope["method"], url, content=body, headers=headers)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                # refused, or closed before any response: the replica did not answer; try once more
                if attempt == 2:
                    raise
            finally:
                self._touch()
                self.in_service -= 1
                self.replicas.release(replica)
        raise AssertionError("unreachable")  # pragma: no cover

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - websockets are not served
            return
        path = scope["path"]
        if path in LOCAL_PATHS:
            status, body, ctype = self._local(path)
            await _respond(send, status, [(b"content-type", ctype)], body)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _respond(send, 413, [(b"content-type", b"application/json")], _error(
                    "PayloadTooLarge", f"the body is over the limit of {self.max_body} bytes"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        self._touch()
        self.arrivals += 1
        self.in_flight += 1
        try:
            response = await self.forward(scope, b"".join(chunks))
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                       if k.lower().encode() not in HOP_BY_HOP]
            status, content = response.status_code, response.content
        except Unrouted as err:
            self.failures += 1
            status, headers, content = 503, [(b"content-type", b"application/json")], _error("Unavailable", str(err))
        except httpx.HTTPError as err:
            self.failures += 1
            log.error("router: a replica failed to answer: %s", err)
            status, headers, content = 502, [(b"content-type", b"application/json")], _error(
                "BadGateway", "a replica failed to answer; retry")
        finally:
            self._touch()
            self.in_flight -= 1
            self.completions += 1
        await _respond(send, status, headers, content)

    # ------------------------------------------------------------------ local routes

    def status(self, limit: int = 20) -> dict[str, Any]:
        sample = self.last_sample
        return {
            "service": self.spec.name, "url": f"http://127.0.0.1:{self.port}", "pid": os.getpid(),
            "updated": time.time(), "metric": self.auto.metric, "target": self.auto.target,
            "min_replicas": self.auto.min_replicas, "max_replicas": self.auto.max_replicas,
            "desired": self.desired, "current": self.replicas.current, "ready": self.replicas.ready,
            "draining": self.replicas.draining, "standby": self.replicas.standing_by, "panic": self.panic,
            "startup_s": round(self.replicas.startup_s, 3),
            "concurrency_per_replica": self.concurrency, "in_flight": self.in_flight, "in_service": self.in_service,
            "queued": len(self.waiters), "arrivals": self.arrivals, "completions": self.completions,
            "failures": self.failures, "evaluations": self.controller.evaluations,
            "last_reason": self.controller.last_reason,
            "last_sample": None if sample is None else {
                "in_flight": round(sample.in_flight, 3), "rps": round(sample.rps, 3),
                "in_service": round(sample.in_service, 3), "completed_rps": round(sample.completed_rps, 3)},
            "replicas": self.replicas.describe(),
            "decisions": [json.loads(d.to_json()) for d in self.controller.recent(limit)],
        }

    def _local(self, path: str) -> tuple[int, bytes, bytes]:
        if path == NODE_PATH:
            info = self.recorder.info() if self.recorder is not None else {
                "service": self.spec.name, "pid": os.getpid(), "mode": "autoscaled", "reload": None}
            return 200, json.dumps(info).encode(), b"application/json"
        if path == "/healthz":
            return 200, b'{"status":"ok"}', b"application/json"
        if path == "/readyz":
            ready = self.replicas.ready > 0
            return (200 if ready else 503), json.dumps({"ready": ready}).encode(), b"application/json"
        if path == "/metrics":
            from tideflow.serving.metrics import render_router_metrics

            return 200, render_router_metrics(self), b"text/plain; version=0.0.4; charset=utf-8"
        return 200, json.dumps(self.status()).encode(), b"application/json"

    def _write_status(self) -> None:
        path = self.dir / "status.json"
        with contextlib.suppress(OSError):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status(limit=0)))
            tmp.replace(path)

    # ------------------------------------------------------------------ life cycle

    async def start(self, ready_timeout_s: float = 120.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        initial = max(self.auto.min_replicas, 1) if not self.auto.scale_to_zero.enabled else self.auto.min_replicas
        self.desired = initial
        self.replicas.resize(initial)
        if initial and not await self.replicas.wait_ready(1, ready_timeout_s):
            raise RuntimeError(f"no replica of API service {self.spec.name!r} became ready in "
                               f"{ready_timeout_s:g} s; see {self.dir / 'replicas.log'}")
        self._stop.clear()
        self._task = asyncio.ensure_future(self.controller.run(self._stop))
        self._write_status()
        if self.recorder is not None:
            self._reloads = ReloadLoop(self.reload, self.recorder)
            self._reloads.start()

    async def reload(self) -> tuple[str, str]:
        """Roll in replicas of what ``source_root`` holds now; returns (the root now served, a sentence)."""
        root = Path(os.path.realpath(self.source_root))
        spec = load_service(root, self.spec.name)
        if spec.autoscaling is None:
            raise ValueError(f"API service {spec.name!r} no longer has an autoscaling: section: restart the node "
                             "to serve it as one process")
        generation = await self.replicas.roll(root)
        self.root = root
        self.spec = spec
        self.max_body = spec.limits.max_body_bytes
        self.queue_timeout_s = max(e.timeout_s for e in spec.endpoints)
        note = "" if spec.autoscaling == self.auto else "; changes to autoscaling: take effect at the next restart"
        return str(root), f"serving {root} with replica generation {generation}{note}"

    async def close(self) -> None:
        if self._reloads is not None:
            await self._reloads.stop()
            self._reloads = None
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await self.replicas.close()
        self._write_status()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as err:
                    await self.replicas.close()
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message}}).encode()


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_autoscaled(project_root: str | Path, service: str, *, port: int = 8080, standby: int = 1,
                     record: Path | None = None) -> None:
    """Run the router (and through it the replicas and the controller) on 127.0.0.1:``port`` until interrupted.

    ``record``: write the node record there and reload on SIGHUP (``serving.noderecord``)."""
    import uvicorn

    source = Path(project_root).absolute()
    root = Path(os.path.realpath(source))
    spec = load_service(root, service)
    recorder = None
    if record is not None:
        recorder = NodeRecorder(Path(record), spec.name, f"http://127.0.0.1:{port}", "autoscaled", source, str(root))
    router = Router(root, spec, port=port, standby=standby, source_root=source, recorder=recorder)
    config = uvicorn.Config(router, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=30,
                            timeout_keep_alive=KEEP_ALIVE_S)
    uvicorn.Server(config).run()

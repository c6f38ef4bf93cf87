"""Replica processes of a local API node: each one a plain API node (``serving.app``) on a 127.0.0.1 port.

``ReplicaSet`` is the local ``ReplicaActuator`` of the autoscaling controller. ``set_replicas(n)``
starts processes (a replica takes traffic once its ``/readyz`` answers 200, i.e. its models are
loaded) or makes surplus ones leave gracefully: a leaving replica is first taken out of the router's
choice, finishes the requests it already holds, and only then gets SIGTERM (and SIGKILL if it hangs);
starting replicas leave before ready ones, then the ones holding the fewest requests. A replica that
dies unexpectedly is replaced. Processes are only ever stopped by their own PID.

Warm standby: ``standby`` extra replicas are kept started (models loaded) but out of the router's
choice. Scaling up promotes them at once (a cold replica process takes seconds: a Python interpreter,
the imports, a worker process loading the model) and starts replacements in the background; scaling
down demotes a leaving replica to standby when the standby pool is short (it finishes what it holds,
takes nothing new), and stops the rest.

Reload (``roll``): a new generation of replicas starts from the new project root, out of the router's
choice; once every one of them is ready they take the traffic and the old generation leaves as above
(finishing what it holds). If a new replica fails to start, the new generation is stopped and the old
one keeps serving. While a generation is rolling in, scaling still starts replicas of the old one.

Run one replica by hand: ``python -m tideflow.serving.replicas PROJECT_ROOT SERVICE PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

log = logging.getLogger("tideflow.serving")

READY_POLL_S = 0.05
STOP_TIMEOUT_S = 30.0
KEEPALIVE_EXPIRY_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(eq=False)
class Replica:
    rid: int
    port: int
    process: subprocess.Popen[bytes]
    client: httpx.AsyncClient
    started_s: float
    state: str = "starting"  # starting | ready | draining | stopped
    standby: bool = False  # started (or starting) but out of the router's choice
    generation: int = 1
    incoming: bool = False  # of a generation being rolled in: not routed, not counted, until it takes over
    outstanding: int = 0
    ready_s: float | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> dict[str, object]:
        return {"id": self.rid, "port": self.port, "pid": self.process.pid, "generation": self.generation,
                "state": "incoming" if self.incoming and self.state != "stopped" else
                "standby" if self.standby else self.state,
                "outstanding": self.outstanding,
                "startup_s": None if self.ready_s is None else round(self.ready_s - self.started_s, 3)}


class ReplicaSet:
    """Replica processes of one API service. Create and use it inside the router's event loop.

    ``concurrency`` is how many requests the router sends one replica at a time (the rest wait at the
    router, where any replica that frees up or starts can take them). ``on_change`` is called when
    a replica becomes ready or a slot frees up.
    """

    def __init__(self, project_root: Path, service: str, *, concurrency: int, log_path: Path | None = None,
                 on_change: Callable[[], None] | None = None, start_timeout_s: float = 120.0,
                 request_timeout_s: float = 60.0, standby: int = 0) -> None:
        self.root = project_root
        self.service = service
        self.concurrency = concurrency
        self.on_change = on_change
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.replicas: list[Replica] = []
        self.ids = itertools.count(1)
        self.desired = 0
        self.standby = standby
        self.closing = False
        self.starts: list[float] = []  # measured start-to-ready seconds
        self.replaced = 0
        self.generation = 1
        self.rolling = False
        self._log: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("ab")
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ the actuator interface

    @property
    def current(self) -> int:
        return sum(1 for r in self.replicas if r.state in ("starting", "ready") and not r.standby and not r.incoming)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.replicas if r.state == "ready" and not r.standby and not r.incoming)

    @property
    def standing_by(self) -> int:
        return sum(1 for r in self.replicas if r.state in ("starting", "ready") and r.standby and not r.incoming)

    @property
    def draining(self) -> int:
        return sum(1 for r in self.replicas if r.state == "draining")

    @property
    def startup_s(self) -> float:
        """The median of the last five measured starts (0 before the first)."""
        recent = sorted(self.starts[-5:])
        return recent[len(recent) // 2] if recent else 0.0

    async def set_replicas(self, n: int) -> None:
        self.resize(n)

    def resize(self, n: int) -> None:
        """Start replicas up to ``n`` now; make the surplus leave gracefully."""
        self.desired = max(0, n)
        active = [r for r in self.replicas if r.state in ("starting", "ready") and not r.standby and not r.incoming]
        missing = self.desired - len(active)
        if missing > 0:
            spares = sorted((r for r in self.replicas
                             if r.standby and not r.incoming and r.state in ("starting", "ready")),
                            key=lambda r: (r.state != "ready", r.rid))
            for replica in spares[:missing]:
                replica.standby = False
                missing -= 1
            for _ in range(missing):
                self._start()
        surplus = len(active) - self.desired
        if surplus > 0:
            leaving = sorted(active, key=lambda r: (r.state != "starting", r.outstanding, -r.rid))[:surplus]
            for replica in leaving:
                self.drain(replica)
        self._top_up()
        self._changed()

    def _top_up(self) -> None:
        """Start standby replicas up to ``standby`` (not while closing)."""
        for _ in range(self.standby - self.standing_by if not self.closing and not self.rolling else 0):
            self._start(standby=True)

    # ------------------------------------------------------------------ routing support

    def pick(self) -> Replica | None:
        """The ready replica with the fewest outstanding requests and a free slot (None: all busy)."""
        best: Replica | None = None
        for r in self.replicas:
            if r.state == "ready" and not r.standby and not r.incoming and r.outstanding < self.concurrency and (
                    best is None or r.outstanding < best.outstanding):
                best = r
        return best

    def release(self, replica: Replica) -> None:
        """A request sent to ``replica`` is answered (or failed)."""
        replica.outstanding -= 1
        if replica.state == "draining" and replica.outstanding == 0:
            self._stop(replica)
        elif self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ processes

    def _start(self, *, standby: bool = False, root: Path | None = None, incoming: bool = False) -> Replica:
        port = free_port()
        rid = next(self.ids)
        process = subprocess.Popen(
            [sys.executable, "-m", "tideflow.serving.replicas", str(root or self.root), self.service, str(port)],
            stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # idle connections expire well before the replica's server closes them (uvicorn: 5 s), so a request
        # never goes out on a connection the replica is closing
        limits = httpx.Limits(max_connections=self.concurrency + 4, max_keepalive_connections=self.concurrency + 4,
                              keepalive_expiry=KEEPALIVE_EXPIRY_S)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                   timeout=httpx.Timeout(self.request_timeout_s, connect=5.0), trust_env=False)
        replica = Replica(rid, port, process, client, time.monotonic(), standby=standby,
                          generation=self.generation + (1 if incoming else 0), incoming=incoming)
        self.replicas.append(replica)
        self._spawn(self._watch(replica))
        log.info("replica %d starting on port %d (pid %d)%s", rid, port, process.pid,
                 " as standby" if standby else " (new generation)" if incoming else "")
        return replica

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, replica: Replica) -> None:
        """Poll ``/readyz`` until the replica is ready, then watch for an unexpected exit."""
        deadline = replica.started_s + self.start_timeout_s
        while replica.state == "starting":
            if replica.process.poll() is not None or time.monotonic() > deadline:
                log.error("replica %d did not become ready (exit code %s)", replica.rid, replica.process.returncode)
                await self._gone(replica, replace=not self.closing)
                return
            with contextlib.suppress(httpx.HTTPError):
                response = await replica.client.get("/readyz", timeout=1.0)
                if response.status_code == 200 and replica.state == "starting":
                    replica.state = "ready"
                    replica.ready_s = time.monotonic()
                    self.starts.append(replica.ready_s - replica.started_s)
                    log.info("replica %d ready in %.2f s", replica.rid, replica.ready_s - replica.started_s)
                    self._changed()
                    break
            await asyncio.sleep(READY_POLL_S)
        while replica.state in ("ready", "draining"):
            if replica.process.poll() is not None:
                log.error("replica %d (pid %d) exited with %s", replica.rid, replica.process.pid,
                          replica.process.returncode)
                await self._gone(replica, replace=replica.state == "ready" and not self.closing)
                return
            await asyncio.sleep(0.5)

    def drain(self, replica: Replica) -> None:
        """Take ``replica`` out of the router's choice: to standby when the pool is short, else stop it once
        it has answered what it holds."""
        if not self.closing and not replica.standby and replica.state in ("starting", "ready") \
                and self.standing_by < self.standby:
            replica.standby = True
            self._changed()
            return
        if replica.state == "starting":
            replica.state = "draining"
            self._stop(replica)
            return
        if replica.state != "ready":
            return
        replica.state = "draining"
        if replica.outstanding == 0:
            self._stop(replica)
        self._changed()

    def _stop(self, replica: Replica) -> None:
        if replica.state == "stopped":
            return
        replica.state = "stopped"
        self._spawn(self._terminate(replica))

    async def _terminate(self, replica: Replica) -> None:
        if replica.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.process.pid, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, replica.process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(replica.process.pid, signal.SIGKILL)
                await loop.run_in_executor(None, replica.process.wait, 10.0)
        await self._gone(replica, replace=False)

    async def _gone(self, replica: Replica, *, replace: bool) -> None:
        replace = replace and not replica.incoming  # a failed new generation is the roll's to handle
        replica.state = "stopped"
        if replica in self.replicas:
            self.replicas.remove(replica)
        with contextlib.suppress(Exception):
            await replica.client.aclose()
        if replica.process.poll() is None:  # gave up waiting for it to start: stop it by its PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.process.pid, signal.SIGKILL)
        replica.exited.set()
        if replace and self.current < self.desired:
            self.replaced += 1
            self._start()
        elif replace:
            self._top_up()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ reload

    async def roll(self, root: Path, *, timeout_s: float | None = None) -> int:
        """Replace every replica by one started from ``root`` without dropping a request; returns the new
        generation. Raises ``RuntimeError`` (the old generation keeps serving) if the new one does not start."""
        if self.rolling:
            raise RuntimeError("a reload is already rolling in")
        self.rolling = True
        try:
            count = max(self.current, 1)
            incoming = [self._start(root=root, incoming=True) for _ in range(count)]
            deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
            try:
                while not all(r.state == "ready" for r in incoming):
                    failed = [r for r in incoming if r.state == "stopped"]
                    if failed:
                        raise RuntimeError(f"replica {failed[0].rid} of the new generation exited before it was ready "
                                           f"(exit code {failed[0].process.returncode}); see the replica log")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the new generation was not ready within "
                                           f"{timeout_s or self.start_timeout_s:g} s")
                    await asyncio.sleep(READY_POLL_S)
            except BaseException:
                for r in incoming:
                    self._stop(r)
                raise
            old = [r for r in self.replicas if not r.incoming and r.state != "stopped"]
            self.root = root
            self.generation += 1
            for r in incoming:
                r.incoming = False
            for r in old:
                self._retire(r)
        finally:
            self.rolling = False
        self.resize(self.desired)  # back to the desired count, standby included, from the new root
        log.info("generation %d serves (%d replicas); %d of the previous generation leaving", self.generation,
                 len(incoming), len(old))
        return self.generation

    def _retire(self, replica: Replica) -> None:
        """Take ``replica`` out for good: it finishes the requests it holds, then stops."""
        replica.standby = False
        if replica.state == "starting" or (replica.state == "ready" and replica.outstanding == 0):
            replica.state = "draining"
            self._stop(replica)
        elif replica.state == "ready":
            replica.state = "draining"

    async def wait_ready(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.ready < n and time.monotonic() < deadline:
            await asyncio.sleep(READY_POLL_S)
        return self.ready >= n

    async def close(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Let every replica leave gracefully (in-flight requests finish), then make sure all are gone."""
        self.closing = True
        self.desired = 0
        replicas = list(self.replicas)
        for r in replicas:
            self.drain(r)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(r.exited.wait() for r in replicas)), timeout_s)
        for r in replicas:
            if r.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(r.process.pid, signal.SIGKILL)
                r.process.wait(10)
        if self._log is not None:
            self._log.close()

    def describe(self) -> list[dict[str, object]]:
        return [r.describe() for r in self.replicas]


def main(argv: list[str]) -> None:  # pragma: no cover - runs in the replica process
    from tideflow.serving.app import serve

    root, service, port = argv
    serve(root, service, port=int(port))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])


class PlaneWorkers:
    """The share controller's ``WorkerActuator`` over one process's ``DataPlane``: its pooled endpoints
    (``workers`` >= 1) share the sum of their configured workers; ``resize`` drains leaving workers."""

    def __init__(self, plane: Any) -> None:
        from tideflow.serving.workers import WorkerPool

        self.plane = plane
        self.names = [name for name, state in plane.endpoints.items()
                      if all(isinstance(vs.pool, WorkerPool) for vs in state.versions.values())]
        self._budget = sum(self.workers().values())

    @property
    def budget_workers(self) -> int:
        return self._budget

    def read_pipelines(self) -> list[Any]:
        from tideflow.autoscaling.controller_share import PipelineCounters

        stats = self.plane.stats()
        return [PipelineCounters(n, sum(s.batches for s in stats[n].values()), sum(s.busy_s for s in stats[n].values()))
                for n in self.names]

    def workers(self) -> dict[str, int]:
        stats = self.plane.stats()
        return {n: max(s.target for s in stats[n].values()) for n in self.names}

    def resize(self, pipeline: str, workers: int) -> None:
        self.plane.resize(pipeline, max(1, workers))


def share_controller(plane: Any, spec: Any) -> Any:
    """A ``ShareController`` for the node when its service autoscales and has two or more pooled endpoints."""
    from tideflow.autoscaling.controller_share import ShareController
    from tideflow.autoscaling.share import SharePolicy

    if spec.autoscaling is None:
        return None
    pools = PlaneWorkers(plane)
    if len(pools.names) < 2:
        return None
    return ShareController(SharePolicy(spec.autoscaling.share), pools, period_s=spec.autoscaling.sync_period_s)

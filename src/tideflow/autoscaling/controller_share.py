"""The share controller: applies the pure share policy to the worker pools of one API node process.

Every ``period_s`` it reads each pipeline's (endpoint's) cumulative scored batches and busy seconds,
turns the differences into ``PipelineLoad`` (arrival rate, mean service time), calls
``SharePolicy(snapshot, state) -> (decision, state)`` and resizes the pools whose worker count
changed (``WorkerActuator.resize``; the API node's ``DataPlane.resize`` drains leaving workers, so no
request is lost). Each change is recorded in a bounded history. Nothing here imports ``serving``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tideflow.autoscaling.share import PipelineLoad, SharePolicy, ShareSnapshot, ShareState

log = logging.getLogger("tideflow.autoscaling")


@dataclass(frozen=True)
class PipelineCounters:
    """Cumulative counters of one pipeline: batches scored and seconds its workers spent scoring."""

    name: str
    batches: int
    busy_s: float


class WorkerActuator(Protocol):
    """The node's pipelines: their counters, their worker counts, and a way to resize them."""

    @property
    def budget_workers(self) -> int: ...

    def read_pipelines(self) -> list[PipelineCounters]: ...

    def workers(self) -> dict[str, int]: ...

    def resize(self, pipeline: str, workers: int) -> None: ...


@dataclass(frozen=True)
class ShareEntry:
    time: float
    workers_before: tuple[tuple[str, int], ...]
    workers_after: tuple[tuple[str, int], ...]
    ideal: tuple[tuple[str, float], ...]
    reason: str


class ShareController:
    """Moves a node's fixed worker budget between its pipelines by their offered load."""

    def __init__(self, policy: SharePolicy, actuator: WorkerActuator, *, period_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 history_limit: int = 200) -> None:
        self.policy = policy
        self.actuator = actuator
        self.period_s = period_s
        self.clock = clock
        self.wall = wall
        self.state = ShareState(workers=tuple(actuator.workers().items()))
        self.history: deque[ShareEntry] = deque(maxlen=history_limit)
        self.moves = 0
        self._prev: tuple[float, dict[str, PipelineCounters]] | None = None
        self._service_s: dict[str, float] = {}

    def loads(self) -> tuple[float, tuple[PipelineLoad, ...]] | None:
        now = self.clock()
        cur = {p.name: p for p in self.actuator.read_pipelines()}
        prev, self._prev = self._prev, (now, cur)
        if prev is None or now <= prev[0]:
            return None
        dt = now - prev[0]
        out = []
        for name, c in cur.items():
            old = prev[1].get(name, PipelineCounters(name, 0, 0.0))
            batches, busy = c.batches - old.batches, c.busy_s - old.busy_s
            if batches > 0:
                self._service_s[name] = busy / batches
            out.append(PipelineLoad(name, batches / dt, self._service_s.get(name, 0.0)))
        return now, tuple(out)

    def step(self) -> ShareEntry | None:
        loads = self.loads()
        if loads is None:
            return None
        now, pipelines = loads
        before = self.actuator.workers()
        decision, self.state = self.policy(ShareSnapshot(now, self.actuator.budget_workers, pipelines), self.state)
        after = decision.as_dict()
        changed = {n: w for n, w in after.items() if before.get(n) != w}
        if not changed:
            return None
        # shrink first, then grow: the node never runs more than its budget of workers
        for name in sorted(changed, key=lambda n: changed[n] - before.get(n, 0)):
            self.actuator.resize(name, changed[name])
        self.moves += len(decision.moves)
        entry = ShareEntry(self.wall(), tuple(before.items()), decision.workers, decision.ideal, decision.reason)
        self.history.append(entry)
        log.info("share: %s -> %s (%s)", before, after, decision.reason)
        return entry

    async def run(self, stop: asyncio.Event) -> None:
        self.loads()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.period_s)
            if stop.is_set():
                return
            try:
                self.step()
            except Exception:
                log.exception("share controller: the period failed; retrying next period")

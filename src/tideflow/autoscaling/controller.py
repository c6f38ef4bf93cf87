"""The autoscaling controller: the one place that touches clocks, metrics and processes (house style 5).

Every ``sync_period_s`` the controller

1. reads the service's own cumulative counters (``MetricsSource.read() -> Counters``: arrivals,
   completions, and the time integrals of requests in flight and in service),
2. turns the difference since the last read into a frozen ``MetricSample`` (means over the interval,
   not an instant, so one burst between two reads is not missed),
3. builds a ``ReplicaSnapshot`` (samples of the last window, current and ready replicas, measured
   replica start time) and calls the pure policy: ``policy(snapshot, state) -> (decision, state)``,
4. applies the decision through a ``ReplicaActuator`` (local replica processes, or anything else that
   can set a replica count), and
5. records it: a ``DecisionEntry`` (time, metric, observed value, replicas before/after, reason,
   event) in a bounded in-memory history and, optionally, a JSON-lines file (``DecisionLog``).

A *decision* is recorded when the replica count changes or the policy reports an event (panic
entry/exit, scale to zero, cold start); the evaluations in between are counted, not logged, so the
file grows with changes, not with time. Nothing here imports ``serving`` or ``ray``: the API node
implements the two protocols.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from tideflow.autoscaling.snapshot import AnyPolicy, MetricSample, ReplicaSnapshot
from tideflow.autoscaling.specs import AutoscalingSpec, MetricName

log = logging.getLogger("tideflow.autoscaling")

#: Decisions kept in memory (``tide api status`` and ``/v1/autoscaling`` show the newest).
HISTORY_LIMIT = 1000
#: The decision log is rotated (``decisions.jsonl`` -> ``decisions.jsonl.1``) past this size.
LOG_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Counters:
    """Cumulative counters of a service read at one instant ``time_s`` (a monotonic clock).

    ``in_flight_area`` / ``in_service_area`` / ``busy_area`` are time integrals (request-seconds,
    replica-seconds) maintained by the source at every change, so their difference over an interval
    divided by its length is the exact mean over that interval.
    """

    time_s: float
    arrivals: int
    completions: int
    in_flight: int
    in_service: int
    in_flight_area: float
    in_service_area: float
    busy_area: float
    ready_replicas: int


class MetricsSource(Protocol):
    """Where the controller reads the service's own counters (the router of the local API node)."""

    def read(self) -> Counters: ...


class ReplicaActuator(Protocol):
    """What applies a replica count. ``current`` counts starting and ready replicas (not leaving ones)."""

    @property
    def current(self) -> int: ...

    @property
    def ready(self) -> int: ...

    @property
    def startup_s(self) -> float:
        """Measured seconds from the start of a replica to ready (0 before the first start)."""
        ...

    async def set_replicas(self, n: int) -> None: ...


def sample_between(prev: Counters, cur: Counters) -> MetricSample:
    """The service over ``(prev.time_s, cur.time_s]``: means of the integrals, rates of the counts."""
    dt = cur.time_s - prev.time_s
    if dt <= 0:
        return MetricSample(cur.time_s, float(cur.in_flight), 0.0, 0.0, cur.ready_replicas,
                            in_service=float(cur.in_service), completed_rps=0.0)
    return MetricSample(
        time_s=cur.time_s,
        in_flight=max(0.0, (cur.in_flight_area - prev.in_flight_area) / dt),
        rps=max(0, cur.arrivals - prev.arrivals) / dt,
        busy=max(0.0, (cur.busy_area - prev.busy_area) / dt),
        ready_replicas=cur.ready_replicas,
        in_service=max(0.0, (cur.in_service_area - prev.in_service_area) / dt),
        completed_rps=max(0, cur.completions - prev.completions) / dt,
    )


@dataclass(frozen=True)
class DecisionEntry:
    """One recorded decision. ``time`` is wall-clock (epoch seconds), ``elapsed_s`` since the controller began."""

    time: float
    elapsed_s: float
    policy: str
    metric: str
    value: float  # the metric's total over the service, mean of the last sample interval
    observed: float | None  # per ready replica, over the policy's window
    replicas_before: int
    replicas_after: int
    ready: int
    reason: str
    event: str | None = None
    panic: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> DecisionEntry:
        data = json.loads(line)
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


class DecisionLog:
    """Append-only JSON lines of decisions, rotated once past ``max_bytes`` (one ``.1`` file kept)."""

    def __init__(self, path: Path, *, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, entry: DecisionEntry) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            with self.path.open("a", encoding="utf-8") as f:
                f.write(entry.to_json() + "\n")
        except OSError as err:  # a full disk must not stop the autoscaler
            log.warning("cannot append to the decision log %s: %s", self.path, err)


def read_decisions(path: Path, limit: int = 20) -> list[DecisionEntry]:
    """The newest ``limit`` decisions of a decision log (oldest first); [] when there is none."""
    if not path.is_file():
        return []
    lines: deque[str] = deque(maxlen=limit)
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line)
    out = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError):
            out.append(DecisionEntry.from_json(line))
    return out


class ControllerObserver(Protocol):
    """Receives every evaluation (for gauges) and every recorded decision (for counters)."""

    def evaluated(self, sample: MetricSample, desired: int, current: int, ready: int, panic: bool) -> None: ...

    def decided(self, entry: DecisionEntry) -> None: ...


class Controller:
    """Reads counters, calls the pure replica policy, applies and records its decisions.

    ``step()`` is one sync period (tests call it with a fake clock); ``run(stop)`` loops until ``stop``
    is set. ``sample_window_s`` bounds the samples handed to the policy (its longest window).
    """

    def __init__(self, policy: AnyPolicy, source: MetricsSource, actuator: ReplicaActuator, *,
                 metric: MetricName, sample_window_s: float, log_file: DecisionLog | None = None,
                 observer: ControllerObserver | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, history_limit: int = HISTORY_LIMIT) -> None:
        self.policy = policy
        self.source = source
        self.actuator = actuator
        self.metric = metric
        self.sample_window_s = sample_window_s
        self.log_file = log_file
        self.observer = observer
        self.clock = clock
        self.wall = wall
        self.state: Any = policy.initial_state()
        self.samples: deque[MetricSample] = deque()
        self.history: deque[DecisionEntry] = deque(maxlen=history_limit)
        self.evaluations = 0
        self.last_reason = "not evaluated yet"
        self.started_s = clock()
        self._prev: Counters | None = None

    @classmethod
    def for_spec(cls, spec: AutoscalingSpec, policy: AnyPolicy, source: MetricsSource, actuator: ReplicaActuator,
                 **kwargs: Any) -> Controller:
        """A controller that keeps the samples the spec's windows (and scale-to-zero idle time) need."""
        window = spec.metric_window_s + 2 * spec.sync_period_s
        if spec.scale_to_zero.enabled:
            window = max(window, spec.scale_to_zero.idle_s + 2 * spec.sync_period_s)
        return cls(policy, source, actuator, metric=spec.metric, sample_window_s=window, **kwargs)

    def read_sample(self) -> MetricSample | None:
        cur = self.source.read()
        prev, self._prev = self._prev, cur
        if prev is None:
            return None
        sample = sample_between(prev, cur)
        self.samples.append(sample)
        while self.samples and self.samples[0].time_s <= sample.time_s - self.sample_window_s:
            self.samples.popleft()
        return sample

    async def step(self) -> DecisionEntry | None:
        """One sync period: sample, decide, apply; the recorded entry when the decision is recorded."""
        sample = self.read_sample()
        if sample is None:
            return None
        before, ready = self.actuator.current, self.actuator.ready
        snapshot = ReplicaSnapshot(now_s=sample.time_s, current_replicas=before, ready_replicas=ready,
                                   samples=tuple(self.samples), replica_startup_s=self.actuator.startup_s)
        decision, self.state = self.policy(snapshot, self.state)
        self.evaluations += 1
        self.last_reason = decision.reason
        desired = decision.desired_replicas
        if self.observer is not None:
            self.observer.evaluated(sample, desired, before, ready, decision.panic)
        if desired == before and decision.event is None:
            return None
        if desired != before:
            await self.actuator.set_replicas(desired)
        entry = DecisionEntry(time=self.wall(), elapsed_s=round(sample.time_s - self.started_s, 3),
                              policy=self.policy.name, metric=self.metric, value=round(sample.value(self.metric), 4),
                              observed=None if decision.observed is None else round(decision.observed, 4),
                              replicas_before=before, replicas_after=desired, ready=ready, reason=decision.reason,
                              event=decision.event, panic=decision.panic)
        self.history.append(entry)
        if self.log_file is not None:
            self.log_file.append(entry)
        if self.observer is not None:
            self.observer.decided(entry)
        log.info("autoscaling: %d -> %d replicas (%s)", before, desired, decision.reason)
        return entry

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every ``sync_period_s`` until ``stop`` is set; an error in one period is logged, not fatal."""
        period = self.policy.sync_period_s
        self.read_sample()  # the first read only sets the baseline
        next_at = self.clock() + period
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - self.clock()))
            if stop.is_set():
                return
            next_at += period
            if next_at < self.clock():  # fell behind (a loaded machine): do not burst to catch up
                next_at = self.clock() + period
            try:
                await self.step()
            except Exception:
                log.exception("autoscaling controller: the period failed; retrying next period")

    def recent(self, limit: int = 20) -> list[DecisionEntry]:
        return list(self.history)[-limit:]

"""What a replica policy sees and what it answers: frozen values, no clocks, no processes.

The controller (or the trace replay) builds a ``ReplicaSnapshot`` every sync period from the
service's own counters and calls ``policy(snapshot, state) -> (Decision, state)``. Metric samples
hold *totals* over the service (not per-replica averages), so a policy computes
``desired = ceil(current x observed / target)`` as ``ceil(total / target)`` without being misled by
replicas that are still starting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tideflow.autoscaling.specs import MetricName

S = TypeVar("S")


@dataclass(frozen=True)
class MetricSample:
    """The service over one sample interval ending at ``time_s``.

    ``in_flight``: requests accepted and not yet answered (queued at the router + being served);
    ``in_service``: the part being served. ``rps``: requests that arrived per second;
    ``completed_rps``: requests answered per second. ``busy``: replica-equivalents of CPU in use
    (the sum of the replicas' utilizations). ``ready_replicas``: replicas serving in the interval.
    """

    time_s: float
    in_flight: float
    rps: float
    busy: float
    ready_replicas: int
    in_service: float = 0.0
    completed_rps: float = 0.0

    def value(self, metric: MetricName) -> float:
        if metric == "in_flight":
            return self.in_flight
        if metric == "rps":
            return self.rps
        return self.busy


@dataclass(frozen=True)
class ReplicaSnapshot:
    """Everything a replica policy may use. ``current_replicas`` counts ready and starting replicas."""

    now_s: float
    current_replicas: int
    ready_replicas: int
    samples: tuple[MetricSample, ...]  # oldest first
    replica_startup_s: float = 0.0  # measured time for a new replica to become ready

    def window_mean(self, metric: MetricName, window_s: float) -> float | None:
        """The mean total of ``metric`` over samples in ``(now - window_s, now]``; None without samples."""
        start = self.now_s - window_s
        values = [s.value(metric) for s in self.samples if start < s.time_s <= self.now_s]
        return sum(values) / len(values) if values else None

    def demand_mean(self, window_s: float, drain_s: float) -> float | None:
        """The in-flight mean over ``window_s`` with each backlogged sample replaced by what it needs.

        A sample is backlogged when more requests wait than there are ready replicas; its in-flight
        count then grows with the queue, not with the load, and would ask for far too many replicas.
        It counts instead as ``rps x service + queued x service / drain_s``: the arrivals, plus the
        backlog drained within ``drain_s`` (service time measured as in_service / completed_rps).
        Without a backlog this is the plain in-flight mean. None without samples.
        """
        start = self.now_s - window_s
        values = []
        for s in self.samples:
            if not start < s.time_s <= self.now_s:
                continue
            queued = s.in_flight - s.in_service
            if queued > max(s.ready_replicas, 1) and s.completed_rps > 0:
                service_s = s.in_service / s.completed_rps
                values.append(s.rps * service_s + queued * service_s / drain_s)
            else:
                values.append(s.in_flight)
        return sum(values) / len(values) if values else None

    def idle_for_s(self) -> float:
        """Seconds since the last sample with a request (arrivals or in flight); 0 when busy now."""
        last_busy: float | None = None
        for s in reversed(self.samples):
            if s.rps > 0 or s.in_flight > 0:
                last_busy = s.time_s
                break
        if last_busy is None:
            return self.now_s - self.samples[0].time_s if self.samples else 0.0
        return self.now_s - last_busy


@dataclass(frozen=True)
class Decision:
    """The replica count the policy wants and why. ``event`` marks a mode change (``panic_enter``,
    ``panic_exit``, ``scale_to_zero``, ``cold_start``)."""

    desired_replicas: int
    reason: str
    observed: float | None = None  # the metric per ready replica behind the decision
    panic: bool = False
    event: str | None = None


class ReplicaPolicy(Protocol[S]):
    """A pure replica policy: the replay and the controller call it every ``sync_period_s``."""

    @property
    def name(self) -> str: ...

    @property
    def sync_period_s(self) -> float: ...

    def initial_state(self) -> S: ...

    def __call__(self, snapshot: ReplicaSnapshot, state: S, /) -> tuple[Decision, S]: ...


AnyPolicy = ReplicaPolicy[Any]


def ceil_replicas(total: float, target: float) -> int:
    """ceil(total / target), immune to float noise (0.7 * 3 / 0.7 is 3, not 4)."""
    return max(0, math.ceil(total / target - 1e-9))


def stabilize(history: tuple[tuple[float, int], ...], now_s: float, current: int, up_window_s: float,
              down_window_s: float) -> int:
    """The Kubernetes HPA rule: go up to the lowest recommendation of the up window, down to the
    highest of the down window; ``history`` holds (time, recommendation) including the newest."""
    up = min((r for t, r in history if t > now_s - up_window_s or t == now_s), default=current)
    down = max((r for t, r in history if t > now_s - down_window_s or t == now_s), default=current)
    desired = current
    if desired < up:
        desired = up
    if desired > down:
        desired = down
    return desired


def replicas_at(history: tuple[tuple[float, int], ...], time_s: float, default: int) -> int:
    """The replica count in force at ``time_s`` from a (time, replicas) history of decisions."""
    value = default
    for t, r in history:
        if t <= time_s:
            value = r
        else:
            break
    return value


def prune(history: tuple[tuple[float, int], ...], now_s: float, keep_s: float) -> tuple[tuple[float, int], ...]:
    """Drop entries older than ``keep_s``, keeping the newest older one (it says what was in force)."""
    old = [i for i, (t, _) in enumerate(history) if t <= now_s - keep_s]
    return history[old[-1]:] if old else history

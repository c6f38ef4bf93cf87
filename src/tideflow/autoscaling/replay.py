"""Trace replay: a policy against a load trace through a queueing model of the service, in 1 s steps.

The simulated service: ``N`` ready replicas, each serving ``replica_concurrency`` requests at a time
(``c = N x concurrency`` servers), behind a router that queues what the replicas cannot take yet.

- **Latency**, per step: while the router has no backlog and utilization ``rho`` is under
  ``RHO_STATIONARY`` (95%), requests see the stationary M/M/c response time (Erlang C wait +
  exponential service; ``tideflow.autoscaling.queueing``). Otherwise the step is *saturated*:
  arrivals join a FIFO fluid backlog served at ``c / service_s`` per second, and a request's latency
  is its wait in the backlog plus the M/M/c response time at 95%. (Near saturation a queue takes
  time to build; the stationary formula at 99% would charge a full queue at once.)
- **Drops**: a request that waits longer than ``timeout_s`` at the router is dropped (counted with
  latency ``timeout_s``), as is one arriving when ``queue_limit`` requests already wait. With zero
  replicas (scale to zero) requests wait for the cold start; they are dropped only past the timeout.
- **Replicas**: a new replica serves ``startup_s`` after the decision (and costs from the decision);
  a removed replica stops taking requests at once and finishes its own (graceful scale-in: nothing
  is dropped); starting replicas are cancelled before ready ones are removed.
- **Metrics** the policy sees, each step: requests in flight (backlog + in service + the stationary
  queue), arrivals per second, busy replica-equivalents (CPU), ready replicas.

The report: replica-seconds (ready + starting), the p99 latency estimate over all requests, the
seconds whose p99 is over the SLO, direction reversals (an increase followed by a decrease or the
reverse) per hour, and dropped requests. The replay is deterministic: same trace, policy and
config, same report.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tideflow.autoscaling.baselines import StaticPolicy
from tideflow.autoscaling.queueing import FloatArray, erlang_c, response_survival
from tideflow.autoscaling.snapshot import AnyPolicy, Decision, MetricSample, ReplicaSnapshot, ceil_replicas
from tideflow.autoscaling.traces import Trace

RHO_STATIONARY = 0.95


@dataclass(frozen=True)
class SimConfig:
    """The simulated service. Defaults: one CPU-bound worker per replica, a replica starts in 3 s
    (a Python process importing its scorer; Ray Serve took ~3.3 s from decision to replica here),
    clients give up after 30 s, the router holds at most 20,000 requests, the SLO is 500 ms p99."""

    dt_s: float = 1.0
    replica_concurrency: int = 1
    startup_s: float = 3.0
    timeout_s: float = 30.0
    queue_limit: int = 20_000
    slo_s: float = 0.5
    history_s: float = 600.0
    initial_replicas: int | None = None  # None: what the first minute's load needs at the target


@dataclass(frozen=True)
class DecisionRecord:
    time_s: float
    replicas_before: int
    replicas_after: int
    reason: str
    event: str | None = None
    observed: float | None = None


@dataclass(frozen=True)
class StepRecord:
    time_s: float
    arrival_rps: float
    ready_replicas: int
    starting_replicas: int
    in_flight: float
    backlog: float
    p99_s: float
    over_slo: bool
    dropped: float


@dataclass(frozen=True)
class ReplayReport:
    policy: str
    trace: str
    duration_s: float
    slo_s: float
    requests: float
    dropped: float
    replica_seconds: float
    max_replicas: int
    p99_s: float
    seconds_over_slo: float
    reversals: int
    decisions: tuple[DecisionRecord, ...]
    steps: tuple[StepRecord, ...] = field(repr=False)

    @property
    def mean_replicas(self) -> float:
        return self.replica_seconds / self.duration_s

    @property
    def fraction_over_slo(self) -> float:
        return self.seconds_over_slo / self.duration_s

    @property
    def reversals_per_hour(self) -> float:
        return self.reversals * 3600.0 / self.duration_s

    @property
    def events(self) -> tuple[DecisionRecord, ...]:
        return tuple(d for d in self.decisions if d.event)

    def replicas_at(self, time_s: float) -> int:
        """Ready + starting replicas during the step at ``time_s``."""
        for step in reversed(self.steps):
            if step.time_s <= time_s:
                return step.ready_replicas + step.starting_replicas
        return self.steps[0].ready_replicas + self.steps[0].starting_replicas


def count_reversals(changes: list[int]) -> int:
    """Direction changes in a sequence of replica deltas (zeros ignored)."""
    signs = [1 if d > 0 else -1 for d in changes if d]
    return sum(1 for a, b in itertools.pairwise(signs) if a != b)


class _Latency:
    """Requests served, as records of (step, weight, fixed wait, M/M/c part); quantiles by bisection."""

    def __init__(self) -> None:
        self.step: list[int] = []
        self.weight: list[float] = []
        self.shift: list[float] = []
        self.wait_p: list[float] = []
        self.theta: list[float] = []
        self.mu: list[float] = []

    def add(self, step: int, weight: float, shift: float, wait_p: float, theta: float, mu: float) -> None:
        if weight > 0:
            self.step.append(step)
            self.weight.append(weight)
            self.shift.append(shift)
            self.wait_p.append(wait_p)
            self.theta.append(theta)
            self.mu.append(mu)

    def arrays(self) -> tuple[Any, ...]:
        return (np.asarray(self.step, dtype=np.int64), np.asarray(self.weight), np.asarray(self.shift),
                np.asarray(self.wait_p), np.asarray(self.theta), np.asarray(self.mu))

    @staticmethod
    def survival(x: FloatArray, shift: FloatArray, wait_p: FloatArray, theta: FloatArray, mu: FloatArray) -> FloatArray:
        y = np.maximum(x - shift, 0.0)
        out: FloatArray = np.where(x < shift, 1.0, response_survival(y, wait_p, theta, mu))
        return out

    def per_step(self, n_steps: int, q: float, slo_s: float) -> tuple[FloatArray, FloatArray]:
        """(p99 per step, P(latency > SLO) per step); NaN / 0 for steps that served nothing."""
        step, w, shift, wait_p, theta, mu = self.arrays()
        total = np.bincount(step, weights=w, minlength=n_steps)
        has = total > 0
        over = np.bincount(step, weights=w * self.survival(np.full(len(w), slo_s), shift, wait_p, theta, mu),
                           minlength=n_steps)
        frac_over = np.where(has, over / np.where(has, total, 1.0), 0.0)
        lo = np.zeros(n_steps)
        hi = np.full(n_steps, 1.0)
        for _ in range(40):  # grow hi until every step's tail is below 1 - q
            tail = np.bincount(step, weights=w * self.survival(hi[step], shift, wait_p, theta, mu), minlength=n_steps)
            short = has & (tail > (1 - q) * total)
            if not short.any():
                break
            hi = np.where(short, hi * 2, hi)
        for _ in range(40):
            mid = (lo + hi) / 2
            tail = np.bincount(step, weights=w * self.survival(mid[step], shift, wait_p, theta, mu),
                               minlength=n_steps)
            above = tail > (1 - q) * total
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        return np.where(has, hi, np.nan), frac_over

    def quantile(self, q: float) -> float:
        _, w, shift, wait_p, theta, mu = self.arrays()
        if not len(w):
            return 0.0
        total = w.sum()

        def tail(x: float) -> float:
            return float((w * self.survival(np.full(len(w), x), shift, wait_p, theta, mu)).sum())

        lo, hi = 0.0, 1.0
        while tail(hi) > (1 - q) * total and hi < 1e6:
            hi *= 2
        for _ in range(50):
            mid = (lo + hi) / 2
            if tail(mid) > (1 - q) * total:
                lo = mid
            else:
                hi = mid
        return hi


def _initial_replicas(trace: Trace, policy: AnyPolicy, config: SimConfig) -> int:
    if config.initial_replicas is not None:
        return config.initial_replicas
    if isinstance(policy, StaticPolicy):
        return policy.replicas
    spec = getattr(policy, "spec", None)
    first = [i for i, t in enumerate(trace.time_s) if t < trace.time_s[0] + 60] or [0]
    offered = sum(trace.arrival_rps[i] * trace.service_s[i] for i in first) / len(first)
    if spec is None:
        return max(1, math.ceil(offered / 0.7))
    total = sum(trace.arrival_rps[i] for i in first) / len(first) if spec.metric == "rps" else offered
    if spec.metric == "cpu":
        total /= config.replica_concurrency
    return min(max(ceil_replicas(total, spec.target), spec.min_replicas, 1), spec.max_replicas)


def replay(trace: Trace, policy: AnyPolicy, config: SimConfig | None = None) -> ReplayReport:
    """Run ``policy`` against ``trace`` through the simulated service; deterministic."""
    cfg = config or SimConfig()
    dt, conc = cfg.dt_s, cfg.replica_concurrency
    n_steps = max(1, math.ceil(trace.duration_s / dt - 1e-9))
    ready = _initial_replicas(trace, policy, cfg)
    starting: list[float] = []  # ready-at times, ascending
    queue: deque[list[float]] = deque()  # [arrival time, requests], FIFO
    backlog = 0.0
    samples: deque[MetricSample] = deque()
    latency = _Latency()
    state = policy.initial_state()
    next_sync = trace.time_s[0] + policy.sync_period_s
    row = 0
    requests = dropped_total = replica_seconds = 0.0
    decisions: list[DecisionRecord] = []
    changes: list[int] = []
    raw_steps: list[tuple[float, float, int, int, float, float, float]] = []
    max_seen = ready
    for k in range(n_steps):
        t = trace.time_s[0] + k * dt
        while row + 1 < len(trace.time_s) and trace.time_s[row + 1] <= t:
            row += 1
        lam, service_s = trace.arrival_rps[row], trace.service_s[row]
        while starting and starting[0] <= t + 1e-9:
            starting.pop(0)
            ready += 1
        servers = ready * conc
        mu = 1.0 / service_s
        arrivals = lam * dt
        requests += arrivals
        dropped = 0.0
        while queue and t - queue[0][0] > cfg.timeout_s:
            _, amount = queue.popleft()
            backlog -= amount
            dropped += amount
            latency.add(k, amount, cfg.timeout_s, 0.0, 1.0, 1e9)
        offered = lam * service_s
        if not queue and servers > 0 and offered < RHO_STATIONARY * servers:
            wait_p = erlang_c(servers, offered)
            latency.add(k, arrivals, 0.0, wait_p, servers * mu - lam, mu)
            rho = offered / servers
            in_flight = offered + wait_p * rho / (1 - rho)
            busy = offered
        else:
            admit = min(arrivals, max(0.0, cfg.queue_limit - backlog))
            dropped += arrivals - admit
            if admit > 0:
                queue.append([t, admit])
                backlog += admit
            capacity = servers * mu * dt
            used = 0.0
            rho_c = min(offered / servers, RHO_STATIONARY) if servers else 0.0
            wait_p = erlang_c(servers, rho_c * servers) if servers else 0.0
            theta = servers * mu * (1 - rho_c) if servers else 1.0
            while queue and used < capacity - 1e-12:
                arrived, amount = queue[0]
                take = min(amount, capacity - used)
                wait = max(0.0, (t - arrived) + (used + take / 2) / (servers * mu) - dt / 2)
                latency.add(k, take, wait, wait_p, theta, mu)
                used += take
                backlog -= take
                if take >= amount - 1e-12:
                    queue.popleft()
                else:
                    queue[0][1] = amount - take
            busy = used * service_s / dt
            in_flight = busy + backlog + (wait_p * rho_c / (1 - rho_c) if servers else 0.0)
        if not queue:
            backlog = 0.0
        dropped_total += dropped
        replica_seconds += (ready + len(starting)) * dt
        raw_steps.append((t, lam, ready, len(starting), in_flight, backlog, dropped))
        samples.append(MetricSample(t, in_flight, lam, busy / conc, ready, in_service=busy,
                                    completed_rps=busy / service_s))
        while samples and samples[0].time_s <= t - cfg.history_s:
            samples.popleft()
        if t + 1e-9 >= next_sync:
            next_sync += policy.sync_period_s
            current = ready + len(starting)
            snap = ReplicaSnapshot(t, current, ready, tuple(samples), cfg.startup_s)
            decision, state = policy(snap, state)
            ready = _apply(decision, current, ready, starting, t + cfg.startup_s)
            after = ready + len(starting)
            max_seen = max(max_seen, after)
            if after != current or decision.event:
                decisions.append(DecisionRecord(t, current, after, decision.reason, decision.event,
                                                decision.observed))
            if after != current:
                changes.append(after - current)
    p99_steps, _ = latency.per_step(n_steps, 0.99, cfg.slo_s)
    steps = tuple(
        StepRecord(t, lam, r, s, f, b, float(p) if not math.isnan(p) else 0.0,
                   bool(not math.isnan(p) and p > cfg.slo_s), d)
        for (t, lam, r, s, f, b, d), p in zip(raw_steps, p99_steps.tolist(), strict=True))
    over = sum(1 for s in steps if s.over_slo) * dt
    return ReplayReport(policy=policy.name, trace=trace.name, duration_s=n_steps * dt, slo_s=cfg.slo_s,
                        requests=requests, dropped=dropped_total, replica_seconds=replica_seconds,
                        max_replicas=max_seen, p99_s=latency.quantile(0.99), seconds_over_slo=over,
                        reversals=count_reversals(changes), decisions=tuple(decisions), steps=steps)


def _apply(decision: Decision, current: int, ready: int, starting: list[float], ready_at: float) -> int:
    """Start or remove replicas to reach the decision; returns the new ready count."""
    desired = max(0, decision.desired_replicas)
    if desired > current:
        starting.extend([ready_at] * (desired - current))
    elif desired < current:
        remove = current - desired
        while remove and starting:
            starting.pop()
            remove -= 1
        ready -= remove
    return ready

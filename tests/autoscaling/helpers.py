"""Drive policies over synthetic metric series and build synthetic traces."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tideflow.autoscaling import Decision, MetricSample, ReplicaSnapshot, Trace


def trace_of(name: str, rate: Callable[[int], float], seconds: int, service_s: float = 0.05) -> Trace:
    """A deterministic trace (no Poisson noise) from a rate function of the second."""
    return Trace(name, tuple(float(t) for t in range(seconds)), tuple(float(rate(t)) for t in range(seconds)),
                 (service_s,) * seconds)


@dataclass(frozen=True)
class Step:
    time_s: float
    before: int
    decision: Decision


def drive(policy: Any, in_flight: Sequence[float], replicas: int, *, startup_s: float = 0.0,
          rps: Sequence[float] | None = None) -> list[Step]:
    """Call ``policy`` every sync period over a per-second series of total in-flight requests.

    New replicas are ready at once (the metric series does not react to them: it is the load).
    """
    samples: list[MetricSample] = []
    state = policy.initial_state()
    steps: list[Step] = []
    next_sync = policy.sync_period_s
    current = replicas
    for t, value in enumerate(in_flight):
        arrivals = rps[t] if rps is not None else value * 20
        samples.append(MetricSample(float(t), value, arrivals, min(value, current), current,
                                    in_service=min(value, current), completed_rps=min(value, current) * 20))
        if t + 1e-9 >= next_sync:
            next_sync += policy.sync_period_s
            snap = ReplicaSnapshot(float(t), current, current, tuple(samples[-600:]), startup_s)
            decision, state = policy(snap, state)
            steps.append(Step(float(t), current, decision))
            current = decision.desired_replicas
    return steps

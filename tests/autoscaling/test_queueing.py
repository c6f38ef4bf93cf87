"""The simulator against M/M/c: closed forms vs an independent discrete-event simulation, and the fluid part."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from tideflow.autoscaling import SimConfig, StaticPolicy, replay
from tideflow.autoscaling.queueing import erlang_c, mean_in_system, mean_response_s, response_quantile_s

from .helpers import trace_of


def simulate_mmc(servers: int, arrival_rps: float, service_s: float, n: int, seed: int) -> list[float]:
    """Response times of ``n`` requests through an FCFS M/M/c queue (discrete events)."""
    rng = random.Random(seed)
    free_at = [0.0] * servers
    heapq.heapify(free_at)
    t = 0.0
    out = []
    for _ in range(n):
        t += rng.expovariate(arrival_rps)
        start = max(t, heapq.heappop(free_at))
        done = start + rng.expovariate(1 / service_s)
        heapq.heappush(free_at, done)
        out.append(done - t)
    return out[n // 10:]  # drop the warm-up


def test_erlang_c_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(10, 7.0) == pytest.approx(0.2217, abs=1e-3)
    assert mean_in_system(1, 14, 0.05) == pytest.approx(0.7 / 0.3)  # M/M/1: rho / (1 - rho)


@pytest.mark.parametrize(("servers", "arrival_rps"), [(4, 60.0), (10, 140.0), (1, 12.0)])
def test_closed_forms_match_a_discrete_event_simulation(servers: int, arrival_rps: float) -> None:
    service_s = 0.05
    times = sorted(simulate_mmc(servers, arrival_rps, service_s, 200_000, seed=servers))
    mean = sum(times) / len(times)
    p99 = times[int(0.99 * len(times))]
    assert mean == pytest.approx(mean_response_s(servers, arrival_rps, service_s), rel=0.05)
    assert p99 == pytest.approx(response_quantile_s(servers, arrival_rps, service_s), rel=0.07)


def test_replay_on_steady_load_reports_the_closed_forms() -> None:
    servers, rate, service_s = 10, 140.0, 0.05
    report = replay(trace_of("steady", lambda t: rate, 600, service_s), StaticPolicy(servers),
                    SimConfig(slo_s=1.0))
    step = report.steps[100]
    assert step.in_flight == pytest.approx(mean_in_system(servers, rate, service_s))
    assert step.in_flight == pytest.approx(rate * mean_response_s(servers, rate, service_s))  # Little's law
    assert report.p99_s == pytest.approx(response_quantile_s(servers, rate, service_s), rel=1e-3)
    assert report.seconds_over_slo == 0 and report.dropped == 0
    assert report.replica_seconds == servers * 600 and report.requests == rate * 600


def test_overload_builds_a_fluid_backlog_that_drains() -> None:
    # 5 replicas serve 100 rps; 150 rps for 20 s builds 50/s of backlog, then 60 rps drains 40/s.
    trace = trace_of("burst", lambda t: 150.0 if 10 <= t < 30 else 60.0, 120)
    report = replay(trace, StaticPolicy(5), SimConfig(slo_s=0.5))
    assert report.steps[29].backlog == pytest.approx(50 * 20, rel=0.02)
    drained = next(s.time_s for s in report.steps[30:] if s.backlog == 0)
    assert drained == pytest.approx(30 + 1000 / 40, abs=2)
    assert report.seconds_over_slo >= 30 and report.dropped == 0
    assert report.p99_s > 10  # the last of the backlog waited ~20 s


def test_timeouts_and_queue_limit_drop_requests() -> None:
    trace = trace_of("flood", lambda t: 200.0, 120)
    report = replay(trace, StaticPolicy(2), SimConfig(timeout_s=10, queue_limit=100_000))
    served_per_s = 2 / 0.05
    assert report.dropped == pytest.approx((200 - served_per_s) * 120 - (200 - served_per_s) * 11, rel=0.1)
    bounded = replay(trace, StaticPolicy(2), SimConfig(timeout_s=1000, queue_limit=500))
    assert max(s.backlog for s in bounded.steps) <= 500 + 1e-6
    assert bounded.dropped == pytest.approx(200 * 120 - 40 * 120 - 500, rel=0.02)


def test_cold_start_from_zero_waits_without_dropping() -> None:
    from tideflow.autoscaling import AutoscalingSpec, TideflowPolicy

    spec = AutoscalingSpec(min_replicas=0, scale_to_zero={"enabled": True, "idle_s": 30})
    trace = trace_of("wake", lambda t: 20.0 if t >= 60 else 0.0, 120)
    report = replay(trace, TideflowPolicy(spec), SimConfig(startup_s=3.0, initial_replicas=0))
    assert report.dropped == 0
    assert any(d.event == "cold_start" for d in report.decisions)
    first = next(s for s in report.steps if s.ready_replicas > 0)
    assert 62 <= first.time_s <= 65 and math.isclose(report.steps[59].ready_replicas, 0)

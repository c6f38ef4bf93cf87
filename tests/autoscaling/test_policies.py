"""The replica policies replay metric series and traces; the assertions are the decisions over time."""

from __future__ import annotations

import itertools
from dataclasses import FrozenInstanceError

import pytest

from tideflow.autoscaling import (
    AutoscalingSpec,
    HpaPolicy,
    KpaPolicy,
    MetricSample,
    ReplicaSnapshot,
    SimConfig,
    StaticPolicy,
    TideflowPolicy,
    replay,
)

from .helpers import drive, trace_of

TARGET = 0.7


def test_no_scale_up_inside_the_tolerance() -> None:
    policy = TideflowPolicy(AutoscalingSpec(max_replicas=50))
    steps = drive(policy, [10 * TARGET * 1.09] * 900, replicas=10)
    assert {s.decision.desired_replicas for s in steps} == {10}
    assert all("within 10%" in s.decision.reason for s in steps[10:])
    # just outside the band: up to ceil(total / target) at once
    steps = drive(policy, [10 * TARGET * 1.15] * 60, replicas=10)
    assert steps[0].decision.desired_replicas == 12


def test_no_scale_down_inside_the_window_then_step_limited() -> None:
    spec = AutoscalingSpec(max_replicas=50)
    load = [20 * TARGET] * 100 + [4 * TARGET] * 800
    steps = drive(TideflowPolicy(spec), load, replicas=20)
    by_time = {s.time_s: s for s in steps}
    assert all(s.decision.desired_replicas == 20 for s in steps if s.time_s < 100 + 300)
    assert "held at 20 by the 300 s stabilization window" in by_time[200].decision.reason
    counts = [s.decision.desired_replicas for s in steps]
    first_down = next(s.time_s for s in steps if s.decision.desired_replicas < 20)
    assert 400 <= first_down <= 402
    # scale-down step: at most 50% (or 1 replica) per 10 s
    for s in steps:
        ten_ago = by_time.get(s.time_s - 10)
        if ten_ago is not None:
            assert s.decision.desired_replicas >= ten_ago.decision.desired_replicas // 2
    assert counts[-1] == 4 and min(counts) == 4


def test_panic_entry_exit_and_never_down_in_panic() -> None:
    spec = AutoscalingSpec(max_replicas=100)
    load = [4 * TARGET] * 100 + [40 * TARGET] * 100 + [4 * TARGET] * 200
    steps = drive(TideflowPolicy(spec), load, replicas=4)
    events = [(s.time_s, s.decision.event) for s in steps if s.decision.event]
    enter = [t for t, e in events if e == "panic_enter"]
    leave = [t for t, e in events if e == "panic_exit"]
    assert len(enter) == 1 and 100 <= enter[0] <= 102
    # panic lasts until the ready replicas caught up, then one metric window without the condition
    assert len(leave) == 1 and enter[0] + spec.metric_window_s <= leave[0] <= enter[0] + spec.metric_window_s + 5
    in_panic = [s for s in steps if s.decision.panic]
    assert all(b.decision.desired_replicas >= a.decision.desired_replicas for a, b in itertools.pairwise(in_panic))
    # reaches what the spike needs within a few seconds of the step
    assert next(s.time_s for s in steps if s.decision.desired_replicas >= 40) <= 104
    # after panic, the 300 s window still holds the capacity (no reversal right after the spike)
    assert all(s.decision.desired_replicas >= 40 for s in steps if 104 <= s.time_s < 200 + 300)


def test_scale_up_step_limit_is_respected() -> None:
    spec = AutoscalingSpec(max_replicas=100)
    steps = drive(TideflowPolicy(spec), [2 * TARGET] * 30 + [80 * TARGET] * 30, replicas=2)
    previous = 2
    for s in steps:
        allowed = max(previous * 2, previous + 4)
        assert s.decision.desired_replicas <= allowed
        previous = s.decision.desired_replicas
    assert [s.decision.desired_replicas for s in steps if 30 <= s.time_s <= 34][:4] == [6, 12, 24, 48]


def test_min_and_max_bounds() -> None:
    spec = AutoscalingSpec(min_replicas=2, max_replicas=6, scale_down_stabilization_s=0)
    assert {s.decision.desired_replicas for s in drive(TideflowPolicy(spec), [0.0] * 120, replicas=4)[5:]} == {2}
    big = drive(TideflowPolicy(spec), [1000.0] * 60, replicas=2)
    assert max(s.decision.desired_replicas for s in big) == 6
    assert "max_replicas 6" in big[-1].decision.reason


def test_scale_to_zero_and_back() -> None:
    spec = AutoscalingSpec(min_replicas=0, scale_to_zero={"enabled": True, "idle_s": 60},
                           scale_down_stabilization_s=30)
    load = [2 * TARGET] * 60 + [0.0] * 200 + [3.0] * 20
    steps = drive(TideflowPolicy(spec), load, replicas=2)
    zero = next(s for s in steps if s.decision.desired_replicas == 0)
    assert zero.decision.event == "scale_to_zero" and 59 + 60 <= zero.time_s <= 59 + 62
    assert all(s.decision.desired_replicas >= 1 for s in steps if s.time_s < 119)
    cold = next(s for s in steps if s.time_s >= 260)
    assert cold.decision.event == "cold_start" and cold.decision.desired_replicas >= 1
    # a cold start over the budget keeps one replica
    slow = drive(TideflowPolicy(spec), load[:260], replicas=2, startup_s=8.0)
    assert min(s.decision.desired_replicas for s in slow) == 1
    assert "over the 5 s budget" in slow[-1].decision.reason


def test_policy_is_pure() -> None:
    policy = TideflowPolicy(AutoscalingSpec(max_replicas=50))
    samples = tuple(MetricSample(float(t), 30.0, 600.0, 10.0, 10, 10.0, 200.0) for t in range(20))
    snap = ReplicaSnapshot(19.0, 10, 10, samples)
    state = policy.initial_state()
    first = policy(snap, state)
    assert policy(snap, state) == first  # same input, same output; the input state is untouched
    assert state == policy.initial_state()
    with pytest.raises(FrozenInstanceError):
        snap.now_s = 3.0  # type: ignore[misc]


def test_hpa_model_defaults() -> None:
    hpa = HpaPolicy(AutoscalingSpec(max_replicas=100))
    assert hpa.sync_period_s == 15
    steps = drive(hpa, [2 * TARGET] * 30 + [80 * TARGET] * 90 + [2 * TARGET] * 600, replicas=2)
    ups = [(s.time_s, s.decision.desired_replicas) for s in steps if s.decision.desired_replicas > s.before]
    assert ups[0][1] == 6  # +4 pods beats +100% of 2
    assert all(b[1] <= max(2 * a[1], a[1] + 4) for a, b in itertools.pairwise(ups))
    first_down = next(s.time_s for s in steps if s.decision.desired_replicas < s.before)
    assert first_down >= 120 + 300 - 15
    assert steps[-1].decision.desired_replicas == 2  # 100% per 15 s: straight down after the window


def test_kpa_model_panics_at_200_percent_and_holds() -> None:
    kpa = KpaPolicy(AutoscalingSpec(max_replicas=100))
    assert kpa.sync_period_s == 2
    steps = drive(kpa, [4 * TARGET] * 100 + [12 * TARGET] * 30 + [4 * TARGET] * 200, replicas=4)
    enter = next(s for s in steps if s.decision.event == "panic_enter")
    assert 100 <= enter.time_s <= 104
    panic = [s.decision.desired_replicas for s in steps if s.decision.panic]
    assert panic == sorted(panic)
    leave = next(s for s in steps if s.decision.event == "panic_exit")
    assert leave.time_s >= enter.time_s + 60  # a stable window after the last tick over the threshold


def test_static_policy_never_moves() -> None:
    report = replay(trace_of("step", lambda t: 400 if t >= 100 else 40, 400), StaticPolicy(30))
    assert report.decisions == () and report.replica_seconds == 30 * 400


def test_replay_of_a_10x_step_tideflow_vs_hpa() -> None:
    spec = AutoscalingSpec(max_replicas=50)
    trace = trace_of("step", lambda t: 400 if 300 <= t < 900 else 40, 1500)
    ours = replay(trace, TideflowPolicy(spec))
    hpa = replay(trace, HpaPolicy(spec))
    assert ours.dropped == 0 and hpa.dropped == 0
    assert ours.seconds_over_slo <= hpa.seconds_over_slo / 2
    assert ours.reversals <= hpa.reversals
    # enough replicas (ready) within 5 s of the step: decision ~1 s, start 3 s
    ready_at = next(s.time_s for s in ours.steps if s.time_s >= 300 and s.ready_replicas >= 29)
    assert ready_at - 300 <= 5
    assert any(d.event == "panic_enter" for d in ours.decisions)


def test_replay_is_deterministic() -> None:
    from tideflow.autoscaling import load_trace

    trace = load_trace("spike_10x")
    spec = AutoscalingSpec(max_replicas=50)
    a = replay(trace, TideflowPolicy(spec), SimConfig())
    b = replay(trace, TideflowPolicy(spec), SimConfig())
    assert a == b

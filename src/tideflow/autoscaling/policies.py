"""Tideflow's replica policy: a pure function of a frozen snapshot returning (decision, state).

Each call (every ``sync_period_s``):

1. observed = mean total of the metric over ``metric_window_s``; recommendation =
   ceil(current x observed / target) = ceil(total / target), or the current count when the
   observed value per ready replica is within ``tolerance`` of the target. For ``in_flight``, a
   backlogged sample counts as what its arrivals and draining its backlog need
   (``ReplicaSnapshot.demand_mean``), so a queue does not ask for hundreds of replicas;
2. panic: when the short ``panic_window_s`` mean asks for ``panic_threshold`` x the ready replicas,
   enter panic: follow the short window at once and never scale down; leave after one
   ``metric_window_s`` without the condition (entry and exit are events of the decision);
3. outside panic, stabilize like the HPA: up to the lowest recommendation of the last
   ``scale_up_stabilization_s``, down to the highest of the last ``scale_down_stabilization_s``;
4. limit the step: ``scale_up_step`` / ``scale_down_step`` per period;
5. bound by min/max; scale to zero after ``scale_to_zero.idle_s`` without a request when a cold
   start fits ``cold_start_budget_s``; from zero, start replicas as soon as a request waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tideflow.autoscaling.snapshot import (
    Decision,
    ReplicaSnapshot,
    ceil_replicas,
    prune,
    replicas_at,
    stabilize,
)
from tideflow.autoscaling.specs import AutoscalingSpec


@dataclass(frozen=True)
class TideflowState:
    recommendations: tuple[tuple[float, int], ...] = ()  # (time, recommendation), for stabilization
    replicas: tuple[tuple[float, int], ...] = ()  # (time, replicas decided), for the step limits
    panic_since_s: float | None = None
    panic_last_trigger_s: float | None = None


def limit_step(spec: AutoscalingSpec, history: tuple[tuple[float, int], ...], now_s: float, current: int,
               desired: int) -> tuple[int, str | None]:
    """Clip ``desired`` to the step limits measured from the count in force one period ago."""
    if desired > current:
        start = replicas_at(history, now_s - spec.scale_up_step.period_s, current)
        ceiling = max(spec.scale_up_step.bound(min(start, current), up=True), current)
        if desired > ceiling:
            return ceiling, f"step limit: at most {ceiling} (+{spec.scale_up_step.replicas} or " \
                            f"{spec.scale_up_step.percent:g}% per {spec.scale_up_step.period_s:g} s)"
    elif desired < current:
        start = replicas_at(history, now_s - spec.scale_down_step.period_s, current)
        floor = min(spec.scale_down_step.bound(max(start, current), up=False), current)
        if desired < floor:
            return floor, f"step limit: at least {floor} (-{spec.scale_down_step.replicas} or " \
                          f"{spec.scale_down_step.percent:g}% per {spec.scale_down_step.period_s:g} s)"
    return desired, None


@dataclass(frozen=True)
class TideflowPolicy:
    """The default policy, configured by an ``AutoscalingSpec``."""

    spec: AutoscalingSpec = field(default_factory=AutoscalingSpec)
    name: str = "tideflow"

    @property
    def sync_period_s(self) -> float:
        return self.spec.sync_period_s

    def initial_state(self) -> TideflowState:
        return TideflowState()

    def __call__(self, snap: ReplicaSnapshot, state: TideflowState) -> tuple[Decision, TideflowState]:
        spec, now, cur, ready = self.spec, snap.now_s, snap.current_replicas, snap.ready_replicas
        stable = snap.window_mean(spec.metric, spec.metric_window_s)
        quick = snap.window_mean(spec.metric, spec.panic_window_s)
        if stable is None or quick is None:
            return Decision(cur, "no metrics yet"), state
        keep = max(spec.scale_up_stabilization_s, spec.scale_down_stabilization_s, spec.scale_up_step.period_s,
                   spec.scale_down_step.period_s)

        def done(desired: int, reason: str, new: TideflowState, *, event: str | None = None) -> tuple[
                Decision, TideflowState]:
            replicas = prune((*new.replicas, (now, desired)), now, keep)
            per_replica = stable / ready if ready else None
            return (Decision(desired, reason, per_replica, new.panic_since_s is not None, event),
                    replace(new, replicas=replicas))

        # From zero: a waiting request starts replicas at once (the router holds it meanwhile).
        if cur == 0:
            if quick > 0 or snap.samples[-1].in_flight > 0:
                want = min(max(1, ceil_replicas(quick, spec.target)), spec.max_replicas)
                return done(want, f"cold start: {quick:.2f} {spec.metric} while at zero replicas",
                            replace(state, recommendations=((now, want),)), event="cold_start")
            return done(0, "at zero replicas, idle", state)

        base = max(ready, 1)
        ratio = stable / spec.target / base
        if abs(ratio - 1) <= spec.tolerance:
            rec = cur
            reason = f"{spec.metric} {stable / base:.2f}/replica within {spec.tolerance:.0%} of {spec.target:g}"
        else:
            rec = ceil_replicas(stable, spec.target)
            reason = f"{spec.metric} {stable / base:.2f}/replica vs target {spec.target:g}"
        quick_rec = ceil_replicas(quick, spec.target)
        trigger = quick_rec >= spec.panic_threshold * base

        # In overload the queue inflates in-flight: decide on what the arrivals and the backlog need.
        if spec.metric == "in_flight":
            stable_need = snap.demand_mean(spec.metric_window_s, spec.metric_window_s) or 0.0
            quick_need = snap.demand_mean(spec.panic_window_s, spec.metric_window_s) or 0.0
            if rec > cur and stable_need < stable:
                rec = max(cur, ceil_replicas(stable_need, spec.target))
                reason = f"{reason}; {stable_need / base:.2f}/replica once the backlog drains in " \
                         f"{spec.metric_window_s:g} s"
            quick_rec = ceil_replicas(quick_need, spec.target)

        # Panic: the short window asks for far more than is ready.
        event = None
        since, last = state.panic_since_s, state.panic_last_trigger_s
        if trigger:
            last = now
            if since is None:
                since, event = now, "panic_enter"
        elif since is not None and last is not None and now - last >= spec.metric_window_s:
            since, last, event = None, None, "panic_exit"
        if since is not None:  # the panic count enters the history, so the down window holds it after panic
            rec = max(rec, quick_rec, cur)
        history = prune((*state.recommendations, (now, rec)), now,
                        max(spec.scale_up_stabilization_s, spec.scale_down_stabilization_s))
        new = replace(state, recommendations=history, panic_since_s=since, panic_last_trigger_s=last)
        if since is not None:
            desired = rec
            reason = f"panic: {spec.metric} {quick / base:.2f}/replica over {spec.panic_window_s:g} s " \
                     f"(>= {spec.panic_threshold:g}x target); never scale down in panic"
        else:
            desired = stabilize(history, now, cur, spec.scale_up_stabilization_s, spec.scale_down_stabilization_s)
            if desired != rec:
                window = spec.scale_down_stabilization_s if rec < cur else spec.scale_up_stabilization_s
                reason = f"{reason}; held at {desired} by the {window:g} s stabilization window"
        desired, limited = limit_step(spec, state.replicas, now, cur, desired)
        if limited:
            reason = f"{reason}; {limited}"

        floor = max(spec.min_replicas, 1)
        if spec.scale_to_zero.enabled and desired <= 1:
            idle = snap.idle_for_s()
            if idle >= spec.scale_to_zero.idle_s:
                if snap.replica_startup_s <= spec.scale_to_zero.cold_start_budget_s:
                    return done(0, f"idle for {idle:g} s: scale to zero", new, event="scale_to_zero")
                reason = (f"kept 1 replica: a cold start takes {snap.replica_startup_s:g} s, over the "
                          f"{spec.scale_to_zero.cold_start_budget_s:g} s budget")
        if desired < floor:
            desired, reason = floor, f"{reason}; min_replicas {spec.min_replicas}" if spec.min_replicas else reason
        if desired > spec.max_replicas:
            desired, reason = spec.max_replicas, f"{reason}; max_replicas {spec.max_replicas}"
        return done(desired, reason, new, event=event)

"""Models of what users get today, as the same kind of pure policy, so replays compare side by side.

They share the spec's metric, target and min/max (so only the algorithm differs) and replace its
timing with each system's documented defaults:

- ``HpaPolicy``: Kubernetes HorizontalPodAutoscaler (autoscaling/v2) defaults: 15 s sync, 10%
  tolerance, no scale-up stabilization, 300 s scale-down stabilization, scale up by 100% or 4 pods
  per 15 s (whichever is larger), scale down by 100% per 15 s. The metric is what metrics-server
  reports: a mean over its 15 s resolution. No scale to zero (min 1).
- ``KpaPolicy``: Knative Pod Autoscaler defaults: 2 s tick, 60 s stable window, 6 s panic window
  (10%), panic threshold 200%, max scale-up rate 1000x, max scale-down rate 2x per tick, leave panic
  after a stable window without the condition, scale to zero after the stable window plus a 30 s
  grace period (only when the spec's min is 0). Knative's 70% target utilization is folded into
  the spec's target (0.7 in flight for a single-concurrency replica).
- ``StaticPolicy``: a fixed count, provisioned for the peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tideflow.autoscaling.snapshot import Decision, ReplicaSnapshot, ceil_replicas, prune, replicas_at, stabilize
from tideflow.autoscaling.specs import AutoscalingSpec


@dataclass(frozen=True)
class HpaDefaults:
    sync_period_s: float = 15.0
    tolerance: float = 0.1
    metric_window_s: float = 15.0
    scale_up_stabilization_s: float = 0.0
    scale_down_stabilization_s: float = 300.0
    scale_up_percent: float = 100.0
    scale_up_pods: int = 4
    scale_up_period_s: float = 15.0
    scale_down_percent: float = 100.0
    scale_down_period_s: float = 15.0


@dataclass(frozen=True)
class HpaState:
    recommendations: tuple[tuple[float, int], ...] = ()
    replicas: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class HpaPolicy:
    spec: AutoscalingSpec = field(default_factory=AutoscalingSpec)
    params: HpaDefaults = field(default_factory=HpaDefaults)
    name: str = "hpa"

    @property
    def sync_period_s(self) -> float:
        return self.params.sync_period_s

    def initial_state(self) -> HpaState:
        return HpaState()

    def __call__(self, snap: ReplicaSnapshot, state: HpaState) -> tuple[Decision, HpaState]:
        p, spec, now, cur = self.params, self.spec, snap.now_s, snap.current_replicas
        observed = snap.window_mean(spec.metric, p.metric_window_s)
        if observed is None:
            return Decision(cur, "no metrics yet"), state
        base = max(snap.ready_replicas, 1)
        if abs(observed / spec.target / base - 1) <= p.tolerance:
            rec, reason = cur, "within tolerance"
        else:
            rec, reason = ceil_replicas(observed, spec.target), f"{spec.metric} {observed / base:.2f}/replica"
        history = prune((*state.recommendations, (now, rec)), now, p.scale_down_stabilization_s)
        desired = stabilize(history, now, cur, p.scale_up_stabilization_s, p.scale_down_stabilization_s)
        if desired > cur:
            start = min(replicas_at(state.replicas, now - p.scale_up_period_s, cur), cur)
            ceiling = max(-(-start * (100 + p.scale_up_percent) // 100), start + p.scale_up_pods)
            desired = int(min(desired, max(ceiling, cur)))
        elif desired < cur:
            start = max(replicas_at(state.replicas, now - p.scale_down_period_s, cur), cur)
            floor = start * (100 - p.scale_down_percent) // 100
            desired = int(max(desired, min(floor, cur)))
        desired = min(max(desired, spec.min_replicas, 1), spec.max_replicas)
        keep = max(p.scale_up_period_s, p.scale_down_period_s)
        replicas = prune((*state.replicas, (now, desired)), now, keep)
        return (Decision(desired, reason, observed / base),
                HpaState(recommendations=history, replicas=replicas))


@dataclass(frozen=True)
class KpaDefaults:
    tick_s: float = 2.0
    stable_window_s: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_to_zero_grace_s: float = 30.0


@dataclass(frozen=True)
class KpaState:
    panic_since_s: float | None = None
    panic_desired: int = 0


@dataclass(frozen=True)
class KpaPolicy:
    spec: AutoscalingSpec = field(default_factory=AutoscalingSpec)
    params: KpaDefaults = field(default_factory=KpaDefaults)
    name: str = "kpa"

    @property
    def sync_period_s(self) -> float:
        return self.params.tick_s

    def initial_state(self) -> KpaState:
        return KpaState()

    def __call__(self, snap: ReplicaSnapshot, state: KpaState) -> tuple[Decision, KpaState]:
        p, spec, now, cur = self.params, self.spec, snap.now_s, snap.current_replicas
        panic_window_s = p.stable_window_s * p.panic_window_percentage / 100
        stable = snap.window_mean(spec.metric, p.stable_window_s)
        quick = snap.window_mean(spec.metric, panic_window_s)
        if stable is None or quick is None:
            return Decision(cur, "no metrics yet"), state
        ready = max(snap.ready_replicas, 1)
        want_stable = ceil_replicas(stable, spec.target)
        want_panic = ceil_replicas(quick, spec.target)
        up_limit = int(-(-p.max_scale_up_rate * ready // 1))
        down_limit = int(ready // p.max_scale_down_rate)
        want_stable = max(min(want_stable, up_limit), down_limit)
        want_panic = max(min(want_panic, up_limit), down_limit)
        over = snap.ready_replicas > 0 and want_panic / ready >= p.panic_threshold
        since, event = state.panic_since_s, None
        if over:
            if since is None:
                event = "panic_enter"
            since = now  # Knative restarts the panic clock on every tick over the threshold
        elif since is not None and now >= since + p.stable_window_s:
            since, event = None, "panic_exit"
        if since is not None:
            desired, reason = max(want_panic, state.panic_desired), "panic: never scale down"
        else:
            desired, reason = want_stable, f"{spec.metric} {stable / ready:.2f}/replica over {p.stable_window_s:g} s"
        if cur == 0 and quick > 0:
            desired, reason, event = max(desired, 1), "activator: request while at zero", "cold_start"
        if spec.min_replicas == 0:
            if desired == 0 and cur > 0 and snap.idle_for_s() < p.stable_window_s + p.scale_to_zero_grace_s:
                desired = 1
            elif desired == 0 and cur > 0:
                reason, event = "idle past the stable window and the grace period: scale to zero", "scale_to_zero"
        else:
            desired = max(desired, spec.min_replicas)
        desired = min(desired, spec.max_replicas)
        return (Decision(desired, reason, stable / ready, since is not None, event),
                replace(state, panic_since_s=since, panic_desired=desired if since is not None else 0))


@dataclass(frozen=True)
class StaticPolicy:
    """A fixed count (static provisioning for the peak)."""

    replicas: int
    name: str = "static"
    sync_period_s: float = 60.0

    def initial_state(self) -> None:
        return None

    def __call__(self, snap: ReplicaSnapshot, state: None) -> tuple[Decision, None]:
        return Decision(self.replicas, f"static: {self.replicas} replicas"), None


def static_peak_replicas(spec: AutoscalingSpec, peak_rps: float, service_s: float, concurrency: int = 1) -> int:
    """Replicas that keep the spec's target at the trace's peak: the static baseline's count."""
    if spec.metric == "rps":
        total = peak_rps
    elif spec.metric == "cpu":
        total = peak_rps * service_s / concurrency
    else:
        total = peak_rps * service_s
    return min(max(ceil_replicas(total, spec.target), spec.min_replicas, 1), max(spec.max_replicas, 1))

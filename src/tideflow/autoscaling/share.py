"""The share policy (engine autoscaling): a node's worker budget divided among its pipelines.

Pure: ``SharePolicy(spec)(snapshot, state) -> (ShareDecision, ShareState)``.

1. Offered load per pipeline = arrival rate x mean service time (the workers it keeps busy), times
   its weight, smoothed by an EWMA with time constant ``load_window_s`` (kept in the state).
2. Ideal (fractional) shares: proportional to the smoothed load, within each pipeline's
   min/max, summing to the budget (water-filling); with no load at all, an equal split.
3. Integer workers: a fresh allocation rounds the ideal by largest remainder. Afterwards a worker
   moves from pipeline j to pipeline i only when i is short of its ideal by at least ``h``
   (``hysteresis_workers``), j has at least ``h`` surplus, and together they are off by at least
   ``1 + h``. Each such move lowers the total deviation |ideal - workers| by at least ``2h``, and the
   reverse move would need the opposite condition, so under a fixed load no worker ever moves back
   (no ping-pong); under noise the ideal must swing by more than ``h`` both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tideflow.autoscaling.specs import ShareSpec
from tideflow.errors import ProjectError


@dataclass(frozen=True)
class PipelineLoad:
    name: str
    arrival_rps: float
    mean_service_s: float

    @property
    def offered(self) -> float:
        return max(self.arrival_rps, 0.0) * max(self.mean_service_s, 0.0)


@dataclass(frozen=True)
class ShareSnapshot:
    now_s: float
    budget_workers: int
    pipelines: tuple[PipelineLoad, ...]


@dataclass(frozen=True)
class ShareState:
    time_s: float | None = None
    load: tuple[tuple[str, float], ...] = ()  # smoothed offered load per pipeline
    workers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ShareDecision:
    workers: tuple[tuple[str, int], ...]
    ideal: tuple[tuple[str, float], ...]
    moves: tuple[tuple[str, str], ...]  # (from, to) one worker each
    reason: str

    def as_dict(self) -> dict[str, int]:
        return dict(self.workers)


def proportional_shares(loads: list[float], budget: float, lows: list[int], highs: list[float]) -> list[float]:
    """Shares proportional to ``loads`` within [low, high], summing to ``budget`` (or to sum(highs))."""
    if sum(lows) > budget + 1e-9:
        raise ProjectError(f"share.min_workers: expected the pipelines' minimums ({sum(lows)}) to fit the "
                           f"budget, got a budget of {budget:g} workers")
    cap = min(budget, sum(highs))
    weights = loads if sum(loads) > 0 else [1.0] * len(loads)

    def total(k: float) -> float:
        return sum(min(max(k * w, lo), hi) for w, lo, hi in zip(weights, lows, highs, strict=True))

    lo_k, hi_k = 0.0, 1.0
    while total(hi_k) < cap - 1e-9 and hi_k < 1e12:
        hi_k *= 2
    for _ in range(60):
        mid = (lo_k + hi_k) / 2
        if total(mid) < cap:
            lo_k = mid
        else:
            hi_k = mid
    return [min(max(hi_k * w, lo), hi) for w, lo, hi in zip(weights, lows, highs, strict=True)]


def _round(ideal: list[float], budget: int, lows: list[int], highs: list[float]) -> list[int]:
    out = [max(lo, math.floor(x + 1e-9)) for x, lo in zip(ideal, lows, strict=True)]
    order = sorted(range(len(ideal)), key=lambda i: (-(ideal[i] - out[i]), i))
    left = min(budget, int(min(sum(highs), budget))) - sum(out)
    for i in order:
        if left <= 0:
            break
        if out[i] < highs[i]:
            out[i] += 1
            left -= 1
    return out


@dataclass(frozen=True)
class SharePolicy:
    spec: ShareSpec = field(default_factory=ShareSpec)
    name: str = "share"

    def initial_state(self) -> ShareState:
        return ShareState()

    def __call__(self, snap: ShareSnapshot, state: ShareState) -> tuple[ShareDecision, ShareState]:
        spec = self.spec
        names = [p.name for p in snap.pipelines]
        previous = dict(state.load)
        alpha = 1.0 if state.time_s is None else 1 - math.exp(-max(snap.now_s - state.time_s, 0.0) / spec.load_window_s)
        smoothed = []
        for p in snap.pipelines:
            now_load = p.offered * spec.weight(p.name)
            old = previous.get(p.name)
            smoothed.append(now_load if old is None else old + alpha * (now_load - old))
        lows = [spec.bounds(n)[0] for n in names]
        highs = [float(spec.bounds(n)[1] or snap.budget_workers) for n in names]
        ideal = proportional_shares(smoothed, snap.budget_workers, lows, highs)
        current = dict(state.workers)
        moves: list[tuple[str, str]] = []
        if not current or set(current) != set(names):
            workers = _round(ideal, snap.budget_workers, lows, highs)
            reason = "initial allocation" if not current else "pipelines changed: fresh allocation"
        else:
            workers = [min(max(current[n], lo), int(hi)) for n, lo, hi in zip(names, lows, highs, strict=True)]
            while sum(workers) > snap.budget_workers:  # the budget shrank: take from the largest surplus
                j = max((i for i in range(len(names)) if workers[i] > lows[i]), key=lambda i: workers[i] - ideal[i])
                workers[j] -= 1
            while sum(workers) < min(snap.budget_workers, sum(highs)):  # grew: give to the largest shortfall
                i = max((i for i in range(len(names)) if workers[i] < highs[i]), key=lambda i: ideal[i] - workers[i])
                workers[i] += 1
            h = spec.hysteresis_workers
            for _ in range(snap.budget_workers):
                gaps = [ideal[i] - workers[i] if workers[i] < highs[i] else -math.inf for i in range(len(names))]
                extra = [workers[j] - ideal[j] if workers[j] > lows[j] else -math.inf for j in range(len(names))]
                i = max(range(len(names)), key=lambda k: (gaps[k], -k))
                j = max(range(len(names)), key=lambda k: (extra[k], -k))
                if i == j or gaps[i] < h or extra[j] < h or gaps[i] + extra[j] < 1 + h:
                    break
                workers[i] += 1
                workers[j] -= 1
                moves.append((names[j], names[i]))
            reason = f"moved {len(moves)} worker(s) by offered load" if moves else \
                f"kept: every share within the {h:g}-worker hysteresis"
        decision = ShareDecision(tuple(zip(names, workers, strict=True)),
                                 tuple(zip(names, ideal, strict=True)), tuple(moves), reason)
        return decision, ShareState(snap.now_s, tuple(zip(names, smoothed, strict=True)), decision.workers)

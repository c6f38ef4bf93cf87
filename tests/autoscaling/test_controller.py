"""The controller with a fake clock, source and actuator: sampling, decisions, history, the decision log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tideflow.autoscaling import AutoscalingSpec, SharePolicy, ShareSpec, StepLimit, TideflowPolicy
from tideflow.autoscaling.controller import Controller, Counters, DecisionLog, read_decisions, sample_between
from tideflow.autoscaling.controller_share import PipelineCounters, ShareController


@dataclass
class FakeNode:
    """A service whose in-flight level is set by the test; integrals advance with the fake clock."""

    now: float = 0.0
    in_flight: int = 0
    area: float = 0.0
    arrivals: int = 0
    completions: int = 0
    replicas: int = 1
    calls: list[int] = field(default_factory=list)

    def advance(self, dt: float, rps: float) -> None:
        self.area += self.in_flight * dt
        self.arrivals += int(rps * dt)
        self.completions += int(rps * dt)
        self.now += dt

    def read(self) -> Counters:
        return Counters(self.now, self.arrivals, self.completions, self.in_flight, self.in_flight, self.area,
                        self.area, self.area, self.replicas)

    @property
    def current(self) -> int:
        return self.replicas

    @property
    def ready(self) -> int:
        return self.replicas

    @property
    def startup_s(self) -> float:
        return 0.5

    async def set_replicas(self, n: int) -> None:
        self.calls.append(n)
        self.replicas = n


def test_sample_is_the_mean_over_the_interval() -> None:
    a = Counters(10.0, 100, 90, 3, 2, 50.0, 40.0, 20.0, 2)
    b = Counters(12.0, 140, 136, 5, 2, 58.0, 44.0, 22.0, 3)
    s = sample_between(a, b)
    assert (s.time_s, s.in_flight, s.rps, s.in_service, s.completed_rps, s.busy, s.ready_replicas) == (
        12.0, 4.0, 20.0, 2.0, 23.0, 1.0, 3)


def test_step_load_scales_up_then_down_and_every_decision_is_recorded(tmp_path: Path) -> None:
    spec = AutoscalingSpec(min_replicas=1, max_replicas=6, metric_window_s=4, panic_window_s=2,
                           scale_down_stabilization_s=3, sync_period_s=1)
    node = FakeNode()
    log_path = tmp_path / "decisions.jsonl"
    ctl = Controller.for_spec(spec, TideflowPolicy(spec), node, node, log_file=DecisionLog(log_path),
                              clock=lambda: node.now, wall=lambda: 1_000_000.0 + node.now)

    async def run() -> list[tuple[float, int]]:
        trace = []
        await ctl.step()  # baseline read
        for t in range(30):
            node.in_flight = 3 if 5 <= t < 15 else 0  # a step: 3 requests in flight for 10 s
            node.advance(1.0, 40 if 5 <= t < 15 else 0)
            await ctl.step()
            trace.append((node.now, node.replicas))
        return trace

    trace = asyncio.run(run())
    up_at = next(t for t, r in trace if r > 1)
    assert up_at <= 7.0  # panic sees the step within the sync period after it
    assert max(r for _, r in trace) == 5  # ceil(3 / 0.7)
    assert trace[-1][1] == 1  # back to min after the load, the window and the down stabilization
    entries = list(ctl.history)
    assert [(e.replicas_before, e.replicas_after) for e in entries if e.replicas_before != e.replicas_after] == [
        (b, a) for b, a in zip([1, *node.calls], node.calls, strict=False)]
    assert any(e.event == "panic_enter" for e in entries) and any(e.event == "panic_exit" for e in entries)
    on_disk = read_decisions(log_path, limit=100)
    assert on_disk == entries
    assert on_disk[0].metric == "in_flight" and on_disk[0].time >= 1_000_000.0 and on_disk[0].reason


def test_history_is_bounded_and_the_log_rotates(tmp_path: Path) -> None:
    spec = AutoscalingSpec(min_replicas=1, max_replicas=2, metric_window_s=2, panic_window_s=1,
                           scale_down_stabilization_s=0, scale_down_step=StepLimit(replicas=1, percent=100, period_s=1))
    node = FakeNode()
    ctl = Controller.for_spec(spec, TideflowPolicy(spec), node, node, log_file=DecisionLog(
        tmp_path / "d.jsonl", max_bytes=2000), clock=lambda: node.now, history_limit=5)

    async def run() -> None:
        await ctl.step()
        for t in range(80):
            node.in_flight = 4 if (t // 4) % 2 == 0 else 0  # flapping on purpose
            node.advance(1.0, 10)
            await ctl.step()

    asyncio.run(run())
    assert len(ctl.history) == 5
    assert (tmp_path / "d.jsonl.1").is_file()


@dataclass
class FakePools:
    budget: int = 6
    counts: dict[str, PipelineCounters] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=lambda: {"a": 3, "b": 3})
    resizes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def budget_workers(self) -> int:
        return self.budget

    def read_pipelines(self) -> list[PipelineCounters]:
        return [self.counts.get(n, PipelineCounters(n, 0, 0.0)) for n in self.sizes]

    def workers(self) -> dict[str, int]:
        return dict(self.sizes)

    def resize(self, pipeline: str, workers: int) -> None:
        self.resizes.append((pipeline, workers))
        self.sizes[pipeline] = workers


def test_share_controller_moves_workers_to_the_busy_pipeline_and_stays() -> None:
    pools = FakePools()
    clock = [0.0]
    ctl = ShareController(SharePolicy(ShareSpec(load_window_s=1)), pools, clock=lambda: clock[0])
    ctl.step()  # baseline
    busy = {"a": 0.0, "b": 0.0}
    batches = {"a": 0, "b": 0}
    for _ in range(10):
        clock[0] += 1.0
        batches["a"] += 100
        busy["a"] += 4.5  # pipeline a keeps 4.5 workers busy, b idles
        batches["b"] += 1
        busy["b"] += 0.01
        pools.counts = {n: PipelineCounters(n, batches[n], busy[n]) for n in batches}
        ctl.step()
    assert pools.sizes == {"a": 5, "b": 1}
    assert sum(pools.sizes.values()) == 6
    shrink_first = [n for n, _ in pools.resizes]
    assert shrink_first[0] == "b"  # the giver shrinks before the receiver grows: never over budget
    moves_then = len(pools.resizes)
    for _ in range(5):  # the same load: no ping-pong
        clock[0] += 1.0
        batches["a"] += 100
        busy["a"] += 4.5
        pools.counts = {n: PipelineCounters(n, batches[n], busy[n]) for n in batches}
        ctl.step()
    assert len(pools.resizes) == moves_then

"""Prometheus metrics of one API node, in its own registry (several nodes can live in one test process).

The request path updates plain numbers (no lock, no label validation: every update runs on the node's
event loop, and a lone ``+=`` or assignment cannot tear under the GIL); a collector turns them into
Prometheus families when ``/metrics`` is scraped. prometheus_client's own ``Counter``/``Histogram`` take
a lock and check their labels on every update, which cost the node about 5% of its requests per second.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)


class Value:
    """A counter or gauge child: ``inc``, ``dec``, ``set``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class Buckets:
    """A histogram child: counts per upper bound (``le``, not cumulative until rendered) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, count in zip((*map(str, map(float, self.bounds)), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


class Family:
    """Children by label values, created on first use; ``family(*values)`` is the child."""

    def __init__(self, kind: str, name: str, doc: str, labels: list[str], make: Callable[[], Any]) -> None:
        self.kind, self.name, self.doc, self.labels, self.make = kind, name, doc, labels, make
        self.children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self.children.get(values)
        if child is None:
            if len(values) != len(self.labels):
                raise ValueError(f"metric {self.name} takes labels {self.labels}, got {values!r}")
            child = self.children[values] = self.make()
        return child

    def collect(self) -> Metric:
        children = list(self.children.items())  # a scrape may run while the loop adds a child
        if self.kind == "histogram":
            histogram = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
            for values, child in children:
                histogram.add_metric(list(values), child.cumulative(), child.sum)
            return histogram
        family: Metric = (CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily)(
            self.name, self.doc, labels=self.labels)
        for values, child in children:
            family.add_metric(list(values), child.value)  # type: ignore[attr-defined]
        return family


class NodeMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Family("counter", "tide_api_requests", "Requests by endpoint, protocol and HTTP status",
                               ["endpoint", "protocol", "status"], Value)
        self.latency = Family("histogram", "tide_api_request_duration_seconds", "Request latency (server side)",
                              ["endpoint", "protocol"], lambda: Buckets(LATENCY_BUCKETS_S))
        self.in_flight = Family("gauge", "tide_api_in_flight_requests", "Requests being answered", ["endpoint"],
                                Value)
        self.batch_size = Family("histogram", "tide_api_batch_size_records", "Records per scored batch",
                                 ["endpoint"], lambda: Buckets(BATCH_BUCKETS))
        self.workers = Family("gauge", "tide_api_workers", "Worker processes by endpoint and state (target, ready, "
                              "...)", ["endpoint", "state"], Value)
        self.records = Family("counter", "tide_api_records", "Records scored by endpoint and version",
                              ["endpoint", "version"], Value)
        self.busy = Family("gauge", "tide_api_busy_seconds", "Seconds workers spent scoring (for offered-load "
                           "estimates)", ["endpoint"], Value)
        self.info = Family("gauge", "tide_api_info", "The API service served", ["service"], Value)
        self.info(service).set(1)
        families = [self.requests, self.latency, self.in_flight, self.batch_size, self.workers, self.records,
                    self.busy, self.info]

        class _Collector:
            def collect(self) -> Iterator[Metric]:
                for family in families:
                    yield family.collect()

        self.registry.register(_Collector())

    def render(self) -> bytes:
        return generate_latest(self.registry)


# ---------------------------------------------------------------------------------------------------------------
# Autoscaling (issue 5): the router of a local autoscaled node renders its own metrics from its live state.

def render_router_metrics(router: object) -> bytes:
    """Prometheus text for a ``serving.router.Router``: replicas, the controller's decisions, the counters
    the policy reads (arrivals, completions, in flight, in service) and the last sample's means."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    r: Any = router

    class _Collector:
        def collect(self) -> Any:
            replicas = GaugeMetricFamily("tide_autoscaling_replicas", "Replicas by state (desired: the "
                                         "controller's last decision)", labels=["state"])
            for state, value in (("desired", r.desired), ("current", r.replicas.current),
                                 ("ready", r.replicas.ready), ("draining", r.replicas.draining),
                                 ("standby", r.replicas.standing_by)):
                replicas.add_metric([state], value)
            yield replicas
            decisions = CounterMetricFamily("tide_autoscaling_decisions", "Recorded decisions by direction",
                                            labels=["direction"])
            for direction, value in r.decisions_by_direction.items():
                decisions.add_metric([direction], value)
            yield decisions
            yield CounterMetricFamily("tide_autoscaling_evaluations", "Policy evaluations",
                                      value=r.controller.evaluations)
            yield GaugeMetricFamily("tide_autoscaling_panic", "1 while the policy is in panic mode",
                                    value=1 if r.panic else 0)
            yield GaugeMetricFamily("tide_autoscaling_replica_startup_seconds", "Median measured replica start",
                                    value=r.replicas.startup_s)
            yield CounterMetricFamily("tide_autoscaling_router_requests", "Requests accepted by the router",
                                      value=r.arrivals)
            yield CounterMetricFamily("tide_autoscaling_router_completed", "Requests answered by the router",
                                      value=r.completions)
            yield CounterMetricFamily("tide_autoscaling_router_failed", "Requests the router answered 502/503",
                                      value=r.failures)
            yield GaugeMetricFamily("tide_autoscaling_in_flight_requests", "Requests accepted, not answered",
                                    value=r.in_flight)
            yield GaugeMetricFamily("tide_autoscaling_in_service_requests", "Requests sent to a replica",
                                    value=r.in_service)
            yield GaugeMetricFamily("tide_autoscaling_queued_requests", "Requests waiting for a replica",
                                    value=len(r.waiters))
            sample = r.last_sample
            if sample is not None:
                means = GaugeMetricFamily("tide_autoscaling_sample", "The last sample the policy saw (means over "
                                          "the sync period)", labels=["measure"])
                for name in ("in_flight", "in_service", "rps", "completed_rps", "busy"):
                    means.add_metric([name], float(getattr(sample, name)))
                yield means
            entries = r.controller.recent(1)
            if entries:
                yield GaugeMetricFamily("tide_autoscaling_last_decision_timestamp_seconds",
                                        "Wall time of the last recorded decision", value=entries[-1].time)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)

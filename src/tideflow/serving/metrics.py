"""Prometheus metrics of one API node, in its own registry (several nodes can live in one test process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)


def _children(labels: Callable[..., Any]) -> Callable[..., Any]:
    """``metric.labels`` with the children kept by label values: the request path looks each one up
    several times per request, and prometheus_client's ``labels`` validates and locks on every call."""
    cache: dict[tuple[str, ...], Any] = {}

    def child(*values: str) -> Any:
        found = cache.get(values)
        if found is None:
            found = cache[values] = labels(*values)
        return found

    return child


class NodeMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"service": service}
        self.requests = _children(Counter("tide_api_requests", "Requests by endpoint, protocol and HTTP status",
                                          ["endpoint", "protocol", "status"], registry=self.registry).labels)
        self.latency = _children(Histogram("tide_api_request_duration_seconds", "Request latency (server side)",
                                           ["endpoint", "protocol"], buckets=LATENCY_BUCKETS_S,
                                           registry=self.registry).labels)
        self.in_flight = _children(Gauge("tide_api_in_flight_requests", "Requests being answered", ["endpoint"],
                                         registry=self.registry).labels)
        self.batch_size = _children(Histogram("tide_api_batch_size_records", "Records per scored batch",
                                              ["endpoint"], buckets=BATCH_BUCKETS, registry=self.registry).labels)
        self.workers = _children(Gauge("tide_api_workers", "Worker processes by endpoint and state (target, ready, "
                                       "...)", ["endpoint", "state"], registry=self.registry).labels)
        self.records = _children(Counter("tide_api_records", "Records scored by endpoint and version",
                                         ["endpoint", "version"], registry=self.registry).labels)
        self.busy = _children(Gauge("tide_api_busy_seconds", "Seconds workers spent scoring (for offered-load "
                                    "estimates)", ["endpoint"], registry=self.registry).labels)
        Gauge("tide_api_info", "The API service served", ["service"], registry=self.registry).labels(**labels).set(1)

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

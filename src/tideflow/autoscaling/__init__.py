"""Autoscaling: pure policies (replicas, CPU shares), trace replay. Imports neither compute nor ray.

A policy is a pure function of a frozen snapshot returning ``(decision, state)``; only the
controller (the API node's, issue 4) touches clocks, processes and metrics. ``replay`` runs any
policy against a load trace through a queueing model, so Tideflow's policy and models of the
Kubernetes HPA, Knative's KPA and static provisioning compare side by side.
"""

from tideflow.autoscaling.baselines import (
    HpaDefaults,
    HpaPolicy,
    KpaDefaults,
    KpaPolicy,
    StaticPolicy,
    static_peak_replicas,
)
from tideflow.autoscaling.policies import TideflowPolicy, TideflowState
from tideflow.autoscaling.replay import DecisionRecord, ReplayReport, SimConfig, StepRecord, replay
from tideflow.autoscaling.share import PipelineLoad, ShareDecision, SharePolicy, ShareSnapshot, ShareState
from tideflow.autoscaling.snapshot import AnyPolicy, Decision, MetricSample, ReplicaPolicy, ReplicaSnapshot
from tideflow.autoscaling.specs import (
    AutoscalingSpec,
    PipelineShareSpec,
    ScaleToZeroSpec,
    ShareSpec,
    StepLimit,
    load_autoscaling_spec,
    parse_autoscaling_spec,
)
from tideflow.autoscaling.traces import BUNDLED, Trace, load_trace, parse_trace

__all__ = [
    "BUNDLED",
    "AutoscalingSpec",
    "Decision",
    "DecisionRecord",
    "HpaDefaults",
    "HpaPolicy",
    "KpaDefaults",
    "KpaPolicy",
    "MetricSample",
    "PipelineLoad",
    "PipelineShareSpec",
    "ReplayReport",
    "ReplicaPolicy",
    "ReplicaSnapshot",
    "ScaleToZeroSpec",
    "ShareDecision",
    "SharePolicy",
    "ShareSnapshot",
    "ShareSpec",
    "ShareState",
    "SimConfig",
    "StaticPolicy",
    "StepLimit",
    "StepRecord",
    "TideflowPolicy",
    "TideflowState",
    "Trace",
    "load_autoscaling_spec",
    "load_trace",
    "parse_autoscaling_spec",
    "parse_trace",
    "policy_by_name",
    "replay",
    "static_peak_replicas",
]


def policy_by_name(name: str, spec: AutoscalingSpec, trace: Trace | None = None,
                   config: SimConfig | None = None) -> AnyPolicy:
    """``tideflow | hpa | kpa | static`` configured from ``spec`` (static needs the trace for its peak)."""
    from tideflow.errors import ProjectError, did_you_mean

    if name == "tideflow":
        return TideflowPolicy(spec)
    if name == "hpa":
        return HpaPolicy(spec)
    if name == "kpa":
        return KpaPolicy(spec)
    if name == "static":
        if trace is None:
            raise ProjectError("policy 'static': expected a trace to provision for its peak, got none")
        conc = (config or SimConfig()).replica_concurrency
        return StaticPolicy(static_peak_replicas(spec, trace.peak_rps(), max(trace.service_s), conc))
    raise ProjectError(f"policy: expected one of tideflow, hpa, kpa, static, got {name!r}"
                       f"{did_you_mean(name, ['tideflow', 'hpa', 'kpa', 'static'])}")

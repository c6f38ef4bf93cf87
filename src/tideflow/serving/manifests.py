"""``tide api manifest SERVICE``: the same ``autoscaling:`` spec as Kubernetes objects and a Ray Serve config.

Pure functions from a ``ServiceSpec`` to plain dicts (house style 2); ``write_manifests`` writes them.

Kubernetes (``kubernetes.yaml``): a Deployment (one API node per pod, ``--no-autoscale``: the HPA
scales pods; readiness ``/readyz``, liveness ``/healthz``; a ``preStop`` pause so the Service stops
sending before SIGTERM, then uvicorn finishes in-flight requests within the grace period), a
Service, and an ``autoscaling/v2`` HorizontalPodAutoscaler whose ``behavior`` maps the spec:

- ``min_replicas`` / ``max_replicas`` -> ``minReplicas`` (at least 1: scale to zero needs the alpha
  HPAScaleToZero gate) / ``maxReplicas``;
- ``metric: in_flight`` / ``rps`` -> a ``Pods`` metric ``tide_api_in_flight_requests`` /
  ``tide_api_requests_per_second`` with ``AverageValue`` = target (served by a Prometheus adapter);
  ``metric: cpu`` -> ``Resource`` cpu ``Utilization`` = target x 100;
- ``scale_up_stabilization_s`` / ``scale_down_stabilization_s`` -> ``stabilizationWindowSeconds``
  (whole seconds, rounded up);
- ``scale_up_step`` / ``scale_down_step`` -> two policies per direction, ``Pods`` (replicas) and
  ``Percent``, ``periodSeconds`` = period, ``selectPolicy: Max`` (whichever allows the larger change,
  as the policy does);
- ``tolerance`` -> ``tolerance`` in each direction (HPAConfigurableTolerance, Kubernetes >= 1.33);
- ``panic_*``, ``metric_window_s``, ``sync_period_s``: no HPA field; the controller manager's
  ``--horizontal-pod-autoscaler-sync-period`` (15 s) applies.

Ray Serve (``ray-serve.yaml``): an application config whose deployment's ``autoscaling_config`` maps
the spec (``tideflow.compute.serve``): ``target_ongoing_requests`` = the in-flight target,
``upscale_delay_s`` / ``downscale_delay_s`` = the stabilization windows, ``look_back_period_s`` =
``metric_window_s``, ``metrics_interval_s`` = ``sync_period_s`` (at most half the window),
``min_replicas`` / ``max_replicas`` as given (Ray Serve scales to zero).
Ray Serve's policy reads ongoing requests only: ``metric: rps`` or ``cpu`` raises
``UnsupportedTarget`` rather than writing a config that scales on something else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tideflow.autoscaling.specs import AutoscalingSpec, StepLimit
from tideflow.errors import ProjectError
from tideflow.serving.router import replica_concurrency
from tideflow.serving.specs import ServiceSpec

PORT = 8080
METRIC_NAMES = {"in_flight": "tide_api_in_flight_requests", "rps": "tide_api_requests_per_second"}
PRESTOP_S = 5  # endpoints controllers and kube-proxy take a few seconds to stop routing to a leaving pod


class UnsupportedTarget(ProjectError):
    """The spec asks for something the target platform cannot express."""


def _auto(spec: ServiceSpec) -> AutoscalingSpec:
    return spec.autoscaling if spec.autoscaling is not None else AutoscalingSpec()


def _labels(spec: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"tide-api-{spec.name}", "app.kubernetes.io/part-of": "tideflow",
            "tideflow.dev/service": spec.name}


def _meta(spec: ServiceSpec, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"tide-api-{spec.name}".replace("_", "-").lower(), "labels": _labels(spec)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers as is, else milli-units (0.7 -> '700m')."""
    if float(value).is_integer():
        return str(int(value))
    return f"{math.ceil(value * 1000 - 1e-9)}m"


def deployment(spec: ServiceSpec, *, image: str, namespace: str | None = None) -> dict[str, Any]:
    auto = _auto(spec)
    grace = math.ceil(max(e.timeout_s for e in spec.endpoints)) + PRESTOP_S + 5
    cpus = max(1, sum(e.num_workers for e in spec.endpoints))
    container = {
        "name": "api",
        "image": image,
        "args": ["tide", "api", "serve", spec.name, "--no-autoscale", "--host", "0.0.0.0", "--port", str(PORT),
                 "--project", "/project"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10,
                          "failureThreshold": 3, "initialDelaySeconds": 30},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_S}}},
        "resources": {"requests": {"cpu": str(cpus), "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(spec, namespace),
        "spec": {
            "replicas": max(auto.min_replicas, 1),
            "selector": {"matchLabels": {"app.kubernetes.io/name": f"tide-api-{spec.name}"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": _labels(spec)},
                         "spec": {"terminationGracePeriodSeconds": grace, "containers": [container]}},
        },
    }


def service(spec: ServiceSpec, *, namespace: str | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(spec, namespace),
            "spec": {"selector": {"app.kubernetes.io/name": f"tide-api-{spec.name}"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def _rules(step: StepLimit, window_s: float, tolerance: float) -> dict[str, Any]:
    period = min(1800, max(1, math.ceil(step.period_s)))
    policies = []
    if step.replicas > 0:
        policies.append({"type": "Pods", "value": step.replicas, "periodSeconds": period})
    if step.percent > 0:
        policies.append({"type": "Percent", "value": max(1, math.ceil(step.percent)), "periodSeconds": period})
    rules: dict[str, Any] = {"stabilizationWindowSeconds": min(3600, math.ceil(window_s)),
                             "selectPolicy": "Max" if policies else "Disabled"}
    if policies:
        rules["policies"] = policies
    if tolerance > 0:
        rules["tolerance"] = _quantity(tolerance)
    return rules


def horizontal_pod_autoscaler(spec: ServiceSpec, *, namespace: str | None = None) -> dict[str, Any]:
    auto = _auto(spec)
    if auto.metric == "cpu":
        metric: dict[str, Any] = {"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": max(1, round(auto.target * 100))}}}
    else:
        metric = {"type": "Pods", "pods": {"metric": {"name": METRIC_NAMES[auto.metric]},
                                           "target": {"type": "AverageValue", "averageValue": _quantity(auto.target)}}}
    meta = _meta(spec, namespace)
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": max(auto.min_replicas, 1),
            "maxReplicas": auto.max_replicas,
            "metrics": [metric],
            "behavior": {
                "scaleUp": _rules(auto.scale_up_step, auto.scale_up_stabilization_s, auto.tolerance),
                "scaleDown": _rules(auto.scale_down_step, auto.scale_down_stabilization_s, auto.tolerance),
            },
        },
    }


def kubernetes_objects(spec: ServiceSpec, *, image: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """Deployment, Service and HorizontalPodAutoscaler (autoscaling/v2) of an API service."""
    return [deployment(spec, image=image, namespace=namespace), service(spec, namespace=namespace),
            horizontal_pod_autoscaler(spec, namespace=namespace)]


def ray_serve_autoscaling(spec: ServiceSpec) -> dict[str, Any]:
    """Ray Serve's ``autoscaling_config`` from the spec (see the module docstring for the mapping)."""
    auto = _auto(spec)
    if auto.metric != "in_flight":
        raise UnsupportedTarget(f"Ray Serve autoscales on ongoing requests per replica only; API service "
                                f"{spec.name!r} asks for metric {auto.metric!r}. Use metric: in_flight (target "
                                f"= requests in flight per replica) to deploy on Ray Serve")
    return {
        "min_replicas": auto.min_replicas,
        "initial_replicas": max(auto.min_replicas, 1),
        "max_replicas": auto.max_replicas,
        "target_ongoing_requests": auto.target,
        "upscale_delay_s": auto.scale_up_stabilization_s,
        "downscale_delay_s": auto.scale_down_stabilization_s,
        "look_back_period_s": auto.metric_window_s,
        # Serve wants its look-back longer than the interval replicas report on (default 10 s, which
        # would make every window of 10 s or less a warning today and an error in a later release).
        "metrics_interval_s": min(auto.sync_period_s, auto.metric_window_s / 2),
    }


def ray_serve_config(spec: ServiceSpec, *, project_root: str = "/project") -> dict[str, Any]:
    """A Ray Serve application config (``serve deploy`` / ``serve run``) for the API service."""
    from tideflow.compute.serve import serve_app_config

    return serve_app_config(
        spec.name, project_root=project_root, app_factory="tideflow.serving.app:create_app",
        autoscaling=ray_serve_autoscaling(spec), max_ongoing_requests=max(8, 4 * replica_concurrency(spec)),
        graceful_shutdown_timeout_s=max(e.timeout_s for e in spec.endpoints) + 5)


def write_manifests(spec: ServiceSpec, out_dir: Path, *, image: str,
                    namespace: str | None = None) -> list[tuple[Path, str]]:
    """Write ``kubernetes.yaml`` and ``ray-serve.yaml`` under ``out_dir/<service>/``; (path, note) each."""
    import yaml

    folder = out_dir / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    k8s = folder / "kubernetes.yaml"
    k8s.write_text(yaml.safe_dump_all(kubernetes_objects(spec, image=image, namespace=namespace), sort_keys=False))
    written.append((k8s, "Deployment, Service, HorizontalPodAutoscaler autoscaling/v2"))
    ray_file = folder / "ray-serve.yaml"
    try:
        ray_file.write_text(yaml.safe_dump(ray_serve_config(spec), sort_keys=False))
        written.append((ray_file, "Ray Serve application with autoscaling_config"))
    except UnsupportedTarget as err:
        written.append((ray_file.with_suffix(".skipped"), str(err)))
    return written

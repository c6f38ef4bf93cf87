"""`tide api manifest`: Kubernetes objects valid against the schemas, behavior and Ray Serve config mapped."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tideflow.serving.manifests import (
    UnsupportedTarget,
    horizontal_pod_autoscaler,
    kubernetes_objects,
    ray_serve_config,
    write_manifests,
)
from tideflow.serving.specs import ServiceSpec, parse_service

K8S_VERSION = "1.33.0"

SERVICE = {
    "endpoints": [{"name": "score", "type": "function", "file": "api/f.py", "function": "f", "workers": 2,
                   "timeout_s": 20}],
    "autoscaling": {"min_replicas": 2, "max_replicas": 12, "target": 1.5, "tolerance": 0.05,
                    "scale_up_stabilization_s": 0, "scale_down_stabilization_s": 120.5,
                    "scale_up_step": {"replicas": 3, "percent": 200, "period_s": 2},
                    "scale_down_step": {"replicas": 1, "percent": 25, "period_s": 30}},
}


def spec(**auto: object) -> ServiceSpec:
    data = {**SERVICE, "autoscaling": {**SERVICE["autoscaling"], **auto}}  # type: ignore[dict-item]
    return parse_service(data, shown="api/fraud.yaml", name="fraud")


def test_objects_validate_against_the_kubernetes_schemas() -> None:
    for obj in kubernetes_objects(spec(), image="registry.local/tide:1", namespace="ml"):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_hpa_behavior_is_mapped_from_the_spec() -> None:
    hpa = horizontal_pod_autoscaler(spec())
    s = hpa["spec"]
    assert (s["minReplicas"], s["maxReplicas"]) == (2, 12)
    assert s["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": "tide_api_in_flight_requests"},
                                                      "target": {"type": "AverageValue", "averageValue": "1500m"}}}]
    assert s["behavior"]["scaleUp"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "tolerance": "50m",
                                        "policies": [{"type": "Pods", "value": 3, "periodSeconds": 2},
                                                     {"type": "Percent", "value": 200, "periodSeconds": 2}]}
    assert s["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 121
    assert s["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 30},
                                                      {"type": "Percent", "value": 25, "periodSeconds": 30}]


def test_cpu_metric_and_scale_to_zero_map_to_what_the_hpa_can_do() -> None:
    cpu = spec(metric="cpu", target=0.6)
    hpa = horizontal_pod_autoscaler(cpu)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    zero = spec(min_replicas=0, scale_to_zero={"enabled": True})
    assert horizontal_pod_autoscaler(zero)["spec"]["minReplicas"] == 1
    kubernetes_validate.validate(horizontal_pod_autoscaler(cpu), K8S_VERSION, strict=True)


def test_ray_serve_config_maps_the_same_spec() -> None:
    config = ray_serve_config(spec())
    app = config["applications"][0]
    assert app["name"] == "fraud" and app["import_path"] == "tideflow.compute.serve:build_app"
    deployment = app["deployments"][0]
    assert deployment["autoscaling_config"] == {
        "min_replicas": 2, "initial_replicas": 2, "max_replicas": 12, "target_ongoing_requests": 1.5,
        "upscale_delay_s": 0.0, "downscale_delay_s": 120.5, "look_back_period_s": 10.0,
        "metrics_interval_s": 1.0}
    assert deployment["graceful_shutdown_timeout_s"] == 25.0
    with pytest.raises(UnsupportedTarget, match="Ray Serve autoscales on ongoing requests per replica only"):
        ray_serve_config(spec(metric="cpu", target=0.5))


def test_write_manifests(tmp_path: Path) -> None:
    written = write_manifests(spec(), tmp_path, image="tide:1")
    assert [p.name for p, _ in written] == ["kubernetes.yaml", "ray-serve.yaml"]
    docs = list(yaml.safe_load_all((tmp_path / "fraud" / "kubernetes.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert "--no-autoscale" in docs[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert yaml.safe_load((tmp_path / "fraud" / "ray-serve.yaml").read_text())["applications"][0]["name"] == "fraud"

"""``tide cluster manifest``: a KubeRay ``RayCluster`` (``ray.io/v1``) with the autoscaler enabled and one
worker group per node type of ``compute.cluster``. Pure: spec in, dictionary out."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from tideflow.compute.errors import ComputeError
from tideflow.project import ClusterSpec, NodeResources

GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_NODE_LABEL = "cloud.google.com/gke-accelerator"
RAY_ACCELERATOR_LABEL = "ray.io/accelerator-type"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns_name(name: str, what: str) -> str:
    candidate = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not candidate or not DNS_LABEL.match(candidate) or len(candidate) > 63:
        raise ComputeError(f"{what} {name!r} cannot be a Kubernetes name: use lower-case letters, digits and '-'")
    return candidate


def _quantity_cpu(cpu: float) -> str:
    return str(int(cpu)) if float(cpu).is_integer() else f"{math.ceil(cpu * 1000)}m"


def _container(node: NodeResources, image: str, name: str, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    limits: dict[str, str] = {"cpu": _quantity_cpu(max(node.cpu, 1.0) if node.cpu else 1.0)}
    requests: dict[str, str] = {"cpu": limits["cpu"]}
    if node.memory_gb is not None:
        limits["memory"] = requests["memory"] = f"{math.ceil(node.memory_gb * 1000)}M"
    if node.gpu:
        limits[GPU_RESOURCE] = requests[GPU_RESOURCE] = str(math.ceil(node.gpu))
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "resources": {"limits": limits, "requests": requests},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}},
    }
    if ports:
        container["ports"] = ports
    return container


def _ray_start_params(node: NodeResources, *, head: bool) -> dict[str, str]:
    params: dict[str, str] = {"num-cpus": str(int(node.cpu))}
    if node.gpu:
        params["num-gpus"] = str(math.ceil(node.gpu))
    custom = dict(node.custom)
    if node.accelerator_type:
        custom[f"accelerator_type:{node.accelerator_type}"] = 1.0
    if custom:
        params["resources"] = "'" + json.dumps(custom, sort_keys=True) + "'"
    if head:
        params["dashboard-host"] = "0.0.0.0"
    return params


def _pod_spec(node: NodeResources, image: str, container: str, ports: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [_container(node, image, container, ports)]}
    if node.accelerator_type:
        spec["nodeSelector"] = {ACCELERATOR_NODE_LABEL: node.accelerator_type}
    if node.gpu:
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return spec


def kuberay_manifest(spec: ClusterSpec, name: str) -> dict[str, Any]:
    """A ``RayCluster`` custom resource for KubeRay with in-tree autoscaling and the node types of ``spec``.

    ``idle_timeout_s`` becomes ``autoscalerOptions.idleTimeoutSeconds``; ``upscaling_speed`` maps to
    ``upscalingMode``: ``Conservative`` below 1, ``Default`` at 1 up to 10, ``Aggressive`` above.
    """
    cluster_name = _dns_name(name, "cluster name")
    if spec.upscaling_speed < 1:
        mode = "Conservative"
    elif spec.upscaling_speed <= 10:
        mode = "Default"
    else:
        mode = "Aggressive"
    head_ports = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 10001, "name": "client"},
    ]
    groups = []
    for type_name, node_type in spec.node_types.items():
        group = _dns_name(type_name, "node type")
        template_labels = {"app.kubernetes.io/name": "tideflow", "tideflow.io/node-type": group}
        groups.append({
            "groupName": group,
            "replicas": node_type.min_workers,
            "minReplicas": node_type.min_workers,
            "maxReplicas": node_type.max_workers,
            "rayStartParams": _ray_start_params(node_type.resources, head=False),
            "template": {
                "metadata": {"labels": template_labels},
                "spec": _pod_spec(node_type.resources, spec.image, "ray-worker"),
            },
        })
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": cluster_name, "labels": {"app.kubernetes.io/name": "tideflow",
                                                       "app.kubernetes.io/managed-by": "tideflow"}},
        "spec": {
            "rayVersion": _ray_version(spec.image),
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {
                "upscalingMode": mode,
                "idleTimeoutSeconds": math.ceil(spec.idle_timeout_s),
                "imagePullPolicy": "IfNotPresent",
                "resources": {"limits": {"cpu": "500m", "memory": "512Mi"},
                              "requests": {"cpu": "500m", "memory": "512Mi"}},
            },
            "headGroupSpec": {
                "rayStartParams": _ray_start_params(spec.head, head=True),
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "tideflow", "tideflow.io/node-type": "head"}},
                    "spec": _pod_spec(spec.head, spec.image, "ray-head", head_ports),
                },
            },
            "workerGroupSpecs": groups,
        },
    }


def _ray_version(image: str) -> str:
    match = re.search(r":(\d+\.\d+\.\d+)", image)
    return match.group(1) if match else "2.60.0"


def manifest_yaml(spec: ClusterSpec, name: str) -> str:
    """``kuberay_manifest`` as Kubernetes YAML (apply with ``kubectl apply -f``)."""
    return yaml.safe_dump(kuberay_manifest(spec, name), sort_keys=False, default_flow_style=False)


__all__ = ["kuberay_manifest", "manifest_yaml"]

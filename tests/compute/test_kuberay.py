"""``tide cluster manifest``: a KubeRay RayCluster with the autoscaler on and one worker group per node type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tideflow.cli.cluster_cmds import cluster_app
from tideflow.compute import ComputeError, autoscaling_config, kuberay_manifest, manifest_yaml
from tideflow.project import ClusterSpec

SPEC = ClusterSpec.model_validate({
    "head": {"cpu": 2, "memory_gb": 8},
    "idle_timeout_s": 90,
    "upscaling_speed": 2,
    "node_types": {
        "cpu_small": {"resources": {"cpu": 4, "memory_gb": 16}, "min_workers": 1, "max_workers": 10},
        "gpu_h100": {"resources": {"cpu": 8, "memory_gb": 64, "gpu": 1, "accelerator_type": "H100",
                                   "custom": {"fast_disk": 1}}, "max_workers": 2},
    },
})


def groups(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["groupName"]: g for g in manifest["spec"]["workerGroupSpecs"]}


def test_raycluster_has_autoscaler_and_node_types() -> None:
    m = kuberay_manifest(SPEC, "fraud")
    assert m["apiVersion"] == "ray.io/v1"
    assert m["kind"] == "RayCluster"
    assert m["metadata"]["name"] == "fraud"
    spec = m["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == 90
    assert spec["autoscalerOptions"]["upscalingMode"] == "Default"
    assert spec["rayVersion"] == "2.60.0"
    g = groups(m)
    assert set(g) == {"cpu-small", "gpu-h100"}
    assert (g["cpu-small"]["minReplicas"], g["cpu-small"]["maxReplicas"], g["cpu-small"]["replicas"]) == (1, 10, 1)
    assert (g["gpu-h100"]["minReplicas"], g["gpu-h100"]["maxReplicas"]) == (0, 2)


def test_gpu_group_requests_gpus_and_lands_on_the_accelerator() -> None:
    g = groups(kuberay_manifest(SPEC, "fraud"))["gpu-h100"]
    pod = g["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "64000M", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "H100"}
    assert g["rayStartParams"]["num-gpus"] == "1"
    assert "accelerator_type:H100" in g["rayStartParams"]["resources"]
    assert "fast_disk" in g["rayStartParams"]["resources"]
    cpu_pod = groups(kuberay_manifest(SPEC, "fraud"))["cpu-small"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in cpu_pod


@pytest.mark.parametrize(("speed", "mode"), [(0.5, "Conservative"), (1, "Default"), (50, "Aggressive")])
def test_upscaling_speed_maps_to_mode(speed: float, mode: str) -> None:
    spec = SPEC.model_copy(update={"upscaling_speed": speed})
    assert kuberay_manifest(spec, "x")["spec"]["autoscalerOptions"]["upscalingMode"] == mode


def test_pod_templates_are_valid_kubernetes_pods() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    m = kuberay_manifest(SPEC, "fraud")
    templates = [m["spec"]["headGroupSpec"]["template"]] + [g["template"] for g in m["spec"]["workerGroupSpecs"]]
    for template in templates:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check", **template["metadata"]},
               "spec": template["spec"]}
        kubernetes_validate.validate(pod, "1.33.0", strict=True)


def test_yaml_round_trips_and_bad_names_fail() -> None:
    assert yaml.safe_load(manifest_yaml(SPEC, "fraud")) == kuberay_manifest(SPEC, "fraud")
    with pytest.raises(ComputeError, match="cannot be a Kubernetes name"):
        kuberay_manifest(SPEC, "___")


def test_fake_multinode_config_mirrors_the_spec() -> None:
    config = autoscaling_config(SPEC, "127.0.0.1:1234")
    assert config["provider"]["type"] == "fake_multinode"
    assert config["provider"]["gcs_address"] == "127.0.0.1:1234"
    assert config["idle_timeout_minutes"] == 1.5
    assert config["max_workers"] == 12
    gpu = config["available_node_types"]["gpu_h100"]
    assert gpu["resources"] == {"CPU": 8.0, "GPU": 1.0, "memory": 64e9, "accelerator_type:H100": 1.0, "fast_disk": 1.0}
    assert (gpu["min_workers"], gpu["max_workers"]) == (0, 2)


def test_cli_manifest_writes_the_file(tmp_path: Path) -> None:
    (tmp_path / "tideflow.yaml").write_text(yaml.safe_dump({
        "name": "fraud", "compute": {"cluster": SPEC.model_dump(mode="json")}}))
    out = tmp_path / "raycluster.yaml"
    result = CliRunner().invoke(cluster_app, ["manifest", "--out", str(out), "--project", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["spec"]["enableInTreeAutoscaling"] is True
    result = CliRunner().invoke(cluster_app, ["manifest", "--project", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "kind: RayCluster" in result.output


def test_cli_without_cluster_section_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "tideflow.yaml").write_text("name: fraud\n")
    result = CliRunner().invoke(cluster_app, ["manifest", "--project", str(tmp_path)])
    assert result.exit_code == 2
    assert "compute.cluster" in result.output

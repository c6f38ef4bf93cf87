"""The ``compute:`` section of ``tideflow.yaml``: resource profiles and the elastic cluster."""

from __future__ import annotations

from pydantic import Field, StrictFloat, StrictInt, model_validator

from tideflow.project.yamlfile import key_error
from tideflow.recipes import Strict


class ResourceProfile(Strict):
    """What one task (a trial, a scoring batch, a Python recipe) asks of the cluster."""

    cpu: StrictFloat = Field(default=1.0, gt=0)
    memory_gb: StrictFloat | None = Field(default=None, gt=0)
    gpu: StrictFloat = Field(default=0.0, ge=0)
    accelerator_type: str | None = None
    custom: dict[str, StrictFloat] = Field(default_factory=dict)


class NodeResources(Strict):
    cpu: StrictFloat = Field(default=1.0, ge=0)
    memory_gb: StrictFloat | None = Field(default=None, gt=0)
    gpu: StrictFloat = Field(default=0.0, ge=0)
    accelerator_type: str | None = None
    custom: dict[str, StrictFloat] = Field(default_factory=dict)


class NodeType(Strict):
    """A kind of worker node the autoscaler may launch between ``min_workers`` and ``max_workers``."""

    resources: NodeResources = Field(default_factory=NodeResources)
    min_workers: StrictInt = Field(default=0, ge=0)
    max_workers: StrictInt = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> NodeType:
        if self.min_workers > self.max_workers:
            raise key_error(("min_workers",), f"expected at most max_workers ({self.max_workers}), "
                                              f"got {self.min_workers}")
        return self


class ClusterSpec(Strict):
    """An autoscaling cluster: the head, worker node types, idle timeout and upscaling speed."""

    head: NodeResources = Field(default_factory=lambda: NodeResources(cpu=0))
    node_types: dict[str, NodeType] = Field(default_factory=dict)
    idle_timeout_s: StrictFloat = Field(default=60.0, gt=0)
    upscaling_speed: StrictFloat = Field(default=1.0, gt=0)
    image: str = "rayproject/ray:2.60.0-py311"


class ComputeSpec(Strict):
    """Where elastic work runs: a local Ray runtime by default, ``address`` (or TIDE_RAY_ADDRESS)
    to attach to an existing cluster; named ``profiles`` that tasks reference."""

    address: str | None = None
    num_cpus: StrictInt | None = Field(default=None, ge=1)
    profiles: dict[str, ResourceProfile] = Field(default_factory=lambda: {"default": ResourceProfile()})
    cluster: ClusterSpec | None = None

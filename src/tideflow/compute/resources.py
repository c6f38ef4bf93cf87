"""Pure translation between Tideflow resource specs and Ray resource dictionaries; feasibility checks.

No Ray import here: everything is a function of plain dictionaries, so it is tested without a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from tideflow.compute.errors import ComputeError
from tideflow.project import ClusterSpec, NodeResources, ResourceProfile

GB = 1_000_000_000
ACCELERATOR_PREFIX = "accelerator_type:"
#: Ray's convention: a task asking for an accelerator type asks for a tiny amount of this resource.
ACCELERATOR_AMOUNT = 0.001


def profile_resources(profile: ResourceProfile) -> dict[str, float]:
    """What one task with ``profile`` asks of a node, in Ray's resource names (``memory`` in bytes)."""
    asked: dict[str, float] = {"CPU": float(profile.cpu)}
    if profile.gpu:
        asked["GPU"] = float(profile.gpu)
    if profile.memory_gb is not None:
        asked["memory"] = float(profile.memory_gb) * GB
    if profile.accelerator_type:
        asked[ACCELERATOR_PREFIX + profile.accelerator_type] = ACCELERATOR_AMOUNT
    for name, amount in profile.custom.items():
        asked[name] = float(amount)
    return asked


def ray_options(profile: ResourceProfile) -> dict[str, object]:
    """Keyword arguments for ``.options(...)`` of a Ray task or actor with ``profile``."""
    asked = profile_resources(profile)
    options: dict[str, object] = {"num_cpus": asked.pop("CPU"), "num_gpus": asked.pop("GPU", 0.0)}
    if "memory" in asked:
        options["memory"] = int(asked.pop("memory"))
    if asked:
        options["resources"] = asked
    return options


def node_resources(node: NodeResources) -> dict[str, float]:
    """What a node of this kind offers, in Ray's resource names (``memory`` only when declared)."""
    offered: dict[str, float] = {"CPU": float(node.cpu)}
    if node.gpu:
        offered["GPU"] = float(node.gpu)
    if node.memory_gb is not None:
        offered["memory"] = float(node.memory_gb) * GB
    if node.accelerator_type:
        offered[ACCELERATOR_PREFIX + node.accelerator_type] = 1.0
    for name, amount in node.custom.items():
        offered[name] = float(amount)
    return offered


def field_name(resource: str) -> str:
    """The profile field a Ray resource name comes from (for error messages)."""
    if resource == "CPU":
        return "cpu"
    if resource == "GPU":
        return "gpu"
    if resource == "memory":
        return "memory_gb"
    if resource.startswith(ACCELERATOR_PREFIX):
        return "accelerator_type"
    return f"custom.{resource}"


def _show(resource: str, amount: float) -> str:
    if resource == "memory":
        return f"{amount / GB:g}"
    if resource.startswith(ACCELERATOR_PREFIX):
        return repr(resource[len(ACCELERATOR_PREFIX):])
    return f"{amount:g}"


@dataclass(frozen=True)
class NodeOffer:
    """One place a task could run: a live node, or a node type the autoscaler may launch."""

    name: str
    resources: Mapping[str, float]
    #: How many such nodes can exist at once (1 for a live node, ``max_workers`` for a node type).
    count: int = 1
    #: Resources Ray detects at start (memory on a node type that does not declare it): not a limit.
    unknown: frozenset[str] = field(default_factory=frozenset)

    def fits(self, asked: Mapping[str, float]) -> bool:
        return all(r in self.unknown or self.resources.get(r, 0.0) + 1e-9 >= a for r, a in asked.items())

    def copies(self, asked: Mapping[str, float]) -> int:
        """How many tasks asking ``asked`` fit on one such node at once."""
        limits = [
            math.floor(self.resources.get(r, 0.0) / a + 1e-9)
            for r, a in asked.items()
            if a > 0 and r not in self.unknown and not r.startswith(ACCELERATOR_PREFIX)
        ]
        return max(0, min(limits)) if limits else 1


def cluster_offers(cluster: ClusterSpec | None) -> list[NodeOffer]:
    """The node types of ``cluster`` as offers (node types with ``max_workers: 0`` offer nothing)."""
    if cluster is None:
        return []
    offers = []
    for name, node_type in cluster.node_types.items():
        if node_type.max_workers <= 0:
            continue
        unknown = frozenset({"memory"}) if node_type.resources.memory_gb is None else frozenset()
        offers.append(NodeOffer(f"node type {name!r}", node_resources(node_type.resources),
                                node_type.max_workers, unknown))
    return offers


def check_feasible(profile: ResourceProfile, offers: list[NodeOffer], *, where: str) -> None:
    """Raise ``ComputeError`` when no offer could ever run a task with ``profile``.

    The message names ``where``, the profile field, what was asked and the most any node offers.
    """
    asked = profile_resources(profile)
    if any(offer.fits(asked) for offer in offers):
        return
    nodes = "; ".join(f"{o.name}: {summary(o.resources)}" for o in offers) or "none"
    for resource, amount in asked.items():
        best = max((o.resources.get(resource, 0.0) for o in offers if resource not in o.unknown), default=0.0)
        if any(resource in o.unknown for o in offers) or best + 1e-9 >= amount:
            continue
        got = _show(resource, best) if best else "none"
        raise ComputeError(
            f"{where}: resource profile asks {field_name(resource)}: {_show(resource, amount)} but no node can "
            f"ever provide it (at most {got} on any node, now or launchable; nodes: {nodes})"
        )
    raise ComputeError(
        f"{where}: resource profile {summary(asked)} fits no single node, now or launchable (nodes: {nodes})"
    )


def capacity(profile: ResourceProfile, offers: list[NodeOffer]) -> int:
    """How many tasks with ``profile`` the offers can run at once."""
    asked = profile_resources(profile)
    return sum(o.copies(asked) * o.count for o in offers if o.fits(asked))


def summary(resources: Mapping[str, float]) -> str:
    """Resources in profile-field terms (``cpu=2, memory_gb=4``), Ray's internal ones left out."""
    shown = []
    for name, amount in sorted(resources.items()):
        if name.startswith("node:") or name == "object_store_memory" or name.startswith("ray.io"):
            continue
        shown.append(f"{field_name(name)}={_show(name, amount)}")
    return ", ".join(shown) or "nothing"


__all__ = [
    "NodeOffer",
    "capacity",
    "check_feasible",
    "cluster_offers",
    "node_resources",
    "profile_resources",
    "ray_options",
    "summary",
]

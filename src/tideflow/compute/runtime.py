"""Open a Ray runtime: attach to a cluster by address, or start (or reuse) a local one."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from tideflow.compute._ray import import_ray, keep_on_loopback
from tideflow.compute.cluster import free_ports
from tideflow.compute.errors import ComputeError
from tideflow.compute.pool import WorkerPool
from tideflow.compute.resources import NodeOffer, capacity, check_feasible, cluster_offers
from tideflow.project import ComputeSpec, ResourceProfile

ADDRESS_ENV = "TIDE_RAY_ADDRESS"

#: Node resources that are bookkeeping, not hardware.
_HIDDEN_PREFIXES = ("node:", "object_store_memory")


class Runtime:
    """A connection to a Ray runtime. Use as a context manager; closing shuts down only what it started."""

    def __init__(self, spec: ComputeSpec, *, started: bool, address: str | None) -> None:
        self.spec = spec
        self.started = started
        self.address = address
        self._pools: list[WorkerPool] = []
        self._closed = False

    # -- resources ---------------------------------------------------------------------------------

    def total_resources(self) -> dict[str, float]:
        """The cluster's resources now, in Ray's names (``CPU``, ``GPU``, ``memory`` in bytes, custom ones)."""
        ray = import_ray()
        return {str(k): float(v) for k, v in ray.cluster_resources().items()}

    def offers(self) -> list[NodeOffer]:
        """Every place a task could run: the live nodes, and the node types the autoscaler may launch."""
        ray = import_ray()
        live = []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            resources = {str(k): float(v) for k, v in node.get("Resources", {}).items()
                         if not str(k).startswith(_HIDDEN_PREFIXES)}
            live.append(NodeOffer(f"node {node.get('NodeManagerAddress', '?')}:{str(node['NodeID'])[:8]}",
                                  resources))
        return live + cluster_offers(self.spec.cluster)

    def check_feasible(self, profile: ResourceProfile, *, where: str) -> None:
        """Raise ``ComputeError`` at once when no node, live or launchable, could ever run ``profile``."""
        check_feasible(profile, self.offers(), where=where)

    def capacity(self, profile: ResourceProfile) -> int:
        """How many tasks with ``profile`` can run at once (live nodes plus launchable node types)."""
        return capacity(profile, self.offers())

    # -- data and workers --------------------------------------------------------------------------

    def put(self, obj: Any) -> Any:
        """Put ``obj`` in the object store once; pass the returned ref as ``shared=`` to ``map_unordered``."""
        return import_ray().put(obj)

    def worker_pool(self, profile: ResourceProfile, size: int | None = None, *,
                    start_timeout_s: float | None = None) -> WorkerPool:
        """Warm actors for ``profile`` (``size`` default: as many as the cluster can run at once).

        ``start_timeout_s`` (see ``WorkerPool``) defaults to 10 minutes, or an hour when the cluster spec
        has node types the autoscaler may launch (a new node can take that long to come up)."""
        if start_timeout_s is None:
            start_timeout_s = 3600.0 if cluster_offers(self.spec.cluster) else 600.0
        self.check_feasible(profile, where="worker pool")
        if size is None:
            size = max(1, self.capacity(profile))
        if size < 1:
            raise ComputeError(f"worker pool size must be at least 1, got {size}")
        pool = WorkerPool(profile, size, start_timeout_s=start_timeout_s)
        self._pools.append(pool)
        return pool

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pool in self._pools:
            pool.close()
        if self.started:
            import_ray().shutdown()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_runtime(spec: ComputeSpec, *, address: str | None = None) -> Runtime:
    """A runtime attached to ``address`` / ``spec.address`` / ``$TIDE_RAY_ADDRESS``; else a local one.

    A local runtime binds to 127.0.0.1, has no dashboard, free ports, and ``spec.num_cpus`` CPUs (default:
    the machine's). When Ray is already initialised in this process, that runtime is reused and left
    running on close.
    """
    ray = import_ray()
    target = address or spec.address or os.environ.get(ADDRESS_ENV) or None
    if ray.is_initialized():
        return Runtime(spec, started=False, address=_current_address(ray))
    if target:
        try:
            ray.init(address=target, log_to_driver=False, configure_logging=False)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
            raise ComputeError(f"cannot attach to the Ray cluster at {target!r}: {error}") from error
        return Runtime(spec, started=True, address=target)
    keep_on_loopback(ray)
    os.environ["AUTOSCALER_METRIC_PORT"] = str(free_ports(1)[0])
    ray.init(
        address="local",  # never connect to some other cluster found on this machine
        num_cpus=spec.num_cpus or os.cpu_count() or 1,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address="127.0.0.1",
    )
    return Runtime(spec, started=True, address=_current_address(ray))


def _current_address(ray: Any) -> str | None:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # pragma: no cover - older runtime contexts
        return None


__all__ = ["ADDRESS_ENV", "Runtime", "open_runtime"]

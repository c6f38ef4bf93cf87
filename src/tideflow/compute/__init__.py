"""Elastic compute on Ray: the only package that imports ray.

``open_runtime(spec)`` attaches to a cluster (``compute.address`` / ``$TIDE_RAY_ADDRESS``) or starts a
local runtime; ``Runtime.worker_pool(profile)`` gives warm actors that run many items at once;
``start_local_cluster`` and ``kuberay_manifest`` serve ``tide cluster up --local`` and
``tide cluster manifest``. Ray itself is imported lazily.
"""

from tideflow.compute.cluster import LocalCluster, NodeInfo, autoscaling_config, start_local_cluster
from tideflow.compute.errors import ComputeError
from tideflow.compute.kuberay import kuberay_manifest, manifest_yaml
from tideflow.compute.pool import TaskFailure, WorkerPool
from tideflow.compute.resources import check_feasible, profile_resources, ray_options
from tideflow.compute.runtime import ADDRESS_ENV, Runtime, open_runtime

__all__ = [
    "ADDRESS_ENV",
    "ComputeError",
    "LocalCluster",
    "NodeInfo",
    "Runtime",
    "TaskFailure",
    "WorkerPool",
    "autoscaling_config",
    "check_feasible",
    "kuberay_manifest",
    "manifest_yaml",
    "open_runtime",
    "profile_resources",
    "ray_options",
    "start_local_cluster",
]

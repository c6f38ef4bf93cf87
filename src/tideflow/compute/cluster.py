"""A local autoscaling Ray cluster for ``tide cluster up --local`` (Ray's fake multi-node provider).

The head is started with ``ray start --head --block --autoscaling-config=<generated yaml>`` in its own
process group, bound to 127.0.0.1 with free ports; extra worker nodes are local processes launched
by the autoscaler and inherit that group. ``LocalCluster.stop`` ends that group only (never
``ray stop``, which kills every Ray process on the machine by name).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tideflow.compute._ray import enable_token_auth_if_configured
from tideflow.compute.errors import ComputeError
from tideflow.compute.kuberay import kuberay_manifest, manifest_yaml
from tideflow.compute.resources import node_resources
from tideflow.project import ClusterSpec

HEAD_NODE_TYPE = "ray.head.default"
STATE_FILE = "cluster.json"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def ray_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Ray process we start gets: loopback only, no usage stats."""
    env = dict(os.environ if base is None else base)
    env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env


def autoscaling_config(spec: ClusterSpec, gcs_address: str, name: str = "tideflow-local") -> dict[str, Any]:
    """The autoscaler config for Ray's ``fake_multinode`` provider with the node types of ``spec``."""
    node_types: dict[str, Any] = {
        HEAD_NODE_TYPE: {"resources": node_resources(spec.head), "node_config": {}, "max_workers": 0},
    }
    for type_name, node_type in spec.node_types.items():
        if type_name == HEAD_NODE_TYPE:
            raise ComputeError(f"compute.cluster.node_types: {type_name!r} is reserved for the head node")
        node_types[type_name] = {
            "resources": node_resources(node_type.resources),
            "node_config": {},
            "min_workers": node_type.min_workers,
            "max_workers": node_type.max_workers,
        }
    return {
        "cluster_name": name,
        "max_workers": sum(t.max_workers for t in spec.node_types.values()),
        "upscaling_speed": spec.upscaling_speed,
        "idle_timeout_minutes": spec.idle_timeout_s / 60.0,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": gcs_address,
        },
        "auth": {"ssh_user": "ubuntu"},
        "docker": {},
        "available_node_types": node_types,
        "head_node_type": HEAD_NODE_TYPE,
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@dataclass(frozen=True)
class NodeInfo:
    """One live node of a cluster, as seen by its GCS."""

    node_id: str
    node_type: str
    is_head: bool
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class LocalCluster:
    """A running local autoscaling cluster; ``stop()`` ends exactly the processes it started."""

    address: str
    pid: int
    workdir: Path
    ports: dict[str, int]
    temp_dir: str | None = None
    _process: subprocess.Popen[bytes] | None = None

    def nodes(self) -> list[NodeInfo]:
        """The live nodes (head first), their node type and resources."""
        return list_nodes(self.address)

    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return _pid_alive(self.pid)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Terminate the cluster's process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
        _stop_group(self.pid, timeout_s, self._process)
        (self.workdir / STATE_FILE).unlink(missing_ok=True)
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def save(self) -> Path:
        path = self.workdir / STATE_FILE
        path.write_text(json.dumps(
            {"address": self.address, "pid": self.pid, "ports": self.ports, "temp_dir": self.temp_dir}, indent=2))
        return path

    @classmethod
    def load(cls, workdir: Path) -> LocalCluster | None:
        """The cluster recorded in ``workdir`` by ``tide cluster up --local``, or None."""
        path = workdir / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(address=data["address"], pid=int(data["pid"]), workdir=workdir, ports=data["ports"],
                   temp_dir=data.get("temp_dir"))

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_cluster(spec: ClusterSpec, workdir: Path, *, timeout_s: float = 180.0) -> LocalCluster:
    """Start a head node with an autoscaler over the fake multi-node provider and wait until it answers.

    ``workdir`` holds the generated autoscaling config, the head's log and ``cluster.json``.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    names = ["gcs", "node_manager", "object_manager", "client", "agent_listen", "agent_grpc", "runtime_env",
             "metrics", "autoscaler_metrics", "dashboard"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    address = f"127.0.0.1:{ports['gcs']}"
    config_path = workdir / "autoscaling.yaml"
    config_path.write_text(yaml.safe_dump(autoscaling_config(spec, address), sort_keys=False))
    head = node_resources(spec.head)
    custom = {k: v for k, v in head.items() if k not in ("CPU", "GPU", "memory")}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    # Our own temp dir (short: it holds Unix sockets), so that the machine-wide /tmp/ray/ray_current_cluster
    # that a bare ``ray.init()`` elsewhere would pick up is never written.
    temp_dir = tempfile.mkdtemp(prefix="tfray-", dir="/tmp")
    command = [
        ray_bin, "start", "--head", "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={ports['gcs']}",
        f"--node-manager-port={ports['node_manager']}",
        f"--object-manager-port={ports['object_manager']}",
        f"--ray-client-server-port={ports['client']}",
        f"--dashboard-agent-listen-port={ports['agent_listen']}",
        f"--dashboard-agent-grpc-port={ports['agent_grpc']}",
        f"--runtime-env-agent-port={ports['runtime_env']}",
        f"--metrics-export-port={ports['metrics']}",
        f"--dashboard-port={ports['dashboard']}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--num-cpus={int(head['CPU'])}",
        f"--num-gpus={int(head.get('GPU', 0))}",
        f"--autoscaling-config={config_path}",
        f"--temp-dir={temp_dir}",
    ]
    if custom:
        command.append(f"--resources={json.dumps(custom)}")
    env = ray_environment()
    env.update({
        "RAY_FAKE_CLUSTER": "1",
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        "AUTOSCALER_METRIC_PORT": str(ports["autoscaler_metrics"]),
    })
    log = (workdir / "head.log").open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=workdir)
    log.close()
    cluster = LocalCluster(address=address, pid=process.pid, workdir=workdir, ports=ports, temp_dir=temp_dir,
                           _process=process)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    try:
        while True:
            if process.poll() is not None:
                tail = (workdir / "head.log").read_text(errors="replace")[-2000:]
                raise ComputeError(f"the local cluster's head exited with code {process.returncode}:\n{tail}")
            try:
                if any(n.is_head for n in list_nodes(address, timeout_s=2)):
                    break
            except Exception as error:
                last_error = error
            if time.monotonic() > deadline:
                raise ComputeError(f"the local cluster's head did not answer within {timeout_s:g} s "
                                   f"(log: {workdir / 'head.log'}; last error: {last_error})")
            time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise
    cluster.save()
    return cluster


def list_nodes(address: str, timeout_s: float = 10.0) -> list[NodeInfo]:
    """The live nodes of the cluster whose GCS is at ``address`` (no driver is connected)."""
    enable_token_auth_if_configured()  # before Ray's C++ core reads its auth mode
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    client = GcsClient(address=address)
    infos = client.get_all_node_info(timeout=timeout_s)
    nodes = []
    for node_id, info in infos.items():
        if info.state != 0:  # ALIVE
            continue
        labels = dict(getattr(info, "labels", {}) or {})
        resources = {str(k): float(v) for k, v in dict(info.resources_total).items()}
        node_type = (getattr(info, "node_type_name", "") or labels.get("ray.io/node-group")
                     or (HEAD_NODE_TYPE if info.is_head_node else "worker"))
        nodes.append(NodeInfo(node_id=node_id.hex(), node_type=str(node_type), is_head=bool(info.is_head_node),
                              resources=resources))
    nodes.sort(key=lambda n: (not n.is_head, n.node_id))
    return nodes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int, process: subprocess.Popen[bytes] | None = None) -> bool:
    if process is not None:
        process.poll()  # reap the leader, so that a zombie does not count as alive
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(pgid: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _group_alive(pgid, process) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid, process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _group_alive(pgid, process) and time.monotonic() < deadline:
            time.sleep(0.1)


__all__ = [
    "LocalCluster",
    "NodeInfo",
    "autoscaling_config",
    "free_ports",
    "kuberay_manifest",
    "list_nodes",
    "manifest_yaml",
    "start_local_cluster",
]

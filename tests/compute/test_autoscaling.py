"""A real local autoscaling cluster (Ray's fake multi-node provider): nodes join on demand, of the right
type, and leave when idle. The driver runs in a subprocess (this process holds the session runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tideflow.compute import LocalCluster, start_local_cluster
from tideflow.project import ClusterSpec

pytestmark = pytest.mark.slow

IDLE_TIMEOUT_S = 5
SPEC = {
    "head": {"cpu": 0},
    "idle_timeout_s": IDLE_TIMEOUT_S,
    "node_types": {
        "cpu_worker": {"resources": {"cpu": 1}, "max_workers": 2},
        "gpu_worker": {"resources": {"cpu": 1, "gpu": 1, "accelerator_type": "H100"}, "max_workers": 1},
    },
}

DRIVER = textwrap.dedent("""
    import json, os, sys, time
    from tideflow.compute import open_runtime
    from tideflow.project import ComputeSpec, ResourceProfile

    address, profile, count, seconds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    spec = ComputeSpec.model_validate({"cluster": json.loads(sys.argv[5])})

    def work(_shared, item):
        time.sleep(seconds)
        return os.environ.get("RAY_NODE_TYPE_NAME", "?")

    with open_runtime(spec, address=address) as rt:
        rp = ResourceProfile(**profile)
        rt.check_feasible(rp, where="driver")
        with rt.worker_pool(rp, size=count) as pool:
            print(json.dumps(sorted(r for _i, r in pool.map_unordered(work, range(count)))))
""")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    started = time.monotonic()
    local = start_local_cluster(ClusterSpec.model_validate(SPEC), tmp_path_factory.mktemp("cluster"))
    print(f"head up in {time.monotonic() - started:.1f} s")
    try:
        yield local
    finally:
        local.stop()
        assert not local.alive()


def worker_types(cluster: LocalCluster) -> list[str]:
    return sorted(n.node_type for n in cluster.nodes() if not n.is_head)


def wait_for(predicate: object, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def run_driver(cluster: LocalCluster, tmp: Path, profile: dict[str, object], count: int, seconds: float,
               ) -> tuple[subprocess.Popen[str], Path]:
    script = tmp / "driver.py"
    script.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "TIDE_RAY_ADDRESS")}
    log = tmp / "driver.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), cluster.address, json.dumps(profile), str(count), str(seconds),
             json.dumps(SPEC)], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    return proc, log


def finish(proc: subprocess.Popen[str], log: Path, timeout_s: float = 120) -> list[str]:
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-3000:]
    return list(json.loads(stdout.strip().splitlines()[-1]))


def test_pending_cpu_work_makes_cpu_workers_join(cluster: LocalCluster, tmp_path: Path) -> None:
    wait_for(lambda: worker_types(cluster) == [], 60, "an empty cluster")
    assert [n.is_head for n in cluster.nodes()] == [True]
    assert cluster.nodes()[0].resources.get("CPU", 0) == 0  # the head cannot run the work itself
    started = time.monotonic()
    proc, log = run_driver(cluster, tmp_path, {"cpu": 1}, count=2, seconds=8)
    seen: set[str] = set()

    def two_joined() -> bool:
        types = worker_types(cluster)
        seen.update(types)
        return types.count("cpu_worker") == 2

    first = wait_for(lambda: bool(worker_types(cluster)), 90, "a first worker node")
    both = wait_for(two_joined, 90, "two cpu_worker nodes") + first
    ran_on = finish(proc, log)
    total = time.monotonic() - started
    print(f"first node joined {first:.1f} s, two nodes {both:.1f} s after demand; total {total:.1f} s")
    assert ran_on == ["cpu_worker", "cpu_worker"]
    assert "gpu_worker" not in seen


def test_gpu_task_makes_only_a_gpu_node_join(cluster: LocalCluster, tmp_path: Path) -> None:
    wait_for(lambda: worker_types(cluster) == [], 60, "idle nodes to leave before the GPU test")
    proc, log = run_driver(cluster, tmp_path, {"cpu": 1, "gpu": 1, "accelerator_type": "H100"}, count=1, seconds=6)
    seen: set[str] = set()

    def gpu_joined() -> bool:
        types = worker_types(cluster)
        seen.update(types)
        return "gpu_worker" in types

    joined = wait_for(gpu_joined, 90, "a gpu_worker node")
    ran_on = finish(proc, log)
    seen.update(worker_types(cluster))
    print(f"gpu node joined {joined:.1f} s after demand")
    assert ran_on == ["gpu_worker"]
    assert seen == {"gpu_worker"}
    gpu_node = next(n for n in cluster.nodes() if n.node_type == "gpu_worker")
    assert gpu_node.resources["GPU"] == 1
    assert gpu_node.resources["accelerator_type:H100"] == 1


def test_idle_nodes_leave_after_the_timeout(cluster: LocalCluster, tmp_path: Path) -> None:
    proc, log = run_driver(cluster, tmp_path, {"cpu": 1}, count=1, seconds=1)
    wait_for(lambda: bool(worker_types(cluster)), 90, "a worker node")
    finish(proc, log)
    assert worker_types(cluster) != []
    idle_for = wait_for(lambda: worker_types(cluster) == [], 60, "idle nodes to leave")
    print(f"idle nodes left {idle_for:.1f} s after the work ended (idle timeout {IDLE_TIMEOUT_S} s)")
    assert idle_for >= IDLE_TIMEOUT_S - 1  # not before the timeout
    assert [n.is_head for n in cluster.nodes()] == [True]

"""Worker pools on the real local runtime: data shipped once, threads per actor, failures, retries."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray import cloudpickle

from tideflow.compute import ComputeError, Runtime, TaskFailure
from tideflow.compute.resources import NodeOffer, capacity, check_feasible
from tideflow.project import ComputeSpec, ResourceProfile

# Functions of this module run inside Ray workers, which cannot import a test module by name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

COUNTER = "TIDEFLOW_TEST_UNPICKLED"


def _revive(payload: np.ndarray) -> Payload:
    os.environ[COUNTER] = str(int(os.environ.get(COUNTER, "0")) + 1)  # per process, survives re-imports
    return Payload(payload)


class Payload:
    """Training data stand-in that counts, per worker process, how often it was deserialised."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (_revive, (self.data,))


def _use_data(shared: Payload, item: int) -> tuple[int, int, float]:
    time.sleep(0.05)
    return os.getpid(), int(os.environ[COUNTER]), float(shared.data[item])


def _threads(_shared: None, _item: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    blas = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"omp": os.environ.get("OMP_NUM_THREADS"), "blas": blas}


def _square(_shared: None, item: int) -> int:
    return item * item


def _maybe_fail(_shared: None, item: int) -> int:
    if item == 3:
        raise ValueError(f"bad item {item}")
    return item * item


def _die_once(marker_dir: str, item: int) -> int:
    marker = Path(marker_dir) / f"killed-{item}"
    if item == 2 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return item + 100


def _always_die(_shared: None, item: int) -> int:
    if item == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return item


def test_shared_data_is_shipped_once_per_actor(runtime: Runtime) -> None:
    data = np.arange(1_000_000, dtype=np.float64)  # 8 MB
    ref = runtime.put(Payload(data))
    with runtime.worker_pool(ResourceProfile(cpu=1), size=2) as pool:
        results = dict(pool.map_unordered(_use_data, range(40), shared=ref))
        stats = pool.stats()
    assert sorted(results) == list(range(40))
    assert all(value == float(item) for item, (_pid, _n, value) in results.items())
    pids = {pid for pid, _n, _v in results.values()}
    assert 1 <= len(pids) <= 2
    assert len({s["pid"] for s in stats}) == 2
    # Deserialised exactly once in each worker process however many items it ran.
    assert {n for _pid, n, _v in results.values()} == {1}
    assert sum(s["calls"] for s in stats) == 40
    assert all(s["resolved"] == 1 for s in stats if s["calls"])


@pytest.mark.parametrize("cpu", [1, 2])
def test_threads_per_actor_equal_profile_cpu(runtime: Runtime, cpu: int) -> None:
    with runtime.worker_pool(ResourceProfile(cpu=cpu), size=2 // cpu) as pool:
        seen = [result for _item, result in pool.map_unordered(_threads, range(4))]
    assert len(seen) == 4
    for result in seen:
        assert result["omp"] == str(cpu)
        assert result["blas"]
        assert set(result["blas"]) == {cpu}


def test_default_pool_size_is_what_the_cluster_offers(runtime: Runtime) -> None:
    assert runtime.total_resources()["CPU"] == 2
    with runtime.worker_pool(ResourceProfile(cpu=1)) as pool:
        assert pool.size == 2
    with runtime.worker_pool(ResourceProfile(cpu=0.5)) as pool:
        assert pool.size == 4


def test_exception_in_fn_is_a_failed_result_not_a_retry(runtime: Runtime) -> None:
    with runtime.worker_pool(ResourceProfile(cpu=1), size=2) as pool:
        results = dict(pool.map_unordered(_maybe_fail, range(6)))
        calls = sum(s["calls"] for s in pool.stats())
    assert calls == 6
    failure = results.pop(3)
    assert isinstance(failure, TaskFailure)
    assert failure.error_type == "ValueError"
    assert "bad item 3" in failure.message and "_maybe_fail" in failure.traceback
    assert results == {i: i * i for i in (0, 1, 2, 4, 5)}


def test_item_whose_worker_is_killed_is_retried(runtime: Runtime, tmp_path: Path) -> None:
    marker_dir = runtime.put(str(tmp_path))
    with runtime.worker_pool(ResourceProfile(cpu=1), size=2) as pool:
        results = dict(pool.map_unordered(_die_once, range(6), shared=marker_dir))
    assert results == {i: i + 100 for i in range(6)}
    assert (tmp_path / "killed-2").exists()  # it really died once


def test_item_whose_worker_keeps_dying_fails_naming_it(runtime: Runtime) -> None:
    with runtime.worker_pool(ResourceProfile(cpu=1), size=1) as pool, \
            pytest.raises(ComputeError, match=r"item 1 failed: its worker died 2 times \(max_retries=1\)"):
        list(pool.map_unordered(_always_die, range(3), max_retries=1))


@pytest.mark.parametrize(
    ("profile", "match"),
    [
        (ResourceProfile(gpu=1), r"models/fraud.yaml profile 'big': resource profile asks gpu: 1 .*at most none"),
        (ResourceProfile(cpu=64), r"profile 'big': resource profile asks cpu: 64 .*at most 2 on any node"),
        (ResourceProfile(accelerator_type="H100"), r"asks accelerator_type: 'H100'"),
        (ResourceProfile(custom={"tpu_slice": 1}), r"asks custom.tpu_slice: 1"),
    ],
)
def test_infeasible_profile_fails_at_once(runtime: Runtime, profile: ResourceProfile, match: str) -> None:
    started = time.monotonic()
    with pytest.raises(ComputeError, match=match):
        runtime.check_feasible(profile, where="models/fraud.yaml profile 'big'")
    with pytest.raises(ComputeError, match=r"worker pool: resource profile asks " + match.split("asks ")[1]):
        runtime.worker_pool(profile)
    assert time.monotonic() - started < 5


def test_a_launchable_node_type_makes_a_profile_feasible(runtime: Runtime) -> None:
    spec = ComputeSpec.model_validate({"cluster": {"node_types": {
        "gpu": {"resources": {"cpu": 4, "gpu": 1, "accelerator_type": "H100"}, "max_workers": 2},
        "off": {"resources": {"cpu": 64}, "max_workers": 0},
    }}})
    attached = Runtime(spec, started=False, address=runtime.address)
    attached.check_feasible(ResourceProfile(cpu=4, gpu=1, accelerator_type="H100"), where="trial")
    assert attached.capacity(ResourceProfile(cpu=2, gpu=0.5)) == 4
    with pytest.raises(ComputeError, match=r"asks cpu: 64 .*at most 4"):
        attached.check_feasible(ResourceProfile(cpu=64), where="trial")  # max_workers 0 offers nothing


def test_resources_that_exist_only_on_different_nodes_fit_no_single_node() -> None:
    offers = [NodeOffer("node type 'a'", {"CPU": 2, "x": 1}, 3), NodeOffer("node type 'b'", {"CPU": 2, "y": 1}, 3)]
    check_feasible(ResourceProfile(cpu=2, custom={"x": 1}), offers, where="trial")
    with pytest.raises(ComputeError, match=r"trial: resource profile .*fits no single node"):
        check_feasible(ResourceProfile(cpu=1, custom={"x": 1, "y": 1}), offers, where="trial")
    assert capacity(ResourceProfile(cpu=1, custom={"x": 0.5}), offers) == 6


def test_local_runtime_is_on_loopback_without_dashboard(runtime: Runtime) -> None:
    assert runtime.started
    assert runtime.address is not None and runtime.address.startswith("127.0.0.1:")
    assert all("127.0.0.1" in offer.name for offer in runtime.offers())


def test_a_pool_that_cannot_start_a_worker_says_so_instead_of_waiting_forever(runtime: Runtime) -> None:
    with runtime.worker_pool(ResourceProfile(cpu=2), size=1) as holder:  # holds both CPUs of the runtime
        assert [r for _i, r in holder.map_unordered(_square, [3])] == [9]
        starved = runtime.worker_pool(ResourceProfile(cpu=1), size=2, start_timeout_s=3)
        with starved, pytest.raises(ComputeError, match=r"none of its 2 workers \(cpu=1 each\) started in 3 s; "
                                                        r"the cluster has cpu=0 free"):
            list(starved.map_unordered(_square, range(4)))
    with runtime.worker_pool(ResourceProfile(cpu=1), size=2, start_timeout_s=60) as freed:  # once released
        assert sorted(r for _i, r in freed.map_unordered(_square, range(4))) == [0, 1, 4, 9]

"""Warm worker actors: ``WorkerPool.map_unordered`` runs ``fn(shared, item)`` for many items at once.

Each actor is a long-lived process with threads limited to its profile's CPUs. The ``shared`` value is
a ref put in the object store once; each actor resolves it once and caches it, so it is never re-sent
per item. An item whose actor dies is retried on a fresh actor (bounded); an exception raised by
``fn`` is a result (``TaskFailure``), not a retry.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tideflow.compute._ray import import_ray
from tideflow.compute.errors import ComputeError
from tideflow.compute.resources import profile_resources, ray_options, summary
from tideflow.project import ResourceProfile

T = TypeVar("T")
R = TypeVar("R")

#: Thread-count variables of the common native libraries (OpenMP, BLAS flavours, numexpr, polars, rayon).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS", "POLARS_MAX_THREADS", "RAYON_NUM_THREADS",
)


@dataclass(frozen=True)
class TaskFailure(Generic[T]):
    """``fn`` raised for an item: the exception's type and message, and the worker's traceback."""

    message: str
    error_type: str = "Exception"
    traceback: str = ""

    def __str__(self) -> str:
        return self.message


def threads_for(profile: ResourceProfile) -> int:
    """Threads a task with ``profile`` may use: its CPUs, at least one."""
    return max(1, int(profile.cpu))


class _Worker:
    """The actor body (made remote lazily, so that this module imports without Ray)."""

    def __init__(self, threads: int) -> None:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        self.threads = threads
        self._limits: Any = None
        try:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=threads)
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            pass
        self._shared_key: bytes | None = None
        self._shared: Any = None
        self.resolved = 0
        self.calls = 0

    def ready(self) -> int:
        return os.getpid()

    def run(self, fn: Callable[[Any, Any], Any], item: Any, shared_box: list[Any] | None) -> tuple[Any, ...]:
        self.calls += 1
        value = None
        if shared_box:
            ref = shared_box[0]  # boxed so that Ray does not resolve it on every call
            key = ref.binary()
            if key != self._shared_key:
                ray = import_ray()
                self._shared, self._shared_key = None, None
                self._shared = ray.get(ref)
                self._shared_key = key
                self.resolved += 1
            value = self._shared
        try:
            return (True, fn(value, item))
        except Exception as error:
            return (False, f"{type(error).__name__}: {error}", type(error).__name__, traceback.format_exc())

    def stats(self) -> dict[str, int]:
        return {"pid": os.getpid(), "threads": self.threads, "resolved": self.resolved, "calls": self.calls}


_REMOTE_WORKER: Any = None


def _remote_worker() -> Any:
    global _REMOTE_WORKER
    if _REMOTE_WORKER is None:
        _REMOTE_WORKER = import_ray().remote(_Worker)
    return _REMOTE_WORKER


class WorkerPool:
    """``size`` warm actors, each holding the resources of ``profile`` while the pool is open.

    ``start_timeout_s``: how long ``map_unordered`` waits for a first worker when none is ready (the
    resources are feasible but held by other pools or tasks, or no node can be launched) before it
    raises ``ComputeError`` saying what the workers need and what the cluster has free.
    """

    def __init__(self, profile: ResourceProfile, size: int, *, start_timeout_s: float = 600.0) -> None:
        self.profile = profile
        self.size = size
        self.start_timeout_s = start_timeout_s
        self.threads = threads_for(profile)
        env = {name: str(self.threads) for name in THREAD_VARIABLES}
        self._options: dict[str, Any] = {
            **ray_options(profile),
            "max_restarts": 0,
            "max_task_retries": 0,
            "runtime_env": {"env_vars": env},
        }
        self._actors: list[Any] = [self._spawn() for _ in range(size)]
        self._ready: set[int] = set()
        self._replaced = 0
        self._closed = False

    def _spawn(self) -> Any:
        return _remote_worker().options(**self._options).remote(self.threads)

    def _replace(self, slot: int) -> None:
        ray = import_ray()
        with contextlib.suppress(Exception):
            ray.kill(self._actors[slot], no_restart=True)
        self._ready.discard(slot)
        self._replaced += 1
        if self._replaced > 10 * self.size + 10:
            raise ComputeError(f"worker pool: {self._replaced} workers died; giving up")
        self._actors[slot] = self._spawn()

    def stats(self) -> list[dict[str, int]]:
        """Per actor: pid, threads, how many times it resolved a shared ref, calls served."""
        ray = import_ray()
        return list(ray.get([actor.stats.remote() for actor in self._actors]))

    def map_unordered(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
                      max_retries: int = 2) -> Iterator[tuple[T, R | TaskFailure[T]]]:
        """Run ``fn(shared_value, item)`` for every item on the pool; yield ``(item, result)`` as they finish.

        ``shared`` is a ref from ``Runtime.put`` (a plain value is put once here). A Python exception in
        ``fn`` yields ``(item, TaskFailure)``. An item whose worker dies is retried on a fresh worker up to
        ``max_retries`` times, then ``ComputeError`` names it.
        """
        if self._closed:
            raise ComputeError("worker pool is closed")
        ray = import_ray()
        from ray.exceptions import RayActorError, WorkerCrashedError

        if shared is not None and not isinstance(shared, ray.ObjectRef):
            shared = ray.put(shared)
        box = [shared] if shared is not None else None
        source = iter(items)
        retry: deque[tuple[T, int]] = deque()
        exhausted = False
        idle = [slot for slot in range(self.size) if slot in self._ready]
        probes: dict[Any, int] = {}
        for slot in range(self.size):
            if slot not in self._ready:
                probes[self._actors[slot].ready.remote()] = slot
        running: dict[Any, tuple[int, T, int]] = {}

        def next_item() -> tuple[T, int] | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if exhausted:
                return None
            try:
                return next(source), 0
            except StopIteration:
                exhausted = True
                return None

        try:
            while True:
                while idle:
                    work = next_item()
                    if work is None:
                        break
                    slot = idle.pop()
                    running[self._actors[slot].run.remote(fn, work[0], box)] = (slot, work[0], work[1])
                if not running and exhausted and not retry:
                    return
                # Nothing running: every worker is still starting, so a bounded wait (Ray would queue forever).
                done, _ = ray.wait([*running, *probes], num_returns=1,
                                   timeout=None if running else self.start_timeout_s)
                if not done:
                    raise ComputeError(self._not_started())
                ref = done[0]
                if ref in probes:
                    slot = probes.pop(ref)
                    try:
                        ray.get(ref)
                    except (RayActorError, WorkerCrashedError):
                        self._replace(slot)
                        probes[self._actors[slot].ready.remote()] = slot
                        continue
                    self._ready.add(slot)
                    idle.append(slot)
                    continue
                slot, item, attempts = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except (RayActorError, WorkerCrashedError) as error:
                    self._replace(slot)
                    probes[self._actors[slot].ready.remote()] = slot
                    if attempts >= max_retries:
                        raise ComputeError(
                            f"item {item!r} failed: its worker died {attempts + 1} times "
                            f"(max_retries={max_retries}): {type(error).__name__}"
                        ) from error
                    retry.append((item, attempts + 1))
                    continue
                except ray.exceptions.RayTaskError as error:
                    idle.append(slot)
                    yield item, TaskFailure(str(error).strip().splitlines()[-1], type(error).__name__, str(error))
                    continue
                idle.append(slot)
                if outcome[0]:
                    yield item, outcome[1]
                else:
                    yield item, TaskFailure(outcome[1], outcome[2], outcome[3])
        finally:
            # Abandoned work (the caller stopped early, or an error): fresh workers for the busy slots.
            for slot, _item, _attempts in list(running.values()):
                with contextlib.suppress(ComputeError):
                    self._replace(slot)

    def _not_started(self) -> str:
        asked = profile_resources(self.profile)
        free = import_ray().available_resources()
        return (f"worker pool: none of its {self.size} workers ({summary(asked)} each) started in "
                f"{self.start_timeout_s:g} s; the cluster has {summary({k: free.get(k, 0.0) for k in asked})} free: "
                "other pools or tasks hold the rest (close them, ask for less, or use a cluster that can add nodes)")

    def close(self) -> None:
        """Stop the pool's actors (idempotent)."""
        if self._closed:
            return
        self._closed = True
        ray = import_ray()
        if not ray.is_initialized():
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        self._actors = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["TaskFailure", "WorkerPool", "threads_for"]

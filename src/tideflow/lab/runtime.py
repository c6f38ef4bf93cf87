"""Where trials run: the compute runtime (Ray) when it is available, else one in-process worker.

Both sides offer the same interface: ``check_feasible(profile, where)``, ``put(value)``,
``worker_pool(profile, size)`` whose ``map_unordered(fn, items, shared=, max_retries=)`` yields
``(item, result)`` with a failure as a ``TaskFailure``-like object.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tideflow.project import ComputeSpec, ResourceProfile


@dataclass
class LocalTaskFailure:
    """A task that raised; ``error`` is the exception text, ``attempts`` how many times it ran."""

    error: str
    attempts: int = 1
    traceback: str = ""

    def __str__(self) -> str:
        return self.error


class LocalPool:
    """Runs tasks one after the other in this process (the fallback and the reference)."""

    size = 1

    def map_unordered(self, fn: Callable[[Any, Any], Any], items: Iterable[Any], *, shared: Any = None,
                      max_retries: int = 0) -> Iterator[tuple[Any, Any]]:
        for item in items:
            try:
                yield item, fn(shared, item)
            except Exception as error:  # a task failure is data, like on the cluster
                yield item, LocalTaskFailure(f"{type(error).__name__}: {error}", 1, traceback.format_exc())

    def close(self) -> None:
        return None


class LocalRuntime:
    """An in-process runtime with the compute interface. Feasible means: fits on this machine."""

    name = "local (in-process)"

    def check_feasible(self, profile: ResourceProfile, where: str = "") -> None:
        from tideflow.errors import ProjectError

        cpus = os.cpu_count() or 1
        if profile.cpu > cpus or profile.gpu > 0 or profile.custom or profile.accelerator_type:
            raise ProjectError(f"{where}: the resource profile asks for {_describe(profile)}, "
                               f"which this machine ({cpus} CPUs, no GPU) can never provide")

    def put(self, value: Any) -> Any:
        return value

    def worker_pool(self, profile: ResourceProfile, size: int | None = None) -> LocalPool:
        return LocalPool()

    def resources(self) -> dict[str, float]:
        return {"CPU": float(os.cpu_count() or 1)}


def _describe(profile: ResourceProfile) -> str:
    parts = [f"cpu={profile.cpu:g}"]
    if profile.gpu:
        parts.append(f"gpu={profile.gpu:g}")
    if profile.accelerator_type:
        parts.append(f"accelerator_type={profile.accelerator_type}")
    parts += [f"{k}={v:g}" for k, v in profile.custom.items()]
    return ", ".join(parts)


def compute_available() -> bool:
    try:
        from tideflow import compute
    except ImportError:  # pragma: no cover
        return False
    return hasattr(compute, "open_runtime")


@contextlib.contextmanager
def open_lab_runtime(spec: ComputeSpec, *, local: bool = False) -> Iterator[Any]:
    """The compute runtime for ``spec`` (Ray), or the in-process one when asked or when compute is absent."""
    if local or os.environ.get("TIDE_LAB_RUNTIME") == "local" or not compute_available():
        yield LocalRuntime()
        return
    from tideflow import compute

    with compute.open_runtime(spec) as rt:  # type: ignore[attr-defined,unused-ignore]
        yield rt


def is_failure(result: Any) -> bool:
    if isinstance(result, LocalTaskFailure):
        return True
    try:
        from tideflow import compute
    except ImportError:  # pragma: no cover
        return False
    failure = getattr(compute, "TaskFailure", None)
    return failure is not None and isinstance(result, failure)

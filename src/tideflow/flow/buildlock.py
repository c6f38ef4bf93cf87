"""One build at a time per project: ``.tide/build.lock``, held for the whole build.

Two builds of one project at once would drop each other's temporary tables and race on the state
store (on PostgreSQL nothing else stops them; DuckDB admits one process per file). A second build
waits up to ``WAIT_S`` for the first, then stops with ``BuildBusy`` naming the process in the way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tideflow.errors import ConnectionError_
from tideflow.project.filelock import FileLock, LockBusy

WAIT_S = 5.0
LOCK_FILE = "build.lock"


class BuildBusy(ConnectionError_):
    """Another build of the same project holds its build lock."""


@contextlib.contextmanager
def build_lock(state_dir: Path, *, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the project's build lock (``state_dir`` is its ``.tide``) while the block runs."""
    lock = FileLock(state_dir / LOCK_FILE)
    try:
        lock.acquire(wait_s=wait_s)
    except LockBusy:
        raise BuildBusy(f"another build of this project is running (PID {lock.holder()}; lock {lock.path}), for "
                        f"more than {wait_s:g} s: wait for it to end, or stop that process") from None
    except OSError as err:
        raise ConnectionError_(f"cannot open the build lock {lock.path}: {err.strerror or err}; expected a writable "
                               f"{state_dir} (a build records its state there)") from None
    try:
        yield
    finally:
        lock.release()

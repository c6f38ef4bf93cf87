"""An exclusive ``flock`` on a file under ``.tide/``: one build of a project at a time (``flow.buildlock``),
one run of a scenario, one step on a database (``automation.runs``). The kernel releases the lock when
its holder ends, even when it is killed: nothing stale is left to clean up."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class LockBusy(Exception):
    """The lock is held by another run."""


class FileLock:
    """An exclusive ``flock`` on ``path``; ``acquire(wait_s=0)`` fails at once when it is held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0, poll_s: float = 0.05) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(str(self.path)) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def holder(self) -> str:
        """The PID the holder wrote into the file ("unknown" when it cannot be read)."""
        try:
            return self.path.read_text(encoding="ascii", errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

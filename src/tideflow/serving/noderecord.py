"""A running API node's record, its reload loop, and how a deploy asks it to reload.

``tide api serve SERVICE`` writes a **node record** when it starts and removes it when it stops:
``<project>/.tide/api/<service>/node.json``, or ``<DIR>/api/<service>/node.json`` when it serves an
API node directory (``--node DIR``)::

    {"service": "fraud", "pid": 4242, "url": "http://127.0.0.1:8080", "mode": "single" | "autoscaled",
     "source_root": ".../api/fraud/active/project", "release": ".../api/fraud/releases/0002-3f0c9a1b2d4e/project",
     "generation": 2, "started_at": 1718000000.0,
     "reload": {"seq": 1, "state": "ok" | "reloading" | "failed" | "none", "message": "...", "at": 1718000100.0}}

**Reload.** ``SIGHUP`` to ``pid`` makes the node re-read ``api/<service>.yaml`` and the saved models
from ``source_root`` (through the ``active`` link of an API node directory, so the release it points
at now), start a new generation — a new data plane (worker pools, models loaded) for a single node,
new replica processes behind the router for an autoscaled one — switch requests to it once it is
ready, and drain the old one (its in-flight requests finish; nothing is dropped). A reload that fails
leaves the old generation serving and says why in ``reload``. ``GET /v1/node`` answers the same JSON
(no key needed: nothing in it is secret), so a deployer checks that ``pid`` really is the node at
``url`` before it signals it: a stale record never gets a signal sent to an unrelated process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tideflow.serving")

RECORD = "node.json"
NODE_PATH = "/v1/node"


def record_path(project_root: Path, service: str) -> Path:
    """Where ``tide api serve SERVICE`` records the node serving a project (``--node``: see ``automation``)."""
    return Path(project_root) / ".tide" / "api" / service / RECORD


# ---------------------------------------------------------------------------------------- node side


@dataclass
class NodeRecorder:
    """The node's own record: what it serves, its generation, the state of the last reload."""

    path: Path
    service: str
    url: str
    mode: str
    source_root: Path
    release: str
    generation: int = 1
    started_at: float = field(default_factory=time.time)
    reload: dict[str, Any] = field(default_factory=lambda: {"seq": 0, "state": "none", "message": "", "at": None})

    def info(self) -> dict[str, Any]:
        return {"service": self.service, "pid": os.getpid(), "url": self.url, "mode": self.mode,
                "source_root": str(self.source_root), "release": self.release, "generation": self.generation,
                "started_at": self.started_at, "reload": dict(self.reload)}

    def write(self) -> None:
        """Replace the record atomically (a reader sees the old or the new one)."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.info(), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)

    def remove(self) -> None:
        """Remove the record if it is still this process's (a newer node may have replaced it)."""
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self.path.unlink()

    def started(self) -> None:
        self.reload = {"seq": int(self.reload["seq"]) + 1, "state": "reloading", "message": "", "at": time.time()}
        self.write()

    def succeeded(self, release: str, message: str) -> None:
        self.generation += 1
        self.release = release
        self.reload = {**self.reload, "state": "ok", "message": message, "at": time.time()}
        self.write()

    def failed(self, message: str) -> None:
        self.reload = {**self.reload, "state": "failed", "message": message, "at": time.time()}
        self.write()


class ReloadLoop:
    """Runs ``reload()`` (which returns ``(release, message)``) once per request, one at a time.

    ``request()`` is what SIGHUP calls: requests that arrive during a reload are merged into one more.
    """

    def __init__(self, reload: Callable[[], Awaitable[tuple[str, str]]], recorder: NodeRecorder) -> None:
        self.reload = reload
        self.recorder = recorder
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._signal = False

    def request(self) -> None:
        self._wanted.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self.request)
            self._signal = True
        self.recorder.write()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            self.recorder.started()
            try:
                release, message = await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.error("reload of API service %s failed, the previous generation keeps serving: %s",
                          self.recorder.service, err)
                self.recorder.failed(f"{type(err).__name__}: {err}")
            else:
                log.warning("API service %s reloaded: %s", self.recorder.service, message)
                self.recorder.succeeded(release, message)

    async def stop(self) -> None:
        if self._signal:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.recorder.remove()


# ---------------------------------------------------------------------------------------- deployer side


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload request came to: ``ok``, a sentence, and the node's record afterwards."""

    ok: bool
    message: str
    info: dict[str, Any]


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _node_info(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + NODE_PATH, timeout=timeout_s, trust_env=False)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_node(path: Path) -> dict[str, Any] | None:
    """The record at ``path`` when its node is running and answering (its ``/v1/node`` names the same pid)."""
    record = read_record(path)
    if record is None or not isinstance(record.get("pid"), int) or not isinstance(record.get("url"), str):
        return None
    if not _alive(record["pid"]):
        return None
    info = _node_info(record["url"])
    if info is None or info.get("pid") != record["pid"]:
        return None
    return info


def request_reload(path: Path, *, timeout_s: float = 300.0, poll_s: float = 0.1) -> ReloadOutcome | None:
    """SIGHUP the node recorded at ``path`` and wait until it reports the reload done (None: no node runs).

    ``ok`` is False when the node reports the reload failed or does not finish in ``timeout_s``; the
    node then still serves its previous generation.
    """
    info = running_node(path)
    if info is None:
        return None
    pid, url = int(info["pid"]), str(info["url"])
    before = int(info.get("reload", {}).get("seq", 0))
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    last = info
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        now = _node_info(url)
        if now is None or now.get("pid") != pid:
            if not _alive(pid):
                return ReloadOutcome(False, f"the API node (pid {pid}) stopped during the reload", last)
            continue
        last = now
        state = now.get("reload", {})
        if int(state.get("seq", 0)) > before and state.get("state") in ("ok", "failed"):
            ok = state.get("state") == "ok"
            text = str(state.get("message", ""))
            return ReloadOutcome(ok, text if ok else f"the API node (pid {pid}) failed to reload: {text}", now)
    return ReloadOutcome(False, f"the API node (pid {pid}) did not finish reloading within {timeout_s:g} s", last)


__all__ = ["NODE_PATH", "RECORD", "NodeRecorder", "ReloadLoop", "ReloadOutcome", "read_record", "record_path",
           "request_reload", "running_node"]

"""Builds started through the API: each runs in a background thread; one build of a project at a time.

``POST /builds`` validates the request and plans the build in the request (a bad target or project
answers at once), then queues it and returns its id. ``GET /builds/{id}`` shows the status and each
recipe's run as the builder reports it. Builds are kept in memory (the newest ``KEEP`` of them); the
datasets' versions and the run log live in the project's state store as for any build.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from tideflow.api.errors import classify, require
from tideflow.api.schemas import BuildInfo, BuildRequest, RecipeRunInfo
from tideflow.flow import BuildEvent, build, plan_build
from tideflow.project import load_project

log = logging.getLogger("tideflow.api")

KEEP = 200


class BuildManager:
    """The builds of one project. Safe to use from request threads and build threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._builds: OrderedDict[str, BuildInfo] = OrderedDict()
        self._lock = threading.Lock()  # guards _builds and the records in it
        self._serial = threading.Lock()  # one build of the project at a time
        self._threads: list[threading.Thread] = []
        self._counter = itertools.count(1)

    def submit(self, request: BuildRequest) -> BuildInfo:
        """Check and plan ``request``; queue the build; return its record (status ``queued``)."""
        project = load_project(self.root)
        targets = list(dict.fromkeys(request.targets)) if request.targets else None
        for target in targets or []:
            require("dataset", target, project.datasets)
        plan = plan_build(project, targets, request.mode, request.engine)
        runs = [RecipeRunInfo(recipe=s.recipe, engine=s.engine, status="planned") for s in plan.steps
                if not s.fused_into]
        runs += [RecipeRunInfo(recipe=name, engine="", status="skipped") for name in plan.skipped]
        build_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._counter)}-{uuid.uuid4().hex[:6]}"
        info = BuildInfo(id=build_id, status="queued", targets=targets, mode=request.mode, engine=request.engine,
                         created_at=time.time(), runs=runs)
        with self._lock:
            self._builds[build_id] = info
            while len(self._builds) > KEEP:
                self._builds.popitem(last=False)
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._run, args=(build_id,), name=f"tide-build-{build_id}", daemon=True)
            self._threads.append(thread)
        thread.start()
        return self.get(build_id)

    def get(self, build_id: str) -> BuildInfo:
        with self._lock:
            if build_id not in self._builds:
                raise_unknown(build_id, list(self._builds))
            return self._builds[build_id].model_copy(deep=True)

    def list(self) -> list[BuildInfo]:
        """Builds started through this app, newest first."""
        with self._lock:
            return [b.model_copy(deep=True) for b in reversed(self._builds.values())]

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the running builds (tests; shutdown)."""
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the build thread

    def _update(self, build_id: str, **changes: object) -> None:
        with self._lock:
            info = self._builds.get(build_id)
            if info is not None:
                self._builds[build_id] = info.model_copy(update=changes)

    def _on_event(self, build_id: str, event: BuildEvent) -> None:
        status = {"started": "running", "finished": "ok", "failed": "failed", "skipped": "skipped"}[event.kind]
        with self._lock:
            info = self._builds.get(build_id)
            if info is None:
                return
            runs = [r for r in info.runs if r.recipe != event.recipe]
            old = next((r for r in info.runs if r.recipe == event.recipe), None)
            run = RecipeRunInfo(recipe=event.recipe, engine=event.engine or (old.engine if old else ""),
                                status=status,  # type: ignore[arg-type]
                                seconds=event.seconds if event.kind != "started" else None,
                                error=event.message if event.kind == "failed" else "")
            position = info.runs.index(old) if old is not None else len(runs)
            runs.insert(position, run)
            self._builds[build_id] = info.model_copy(update={"runs": runs})

    def _run(self, build_id: str) -> None:
        with self._serial:
            info = self.get(build_id)
            started = time.time()
            self._update(build_id, status="running", started_at=started)
            try:
                project = load_project(self.root)
                result = build(project, info.targets, info.mode, info.engine,
                               on_event=lambda event: self._on_event(build_id, event))
            except Exception as error:  # recorded on the build, never raised into the server
                status, body = classify(error)
                if status >= 500:
                    log.error("build %s failed (error id %s)", build_id, body.error_id, exc_info=error)
                self._update(build_id, status="failed", finished_at=time.time(),
                             seconds=time.time() - started, message=body.message)
                return
            runs = [RecipeRunInfo(recipe=r.recipe, engine=r.engine, status=r.status, seconds=r.seconds,
                                  rows=dict(r.rows), bytes_through_python=r.bytes_through_python, error=r.error)
                    for r in result.runs]
            ran = {r.recipe for r in runs}
            runs += [r for r in info.runs if r.status == "skipped" and r.recipe not in ran]  # up to date
            failed = [r.recipe for r in result.failed]
            message = (f"{len(failed)} recipe(s) failed: {', '.join(failed)}" if failed
                       else f"{sum(1 for r in result.runs if r.status == 'ok')} recipe(s) built")
            self._update(build_id, status="succeeded" if result.ok else "failed", finished_at=time.time(),
                         seconds=result.seconds, runs=runs, message=message)


def raise_unknown(build_id: str, known: list[str]) -> None:
    require("build", build_id, known, hint="builds are kept in memory by the server that ran them")

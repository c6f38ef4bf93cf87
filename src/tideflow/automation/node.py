"""The automation node: a scheduler loop that evaluates triggers and starts scenario runs.

Each ``tick``:

* **time** triggers: ``triggers.time_firings`` decides (pure). The last handled scheduled time is
  stored in the history database, so after a restart scheduled times that passed while the node
  was down are *missed*: recorded as a ``missed`` row, and run once only with ``missed: run_once``.
  A node's very first start has no past: nothing before it counts as missed.
* **dataset_changed** / **sql_changed** triggers are polled every ``every_s``. The first
  observation is a baseline (no run). A new value fires once; it is stored when the run *starts*,
  so a change seen while the scenario is busy is not lost: it fires when the scenario is free.
* **after_scenario** triggers fire for runs that finished since the previous tick (on this node or
  from ``tide automation run``).

Each run is a thread of this process; the steps themselves run in child processes. Two firings of
one scenario never run concurrently: the scenario lock refuses the second (recorded ``skipped``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tideflow.automation.runs import RunHistory, database_lock
from tideflow.automation.scenarios import (
    AfterScenarioTrigger,
    DatasetChangedTrigger,
    ScenarioSpec,
    SqlChangedTrigger,
    TimeTrigger,
)
from tideflow.automation.scenarios_loading import load_scenario, scenario_names
from tideflow.automation.scenarios_run import ScenarioBusy, run_scenario
from tideflow.automation.triggers import parse_cron, result_digest, time_firings
from tideflow.errors import TideflowError
from tideflow.project import Project, load_project
from tideflow.project.filelock import LockBusy

LOG = logging.getLogger("tideflow.automation")


@dataclass
class Firing:
    """A trigger that fired: which scenario, why, and what to store once the run has started."""

    scenario: str
    trigger: str
    commit: Callable[[], None] | None = None


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class Node:
    """Runs the triggers of every enabled scenario of the project at ``root``."""

    def __init__(self, root: Path, *, log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.clock = clock
        self._log = log or LOG.info
        self.project: Project = load_project(self.root)
        self.history = RunHistory(self.project.state_dir)
        self.scenarios: dict[str, ScenarioSpec] = {}
        self._threads: list[threading.Thread] = []
        self._polled: dict[tuple[str, str], float] = {}
        self._finished_after = clock()
        self._lock = threading.Lock()
        self.reload()

    def log(self, message: str) -> None:
        self._log(message)

    def reload(self) -> None:
        """Re-read the project and the scenarios; an invalid scenario is reported and left out."""
        self.project = load_project(self.root)
        found: dict[str, ScenarioSpec] = {}
        for name in scenario_names(self.root):
            try:
                spec = load_scenario(self.project, name).spec
            except TideflowError as err:
                self.log(f"scenario {name!r} is left out: {err}")
                continue
            if spec.enabled:
                found[name] = spec
        self.scenarios = found

    # -------------------------------------------------------------- triggers

    def _time(self, name: str, index: int, trigger: TimeTrigger, now: float) -> list[Firing]:
        key = f"{index}:time:{trigger.cron}:{trigger.timezone}"
        stored = self.history.trigger_value(name, key)
        decision = time_firings(parse_cron(trigger.cron), trigger.timezone, None if stored is None else float(stored),
                                now, grace_s=trigger.grace_s, missed=trigger.missed)
        self.history.set_trigger_value(name, key, repr(decision.last_s))
        label = f"time {trigger.cron}"
        if decision.missed:
            n = len(decision.missed)
            action = "caught up by one run now" if trigger.missed == "run_once" else "skipped, not run"
            message = (f"missed {n} scheduled run(s) ({_stamp(decision.missed[0])} to {_stamp(decision.missed[-1])}) "
                       f"while the node was not running: {action} (missed: {trigger.missed})")
            self.history.start_run(uuid.uuid4().hex[:12], name, label, {}, outcome="missed", message=message,
                                   finished=True)
            self.log(f"{name}: {message}")
        return [Firing(name, label)] if decision.run else []

    def _observe(self, trigger: DatasetChangedTrigger | SqlChangedTrigger) -> str:
        from tideflow.checks import dataset_version
        from tideflow.flow import Workspace

        with Workspace(self.project) as ws:
            if isinstance(trigger, DatasetChangedTrigger):
                return json.dumps({d: dataset_version(ws, d) for d in trigger.datasets}, sort_keys=True)
            table = ws.sql(trigger.connection).fetch_arrow(trigger.sql)
            return result_digest(table.to_pylist())

    def _data(self, name: str, index: int, trigger: DatasetChangedTrigger | SqlChangedTrigger,
              now: float) -> list[Firing]:
        key = f"{index}:{trigger.type}"
        if now - self._polled.get((name, key), float("-inf")) < trigger.every_s:
            return []
        try:
            value = self._observe(trigger)
        except TideflowError as err:
            self.log(f"{name}: trigger {trigger.type} cannot be evaluated: {err}")
            self._polled[(name, key)] = now
            return []
        self._polled[(name, key)] = now
        stored = self.history.trigger_value(name, key)
        if stored is None:
            self.history.set_trigger_value(name, key, value)
            return []
        if stored == value:
            return []
        what = ", ".join(trigger.datasets) if isinstance(trigger, DatasetChangedTrigger) else trigger.connection
        history = self.history
        return [Firing(name, f"{trigger.type} {what}", lambda: history.set_trigger_value(name, key, value))]

    def _after(self, finished: list[tuple[str, str]]) -> list[Firing]:
        out = []
        for name, spec in self.scenarios.items():
            for trigger in spec.triggers:
                if not isinstance(trigger, AfterScenarioTrigger):
                    continue
                for other, outcome in finished:
                    wanted = {"success": ("succeeded",), "failure": ("failed",), "any": ("succeeded", "failed")}
                    if other == trigger.scenario and outcome in wanted[trigger.on]:
                        out.append(Firing(name, f"after_scenario {other} ({outcome})"))
        return out

    def due(self, now: float | None = None) -> list[Firing]:
        """Evaluate every trigger once; return what fired (nothing is started)."""
        now = self.clock() if now is None else now
        firings: list[Firing] = []
        runs = self.history.finished_since(self._finished_after)
        if runs:
            self._finished_after = max(r.finished_at or 0.0 for r in runs)
        firings += self._after([(r.scenario, r.outcome) for r in runs])
        data: list[tuple[str, int, DatasetChangedTrigger | SqlChangedTrigger]] = []
        for name, spec in self.scenarios.items():
            for index, trigger in enumerate(spec.triggers):
                if isinstance(trigger, TimeTrigger):
                    firings += self._time(name, index, trigger, now)
                elif isinstance(trigger, DatasetChangedTrigger | SqlChangedTrigger):
                    data.append((name, index, trigger))
        if data:
            lock = database_lock(self.project.state_dir)
            try:
                lock.acquire()
            except LockBusy:  # a step is using the database: poll on a later tick
                return firings
            try:
                for name, index, trigger in data:
                    firings += self._data(name, index, trigger, now)
            finally:
                lock.release()
        return firings

    # -------------------------------------------------------------- runs

    def start(self, firing: Firing) -> threading.Thread:
        """Run ``firing``'s scenario in a thread (refused by its lock if it is already running)."""

        def target() -> None:
            self.log(f"{firing.scenario}: starting ({firing.trigger})")

            def started(run_id: str) -> None:
                if firing.commit is not None:
                    firing.commit()

            try:
                record = run_scenario(self.project, firing.scenario, trigger=firing.trigger, on_start=started)
            except ScenarioBusy as busy:
                self.log(str(busy))
                return
            except TideflowError as err:
                self.log(f"{firing.scenario}: cannot run: {err}")
                return
            self.log(f"{firing.scenario}: run {record.run_id} {record.outcome}: {record.message}")

        thread = threading.Thread(target=target, name=f"scenario-{firing.scenario}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def tick(self, now: float | None = None) -> list[Firing]:
        """Evaluate the triggers and start what fired."""
        firings = self.due(now)
        for firing in firings:
            self.start(firing)
        return firings

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the runs started so far."""
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def serve(self, tick_s: float = 1.0, stop: threading.Event | None = None) -> None:
        """Tick until ``stop`` is set (or Ctrl-C); then wait for the running scenarios."""
        stop = stop or threading.Event()
        self.log(f"automation node: {len(self.scenarios)} scenario(s): {', '.join(self.scenarios) or 'none'}")
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(tick_s)
        finally:
            self.wait()

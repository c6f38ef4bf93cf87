"""Run a scenario: steps in order with their run conditions, retries, timeouts; history; reporters.

A run holds the scenario's lock for its whole duration: a second run of the same scenario (another
trigger, another process) is refused with ``ScenarioBusy`` and recorded as ``skipped``. Steps that
touch data or code run in a child process (``tideflow.automation.steps``) that is killed on timeout.
When the project stores data in DuckDB files, the steps that open it also take the project's database
lock (DuckDB lets one process open a file at a time); the timeout counts from when the step starts.

A step's ``when`` condition reads the metric history (``.tide/state.db``): a dataset's metric or a
saved model's drift metric, as recorded by checks and by ``tide monitor evaluate``.
"""

from __future__ import annotations

import math
import operator
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tideflow.automation.reporters import Delivery, deliver, wants
from tideflow.automation.runs import RunHistory, RunRecord, database_lock, scenario_lock
from tideflow.automation.scenarios import (
    MetricCondition,
    RunSqlStep,
    ScenarioSpec,
    SendMessageStep,
    StepBase,
    convert_param,
    render,
    template_names,
)
from tideflow.automation.scenarios_loading import load_scenario
from tideflow.automation.sql_values import SqlValueError, render_sql
from tideflow.automation.steps import CHILD_KINDS, DATABASE_KINDS, ChildResult, run_in_child
from tideflow.errors import ProjectError, TideflowError, did_you_mean
from tideflow.project import Project
from tideflow.project.filelock import LockBusy

DATABASE_WAIT_S = 6 * 3600.0
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
}


class ScenarioBusy(TideflowError):
    """The scenario is already running (on this node or in another process)."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        super().__init__(f"scenario {scenario!r} is already running: this run was skipped")


@dataclass(frozen=True)
class _Attempt:
    outcome: str
    message: str
    log: str
    seconds: float


def resolve_params(spec: ScenarioSpec, given: Mapping[str, object]) -> dict[str, Any]:
    """Check names and types of ``given`` against the declared parameters; fill in defaults."""
    declared = spec.params
    for name in given:
        if name not in declared:
            raise ProjectError(f"scenario {spec.name!r} has no parameter {name!r}{did_you_mean(name, declared)} "
                               f"(parameters: {', '.join(declared) or 'none'})")
    out: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given:
            try:
                out[name] = convert_param(param, given[name])
            except ValueError as err:
                raise ProjectError(f"parameter {name!r} of scenario {spec.name!r}: {err}") from None
        elif param.default is not None:
            out[name] = param.default
        else:
            raise ProjectError(f"scenario {spec.name!r} needs the parameter {name!r} ({param.type}): "
                               f"pass --param {name}=VALUE")
    return out


def condition_holds(condition: MetricCondition, project: Project, now: float | None = None) -> tuple[bool, str]:
    """Whether ``condition`` holds on the latest recorded value of its metric, and a sentence saying why."""
    from tideflow.checks import MetricHistory, measure_of, show_value

    source = condition.metric.source
    if source is None:  # pragma: no cover - refused when the scenario is loaded
        return False, f"{condition.label}: no recorded metric named"
    now = time.time() if now is None else now
    found = MetricHistory(project.state_dir / "state.db").recent(source, measure_of(condition.metric), 1)
    if not found:
        return False, f"{condition.label} does not hold: no recorded value of {condition.metric.label}"
    latest = found[0]
    age_s = max(0.0, now - latest.recorded_at)
    ago = f"recorded {_age(age_s)} ago, version {latest.version}"
    if condition.max_age_s is not None and age_s > condition.max_age_s:
        return False, (f"{condition.label} does not hold: the latest value of {condition.metric.label} was {ago}, "
                       f"older than max_age_s {condition.max_age_s:g}")
    value = latest.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False, f"{condition.label} does not hold: {condition.metric.label} is {show_value(value)} ({ago})"
    holds = _OPS[condition.op](float(value), condition.value)
    verdict = "holds" if holds else "does not hold"
    return holds, f"{condition.label} {verdict}: {condition.metric.label} = {value:g} ({ago})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _uses_duckdb_files(project: Project) -> bool:
    return any(c.type == "duckdb" and c.path != ":memory:" for c in project.config.connections.values())


class _Run:
    def __init__(self, project: Project, spec: ScenarioSpec, run_id: str, trigger: str, params: dict[str, Any],
                 history: RunHistory, sleep: Callable[[float], None]) -> None:
        self.project, self.spec, self.run_id, self.trigger, self.params = project, spec, run_id, trigger, params
        self.history, self.sleep = history, sleep
        self.values: dict[str, object] = {"run_id": run_id, "scenario": spec.name, "trigger": trigger,
                                          **{f"params.{k}": v for k, v in params.items()}}
        self.lock_database = _uses_duckdb_files(project)

    def report(self, outcome: str, failed_step: str | None, message: str, started_at: float | None = None,
               steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"scenario": self.spec.name, "run_id": self.run_id, "outcome": outcome, "failed_step": failed_step,
                "message": message, "trigger": self.trigger, "started_at": started_at, "finished_at": time.time(),
                "steps": steps or []}

    def attempt(self, index: int, step: StepBase, attempt: int) -> _Attempt:
        if isinstance(step, SendMessageStep):
            started = time.monotonic()
            reporter = self.spec.reporter(step.reporter)
            delivery = deliver(reporter, self.report("running", None, render(step.text, self.values)),
                               self.project.root)
            return _Attempt("succeeded" if delivery.ok else "failed", delivery.message, "",
                            time.monotonic() - started)
        kind = getattr(step, "type", "")
        if kind not in CHILD_KINDS:  # pragma: no cover - every step type is handled above or below
            return _Attempt("failed", f"unknown step type {kind!r}", "", 0.0)
        rendered: dict[str, Any] = {}
        if isinstance(step, RunSqlStep):
            dialect = self.project.config.connections[step.connection].type
            try:  # a substitution in SQL is a literal of the dialect, never SQL text
                rendered = {"sql": render_sql(step.sql, self.values, dialect),
                            "has_values": bool(template_names(step.sql))}
            except SqlValueError as err:
                return _Attempt("failed", f"steps[{index}].sql: {err}", "", 0.0)
        job = {"root": str(self.project.root), "scenario": self.spec.name, "run_id": self.run_id,
               "trigger": self.trigger, "params": self.params, "attempt": attempt,
               "step": step.model_dump(mode="json"), "rendered": rendered}
        if not self.lock_database or kind not in DATABASE_KINDS:
            result = run_in_child(job, step.timeout_s)
        else:
            with_lock = database_lock(self.project.state_dir)
            with_lock.acquire(wait_s=DATABASE_WAIT_S)
            try:
                result = run_in_child(job, step.timeout_s)
            finally:
                with_lock.release()
        return _as_attempt(result)

    def step(self, index: int, step: StepBase) -> tuple[str, str]:
        name = self.spec.step_name(index)
        kind = str(getattr(step, "type", ""))
        started_at = time.time()
        attempts = step.retries + 1
        result = _Attempt("failed", "not run", "", 0.0)
        total = 0.0
        done = 0
        for n in range(1, attempts + 1):
            attempt_start = time.time()
            result = self.attempt(index, step, n)
            done = n
            total += result.seconds
            self.history.record_attempt(self.run_id, index, n, result.outcome, result.seconds, result.message,
                                        result.log, attempt_start)
            if result.outcome == "succeeded":
                break
            if n < attempts:
                self.sleep(step.backoff(n))
        self.history.record_step(self.run_id, index, name, kind, result.outcome, done, total, result.message,
                                 started_at)
        return result.outcome, result.message

    def execute(self) -> tuple[str, str | None, str]:
        failed_step: str | None = None
        failed_message = ""
        count = 0
        for index, step in enumerate(self.spec.steps):
            name = self.spec.step_name(index)
            failed_so_far = failed_step is not None
            runs = step.run_if == "always" or (step.run_if == "success") != failed_so_far
            if not runs:
                why = "an earlier step failed" if failed_so_far else "no earlier step failed"
                self.history.record_step(self.run_id, index, name, str(getattr(step, "type", "")), "skipped", 0,
                                         0.0, f"skipped: run_if {step.run_if} and {why}", time.time())
                continue
            if step.when is not None:
                holds, why = condition_holds(step.when, self.project)
                if not holds:
                    self.history.record_step(self.run_id, index, name, str(getattr(step, "type", "")), "skipped",
                                             0, 0.0, f"skipped: when {why}", time.time())
                    continue
            count += 1
            outcome, message = self.step(index, step)
            if outcome != "succeeded" and failed_step is None:
                failed_step, failed_message = name, f"step {name!r} {outcome.replace('_', ' ')}: {message}"
        if failed_step is None:
            return "succeeded", None, f"{count} step(s) succeeded"
        return "failed", failed_step, failed_message


def run_scenario(project: Project, name: str, *, params: Mapping[str, object] | None = None,
                 trigger: str = "manual", on_start: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> RunRecord:
    """Run ``scenarios/<name>.yaml`` now and return its record (steps, attempts, logs).

    Raises ``ScenarioBusy`` (after recording a ``skipped`` run) when it is already running, and
    ``ProjectError`` for a bad scenario file or bad parameters. ``on_start(run_id)`` is called once
    the lock is held, before the first step.
    """
    spec = load_scenario(project, name).spec
    values = resolve_params(spec, params or {})
    history = RunHistory(project.state_dir)
    run_id = uuid.uuid4().hex[:12]
    lock = scenario_lock(project.state_dir, name)
    try:
        lock.acquire()
    except LockBusy:
        history.start_run(run_id, name, trigger, values, outcome="skipped", finished=True,
                          message="skipped: the scenario was already running")
        raise ScenarioBusy(name) from None
    try:
        history.start_run(run_id, name, trigger, values)
        if on_start is not None:
            on_start(run_id)
        run = _Run(project, spec, run_id, trigger, values, history, sleep)
        started_at = time.time()
        try:
            outcome, failed_step, message = run.execute()
        except BaseException as error:  # interrupted (Ctrl-C) or a bug: the history must not say "running"
            history.finish_run(run_id, "failed", None, f"the run stopped: {type(error).__name__}: {error}")
            raise
        record = history.run(run_id)
        steps = [{"name": s.step, "type": s.type, "outcome": s.outcome, "attempts": s.attempts,
                  "seconds": round(s.seconds, 3), "message": s.message} for s in (record.steps if record else [])]
        report = run.report(outcome, failed_step, message, started_at, steps)
        problems = [d for d in _deliver_all(run, spec, outcome, report) if not d.ok]
        if problems:
            message += "; " + "; ".join(d.message for d in problems)
        history.finish_run(run_id, outcome, failed_step, message)
    finally:
        lock.release()
    final = history.run(run_id)
    if final is None:  # pragma: no cover - written just above
        raise TideflowError(f"run {run_id} of scenario {name!r} is missing from {history.path}")
    return final


def _deliver_all(run: _Run, spec: ScenarioSpec, outcome: str, report: dict[str, Any]) -> list[Delivery]:
    return [deliver(r, report, run.project.root) for r in spec.reporters if wants(r, outcome)]


def _as_attempt(result: ChildResult) -> _Attempt:
    return _Attempt(result.outcome, result.message, result.log, result.seconds)

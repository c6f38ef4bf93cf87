"""Run a model spec: prepare the data once, search on the warm worker pool, refit, save a version.

The search goes bracket by bracket: a bracket asks the strategy for its configurations, runs them
at the first rung, promotes by ASHA's rule (top 1/eta of every score at that rung so far), and so
on to the full resource. Every evaluation is written to the state store as it arrives, so Ctrl-C
keeps finished work and ``resume=True`` replays the same decisions without re-running anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tideflow.errors import TideflowError
from tideflow.flow import Workspace
from tideflow.lab.data import PreparedData, arrow_schema, prepare
from tideflow.lab.loading import ModelFile, check_schema, load_model_spec
from tideflow.lab.record import experiment_key, git_commit, git_dirty, library_versions
from tideflow.lab.runtime import is_failure, open_lab_runtime
from tideflow.lab.search import Searcher
from tideflow.lab.store import TrialRow, TrialStore
from tideflow.lab.trial import TaskResult, TrialTask, run_task
from tideflow.models import ModelVersion, Registry
from tideflow.models.missing import MISSING_REFUSED, base_record, missing_refused
from tideflow.project import Project


class TrainingInterrupted(TideflowError):
    """Training stopped (Ctrl-C); finished trials are kept and ``resume`` continues the search."""

    def __init__(self, model: str, run_id: str, finished: int) -> None:
        self.model, self.run_id, self.finished = model, run_id, finished
        super().__init__(f"training of {model!r} interrupted: {finished} finished trials kept in run {run_id}; "
                         f"continue with 'tide lab train {model} --resume'")


@dataclass
class LabEvent:
    """What the leaderboard needs after each step. ``kind``: started, evaluation, trial, final, saved."""

    kind: str
    model: str
    run_id: str
    metric: str
    higher_is_better: bool
    rows: list[TrialRow]
    replayed: bool = False
    message: str = ""


@dataclass
class FinalModel:
    """The best configuration of one algorithm, refit on all training rows and scored on the test set."""

    algorithm: str
    trial_id: int
    params: dict[str, Any]
    validation_score: float | None
    test_score: float | None
    test_metrics: dict[str, Any]
    seconds: float
    error: str = ""


@dataclass
class TrainingResult:
    model: str
    run_id: str
    version: ModelVersion | None
    finals: list[FinalModel]
    trials: list[TrialRow]
    resumed: bool = False
    metric: str = ""


def rungs(model_file: ModelFile) -> list[float]:
    """The fractions of the resource each successive-halving rung trains with, the last one 1.0."""
    es = model_file.spec.early_stopping
    if es.method == "none":
        return [1.0]
    out, fraction = [], es.min_fraction
    # 1/9 x 3 x 3 is 0.999...: a rung within 1% of the full resource is the full resource, not a rung of its own.
    while fraction < 0.99:
        out.append(round(fraction, 6))
        fraction *= es.reduction_factor
    return [*out, 1.0]


def promote(good: dict[int, float], everything: list[float], eta: int, higher: bool) -> list[int]:
    """Promote the bracket's best 1/eta (rounded up), keeping only those also in the top 1/eta of every
    score seen at this rung so far (ASHA's rule); at least the bracket's best goes on.

    The cap keeps the cost of a bracket that of successive halving (1/eta of the trials at each
    rung) even when a guided search makes a late bracket better than every earlier one; the
    global cut-off prunes a bracket harder when it is worse than the ones before it.
    """
    if not good:
        return []
    k = len(everything) // eta
    ranked = sorted(everything, reverse=higher)
    cutoff = ranked[k - 1] if k >= 1 else None
    order = sorted(good, key=lambda t: (-good[t] if higher else good[t], t))
    quota = order[: max(1, math.ceil(len(order) / eta))]
    promoted = [t for t in quota if cutoff is not None and not _better(cutoff, good[t], higher)]
    return sorted(promoted or order[:1])


def _runtime_name(rt: Any) -> str:
    name = getattr(rt, "name", None)
    if isinstance(name, str):
        return name
    address = getattr(rt, "address", None)
    return f"ray at {address}" if address else type(rt).__name__


def refused_features(pipeline: Any, data: PreparedData) -> list[str] | None:
    """The input features the fitted ``pipeline`` cannot score with a missing value (a feature trained
    with ``impute: none`` whose algorithm refuses NaN), probed on a record of training values as the API
    node would send it; None when even that record does not score (nothing stored: nulls accepted)."""
    schema = data.input_schema
    return missing_refused(pipeline, schema, base_record(data.x_train, schema))


def _better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def train(project: Project, name: str, *, resume: bool = False, trials: int | None = None,
          on_event: Callable[[LabEvent], None] | None = None, runtime: Any = None,
          local: bool = False) -> TrainingResult:
    """Train ``models/<name>.yaml``; raise ``TrainingInterrupted`` on Ctrl-C (work so far is kept)."""
    model_file = load_model_spec(project, name)
    spec = model_file.spec
    with Workspace(project) as ws:
        table = ws.read_arrow(spec.input)
        fingerprint = ws.source_fingerprint(spec.input)
        data_version = ws.state.dataset_version(spec.input) or fingerprint
    check_schema(model_file, arrow_schema(table))
    data = prepare(model_file, table)
    profile = project.config.compute.profiles[spec.resources]
    key = experiment_key(spec.experiment_key(), fingerprint)
    with TrialStore(project.state_dir) as store:
        run_id, resumed = _open_run(store, model_file, key, resume)
        if runtime is not None:
            return _Search(project, model_file, data, store, run_id, runtime, profile, trials, on_event,
                           resumed).run(data_version, fingerprint, key)
        with open_lab_runtime(project.config.compute, local=local) as rt:
            return _Search(project, model_file, data, store, run_id, rt, profile, trials, on_event,
                           resumed).run(data_version, fingerprint, key)


def _open_run(store: TrialStore, model_file: ModelFile, key: str, resume: bool) -> tuple[str, bool]:
    spec = model_file.spec
    if not resume:
        return store.start_run(spec.name, key, spec.metric_name, spec.higher_is_better), False
    open_runs = [r for r in store.runs(spec.name) if r.status in ("running", "interrupted")]
    if not open_runs:
        raise TideflowError(f"no interrupted training of {spec.name!r} to resume: run 'tide lab train {spec.name}'")
    run = open_runs[0]
    if run.key != key:
        raise TideflowError(f"cannot resume run {run.run_id} of {spec.name!r}: {model_file.shown} or the data of "
                            f"{spec.input!r} changed since it started; start a new search without --resume")
    store.set_status(run.run_id, "running")
    return run.run_id, True


class _Search:
    """One search in progress (driver side)."""

    def __init__(self, project: Project, model_file: ModelFile, data: PreparedData, store: TrialStore, run_id: str,
                 rt: Any, profile: Any, trials: int | None, on_event: Callable[[LabEvent], None] | None,
                 resumed: bool) -> None:
        self.project, self.file, self.spec, self.data = project, model_file, model_file.spec, data
        self.store, self.run_id, self.rt, self.profile = store, run_id, rt, profile
        self.budget = trials if trials is not None else self.spec.budget.trials
        self.on_event, self.resumed = on_event, resumed
        self.higher = self.spec.higher_is_better
        self.threads = max(1, int(profile.cpu))
        self.rows: dict[int, TrialRow] = {}
        self.done = store.evaluations(run_id)
        self.finished_now = 0
        self.trial_seconds = 0.0  # in-trial seconds of every evaluation so far (replayed ones included)
        self.pool: Any = None
        self._pipelines: dict[str, TaskResult] = {}

    def _emit(self, kind: str, replayed: bool = False, message: str = "") -> None:
        if self.on_event is not None:
            self.on_event(LabEvent(kind, self.spec.name, self.run_id, self.spec.metric_name, self.higher,
                                   sorted(self.rows.values(), key=lambda r: r.trial_id), replayed, message))

    def run(self, data_version: str, fingerprint: str, key: str) -> TrainingResult:
        self.rt.check_feasible(self.profile, where=self.file.where_resources)
        ref = self.rt.put(self.data)
        self.pool = self.rt.worker_pool(self.profile, size=self.spec.concurrency)
        try:
            self._emit("started", message=f"run {self.run_id}" + (" (resumed)" if self.resumed else ""))
            self._search(ref)
            finals = self._finals(ref)
        except KeyboardInterrupt:
            self.store.set_status(self.run_id, "interrupted")
            kept = sum(1 for r in self.rows.values() if r.status != "running")
            raise TrainingInterrupted(self.spec.name, self.run_id, kept) from None
        except BaseException:
            self.store.set_status(self.run_id, "interrupted")  # e.g. a worker kept dying: resumable
            raise
        finally:
            close = getattr(self.pool, "close", None)
            if callable(close):
                close()
        version = self._save(finals, data_version, fingerprint, key)
        self.store.set_status(self.run_id, "finished", version.version if version else None)
        self._emit("saved", message=f"saved {self.spec.name} v{version.version}" if version else "nothing saved")
        return TrainingResult(self.spec.name, self.run_id, version, finals, self.store.trials(self.run_id),
                              self.resumed, self.spec.metric_name)

    # ------------------------------------------------------------------ search

    def _search(self, ref: Any) -> None:
        searcher = Searcher(self.spec)
        fractions = rungs(self.file)
        eta = self.spec.early_stopping.reduction_factor
        size = self.spec.early_stopping.bracket_size or (eta ** (len(fractions) - 1) if len(fractions) > 1 else 8)
        budget = self.spec.budget
        deadline = time.monotonic() + budget.wall_time_s if budget.wall_time_s else math.inf
        spendable = budget.trial_seconds if budget.trial_seconds else math.inf

        def spent() -> bool:
            return time.monotonic() >= deadline or self.trial_seconds >= spendable

        scores_at: list[list[float]] = [[] for _ in fractions]
        next_id = 0
        while next_id < self.budget and not spent():
            configs = [c for c in (searcher.ask(i) for i in range(next_id, min(self.budget, next_id + size)))
                       if c is not None]
            if not configs:
                break
            next_id += len(configs)
            alive = [c.trial_id for c in configs]
            for c in configs:
                self.rows[c.trial_id] = TrialRow(c.trial_id, c.algorithm, c.params, "running", 0, fractions[0],
                                                 None, 0.0)
            last: dict[int, tuple[int, float | None]] = {}
            stopped = False
            for r, fraction in enumerate(fractions):
                if r > 0 and spent():  # the time budget ends the search here: the bracket's survivors stop
                    for tid in alive:
                        self._finish(tid, "stopped")
                    stopped = True
                    break
                results = self._run_rung(ref, [c for c in configs if c.trial_id in alive], r, fraction)
                for tid in alive:
                    last[tid] = (r, results.get(tid))
                good = {tid: s for tid, s in results.items() if s is not None}
                scores_at[r].extend(good.values())
                for tid in alive:
                    if tid not in good:
                        self._finish(tid, "failed")
                if r == len(fractions) - 1:
                    for tid in good:
                        self._finish(tid, "complete")
                    break
                promoted = self._promote(good, scores_at[r], eta)
                for tid in good:
                    if tid not in promoted:
                        self._finish(tid, "pruned")
                alive = promoted
                if not alive:
                    break
            for c in configs:
                rung, score = last.get(c.trial_id, (0, None))
                status = self.rows[c.trial_id].status
                searcher.tell(c.trial_id, score, pruned=status in ("pruned", "stopped"), rung=rung)
            if stopped:
                break

    def _promote(self, good: dict[int, float], everything: list[float], eta: int) -> list[int]:
        return promote(good, everything, eta, self.higher)

    def _run_rung(self, ref: Any, configs: list[Any], rung: int, fraction: float) -> dict[int, float | None]:
        results: dict[int, float | None] = {}
        tasks = []
        for c in configs:
            row = self.rows[c.trial_id]
            row.rung, row.fraction = rung, fraction
            if (c.trial_id, rung) in self.done:
                score, seconds = self.done[(c.trial_id, rung)]
                results[c.trial_id] = score
                self.trial_seconds += seconds
                row.score, row.seconds = score, round(row.seconds + seconds, 4)
                self._emit("evaluation", replayed=True)
            else:
                tasks.append(TrialTask("trial", c.trial_id, c.algorithm, c.params, self.spec.seed + c.trial_id,
                                       self.threads, rung, fraction))
        for task, result in self._map(ref, tasks):
            row = self.rows[task.trial_id]
            if is_failure(result) or math.isnan(result.score):
                error = str(result) if is_failure(result) else "the sample at this rung misses a class"
                self.store.record_evaluation(self.run_id, task.trial_id, rung, fraction, None, 0.0, error)
                results[task.trial_id] = None
                continue
            results[task.trial_id] = result.score
            self.trial_seconds += result.seconds
            row.score, row.seconds = result.score, round(row.seconds + result.seconds, 4)
            self.store.record_evaluation(self.run_id, task.trial_id, rung, fraction, result.score, result.seconds)
            self._emit("evaluation")
        return results

    def _map(self, ref: Any, tasks: list[TrialTask]) -> Iterable[tuple[TrialTask, Any]]:
        if not tasks:
            return []
        return self.pool.map_unordered(run_task, tasks, shared=ref, max_retries=2)

    def _finish(self, trial_id: int, status: str) -> None:
        row = self.rows[trial_id]
        row.status = status
        self.store.record_trial(self.run_id, row)
        replayed = all((trial_id, r) in self.done for r in range(row.rung + 1))
        if not replayed:
            self.finished_now += 1
        self._emit("trial", replayed=replayed)

    # ------------------------------------------------------------------ refit and save

    def _finals(self, ref: Any) -> list[FinalModel]:
        """Refit the best trial of each algorithm (highest rung, then best score) on all training rows."""
        best: dict[str, TrialRow] = {}
        for row in sorted(self.rows.values(), key=lambda r: r.trial_id):
            if row.score is None or row.status == "failed":
                continue
            current = best.get(row.algorithm)
            if current is None or row.rung > current.rung or (
                    row.rung == current.rung and _better(row.score, current.score or 0.0, self.higher)):
                best[row.algorithm] = row
        th = self.spec.threshold
        chosen = [best[a] for a in self.spec.algorithms if a in best]
        tasks = [TrialTask("final", c.trial_id, c.algorithm, c.params, self.spec.seed + c.trial_id, self.threads,
                           threshold=(th.optimize, th.false_positive_cost, th.false_negative_cost)) for c in chosen]
        outcomes: dict[str, Any] = {task.algorithm: result for task, result in self._map(ref, tasks)}
        finals: list[FinalModel] = []
        for task in tasks:
            result = outcomes.get(task.algorithm)
            row = best[task.algorithm]
            if result is None or is_failure(result):
                finals.append(FinalModel(task.algorithm, task.trial_id, task.params, row.score, None, {}, 0.0,
                                         error=str(result)))
                continue
            finals.append(FinalModel(task.algorithm, task.trial_id, task.params, row.score, result.score,
                                     result.test_metrics, result.seconds))
            self._pipelines[task.algorithm] = result
            self._emit("final", message=f"{task.algorithm}: test {self.spec.metric_name} {result.score:.4f}")
        return finals

    def _save(self, finals: list[FinalModel], data_version: str, fingerprint: str, key: str) -> ModelVersion | None:
        ok = [f for f in finals if not f.error and f.validation_score is not None]
        if not ok:
            return None
        rung_of = {f.algorithm: self.rows[f.trial_id].rung for f in ok}
        winner = ok[0]
        for f in ok[1:]:
            a, b = (rung_of[f.algorithm], f.validation_score), (rung_of[winner.algorithm], winner.validation_score)
            if a[0] > b[0] or (a[0] == b[0] and _better(float(a[1] or 0), float(b[1] or 0), self.higher)):
                winner = f
        spec = self.spec
        record = {
            "run_id": self.run_id, "spec_file": self.file.shown, "spec": spec.model_dump(mode="json"),
            "input": spec.input, "data_version": data_version, "data_fingerprint": fingerprint,
            "experiment_key": key, "seed": spec.seed, "rows": {"train": len(self.data.y_train),
                                                               "test": len(self.data.y_test)},
            "classes": self.data.classes, "features": [p.as_dict() for p in self.data.plans],
            "libraries": library_versions(), "git_commit": git_commit(self.project.root),
            "git_dirty": git_dirty(self.project.root),
            "resources": {"profile": spec.resources, **self.profile.model_dump(mode="json"),
                          "threads_per_trial": self.threads, "pool_size": getattr(self.pool, "size", None),
                          "runtime": _runtime_name(self.rt)},
            "winner": {"algorithm": winner.algorithm, "trial_id": winner.trial_id, "params": winner.params},
            "finals": [vars(f) for f in finals],
            "trials": [r.as_dict() for r in self.store.trials(self.run_id)],
        }
        pipeline = self._pipelines[winner.algorithm].pipeline
        refused = refused_features(pipeline, self.data)
        if refused is not None:
            record[MISSING_REFUSED] = refused
        with Registry(self.project.state_dir) as registry:
            return registry.save(spec.name, pipeline, algorithm=winner.algorithm,
                                 metric=spec.metric_name, score=winner.validation_score, metrics=winner.test_metrics,
                                 input_schema=self.data.input_schema, record=record)

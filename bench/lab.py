"""Lab benchmark: (a) trials in parallel on the local Ray runtime vs one after the other, (b) Bayesian + ASHA
vs an exhaustive random search. One run prints Rich tables and replaces the ``## Lab`` section of
bench/RESULTS.md (other sections are kept as they are).

(a) The same trials - LightGBM and random-forest configurations on a synthetic classification table, each
    at least 2 s with one thread - run by ``tideflow.lab.trial.run_task`` on the same ``PreparedData``:
    first one after the other in this process (``LocalPool``, the Lab's in-process pool), then on the
    Lab's warm worker pool on a local Ray runtime (``open_lab_runtime``; 2 workers of 1 CPU and 1 thread,
    the data put in the object store once). The pool is started and warmed before the clock starts (its
    start is reported separately). Overhead per trial = (parallel wall x workers - sum of in-trial
    seconds) / trials: the time a worker slot spent outside a trial (dispatch, results, idle tail).
(b) ``tideflow.lab.train`` on a DuckDB project holding another synthetic table: the baseline is a random
    search of 60 LightGBM trials without early stopping; against it, Bayesian (Optuna TPE) + ASHA with the
    same trial budget, data, split, search space (the Lab's LightGBM default) and seed. Trial-seconds are
    the in-trial seconds of every evaluation (every rung); the final refits are excluded from both.
    AUCs are validation AUCs of trials at the full resource (the search's own objective); the test AUC
    of each search's refit winner is shown beside.

    python bench/lab.py [--no-write] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from machine import machine
from rich.console import Console
from rich.table import Table

from tideflow.lab import LabEvent, TrialRow, train
from tideflow.lab.data import PreparedData, prepare
from tideflow.lab.loading import parse_model_spec
from tideflow.lab.runtime import LocalPool, is_failure, open_lab_runtime
from tideflow.lab.trial import TaskResult, TrialTask, run_task
from tideflow.project import ComputeSpec, ResourceProfile, load_project

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADING = "## Lab"
WORKERS = 2
MIN_TRIAL_S = 2.0
SPEEDUP_TARGET = 1.6
AUC_GAP = 0.005
BRACKET = 9  # ASHA brackets of the Bayesian search: reduction factor 3, rungs 1/9, 1/3, 1
SECONDS_SHARE = 0.40
BUDGET_SHARE = 0.30  # the budgeted run: budget.trial_seconds = this share of the baseline's trial-seconds

# (a) The trials: each at least 2 s with one thread on a quiet machine of this kind (0.8-1.3 s with 40%
# fewer trees at 20,000 rows, measured quiet on 2026-11-22). Longer trials come from more trees rather
# than more rows: at 60,000 rows two trials at once slowed each other by ~20% (memory bandwidth).
ROWS_A = 30_000
TRIALS_A: list[tuple[str, dict[str, Any]]] = [
    ("lightgbm", {"n_estimators": 500, "learning_rate": 0.05, "num_leaves": 63, "min_child_samples": 20,
                  "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0}),
    ("random_forest", {"n_estimators": 40, "max_depth": 12, "min_samples_leaf": 2, "max_features": 0.3}),
    ("lightgbm", {"n_estimators": 900, "learning_rate": 0.03, "num_leaves": 31, "min_child_samples": 10,
                  "subsample": 0.9, "colsample_bytree": 0.7, "reg_lambda": 0.1}),
    ("random_forest", {"n_estimators": 32, "max_depth": 16, "min_samples_leaf": 1, "max_features": 0.35}),
    ("lightgbm", {"n_estimators": 380, "learning_rate": 0.1, "num_leaves": 96, "min_child_samples": 30,
                  "subsample": 0.7, "colsample_bytree": 0.9, "reg_lambda": 3.0}),
    ("random_forest", {"n_estimators": 48, "max_depth": 10, "min_samples_leaf": 4, "max_features": 0.3}),
    ("lightgbm", {"n_estimators": 620, "learning_rate": 0.05, "num_leaves": 48, "min_child_samples": 15,
                  "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 0.5}),
    ("random_forest", {"n_estimators": 40, "max_depth": 14, "min_samples_leaf": 2, "max_features": 0.3}),
    ("lightgbm", {"n_estimators": 1000, "learning_rate": 0.02, "num_leaves": 24, "min_child_samples": 25,
                  "subsample": 0.85, "colsample_bytree": 0.75, "reg_lambda": 1.5}),
    ("random_forest", {"n_estimators": 42, "max_depth": 12, "min_samples_leaf": 3, "max_features": 0.35}),
]

# (b) The searches: the Lab's LightGBM default space, same seed, same split; only strategy and stopping differ.
ROWS_B = 12_000
SEARCH_TRIALS = 60
SEARCH_BASE = """\
input: synth
target: label
task: binary
features: {numeric: {scaling: none}}
algorithms:
  lightgbm: {}
concurrency: 2
seed: 11
"""


def random_spec(trials: int) -> str:
    return SEARCH_BASE + f"strategy: random\nbudget: {{trials: {trials}}}\nearly_stopping: {{method: none}}\n"


def bayes_spec(trials: int, trial_seconds: float | None = None) -> str:
    budget = f"{{trials: {trials}}}" if trial_seconds is None else \
        f"{{trials: {trials}, trial_seconds: {trial_seconds:.3f}}}"
    return SEARCH_BASE + (f"strategy: bayesian\nbudget: {budget}\n"
                          "early_stopping: {method: asha, reduction_factor: 3}\n")


console = Console(highlight=False, width=170)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")


# ---------------------------------------------------------------------------------------------- machine




def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def cpu_busy_s() -> float:
    """CPU-seconds the whole machine spent busy since boot (all processes, /proc/stat), NaN elsewhere."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def processes_cpu_s(pids: list[int]) -> float:
    """User + system CPU-seconds of processes so far (/proc/<pid>/stat), NaN when unreadable."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return float("nan")
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(pool: Any) -> list[int]:
    return [int(s["pid"]) for s in pool.stats()]


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def cores_obtainable(seconds: float = 3.0) -> tuple[float, float]:
    """CPU cores this process tree gets with 1 and with 2 busy-looping processes (the machine's offer now)."""
    import multiprocessing

    out = []
    for n in (1, 2):
        before, started = os.times(), time.perf_counter()
        procs = [multiprocessing.Process(target=_spin, args=(seconds,)) for _ in range(n)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        after = os.times()
        cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        out.append(cpu / (time.perf_counter() - started))
    return out[0], out[1]


def autogroup_enabled() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


@dataclass
class Phase:
    """A timed phase: wall seconds and how many CPUs other work kept busy meanwhile (machine busy - ours)."""

    wall_s: float = 0.0
    busy_s: float = 0.0
    load: float = 0.0
    _t0: float = 0.0
    _b0: float = 0.0

    def __enter__(self) -> Phase:
        self._t0, self._b0 = time.perf_counter(), cpu_busy_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._t0
        self.busy_s = cpu_busy_s() - self._b0
        self.load = load_average()

    def others_cpus(self, ours_s: float) -> float:
        return max(0.0, (self.busy_s - ours_s) / self.wall_s) if self.wall_s else float("nan")


# ---------------------------------------------------------------------------------------------- data


def synthetic(rows: int, seed: int, *, features: int = 20, informative: int = 8, class_sep: float = 0.7,
              flip_y: float = 0.03) -> pa.Table:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=features, n_informative=informative, n_redundant=4,
                               flip_y=flip_y, class_sep=class_sep, random_state=seed)
    columns: dict[str, Any] = {f"f{i:02d}": x[:, i] for i in range(features)}
    columns["label"] = y.astype("int64")
    return pa.table(columns)


# ---------------------------------------------------------------------------------------------- (a)


@dataclass
class ParallelResult:
    trials: int
    seq: list[Phase] = field(default_factory=list)
    par: list[Phase] = field(default_factory=list)
    seq_in_s: list[float] = field(default_factory=list)
    par_in_s: list[float] = field(default_factory=list)
    seq_cpu_s: list[float] = field(default_factory=list)
    par_cpu_s: list[float] = field(default_factory=list)  # the workers'
    par_driver_cpu_s: list[float] = field(default_factory=list)
    trial_s: list[float] = field(default_factory=list)  # in-trial seconds of each trial, sequential run
    pool_start_s: float = 0.0
    same_scores: bool = True
    probe: tuple[float, float] = (float("nan"), float("nan"))  # cores obtainable with 1 and 2 busy processes

    @property
    def seq_wall(self) -> float:
        return statistics.median(p.wall_s for p in self.seq)

    @property
    def par_wall(self) -> float:
        return statistics.median(p.wall_s for p in self.par)

    @property
    def speedup(self) -> float:
        return self.seq_wall / self.par_wall

    def overhead_ms(self, wall_s: float, in_trial_s: float, workers: int) -> float:
        return (wall_s * workers - in_trial_s) / self.trials * 1000


def tasks_a() -> list[TrialTask]:
    return [TrialTask("trial", i, algo, params, seed=100 + i, threads=1) for i, (algo, params) in enumerate(TRIALS_A)]


def warm_tasks() -> list[TrialTask]:
    """Tiny trials of both algorithms: imports and the shared data, before the clock starts."""
    return [TrialTask("trial", 1000 + i, algo, params, seed=0, threads=1, fraction=0.02)
            for i, (algo, params) in enumerate(TRIALS_A[:2])]


def _warm_import(shared: Any, item: int) -> int:
    import lightgbm  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    time.sleep(0.3)
    return os.getpid()


def warm_pool(pool: Any, ref: Any) -> None:
    """Every worker imported the libraries and resolved the shared data (a worker serves what it is given)."""
    for _ in range(10):
        pids = {pid for _, pid in pool.map_unordered(_warm_import, range(2 * pool.size), shared=ref)}
        if len(pids) >= pool.size:
            break
    for task, result in pool.map_unordered(run_task, warm_tasks() * pool.size, shared=ref):
        if is_failure(result):
            raise RuntimeError(f"warm-up trial {task.algorithm} failed: {result}")


def run_sequential(data: PreparedData, tasks: list[TrialTask], label: str) -> tuple[Phase, list[TaskResult]]:
    results: list[TaskResult] = []
    with Phase() as phase:
        for i, (task, result) in enumerate(LocalPool().map_unordered(run_task, tasks, shared=data), 1):
            if is_failure(result):
                raise RuntimeError(f"trial {task.trial_id} failed: {result}")
            results.append(result)
            log(f"  {label}: {i}/{len(tasks)} trials ({task.algorithm} {result.seconds:.2f} s)")
    return phase, results


def run_parallel(pool: Any, ref: Any, tasks: list[TrialTask], label: str) -> tuple[Phase, list[TaskResult]]:
    results: list[TaskResult] = []
    with Phase() as phase:
        for i, (task, result) in enumerate(pool.map_unordered(run_task, tasks, shared=ref), 1):
            if is_failure(result):
                raise RuntimeError(f"trial {task.trial_id} failed: {result}")
            results.append(result)
            log(f"  {label}: {i}/{len(tasks)} trials ({task.algorithm} {result.seconds:.2f} s)")
    return phase, results


def bench_parallel(rt: Any, repeat: int, rows: int, probe: tuple[float, float]) -> tuple[ParallelResult, Any]:
    log(f"(a) preparing {rows:,} rows x 20 features")
    model_file = parse_model_spec({"input": "synth", "target": "label", "task": "binary",
                                   "features": {"numeric": {"scaling": "none"}},
                                   "algorithms": ["lightgbm", "random_forest"], "seed": 3}, shown="bench (a)")
    data = prepare(model_file, synthetic(rows, seed=1))
    tasks = tasks_a()
    out = ParallelResult(trials=len(tasks))
    out.probe = probe
    for _ in LocalPool().map_unordered(run_task, warm_tasks(), shared=data):
        pass
    log("(a) starting the worker pool (2 workers, 1 CPU and 1 thread each) and putting the data once")
    t0 = time.perf_counter()
    pool = rt.worker_pool(ResourceProfile(cpu=1), size=WORKERS)
    ref = rt.put(data)
    warm_pool(pool, ref)
    out.pool_start_s = time.perf_counter() - t0
    log(f"(a) pool warm in {out.pool_start_s:.1f} s")
    # ABBA order (sequential, parallel, parallel, sequential, ...) so a drifting machine load hits both alike.
    order = [("seq", "par") if r % 2 == 0 else ("par", "seq") for r in range(repeat)]
    scores: dict[str, dict[int, float]] = {}
    for r, pair in enumerate(order, 1):
        for mode in pair:
            if mode == "seq":
                cpu0 = time.process_time()
                phase, results = run_sequential(data, tasks, f"sequential #{r}")
                out.seq_cpu_s.append(time.process_time() - cpu0)
                out.seq.append(phase)
                out.seq_in_s.append(sum(x.seconds for x in results))
                if not out.trial_s:
                    by_id = {x.trial_id: x.seconds for x in results}
                    out.trial_s = [by_id[t.trial_id] for t in tasks]
            else:
                pids = worker_pids(pool)
                cpu0, driver0 = processes_cpu_s(pids), time.process_time()
                phase, results = run_parallel(pool, ref, tasks, f"parallel #{r}")
                out.par_cpu_s.append(processes_cpu_s(pids) - cpu0)
                out.par_driver_cpu_s.append(time.process_time() - driver0)
                out.par.append(phase)
                out.par_in_s.append(sum(x.seconds for x in results))
            got = {x.trial_id: x.score for x in results}
            if any(v != got for v in scores.values()):
                out.same_scores = False
            scores[mode] = got
    return out, pool


# ---------------------------------------------------------------------------------------------- (b)


class KeptPool:
    """The warm pool of (a), lent to ``train``: closing it at the end of a search is left to the bench."""

    def __init__(self, pool: Any) -> None:
        self._pool, self.size = pool, pool.size

    def map_unordered(self, *args: Any, **kwargs: Any) -> Any:
        return self._pool.map_unordered(*args, **kwargs)

    def close(self) -> None:
        return None


class WarmRuntime:
    """The bench's runtime with one warm pool shared by both searches (starting actors is not a trial)."""

    def __init__(self, rt: Any, pool: Any) -> None:
        self.rt, self.pool = rt, pool
        self.name = f"ray at {getattr(rt, 'address', '?')}"

    def check_feasible(self, profile: Any, *, where: str) -> None:
        self.rt.check_feasible(profile, where=where)

    def put(self, value: Any) -> Any:
        return self.rt.put(value)

    def worker_pool(self, profile: Any, size: int | None = None) -> KeptPool:
        return KeptPool(self.pool)


@dataclass
class SearchResult:
    name: str
    trials: list[TrialRow]
    wall_s: float
    test_auc: float | None
    top_rung: int
    cpu_s: float = float("nan")  # CPU-seconds of the worker processes during the search (refits included)

    @property
    def full(self) -> list[TrialRow]:
        return [t for t in self.trials if t.score is not None and t.rung == self.top_rung]

    @property
    def best(self) -> float:
        return max(t.score or 0.0 for t in self.full)

    @property
    def trial_seconds(self) -> float:
        return sum(t.seconds for t in self.trials)

    def seconds_to_reach(self, target: float, group: int) -> float | None:
        """Trial-seconds spent when a full-resource trial first scored >= target (trials in groups of
        ``group``, the unit the search runs: a bracket; 1 for a search without early stopping)."""
        spent = 0.0
        rows = sorted(self.trials, key=lambda t: t.trial_id)
        for start in range(0, len(rows), group):
            chunk = rows[start:start + group]
            spent += sum(t.seconds for t in chunk)
            if any(t.score is not None and t.rung == self.top_rung and t.score >= target for t in chunk):
                return spent
        return None


def make_search_project(root: Path, rows: int, trials: int) -> Path:
    (root / "datasets").mkdir(parents=True)
    (root / "models").mkdir()
    (root / ".tide").mkdir()
    (root / "tideflow.yaml").write_text("name: labbench\n")
    (root / "datasets" / "synth.yaml").write_text("table: synth\n")
    (root / "models" / "random.yaml").write_text(random_spec(trials))
    (root / "models" / "bayes_asha.yaml").write_text(bayes_spec(trials))
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.register("incoming", synthetic(rows, seed=2, class_sep=0.6, flip_y=0.05))
        con.execute("CREATE OR REPLACE TABLE synth AS SELECT * FROM incoming")
        con.unregister("incoming")
    finally:
        con.close()
    return root


def run_search(root: Path, name: str, runtime: Any, label: str, trials: int) -> SearchResult:
    project = load_project(root)
    seen: set[int] = set()
    best: list[float] = []

    def on_event(event: LabEvent) -> None:
        if event.kind != "trial":
            return
        for row in event.rows:
            if row.status in ("complete", "pruned", "stopped", "failed") and row.trial_id not in seen:
                seen.add(row.trial_id)
                if row.status == "complete" and row.score is not None:
                    best.append(row.score)
                if len(seen) % 10 == 0 or len(seen) == trials:
                    top = f", best full-resource AUC {max(best):.4f}" if best else ""
                    log(f"  {label}: {len(seen)}/{trials} trials{top}")

    pids = worker_pids(runtime.pool)
    cpu0 = processes_cpu_s(pids)
    started = time.perf_counter()
    result = train(project, name, runtime=runtime, on_event=on_event)
    wall = time.perf_counter() - started
    cpu = processes_cpu_s(pids) - cpu0
    test_auc = result.finals[0].test_score if result.finals else None
    top = max(t.rung for t in result.trials)
    return SearchResult(name, result.trials, wall, test_auc, top, cpu)


def bench_search(rt: Any, pool: Any, workdir: Path, rows: int,
                 trials: int) -> tuple[SearchResult, SearchResult, SearchResult]:
    log(f"(b) project with {rows:,} rows x 20 features; {trials} trials per search")
    root = make_search_project(workdir / "search", rows, trials)
    runtime = WarmRuntime(rt, pool)
    log("(b) random search, no early stopping (baseline)")
    random = run_search(root, "random", runtime, "random", trials)
    log(f"(b) random: best AUC {random.best:.4f}, {random.trial_seconds:.1f} trial-s, {random.wall_s:.1f} s wall")
    log("(b) Bayesian (TPE) + ASHA")
    bayes = run_search(root, "bayes_asha", runtime, "bayesian+asha", trials)
    log(f"(b) bayesian+asha: best AUC {bayes.best:.4f}, {bayes.trial_seconds:.1f} trial-s, "
        f"{bayes.wall_s:.1f} s wall")
    budget = BUDGET_SHARE * random.trial_seconds
    (root / "models" / "bayes_budget.yaml").write_text(bayes_spec(trials, budget))
    log(f"(b) Bayesian (TPE) + ASHA with budget.trial_seconds = {budget:.1f} ({BUDGET_SHARE:.0%} of the baseline's)")
    budgeted = run_search(root, "bayes_budget", runtime, "bayesian+asha, budgeted", trials)
    log(f"(b) budgeted: best AUC {budgeted.best:.4f}, {budgeted.trial_seconds:.1f} trial-s, "
        f"{budgeted.wall_s:.1f} s wall")
    return random, bayes, budgeted


# ---------------------------------------------------------------------------------------------- report


def table_a(a: ParallelResult) -> tuple[Table, list[str]]:
    seq_in = statistics.median(a.seq_in_s)
    par_in = statistics.median(a.par_in_s)
    seq_other = statistics.median(p.others_cpus(c) for p, c in zip(a.seq, a.seq_cpu_s, strict=True))
    par_other = statistics.median(p.others_cpus(c + d) for p, c, d in
                                  zip(a.par, a.par_cpu_s, a.par_driver_cpu_s, strict=True))
    seq_cpu = statistics.median(a.seq_cpu_s)
    par_cpu = statistics.median(a.par_cpu_s)
    rows = [
        ("sequential, 1 process (baseline)", 1, a.seq_wall, seq_in, seq_cpu, a.overhead_ms(a.seq_wall, seq_in, 1),
         1.0, seq_other),
        (f"parallel, Ray worker pool ({WORKERS} x 1 CPU)", WORKERS, a.par_wall, par_in, par_cpu,
         a.overhead_ms(a.par_wall, par_in, WORKERS), a.speedup, par_other),
    ]
    header = ["mode", "workers", "wall s", "in-trial s", "CPU s", "cores obtained", "overhead ms/trial",
              "speed-up", "other load (CPUs)"]
    table = Table(title=f"(a) {a.trials} trials (LightGBM + random forest, 1 thread each)")
    for h in header:
        table.add_column(h, justify="left" if h == "mode" else "right")
    md = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for mode, workers, wall, inner, cpu, over, speed, other in rows:
        cells = [mode, str(workers), f"{wall:.2f}", f"{inner:.2f}", f"{cpu:.1f}", f"{cpu / wall:.2f}", f"{over:.0f}",
                 f"{speed:.2f}x", f"{other:.1f}"]
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return table, md


def table_b(random: SearchResult, bayes: SearchResult, budgeted: SearchResult) -> tuple[Table, list[str]]:
    header = ["search", "trials", "at full resource", "best val. AUC", "gap to baseline", "trial-s", "vs baseline",
              "worker CPU s", "vs baseline", "wall s", "test AUC (refit)"]
    table = Table(title=f"(b) LightGBM, {len(random.trials)}-trial budget, same data, split, space and seed")
    for h in header:
        table.add_column(h, justify="left" if h == "search" else "right")
    md = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for label, s in (("random, no early stopping (baseline)", random), ("Bayesian (TPE) + ASHA", bayes),
                     (f"Bayesian (TPE) + ASHA, budget.trial_seconds {BUDGET_SHARE:.0%} of the baseline's", budgeted)):
        cells = [label, str(len(s.trials)), str(len(s.full)), f"{s.best:.4f}", f"{s.best - random.best:+.4f}",
                 f"{s.trial_seconds:.1f}", f"{s.trial_seconds / random.trial_seconds:.0%}", f"{s.cpu_s:.1f}",
                 f"{s.cpu_s / random.cpu_s:.0%}", f"{s.wall_s:.1f}",
                 "—" if s.test_auc is None else f"{s.test_auc:.4f}"]
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    return table, md


def targets(a: ParallelResult, random: SearchResult, bayes: SearchResult,
            budgeted: SearchResult) -> list[tuple[str, bool, str]]:
    used = budgeted.trial_seconds / random.trial_seconds
    gap = budgeted.best - random.best
    share = bayes.trial_seconds / random.trial_seconds
    diff = bayes.best - random.best  # as in the table: Bayesian + ASHA minus the baseline
    reached = bayes.seconds_to_reach(random.best - AUC_GAP, BRACKET)
    reach_share = reached / random.trial_seconds if reached is not None else float("inf")
    return [
        (f"(a) every trial >= {MIN_TRIAL_S:g} s with one thread", min(a.trial_s) >= MIN_TRIAL_S,
         f"shortest {min(a.trial_s):.2f} s, longest {max(a.trial_s):.2f} s (sequential run)"),
        (f"(a) parallel speed-up >= {SPEEDUP_TARGET}x on {WORKERS} cores", a.speedup >= SPEEDUP_TARGET,
         f"{a.speedup:.2f}x ({a.seq_wall:.1f} s -> {a.par_wall:.1f} s)"),
        ("(a) same scores sequential and parallel", a.same_scores, "identical" if a.same_scores else "differ"),
        (f"(b) Bayesian + ASHA reaches within {AUC_GAP} AUC of the random search's best using <= "
         f"{SECONDS_SHARE:.0%} of its trial-seconds (whole brackets until the first such full-resource trial)",
         reach_share <= SECONDS_SHARE,
         "never" if reached is None else f"{reach_share:.1%} ({reached:.1f} s of {random.trial_seconds:.1f} s)"),
        (f"(b) stricter reading: the whole {len(bayes.trials)}-trial Bayesian + ASHA run within {AUC_GAP} AUC and "
         f"<= {SECONDS_SHARE:.0%} of the trial-seconds", diff >= -AUC_GAP and share <= SECONDS_SHARE,
         f"AUC {bayes.best:.4f} vs {random.best:.4f} ({diff:+.4f}); {share:.1%} of the trial-seconds, worker CPU "
         f"{bayes.cpu_s / random.cpu_s:.1%}"),
        (f"(b) a whole Bayesian + ASHA run given budget.trial_seconds = {BUDGET_SHARE:.0%} of the baseline's: "
         f"within {AUC_GAP} AUC of the random search's best, <= {SECONDS_SHARE:.0%} of its trial-seconds spent",
         gap >= -AUC_GAP and used <= SECONDS_SHARE,
         f"AUC {budgeted.best:.4f} vs {random.best:.4f} ({gap:+.4f}); {used:.1%} of the trial-seconds "
         f"({len(budgeted.trials)} trials), worker CPU {budgeted.cpu_s / random.cpu_s:.1%}"),
    ]


def reach_lines(random: SearchResult, bayes: SearchResult, bracket: int) -> list[str]:
    target = random.best - AUC_GAP
    close = sum(1 for t in random.full if (t.score or 0.0) >= target)
    full_b = bayes.full
    mean_b = sum(t.seconds for t in full_b) / max(1, len(full_b))
    mean_r = random.trial_seconds / max(1, len(random.trials))
    r_at = random.seconds_to_reach(target, 1)
    b_at = bayes.seconds_to_reach(target, bracket)
    out = [f"Anytime view: trial-seconds spent when a full-resource trial first reached AUC >= {target:.4f} "
           f"(the baseline's best - {AUC_GAP}), counting whole ASHA brackets of {bracket} trials:"]
    out.append(f"random {r_at:.1f} s ({r_at / random.trial_seconds:.0%} of its total)" if r_at is not None
               else "random: never")
    out.append(f"Bayesian + ASHA {b_at:.1f} s ({b_at / random.trial_seconds:.0%} of the baseline's total)"
               if b_at is not None else "Bayesian + ASHA: never")
    return [out[0] + " " + "; ".join(out[1:]) + ".",
            f"{close} of the {len(random.full)} random trials scored within {AUC_GAP} of the random best. "
            f"Bayesian + ASHA took {len(full_b)} of its {len(bayes.trials)} trials to the full resource, at "
            f"{mean_b:.2f} trial-s each on average (all rungs) vs {mean_r:.2f} s for a random trial."]


def why_lines_a(a: ParallelResult) -> list[str]:
    """The CPU view of (a): what the pool itself costs, and whether the machine had a second core to give."""
    seq_cpu, par_cpu = statistics.median(a.seq_cpu_s), statistics.median(a.par_cpu_s)
    seq_cores, par_cores = seq_cpu / a.seq_wall, par_cpu / a.par_wall
    cpu_ms = (par_cpu - seq_cpu) / a.trials * 1000
    lines = [f"CPU view: the pool's workers used {par_cpu:.1f} CPU-s for the trials the single process ran in "
             f"{seq_cpu:.1f} ({cpu_ms:+.0f} ms of CPU per trial, load-independent). The parallel run obtained "
             f"{par_cores:.2f} cores on average, the sequential one {seq_cores:.2f}."]
    one, two = a.probe
    lines[0] += (f" Before (a), two busy-looping processes of this bench got {two:.2f} cores, one got {one:.2f}: "
                 f"the machine offered at most {two / one:.2f}x.")
    if a.speedup < SPEEDUP_TARGET:
        lines[0] += (f" The speed-up is bounded by the CPU the machine gave ({par_cores / seq_cores:.2f}x more cores "
                     "in the parallel run), not by the pool: other work kept the 2 CPUs busy")
        if autogroup_enabled():
            lines[0] += (", and Linux autogroup scheduling (kernel.sched_autogroup_enabled=1) shares CPU fairly "
                         "between sessions, so this bench - driver, Ray and its workers, one session - gets the "
                         "same share whether it runs one process or two")
        lines[0] += ". The target needs a 2-core machine with a free second core."
    return [lines[0], ""]


def why_lines(random: SearchResult, bayes: SearchResult) -> list[str]:
    """When the whole Bayesian + ASHA run costs more than the target share, what the numbers say about why."""
    if bayes.trial_seconds <= SECONDS_SHARE * random.trial_seconds:
        return []
    rung_counts = [sum(1 for t in bayes.trials if t.rung >= r) for r in range(bayes.top_rung + 1)]
    return [f"Why the whole run costs {bayes.trial_seconds / random.trial_seconds:.0%} of the baseline: trials per "
            f"rung {' -> '.join(map(str, rung_counts))} (plain successive halving would keep about 1/3 at each step). "
            "Each bracket promotes at most a third of its trials, but TPE steers toward the costly corner of the "
            "space (many trees, many leaves score best on this data), so a full-resource trial of the guided "
            "search costs more than an average random one, and a promoted trial is retrained from scratch at each "
            "rung (1/9 + 1/3 + 1 of its cost). A trial count is not a cost budget for this search; "
            "`budget.trial_seconds` is (the third row): the search stops before the next rung once it is spent.",
            ""]


def section(a: ParallelResult, random: SearchResult, bayes: SearchResult, budgeted: SearchResult, argv: str,
            seconds: float,
            repeat: int, load_start: float) -> str:
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    _, md_a = table_a(a)
    _, md_b = table_b(random, bayes, budgeted)
    lines = [HEADING, "",
             f"Run {stamp}: `{argv}` ({seconds:.0f} s). Machine: {machine()}; load average {load_start:.1f} at the "
             f"start, {load_average():.1f} at the end (other work shares this machine; 'other load' is the "
             "machine's busy CPUs minus this bench's own CPU time, averaged over the phase).", "",
             f"### (a) Parallel trials: {a.trials} trials, sequential vs the Lab's worker pool on local Ray", "",
             f"{ROWS_A:,} rows x 20 features (sklearn `make_classification`), 5 LightGBM + 5 random-forest "
             f"configurations, 1 thread each, `run_task` on the same `PreparedData`. Median of {repeat} run(s) "
             f"per mode (ABBA order). Starting the pool (2 actors importing scikit-learn and LightGBM, the data "
             f"put once) took {a.pool_start_s:.1f} s before the clock. Overhead per trial = (wall x workers - "
             "sum of in-trial seconds) / trials.", "", *md_a, "",
             f"Trial lengths (sequential, s): {', '.join(f'{s:.2f}' for s in a.trial_s)}.", "",
             *why_lines_a(a),
             "### (b) Search efficiency: Bayesian (Optuna TPE) + ASHA vs random search", "",
             f"`tideflow.lab.train` on a DuckDB table of {ROWS_B:,} rows x 20 features; LightGBM with the Lab's "
             "default search space; same seed (11), split and validation rows; ASHA with reduction factor 3 and "
             "rungs of 1/9, 1/3 and all the trees (brackets of 9). Trial-seconds: in-trial time of every "
             "evaluation; refits excluded. Worker CPU s: CPU time of the two worker processes during the search "
             "(refits included), a cross-check that does not move with the machine's load.", "", *md_b, "",
             *[x for line in reach_lines(random, bayes, BRACKET) for x in (line, "")],
             *why_lines(random, bayes),
             "| target | met | measured |", "| --- | --- | --- |"]
    for name, ok, measured in targets(a, random, bayes, budgeted):
        lines.append(f"| {name} | {'yes' if ok else 'NO'} | {measured} |")
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", flags=re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def open_runtime(stack: contextlib.ExitStack, attempts: int = 3) -> Any:
    """The Lab's local Ray runtime (2 CPUs). Ray 2.60's raylet gives its dashboard agent a fixed 15 s to
    come up and dies otherwise (ray-project/ray#65983), which happens on a loaded machine: try again."""
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            rt = stack.enter_context(open_lab_runtime(ComputeSpec(num_cpus=WORKERS)))
        except Exception as error:
            log(f"[yellow]Ray did not start (attempt {attempt}/{attempts}): {str(error).splitlines()[0]}[/]")
            if attempt == attempts:
                raise
            continue
        if not hasattr(rt, "address"):
            raise SystemExit(f"the bench needs the Ray runtime (tideflow[ray]); got {getattr(rt, 'name', rt)!r}")
        log(f"runtime: ray at {rt.address}, started in {time.perf_counter() - started:.1f} s")
        return rt
    raise AssertionError("unreachable")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode in (a), ABBA order (median)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small data, 18 trials (never written)")
    args = parser.parse_args()
    rows_a, rows_b, trials = (2_000, 2_000, 18) if args.quick else (ROWS_A, ROWS_B, SEARCH_TRIALS)
    if args.quick:
        args.no_write = True
    started = time.perf_counter()
    load_start = load_average()
    log(f"machine: {machine()}; load average {load_start:.1f}")
    # A stale /tmp/ray/ray_current_cluster (another cluster on this machine) must not capture ray.init.
    os.environ["RAY_ADDRESS"] = "local"
    probe = cores_obtainable()  # before Ray starts: no fork after its threads exist
    log(f"the machine gives this bench {probe[0]:.2f} cores with 1 busy process, {probe[1]:.2f} with 2")
    with tempfile.TemporaryDirectory(prefix="tide-lab-bench-") as tmp, contextlib.ExitStack() as stack:
        rt = open_runtime(stack)
        a, pool = bench_parallel(rt, args.repeat, rows_a, probe)
        random, bayes, budgeted = bench_search(rt, pool, Path(tmp), rows_b, trials)
        pool.close()
    seconds = time.perf_counter() - started
    t_a, _ = table_a(a)
    t_b, _ = table_b(random, bayes, budgeted)
    console.print(t_a)
    console.print(t_b)
    for line in [*why_lines_a(a), *reach_lines(random, bayes, BRACKET), *why_lines(random, bayes)]:
        if line:
            console.print(line)
    t_targets = Table(title="targets (issue 3)")
    for h in ("target", "met", "measured"):
        t_targets.add_column(h)
    results = targets(a, random, bayes, budgeted)
    for name, ok, measured in results:
        t_targets.add_row(name, "[green]yes[/]" if ok else "[red]NO[/]", measured)
    console.print(t_targets)
    argv = "python bench/lab.py" + "".join(f" {x}" for x in sys.argv[1:])
    if not args.no_write:
        write_section(section(a, random, bayes, budgeted, argv, seconds, args.repeat, load_start))
        log(f"wrote the section {HEADING!r} of {RESULTS}")
    log(f"done in {seconds:.0f} s")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

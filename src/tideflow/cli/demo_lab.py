"""The Lab part of ``tide demo``: train ``models/card_fraud.yaml`` on the card features the Flow built.

``train_demo(project, console)`` runs the small search of the demo model (three algorithms, a dozen
trials, Bayesian with successive halving) on the compute runtime, draws the leaderboard and the final
models, and prints the saved model version from the registry. About a minute on 2 cores at the
demo's default size (1M transactions, ~40k cards in ``card_features_train``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from tideflow.cli.lab_cmds import SHORT, finals_table, leaderboard_table
from tideflow.lab import LabEvent, ModelSpec, TrainingResult, load_model_spec, train
from tideflow.models import ModelVersion, Registry
from tideflow.project import Project

DEMO_MODEL = "card_fraud"


def missing_label(project: Project, spec: ModelSpec) -> str | None:
    """None when the model's input dataset has its target column; else what is missing, in one sentence."""
    from tideflow.flow import dataset_schema

    columns = dataset_schema(project, spec.input)
    if spec.target in columns:
        return None
    return (f"The demo data has no label to learn yet: dataset {spec.input!r} has no column {spec.target!r} "
            f"(an integer 0/1 per card) that models/{spec.name}.yaml targets. Skipping the Lab.")


def _describe(spec: ModelSpec) -> str:
    algorithms = ", ".join(SHORT.get(a, a) for a in spec.algorithms)
    stopping = "successive halving (ASHA)" if spec.early_stopping.method == "asha" else "no early stopping"
    return (f"Training {spec.name} on {spec.input} ({spec.target}, {spec.task}): {algorithms}; "
            f"{spec.budget.trials} trials, {spec.strategy} search, {stopping}, metric {spec.metric_name}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def saved_table(version: ModelVersion, result: TrainingResult, seconds: float) -> Table:
    """The saved version as the registry holds it."""
    record = version.record
    params = record.get("winner", {}).get("params", {})
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    metrics = version.metrics
    scores = ", ".join(f"{k} {metrics[k]:.3f}" for k in ("auc", "logloss", "f1", "precision", "recall", "threshold")
                       if isinstance(metrics.get(k), int | float))
    resources = record.get("resources", {})
    rows = record.get("rows", {})
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
        ("saved model", f"{version.name} v{version.version}" + (" (active)" if version.active else "")),
        ("algorithm", f"{version.algorithm}  {shown}"),
        ("validation", f"{version.metric} {version.score:.4f}" if version.score is not None else "—"),
        ("test", scores or "—"),
        ("data", f"{record.get('input')} version {str(record.get('data_version', ''))[:16]}, "
                 f"{int(rows.get('train', 0)):,} train + {int(rows.get('test', 0)):,} test rows"),
        ("search", f"{len(result.trials)} trials in {seconds:.1f} s on {resources.get('runtime', '?')} "
                   f"({_count(resources.get('pool_size') or 1, 'worker')} x "
                   f"{_count(resources.get('threads_per_trial') or 1, 'thread')})"),
        ("artifact", str(version.path / "pipeline.joblib")),
    ):
        table.add_row(label, value)
    return table


def _open_runtime(project: Project, console: Console, stack: contextlib.ExitStack) -> Any:
    """The project's compute runtime (a local Ray by default); the in-process one when Ray cannot start
    (a demo should still train on an overloaded laptop), saying so."""
    from tideflow.lab.runtime import LocalRuntime, open_lab_runtime

    try:
        return stack.enter_context(open_lab_runtime(project.config.compute))
    except Exception as error:  # Ray raises bare Exceptions when its processes do not come up in time
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        console.print(Text(f"The Ray runtime did not start ({reason}); training in this process instead.",
                           style="yellow"), soft_wrap=True)
        return LocalRuntime()


def train_demo(project: Project, console: Console) -> None:
    """Train the demo model with a live leaderboard; print the final models and the saved version."""
    model_file = load_model_spec(project, DEMO_MODEL)
    spec = model_file.spec
    console.print(Rule(f"The Lab: {spec.name}"))
    problem = missing_label(project, spec)
    if problem is not None:
        console.print(Text(problem, style="yellow"), soft_wrap=True)
        return
    console.print(_describe(spec), soft_wrap=True)
    live = Live(Text("preparing data…"), console=console, auto_refresh=False, transient=False)

    def on_event(event: LabEvent) -> None:
        if event.kind in ("evaluation", "trial", "started", "final"):
            live.update(leaderboard_table(event.model, event.metric, event.higher_is_better, event.rows),
                        refresh=True)

    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        runtime = _open_runtime(project, console, stack)
        with live:
            result = train(project, DEMO_MODEL, on_event=on_event, runtime=runtime)
            live.update(Group(leaderboard_table(spec.name, result.metric, spec.higher_is_better, result.trials),
                              finals_table(result)), refresh=True)
    seconds = time.perf_counter() - started
    console.line()
    if result.version is None:
        console.print(Text("no trial finished: nothing was saved", style="red"))
        return
    with Registry(project.state_dir) as registry:
        saved = registry.get(spec.name, result.version.version)
    console.print(saved_table(saved, result, seconds))


__all__ = ["DEMO_MODEL", "missing_label", "saved_table", "train_demo"]

"""``tide lab train | leaderboard`` and ``tide models list | show | activate | compare``.

A thin adapter: ``tideflow.lab.train`` reports progress through a callback, and this module draws
the live Rich leaderboard from it. Errors print ``error: <message>`` on stderr with exit code 2;
an interrupted training (Ctrl-C) keeps its finished trials and exits with 130.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tideflow.cli.context import ProjectOption, err, guarded, open_project, out

lab_app = typer.Typer(name="lab", help="Train models: searches, trials and the leaderboard.", no_args_is_help=True)
models_app = typer.Typer(name="models", help="Saved models: versions, the active one, comparisons.",
                         no_args_is_help=True)

EXIT_INTERRUPTED = 130
STATUS_STYLE = {"complete": "green", "pruned": "yellow", "stopped": "magenta", "failed": "red", "running": "cyan"}
TOP_ROWS = 15
SHORT = {"hist_gradient_boosting": "hist_gb", "random_forest": "forest", "extra_trees": "extra_trees"}


def _score(value: Any, digits: int = 4) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _params(params: dict[str, Any], width: int = 70) -> str:
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def leaderboard_table(model: str, metric: str, higher: bool, rows: list[Any], *, title: str | None = None,
                      limit: int | None = TOP_ROWS, params_width: int = 40) -> Table:
    """The trials ranked (rung reached, then score), best first."""
    from tideflow.lab.leaderboard import rank

    ranked = rank(rows, higher)
    done = sum(1 for r in rows if r.status != "running")
    table = Table(title=title or f"{model}: {done}/{len(rows)} trials, {metric} ({'higher' if higher else 'lower'} "
                  "is better)", box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1))
    for name, justify in (("#", "right"), ("trial", "right"), ("algorithm", "left"), (metric, "right"),
                          ("resource", "right"), ("status", "left"), ("s", "right"), ("params", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    shown = ranked if limit is None else ranked[:limit]
    for i, row in enumerate(shown, 1):
        table.add_row(str(i), str(row.trial_id), SHORT.get(row.algorithm, row.algorithm), _score(row.score),
                      f"{row.fraction:.0%}",
                      Text(row.status, style=STATUS_STYLE.get(row.status, "")), f"{row.seconds:.1f}",
                      _params(row.params, params_width))
    if limit is not None and len(ranked) > limit:
        table.caption = f"{len(ranked) - limit} more trials"
    return table


def finals_table(result: Any) -> Table:
    table = Table(title="final models (refit on all training rows, scored on the test set)", box=box.SIMPLE_HEAD,
                  header_style="bold", pad_edge=False, padding=(0, 1))
    keys = ["auc", "logloss", "f1", "accuracy", "precision", "recall", "brier", "threshold"]
    labels = {"logloss": "logl.", "accuracy": "acc.", "precision": "prec.", "recall": "rec.",
              "threshold": "thr."}
    if result.finals and "rmse" in result.finals[0].test_metrics:
        keys = ["rmse", "mae", "r2"]
    table.add_column("algorithm")
    table.add_column("valid.", justify="right")
    for key in keys:
        table.add_column(labels.get(key, key), justify="right")
    winner = result.version.algorithm if result.version else None
    for final in result.finals:
        name = Text(SHORT.get(final.algorithm, final.algorithm), style="bold green" if final.algorithm == winner
                    else "")
        table.add_row(name, _score(final.validation_score, 3),
                      *(_score(final.test_metrics.get(k), 3) for k in keys))
    return table


@lab_app.command("train")
@guarded
def train_cmd(
    name: Annotated[str, typer.Argument(help="Model name (models/<name>.yaml).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted search of this model.")] = False,
    trials: Annotated[int | None, typer.Option("--trials", "-n", min=1, help="Trials (overrides budget.trials).")]
    = None,
    local: Annotated[bool, typer.Option("--local", help="Run trials in this process instead of on Ray.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Search algorithms and hyperparameters with a live leaderboard; save the best model as a new version."""
    from tideflow.lab import LabEvent, TrainingInterrupted, train

    proj = open_project(project)
    console = out()
    live = Live(Text("preparing data…"), console=console, auto_refresh=False, transient=False)

    def on_event(event: LabEvent) -> None:
        if event.kind in ("evaluation", "trial", "started", "final"):
            live.update(leaderboard_table(event.model, event.metric, event.higher_is_better, event.rows),
                        refresh=True)

    try:
        with live:
            result = train(proj, name, resume=resume, trials=trials, on_event=on_event, local=local)
            live.update(Group(leaderboard_table(name, result.metric, _higher(result), result.trials),
                              finals_table(result)), refresh=True)
    except TrainingInterrupted as stop:
        err().print(Text(f"interrupted: {stop}", style="yellow"), soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if result.version is None:
        console.print(Text("no trial finished: nothing was saved", style="red"))
        raise typer.Exit(1)
    v = result.version
    console.line()
    console.print(Text(f"saved {v.name} v{v.version} ({v.algorithm}, test {result.metric} "
                       f"{v.metrics.get(result.metric, float('nan')):.4f}), active", style="bold green"))


def _higher(result: Any) -> bool:
    from tideflow.lab.specs import HIGHER_IS_BETTER

    return HIGHER_IS_BETTER.get(result.metric, True)


@lab_app.command("leaderboard")
@guarded
def leaderboard_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    run: Annotated[str | None, typer.Option("--run", help="A run id (default: the latest run).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """The trials of the latest search of a model, best first."""
    from tideflow.lab import leaderboard

    board = leaderboard(open_project(project), name, run)
    status = board.run.status if board.run else ""
    title = f"{name}: run {board.run.run_id if board.run else '?'} ({status}), {board.metric}"
    out().print(leaderboard_table(name, board.metric, board.higher_is_better, board.rows, title=title, limit=None))


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@models_app.command("list")
@guarded
def list_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Saved models and their versions (the active one marked)."""
    from tideflow.models import Registry

    with Registry(open_project(project).state_dir) as registry:
        versions = registry.list(name)
    table = Table(title="saved models", box=box.SIMPLE_HEAD, header_style="bold")
    for column in ("model", "version", "active", "algorithm", "metric", "validation", "test", "created", "data"):
        table.add_column(column, justify="right" if column in ("version", "validation", "test") else "left")
    for v in versions:
        table.add_row(v.name, str(v.version), Text("active", style="green") if v.active else "", v.algorithm, v.metric,
                      _score(v.score), _score(v.metrics.get(v.metric)), _when(v.created_at),
                      str(v.record.get("data_version", ""))[:16])
    out().print(table if versions else Text("no saved models yet: train one with 'tide lab train NAME'"))


@models_app.command("show")
@guarded
def show_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option("--version", "-v", help="Version (default: the active one).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole record as JSON.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """A saved version: metrics, input schema and its experiment record."""
    from tideflow.models import Registry

    with Registry(open_project(project).state_dir) as registry:
        v = registry.get(name, version)
    console = out()
    if as_json:
        console.print_json(json.dumps(v.as_dict(), default=str))
        return
    record = v.record
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    resources = record.get("resources", {})
    for label, value in (
        ("model", f"{v.name} v{v.version}" + (" (active)" if v.active else "")),
        ("algorithm", f"{v.algorithm}  {_params(record.get('winner', {}).get('params', {}), 200)}"),
        ("created", _when(v.created_at)),
        ("input", f"{record.get('input')} (data version {record.get('data_version')}, "
                  f"fingerprint {record.get('data_fingerprint')})"),
        ("rows", f"train {record.get('rows', {}).get('train')}, test {record.get('rows', {}).get('test')}"),
        ("seed", str(record.get("seed"))),
        ("git commit", str(record.get("git_commit") or "none")),
        ("resources", f"profile {resources.get('profile')} (cpu {resources.get('cpu')}), "
                      f"runtime {resources.get('runtime')}"),
        ("libraries", ", ".join(f"{k} {val}" for k, val in record.get("libraries", {}).items())),
        ("trials", str(len(record.get("trials", [])))),
    ):
        head.add_row(label, value)
    metrics = Table(title="test metrics", box=box.SIMPLE_HEAD, header_style="bold")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    metrics.add_row(f"validation {v.metric}", _score(v.score))
    for key, value in v.metrics.items():
        if not isinstance(value, list | dict):
            metrics.add_row(key, _score(value))
    schema = Table(title="input schema", box=box.SIMPLE_HEAD, header_style="bold")
    schema.add_column("column")
    schema.add_column("type")
    refused = v.missing_refused
    schema.add_column("missing value (null)")
    for column, kind in v.input_schema.items():
        accepts = "unknown (saved before the probe)" if refused is None else (
            "refused: the API node answers 422" if column in refused else "accepted")
        schema.add_row(column, kind, accepts)
    parts: list[RenderableType] = [head, metrics, schema]
    console.print(Group(*parts))


@models_app.command("activate")
@guarded
def activate_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="The version to make active.")],
    project: ProjectOption = Path("."),
) -> None:
    """Make a version the active one (what scoring uses)."""
    from tideflow.models import Registry

    with Registry(open_project(project).state_dir) as registry:
        v = registry.activate(name, version)
    out().print(Text(f"{v.name} v{v.version} is now active", style="green"))


@models_app.command("compare")
@guarded
def compare_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    versions: Annotated[list[int], typer.Argument(help="Versions to compare.")],
    project: ProjectOption = Path("."),
) -> None:
    """Metrics of versions side by side."""
    from tideflow.models import Registry

    with Registry(open_project(project).state_dir) as registry:
        comparison = registry.compare(name, versions)
    table = Table(title=f"{name}: versions side by side", box=box.SIMPLE_HEAD, header_style="bold")
    table.add_column("")
    for v in comparison.versions:
        table.add_column(f"v{v}", justify="right")
    for label, values in comparison.rows:
        table.add_row(label, *(_score(value) for value in values))
    out().print(table)

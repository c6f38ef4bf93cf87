"""``tide monitor evaluate MODEL --data DATASET`` and ``tide monitor report MODEL``: drift of saved models.

The evaluation runner lives here because it reads datasets through the Flow's ``Workspace`` and
writes the checks' metric history, both above ``tideflow.monitoring`` (which stays pure plus its
own store). ``run_evaluation`` is the one entry point a scenario step can call as well.

Exit codes: 0 ok (drift is reported, not an error), 1 an error-level drift check failed (or any
alarm with ``--fail-on-alarm``), 2 usage or project error, 3 connection error.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.table import Table
from rich.text import Text

from tideflow.cli.context import EXIT_BUILD_FAILED, ProjectOption, guarded, open_project, out
from tideflow.errors import ProjectError
from tideflow.project import Project

monitor_app = typer.Typer(name="monitor", help="Drift of saved models: evaluate on new data, report.",
                          no_args_is_help=True)

_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red"}
QUERY_LOG_DIR = ".tide/query_log"


@dataclass
class EvaluationRun:
    """What ``run_evaluation`` did: the stored evaluation, drift-check outcomes, checks it skipped."""

    evaluation: Any  # tideflow.monitoring.Evaluation
    outcomes: list[Any] = field(default_factory=list)  # tideflow.monitoring.DriftCheckOutcome
    skipped: list[str] = field(default_factory=list)
    spec_file: str | None = None

    @property
    def failed(self) -> bool:
        return any(o.outcome == "error" for o in self.outcomes)


def history_dataset(model: str) -> str:
    """The name drift metrics of ``model`` are recorded under in the checks' metric history."""
    from tideflow.project.checks_specs import model_history_name

    return model_history_name(model)


def _data_version(workspace: Any, dataset: str) -> str:
    """As the Lab records it: the build version, or the source's fingerprint."""
    return str(workspace.state.dataset_version(dataset) or workspace.source_fingerprint(dataset))


def _training_rows(model: Any, table: pa.Table) -> pa.Table:
    """The training split of ``table`` as the Lab made it (the recorded spec and seed), feature columns only."""
    from tideflow.lab.data import prepare
    from tideflow.lab.loading import parse_model_spec

    spec = dict(model.record["spec"])
    spec.pop("name", None)
    model_file = parse_model_spec(spec, shown=f"the recorded spec of {model.name} v{model.version}", name=model.name)
    data = prepare(model_file, table)
    frame = data.x_train[[c for c in model.input_schema if c in data.x_train.columns]]
    return pa.Table.from_pandas(frame, preserve_index=False)


def resolve_reference(workspace: Any, monitor: Any, model: Any, *, dataset: str | None, max_rows: int,
                      refresh: bool = False) -> Any:
    """The reference of ``model``: the stored sample; else ``dataset``; else the training rows of the model's
    input dataset (re-split as the Lab did). A new reference is sampled and stored for later evaluations."""
    from tideflow.monitoring import Batch
    from tideflow.monitoring.frames import sample_rows

    store = monitor.store
    if not refresh and dataset is None:
        stored = store.reference(model.name, model.version)
        if stored is not None:
            return stored
    source = dataset or model.record.get("input")
    if not source:
        raise ProjectError(f"model {model.name!r} v{model.version} records no input dataset and has no stored "
                           f"reference: pass --reference DATASET")
    table = workspace.read_arrow(source)
    version = _data_version(workspace, source)
    note = f"reference = dataset {source!r} (given)"
    if dataset is None:
        trained_on = model.record.get("data_version")
        changed = f"; the dataset changed since training (trained on {trained_on}, now {version})" \
            if trained_on and trained_on != version else ""
        try:
            table = _training_rows(model, table)
            seed = model.record.get("seed")
            note = f"reference = training rows of {source!r}, re-split with the recorded spec (seed {seed}){changed}"
        except Exception as error:  # an old record or a changed dataset: compare with all of it, and say so
            note = (f"reference = all rows of the input dataset {source!r} (no training sample is stored and the "
                    f"training split could not be reproduced: {error}){changed}")
    if table.num_rows > max_rows:
        note += f"; sampled {max_rows} of {table.num_rows} rows"
    batch = Batch(sample_rows(table, max_rows, seed=int(model.record.get("seed") or 0)), source=f"dataset:{source}",
                  data_version=version, note=note)
    return store.save_reference(model.name, model.version, batch)


def _parse_log(spec: str) -> tuple[str, str | None]:
    service, _, endpoint = spec.partition("/")
    if not service:
        raise ProjectError(f"--query-log expects SERVICE or SERVICE/ENDPOINT, got {spec!r}")
    return service, endpoint or None


def current_batch(workspace: Any, model: Any, *, data: str | None, query_log: str | None, log_dir: Path,
                  since_hours: float | None, now: float) -> Any:
    from tideflow.monitoring import Batch, LogSelection, read_query_log

    if (data is None) == (query_log is None):
        raise ProjectError("give the data to evaluate: --data DATASET or --query-log SERVICE[/ENDPOINT] (one of them)")
    if data is not None:
        return Batch(workspace.read_arrow(data), source=f"dataset:{data}", data_version=_data_version(workspace, data))
    service, endpoint = _parse_log(str(query_log))
    since = None if since_hours is None else now - since_hours * 3600
    selection = LogSelection(service, endpoint, since=since, until=None)
    table = read_query_log(log_dir, selection, dict(model.input_schema))
    ts = table.column("_ts").to_pylist()
    window = f"{_iso(min(ts))}..{_iso(max(ts))}"
    return Batch(table, source=selection.label, data_version=f"{selection.label}@{window}",
                 note=f"{table.num_rows} logged records from {window}")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_metrics(state_path: Path, run: EvaluationRun) -> str:
    """Write the evaluation's metrics and drift-check outcomes to the checks' history (``model:<name>``)."""
    from tideflow.monitoring.history import record_evaluation

    return record_evaluation(state_path, run.evaluation, run.outcomes)


def run_evaluation(project: Project, model: str, *, data: str | None = None, query_log: str | None = None,
                   version: int | None = None, reference: str | None = None, refresh_reference: bool = False,
                   since_hours: float | None = None, log_dir: Path | None = None, domain: bool | None = None,
                   now: float | None = None) -> EvaluationRun:
    """Evaluate ``model`` on a dataset or on the API node's query log; store the evaluation, record its metrics
    in the checks' history and evaluate the drift checks of ``monitoring/<model>.yaml``."""
    from tideflow.flow import Workspace
    from tideflow.models.registry import Registry
    from tideflow.monitoring import Monitor, load_monitor_spec, run_drift_checks

    at = time.time() if now is None else now
    spec, shown = load_monitor_spec(project.root, model)
    monitor = Monitor(project.state_dir, thresholds=spec.drift_thresholds())
    with Registry(project.state_dir) as registry:
        found = registry.get(model, version)
    with Workspace(project) as workspace:
        ref = resolve_reference(workspace, monitor, found, dataset=reference or spec.reference.dataset,
                                max_rows=spec.reference.max_rows, refresh=refresh_reference)
        cur = current_batch(workspace, found, data=data, query_log=query_log,
                            log_dir=log_dir or project.root / QUERY_LOG_DIR, since_hours=since_hours, now=at)
        state_path = workspace.state.path
    evaluation = monitor.evaluate(model, found.version, ref, cur, now=at,
                                  domain=spec.domain_classifier if domain is None else domain)
    outcomes, skipped = run_drift_checks(spec.checks, evaluation)
    run = EvaluationRun(evaluation, outcomes, skipped, shown)
    record_metrics(state_path, run)
    return run


# ------------------------------------------------------------------ rendering


def _p(value: float) -> str:
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def summary_tables(run_or_evaluation: Any) -> list[Any]:
    e = getattr(run_or_evaluation, "evaluation", run_or_evaluation)
    head = Table(title=f"{e.model} v{e.version}: evaluation #{e.id}", header_style="bold", show_header=False)
    head.add_column("", style="bold")
    head.add_column("", overflow="fold")
    head.add_row("current", f"{e.current.source} ({e.current.rows} rows, version {e.current.data_version})")
    head.add_row("reference", f"{e.reference.source} ({e.reference.rows} rows)")
    if e.domain is not None:
        head.add_row("drift score", Text(f"{e.domain.auc:.3f} (domain classifier AUC; drift at >= "
                                         f"{e.domain.required:.3f})", style="bold red" if e.domain.drifting else ""))
    if e.prediction is not None:
        head.add_row("prediction drift", Text(f"PSI {e.prediction.psi:.3f}, p {_p(e.prediction.p_value)}",
                                              style="bold red" if e.prediction.drifting else ""))
    verdict = Text("ALARM: " + "; ".join(e.reasons), style="bold red") if e.alarm else Text("no drift", style="green")
    head.add_row("verdict", verdict)
    for note in [e.reference.note, *e.notes]:
        if note:
            head.add_row("note", Text(note, style="dim"))
    features = Table(title="features", header_style="bold")
    for name in ("feature", "test", "statistic", "p-value", "PSI", "status"):
        features.add_column(name, overflow="fold")
    for f in sorted(e.features, key=lambda f: (not f.drifting, -f.psi)):
        status = Text("DRIFT", style="bold red") if f.drifting else Text(f.level, style="dim")
        features.add_row(f.feature, f.test, f"{f.statistic:.4f}", _p(f.p_value), f"{f.psi:.4f}", status)
    tables: list[Any] = [head, features]
    if e.performance:
        perf = Table(title=f"performance ({e.labelled_rows} labelled rows)", header_style="bold")
        for name in ("metric", "at training", "now", "change", "status"):
            perf.add_column(name)
        for m in e.performance:
            perf.add_row(m.metric, "–" if m.recorded is None else f"{m.recorded:.4f}", f"{m.current:.4f}",
                         "–" if m.change is None else f"{m.change:+.4f}",
                         Text("degraded", style="bold red") if m.degraded else Text("ok", style="green"))
        tables.append(perf)
    outcomes = getattr(run_or_evaluation, "outcomes", [])
    if outcomes:
        checks = Table(title="drift checks", header_style="bold")
        for name in ("check", "outcome", "expected", "got"):
            checks.add_column(name, overflow="fold")
        for o in outcomes:
            checks.add_row(o.check, Text(o.outcome, style=_STYLES[o.outcome]), o.expected, o.got)
        tables.append(checks)
    return tables


def history_table(evaluations: list[Any]) -> Table:
    table = Table(title="evaluations", header_style="bold")
    for name in ("#", "time (UTC)", "version", "current", "rows", "drift score", "drifting features"):
        table.add_column(name, overflow="fold")
    for e in evaluations:
        table.add_row(str(e.id), _iso(e.created_at), f"v{e.version}", e.current.source, str(e.current.rows),
                      "–" if e.drift_score is None else f"{e.drift_score:.3f}",
                      Text(", ".join(e.drifting_features) or "none", style="red" if e.drifting_features else "dim"))
    return table


# ------------------------------------------------------------------ commands


@monitor_app.command("evaluate")
@guarded
def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="Saved model name.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Dataset to evaluate on.")] = None,
    query_log: Annotated[str | None, typer.Option("--query-log", help="Evaluate on the API node's query log: "
                                                  "SERVICE or SERVICE/ENDPOINT.")] = None,
    since_hours: Annotated[float | None, typer.Option("--since-hours", min=0, help="Query log: only the last "
                                                      "HOURS.")] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help=f"Query log root (default {QUERY_LOG_DIR}).")]
    = None,
    version: Annotated[int | None, typer.Option("--version", "-v", min=1, help="Model version (default: active).")]
    = None,
    reference: Annotated[str | None, typer.Option("--reference", help="Compare with this dataset instead of the "
                                                  "model's training rows (stored as its new reference).")] = None,
    refresh_reference: Annotated[bool, typer.Option("--refresh-reference", help="Rebuild the stored reference "
                                                    "sample.")] = False,
    no_domain: Annotated[bool, typer.Option("--no-domain", help="Skip the domain classifier.")] = False,
    fail_on_alarm: Annotated[bool, typer.Option("--fail-on-alarm", help="Exit 1 on any drift alarm.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Evaluate a saved model on new data: data, prediction and performance drift, stored and recorded as metrics."""
    proj = open_project(project)
    run = run_evaluation(proj, model, data=data, query_log=query_log, version=version, reference=reference,
                         refresh_reference=refresh_reference, since_hours=since_hours,
                         log_dir=None if log_dir is None else log_dir.resolve(), domain=False if no_domain else None)
    console = out()
    if as_json:
        doc = run.evaluation.as_dict()
        doc["checks"] = [vars(o) for o in run.outcomes]
        console.print_json(json.dumps(doc, default=str))
    else:
        for table in summary_tables(run):
            console.print(table)
        if run.skipped:
            console.print(Text(f"not measured, skipped: {', '.join(run.skipped)}", style="dim"))
        console.print(Text(f"recorded as metrics of {history_dataset(model)!r}", style="dim"))
    if run.failed or (fail_on_alarm and run.evaluation.alarm):
        raise typer.Exit(EXIT_BUILD_FAILED)


@monitor_app.command("report")
@guarded
def report_cmd(
    model: Annotated[str, typer.Argument(help="Saved model name.")],
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default "
                                                  ".tide/monitoring/<model>-report.html).")] = None,
    last: Annotated[int, typer.Option("--last", min=1, help="Evaluations to include.")] = 100,
    project: ProjectOption = Path("."),
) -> None:
    """Print a summary of the latest evaluation and the history; write an HTML report with plots."""
    from tideflow.monitoring import EvaluationStore, render_report

    proj = open_project(project)
    store = EvaluationStore(proj.state_dir)
    evaluations = store.list(model, limit=last)
    if not evaluations:
        known = store.models()
        raise ProjectError(f"no evaluation of model {model!r} yet (evaluated: {', '.join(known) or 'none'}): "
                           f"run 'tide monitor evaluate {model} --data DATASET'")
    console = out()
    for table in summary_tables(evaluations[-1]):
        console.print(table)
    console.print(history_table(evaluations))
    target = out_file or proj.state_dir / "monitoring" / f"{model}-report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(evaluations), encoding="utf-8")
    console.print(Text(f"wrote {target}", style="green"))

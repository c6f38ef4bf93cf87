"""``tide automation run | history | serve | list``: scenarios on this automation node.

``run`` exits 1 when the run failed and 4 when the scenario was already running (skipped).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tideflow.cli.context import EXIT_BUILD_FAILED, EXIT_USAGE, ProjectOption, fail, guarded, open_project, out

if TYPE_CHECKING:
    from tideflow.automation.runs import RunRecord

automation_app = typer.Typer(name="automation", help="Scenarios: run them, see their history, serve their triggers.",
                             no_args_is_help=True)

EXIT_BUSY = 4
_STYLES = {"succeeded": "green", "failed": "bold red", "timed_out": "bold red", "skipped": "dim", "missed": "yellow",
           "running": "cyan"}


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--param expects KEY=VALUE, got {pair!r}", EXIT_USAGE)
        out[key.strip()] = value
    return out


@automation_app.command("run")
@guarded
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario name (scenarios/<name>.yaml).")],
    param: Annotated[list[str] | None, typer.Option("--param", help="A parameter KEY=VALUE (repeatable).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Run a scenario now; print its steps. Exit 1 when it failed, 4 when it was already running."""
    from tideflow.automation.scenarios_run import ScenarioBusy, run_scenario

    proj = open_project(project)
    try:
        record = run_scenario(proj, scenario, params=_params(param or []), trigger="manual")
    except ScenarioBusy as busy:
        raise fail(str(busy), EXIT_BUSY) from None
    console = out()
    console.print(_steps_table(record))
    console.print(Text(f"run {record.run_id}: {record.outcome}: {record.message}", style=_STYLES[record.outcome]),
                  soft_wrap=True)
    if record.outcome != "succeeded":
        raise typer.Exit(EXIT_BUILD_FAILED)


def _steps_table(record: RunRecord) -> Table:
    table = Table(title=f"{record.scenario}: run {record.run_id} ({record.trigger})",
                  box=box.SIMPLE_HEAD, header_style="bold")
    for name in ("step", "type", "outcome", "attempts", "s", "message"):
        table.add_column(name, overflow="fold", justify="right" if name in ("attempts", "s") else "left")
    for s in record.steps:
        table.add_row(s.step, s.type, Text(s.outcome, style=_STYLES.get(s.outcome, "")), str(s.attempts),
                      f"{s.seconds:.1f}", s.message)
    return table


@automation_app.command("history")
@guarded
def history_cmd(
    scenario: Annotated[str | None, typer.Argument(help="Only this scenario.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Show one run: its steps, attempts and logs.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    project: ProjectOption = Path("."),
) -> None:
    """Past runs, newest first (or one run in detail with --run)."""
    from tideflow.automation.runs import RunHistory

    history = RunHistory(open_project(project).state_dir)
    console = out()
    if run is not None:
        record = history.run(run)
        if record is None:
            raise fail(f"no run {run!r} in the history", EXIT_USAGE)
        console.print(_steps_table(record))
        for step in record.steps:
            for attempt in step.attempt_log:
                console.print(Text(f"--- {step.step} attempt {attempt.attempt}: {attempt.outcome} "
                                   f"({attempt.seconds:.1f}s) {attempt.message}", style="bold"), soft_wrap=True)
                if attempt.log:
                    console.print(Text(attempt.log.rstrip()), soft_wrap=True)
        console.print(Text(f"{record.outcome}: {record.message}", style=_STYLES.get(record.outcome, "")),
                      soft_wrap=True)
        return
    table = Table(title="scenario runs", box=box.SIMPLE_HEAD, header_style="bold")
    for name in ("run", "scenario", "trigger", "outcome", "started", "s", "failed step", "message"):
        table.add_column(name, overflow="fold")
    for r in history.runs(scenario, limit):
        table.add_row(r.run_id, r.scenario, r.trigger, Text(r.outcome, style=_STYLES.get(r.outcome, "")),
                      _when(r.started_at), "" if r.seconds is None else f"{r.seconds:.1f}", r.failed_step or "",
                      r.message)
    console.print(table)


@automation_app.command("list")
@guarded
def list_cmd(project: ProjectOption = Path(".")) -> None:
    """The scenarios of the project (validated), their triggers and steps."""
    from tideflow.automation.scenarios_loading import load_scenarios

    table = Table(title="scenarios", box=box.SIMPLE_HEAD, header_style="bold")
    for name in ("scenario", "enabled", "triggers", "steps"):
        table.add_column(name, overflow="fold")
    for name, file in load_scenarios(open_project(project)).items():
        spec = file.spec
        table.add_row(name, "yes" if spec.enabled else "no", ", ".join(t.type for t in spec.triggers) or "none",
                      ", ".join(spec.step_name(i) for i in range(len(spec.steps))))
    out().print(table)


@automation_app.command("serve")
@guarded
def serve_cmd(
    tick_s: Annotated[float, typer.Option("--tick-s", min=0.1, help="Seconds between trigger evaluations.")] = 1.0,
    project: ProjectOption = Path("."),
) -> None:
    """Run the triggers of every enabled scenario on this node until Ctrl-C.

    Scheduled times missed while the node was down follow each time trigger's 'missed' policy
    (skip by default: recorded in the history, not run).
    """
    from tideflow.automation.node import Node

    console = out()
    node = Node(project, log=lambda m: console.print(Text(f"{_when(time.time())} {m}"), soft_wrap=True))
    try:
        node.serve(tick_s)
    except KeyboardInterrupt:
        console.print(Text("stopping: waiting for the running scenarios", style="yellow"))
        node.wait()

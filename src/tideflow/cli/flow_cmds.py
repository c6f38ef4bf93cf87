"""``tide flow build | explain | show``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from tideflow.cli import render
from tideflow.cli.context import EXIT_BUILD_FAILED, ProjectOption, guarded, open_project, out
from tideflow.project import Project

if TYPE_CHECKING:
    from tideflow.flow.model import BuildResult

flow_app = typer.Typer(name="flow", help="Build, explain and show the Flow.", no_args_is_help=True)


class Mode(StrEnum):
    smart = "smart"
    dataset = "dataset"
    forced = "forced"
    downstream = "downstream"


class Engine(StrEnum):
    sql = "sql"
    memory = "memory"


def run_build(
    project: Project, console: Console, targets: list[str] | None = None, mode: str = "smart",
    engine: str | None = None, parallelism: int | None = None,
) -> BuildResult:
    """Plan, then build with a live view of the recipes (a log of events when not on a terminal)."""
    from tideflow.flow import build, plan_build

    plan = plan_build(project, targets, mode, engine)  # type: ignore[arg-type]
    running = [s.recipe for s in plan.steps if not s.fused_into]
    view = render.BuildView(list(running))
    for step in plan.steps:
        if step.fused_into:
            view.mark_fused(step.recipe, step.fused_into)
    if console.is_terminal:
        with Live(view, console=console, refresh_per_second=8, transient=False):
            result = build(project, targets, mode, engine, on_event=view.update,  # type: ignore[arg-type]
                           parallelism=parallelism)
    else:

        def log(event: object) -> None:
            view.update(event)  # type: ignore[arg-type]
            console.print(render.event_line(event), soft_wrap=True)  # type: ignore[arg-type]

        result = build(project, targets, mode, engine, on_event=log,  # type: ignore[arg-type]
                       parallelism=parallelism)
    return result


def report_build(result: BuildResult, console: Console, project: Project, title: str = "Build", *,
                 targets: list[str] | None = None, rebuild: str = "'--mode forced' rebuilds") -> None:
    """The summary table and its notes; failures in red; exit 1 when a recipe failed. When nothing ran,
    why: the datasets are up to date (``rebuild`` says how to rebuild them where the summary is shown),
    or the ``targets`` are virtual datasets, which no build stores."""
    if all(r.status == "skipped" for r in result.runs):
        console.print(Text.from_markup("[green]Nothing to build[/]: ") + Text(nothing_built(project, targets, rebuild)),
                      soft_wrap=True)
        return
    console.print(render.summary_table(result, title=title, fused=render.fused_recipes(project)))
    for run in result.runs:
        if run.note:
            console.print(Text.assemble((run.recipe, "yellow"), ": ", (run.note, "magenta")), soft_wrap=True)
    if not result.ok:
        err_console = Console(stderr=True, highlight=False)
        for line in render.failures(result):
            err_console.print(line, soft_wrap=True)
        raise typer.Exit(EXIT_BUILD_FAILED)


def nothing_built(project: Project, targets: list[str] | None, rebuild: str) -> str:
    """Why a build ran nothing: virtual targets are never stored (their recipe runs as a CTE of their
    readers, in every mode); the other datasets are up to date."""
    from tideflow.flow import explain_recipe

    said: list[str] = []
    virtual: set[str] = set()
    for target in targets or []:
        producer = project.graph.producer.get(target)
        if producer is None or not project.datasets[target].virtual:
            continue
        planned = explain_recipe(project, producer)
        if target not in planned.virtual_outputs:
            continue  # stored all the same (explain says why): a forced build rebuilds it
        virtual.add(target)
        into = (f"recipe {producer!r} runs as a CTE inside {planned.fused_into!r}" if planned.fused_into
                else f"it is computed where it is read ('tide dataset head {target}')")
        said.append(f"dataset {target!r} is virtual, never stored: {into}")
    if not targets or set(targets) - virtual:
        hint = f" ({rebuild})" if rebuild else ""
        said.append(f"{'the other datasets are' if said else 'every dataset is'} up to date{hint}")
    return "; ".join(said) + "."


@flow_app.command("build")
@guarded
def build_cmd(
    datasets: Annotated[list[str] | None, typer.Argument(help="Datasets to build (default: all).")] = None,
    mode: Annotated[Mode, typer.Option("--mode", "-m", help="Which recipes to run.")] = Mode.smart,
    engine: Annotated[Engine | None, typer.Option("--engine", "-e", help="Force one engine.")] = None,
    parallelism: Annotated[int | None, typer.Option("--parallelism", "-j", min=1,
                                                    help="Recipes run at once.")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Build datasets: smart (outdated upstream), dataset (only theirs), forced (all upstream), downstream."""
    proj = open_project(project)
    console = out()
    result = run_build(proj, console, datasets or None, mode.value, engine.value if engine else None,
                       parallelism)
    report_build(result, console, proj, targets=datasets or None,
                 rebuild="'--mode forced' rebuilds" if mode is not Mode.forced else "")


@flow_app.command("explain")
@guarded
def explain_cmd(
    recipe: Annotated[str | None, typer.Argument(help="Recipe to explain (default: every recipe).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Per recipe: the engine chosen, why, and the SQL it runs."""
    from tideflow.flow import explain_recipe

    proj = open_project(project)
    names = [recipe] if recipe else list(proj.graph.order)
    if recipe:
        proj.recipe(recipe)  # unknown name -> ProjectError with a suggestion
    console = out()
    for name in names:
        planned = explain_recipe(proj, name)
        dialect = _dialect_of(proj, planned.connection)
        console.print(render.explain_panel(planned, proj, dialect))


def _dialect_of(project: Project, connection: str | None) -> str | None:
    spec = project.config.connections.get(connection or "")
    return spec.type if spec is not None else None


@flow_app.command("show")
@guarded
def show_cmd(project: ProjectOption = Path(".")) -> None:
    """The Flow as a tree: sources -> recipes -> datasets (recipe types and virtual datasets marked)."""
    proj = open_project(project)
    out().print(render.flow_tree(proj))

"""``tide dataset metrics NAME`` and ``tide dataset check NAME``: metrics and checks of a dataset.

Both compute where the dataset lives (its database; Polars for files) and record the values in
the history under the dataset's current version. ``check`` exits 1 when an error-level check fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tideflow.checks import DatasetReport, show_value
from tideflow.cli.context import EXIT_BUILD_FAILED, ProjectOption, guarded, open_project, out
from tideflow.errors import counted

dataset_checks_app = typer.Typer(name="dataset", help="Metrics and checks of datasets.", no_args_is_help=True)

_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red"}


def metrics_table(report: DatasetReport, title: str) -> Table:
    table = Table(title=title, header_style="bold")
    table.add_column("metric")
    table.add_column("value", overflow="fold")
    for spec, value in report.metrics:
        table.add_row(spec.label, Text(show_value(value), style="dim italic" if value is None else ""))
    return table


def checks_table(report: DatasetReport, title: str) -> Table:
    table = Table(title=title, header_style="bold")
    for name in ("check", "rule", "outcome", "expected", "got"):
        table.add_column(name, overflow="fold")
    for o in report.outcomes:
        table.add_row(o.check, o.rule, Text(o.outcome, style=_STYLES[o.outcome]), o.expected, o.got)
    return table


@dataset_checks_app.command("metrics")
@guarded
def metrics_cmd(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    project: ProjectOption = Path("."),
) -> None:
    """Compute a dataset's declared metrics (a default profile when it declares none)."""
    from tideflow.checks import check_dataset, dataset_source, profile_metrics
    from tideflow.flow import Workspace

    proj = open_project(project)
    spec = proj.dataset(name)
    with Workspace(proj) as workspace:
        chosen = spec.metrics or profile_metrics(dataset_source(workspace, name).schema)
        report = check_dataset(workspace, name, metrics=chosen, checks=False)
    out().print(metrics_table(report, f"{name}: metrics"))


@dataset_checks_app.command("check")
@guarded
def check_cmd(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    project: ProjectOption = Path("."),
) -> None:
    """Evaluate a dataset's checks; exit 1 when an error-level check fails."""
    from tideflow.checks import check_dataset
    from tideflow.flow import Workspace

    proj = open_project(project)
    spec = proj.dataset(name)
    with Workspace(proj) as workspace:
        report = check_dataset(workspace, name)
    console = out()
    if not spec.checks:
        console.print(Text(f"dataset {name!r} declares no checks (add 'checks:' to its datasets/ file)"))
        return
    console.print(checks_table(report, f"{name}: checks"))
    errors, warnings = len(report.errors), len(report.warnings)
    summary = f"{counted(len(report.outcomes), 'check')}: {errors} failed, {counted(warnings, 'warning')}"
    console.print(Text(summary, style=_STYLES[report.outcome]))
    if errors:
        raise typer.Exit(EXIT_BUILD_FAILED)

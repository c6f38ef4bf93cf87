"""Rich renderables of the CLI: tables of rows and schemas, the Flow tree, explain panels, build views.

Pure presentation: functions take plain data (a ``Project``, a ``PlannedRecipe``, a ``BuildResult``,
an Arrow table) and return Rich renderables. Nothing here builds or queries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tideflow.cli.context import human_bytes
from tideflow.project import Project

if TYPE_CHECKING:
    import pyarrow as pa

    from tideflow.flow.model import BuildEvent, BuildResult, PlannedRecipe

SQL_LEXERS = {"postgres": "postgresql", "postgresql": "postgresql"}


def _cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim italic")
    if isinstance(value, float):
        return Text(f"{value:,.6g}" if abs(value) >= 1e6 else f"{value:.6g}")
    return Text(str(value))


def rows_table(table: pa.Table, title: str | None = None) -> Table:
    """An Arrow table as a Rich table (NULLs shown dim)."""
    out = Table(title=title, show_lines=False, header_style="bold")
    numeric = {f.name for f in table.schema if _is_numeric(str(f.type))}
    for name in table.column_names:
        out.add_column(name, justify="right" if name in numeric else "left", overflow="fold")
    for row in table.to_pylist():
        out.add_row(*(_cell(row[c]) for c in table.column_names))
    return out


def _is_numeric(arrow_type: str) -> bool:
    return arrow_type.startswith(("int", "uint", "double", "float", "decimal"))


def schema_table(schema: Mapping[str, Any], title: str | None = None) -> Table:
    out = Table(title=title, header_style="bold")
    out.add_column("#", justify="right", style="dim")
    out.add_column("column")
    out.add_column("type", style="cyan")
    for i, (name, typ) in enumerate(schema.items(), start=1):
        out.add_row(str(i), name, str(typ))
    return out


def sql_syntax(sql: str, dialect: str | None = None) -> Syntax:
    return Syntax(sql.strip(), SQL_LEXERS.get((dialect or "").lower(), "sql"), theme="ansi_dark",
                  word_wrap=True, background_color="default")


# ---------------------------------------------------------------- the Flow


def _dataset_label(project: Project, name: str) -> Text:
    spec = project.datasets.get(name)
    text = Text(name, style="bold cyan")
    if name not in project.graph.producer:
        text.append("  source", style="green")
    if spec is not None and spec.virtual:
        text.append("  virtual", style="magenta")
    if spec is not None and not spec.virtual:
        conn = spec.connection or project.config.defaults.connection
        where = spec.path if spec.path else spec.table_name
        text.append(f"  @{conn}" + (f":{where}" if where != name else ""), style="dim")
    return text


def _recipe_label(project: Project, name: str) -> Text:
    recipe = project.recipes[name]
    text = Text("⚙ ", style="yellow")
    text.append(name, style="bold yellow")
    text.append(f"  [{recipe.type}]", style="yellow")
    if recipe.engine != "auto":
        text.append(f"  engine={recipe.engine}", style="dim")
    return text


def flow_tree(project: Project) -> Tree:
    """The DAG as a tree: sources -> recipes -> datasets -> recipes ...

    A recipe is drawn under its first input; under its other inputs a reference points to it.
    """
    graph = project.graph
    root = Tree(Text.assemble(("Flow ", "bold"), (project.config.name, "bold"),
                              (f"  {len(project.recipes)} recipes, {len(project.datasets)} datasets", "dim")))
    roots = sorted(n for n in project.datasets if n not in graph.producer)

    def add_dataset(parent: Tree, name: str) -> None:
        node = parent.add(_dataset_label(project, name))
        for recipe in graph.consumers.get(name, []):
            inputs = graph.recipe_inputs[recipe]
            if inputs[0] != name:
                node.add(Text.assemble(("↳ ", "dim"), (recipe, "yellow"), (f"  (see {inputs[0]})", "dim")))
                continue
            rnode = node.add(_recipe_label(project, recipe))
            others = [i for i in inputs if i != name]
            if others:
                rnode.label = Text.assemble(_recipe_label(project, recipe), ("  +" + ",".join(others), "dim"))
            for output in graph.recipe_outputs[recipe]:
                add_dataset(rnode, output)

    for name in roots:
        add_dataset(root, name)
    return root


# ---------------------------------------------------------------- explain


def explain_panel(planned: PlannedRecipe, project: Project, dialect: str | None = None) -> Panel:
    recipe = project.recipes.get(planned.recipe)
    kind = recipe.type if recipe is not None else "?"
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    engine = Text(planned.engine, style="green" if planned.engine == "sql" else "yellow")
    if planned.connection:
        engine.append(f" on {planned.connection}", style="dim")
    facts.add_row("engine", engine)
    facts.add_row("why", Text(planned.reason or "-"))
    if planned.outdated_reason:
        facts.add_row("outdated", Text(f"yes: {planned.outdated_reason}", style="yellow"))
    elif not planned.fused_into:
        facts.add_row("outdated", Text("no: up to date", style="green"))
    if planned.virtual_outputs:
        facts.add_row("virtual", Text(", ".join(planned.virtual_outputs), style="magenta"))
    for output, why in planned.stored_virtual.items():
        facts.add_row("virtual", Text(f"{output} is virtual but stored: {why}", style="magenta"))
    if planned.fused_into:
        facts.add_row("runs as", Text(f"a CTE of {planned.fused_into}", style="magenta"))
    for note in planned.notes:
        facts.add_row("optimized", Text(note, style="cyan"))
    parts: list[RenderableType] = [facts]
    for output, sql in planned.sql.items():
        parts.append(Text(f"\n-> {output}", style="bold cyan"))
        parts.append(sql_syntax(sql, dialect))
    if not planned.sql:
        where = "on the Ray cluster" if planned.engine == "ray" else "in memory"
        parts.append(Text(f"\n(no SQL: this recipe runs {where})", style="dim"))
    title = Text.assemble((planned.recipe, "bold yellow"), (f" [{kind}]", "yellow"))
    return Panel(Group(*parts), title=title, title_align="left", border_style="blue")


# ---------------------------------------------------------------- builds


def _rows_text(rows: Mapping[str, int] | int | None) -> str:
    if rows is None:
        return ""
    if isinstance(rows, int):
        return f"{rows:,}"
    return " + ".join(f"{v:,}" for v in rows.values())


def fused_recipes(project: Project) -> set[str]:
    """Recipes writing only virtual datasets: they run as a CTE of the recipe reading them."""
    return {name for name, recipe in project.recipes.items()
            if all(project.datasets[o].virtual for o in recipe.outputs if o in project.datasets)}


def summary_table(result: BuildResult, title: str = "Build", fused: set[str] | None = None) -> Table:
    """One row per recipe run (engine, status, seconds, rows, bytes through Python) and a total."""
    fused = fused or set()
    out = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    out.add_column("recipe", style="yellow", no_wrap=True,
                   min_width=max((len(r.recipe) for r in result.runs), default=6))
    out.add_column("engine", no_wrap=True)
    out.add_column("status", no_wrap=True)
    out.add_column("seconds", justify="right", no_wrap=True, min_width=7)
    out.add_column("rows out", justify="right", no_wrap=True)
    out.add_column("via Python", justify="right", no_wrap=True)
    styles = {"ok": "green", "failed": "bold red", "skipped": "dim", "cancelled": "dim"}
    for run in result.runs:
        status = Text(run.status, style=styles.get(run.status, ""))
        if run.status == "skipped" and run.recipe in fused:
            status = Text("fused", style="magenta")  # ran as a CTE of its consumer
        out.add_row(run.recipe, run.engine, status, f"{run.seconds:.2f}", _rows_text(run.rows),
                    human_bytes(run.bytes_through_python))
    out.add_section()
    ok = sum(1 for r in result.runs if r.status == "ok")
    failed = len(result.failed)
    total = Text(f"{ok} ok", style="bold green")
    if failed:
        total.append(f", {failed} failed", style="bold red")
    out.add_row("total", "", total, f"{result.seconds:.2f}", "",
                human_bytes(sum(r.bytes_through_python for r in result.runs)))
    return out


@dataclass
class _Line:
    state: str = "waiting"
    engine: str = ""
    started: float | None = None
    seconds: float | None = None
    rows: int | None = None
    message: str = ""


@dataclass
class BuildView:
    """Live state of a build fed by ``BuildEvent``s (thread-safe); renders a progress table."""

    recipes: list[str]
    lines: dict[str, _Line] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in self.recipes:
            self.lines.setdefault(name, _Line())

    def mark_fused(self, recipe: str, into: str) -> None:
        """``recipe`` runs as a CTE of ``into`` (its outputs are virtual): shown, never run."""
        with self._lock:
            if recipe not in self.recipes:
                self.recipes.insert(0, recipe)
            self.lines[recipe] = _Line(state="fused", message=f"CTE of {into}")

    def update(self, event: BuildEvent) -> None:
        with self._lock:
            line = self.lines.setdefault(event.recipe, _Line())
            if event.recipe not in self.recipes:
                self.recipes.append(event.recipe)
            if line.state == "fused" and event.kind == "skipped":
                return
            line.state = event.kind
            line.engine = event.engine or line.engine
            line.message = event.message
            if event.kind == "started":
                line.started = time.perf_counter()
            else:
                line.seconds = event.seconds
                line.rows = event.rows

    @property
    def done(self) -> int:
        return sum(1 for line in self.lines.values()
                   if line.state in ("finished", "failed", "skipped", "fused"))

    def __rich__(self) -> RenderableType:
        with self._lock:
            table = Table(header_style="bold", title_justify="left", box=box.SIMPLE_HEAD,
                          title=f"Building: {self.done}/{len(self.recipes)} recipes done")
            table.add_column("recipe", style="yellow", no_wrap=True)
            table.add_column("state")
            table.add_column("engine")
            table.add_column("seconds", justify="right")
            table.add_column("rows", justify="right")
            now = time.perf_counter()
            for name in self.recipes:
                line = self.lines[name]
                seconds = line.seconds
                if line.state == "started" and line.started is not None:
                    seconds = now - line.started
                table.add_row(name, state_text(line.state), line.engine,
                              "" if seconds is None else f"{seconds:.2f}", _rows_text(line.rows))
            return table


def state_text(state: str) -> Text:
    styles = {"waiting": "dim", "started": "bold blue", "finished": "green", "failed": "bold red",
              "skipped": "dim", "fused": "magenta"}
    shown = {"started": "running", "finished": "done"}.get(state, state)
    return Text(shown, style=styles.get(state, ""))


def event_line(event: BuildEvent) -> Text:
    """One log line per event, for output that is not a terminal (CI logs, pipes)."""
    text = Text.assemble(state_text(event.kind), " ", (event.recipe, "yellow"))
    if event.engine:
        text.append(f"  engine={event.engine}")
    if event.kind != "started":
        text.append(f"  {event.seconds:.2f} s")
    if event.rows is not None:
        text.append(f"  {event.rows:,} rows")
    if event.message:
        text.append(f"  {event.message}", style="red" if event.kind == "failed" else "dim")
    return text


def failures(result: BuildResult) -> Iterable[Text]:
    for run in result.failed:
        yield Text.assemble(("failed ", "bold red"), (run.recipe, "yellow"), ": ", (run.error, "red"))

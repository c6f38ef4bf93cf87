"""``tide demo``: the bundled card-payments project, generated, built and explained in one command.

Re-runnable: the project files are refreshed every time (files an older demo left in datasets/ and
recipes/ are removed); the source data is regenerated only when it is missing or when ``--rows`` /
``--seed`` changed (recorded in ``.tide/demo.json``).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from tideflow.cli import demo_data, render
from tideflow.cli.context import guarded, out
from tideflow.cli.flow_cmds import report_build, run_build
from tideflow.cli.init_cmd import copy_tree, iter_files, package_tree, target_path
from tideflow.errors import ProjectError
from tideflow.project import PROJECT_FILE, load_project

DEMO_NAME = "payments-demo"
# A group whose SQL carries the fused chain of its virtual inputs (prepare and join, as CTEs).
EXPLAINED_RECIPE = "card_features"
# Folders of the project that hold only the demo's own files: files the package no longer ships
# (recipes of an older demo) are removed, or they would stay in the Flow.
OWNED_FOLDERS = ("datasets", "recipes", "api")
MARKER = "demo.json"


def demo_project_files() -> object:
    return package_tree("demo_project")


def write_project(directory: Path) -> None:
    """Copy the demo project files into ``directory``; refuse to touch a different project."""
    config = directory / PROJECT_FILE
    if config.exists():
        text = config.read_text(encoding="utf-8")
        if f"name: {DEMO_NAME}" not in text:
            raise ProjectError(
                f"{config} is another project (expected name: {DEMO_NAME}): refusing to overwrite it; "
                "choose another --dir"
            )
    directory.mkdir(parents=True, exist_ok=True)
    tree = package_tree("demo_project")
    shipped = {directory / target_path(rel) for rel, _ in iter_files(tree)}
    for folder in OWNED_FOLDERS:
        for path in sorted((directory / folder).glob("*")):
            if path.is_file() and path not in shipped:
                path.unlink()
    copy_tree(tree, directory)


def warehouse_path(directory: Path) -> Path:
    project = load_project(directory)
    conn = project.config.connections[project.config.defaults.connection]
    return directory / conn.path  # type: ignore[union-attr]


def data_is_current(directory: Path, rows: int, seed: int) -> bool:
    """True when the sources hold the data of ``(rows, seed)`` already."""
    marker = directory / ".tide" / MARKER
    db = warehouse_path(directory)
    if not marker.is_file() or not db.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recorded != {"rows": rows, "seed": seed}:
        return False
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return False
    try:
        counts = {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
                  for name in demo_data.SOURCES}
    except duckdb.Error:
        return False
    finally:
        con.close()
    return counts["transactions"] == rows


def ensure_data(directory: Path, rows: int, seed: int, console: Console) -> bool:
    """Generate the sources when needed; True when they were (re)generated."""
    if data_is_current(directory, rows, seed):
        console.print(f"[dim]Source data is current ({rows:,} transactions, seed {seed}).[/]")
        return False
    console.print(f"Generating {rows:,} transactions (seed {seed}) ...")
    started = time.perf_counter()
    counts = demo_data.generate(warehouse_path(directory), rows, seed)
    marker = directory / ".tide" / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"rows": rows, "seed": seed}), encoding="utf-8")
    shown = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    console.print(f"[green]Loaded[/] {shown} in {time.perf_counter() - started:.1f} s")
    return True


@guarded
def run_demo(directory: Path, rows: int, seed: int, engine: str | None, lab: bool = True,
             serve: bool = True) -> None:
    console = out()
    write_project(directory)
    from tideflow.flow import explain_recipe

    regenerated = ensure_data(directory, rows, seed, console)
    project = load_project(directory)

    console.print(Rule("The Flow"))
    console.print(render.flow_tree(project))

    console.print(Rule("Build"))
    mode = "forced" if regenerated else "smart"
    result = run_build(project, console, None, mode, engine)

    console.print(Rule(f"Explain: {EXPLAINED_RECIPE}"))
    planned = explain_recipe(project, EXPLAINED_RECIPE)
    console.print(render.explain_panel(planned, project, "duckdb"))

    console.print(Rule("Timings"))
    shown = shlex.quote(str(directory))  # pasted into a shell as it is printed
    report_build(result, console, project, title=f"Build ({mode}, {rows:,} transactions)",
                 rebuild=f"`tide flow build --mode forced --project {shown}` rebuilds them")
    if lab:
        from tideflow.cli.demo_lab import train_demo

        train_demo(load_project(directory), console)
        if serve:
            from tideflow.cli.demo_serve import serve_demo

            serve_demo(load_project(directory), console)
    console.print(Rule("Next"))
    commands = [f"tide dataset head merchant_risk --project {shown}"]
    if lab:  # without the Lab there is no saved model to show or serve
        commands += [f"tide models show card_fraud --project {shown}",
                     f"tide api serve card_fraud --project {shown}"]
    else:
        commands.append(f"tide lab train card_fraud --project {shown}")
    for command in commands:
        console.print(Text(command), soft_wrap=True)


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo project.", file_okay=False)]
    = Path("demo-project"),
    rows: Annotated[int, typer.Option("--rows", min=1, help="Transactions to generate.")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generator.")] = 7,
    engine: Annotated[str | None, typer.Option("--engine", help="Force one engine (sql or memory).")] = None,
    lab: Annotated[bool, typer.Option("--lab/--no-lab", help="Train the demo fraud model after the build.")] = True,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the trained model and query it.")] = True,
) -> None:
    """Generate the card-payments demo into DIR, build it, show the Flow, one explain and the timings, train."""
    if engine not in (None, "sql", "memory"):
        raise typer.BadParameter(f"expected sql or memory, got {engine!r}", param_hint="--engine")
    run_demo(directory, rows, seed, engine, lab, serve)

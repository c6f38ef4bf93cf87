"""``tide dataset head | schema`` and ``tide recipe sql``."""

from __future__ import annotations

import enum
import io
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import pyarrow.csv as pacsv
import typer
from rich.text import Text

from tideflow.cli import render
from tideflow.cli.context import ProjectOption, guarded, open_project, out

dataset_app = typer.Typer(name="dataset", help="Look at datasets.", no_args_is_help=True)
recipe_app = typer.Typer(name="recipe", help="Look at recipes.", no_args_is_help=True)


class HeadFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


def _json_value(value: object) -> object:
    """A row value as JSON holds it: NaN and infinities (not JSON) as null, the rest as text if not native."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataset_app.command("head")
@guarded
def head_cmd(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    n: Annotated[int, typer.Option("-n", "--rows", min=0, help="Rows to show.")] = 10,
    output: Annotated[HeadFormat | None, typer.Option(
        "--format", "-f", help="table (the default on a terminal), csv (the default into a file or a pipe) or "
                               "jsonl (one JSON object a row).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """The first N rows of a dataset."""
    from tideflow.flow import dataset_head

    proj = open_project(project)
    proj.dataset(name)  # unknown name -> ProjectError with a suggestion
    table = dataset_head(proj, name, n)
    if output is None:  # a table for eyes; plain rows for a pipe or a file, where a table's columns get cut
        output = HeadFormat.table if out().is_terminal else HeadFormat.csv
    if output is HeadFormat.table:
        out().print(render.rows_table(table, title=f"{name} (first {table.num_rows} rows)"))
        return
    sink = sys.stdout
    if output is HeadFormat.csv:
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        sink.write(buffer.getvalue().decode("utf-8"))
    else:
        for row in table.to_pylist():
            clean = {k: _json_value(v) for k, v in row.items()}
            sink.write(json.dumps(clean, default=str, ensure_ascii=False) + "\n")
    sink.flush()


@dataset_app.command("schema")
@guarded
def schema_cmd(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    project: ProjectOption = Path("."),
) -> None:
    """Columns of a dataset and their logical types."""
    from tideflow.flow import dataset_schema

    proj = open_project(project)
    proj.dataset(name)
    schema = dataset_schema(proj, name)
    out().print(render.schema_table(schema, title=name))


@recipe_app.command("sql")
@guarded
def sql_cmd(
    name: Annotated[str, typer.Argument(help="Recipe name.")],
    dialect: Annotated[str | None, typer.Option(
        "--dialect", "-d", help="SQL dialect (default: the recipe's connection).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """The SQL a recipe runs, per output (plain text when piped)."""
    from tideflow.flow import recipe_sql

    proj = open_project(project)
    proj.recipe(name)
    sql = recipe_sql(proj, name, dialect)
    console = out()
    for i, (output, text) in enumerate(sql.items()):
        if len(sql) > 1:
            console.print(Text(f"-- {output}", style="bold cyan"), soft_wrap=True)
        if console.is_terminal:
            console.print(render.sql_syntax(text, dialect))
        else:  # exact text for scripts: `tide recipe sql x > x.sql`
            console.print(Text(text.rstrip() + ";" if not text.rstrip().endswith(";") else text.rstrip()),
                          soft_wrap=True)
        if i < len(sql) - 1:
            console.print()

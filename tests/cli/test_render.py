"""Rich renderables of the CLI, rendered to text (no build needed)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from tideflow.cli import render
from tideflow.cli.init_cmd import package_tree
from tideflow.flow.model import BuildEvent, BuildResult, RecipeRun
from tideflow.project import load_project

DEMO = Path(str(package_tree("demo_project")))


def _text(renderable: object, width: int = 160) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


def test_flow_tree_draws_every_dataset_once_and_marks_virtual() -> None:
    project = load_project(DEMO)
    text = _text(render.flow_tree(project))
    for name in project.datasets:
        drawn = re.findall(rf"── {name}  ", text)
        assert len(drawn) == 1, (name, text)
    assert "transactions_clean  virtual" in text
    for name, recipe in project.recipes.items():
        assert f"⚙ {name}  [{recipe.type}]" in text
    assert "↳ enrich_payments  (see transactions_clean)" in text


def test_build_view_follows_events() -> None:
    view = render.BuildView(["a", "b", "c"])
    view.mark_fused("v", "a")
    view.update(BuildEvent("skipped", "v", "sql"))
    view.update(BuildEvent("started", "a", "sql"))
    view.update(BuildEvent("finished", "a", "sql", seconds=1.5, rows=1234))
    view.update(BuildEvent("started", "b", "memory"))
    view.update(BuildEvent("failed", "c", "sql", seconds=0.1, message="boom"))
    text = _text(view)
    assert "Building: 3/4 recipes done" in text
    assert re.search(r"a\s+done\s+sql\s+1\.50\s+1,234", text)
    assert re.search(r"b\s+running\s+memory", text)
    assert re.search(r"v\s+fused", text)
    assert re.search(r"c\s+failed", text)


def test_summary_table_totals_and_fused() -> None:
    result = BuildResult(runs=[
        RecipeRun("v", "sql", "skipped", 0.0),
        RecipeRun("a", "sql", "ok", 1.0, rows={"x": 10, "y": 5}),
        RecipeRun("b", "memory", "ok", 2.0, rows={"z": 3}, bytes_through_python=2_500_000),
        RecipeRun("c", "sql", "failed", 0.5, error="boom"),
    ], seconds=3.5)
    text = _text(render.summary_table(result, fused={"v"}))
    assert re.search(r"v\s+sql\s+fused", text)
    assert "10 + 5" in text and "2.5 MB" in text
    assert re.search(r"total\s+2 ok, 1 failed\s+3\.50", text)
    assert [str(t) for t in render.failures(result)] == ["failed c: boom"]


def test_event_lines_for_logs() -> None:
    line = render.event_line(BuildEvent("finished", "a", "sql", seconds=0.25, rows=42))
    assert str(line) == "done a  engine=sql  0.25 s  42 rows"

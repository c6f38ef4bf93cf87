"""Python recipes load a real file from the project's recipes/ folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tideflow.engines.memory import run_recipe
from tideflow.errors import BuildError, ProjectError

from .helpers import recipe

CODE = """
import polars as pl

def transform(inputs):
    return inputs["in"].with_columns((pl.col("x") * 2).alias("y"))

def split(inputs):
    frame = inputs["in"]
    return {"small": frame.filter(pl.col("x") < 2), "big": frame.filter(pl.col("x") >= 2)}

def broken(inputs):
    raise ValueError("boom")

def wrong(inputs):
    return 42
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "code.py").write_text(CODE, encoding="utf-8")
    return tmp_path


FRAME = pl.DataFrame({"x": [1, 2, 3]}, schema={"x": pl.Int32})


def test_single_output(project: Path) -> None:
    out = run_recipe(recipe("python", file="code.py"), {"in": FRAME}, project_dir=project)
    assert out["out"].rows() == [(1, 2), (2, 4), (3, 6)]
    assert out["out"].schema["x"] == pl.Int64  # outputs are normalized


def test_dict_of_outputs(project: Path) -> None:
    out = run_recipe(
        recipe("python", outputs=["small", "big"], file="code.py", function="split"),
        {"in": FRAME},
        project_dir=project,
    )
    assert out["small"]["x"].to_list() == [1]
    assert out["big"]["x"].to_list() == [2, 3]


def test_errors_name_file_and_function(project: Path) -> None:
    with pytest.raises(BuildError, match=r"recipes/code.py:broken raised ValueError: boom"):
        run_recipe(recipe("python", file="code.py", function="broken"), {"in": FRAME}, project_dir=project)
    with pytest.raises(
        BuildError, match=r"recipes/code.py:wrong returned an int, expected a polars.DataFrame"
    ):
        run_recipe(recipe("python", file="code.py", function="wrong"), {"in": FRAME}, project_dir=project)
    with pytest.raises(
        ProjectError,
        match=r"recipes/p.yaml at function: recipes/code.py has no function "
        r"'transfrom': did you mean 'transform'\?",
    ):
        run_recipe(
            recipe("python", file="code.py", function="transfrom"),
            {"in": FRAME},
            project_dir=project,
            where="recipes/p.yaml",
        )
    with pytest.raises(ProjectError, match=r"^file: python file not found: expected .*nope.py"):
        run_recipe(recipe("python", file="nope.py"), {"in": FRAME}, project_dir=project)
    with pytest.raises(BuildError, match=r"returned outputs \['big', 'small'\], expected \['small'\]"):
        run_recipe(
            recipe("python", outputs="small", file="code.py", function="split"),
            {"in": FRAME},
            project_dir=project,
        )


def test_sys_exit_in_a_recipe_is_a_build_error_not_the_end_of_the_build(tmp_path: Path) -> None:
    """A sys.exit(0) would otherwise end ``tide flow build`` with the exit code of success."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "quits.py").write_text("import sys\n\ndef transform(inputs):\n    sys.exit(0)\n",
                                                    encoding="utf-8")
    (tmp_path / "recipes" / "quits_on_import.py").write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    with pytest.raises(BuildError, match=r"recipes/quits.py:transform called sys.exit\(0\); a recipe returns "
                                         r"its outputs, expected no exit"):
        run_recipe(recipe("python", file="quits.py"), {"in": FRAME}, project_dir=tmp_path)
    with pytest.raises(BuildError, match=r"importing recipes/quits_on_import.py called sys.exit\(3\)"):
        run_recipe(recipe("python", file="quits_on_import.py"), {"in": FRAME}, project_dir=tmp_path)

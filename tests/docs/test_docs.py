"""Examples in docs/ are part of the contract: every recipe example validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tideflow.project import DatasetSpec, ProjectConfig
from tideflow.project.yamlfile import loads
from tideflow.recipes import RECIPE_TYPES, recipe_adapter

DOCS = Path(__file__).resolve().parents[2] / "docs"


def yaml_blocks(name: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


RECIPE_BLOCKS = yaml_blocks("recipes.md")


def test_recipe_docs_have_an_example_of_every_kind() -> None:
    kinds = {loads(b)["type"] for b in RECIPE_BLOCKS}
    assert kinds == set(RECIPE_TYPES)
    assert {"score", "evaluate"} <= kinds


@pytest.mark.parametrize("block", RECIPE_BLOCKS, ids=lambda b: loads(b)["type"])
def test_recipe_example_validates(block: str) -> None:
    data = loads(block)
    recipe_adapter.validate_python({"name": "example", **data})


def test_project_format_examples_validate() -> None:
    blocks = yaml_blocks("project-format.md")
    ProjectConfig.model_validate(loads(blocks[0]))
    for block in blocks[1:]:
        DatasetSpec.model_validate({"name": "example", **loads(block)})


def test_the_project_format_names_every_recipe_type() -> None:
    text = (DOCS / "project-format.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `type` |"))
    assert set(re.findall(r"`(\w+)`", row)) - {"type"} == set(RECIPE_TYPES)


def test_the_group_key_example_is_what_explain_prints_for_the_demo(tmp_path: Path) -> None:
    import duckdb

    from tideflow.cli.demo_data import generate_tables, load_tables
    from tideflow.cli.init_cmd import copy_tree, package_tree
    from tideflow.flow import explain_recipe
    from tideflow.project import load_project

    block = re.search(r"```text\n(optimized .*?)```", (DOCS / "project-format.md").read_text(), flags=re.S)
    assert block is not None
    documented = [" ".join(e.split()) for e in re.split(r"\n(?=optimized )", block.group(1).strip())]
    root = tmp_path / "demo"
    copy_tree(package_tree("demo_project"), root)
    (root / ".tide").mkdir()
    with duckdb.connect(str(root / ".tide" / "warehouse.duckdb")) as con:
        load_tables(con, generate_tables(2_000, 7))
    notes = explain_recipe(load_project(root), "card_features").notes
    assert [f"optimized {n}" for n in notes] == documented

"""docs/lab.md is part of the contract: every YAML example is a valid model spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tideflow.lab import ALGORITHMS, parse_model_spec
from tideflow.project.yamlfile import loads

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lab.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_the_docs_have_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: str(loads(b).get("input")))
def test_every_yaml_example_is_a_valid_model_spec(block: str) -> None:
    parse_model_spec(loads(block), shown="docs/lab.md")


def test_the_algorithm_table_lists_every_algorithm() -> None:
    text = DOCS.read_text()
    for name in ALGORITHMS:
        assert f"| `{name}` |" in text

"""Every `$ tide ...` line in the user docs runs, in order, in a fresh directory, and exits 0."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def console_lines(name: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", (DOCS / name).read_text(), flags=re.S)
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line.startswith("$ tide")]


@pytest.mark.parametrize("doc", ["quickstart.md", "cli.md"])
def test_console_examples_run(doc: str, tmp_path: Path) -> None:
    lines = console_lines(doc)
    assert len(lines) >= 8, f"{doc} should show the commands it documents"
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line in lines:
            argv = shlex.split(line)[1:]
            result = runner.invoke(app, argv)
            assert result.exit_code == 0, f"{doc}: `{line}` exited {result.exit_code}:\n{result.output}"
    finally:
        os.chdir(cwd)

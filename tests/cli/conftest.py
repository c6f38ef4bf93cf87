"""Fixtures of the CLI tests: a runner with a wide terminal and a project made by ``tide init``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app


@pytest.fixture()
def runner() -> CliRunner:
    # A wide, colourless "terminal" so tables are not truncated and text can be matched.
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})


@pytest.fixture()
def project_dir(tmp_path: Path, runner: CliRunner) -> Path:
    target = tmp_path / "shop"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    return target

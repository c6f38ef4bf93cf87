"""``tide platform serve``: refuses to start without keys or on a bad project (the lead registers it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tideflow.cli.platform_cmds import platform_app

tide = typer.Typer()
tide.add_typer(platform_app, name="platform")  # as cli/main.py registers it
RUNNER = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})


def test_serve_needs_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tideflow.cli.init_cmd import scaffold

    scaffold(tmp_path / "shop", "shop")
    monkeypatch.delenv("TIDE_PLATFORM_KEYS", raising=False)
    result = RUNNER.invoke(tide, ["platform", "serve", "--project", str(tmp_path / "shop")])
    assert result.exit_code == 2
    assert "no API keys: set TIDE_PLATFORM_KEYS" in result.output


def test_serve_refuses_a_directory_that_is_not_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDE_PLATFORM_KEYS", "k")
    result = RUNNER.invoke(tide, ["platform", "serve", "--project", str(tmp_path)])
    assert result.exit_code == 2
    assert "no tideflow.yaml in" in result.output

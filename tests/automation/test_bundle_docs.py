"""docs/bundles.md is part of the contract: its node connections validate, its commands exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer

from tideflow.automation.deploy_connections import node_connections
from tideflow.cli.bundle_cmds import bundle_app, deploy_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "bundles.md"


def test_the_node_connections_example_validates(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks
    (tmp_path / "connections.yaml").write_text(blocks[0])
    assert sorted(node_connections(tmp_path)) == ["pg_prod", "prod_db"]


def test_every_documented_command_exists() -> None:
    apps = {"bundle": bundle_app, "deploy": deploy_app}
    lines = [line[2:] for line in DOC.read_text().splitlines() if line.startswith("$ tide ")]
    assert len(lines) >= 8
    for line in lines:
        argv = shlex.split(line)[1:]
        if argv[0] not in apps:
            continue
        names = {c.name for c in apps[argv[0]].registered_commands}
        assert argv[1] in names, line
        command = next(c for c in apps[argv[0]].registered_commands if c.name == argv[1])
        assert command.callback is not None
        options = set(re.findall(r"--[a-z-]+", line))
        click_cmd = typer.main.get_command(apps[argv[0]]).commands[argv[1]]  # type: ignore[attr-defined]
        known = {opt for p in click_cmd.params for opt in p.opts}
        assert options <= known, (line, options - known)

"""One build of a project at a time: a second waits a few seconds for the first, then stops clearly
(exit 3) naming the process in the way; the lock goes with its holder, even one that is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.flow import BuildBusy, build
from tideflow.flow.buildlock import WAIT_S
from tideflow.project import load_project

from ..holding import holding
from .conftest import Writer, duck_exec

HOLD = """
import sys, time
from pathlib import Path
from tideflow.flow.buildlock import build_lock
with build_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""
RECIPE = "type: prepare\ninputs: orders\noutputs: out\nsteps:\n  - {op: formula, column: y, expr: x * 2}\n"


def held(state_dir: Path, seconds: float) -> AbstractContextManager[subprocess.Popen[str]]:
    """Another process holds the project's build lock for ``seconds``."""
    return holding(HOLD, str(state_dir), str(seconds))


@pytest.fixture()
def root(make_project: Writer) -> Path:
    root = make_project({"out.yaml": RECIPE}, {"orders.yaml": "table: orders\n"})
    duck_exec(root, "CREATE TABLE orders AS SELECT 21 AS x")
    return root


def test_a_build_waits_for_a_short_one(root: Path) -> None:
    with held(root / ".tide", 1.0):
        started = time.monotonic()
        result = build(load_project(root))
        waited = time.monotonic() - started
    assert result.ok and waited > 0.5, waited
    assert duck_exec(root, "SELECT y FROM out") == [(42,)]


def test_a_long_one_stops_the_second_clearly_with_exit_3(root: Path) -> None:
    with held(root / ".tide", 60.0) as holder:
        started = time.monotonic()
        with pytest.raises(BuildBusy) as caught:
            build(load_project(root))
        assert WAIT_S - 0.1 < time.monotonic() - started < WAIT_S + 3
        assert f"another build of this project is running (PID {holder.pid}" in str(caught.value)
        cli = CliRunner().invoke(app, ["flow", "build", "--project", str(root)])
    assert cli.exit_code == 3, cli.output
    assert "another build of this project is running" in cli.output
    assert duck_exec(root, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'out'") == [(0,)]


def test_a_killed_holder_leaves_no_lock_behind(root: Path) -> None:
    with held(root / ".tide", 60.0) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        assert build(load_project(root)).ok
        assert time.monotonic() - started < WAIT_S

"""Usage errors of ``tide`` (an unknown option, a missing argument, a bad value) are said like every other
error: one red line on standard error naming the command, exit code 2; Click would draw a box."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tideflow.cli.main import main


@pytest.mark.parametrize(("argv", "line"), [
    (["flow", "build", "--bogus"], "error: tide flow build: No such option: --bogus (see 'tide flow build --help')"),
    (["dataset", "head"], "error: tide dataset head: Missing argument 'name'. (see 'tide dataset head --help')"),
    (["flow", "build", "--mode", "bogus"],
     "error: tide flow build: Invalid value for '--mode' / '-m': 'bogus' is not one of 'smart', 'dataset', 'forced', "
     "'downstream'. (see 'tide flow build --help')"),
    (["flw"], "error: tide: No such command 'flw'. Did you mean 'flow'? (see 'tide --help')"),
])
def test_a_usage_error_is_one_line_and_exit_code_2(argv: list[str], line: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == line and "╭" not in captured.err and captured.out == ""


def test_the_console_script_exits_with_the_code(tmp_path: Path) -> None:
    tide = Path(sys.executable).with_name("tide")
    done = subprocess.run([str(tide), "flow", "build", "--bogus"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: tide flow build: No such option: --bogus")
    done = subprocess.run([str(tide), "flow", "explain", "--project", str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: no tideflow.yaml in"), done.stderr
    done = subprocess.run([str(tide)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Usage: tide" in done.stdout  # no arguments: the help
    assert subprocess.run([str(tide), "--help"], capture_output=True, timeout=60).returncode == 0

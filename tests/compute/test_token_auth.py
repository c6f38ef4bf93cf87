"""A token file that appears after Ray was imported (another process's first ``ray.init`` writes one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, pathlib, sys
home = pathlib.Path(os.environ["HOME"])
import ray  # imported while no token exists: Ray caches 'no auth'
(home / ".ray").mkdir(parents=True, exist_ok=True)
(home / ".ray" / "auth_token").write_text("b" * 32)
from tideflow.compute import open_runtime
from tideflow.project.compute_specs import ComputeSpec
with open_runtime(ComputeSpec(num_cpus=1)):
    print("value", ray.get(ray.put(41)) + 1)
"""


def test_a_runtime_starts_when_the_token_file_appeared_after_ray_was_imported(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "value 42" in done.stdout

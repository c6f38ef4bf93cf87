"""Steps that touch data or code run in a child process, so a timeout really stops them.

``run_in_child(job, timeout_s)`` starts ``python -P steps.py JOB RESULT`` in its own process
group, captures its output as the attempt's log, and on timeout kills the whole group (a build's
threads, a Python step's subprocesses). Builds are atomic (a table is swapped in only when its
recipe finished), so a killed build leaves the previous outputs intact.

The child side (``main``) loads the project and runs one step: build, verify_checks, train,
score, evaluate (the Flow build of the named recipe's outputs), refresh_api (``tide deploy api``),
run_sql or run_python. Only the standard library is imported at module level: the child imports
the part of Tideflow its step needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG_LIMIT_CHARS = 64_000
CHILD_KINDS = ("build", "verify_checks", "train", "score", "evaluate", "refresh_api", "run_sql", "run_python")
# Steps that open the project's datasets (they take its DuckDB lock when it keeps data in DuckDB files).
DATABASE_KINDS = ("build", "verify_checks", "train", "score", "evaluate", "run_sql", "run_python")


@dataclass(frozen=True)
class ChildResult:
    """The outcome of one attempt: ``succeeded``, ``failed`` or ``timed_out``, a message, the log."""

    outcome: str
    message: str
    log: str
    seconds: float


def _tail(text: str) -> str:
    if len(text) <= LOG_LIMIT_CHARS:
        return text
    return f"[... {len(text) - LOG_LIMIT_CHARS} characters cut ...]\n" + text[-LOG_LIMIT_CHARS:]


# A scheduled build queues behind a build someone started by hand, as steps queue for the database: the
# step's own timeout (which kills this child) bounds the wait.
BUILD_LOCK_WAIT_S = 6 * 3600.0


def run_in_child(job: dict[str, Any], timeout_s: float | None) -> ChildResult:
    """Run ``job`` in a child process; kill its process group after ``timeout_s``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tide-step-") as tmp:
        job_path, result_path, log_path = Path(tmp, "job.json"), Path(tmp, "result.json"), Path(tmp, "step.log")
        job_path.write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-P", __file__, str(job_path), str(result_path)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=job["root"], env=env, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
                timed_out = True
        seconds = time.monotonic() - started
        text = _tail(log_path.read_text(encoding="utf-8", errors="replace"))
        if timed_out:
            return ChildResult("timed_out", f"timed out after {timeout_s:g}s: the step was killed", text, seconds)
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ChildResult("failed", f"the step process exited with code {code} without a result", text, seconds)
    outcome = "succeeded" if result.get("ok") else "failed"
    return ChildResult(outcome, str(result.get("message", "")), text, seconds)


# ---------------------------------------------------------------------------------------------- child side


@dataclass
class StepContext:
    """What a ``run_python`` step's function receives.

    ``params`` are the run's typed parameters; ``project`` loads the project on first use and
    ``workspace()`` opens its connections (``with context.workspace() as ws: ws.sql("warehouse")``).
    Anything the function prints goes to the step's log; a returned string becomes its message.
    """

    root: Path
    scenario: str
    run_id: str
    step: str
    trigger: str
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    _project: Any = None

    @property
    def project(self) -> Any:
        if self._project is None:
            from tideflow.project import load_project

            self._project = load_project(self.root)
        return self._project

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Any]:
        from tideflow.flow import Workspace

        with Workspace(self.project) as ws:
            yield ws

    def log(self, message: str) -> None:
        print(message, flush=True)


def _build(job: dict[str, Any]) -> tuple[bool, str]:
    from tideflow.flow import build
    from tideflow.project import load_project

    step = job["step"]
    result = build(load_project(job["root"]), step["datasets"] or None, step["mode"], lock_wait_s=BUILD_LOCK_WAIT_S,
                   on_event=lambda e: print(f"{e.kind} {e.recipe} {e.message}".rstrip(), flush=True))
    if result.ok:
        built = [r.recipe for r in result.runs if r.status == "ok"]
        names = f": {', '.join(built)}" if built else ""
        return True, f"built {len(built)} recipe(s) in {result.seconds:.1f}s{names}"
    failures = "; ".join(f"recipe {r.recipe!r}: {r.error}" for r in result.failed)
    return False, f"build failed: {failures}"


def _verify_checks(job: dict[str, Any]) -> tuple[bool, str]:
    from tideflow.checks import check_dataset
    from tideflow.errors import counted
    from tideflow.flow import Workspace
    from tideflow.project import load_project

    step = job["step"]
    problems, summary = [], []
    with Workspace(load_project(job["root"])) as ws:
        for dataset in step["datasets"]:
            report = check_dataset(ws, dataset)
            for o in report.outcomes:
                print(f"{dataset}: {o.check} [{o.rule}] {o.outcome}: expected {o.expected}, got {o.got}", flush=True)
            bad = report.errors + (report.warnings if step["fail_on_warning"] else [])
            problems += [f"dataset {dataset!r}: check {o.check!r} {o.outcome}: {o.message}" for o in bad]
            summary.append(f"{dataset}: {counted(len(report.outcomes), 'check')}, {len(report.errors)} failed, "
                           f"{counted(len(report.warnings), 'warning')}")
    if problems:
        return False, "; ".join(problems)
    return True, "; ".join(summary)


def _train(job: dict[str, Any]) -> tuple[bool, str]:
    from tideflow.lab import train
    from tideflow.project import load_project

    step = job["step"]
    result = train(load_project(job["root"]), step["model"], trials=step["trials"], local=step["local"],
                   on_event=lambda e: print(f"{e.kind} {e.message}".rstrip(), flush=True))
    if result.version is None:
        return False, f"training of {step['model']!r} finished no trial: nothing was saved"
    v = result.version
    return True, f"saved {v.name} v{v.version} ({v.algorithm}), active"


def _build_recipe(job: dict[str, Any]) -> tuple[bool, str]:
    """``score`` and ``evaluate``: the normal Flow build of the named recipe's outputs."""
    from tideflow.flow import build
    from tideflow.project import load_project

    step = job["step"]
    project = load_project(job["root"])
    recipe = project.recipe(step["recipe"])
    outputs = list(recipe.outputs)
    result = build(project, outputs, step["mode"], lock_wait_s=BUILD_LOCK_WAIT_S,
                   on_event=lambda e: print(f"{e.kind} {e.recipe} {e.message}".rstrip(), flush=True))
    if result.ok:
        ran = [r.recipe for r in result.runs if r.status == "ok"]
        if recipe.name not in ran:
            return True, f"{recipe.type} recipe {recipe.name!r} is up to date: {', '.join(outputs)} not rebuilt"
        return True, (f"{recipe.type} recipe {recipe.name!r} built {', '.join(outputs)} in {result.seconds:.1f}s"
                      + (f" (with {', '.join(r for r in ran if r != recipe.name)})" if len(ran) > 1 else ""))
    failures = "; ".join(f"recipe {r.recipe!r}: {r.error}" for r in result.failed)
    return False, f"build failed: {failures}"


def _refresh_api(job: dict[str, Any]) -> tuple[bool, str]:
    from tideflow.automation.api_package import project_source
    from tideflow.automation.deploy_api import deploy_api, refresh_project_node
    from tideflow.project import load_project

    step = job["step"]
    project = load_project(job["root"])
    service = step["service"]
    if step.get("to"):
        node = Path(step["to"]) if Path(step["to"]).is_absolute() else project.root / step["to"]
        release = deploy_api(project_source(project), service, node, remap=step.get("remap") or {},
                             reload_timeout_s=step["reload_timeout_s"])
        verb = "already active:" if release.unchanged else "deployed"
        return True, f"{verb} {service} {release.id} on {node} ({', '.join(release.serves)}); {release.reload}"
    serves, outcome = refresh_project_node(project, service, timeout_s=step["reload_timeout_s"])
    return True, (f"the API node of {service} (pid {outcome.info.get('pid')}) reloaded: {', '.join(serves)}; "
                  f"{outcome.message}")


def _run_sql(job: dict[str, Any]) -> tuple[bool, str]:
    from tideflow.flow import Workspace
    from tideflow.project import load_project

    step = job["step"]
    with Workspace(load_project(job["root"])) as ws:
        con = ws.sql(step["connection"])
        if job["rendered"].get("has_values") and con.dialect == "postgres":
            # The literals are written for standard strings (a backslash is a character): refuse a session
            # that would read backslashes as escapes rather than let a value end its string.
            setting = con.fetch_arrow("SHOW standard_conforming_strings").column(0)[0].as_py()
            if str(setting).lower() != "on":
                return False, (f"connection {step['connection']!r}: expected standard_conforming_strings on "
                               f"to run SQL with ${{...}} values, got {setting!r}")
        con.execute(job["rendered"]["sql"])
    return True, f"ran SQL on {step['connection']!r}"


def _run_python(job: dict[str, Any]) -> tuple[bool, str]:
    step = job["step"]
    root = Path(job["root"])
    path = (root / step["file"]).resolve()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"tide_step_{path.stem}", path)
    if spec is None or spec.loader is None:
        return False, f"cannot import {step['file']}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, step["function"], None)
    if not callable(function):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        return False, f"{step['file']} has no function {step['function']!r} (functions: {', '.join(names) or 'none'})"
    context = StepContext(root=root, scenario=job["scenario"], run_id=job["run_id"], step=step["name"],
                          trigger=job["trigger"], params=job["params"], attempt=job["attempt"])
    returned = function(context)
    return True, returned if isinstance(returned, str) else f"{step['file']}:{step['function']} returned"


def main(argv: list[str]) -> int:
    """Child entry point: ``steps.py JOB.json RESULT.json``."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    runners = {"build": _build, "verify_checks": _verify_checks, "train": _train, "score": _build_recipe,
               "evaluate": _build_recipe, "refresh_api": _refresh_api, "run_sql": _run_sql,
               "run_python": _run_python}
    try:
        ok, message = runners[job["step"]["type"]](job)
    except Exception as error:  # the step failed: its traceback goes to the log, its message to the history
        traceback.print_exc()
        ok, message = False, f"{type(error).__name__}: {error}"
    Path(argv[1]).write_text(json.dumps({"ok": ok, "message": message}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Scenario runs on real DuckDB projects, reported to a real webhook receiver on 127.0.0.1.

A failing check stops the scenario (later steps skipped, the cleanup step runs) and the webhook
receives the failure; a flaky step succeeds on retry with every attempt recorded; a timeout kills
the step's whole process group; two runs of one scenario never overlap.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from tideflow.automation.runs import RunHistory
from tideflow.automation.scenarios_run import ScenarioBusy, run_scenario
from tideflow.cli.automation_cmds import automation_app
from tideflow.errors import ProjectError
from tideflow.project import load_project

SECRET = "s3cr3t-token-never-logged"


class Receiver:
    """A real HTTP server on a free port of 127.0.0.1 that records JSON POSTs; fails the first ``fail_first``."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail_first = fail_first
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.hits += 1
                if receiver.hits <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.requests.append(({k: v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=1)
    try:
        yield r
    finally:
        r.close()


CLEAN = """\
checks_after_build: false
checks:
  - name: has rows
    rule: not_empty
"""
RECIPE = """\
type: prepare
inputs: orders
outputs: clean
steps:
  - op: filter
    expr: amount > {threshold}
"""


def make_project(root: Path, threshold: int = 0) -> Path:
    """A real DuckDB project: orders (source) -> clean (filtered, with a not_empty check)."""
    for folder in ("datasets", "recipes", "scenarios", "scripts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tideflow.yaml").write_text("name: t\n")
    (root / "datasets" / "orders.yaml").write_text("table: orders\n")
    (root / "datasets" / "clean.yaml").write_text(CLEAN)
    (root / "recipes" / "clean.yaml").write_text(RECIPE.format(threshold=threshold))
    (root / ".tide").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        con.execute("CREATE TABLE orders AS SELECT * FROM (VALUES (1, 10.0), (2, 25.0), (3, 40.0)) t(id, amount)")
    finally:
        con.close()
    return root


def query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def scenario(root: Path, name: str, text: str) -> None:
    (root / "scenarios" / f"{name}.yaml").write_text(text)


NIGHTLY = """\
description: build, verify, then report
steps:
  - name: build
    type: build
    datasets: [clean]
  - name: checks
    type: verify_checks
    datasets: [clean]
  - name: publish
    type: run_sql
    connection: warehouse
    sql: CREATE TABLE published AS SELECT * FROM clean
  - name: cleanup
    type: run_python
    run_if: failure
    file: scripts/cleanup.py
  - name: tell
    type: send_message
    run_if: always
    reporter: log
    text: run ${{run_id}} of ${{scenario}} finished its steps
reporters:
  - name: team
    type: webhook
    url: {url}
    headers_env: {{X-Token: TIDE_TEST_HOOK_TOKEN}}
    backoff_s: 0.01
  - name: log
    type: log_file
    path: .tide/automation/test.log
"""
CLEANUP = """\
from pathlib import Path


def main(context):
    print("cleaning up after", context.scenario, context.run_id)
    Path(context.root, "cleaned.txt").write_text(context.run_id)
    return "cleaned up"
"""


def test_a_failing_check_stops_the_scenario_and_the_webhook_receives_the_failure(
        tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, threshold=1000)  # every row filtered out: the not_empty check fails
    (root / "scripts" / "cleanup.py").write_text(CLEANUP)
    scenario(root, "nightly", NIGHTLY.format(url=receiver.url))
    monkeypatch.setenv("TIDE_TEST_HOOK_TOKEN", SECRET)

    record = run_scenario(load_project(root), "nightly")

    assert record.outcome == "failed"
    assert record.failed_step == "checks"
    outcomes = {s.step: s.outcome for s in record.steps}
    assert outcomes == {"build": "succeeded", "checks": "failed", "publish": "skipped", "cleanup": "succeeded",
                        "tell": "succeeded"}
    assert "has rows" in record.message
    assert query(root, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'published'") == [(0,)]
    assert (root / "cleaned.txt").read_text() == record.run_id
    cleanup = next(s for s in record.steps if s.step == "cleanup")
    assert "cleaning up after nightly" in cleanup.attempt_log[0].log

    # the webhook failed once (HTTP 500) and the reporter retried: one report received
    assert receiver.hits == 2
    [(headers, body)] = receiver.requests
    assert headers["X-Token"] == SECRET
    assert body["scenario"] == "nightly"
    assert body["run_id"] == record.run_id
    assert body["outcome"] == "failed"
    assert body["failed_step"] == "checks"
    assert "has rows" in body["message"]
    assert [s["outcome"] for s in body["steps"]] == ["succeeded", "failed", "skipped", "succeeded", "succeeded"]

    # the log file got the message step and the final report; the secret is stored nowhere
    lines = [json.loads(line) for line in (root / ".tide/automation/test.log").read_text().splitlines()]
    assert lines[0]["message"] == f"run {record.run_id} of nightly finished its steps"
    assert lines[-1]["outcome"] == "failed"
    for path in [root / ".tide/automation/test.log", *root.glob(".tide/automation.db*")]:
        assert SECRET.encode() not in path.read_bytes()


def test_success_skips_the_failure_only_step_and_sends_no_failure_report(
        tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, threshold=0)
    (root / "scripts" / "cleanup.py").write_text(CLEANUP)
    scenario(root, "nightly", NIGHTLY.format(url=receiver.url))
    monkeypatch.setenv("TIDE_TEST_HOOK_TOKEN", SECRET)

    record = run_scenario(load_project(root), "nightly")

    assert record.outcome == "succeeded", record.message
    assert {s.step: s.outcome for s in record.steps}["cleanup"] == "skipped"
    assert query(root, "SELECT count(*) FROM published") == [(3,)]
    assert not (root / "cleaned.txt").exists()
    assert receiver.hits == 0  # the webhook reports failures only


def test_an_unreachable_webhook_is_retried_then_noted_without_the_secret(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path)
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens on this port any more
    monkeypatch.setenv("TIDE_TEST_HOOK_URL", url + "?token=" + SECRET)
    scenario(root, "s", """\
steps:
  - type: run_sql
    connection: warehouse
    sql: SELECT * FROM missing_table
reporters:
  - {name: team, type: webhook, url_env: TIDE_TEST_HOOK_URL, retries: 2, backoff_s: 0.01, timeout_s: 2}
""")
    record = run_scenario(load_project(root), "s")
    assert record.outcome == "failed"
    assert "reporter 'team': cannot reach $TIDE_TEST_HOOK_URL" in record.message
    assert "after 3 attempt(s)" in record.message
    assert SECRET not in record.message


FLAKY = """\
from pathlib import Path


def main(context):
    counter = Path(context.root, "attempts.txt")
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    print(f"attempt {n} (context says {context.attempt})")
    if n < 3:
        raise RuntimeError(f"flaky failure number {n}")
    return f"worked on attempt {n}"
"""


def test_a_flaky_step_succeeds_on_retry_and_every_attempt_is_recorded(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "scripts" / "flaky.py").write_text(FLAKY)
    scenario(root, "flaky", """\
steps:
  - name: flaky
    type: run_python
    file: scripts/flaky.py
    retries: 3
    backoff_s: 0.05
""")
    slept: list[float] = []
    record = run_scenario(load_project(root), "flaky", sleep=slept.append)

    assert record.outcome == "succeeded"
    [step] = record.steps
    assert step.attempts == 3
    assert step.message == "worked on attempt 3"
    assert [a.outcome for a in step.attempt_log] == ["failed", "failed", "succeeded"]
    assert "RuntimeError: flaky failure number 1" in step.attempt_log[0].message
    assert "Traceback" in step.attempt_log[0].log
    assert "attempt 3 (context says 3)" in step.attempt_log[2].log
    assert slept == [0.05, 0.1]  # exponential backoff between attempts


HANG = """\
import os
import subprocess
import time
from pathlib import Path


def main(context):
    child = subprocess.Popen(["sleep", "120"])
    Path(context.root, "pids.txt").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too: it only waits for its parent to read its status
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_a_timeout_kills_the_step_and_its_subprocesses(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "scripts" / "hang.py").write_text(HANG)
    scenario(root, "hang", """\
steps:
  - name: hang
    type: run_python
    file: scripts/hang.py
    timeout_s: 4
  - name: after
    type: run_sql
    connection: warehouse
    sql: CREATE TABLE after_hang AS SELECT 1 AS x
""")
    started = time.monotonic()
    record = run_scenario(load_project(root), "hang")
    assert time.monotonic() - started < 60
    assert record.outcome == "failed"
    assert record.failed_step == "hang"
    hang, after = record.steps
    assert hang.outcome == "timed_out"
    assert "timed out after 4s: the step was killed" in hang.message
    assert after.outcome == "skipped"
    pids = [int(p) for p in (root / "pids.txt").read_text().split()]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_a_killed_build_leaves_the_previous_output_intact(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "recipes" / "slow.yaml").write_text("type: python\ninputs: orders\noutputs: slow\nfile: slow.py\n")
    (root / "recipes" / "slow.py").write_text(
        "import time\n\n\ndef transform(inputs):\n    time.sleep(120)\n    return inputs['orders']\n")
    scenario(root, "b", "steps:\n  - {name: build, type: build, datasets: [clean]}\n")
    assert run_scenario(load_project(root), "b").outcome == "succeeded"
    before = query(root, "SELECT * FROM clean ORDER BY id")
    (root / "recipes" / "clean.yaml").write_text(RECIPE.format(threshold=20))
    scenario(root, "b", "steps:\n  - {name: build, type: build, datasets: [slow, clean], mode: forced, timeout_s: 8}\n")
    record = run_scenario(load_project(root), "b")
    assert record.steps[0].outcome == "timed_out"
    assert query(root, "SELECT * FROM clean ORDER BY id") in (before, [(2, 25.0), (3, 40.0)])
    assert query(root, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'slow'") == [(0,)]


PARAMS = """\
triggers:
  - type: manual
    params:
      min_amount: {type: float}
      label: {type: str, default: nightly}
steps:
  - name: keep
    type: run_sql
    connection: warehouse
    sql: CREATE TABLE kept AS SELECT id, '${params.label}' AS label FROM orders WHERE amount >= ${params.min_amount}
"""


def test_manual_parameters_are_typed_and_substituted(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    scenario(root, "keep", PARAMS)
    project = load_project(root)
    with pytest.raises(ProjectError, match=r"needs the parameter 'min_amount' \(float\): pass --param min_amount="):
        run_scenario(project, "keep")
    with pytest.raises(ProjectError, match=r"parameter 'min_amount' of scenario 'keep': expected float, got 'lots'"):
        run_scenario(project, "keep", params={"min_amount": "lots"})
    with pytest.raises(ProjectError, match=r"has no parameter 'min_amont': did you mean 'min_amount'\?"):
        run_scenario(project, "keep", params={"min_amont": "1"})
    record = run_scenario(project, "keep", params={"min_amount": "25"})
    assert record.outcome == "succeeded", record.message
    assert record.params == {"min_amount": 25.0, "label": "nightly"}
    assert query(root, "SELECT id, label FROM kept ORDER BY id") == [(2, "nightly"), (3, "nightly")]


SLOW = """\
import time


def main(context):
    time.sleep(3)
"""


def test_two_runs_of_one_scenario_never_overlap(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "scripts" / "slow.py").write_text(SLOW)
    scenario(root, "slow", "steps:\n  - {type: run_python, file: scripts/slow.py}\n")
    project = load_project(root)
    barrier = threading.Barrier(3)
    results: list[str] = []

    def go() -> None:
        barrier.wait()
        try:
            results.append(run_scenario(project, "slow", trigger="thread").outcome)
        except ScenarioBusy as busy:
            results.append(str(busy))

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["scenario 'slow' is already running: this run was skipped"] * 2 + ["succeeded"]
    runs = RunHistory(project.state_dir).runs("slow")
    assert sorted(r.outcome for r in runs) == ["skipped", "skipped", "succeeded"]
    # once the first run is over, the scenario runs again
    assert run_scenario(project, "slow").outcome == "succeeded"


def test_the_cli_runs_a_scenario_and_shows_its_history(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    scenario(root, "keep", PARAMS)
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(automation_app, ["run", "keep", "--param", "min_amount=30", "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    run_id = RunHistory(root / ".tide").runs("keep")[0].run_id
    result = runner.invoke(automation_app, ["history", "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert run_id in result.output
    result = runner.invoke(automation_app, ["history", "--run", run_id, "-p", str(root)])
    assert result.exit_code == 0 and "keep attempt 1: succeeded" in result.output
    result = runner.invoke(automation_app, ["run", "keep", "--param", "min_amount", "-p", str(root)])
    assert result.exit_code == 2
    result = runner.invoke(automation_app, ["run", "keep", "--param", "min_amount=0", "-p", str(root)])
    assert result.exit_code == 1  # the table exists already: the SQL step fails

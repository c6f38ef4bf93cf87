"""``tide monitor evaluate`` / ``report`` on a real project: reference from the training rows, metric history,
drift checks from ``monitoring/<model>.yaml``, the HTML report file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tideflow.checks import Measure, MetricHistory
from tideflow.cli.monitor_cmds import monitor_app
from tideflow.monitoring import EvaluationStore

app = typer.Typer()
app.add_typer(monitor_app, name="monitor")

CHECKS = """\
checks:
  - name: amount_stable
    metric: psi
    feature: amount
    error: {max: 0.25}
  - metric: drifting_features
    severity: warning
    max: 0
"""


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})


def test_evaluate_records_metrics_and_report_writes_html(monitored_project: Path, runner: CliRunner) -> None:
    root = monitored_project
    (root / "monitoring").mkdir()
    (root / "monitoring" / "fraud.yaml").write_text(CHECKS)
    same = runner.invoke(app, ["monitor", "evaluate", "fraud", "--data", "tx_same", "-p", str(root)])
    assert same.exit_code == 0, same.output
    assert "no drift" in same.output and "training rows of 'tx'" in same.output
    assert "amount_stable" in same.output and "recorded as metrics of 'model:fraud'" in same.output

    shifted = runner.invoke(app, ["monitor", "evaluate", "fraud", "--data", "tx_shifted", "--no-domain",
                                  "-p", str(root)])
    assert shifted.exit_code == 1, shifted.output  # the error-level check on psi(amount) failed
    assert "ALARM" in shifted.output and "DRIFT" in shifted.output

    store = EvaluationStore(root / ".tide")
    first, second = store.list("fraud")
    assert first.reference.note.startswith("reference = training rows of 'tx'")
    assert first.reference.rows == 1600  # the 80% training split of 2000 rows, as the Lab made it
    assert second.reference.fingerprint == first.reference.fingerprint  # the stored sample is reused
    assert set(second.drifting_features) == {"amount", "merchant"} and second.domain is None

    history = MetricHistory(root / ".tide" / "state.db")
    psi = history.recent("model:fraud", Measure("psi", "amount"), 10)
    assert len(psi) == 2 and psi[0].value == pytest.approx(second.metrics()[("psi", "amount")])
    outcomes = history.outcomes("model:fraud")
    assert {(o.check, o.outcome) for o in outcomes[:2]} == {("amount_stable", "error"),
                                                           ("drifting_features", "warning")}

    out = root / "report.html"
    report = runner.invoke(app, ["monitor", "report", "fraud", "--out", str(out), "-p", str(root)])
    assert report.exit_code == 0, report.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "https://" not in page
    assert "evaluations" in report.output and "wrote" in report.output


def test_errors_name_what_is_missing(monitored_project: Path, runner: CliRunner) -> None:
    root = str(monitored_project)
    neither = runner.invoke(app, ["monitor", "evaluate", "fraud", "-p", root])
    assert neither.exit_code == 2 and "--data DATASET or --query-log" in neither.output
    unknown = runner.invoke(app, ["monitor", "evaluate", "fruad", "--data", "tx", "-p", root])
    assert unknown.exit_code == 2 and "did you mean 'fraud'" in unknown.output
    nothing = runner.invoke(app, ["monitor", "report", "fraud", "-p", root])
    assert nothing.exit_code == 2 and "no evaluation of model 'fraud' yet" in nothing.output


def test_evaluate_on_the_query_log(monitored_project: Path, runner: CliRunner) -> None:
    import json

    from .conftest import SCHEMA, transactions

    rows = transactions(400, seed=11, amount_shift=0.8).select(list(SCHEMA)).to_pylist()
    folder = monitored_project / ".tide" / "query_log" / "fraud_api" / "score"
    folder.mkdir(parents=True)
    entries = [{"ts": 1_780_000_000.0 + i, "request_id": str(i), "endpoint": "score", "version": "1",
                "inputs": rows[i * 4:(i + 1) * 4], "outputs": [{"prediction": 0, "probability": 0.1}] * 4,
                "latency_ms": 1.0} for i in range(100)]
    (folder / "2026-05-28.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = runner.invoke(app, ["monitor", "evaluate", "fraud", "--query-log", "fraud_api/score", "--no-domain",
                                 "-p", str(monitored_project)])
    assert result.exit_code == 0, result.output
    latest = EvaluationStore(monitored_project / ".tide").latest("fraud")
    assert latest is not None and latest.current.source == "query_log:fraud_api/score"
    assert latest.current.rows == 400 and latest.drifting_features == ["amount"]
    assert "no labels" in latest.notes[0]

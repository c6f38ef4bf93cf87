"""``tide lab`` and ``tide models``: live leaderboard, saved versions, errors on stderr with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tideflow.cli.lab_cmds import lab_app, models_app

from .conftest import FRAUD_SPEC, ProjectMaker

app = typer.Typer()
app.add_typer(lab_app, name="lab")
app.add_typer(models_app, name="models")


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "TIDE_PROJECT": None})


def test_train_list_show_activate_compare(lab_project: ProjectMaker, runner: CliRunner) -> None:
    root = lab_project({"fraud": FRAUD_SPEC.replace("trials: 6", "trials: 3")})
    for _ in range(2):
        result = runner.invoke(app, ["lab", "train", "fraud", "--local", "--project", str(root)])
        assert result.exit_code == 0, result.output
    assert "final models" in result.output and "logistic" in result.output
    assert "saved fraud v2" in result.output

    board = runner.invoke(app, ["lab", "leaderboard", "fraud", "-p", str(root)])
    assert board.exit_code == 0, board.output
    assert "finished" in board.output and "forest" in board.output and "complete" in board.output

    listing = runner.invoke(app, ["models", "list"], env={"TIDE_PROJECT": str(root)})
    assert listing.exit_code == 0, listing.output
    assert "fraud" in listing.output and "active" in listing.output

    show = runner.invoke(app, ["models", "show", "fraud", "--version", "1", "-p", str(root)])
    assert show.exit_code == 0, show.output
    assert "fraud v1" in show.output and "input schema" in show.output and "merchant" in show.output
    assert "missing value" in show.output and "accepted" in show.output and "refused" not in show.output
    as_json = runner.invoke(app, ["models", "show", "fraud", "--json", "-p", str(root)])
    assert as_json.exit_code == 0 and '"missing_refused": []' in as_json.output, as_json.output

    activate = runner.invoke(app, ["models", "activate", "fraud", "1", "-p", str(root)])
    assert activate.exit_code == 0 and "fraud v1 is now active" in activate.output

    compare = runner.invoke(app, ["models", "compare", "fraud", "1", "2", "-p", str(root)])
    assert compare.exit_code == 0, compare.output
    assert "v1" in compare.output and "v2" in compare.output and "auc" in compare.output


def test_errors_go_to_stderr_with_exit_2(lab_project: ProjectMaker, runner: CliRunner) -> None:
    root = lab_project({"fraud": FRAUD_SPEC.replace("lightgbm:", "lightgmb:")})
    bad = runner.invoke(app, ["lab", "train", "fraud", "--local", "-p", str(root)])
    assert bad.exit_code == 2
    assert "error: models/fraud.yaml:11 at algorithms.lightgmb: unknown algorithm 'lightgmb': did you mean " \
           "'lightgbm'?" in bad.stderr.replace("\n", " ")
    assert "Traceback" not in bad.output

    unknown = runner.invoke(app, ["lab", "train", "frud", "-p", str(root)])
    assert unknown.exit_code == 2 and "unknown model 'frud': did you mean 'fraud'?" in unknown.stderr

    never = runner.invoke(app, ["lab", "leaderboard", "fraud", "-p", str(root)])
    assert never.exit_code == 2 and "has not been trained yet" in never.stderr

    missing = runner.invoke(app, ["models", "show", "fraud", "-p", str(root)])
    assert missing.exit_code == 2 and "no saved model 'fraud'" in missing.stderr

    not_a_project = runner.invoke(app, ["models", "list", "-p", str(Path(root) / "models")])
    assert not_a_project.exit_code == 2 and "no tideflow.yaml" in not_a_project.stderr


def test_show_says_which_features_the_api_node_refuses_missing(tmp_path: Path, runner: CliRunner) -> None:
    from tideflow.cli.init_cmd import scaffold
    from tideflow.models import Registry

    root = tmp_path / "shop"
    scaffold(root, "shop")
    with Registry(root / ".tide") as registry:
        for refused in (None, ["amount"]):
            record = {"seed": 7} if refused is None else {"seed": 7, "missing_refused": refused}
            registry.save("m", {"stand-in": "pipeline"}, algorithm="logistic", metric="auc", score=0.8,
                          metrics={"auc": 0.8}, input_schema={"amount": "double", "country": "string"},
                          record=record)
    legacy = runner.invoke(app, ["models", "show", "m", "--version", "1", "-p", str(root)])
    assert legacy.exit_code == 0, legacy.output
    assert legacy.output.count("unknown (saved before the probe)") == 2
    probed = runner.invoke(app, ["models", "show", "m", "--version", "2", "-p", str(root)])
    assert probed.exit_code == 0, probed.output
    amount = next(line for line in probed.output.splitlines() if "amount" in line and "double" in line)
    country = next(line for line in probed.output.splitlines() if "country" in line and "string" in line)
    assert "refused" in amount and "accepted" in country

"""The bundled payments demo: its project loads, its generator is deterministic, ``tide demo`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tideflow.cli import demo_data
from tideflow.cli.demo import write_project
from tideflow.cli.init_cmd import copy_tree, package_tree
from tideflow.cli.main import app
from tideflow.flow import plan_build
from tideflow.project import load_project
from tideflow.recipes import GroupRecipe, JoinRecipe, PrepareRecipe, SplitRecipe, SqlRecipe, WindowRecipe

DEMO = Path(str(package_tree("demo_project")))


def test_demo_project_loads_and_uses_every_required_recipe_kind() -> None:
    project = load_project(DEMO)
    kinds = {r.type for r in project.recipes.values()}
    assert {"prepare", "join", "group", "window", "split", "sql"} <= kinds
    assert project.graph.sources() == ["cards", "merchants", "transactions"]
    # Row-level steps are virtual (CTEs of their readers); only aggregates are stored.
    assert sorted(n for n, d in project.datasets.items() if d.virtual) == [
        "card_activity", "card_signals", "payments_enriched", "transactions_clean"]
    join = project.recipes["enrich_payments"]
    assert isinstance(join, JoinRecipe) and join.inputs == ["transactions_clean", "cards", "merchants"]
    prepare = project.recipes["prepare_transactions"]
    assert isinstance(prepare, PrepareRecipe)
    assert {"filter", "formula", "date_part", "if_then_else", "cast", "flag"} <= {s.op for s in prepare.steps}
    window = project.recipes["card_activity"]
    assert isinstance(window, WindowRecipe) and {"sum", "lag", "row_number"} <= {f.fn for f in window.functions}
    features = project.recipes["card_features"]
    assert isinstance(features, GroupRecipe) and features.inputs == ["card_signals"]
    assert {"count", "sum", "avg", "max", "stddev", "count_distinct", "min"} <= {a.fn for a in features.aggregations}
    split = project.recipes["split_cards"]
    assert isinstance(split, SplitRecipe) and split.random is not None and split.random.seed == 42
    assert split.outputs == ["card_features_train", "card_features_test"]
    sql = project.recipes["merchant_risk"]
    assert isinstance(sql, SqlRecipe) and sql.file == "merchant_risk.sql" and sql.inputs == ["merchant_daily"]
    assert "decline_rate" in (sql.sql or "")


def test_demo_plan_fuses_the_row_level_chain_and_stores_only_aggregates(tmp_path: Path) -> None:
    copy_tree(package_tree("demo_project"), tmp_path)
    demo_data.generate(tmp_path / ".tide" / "warehouse.duckdb", 2_000, seed=7)
    planned = {p.recipe: p for p in plan_build(load_project(tmp_path), mode="forced").steps}
    for name in ("prepare_transactions", "enrich_payments", "card_activity", "card_signals"):
        assert planned[name].engine == "sql" and planned[name].fused_into is not None, name
    features_sql = planned["card_features"].sql["card_features"]
    for cte in ("transactions_clean", "payments_enriched", "card_activity", "card_signals"):
        assert f'"__tide_virtual_{cte}"' in features_sql


def test_generator_is_deterministic() -> None:
    first = demo_data.generate_tables(5_000, seed=7)
    second = demo_data.generate_tables(5_000, seed=7)
    assert demo_data.tables_digest(first) == demo_data.tables_digest(second)
    assert demo_data.tables_digest(first) != demo_data.tables_digest(demo_data.generate_tables(5_000, seed=8))


def test_generated_data_has_the_promised_shape() -> None:
    tables = demo_data.generate_tables(5_000, seed=7)
    tx = tables["transactions"]
    assert tx.num_rows == 5_000
    assert tx.schema.field("ts").type == pa.timestamp("us")
    assert tx.schema.field("amount").type == pa.float64()
    assert tx.column_names == ["id", "card_id", "merchant_id", "ts", "amount", "currency", "status",
                               "channel"]
    assert tx.column("amount").null_count > 0 and tx.column("currency").null_count > 0
    assert min(v for v in tx.column("amount").to_pylist() if v is not None) < 0  # refunds
    assert tables["cards"].column_names == ["card_id", "customer_id", "country", "issued", "card_type", "is_fraud"]
    assert tables["merchants"].column_names == ["merchant_id", "name", "category", "country"]
    assert tx.column("id").to_pylist() == list(range(1, 5_001))


def test_compromised_cards_behave_differently() -> None:
    """The label the Lab learns: ~3% of the cards, whose payments are declined and online more often."""
    tables = demo_data.generate_tables(200_000, seed=7)
    cards = tables["cards"].to_pandas()
    assert 0.02 < cards["is_fraud"].mean() < 0.04
    tx = tables["transactions"].to_pandas().merge(cards[["card_id", "is_fraud"]], on="card_id")
    declined = tx.assign(d=tx["status"] == "declined").groupby("is_fraud")["d"].mean()
    online = tx.assign(o=tx["channel"] == "online").groupby("is_fraud")["o"].mean()
    assert declined[1] > 2 * declined[0] and online[1] > 1.3 * online[0]


def test_generate_loads_duckdb_identically(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        counts = demo_data.generate(tmp_path / name / "w.duckdb", 5_000, seed=7)
        assert counts["transactions"] == 5_000
        with duckdb.connect(str(tmp_path / name / "w.duckdb"), read_only=True) as con:
            digests.append(demo_data.tables_digest({
                t: con.sql(f"SELECT * FROM {t} ORDER BY 1").to_arrow_table() for t in demo_data.SOURCES
            }))
    assert digests[0] == digests[1]


def test_generate_accepts_an_open_connection() -> None:
    with duckdb.connect(":memory:") as con:
        demo_data.generate(con, 1_000, seed=1)
        assert con.execute("SELECT count(*) FROM transactions").fetchall()[0][0] == 1_000


def test_demo_refuses_another_project(project_dir: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["demo", "--dir", str(project_dir), "--rows", "1000"])
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr


@pytest.mark.slow
def test_demo_runs_and_is_rerunnable(tmp_path: Path, runner: CliRunner) -> None:
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--dir", str(target), "--rows", "20000"])
    assert result.exit_code == 0, result.output
    for part in ("The Flow", "Explain: card_features", '"__tide_virtual_payments_enriched"', "Timings",
                 "card_features_train", "merchant_risk"):
        assert part in result.stdout
    assert json.loads((target / ".tide" / "demo.json").read_text()) == {"rows": 20000, "seed": 7}

    again = runner.invoke(app, ["demo", "--dir", str(target), "--rows", "20000", "--no-lab"])
    assert again.exit_code == 0, again.output
    assert "Source data is current" in again.stdout
    following = again.stdout.split("Next", 1)[1]  # without the Lab: no saved model to show or serve yet
    assert "tide lab train card_fraud" in following and "tide models show" not in following
    assert "tide models show card_fraud" in result.stdout.split("Next", 1)[1]
    assert "saved model" in result.stdout and "card_fraud v1 (active)" in result.stdout, result.stdout
    served = result.stdout.split("The API node: card_fraud", 1)[1]
    for protocol in ("native JSON", "Open Inference v2", "MLflow /invocations", "lookup by key"):
        line = next(x for x in served.splitlines() if protocol in x)
        assert "│    200 │" in line, served
    assert "│    422 │" in next(x for x in served.splitlines() if "a bad request" in x), served
    assert "│    401 │" in next(x for x in served.splitlines() if "no API key" in x), served

    head = runner.invoke(app, ["dataset", "head", "merchant_risk", "-n", "3", "-p", str(target)])
    assert head.exit_code == 0, head.output
    assert "decline_rate" in head.stdout


def test_demo_removes_files_of_an_older_demo(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    write_project(target)
    stale = target / "recipes" / "split_by_status.yaml"
    stale.write_text("type: split\ninputs: payments_enriched\noutputs: [approved_payments]\n", encoding="utf-8")
    (target / "datasets" / "approved_payments.yaml").write_text("description: old\n", encoding="utf-8")
    mine = target / "notes.md"
    mine.write_text("kept", encoding="utf-8")
    write_project(target)
    assert not stale.exists() and not (target / "datasets" / "approved_payments.yaml").exists()
    assert mine.read_text(encoding="utf-8") == "kept"
    assert "split_by_status" not in load_project(target).recipes

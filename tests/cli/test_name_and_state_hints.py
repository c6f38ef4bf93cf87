"""What ``tide`` says when a name is wrong or a dataset cannot be shown: the hint that is true.

A recipe's name given for a dataset (or the reverse) is said to be one; a name typed short is completed;
a source whose table is missing is said to be missing, not to need a build; a schema that a recipe's error
keeps unknown shows the error; a build with nothing to do says why in words that hold where it is printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.errors import did_you_mean, nearest


def _run(runner: CliRunner, project: Path, *argv: str, code: int = 0) -> str:
    result = runner.invoke(app, [*argv, "--project", str(project)])
    assert result.exit_code == code, result.output
    return (result.stdout if code == 0 else result.stderr).strip()


# ---------------------------------------------------------------- names


def test_a_recipe_name_given_for_a_dataset_says_what_it_writes(project_dir: Path, runner: CliRunner) -> None:
    said = "error: unknown dataset 'clean_orders': 'clean_orders' is a recipe; it writes 'orders_clean'"
    assert _run(runner, project_dir, "dataset", "head", "clean_orders", code=2) == said
    assert _run(runner, project_dir, "dataset", "schema", "clean_orders", code=2) == said
    assert _run(runner, project_dir, "flow", "build", "clean_orders", code=2) == said


def test_a_dataset_name_given_for_a_recipe_says_which_recipe_writes_it(project_dir: Path, runner: CliRunner) -> None:
    said = "error: unknown recipe 'orders_clean': 'orders_clean' is a dataset, written by recipe 'clean_orders'"
    assert _run(runner, project_dir, "recipe", "sql", "orders_clean", code=2) == said
    assert _run(runner, project_dir, "flow", "explain", "orders_clean", code=2) == said
    assert _run(runner, project_dir, "recipe", "sql", "orders", code=2) == (
        "error: unknown recipe 'orders': 'orders' is a source dataset; no recipe writes it")


def test_a_name_typed_short_is_completed(project_dir: Path, runner: CliRunner) -> None:
    assert _run(runner, project_dir, "dataset", "head", "revenue", code=2) == (
        "error: unknown dataset 'revenue': did you mean 'revenue_by_country'?")
    assert _run(runner, project_dir, "recipe", "sql", "clean", code=2) == (
        "error: unknown recipe 'clean': did you mean 'clean_orders'?")
    assert _run(runner, project_dir, "dataset", "schema", "revnue", code=2) == (
        "error: unknown dataset 'revnue': did you mean 'revenue_by_country'?")


@pytest.mark.parametrize(("name", "expected"), [
    ("revenue", "revenue_by_country"),     # the only name it starts
    ("REVENUE", "revenue_by_country"),
    ("revnue", "revenue_by_country"),      # the start of one name, with a typo
    ("card", None),                        # starts two names: neither
    ("re", None),                          # too short to tell
    ("orders_clen", "orders_clean"),       # similar as a whole, as before
    ("zzz", None),
])
def test_nearest_completes_a_prefix_only_when_one_name_fits(name: str, expected: str | None) -> None:
    names = ["orders", "orders_clean", "revenue_by_country", "card_features", "card_features_test"]
    assert nearest(name, names) == expected
    assert did_you_mean(name, names) == (f": did you mean {expected!r}?" if expected else "")


# ---------------------------------------------------------------- a source that is not there


def test_a_missing_source_table_is_missing_not_unbuilt(project_dir: Path, runner: CliRunner) -> None:
    (project_dir / "datasets" / "cleaned.yaml").write_text("table: cleaned_t\n")
    said = ("error: source dataset 'cleaned' (declared in datasets/cleaned.yaml) cannot be read: table 'cleaned_t' "
            "on connection 'warehouse' does not exist (a source is not built by the Flow: load it, or fix its table)")
    assert _run(runner, project_dir, "dataset", "head", "cleaned", code=3) == said
    assert _run(runner, project_dir, "dataset", "schema", "cleaned", code=3) == said


def test_an_output_not_built_yet_still_says_to_build_it(project_dir: Path, runner: CliRunner) -> None:
    assert _run(runner, project_dir, "dataset", "head", "orders_clean", code=2) == (
        "error: dataset 'orders_clean' has not been built yet: run 'tide flow build orders_clean'")


# ---------------------------------------------------------------- a schema a recipe's error keeps unknown


def test_the_schema_of_an_output_shows_the_error_of_its_recipe(project_dir: Path, runner: CliRunner) -> None:
    recipe = project_dir / "recipes" / "clean_orders.yaml"
    recipe.write_text(recipe.read_text().replace('"amount * 1.2"', '"amout * 1.2"'))
    said = _run(runner, project_dir, "flow", "explain", "clean_orders", code=2)
    assert said == ("error: recipes/clean_orders.yaml:13 at steps[2].expr: unknown column 'amout': did you mean "
                    "'amount'? (columns: order_id, customer, country, ordered_at, amount, status) in expression "
                    "'amout * 1.2'")
    assert _run(runner, project_dir, "dataset", "schema", "orders_clean", code=2) == said
    assert _run(runner, project_dir, "dataset", "schema", "revenue_by_country", code=2) == said  # downstream too


# ---------------------------------------------------------------- virtual datasets


def _virtual_orders_clean(project_dir: Path) -> None:
    dataset = project_dir / "datasets" / "orders_clean.yaml"
    dataset.write_text(dataset.read_text() + "virtual: true\n")


def test_building_a_virtual_dataset_says_it_is_never_stored(project_dir: Path, runner: CliRunner) -> None:
    _virtual_orders_clean(project_dir)
    said = ("Nothing to build: dataset 'orders_clean' is virtual, never stored: recipe 'clean_orders' runs as a CTE "
            "inside 'revenue_by_country'.")
    for mode in ("smart", "dataset", "forced"):
        assert _run(runner, project_dir, "flow", "build", "orders_clean", "--mode", mode).splitlines()[-1] == said
    _run(runner, project_dir, "flow", "build")
    assert _run(runner, project_dir, "flow", "build") == (
        "Nothing to build: every dataset is up to date ('--mode forced' rebuilds).")


def test_a_virtual_dataset_stored_all_the_same_is_explained(project_dir: Path, runner: CliRunner) -> None:
    _virtual_orders_clean(project_dir)
    reader = project_dir / "recipes" / "revenue_by_country.yaml"
    reader.write_text(reader.read_text() + "engine: memory\n")
    why = "recipe 'revenue_by_country' runs on the memory engine (memory engine forced)"
    explained = " ".join(_run(runner, project_dir, "flow", "explain", "clean_orders").split())
    assert f"virtual orders_clean is virtual but stored: {why}" in explained
    built = _run(runner, project_dir, "flow", "build")
    assert "done clean_orders  engine=sql" in built
    assert f"rows  virtual dataset 'orders_clean' stored: {why}\n" in built  # the event
    assert built.endswith(f"clean_orders: virtual dataset 'orders_clean' stored: {why}")  # under the summary


# ---------------------------------------------------------------- the demo


def test_the_demo_run_again_says_how_to_rebuild(tmp_path: Path, runner: CliRunner) -> None:
    target = tmp_path / "demo"
    argv = ["demo", "--dir", str(target), "--rows", "2000", "--no-lab"]
    first = runner.invoke(app, argv)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert (f"Nothing to build: every dataset is up to date (`tide flow build --mode forced --project {target}` "
            "rebuilds them).") in again.stdout
    assert "'--mode forced'" not in again.stdout

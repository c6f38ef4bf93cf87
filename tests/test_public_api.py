"""The public API is chosen: these names are what users import; changing them is a decision."""

from __future__ import annotations

import tideflow.errors
import tideflow.flow
import tideflow.project
import tideflow.recipes


def test_flow_api() -> None:
    assert sorted(tideflow.flow.__all__) == [
        "BUILD_MODES", "BuildBusy", "BuildEvent", "BuildMode", "BuildResult", "Plan", "PlannedRecipe", "RecipeRun",
        "Workspace",
        "build", "dataset_head", "dataset_schema", "explain_recipe", "plan_build", "recipe_sql",
    ]


def test_project_api() -> None:
    for name in ("load_project", "Project", "ProjectConfig", "DatasetSpec", "ComputeSpec", "ResourceProfile",
                 "FlowGraph"):
        assert name in tideflow.project.__all__


def test_error_tree() -> None:
    e = tideflow.errors
    for cls in (e.ProjectError, e.ExpressionError, e.ConnectionError_, e.UnsupportedPushdown, e.BuildError,
                e.MissingExtraError):
        assert issubclass(cls, e.TideflowError)
    assert issubclass(e.GraphError, e.ProjectError)
    assert str(e.MissingExtraError("ray", "ray")) == "ray is not installed: pip install 'tideflow[ray]'"


def test_every_public_name_exists() -> None:
    for module in (tideflow.flow, tideflow.project, tideflow.recipes, tideflow.errors):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"

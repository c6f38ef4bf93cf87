"""The Flow: plan (outdated recipes, engine per recipe, SQL), build (parallel, atomic), explain."""

from tideflow.flow.api import build, dataset_head, dataset_schema, explain_recipe, plan_build, recipe_sql
from tideflow.flow.buildlock import BuildBusy
from tideflow.flow.model import (
    BUILD_MODES,
    BuildEvent,
    BuildMode,
    BuildResult,
    Plan,
    PlannedRecipe,
    RecipeRun,
)
from tideflow.flow.workspace import Workspace

__all__ = [
    "BUILD_MODES",
    "BuildBusy",
    "BuildEvent",
    "BuildMode",
    "BuildResult",
    "Plan",
    "PlannedRecipe",
    "RecipeRun",
    "Workspace",
    "build",
    "dataset_head",
    "dataset_schema",
    "explain_recipe",
    "plan_build",
    "recipe_sql",
]

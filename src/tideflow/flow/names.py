"""Look up a dataset or a recipe by the name a user typed, with the hint that helps when it is unknown.

A recipe and the dataset it writes often have related names (``clean_orders`` writes ``orders_clean``):
a recipe's name given where a dataset is expected (or the reverse) is said to be one, with the name to
use, rather than matched to the nearest name of the wrong kind. Otherwise the nearest valid name
(``errors.nearest``: similar, or the one name it starts) is suggested.
"""

from __future__ import annotations

from tideflow.errors import ProjectError, did_you_mean
from tideflow.project import DatasetSpec, Project
from tideflow.recipes import RecipeBase


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def unknown_dataset(project: Project, name: str) -> ProjectError:
    """The error for a dataset name the project does not have."""
    recipe = project.recipes.get(name)
    if recipe is not None:
        hint = f": {name!r} is a recipe; it writes {_quoted(list(recipe.outputs))}"
    else:
        hint = did_you_mean(name, project.datasets)
    return ProjectError(f"unknown dataset {name!r}{hint}")


def unknown_recipe(project: Project, name: str) -> ProjectError:
    """The error for a recipe name the project does not have."""
    if name in project.datasets:
        producer = project.graph.producer.get(name)
        if producer is not None:
            hint = f": {name!r} is a dataset, written by recipe {producer!r}"
        else:
            hint = f": {name!r} is a source dataset; no recipe writes it"
    else:
        hint = did_you_mean(name, project.recipes)
    return ProjectError(f"unknown recipe {name!r}{hint}")


def dataset_named(project: Project, name: str) -> DatasetSpec:
    """The dataset ``name``, or a ``ProjectError`` saying what the name is or the nearest one."""
    spec = project.datasets.get(name)
    if spec is None:
        raise unknown_dataset(project, name)
    return spec


def recipe_named(project: Project, name: str) -> RecipeBase:
    """The recipe ``name``, or a ``ProjectError`` saying what the name is or the nearest one."""
    recipe = project.recipes.get(name)
    if recipe is None:
        raise unknown_recipe(project, name)
    return recipe

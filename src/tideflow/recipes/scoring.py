"""Specs of the model recipes: ``score`` (predictions per row) and ``evaluate`` (metrics on labelled rows).

Both name a saved model of the project's registry (``model``) and optionally pin a ``version``;
without one they use the model's active version at build time, and a change of that version makes
the recipe outdated. Declaration only: the Flow resolves the model and runs the recipe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from tideflow.recipes.base import RecipeBase, key_error

MODEL_TYPES = ("score", "evaluate")


def _a(word: str) -> str:
    """``a score``, ``an evaluate``."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


class _ModelRecipe(RecipeBase):
    """A recipe that applies one saved model to one input and writes one output."""

    model: str = Field(min_length=1)
    version: StrictInt | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_in_one_out(self) -> _ModelRecipe:
        if len(self.inputs) != 1:
            raise key_error(("inputs",), f"{_a(self.type)} recipe reads exactly one input, got {len(self.inputs)}")
        if len(self.outputs) != 1:
            raise key_error(("outputs",), f"{_a(self.type)} recipe writes exactly one output, got {len(self.outputs)}")
        return self


class ScoreRecipe(_ModelRecipe):
    """The input's rows plus the model's prediction columns.

    Columns added (each name prefixed with ``prefix``): ``prediction`` (the class label, or the value
    of a regression); for a binary classifier ``probability`` (of the positive class, the model's
    second class); for a multiclass one ``probability_<class>`` per class. A binary prediction is
    the positive class when its probability reaches the model's stored decision threshold (0.5
    when it has none); a multiclass prediction is the most probable class.

    Engines: ``sql`` (the model compiles to SQL and runs inside the database), ``memory`` (Arrow
    batches of ``batch_rows`` through the compiled scorer in this process) or ``ray`` (the same
    batches on the Ray cluster); ``auto`` lets the planner choose and ``tide flow explain`` says why.
    """

    type: Literal["score"]
    engine: Literal["auto", "sql", "memory", "ray"] = "auto"  # type: ignore[assignment]
    prefix: str = ""
    batch_rows: StrictInt = Field(default=65_536, ge=1)


class EvaluateRecipe(_ModelRecipe):
    """The model's metrics on the labelled rows of the input: one row per metric.

    ``target`` is the label column (default: the target the model was trained on). Output columns:
    ``metric``, ``value``, ``model``, ``model_version``, ``rows`` (labelled rows used) and
    ``data_version`` (the version of the input the metrics were computed on).
    """

    type: Literal["evaluate"]
    engine: Literal["auto", "memory"] = "auto"
    target: str | None = None
    batch_rows: StrictInt = Field(default=65_536, ge=1)

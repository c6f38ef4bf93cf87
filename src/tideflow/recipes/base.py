"""Base classes of every recipe spec."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """A frozen spec that rejects unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class RecipeBase(Strict):
    """Fields every recipe has. ``name`` is the recipe file's stem unless given."""

    name: str = Field(min_length=1)
    type: str
    inputs: list[str] = Field(min_length=1)
    outputs: list[str] = Field(min_length=1)
    engine: Literal["auto", "sql", "memory"] = "auto"
    description: str = ""

    _inputs_list = field_validator("inputs", "outputs", mode="before")(_as_list)

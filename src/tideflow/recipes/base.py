"""Base classes of every recipe spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator, field_validator


class Strict(BaseModel):
    """A frozen spec that rejects unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceText(str):
    """A string read from a project file that remembers its line, so that an error found in it later
    (an unknown column in an expression, when the recipe is planned) can name that line."""

    line: int | None

    def __new__(cls, text: str, line: int | None = None) -> SourceText:
        self = super().__new__(cls, text)
        self.line = line
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (SourceText, (str(self), self.line))


def _keep_line(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    text = handler(value)
    return value if isinstance(value, SourceText) and value == text else text


# A recipe expression (``expr``, ``when``, ``then``...): a string that keeps the line it came from.
Expression = Annotated[str, WrapValidator(_keep_line)]


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

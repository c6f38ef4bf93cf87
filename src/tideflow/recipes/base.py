"""Base classes of every recipe spec."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError


def key_error(key_path: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """The error a model's own validator raises about one of its keys. Pydantic locates errors of a
    model validator at the model itself (a recipe's line 1, without a key path); the project loader
    locates this one at ``key_path`` (relative to the model), its line and its key path. The message
    says what was expected and what came."""
    return PydanticCustomError("value_error", message, {"key_path": tuple(key_path)})


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


# A name in a recipe (a dataset, a column): an empty name cannot be written as a SQL identifier.
Name = Annotated[str, Field(min_length=1)]
# A number of rows or a position (frames, offsets, sizes): at most the largest 64-bit integer, as in SQL.
Count = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
# A number written into SQL: NaN and infinities have no SQL literal, and compare unlike any number.
Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]


def _finite(value: Any) -> Any:
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"expected text, a number, true or false, got {item}: NaN and infinities have no "
                             f"SQL literal (quote it, as in '{item}', to keep it as text)")
    return value


# A literal value of a recipe (a fill or replacement value; a rule's value, which may be null): one
# clear error for a non-finite number rather than one per member of the union.
Value = Annotated[str | int | float | bool, BeforeValidator(_finite)]
Scalar = Annotated[str | int | float | bool | None, BeforeValidator(_finite)]
Scalars = Annotated[Scalar | list[Scalar], BeforeValidator(_finite)]  # one value, or a list for in / not_in

# A recipe expression (``expr``, ``when``, ``then``...): a string that keeps the line it came from.
Expression = Annotated[str, WrapValidator(_keep_line)]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class RecipeBase(Strict):
    """Fields every recipe has. ``name`` is the recipe file's stem unless given."""

    name: str = Field(min_length=1)
    type: str
    inputs: list[Name] = Field(min_length=1)
    outputs: list[Name] = Field(min_length=1)
    engine: Literal["auto", "sql", "memory"] = "auto"
    description: str = ""

    _inputs_list = field_validator("inputs", "outputs", mode="before")(_as_list)

"""Specs of the steps of a ``prepare`` recipe (filter, formula, rename, casts, string and date
operations, if/then/else, flags, round, bin). Declaration only: the semantics every engine implements
are those of ``tideflow.recipes.visual`` and ``docs/recipes.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from tideflow.recipes.base import (
    Expression,
    Finite,
    Name,
    Scalar,
    Scalars,
    Strict,
    Value,
    key_error,
)
from tideflow.recipes.types import ColumnType


class Rule(Strict):
    """A condition on one column, for users who prefer not to write expressions."""

    column: Name
    op: Literal[
        "eq", "ne", "lt", "le", "gt", "ge", "is_null", "not_null", "in", "not_in",
        "contains", "starts_with", "ends_with",
    ]
    value: Scalars = None

    @model_validator(mode="after")
    def _list_for_in(self) -> Rule:
        if self.op in ("in", "not_in") and self.value == []:  # every engine would answer differently
            raise key_error(("value",), f"rule {self.op!r} needs a non-empty list of values, got []")
        return self


class FilterStep(Strict):
    """Keep (or remove) rows matching an expression or a list of rules."""

    op: Literal["filter"]
    expr: Expression | None = None
    rules: list[Rule] | None = None
    match: Literal["all", "any"] = "all"
    action: Literal["keep", "remove"] = "keep"

    @model_validator(mode="after")
    def _one_condition(self) -> FilterStep:
        if (self.expr is None) == (self.rules is None):
            raise key_error(("rules" if self.rules is not None else "expr",),
                            "a filter step takes exactly one of 'expr' or 'rules'")
        return self


class FormulaStep(Strict):
    """Add (or replace) ``column`` with the value of an expression."""

    op: Literal["formula"]
    column: Name
    expr: Expression


class RenameStep(Strict):
    op: Literal["rename"]
    columns: dict[Name, Name]


class KeepStep(Strict):
    """Keep only these columns, in this order."""

    op: Literal["keep"]
    columns: list[Name] = Field(min_length=1)


class DropStep(Strict):
    op: Literal["drop"]
    columns: list[Name] = Field(min_length=1)


class CastStep(Strict):
    """Cast columns; a value that does not convert becomes NULL."""

    op: Literal["cast"]
    columns: list[Name] = Field(min_length=1)
    to: ColumnType


class FillEmptyStep(Strict):
    """Replace NULL (and, for string columns, the empty string) with ``value``."""

    op: Literal["fill_empty"]
    columns: list[Name] = Field(min_length=1)
    value: Value


class Replacement(Strict):
    old: Value
    new: Scalar


class ReplaceStep(Strict):
    """Replace exact values; values not listed are kept."""

    op: Literal["replace"]
    columns: list[Name] = Field(min_length=1)
    replacements: list[Replacement] = Field(min_length=1)


class TrimStep(Strict):
    """Remove leading and/or trailing spaces from string columns."""

    op: Literal["trim"]
    columns: list[Name] = Field(min_length=1)
    side: Literal["both", "left", "right"] = "both"


class CaseStep(Strict):
    op: Literal["case"]
    columns: list[Name] = Field(min_length=1)
    mode: Literal["upper", "lower"]


class ConcatStep(Strict):
    """Join columns as text with a separator; NULL values are skipped."""

    op: Literal["concat"]
    columns: list[Name] = Field(min_length=2)
    separator: str = ""
    output: Name


class SplitColumnStep(Strict):
    """Split a string column on a literal separator; part i goes to ``outputs[i]``.

    A missing or empty part is NULL.
    """

    op: Literal["split"]
    column: Name
    separator: str = Field(min_length=1)
    outputs: list[Name] = Field(min_length=1)


class RegexExtractStep(Strict):
    """Extract capture ``group`` of the first match of ``pattern``; no match gives NULL.

    Use the regular-expression syntax common to RE2, PostgreSQL and Rust (``tideflow.recipes.regex``):
    classes, ``\\d``, greedy quantifiers, groups and alternation, ``^`` and ``$``; anything else is refused.
    """

    op: Literal["regex_extract"]
    column: Name
    pattern: str = Field(min_length=1)
    group: StrictInt = Field(default=1, ge=0)
    output: Name

    @field_validator("pattern")
    @classmethod
    def _portable(cls, pattern: str) -> str:
        from tideflow.recipes.regex import portable_regex_problem

        problem = portable_regex_problem(pattern)
        if problem is not None:
            raise ValueError(f"expected a pattern every engine reads the same way, got {problem} in {pattern!r}")
        return pattern


DatePart = Literal["year", "quarter", "month", "week", "day", "dayofweek", "dayofyear", "hour", "minute",
                   "second"]


class DatePartStep(Strict):
    """Extract a part of a date or timestamp as an integer.

    ``week`` is the ISO week, ``dayofweek`` is ISO (1 = Monday ... 7 = Sunday).
    """

    op: Literal["date_part"]
    column: Name
    part: DatePart
    output: Name


class DateDiffStep(Strict):
    """Elapsed time ``end - start`` in ``unit`` as a double (fractional units kept)."""

    op: Literal["date_diff"]
    start: Name
    end: Name
    unit: Literal["day", "hour", "minute", "second"] = "day"
    output: Name


class WhenThen(Strict):
    when: Expression
    then: Expression


class IfThenElseStep(Strict):
    """``output`` = the ``then`` of the first ``when`` that is true, else ``else`` (or NULL)."""

    op: Literal["if_then_else"]
    output: Name
    cases: list[WhenThen] = Field(min_length=1)
    else_: Expression | None = Field(default=None, alias="else")


class FlagStep(Strict):
    """A boolean column: true where the expression is true, false otherwise (NULL counts false)."""

    op: Literal["flag"]
    output: Name
    expr: Expression


class RoundStep(Strict):
    """Round numeric columns to ``decimals`` places, half away from zero."""

    op: Literal["round"]
    columns: list[Name] = Field(min_length=1)
    decimals: StrictInt = Field(default=0, ge=0, le=15)


class BinStep(Strict):
    """Put a numeric column into bins; ``output`` gets the lower edge of the bin (a double).

    Fixed ``width``: edge = floor(x / width) * width. Explicit ``edges`` (ascending): the bin
    ``[edges[i], edges[i+1])``; values outside ``[edges[0], edges[-1])`` get NULL.
    """

    op: Literal["bin"]
    column: Name
    output: Name
    width: Finite | None = Field(default=None, gt=0)
    edges: list[Finite] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> BinStep:
        if (self.width is None) == (self.edges is None):
            raise key_error(("edges" if self.edges is not None else "width",),
                            "a bin step takes exactly one of 'width' or 'edges'")
        if self.edges is not None and (len(self.edges) < 2 or sorted(set(self.edges)) != self.edges):
            raise key_error(("edges",), f"expected at least two strictly ascending numbers, got {self.edges}")
        return self


PrepareStep = Annotated[
    FilterStep | FormulaStep | RenameStep | KeepStep | DropStep | CastStep | FillEmptyStep | ReplaceStep
    | TrimStep | CaseStep | ConcatStep | SplitColumnStep | RegexExtractStep | DatePartStep | DateDiffStep
    | IfThenElseStep | FlagStep | RoundStep | BinStep,
    Field(discriminator="op"),
]

STEP_OPS = (
    "filter", "formula", "rename", "keep", "drop", "cast", "fill_empty", "replace", "trim", "case",
    "concat", "split", "regex_extract", "date_part", "date_diff", "if_then_else", "flag", "round", "bin",
)

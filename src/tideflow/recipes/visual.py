"""Specs of the visual (declarative) recipes. Declaration only: nothing here runs.

Every engine (the SQL compiler, the in-memory oracle, Spark) implements exactly these semantics,
documented in ``docs/recipes.md``. The shared rules:

* NULL ordering: ascending sorts put NULLs last, descending sorts put NULLs first, unless an
  ``OrderKey`` says otherwise. Strings compare by Unicode code point (binary collation).
* A filter or rule whose condition is NULL counts as false.
* ``/`` is true division returning a double; division or modulo by zero gives NULL; ``%`` takes
  the sign of the dividend.
* A cast of a value that does not convert gives NULL (never a run-time failure); a double cast to
  integer rounds half away from zero.
* Aggregates: ``sum`` of integers is an integer, ``avg`` and ``stddev`` (sample) are doubles,
  ``count`` never is NULL.
* The deterministic random used by ``split`` and ``sample`` is
  ``substr(md5(seed || '|' || key1 || '|' || key2 ...), 1, 8)`` read as a fraction of 16**8, with a
  NULL key read as the empty string; a row lands in the same output on every engine and every run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from tideflow.recipes.base import (
    Count,
    Expression,
    Finite,
    Name,
    RecipeBase,
    Strict,
    key_error,
)

# The steps of a prepare recipe have a module of their own; they stay part of this one's vocabulary
# (``visual.FilterStep``), which the engines and the loader use.
from tideflow.recipes.prepare_steps import (  # noqa: F401
    STEP_OPS,
    BinStep,
    CaseStep,
    CastStep,
    ConcatStep,
    DateDiffStep,
    DatePartStep,
    DropStep,
    FillEmptyStep,
    FilterStep,
    FlagStep,
    FormulaStep,
    IfThenElseStep,
    KeepStep,
    PrepareStep,
    RegexExtractStep,
    RenameStep,
    Replacement,
    ReplaceStep,
    RoundStep,
    Rule,
    SplitColumnStep,
    TrimStep,
    WhenThen,
)


class OrderKey(Strict):
    """One sort key. ``nulls`` defaults to last for ascending and first for descending."""

    column: Name
    desc: StrictBool = False
    nulls: Literal["first", "last"] | None = None

    @property
    def nulls_first(self) -> bool:
        return self.nulls == "first" if self.nulls is not None else self.desc


class PrepareRecipe(RecipeBase):
    """One input, one output, an ordered list of steps."""

    type: Literal["prepare"]
    steps: list[PrepareStep] = Field(default_factory=list)


# ---------------------------------------------------------------- group


AggFn = Literal["count", "count_distinct", "sum", "avg", "min", "max", "stddev", "first", "last", "concat"]


class Aggregation(Strict):
    """``fn`` of ``column`` per group. ``count`` without a column counts rows.

    ``first``/``last`` take the value on the first/last row by ``order_by`` (ties broken by the
    value, NULLs last) and may be NULL. ``concat`` joins non-NULL values as text with
    ``separator``, ordered by ``order_by`` (default: the value itself).
    Default output name: ``{column}_{fn}``, or ``count`` for a row count.
    """

    fn: AggFn
    column: Name | None = None
    order_by: list[OrderKey] | None = None
    separator: str = ","
    output: Name | None = None

    @model_validator(mode="after")
    def _check(self) -> Aggregation:
        if self.column is None and self.fn != "count":
            raise key_error(("column",), f"aggregation {self.fn!r} needs a 'column'")
        if self.fn in ("first", "last") and not self.order_by:
            raise key_error(("order_by",), f"aggregation {self.fn!r} needs an 'order_by'")
        return self

    @property
    def output_name(self) -> str:
        if self.output:
            return self.output
        return "count" if self.column is None else f"{self.column}_{self.fn}"


class GroupRecipe(RecipeBase):
    """Group by ``keys`` (none: one row for the whole input, even when empty)."""

    type: Literal["group"]
    keys: list[Name] = Field(default_factory=list)
    aggregations: list[Aggregation] = Field(min_length=1)


# ---------------------------------------------------------------- join


class JoinKey(Strict):
    """``left`` is a column of ``left_input`` (default: the first input); ``right`` of the joined input."""

    left: Name
    right: Name
    left_input: Name | None = None


class JoinClause(Strict):
    """Join the running result with input ``with_``.

    ``left_anti`` keeps the rows with no match and ``semi`` the rows with at least one (each
    once); neither adds columns. NULL keys never match.
    """

    with_: str = Field(alias="with")
    type: Literal["inner", "left", "right", "full", "cross", "left_anti", "semi"] = "inner"
    on: list[JoinKey] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys(self) -> JoinClause:
        if self.type == "cross" and self.on:
            raise key_error(("on",), "a cross join takes no 'on' keys")
        if self.type != "cross" and not self.on:
            raise key_error(("on",), f"a {self.type} join needs at least one 'on' key")
        return self


class JoinSelect(Strict):
    """Which columns an input contributes (default: all but its right-side join keys) and a prefix."""

    columns: list[Name] | None = None
    prefix: str = ""


class JoinRecipe(RecipeBase):
    """Join ``inputs[0]`` with each clause in order. Output columns: per input, in input order.

    ``unmatched_output`` (optional) receives the rows of the first input that found no match in the
    first clause (which must be inner or left).
    """

    type: Literal["join"]
    joins: list[JoinClause] = Field(min_length=1)
    select: dict[str, JoinSelect] = Field(default_factory=dict)
    unmatched_output: Name | None = None


# ---------------------------------------------------------------- window


class Frame(Strict):
    """A ROWS frame: ``preceding``/``following`` rows, None meaning unbounded."""

    preceding: Count | None = None
    following: Count | None = 0


class WindowFunction(Strict):
    """One window column.

    Ranking (``row_number``, ``rank``, ``dense_rank``) and ``lag``/``lead`` (``offset`` rows, NULL
    outside the partition) need the recipe's ``order_by``. Aggregates use ``frame``; without one
    they run from the partition start to the current row when ordered, over the whole partition
    otherwise. Default output: ``{column}_{fn}`` or ``{fn}``.
    """

    fn: Literal["row_number", "rank", "dense_rank", "lag", "lead", "sum", "avg", "min", "max", "count"]
    column: Name | None = None
    offset: StrictInt = Field(default=1, ge=1, le=2**31 - 1)  # PostgreSQL's lag/lead take a 32-bit offset
    frame: Frame | None = None
    output: Name | None = None

    @model_validator(mode="after")
    def _check(self) -> WindowFunction:
        if self.fn in ("lag", "lead", "sum", "avg", "min", "max") and self.column is None:
            raise key_error(("column",), f"window function {self.fn!r} needs a 'column'")
        return self

    @property
    def output_name(self) -> str:
        if self.output:
            return self.output
        return f"{self.column}_{self.fn}" if self.column else self.fn


class WindowRecipe(RecipeBase):
    """Add window columns to every row (rows keep their columns).

    Rows that tie on ``order_by`` are ordered by their remaining columns, so every engine numbers
    and frames them the same way; ``order_is_unique: true`` says ``order_by`` is already unique within
    each partition (an id, a timestamp with an id), which drops that tie-break and its wider sort.
    """

    type: Literal["window"]
    partition_by: list[Name] = Field(default_factory=list)
    order_by: list[OrderKey] = Field(default_factory=list)
    order_is_unique: StrictBool = False
    functions: list[WindowFunction] = Field(min_length=1)


# ---------------------------------------------------------------- stack, distinct, sort, top_n


class StackRecipe(RecipeBase):
    """Stack inputs by column name; a column missing from an input is NULL there.

    Columns appear in first-seen order; integer and double widen to double. ``origin_column``
    (optional) holds the name of the input each row came from.
    """

    type: Literal["stack"]
    origin_column: Name | None = None


class DistinctRecipe(RecipeBase):
    """Distinct rows over ``columns`` (default: all); ``count_column`` adds how many rows each had."""

    type: Literal["distinct"]
    columns: list[Name] | None = None
    count_column: Name | None = None


class SortRecipe(RecipeBase):
    type: Literal["sort"]
    order_by: list[OrderKey] = Field(min_length=1)


class TopNRecipe(RecipeBase):
    """Per group of ``partition_by``: the ``first`` N and the ``last`` M rows by ``order_by``."""

    type: Literal["top_n"]
    partition_by: list[Name] = Field(default_factory=list)
    order_by: list[OrderKey] = Field(min_length=1)
    first: Count = 0
    last: Count = 0
    rank_column: Name | None = None

    @model_validator(mode="after")
    def _some(self) -> TopNRecipe:
        if self.first == 0 and self.last == 0:
            raise key_error(("first",), "top_n needs 'first' and/or 'last' greater than 0")
        return self


# ---------------------------------------------------------------- split, sample, pivot


class SplitRule(Strict):
    output: Name
    expr: Expression


class RandomSplit(Strict):
    """Deterministic random split: ``ratios`` per output (sum <= 1) decided by hashing ``key``."""

    seed: StrictInt = 0
    key: list[Name] = Field(min_length=1)
    ratios: dict[Name, Finite]


class SplitRecipe(RecipeBase):
    """Send rows to several outputs: by ``rules`` (first match wins, the rest to ``else_output``
    or dropped) or by ``random`` ratios."""

    type: Literal["split"]
    rules: list[SplitRule] | None = None
    else_output: Name | None = None
    random: RandomSplit | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> SplitRecipe:
        if (self.rules is None) == (self.random is None):
            raise key_error(("random" if self.random is not None else "rules",),
                            "a split recipe takes exactly one of 'rules' or 'random'")
        if self.random is not None:
            total = sum(self.random.ratios.values())
            if total > 1.0 + 1e-9 or any(r < 0 for r in self.random.ratios.values()):
                raise key_error(("random", "ratios"),
                                f"random split ratios must be >= 0 and sum to at most 1, got {total}")
        return self


class SampleRecipe(RecipeBase):
    """``first`` N rows (by ``order_by`` when given) or a seeded ``random`` fraction by ``key``."""

    type: Literal["sample"]
    mode: Literal["first", "random"] = "first"
    n: Count | None = None
    order_by: list[OrderKey] = Field(default_factory=list)
    fraction: Finite | None = Field(default=None, ge=0, le=1)
    seed: StrictInt = 0
    key: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mode(self) -> SampleRecipe:
        if self.mode == "first" and self.n is None:
            raise key_error(("n",), "sample mode 'first' needs 'n'")
        if self.mode == "random" and (self.fraction is None or not self.key):
            raise key_error(("fraction" if self.fraction is None else "key",),
                            "sample mode 'random' needs 'fraction' and 'key'")
        return self


class PivotAggregation(Strict):
    fn: Literal["count", "sum", "avg", "min", "max"]
    column: Name | None = None

    @model_validator(mode="after")
    def _check(self) -> PivotAggregation:
        if self.column is None and self.fn != "count":
            raise key_error(("column",), f"pivot aggregation {self.fn!r} needs a 'column'")
        return self


class PivotRecipe(RecipeBase):
    """One row per ``index`` group, one column per value of ``column`` (and per aggregation).

    ``values`` lists the pivot values; omitted, they are discovered from the data at build time
    (distinct non-NULL values, sorted, at most ``max_values``). Column names: ``{value}`` with one
    aggregation, ``{value}_{fn}`` or ``{value}_{column}_{fn}`` with several. A count with no row is
    0; other aggregates are NULL.
    """

    type: Literal["pivot"]
    index: list[Name] = Field(default_factory=list)
    column: Name
    values: list[str | int | bool] | None = None
    aggregations: list[PivotAggregation] = Field(min_length=1)
    max_values: StrictInt = Field(default=200, ge=1)


VISUAL_TYPES = ("prepare", "group", "join", "window", "stack", "distinct", "sort", "top_n", "split",
                "sample", "pivot")

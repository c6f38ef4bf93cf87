"""``models/<name>.yaml``: a modelling task the Lab runs. Specs only; ``tideflow.lab.training`` runs them.

A spec is validated in two steps: its shape here (unknown keys, types, choices), then its meaning
against the project and the dataset schema in ``tideflow.lab.loading`` (algorithms, search ranges,
target, profile), always before any trial starts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tideflow.recipes import Strict

TaskName = Literal["binary", "multiclass", "regression"]
MetricName = Literal["auc", "logloss", "f1", "accuracy", "rmse", "mae", "r2"]
CLASSIFICATION_METRICS = ("auc", "logloss", "f1", "accuracy")
REGRESSION_METRICS = ("rmse", "mae", "r2")
HIGHER_IS_BETTER = {"auc": True, "logloss": False, "f1": True, "accuracy": True, "rmse": False, "mae": False,
                    "r2": True}
DEFAULT_METRIC: dict[str, MetricName] = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}
Role = Literal["numeric", "categorical", "text", "date", "skip"]
DatePart = Literal["year", "month", "day", "dayofweek", "dayofyear", "hour"]
DEFAULT_DATE_PARTS: tuple[DatePart, ...] = ("year", "month", "day", "dayofweek")


class ColumnOverride(Strict):
    """How one column is prepared; unset fields take the defaults of its role."""

    role: Role | None = None
    imputation: Literal["mean", "median", "most_frequent", "constant", "none"] | None = None
    scaling: Literal["standard", "minmax", "robust", "none"] | None = None
    encoding: Literal["one_hot", "ordinal", "target"] | None = None
    text: Literal["skip", "hashed"] | None = None
    date_parts: list[DatePart] | None = None


class NumericDefaults(Strict):
    imputation: Literal["mean", "median", "most_frequent", "constant", "none"] = "median"
    scaling: Literal["standard", "minmax", "robust", "none"] = "standard"


class CategoricalDefaults(Strict):
    imputation: Literal["most_frequent", "constant"] = "constant"
    encoding: Literal["one_hot", "ordinal", "target"] = "one_hot"
    max_categories: int = Field(default=30, ge=2)


class TextDefaults(Strict):
    handling: Literal["skip", "hashed"] = "skip"
    hash_features: int = Field(default=256, ge=8, le=1 << 20)
    min_distinct: int = Field(default=100, ge=1)  # a string column with more distinct values (and mostly
    # distinct) is text, not a category


class DateDefaults(Strict):
    parts: list[DatePart] = Field(default_factory=lambda: list(DEFAULT_DATE_PARTS))


class FeaturesSpec(Strict):
    """Roles come from the schema (numbers, strings, dates); ``columns`` overrides them per column."""

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnOverride] = Field(default_factory=dict)
    numeric: NumericDefaults = Field(default_factory=NumericDefaults)
    categorical: CategoricalDefaults = Field(default_factory=CategoricalDefaults)
    text: TextDefaults = Field(default_factory=TextDefaults)
    date: DateDefaults = Field(default_factory=DateDefaults)


class SplitSpec(Strict):
    """The held-out test set and how trials are validated on the rest.

    ``ratio``: a random (stratified) test set; trials validate on ``validation_ratio`` of the rest.
    ``kfold``: the same test set; trials are scored by ``folds``-fold cross-validation.
    ``time``: the latest rows by ``column`` are the test set; trials validate on the latest of the rest.
    """

    method: Literal["ratio", "kfold", "time"] = "ratio"
    test_ratio: float = Field(default=0.2, gt=0, lt=1)
    validation_ratio: float = Field(default=0.2, gt=0, lt=1)
    folds: int = Field(default=3, ge=2, le=20)
    column: str | None = None

    @model_validator(mode="after")
    def _time_needs_column(self) -> SplitSpec:
        if self.method == "time" and not self.column:
            raise ValueError("a time split needs 'column' (the column that orders the rows)")
        return self


class SearchParam(Strict):
    """One hyperparameter's search: a range (``{low, high, log}``), choices (a list) or a fixed value."""

    kind: Literal["range", "choices", "fixed"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, SearchParam):
            return data
        if isinstance(data, list):
            return {"kind": "choices", "choices": data}
        if not isinstance(data, dict):
            return {"kind": "fixed", "value": data}
        if "kind" in data:
            return data
        if "choices" in data:
            return {"kind": "choices", **data}
        if "value" in data:
            return {"kind": "fixed", **data}
        return {"kind": "range", **data}

    @model_validator(mode="after")
    def _complete(self) -> SearchParam:
        if self.kind == "range":
            if self.low is None or self.high is None:
                raise ValueError("a range needs both 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"low ({self.low:g}) is greater than high ({self.high:g})")
            if self.log and self.low <= 0:
                raise ValueError(f"a log range needs low > 0, got {self.low:g}")
        if self.kind == "choices" and not self.choices:
            raise ValueError("choices must not be empty")
        return self

    def values_to_check(self) -> list[Any]:
        if self.kind == "range":
            return [self.low, self.high]
        if self.kind == "choices":
            return list(self.choices or [])
        return [self.value]


class BudgetSpec(Strict):
    """When the search stops starting trials: ``trials``, and optionally ``wall_time_s`` (seconds since the
    search started) and ``trial_seconds`` (in-trial seconds summed over every evaluation, refits excluded:
    the compute a search spends, whatever the number of workers). The time budgets are checked before each
    rung of a bracket: the rung running when one is spent finishes and the search ends there."""

    trials: int = Field(default=20, ge=1, le=100_000)
    wall_time_s: float | None = Field(default=None, gt=0)
    trial_seconds: float | None = Field(default=None, gt=0)


class EarlyStoppingSpec(Strict):
    """Successive halving with ASHA's promotion rule over rungs of a resource.

    Trials start at ``min_fraction`` of their resource (trees, iterations, or training rows); a trial
    moves up a rung (x ``reduction_factor``) only if it is among the best 1/``reduction_factor`` of its
    bracket and in the top 1/``reduction_factor`` of every trial scored at that rung so far. Rungs are
    evaluated per bracket of ``bracket_size`` trials so the search is reproducible whatever the order
    in which workers finish.
    """

    method: Literal["asha", "none"] = "asha"
    resource: Literal["auto", "data_fraction"] = "auto"
    reduction_factor: int = Field(default=3, ge=2, le=10)
    min_fraction: float = Field(default=1 / 9, gt=0, le=1)
    bracket_size: int | None = Field(default=None, ge=1, le=1000)


class ThresholdSpec(Strict):
    """The decision threshold of a binary model: best F1, or least cost of errors."""

    optimize: Literal["f1", "cost"] = "f1"
    false_positive_cost: float = Field(default=1.0, ge=0)
    false_negative_cost: float = Field(default=1.0, ge=0)


class ModelSpec(Strict):
    """``models/<name>.yaml``."""

    name: str = Field(min_length=1)
    description: str = ""
    input: str = Field(min_length=1)
    target: str = Field(min_length=1)
    task: TaskName
    positive_class: str | int | bool | None = None
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    metric: MetricName | None = None
    algorithms: dict[str, dict[str, SearchParam]] = Field(min_length=1)
    strategy: Literal["grid", "random", "bayesian"] = "bayesian"
    grid_points: int = Field(default=3, ge=2, le=20)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    early_stopping: EarlyStoppingSpec = Field(default_factory=EarlyStoppingSpec)
    concurrency: int | None = Field(default=None, ge=1)
    resources: str = "default"
    seed: int = Field(default=0, ge=0)
    threshold: ThresholdSpec = Field(default_factory=ThresholdSpec)

    @field_validator("algorithms", mode="before")
    @classmethod
    def _algorithm_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {key: ({} if params is None else params) for key, params in value.items()}
        return value

    @property
    def metric_name(self) -> MetricName:
        return self.metric or DEFAULT_METRIC[self.task]

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric_name]

    def experiment_key(self) -> dict[str, Any]:
        """What defines the search (budget and concurrency excluded: a resumed search may grow)."""
        data = self.model_dump(mode="json")
        for key in ("budget", "concurrency", "description"):
            data.pop(key, None)
        return data

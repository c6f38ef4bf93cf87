"""The ``autoscaling:`` section of an API service: how its replicas and its worker shares follow load.

A spec only declares; ``tideflow.autoscaling.policies`` decides from it, the controller (API node,
issue 4) applies the decisions. Every default is explained in ``docs/autoscaling.md``; the short
reason is in the comment beside it. Units are in the names (``_s`` seconds).

Validation messages name the field, what was expected and what was got, e.g.
``max_replicas: expected >= min_replicas (4), got 2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from tideflow.recipes import Strict

MetricName = Literal["in_flight", "rps", "cpu"]
METRICS: tuple[MetricName, ...] = ("in_flight", "rps", "cpu")
# in_flight: 0.7 requests in flight per single-concurrency replica = 70% busy, Knative's target
# utilization; cpu: 70% utilization. rps depends on the model, so it has no default.
DEFAULT_TARGETS: dict[str, float] = {"in_flight": 0.7, "cpu": 0.7}


class StepLimit(Strict):
    """At most ``replicas`` or ``percent`` of the replicas at the start of the last ``period_s``
    (whichever allows the larger change) may be added (or removed) within any ``period_s``."""

    replicas: int = Field(ge=0)
    percent: float = Field(ge=0, le=1000)
    period_s: float = Field(gt=0, le=3600)

    def bound(self, start_replicas: int, up: bool) -> int:
        """The highest (``up``) or lowest replica count reachable from ``start_replicas`` in one period."""
        if up:
            by_percent = -(-start_replicas * (100.0 + self.percent) // 100.0)
            return int(max(by_percent, start_replicas + self.replicas))
        by_percent = start_replicas * (100.0 - min(self.percent, 100.0)) // 100.0
        return int(max(0, min(by_percent, start_replicas - self.replicas)))


class ScaleToZeroSpec(Strict):
    """Scale to zero replicas after ``idle_s`` without a request, when a cold start fits the budget.

    The controller measures how long a replica takes to start; when that is longer than
    ``cold_start_budget_s`` the policy keeps one replica instead (a first request would wait longer
    than the service accepts).
    """

    enabled: bool = False
    idle_s: float = Field(default=300.0, gt=0)  # five idle minutes: a lull is not a reason to pay a cold start
    cold_start_budget_s: float = Field(default=5.0, gt=0)  # a local replica starts in ~2-3 s


class PipelineShareSpec(Strict):
    """Bounds for one pipeline (endpoint) of the node; unset bounds take the node-wide ones."""

    min_workers: int | None = Field(default=None, ge=0)
    max_workers: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, gt=0)  # multiplies the pipeline's offered load (priority)


class ShareSpec(Strict):
    """How a node's fixed worker budget is divided among its pipelines (engine autoscaling).

    Each pipeline's share is proportional to its offered load (arrival rate x mean service time,
    i.e. the workers it keeps busy), within ``min_workers``/``max_workers``. A worker moves from one
    pipeline to another only when the receiver is short of its share by ``hysteresis_workers`` or
    more, the giver has that much surplus, and together they are off by at least 1 + hysteresis
    workers: a fixed load can never make a worker move back and forth.
    """

    min_workers: int = Field(default=1, ge=0)  # an idle endpoint still answers its first request at once
    max_workers: int | None = Field(default=None, ge=1)  # None: up to the whole budget
    hysteresis_workers: float = Field(default=0.5, ge=0, le=4)  # 0.5: rounding noise never moves a worker
    load_window_s: float = Field(default=30.0, gt=0)  # EWMA time constant of the offered load
    pipelines: dict[str, PipelineShareSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds(self) -> ShareSpec:
        if self.max_workers is not None and self.max_workers < self.min_workers:
            raise ValueError(f"share.max_workers: expected >= share.min_workers ({self.min_workers}), "
                             f"got {self.max_workers}")
        for name in self.pipelines:
            lo, hi = self.bounds(name)
            if hi is not None and hi < lo:
                raise ValueError(f"share.pipelines.{name}.max_workers: expected >= min_workers ({lo}), got {hi}")
        return self

    def bounds(self, pipeline: str) -> tuple[int, int | None]:
        p = self.pipelines.get(pipeline)
        lo = p.min_workers if p is not None and p.min_workers is not None else self.min_workers
        hi = p.max_workers if p is not None and p.max_workers is not None else self.max_workers
        return lo, hi

    def weight(self, pipeline: str) -> float:
        p = self.pipelines.get(pipeline)
        return p.weight if p is not None else 1.0


class AutoscalingSpec(Strict):
    """How an API service's replicas follow load. See docs/autoscaling.md for every knob."""

    min_replicas: int = Field(default=1, ge=0)  # 0 needs scale_to_zero.enabled
    max_replicas: int = Field(default=10, ge=1)  # a cost guard; raise it for a cluster
    metric: MetricName = "in_flight"  # counts queued requests too, so it keeps rising in overload (cpu caps at 100%)
    target: float = Field(default=0.7, gt=0)  # per replica; default by metric (DEFAULT_TARGETS)
    tolerance: float = Field(default=0.1, ge=0, lt=1)  # HPA's 10%: above Poisson noise of a 10 s mean at >= 20 rps
    metric_window_s: float = Field(default=10.0, gt=0)  # the stable average the normal mode decides on
    scale_up_stabilization_s: float = Field(default=0.0, ge=0)  # up at once: being late costs SLO, early costs little
    scale_down_stabilization_s: float = Field(default=300.0, ge=0)  # HPA's 5 min: capacity is kept through lulls
    scale_up_step: StepLimit = Field(default_factory=lambda: StepLimit(replicas=4, percent=100, period_s=1))
    scale_down_step: StepLimit = Field(default_factory=lambda: StepLimit(replicas=1, percent=50, period_s=10))
    sync_period_s: float = Field(default=1.0, gt=0, le=300)  # a local controller reads its own counters
    panic_window_s: float = Field(default=3.0, gt=0)  # short window: sees a step within ~3 s
    panic_threshold: float = Field(default=2.0, gt=1)  # Knative's 200%: a doubling in 3 s is no Poisson noise
    scale_to_zero: ScaleToZeroSpec = Field(default_factory=ScaleToZeroSpec)
    share: ShareSpec = Field(default_factory=ShareSpec)

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("target") is None:
            metric = data.get("metric", "in_flight")
            if metric == "rps":
                raise ValueError("target: expected the requests/s one replica serves at its target load when "
                                 "metric is 'rps' (it has no default), got nothing")
            if metric in DEFAULT_TARGETS:
                data = {**data, "target": DEFAULT_TARGETS[metric]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas: expected >= min_replicas ({self.min_replicas}), got {self.max_replicas}")
        if self.min_replicas == 0 and not self.scale_to_zero.enabled:
            raise ValueError("min_replicas: expected >= 1 unless scale_to_zero.enabled is true, got 0")
        if self.scale_to_zero.enabled and self.min_replicas != 0:
            raise ValueError(f"scale_to_zero.enabled: expected min_replicas 0 with scale to zero, "
                             f"got min_replicas {self.min_replicas}")
        if self.metric == "cpu" and self.target > 1:
            raise ValueError(f"target: expected a utilization in (0, 1] for metric 'cpu', got {self.target}")
        if self.panic_window_s >= self.metric_window_s:
            raise ValueError(f"panic_window_s: expected < metric_window_s ({self.metric_window_s}), "
                             f"got {self.panic_window_s}")
        if self.panic_threshold <= 1 + self.tolerance:
            raise ValueError(f"panic_threshold: expected > 1 + tolerance ({1 + self.tolerance:g}), "
                             f"got {self.panic_threshold}")
        if self.scale_up_step.replicas < 1:
            raise ValueError("scale_up_step.replicas: expected >= 1 (so one replica can always start), got 0")
        if self.sync_period_s > self.metric_window_s:
            raise ValueError(f"sync_period_s: expected <= metric_window_s ({self.metric_window_s}), "
                             f"got {self.sync_period_s}")
        return self


def _validate(data: Any, shown: str, lines: dict[Any, int], prefix: tuple[str, ...]) -> AutoscalingSpec:
    from pydantic import ValidationError

    from tideflow.errors import ProjectError
    from tideflow.project.yamlfile import format_path, validate

    data = data if data is not None else {}
    try:
        return AutoscalingSpec.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        first = errors[0]
        text = str(first.get("msg", ""))
        if len(errors) == 1 and not first["loc"] and text.startswith("Value error, ") and ": " in text:
            # A cross-field rule: its message starts with the dotted field it is about.
            field_path, message = text[len("Value error, "):].split(": ", 1)
            path = (*prefix, *field_path.split("."))
            line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None)
            raise ProjectError(message, file=shown, line=line, key_path=format_path(path)) from None
    spec: AutoscalingSpec = validate(AutoscalingSpec, data, shown=shown, lines=lines, vocabulary_of=AutoscalingSpec,
                                     prefix=prefix)
    return spec


def parse_autoscaling_spec(data: Any, *, shown: str = "autoscaling") -> AutoscalingSpec:
    """Validate a mapping (the ``autoscaling:`` section) into a spec; a ``ProjectError`` names the key."""
    if isinstance(data, dict) and set(data) == {"autoscaling"}:
        return _validate(data["autoscaling"], shown, {}, ("autoscaling",))
    return _validate(data, shown, {}, ())


def load_autoscaling_spec(path: Path) -> AutoscalingSpec:
    """Read a YAML file holding an ``autoscaling:`` section (or only its keys); errors carry file and line."""
    from tideflow.project.yamlfile import read_yaml

    data, lines = read_yaml(path, str(path))
    if isinstance(data, dict) and set(data) == {"autoscaling"}:
        return _validate(data["autoscaling"], str(path), lines, ("autoscaling",))
    return _validate(data, str(path), lines, ())

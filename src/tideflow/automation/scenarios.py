"""Specs of ``scenarios/<name>.yaml``: triggers, steps, reporters. Declarations only; nothing runs here.

Loading (located errors, checks against the project) is ``tideflow.automation.scenarios_loading``;
running is ``tideflow.automation.scenarios_run``; the automation node is ``tideflow.automation.node``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from tideflow.automation.triggers import CronError, parse_cron, zone
from tideflow.project.checks_specs import CompareOp, MetricRef
from tideflow.recipes import Strict

RunIf = Literal["success", "failure", "always"]
ParamType = Literal["str", "int", "float", "bool"]
TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
BUILTIN_NAMES = ("run_id", "scenario", "trigger")

# ------------------------------------------------------------------ triggers


class TimeTrigger(Strict):
    """Fire on a cron schedule. ``missed``: what to do with scheduled times that passed while the
    node was not running (``skip``: record them, do not run; ``run_once``: one run for all of them)."""

    type: Literal["time"]
    cron: str
    timezone: str = "UTC"
    missed: Literal["skip", "run_once"] = "skip"
    grace_s: float = Field(default=60.0, gt=0)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            parse_cron(value)
        except CronError as err:
            raise ValueError(f"invalid cron expression: {err}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value


class DatasetChangedTrigger(Strict):
    """Fire once each time the data version of one of ``datasets`` changes (polled every ``every_s``)."""

    type: Literal["dataset_changed"]
    datasets: Annotated[list[str], Field(min_length=1)]
    every_s: float = Field(default=60.0, gt=0)

    @field_validator("datasets", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class SqlChangedTrigger(Strict):
    """Fire once each time the result of a read-only ``sql`` query on ``connection`` changes."""

    type: Literal["sql_changed"]
    connection: str
    sql: str = Field(min_length=1)
    every_s: float = Field(default=60.0, gt=0)


class AfterScenarioTrigger(Strict):
    """Fire when a run of ``scenario`` finishes on this node with the given outcome."""

    type: Literal["after_scenario"]
    scenario: str
    on: Literal["success", "failure", "any"] = "success"


class ParamSpec(Strict):
    """A typed parameter of a manual run. No ``default``: the parameter is required."""

    type: ParamType = "str"
    default: str | int | float | bool | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_type(self) -> ParamSpec:
        if self.default is not None:
            convert_param(self, self.default)
        return self


class ManualTrigger(Strict):
    """Allow ``tide automation run`` (and the REST API) to start the scenario, with typed parameters."""

    type: Literal["manual"]
    params: dict[str, ParamSpec] = {}


TriggerSpec = Annotated[TimeTrigger | DatasetChangedTrigger | SqlChangedTrigger | AfterScenarioTrigger | ManualTrigger,
                        Field(discriminator="type")]
TRIGGER_TYPES = ("time", "dataset_changed", "sql_changed", "after_scenario", "manual")

# ------------------------------------------------------------------ steps


class MetricCondition(Strict):
    """Run the step only if the latest recorded value of ``metric`` (a dataset's metric, or a drift metric
    of a saved model) compares true with ``value``: ``{metric: {model: fraud, metric: drift_score}, op: ">",
    value: 0.75}``. ``max_age_s``: a value recorded longer ago than this does not count. Without a value
    that counts, the condition does not hold (the step is skipped)."""

    metric: MetricRef
    op: CompareOp
    value: float
    max_age_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _recorded(self) -> MetricCondition:
        if self.metric.source is None:
            raise ValueError("a step condition reads a recorded metric: give 'dataset' or 'model' in 'metric'")
        if self.metric.metric in ("top_values", "schema_fingerprint"):
            raise ValueError(f"a step condition compares numbers: {self.metric.metric} is not a number")
        return self

    @property
    def label(self) -> str:
        return f"{self.metric.label} {self.op} {self.value:g}"


class StepBase(Strict):
    """What every step has: a name, a run condition, retries with exponential backoff, a timeout.

    ``run_if``: ``success`` (default) runs the step only if no earlier step failed; ``failure`` only
    if one did (cleanup, alerts); ``always`` in both cases. ``when`` (a metric condition) must hold too.
    A failed attempt is retried ``retries`` times, waiting ``backoff_s``, then
    ``backoff_s * backoff_factor``, ... (at most ``max_backoff_s``). A step running longer than
    ``timeout_s`` is killed (its process group) and counts as failed.
    """

    name: str | None = None
    run_if: RunIf = "success"
    when: MetricCondition | None = None
    retries: int = Field(default=0, ge=0, le=20)
    backoff_s: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=300.0, ge=0)
    timeout_s: float | None = Field(default=None, gt=0)

    def backoff(self, failed_attempt: int) -> float:
        """Seconds to wait after the ``failed_attempt``-th attempt (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * self.backoff_factor ** (failed_attempt - 1)))


class BuildStep(StepBase):
    """Build datasets of the Flow (all of them when ``datasets`` is empty) in ``mode``."""

    type: Literal["build"]
    datasets: list[str] = []
    mode: Literal["smart", "dataset", "forced", "downstream"] = "smart"


class VerifyChecksStep(StepBase):
    """Run the checks of ``datasets`` where they live; fails when an error-level check fails."""

    type: Literal["verify_checks"]
    datasets: Annotated[list[str], Field(min_length=1)]
    fail_on_warning: bool = False


class TrainStep(StepBase):
    """Train ``models/<model>.yaml`` (as ``tide lab train``); the best model becomes a new version."""

    type: Literal["train"]
    model: str
    trials: int | None = Field(default=None, ge=1)
    local: bool = False


class ScoreStep(StepBase):
    """Build the outputs of ``recipe`` — a Flow ``score`` recipe (a dataset scored by a saved model) — through
    the normal Flow build. ``mode`` as for ``build``: ``smart`` (default) runs what is outdated (an input or
    the model's active version changed), ``dataset`` this recipe only, ``forced`` it and its upstream."""

    type: Literal["score"]
    recipe: str
    mode: Literal["smart", "dataset", "forced"] = "smart"


class EvaluateStep(StepBase):
    """Build the outputs of ``recipe`` — a Flow ``evaluate`` recipe (a saved model's metrics on labelled
    data) — through the normal Flow build, as ``score`` does."""

    type: Literal["evaluate"]
    recipe: str
    mode: Literal["smart", "dataset", "forced"] = "smart"


class RefreshApiStep(StepBase):
    """Make the API node serve the saved-model versions the project has now (as ``tide deploy api``).

    With ``to`` (an API node directory, relative to the project or absolute): package ``service``,
    verify and activate it there (``remap`` as ``--remap``); its running API node reloads without
    dropping requests. Without ``to``: reload the API node serving this project (``tide api serve``);
    the step fails if none is running."""

    type: Literal["refresh_api"]
    service: str
    to: str | None = None
    remap: dict[str, str] = {}
    reload_timeout_s: float = Field(default=300.0, gt=0)


class RunSqlStep(StepBase):
    """Run ``sql`` (any statements) on the SQL ``connection``. A ``${params.x}`` in it is a value: it becomes
    a SQL literal (``tideflow.automation.sql_values``), never SQL text."""

    type: Literal["run_sql"]
    connection: str
    sql: str = Field(min_length=1)


class RunPythonStep(StepBase):
    """Call ``function(context)`` from ``file`` (relative to the project) in a child process."""

    type: Literal["run_python"]
    file: str
    function: str = "main"


class SendMessageStep(StepBase):
    """Send ``text`` through the scenario's reporter ``reporter``."""

    type: Literal["send_message"]
    reporter: str
    text: str = Field(min_length=1)


StepSpec = Annotated[BuildStep | VerifyChecksStep | TrainStep | ScoreStep | EvaluateStep | RefreshApiStep
                     | RunSqlStep | RunPythonStep | SendMessageStep, Field(discriminator="type")]
STEP_TYPES = ("build", "verify_checks", "train", "score", "evaluate", "refresh_api", "run_sql", "run_python",
              "send_message")

# ------------------------------------------------------------------ reporters


class WebhookReporter(Strict):
    """POST a JSON report to a URL. The URL and header values can come from environment variables
    (``url_env``, ``headers_env: {Header: ENV_NAME}``); their values are never logged or stored."""

    type: Literal["webhook"]
    name: str
    url: str | None = None
    url_env: str | None = None
    headers: dict[str, str] = {}
    headers_env: dict[str, str] = {}
    on: Literal["failure", "success", "always"] = "failure"
    retries: int = Field(default=3, ge=0, le=20)
    backoff_s: float = Field(default=0.5, ge=0)
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookReporter:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of 'url' or 'url_env'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// url, got {self.url!r}")
        return self


class LogFileReporter(Strict):
    """Append one line per report to ``path`` (relative to the project)."""

    type: Literal["log_file"]
    name: str
    path: str = ".tide/automation/scenarios.log"
    on: Literal["failure", "success", "always"] = "always"


ReporterSpec = Annotated[WebhookReporter | LogFileReporter, Field(discriminator="type")]
REPORTER_TYPES = ("webhook", "log_file")

# ------------------------------------------------------------------ scenario


class ScenarioSpec(Strict):
    """``scenarios/<name>.yaml``."""

    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    triggers: list[TriggerSpec] = []
    steps: Annotated[list[StepSpec], Field(min_length=1)]
    reporters: list[ReporterSpec] = []

    @model_validator(mode="before")
    @classmethod
    def _name_steps(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("steps"), list):
            steps = []
            for i, step in enumerate(data["steps"]):
                if isinstance(step, dict) and not step.get("name"):
                    step = {**step, "name": f"{i + 1}-{step.get('type', 'step')}"}
                steps.append(step)
            data = {**data, "steps": steps}
        return data

    @property
    def params(self) -> dict[str, ParamSpec]:
        found: dict[str, ParamSpec] = {}
        for trigger in self.triggers:
            if isinstance(trigger, ManualTrigger):
                found.update(trigger.params)
        return found

    def step_name(self, index: int) -> str:
        return self.steps[index].name or f"{index + 1}-{self.steps[index].type}"

    def reporter(self, name: str) -> WebhookReporter | LogFileReporter:
        for reporter in self.reporters:
            if reporter.name == name:
                return reporter
        raise KeyError(name)


def convert_param(spec: ParamSpec, value: object) -> str | int | float | bool:
    """``value`` (a CLI string, a YAML or JSON scalar) as ``spec.type``; ``ValueError`` says expected and got.

    A float must be finite: NaN and infinities (``nan``, ``inf``, ``-Infinity``, ...) are refused."""
    kind = spec.type
    if not isinstance(value, str | int | float | bool):
        raise ValueError(f"expected {kind}, got {type(value).__name__} {value!r}")
    if kind == "str":
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(f"expected a bool (true/false), got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"expected {kind}, got {value!r}")
    try:
        number = int(str(value)) if kind == "int" else float(str(value))
    except ValueError:
        raise ValueError(f"expected {kind}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number (float), got {value!r}")
    return number


def template_names(text: str) -> list[str]:
    """The ``${...}`` names used in ``text``."""
    return TEMPLATE.findall(text)


def render(text: str, values: dict[str, object]) -> str:
    """Substitute ``${params.x}``, ``${run_id}``, ``${scenario}``, ``${trigger}`` as text (names checked at load).

    For text fields only (``send_message``); SQL goes through ``tideflow.automation.sql_values.render_sql``,
    where a substitution is always a SQL literal."""
    return TEMPLATE.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)

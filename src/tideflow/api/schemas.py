"""Request and response bodies of the platform REST API (they make the OpenAPI schema precise).

Field names follow the CLI's words (dataset, recipe, engine, saved model, API service, scenario).
Values that are free-form by nature (a recipe's spec, a model's experiment record, a preview row)
are JSON objects; everything else is typed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tideflow.errors import nearest

JsonScalar = str | int | float | bool | None


class RequestBody(BaseModel):
    """A request body: a field it does not declare is refused with the nearest one (a typo like
    ``tragets`` must not silently build everything)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            for name in data:
                if name not in known:
                    near = nearest(str(name), known)
                    hint = f": did you mean {near!r}?" if near else ""
                    raise ValueError(f"unknown field {name!r}{hint} (expected: {', '.join(known)})")
        return data


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ConnectionInfo(BaseModel):
    name: str
    type: str = Field(description="duckdb, postgres or files (credentials are never shown).")
    default: bool


class ProjectInfo(BaseModel):
    name: str
    description: str
    root: str
    tideflow_version: str
    connections: list[ConnectionInfo]
    default_engine: str
    parallelism: int
    datasets: int
    recipes: int
    models: int
    services: int
    scenarios: int


# ------------------------------------------------------------------ datasets and recipes


class DatasetInfo(BaseModel):
    name: str
    connection: str
    kind: Literal["table", "file"]
    table: str | None = None
    path: str | None = None
    virtual: bool
    produced_by: str | None = Field(description="The recipe that writes it; null for a source.")
    consumed_by: list[str]
    checks: int
    metrics: int
    description: str
    file: str | None = Field(description="Its file in the project (null when implied by a recipe output).")


class DatasetSchema(BaseModel):
    dataset: str
    columns: dict[str, str] = Field(description="Column -> logical type, in order.")


class DatasetPreview(BaseModel):
    dataset: str
    columns: list[str]
    rows: list[dict[str, Any]]
    count: int


class RecipeInfo(BaseModel):
    name: str
    type: str
    inputs: list[str]
    outputs: list[str]
    file: str | None


class RecipeDetail(RecipeInfo):
    spec: dict[str, Any] = Field(description="The recipe as declared (validated), as JSON.")
    code: str | None = Field(description="The SQL or Python code of a code recipe.")


class RecipeSql(BaseModel):
    recipe: str
    dialect: str | None = Field(description="The dialect asked for; null: the recipe's connection's.")
    sql: dict[str, str] = Field(description="Output dataset -> SQL.")


class RecipeExplain(BaseModel):
    recipe: str
    engine: str
    reason: str
    connection: str | None
    sql: dict[str, str]
    outdated_reason: str
    virtual_outputs: list[str]
    fused_into: str | None


# ------------------------------------------------------------------ builds


class BuildRequest(RequestBody):
    targets: list[str] | None = Field(default=None, description="Datasets to build (null or empty: all).")
    mode: Literal["smart", "dataset", "forced", "downstream"] = "smart"
    engine: Literal["sql", "memory"] | None = Field(default=None, description="Force one engine (null: auto).")


class RecipeRunInfo(BaseModel):
    recipe: str
    engine: str
    status: Literal["planned", "running", "ok", "failed", "skipped", "cancelled"]
    seconds: float | None = None
    rows: dict[str, int] = Field(default_factory=dict)
    bytes_through_python: int = 0
    error: str = ""


class BuildInfo(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    targets: list[str] | None
    mode: str
    engine: str | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    seconds: float | None = None
    message: str = ""
    runs: list[RecipeRunInfo] = Field(default_factory=list)


# ------------------------------------------------------------------ checks


class MetricResult(BaseModel):
    metric: str
    value: Any = Field(description="The value as JSON (a list of {value, count} for top_values).")
    shown: str = Field(description="The value as the CLI prints it.")


class CheckResult(BaseModel):
    check: str
    rule: str
    outcome: Literal["ok", "warning", "error"]
    severity: str
    expected: str
    got: str
    message: str


class ChecksReport(BaseModel):
    dataset: str
    outcome: Literal["ok", "warning", "error"]
    errors: int
    warnings: int
    checks: list[CheckResult]
    metrics: list[MetricResult]


# ------------------------------------------------------------------ Lab and saved models


class LabRun(BaseModel):
    run_id: str
    model: str
    status: str
    started_at: float
    finished_at: float | None
    version: int | None = Field(description="The saved model version this run produced.")
    metric: str
    higher_is_better: bool


class Trial(BaseModel):
    rank: int
    trial_id: int
    algorithm: str
    params: dict[str, Any]
    status: str
    rung: int
    fraction: float
    score: float | None
    seconds: float


class LeaderboardInfo(BaseModel):
    model: str
    run: LabRun | None
    metric: str
    higher_is_better: bool
    best: int | None = Field(description="The trial id of the best scored trial.")
    trials: list[Trial]


class ModelVersionInfo(BaseModel):
    name: str
    version: int
    created_at: float
    active: bool
    algorithm: str
    metric: str
    score: float | None
    metrics: dict[str, Any]
    input_schema: dict[str, str]


class ModelVersionDetail(ModelVersionInfo):
    record: dict[str, Any] = Field(description="The experiment record: data version, seed, params, trials...")


class SavedModel(BaseModel):
    name: str
    active_version: int | None
    versions: int
    algorithm: str | None = Field(description="Of the active version.")
    metric: str | None
    score: float | None


class SavedModelDetail(SavedModel):
    all_versions: list[ModelVersionInfo]


class ActivateRequest(RequestBody):
    version: int = Field(ge=1)


# ------------------------------------------------------------------ API services


class EndpointInfo(BaseModel):
    name: str
    type: str
    versions: list[str]
    workers: int
    batching: dict[str, float] | None


class ServiceInfo(BaseModel):
    name: str
    description: str
    endpoints: list[EndpointInfo]
    autoscaling: bool
    error: str | None = Field(default=None, description="Why the service file is invalid (null: valid).")


class ReplicaDecision(BaseModel):
    time: float
    replicas_before: int
    replicas_after: int
    ready: int
    metric: str
    value: float | None
    observed: float | None
    reason: str
    event: str | None
    panic: bool


class ServiceDetail(ServiceInfo):
    spec: dict[str, Any]
    status: dict[str, Any] | None = Field(description="The autoscaled node's last status file (null: never served).")
    decisions: list[ReplicaDecision] = Field(description="Replica history: the newest decisions, oldest first.")


# ------------------------------------------------------------------ scenarios


class ScenarioInfo(BaseModel):
    name: str
    description: str
    enabled: bool
    triggers: list[str]
    steps: list[str]
    params: dict[str, str] = Field(description="Manual parameters: name -> type.")
    error: str | None = Field(default=None, description="Why the scenario file is invalid (null: valid).")


class ScenarioAttempt(BaseModel):
    attempt: int
    outcome: str
    seconds: float
    message: str
    log: str
    started_at: float


class ScenarioStep(BaseModel):
    index: int
    step: str
    type: str
    outcome: str
    attempts: int
    seconds: float
    message: str
    started_at: float
    attempt_log: list[ScenarioAttempt]


class ScenarioRun(BaseModel):
    run_id: str
    scenario: str
    trigger: str
    params: dict[str, Any]
    outcome: str
    failed_step: str | None
    message: str
    started_at: float
    finished_at: float | None
    seconds: float | None
    steps: list[ScenarioStep] = Field(default_factory=list)


class ScenarioRunRequest(RequestBody):
    params: dict[str, JsonScalar] = Field(default_factory=dict, description="Manual parameters by name.")


class ScenarioRunStarted(BaseModel):
    run_id: str
    scenario: str
    status: Literal["running", "finished"]


# ------------------------------------------------------------------ drift


class EvaluationSummary(BaseModel):
    id: int
    model: str
    version: int
    created_at: float
    source: str
    data_version: str | None
    rows: int
    drift_score: float | None = Field(description="The domain classifier's AUC (null when not computed).")
    drifting_features: list[str]
    alarm: bool
    reasons: list[str]


class EvaluationDetail(EvaluationSummary):
    evaluation: dict[str, Any] = Field(description="The whole evaluation as stored.")

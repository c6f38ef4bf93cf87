"""Specs of ``api/<service>.yaml``: an API service, its endpoints, versions, keys, batching and limits.

Declaration only: nothing here opens a model, a connection or a socket (house style 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator

from tideflow.autoscaling.specs import AutoscalingSpec
from tideflow.errors import ProjectError, did_you_mean
from tideflow.project.yamlfile import read_yaml, register_tags, validate
from tideflow.recipes import Strict

API_DIR = "api"
FEATURE_TYPES = ("double", "integer", "string", "boolean", "date", "timestamp")
FeatureType = Literal["double", "integer", "string", "boolean", "date", "timestamp"]
ENDPOINT_TYPES = ("prediction", "function", "sql_query", "lookup")
register_tags(ENDPOINT_TYPES)


class ApiKeySpec(Strict):
    """One API key of the service. Its value comes from ``env`` or from ``secret`` in ``.tide/secrets.yaml``.
    ``admin: true`` lets it call the node's admin routes (``PUT /v1/admin/endpoints/{name}/workers``)."""

    name: str
    env: str | None = None
    secret: str | None = None
    admin: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeySpec:
        if (self.env is None) == (self.secret is None):
            raise ValueError("an API key needs exactly one of 'env' (environment variable) or 'secret'")
        return self


class BatchingSpec(Strict):
    """Adaptive micro-batching: a batch leaves when it holds ``max_batch_size`` rows or after ``max_wait_ms``."""

    max_batch_size: int = Field(default=32, ge=1, le=100_000)
    max_wait_ms: float = Field(default=2.0, ge=0, le=10_000)


class LimitsSpec(Strict):
    """Request size limits of the service."""

    max_body_bytes: int = Field(default=1_048_576, ge=64)
    max_records: int = Field(default=10_000, ge=1)


class QueryLogSpec(Strict):
    """Where inputs, outputs, version and latency of each request are appended (JSON lines, one file per day)."""

    enabled: bool = True
    path: str = ".tide/query_log"
    sample_rate: float = Field(default=1.0, ge=0, le=1)


MAX_WORKERS = 256  # worker processes per endpoint version, in the service file and at run time


class _EndpointBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    description: str = ""
    workers: int | None = Field(default=None, ge=0, le=MAX_WORKERS)
    batching: BatchingSpec | None = None
    sticky_key: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)

    def default_workers(self) -> int:
        return 1

    @property
    def num_workers(self) -> int:
        """Worker processes for this endpoint; 0 runs it inside the server process (I/O-bound endpoints)."""
        return self.default_workers() if self.workers is None else self.workers

    def version_labels(self) -> list[str]:
        return ["1"]

    def weights(self) -> list[float]:
        return [1.0]


class ModelVersionSpec(Strict):
    """One version of a prediction endpoint in an A/B split: a saved-model version and its traffic weight."""

    version: int = Field(ge=1)
    weight: float = Field(default=1.0, ge=0)


class PredictionEndpoint(_EndpointBase):
    """A saved model: its active version, a pinned ``version``, or several ``versions`` with weights."""

    type: Literal["prediction"]
    model: str
    version: int | None = Field(default=None, ge=1)
    versions: list[ModelVersionSpec] = Field(default_factory=list)
    output: Literal["auto", "predict", "proba"] = "auto"

    @model_validator(mode="after")
    def _check_versions(self) -> PredictionEndpoint:
        if self.version is not None and self.versions:
            raise ValueError("give either 'version' (pinned) or 'versions' (A/B split), not both")
        _check_weights([v.weight for v in self.versions], [str(v.version) for v in self.versions])
        return self

    def version_labels(self) -> list[str]:
        if self.versions:
            return [str(v.version) for v in self.versions]
        return [str(self.version) if self.version is not None else "active"]

    def weights(self) -> list[float]:
        return [v.weight for v in self.versions] if self.versions else [1.0]


class FunctionVersionSpec(Strict):
    """One version of a function endpoint: another function (and optionally file) with a traffic weight."""

    name: str
    function: str
    file: str | None = None
    weight: float = Field(default=1.0, ge=0)


class FunctionEndpoint(_EndpointBase):
    """A Python function ``function(records: list[dict]) -> list`` in ``file`` (relative to the project)."""

    type: Literal["function"]
    file: str
    function: str
    inputs: dict[str, FeatureType] | None = None
    allow_extra: bool = False
    versions: list[FunctionVersionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_versions(self) -> FunctionEndpoint:
        _check_weights([v.weight for v in self.versions], [v.name for v in self.versions])
        return self

    def version_labels(self) -> list[str]:
        return [v.name for v in self.versions] if self.versions else ["1"]

    def weights(self) -> list[float]:
        return [v.weight for v in self.versions] if self.versions else [1.0]

    def target(self, label: str) -> tuple[str, str]:
        """(file, function) of a version."""
        for v in self.versions:
            if v.name == label:
                return (v.file or self.file, v.function)
        return (self.file, self.function)


class SqlQueryEndpoint(_EndpointBase):
    """A read-only SELECT on a connection. ``:name`` placeholders are bound by the driver, never pasted."""

    type: Literal["sql_query"]
    connection: str | None = None
    query: str
    parameters: dict[str, FeatureType] = Field(default_factory=dict)
    max_rows: int = Field(default=1000, ge=1)

    def default_workers(self) -> int:
        return 0


class LookupEndpoint(_EndpointBase):
    """Rows of a dataset by key. The dataset is indexed in memory when the node starts."""

    type: Literal["lookup"]
    dataset: str
    key: list[str]
    columns: list[str] | None = None

    @field_validator("key", mode="before")
    @classmethod
    def _key_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def default_workers(self) -> int:
        return 0


EndpointSpec = Annotated[
    PredictionEndpoint | FunctionEndpoint | SqlQueryEndpoint | LookupEndpoint, Field(discriminator="type")
]


class ServiceSpec(Strict):
    """An API service: the file ``api/<name>.yaml``. ``name`` comes from the file name."""

    name: str = ""
    description: str = ""
    endpoints: list[EndpointSpec] = Field(min_length=1)
    default_endpoint: str | None = None
    api_keys: list[ApiKeySpec] = Field(default_factory=list)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    query_log: QueryLogSpec = Field(default_factory=QueryLogSpec)
    autoscaling: AutoscalingSpec | None = None  # issue 5: replicas and per-endpoint worker shares

    @model_validator(mode="after")
    def _check_names(self) -> ServiceSpec:
        names = [e.name for e in self.endpoints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"endpoint names must be unique, got {', '.join(map(repr, dupes))} more than once")
        if self.default_endpoint is not None and self.default_endpoint not in names:
            raise ValueError(f"default_endpoint {self.default_endpoint!r} is not an endpoint"
                             f"{did_you_mean(self.default_endpoint, names)}")
        keys = [k.name for k in self.api_keys]
        if len(set(keys)) != len(keys):
            raise ValueError("API key names must be unique")
        return self

    def endpoint(self, name: str) -> PredictionEndpoint | FunctionEndpoint | SqlQueryEndpoint | LookupEndpoint:
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def default(self) -> str:
        return self.default_endpoint or self.endpoints[0].name


def _check_weights(weights: list[float], labels: list[str]) -> None:
    if weights and sum(weights) <= 0:
        raise ValueError("the traffic weights of the versions must not all be 0")
    if len(set(labels)) != len(labels):
        raise ValueError(f"versions must be distinct, got {', '.join(labels)}")


_ADAPTER: TypeAdapter[ServiceSpec] = TypeAdapter(ServiceSpec)


def parse_service(data: Any, *, shown: str, name: str, lines: dict[Any, int] | None = None) -> ServiceSpec:
    """Validate already-parsed YAML of a service; errors name ``shown`` and the line."""
    if not isinstance(data, dict):
        raise ProjectError(f"expected a mapping of keys, got {type(data).__name__}", file=shown, line=1)
    if "name" in data and data["name"] != name:
        raise ProjectError(f"name {data['name']!r} differs from the file name {name!r}", file=shown,
                           line=(lines or {}).get(("name",)), key_path="name")
    spec: ServiceSpec = validate(ServiceSpec, {**data, "name": name}, shown=shown, lines=lines or {},
                                 vocabulary_of=ServiceSpec)
    return spec


def service_files(project_root: Path) -> dict[str, Path]:
    """Service name -> file, for every ``api/*.yaml`` of the project."""
    folder = project_root / API_DIR
    return {p.stem: p for p in sorted(folder.glob("*.y*ml"))} if folder.is_dir() else {}


def load_service(project_root: Path, name: str) -> ServiceSpec:
    """Read and validate ``api/<name>.yaml``."""
    files = service_files(project_root)
    if name not in files:
        raise ProjectError(f"no API service {name!r}{did_you_mean(name, files)} "
                           f"(services: {', '.join(files) or 'none'}; add api/{name}.yaml)")
    path = files[name]
    shown = f"{API_DIR}/{path.name}"
    data, lines = read_yaml(path, shown)
    return parse_service(data, shown=shown, name=name, lines=lines)

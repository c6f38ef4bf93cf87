"""The protocol-free core of the API node (house style 9, after MLServer's DataPlane).

``DataPlane.infer(endpoint, records, version=None, sticky=None)`` validates the records against the
version's input schema, picks the version (pinned, sticky or weighted), scores through the version's
micro-batcher and worker pool, appends to the query log and returns an ``InferenceResult``. It knows
nothing of HTTP: protocols in ``serving/protocols`` translate to and from it.

Run-time control for autoscaling (issue 5): ``resize(endpoint, n)`` changes an endpoint's worker pools
while serving, ``stats()`` returns a snapshot of load (in-flight, batches, busy seconds) per endpoint.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tideflow.errors import did_you_mean
from tideflow.serving.batching import MicroBatcher
from tideflow.serving.errors import UnknownEndpoint
from tideflow.serving.inputs import validate_records
from tideflow.serving.metrics import NodeMetrics
from tideflow.serving.querylog import QueryLog
from tideflow.serving.runners import RunnerTarget, build_runner, model_inputs
from tideflow.serving.specs import (
    MAX_WORKERS,
    EndpointSpec,
    FunctionEndpoint,
    PredictionEndpoint,
    ServiceSpec,
    SqlQueryEndpoint,
)
from tideflow.serving.traffic import TrafficSplit
from tideflow.serving.workers import InlinePool, PoolStats, WorkerPool


@dataclass(frozen=True)
class InferenceResult:
    endpoint: str
    version: str
    outputs: list[dict[str, Any]]
    latency_s: float
    request_id: str


@dataclass
class VersionState:
    label: str
    version: str
    input_schema: dict[str, str] | None
    pool: WorkerPool | InlinePool
    batcher: MicroBatcher | None = None
    missing_refused: frozenset[str] = frozenset()  # features whose null the model cannot score (422)


@dataclass
class EndpointState:
    spec: EndpointSpec
    split: TrafficSplit
    versions: dict[str, VersionState] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.type


class DataPlane:
    """Endpoints of one API service. ``await start()`` inside the serving loop, ``await close()`` at the end."""

    def __init__(self, project_root: Path, spec: ServiceSpec, *, workers: int | None = None,
                 metrics: NodeMetrics | None = None, start_method: str = "spawn") -> None:
        self.root = Path(project_root)
        self.spec = spec
        self.workers_override = workers
        self.metrics = metrics
        self.start_method = start_method
        self.endpoints: dict[str, EndpointState] = {}
        self.query_log: QueryLog | None = None
        if spec.query_log.enabled:
            self.query_log = QueryLog(self.root / spec.query_log.path, spec.name,
                                      sample_rate=spec.query_log.sample_rate)
        self._workspace: Any = None
        self._started_workers: dict[str, int] = {}  # endpoint -> worker processes per version at start

    # ------------------------------------------------------------------ life cycle

    def _workspace_of(self) -> Any:
        if self._workspace is None:
            from tideflow.flow import Workspace
            from tideflow.project import load_project

            self._workspace = Workspace(load_project(self.root))
        return self._workspace

    async def start(self) -> None:
        """Build every endpoint version: resolve schemas, start worker pools (models load in the workers)."""
        for spec in self.spec.endpoints:
            state = EndpointState(spec, TrafficSplit.of(spec.version_labels(), spec.weights()))
            n = spec.num_workers if self.workers_override is None or spec.num_workers == 0 else self.workers_override
            self._started_workers[spec.name] = n
            for label in spec.version_labels():
                target = RunnerTarget(str(self.root), self.spec.name, spec.name, label)
                pool: WorkerPool | InlinePool
                if n == 0:
                    # a sql_query shares the plane's workspace (its connections stay open while serving); a
                    # lookup opens its own and closes it once its index is built (no lock on the warehouse)
                    shared = isinstance(spec, SqlQueryEndpoint)
                    runner = build_runner(target, workspace=self._workspace_of() if shared else None)
                    pool = InlinePool(runner, endpoint=spec.name, threaded=isinstance(spec, SqlQueryEndpoint))
                    version, schema = runner.version, runner.input_schema
                    refused: frozenset[str] = getattr(runner, "missing_refused", frozenset())
                else:
                    version, schema, refused = label, None, frozenset()
                    if isinstance(spec, PredictionEndpoint):
                        number, schema, refused = model_inputs(self.root / ".tide", spec.model,
                                                               None if label == "active" else int(label))
                        version = str(number)
                    elif isinstance(spec, FunctionEndpoint):
                        schema = dict(spec.inputs) if spec.inputs is not None else None
                    pool = WorkerPool(target, n, start_method=self.start_method, on_change=self._publish_workers)
                vs = VersionState(label, version, schema, pool, missing_refused=refused)
                if spec.batching is not None:
                    vs.batcher = MicroBatcher(pool, max_batch_size=spec.batching.max_batch_size,
                                              max_wait_ms=spec.batching.max_wait_ms,
                                              on_batch=self._batch_observer(spec.name))
                state.versions[label] = vs
                state.aliases[version] = label
                state.aliases[label] = label
            self.endpoints[spec.name] = state
        if self.query_log is not None:
            self.query_log.start()
        self._publish_workers()

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        for state in self.endpoints.values():
            for vs in state.versions.values():
                await vs.pool.wait_ready(timeout_s)

    @property
    def ready(self) -> bool:
        return bool(self.endpoints) and all(vs.pool.ready for s in self.endpoints.values()
                                            for vs in s.versions.values())

    async def close(self) -> None:
        for state in self.endpoints.values():
            for vs in state.versions.values():
                if vs.batcher is not None:
                    await vs.batcher.close()
                await vs.pool.close()
        if self.query_log is not None:
            await self.query_log.close()
        if self._workspace is not None:
            workspace, self._workspace = self._workspace, None
            workspace.close()

    # ------------------------------------------------------------------ scoring

    def endpoint(self, name: str) -> EndpointState:
        state = self.endpoints.get(name)
        if state is None:
            raise UnknownEndpoint(f"no endpoint {name!r}{did_you_mean(name, self.endpoints)} in API service "
                                  f"{self.spec.name!r} (endpoints: {', '.join(self.endpoints)})")
        return state

    def version_of(self, state: EndpointState, version: str) -> VersionState:
        """The version ``version`` (a version number or label) of an endpoint; ``UnknownEndpoint`` (404) if none."""
        label = state.aliases.get(str(version))
        if label is None:
            raise UnknownEndpoint(f"endpoint {state.spec.name!r} has no version {version!r} "
                                  f"(versions: {', '.join(vs.version for vs in state.versions.values())})")
        return state.versions[label]

    def choose(self, state: EndpointState, records: Any, version: str | None, sticky: object | None) -> VersionState:
        if version is not None:
            return self.version_of(state, version)
        if sticky is None and state.spec.sticky_key and isinstance(records, list) and records \
                and isinstance(records[0], dict):
            sticky = records[0].get(state.spec.sticky_key)
        return state.versions[state.split.choose(sticky)]

    async def infer(self, endpoint: str, records: Any, *, version: str | None = None,
                    sticky: object | None = None) -> InferenceResult:
        """Score ``records`` (a list of objects of features by name) on ``endpoint``."""
        started = time.perf_counter()
        state = self.endpoint(endpoint)
        vs = self.choose(state, records, version, sticky)
        allow_extra = isinstance(state.spec, FunctionEndpoint) and state.spec.allow_extra
        clean = validate_records(records, vs.input_schema, max_records=self.spec.limits.max_records,
                                 allow_extra=allow_extra, routing=state.spec.sticky_key,
                                 missing_refused=vs.missing_refused)
        outputs = await (vs.batcher.submit(clean) if vs.batcher is not None else vs.pool(clean))
        latency_s = time.perf_counter() - started
        request_id = os.urandom(8).hex()  # 16 hex digits, as uuid4().hex[:16] gave, for a fraction of the cost
        if self.metrics is not None:
            self.metrics.records(endpoint, vs.version).inc(len(clean))
            if vs.batcher is None:
                self.metrics.batch_size(endpoint).observe(len(clean))
        if self.query_log is not None:
            self.query_log.append({"ts": time.time(), "request_id": request_id, "endpoint": endpoint,
                                   "version": vs.version, "inputs": clean, "outputs": outputs,
                                   "latency_ms": round(latency_s * 1000, 3)})
        return InferenceResult(endpoint, vs.version, outputs, latency_s, request_id)

    # ------------------------------------------------------------------ run-time control (autoscaling)

    def resize(self, endpoint: str, workers: int) -> None:
        """Set the worker processes of every version of ``endpoint`` to ``workers``, without dropping a request."""
        for vs in self.endpoint(endpoint).versions.values():
            vs.pool.resize(workers)

    def worker_limit(self, endpoint: str) -> int:
        """The most worker processes per version a run-time ``resize`` of ``endpoint`` may ask for: the
        ``max_workers`` of its share (``autoscaling.share``) when set, else 4 per CPU; never fewer than it
        started with, never more than ``MAX_WORKERS`` (256)."""
        self.endpoint(endpoint)
        share = self.spec.autoscaling.share.bounds(endpoint)[1] if self.spec.autoscaling is not None else None
        limit = share if share is not None else 4 * (os.cpu_count() or 1)
        return min(MAX_WORKERS, max(limit, self._started_workers.get(endpoint, 1)))

    def stats(self) -> dict[str, dict[str, PoolStats]]:
        """Endpoint -> version -> pool snapshot (in-flight, ready/draining workers, batches, busy seconds)."""
        return {name: {vs.version: vs.pool.stats() for vs in s.versions.values()} for name, s in self.endpoints.items()}

    def describe(self, endpoint: str, version: str | None = None) -> dict[str, Any]:
        """Type, versions, input schema and readiness of an endpoint (for metadata routes and OpenAPI);
        of that one version when ``version`` is given (``UnknownEndpoint`` if it has none such).
        ``missing_refused``: the features for which a version described refuses ``null``."""
        state = self.endpoint(endpoint)
        versions = list(state.versions.values()) if version is None else [self.version_of(state, version)]
        refused = set().union(*(vs.missing_refused for vs in versions))
        inputs = versions[0].input_schema
        return {"name": endpoint, "type": state.kind, "description": state.spec.description,
                "versions": [vs.version for vs in versions], "inputs": inputs,
                "missing_refused": [n for n in inputs or {} if n in refused],
                "ready": all(vs.pool.ready for vs in versions)}

    def _batch_observer(self, endpoint: str) -> Any:
        metrics = self.metrics
        if metrics is None:
            return None
        child = metrics.batch_size(endpoint)
        return child.observe

    def _publish_workers(self) -> None:
        if self.metrics is None:
            return
        for name, versions in self.stats().items():
            totals = {"target": 0, "starting": 0, "ready": 0, "draining": 0}
            busy = 0.0
            for s in versions.values():
                totals["target"] += s.target
                totals["starting"] += s.starting
                totals["ready"] += s.ready if s.target else 0
                totals["draining"] += s.draining
                busy += s.busy_s
            for state_name, value in totals.items():
                self.metrics.workers(name, state_name).set(value)
            self.metrics.busy(name).set(busy)

"""The API node's HTTP app (Starlette) and its uvicorn server (uvloop + httptools, 127.0.0.1).

Routes are thin: authenticate, read the body within the limit, call a protocol adapter, answer JSON.
``serving.responses.error_response`` is the one place where the error tree becomes HTTP status codes.
Native predictions take the fast path in front of Starlette (``serving.fastpath``).

Reload (``serving.noderecord``): ``ApiNode.reload()`` builds a new data plane from the project root as
it is now (worker pools started, models loaded), switches new requests to it, and closes the old one
once the requests it holds are answered. ``serve(..., record=PATH)`` writes the node record and
reloads on SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tideflow.errors import TideflowError
from tideflow.serving import errors as E
from tideflow.serving.dataplane import DataPlane
from tideflow.serving.fastpath import FastPredict
from tideflow.serving.keys import KeyChecker, presented_key
from tideflow.serving.metrics import NodeMetrics
from tideflow.serving.noderecord import NODE_PATH, NodeRecorder, ReloadLoop
from tideflow.serving.openapi import openapi_document
from tideflow.serving.protocols import mlflow, native, parse_json, v2
from tideflow.serving.responses import error_response, json_response, read_body
from tideflow.serving.specs import ServiceSpec, load_service, service_files

log = logging.getLogger("tideflow.serving")


async def _error_handler(request: Request, exc: Exception) -> Response:
    return error_response(request, exc)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no route, wrong method) in the node's JSON error body, flat on /v2."""
    assert isinstance(exc, HTTPException)
    route = f"{request.method} {request.url.path}"
    error: Exception
    if exc.status_code == 404:
        error = E.UnknownRoute(f"no route {route} on this API node (routes: /openapi.json)")
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow")
        error = E.MethodNotAllowed(f"{route} is not allowed (allowed: {allow or 'none'})", allow=allow)
    else:
        return json_response({"error": {"type": "HTTPError", "message": str(exc.detail)}}, exc.status_code)
    return error_response(request, error, flat=request.url.path.startswith("/v2"))


class ApiNode:
    """One API service behind HTTP: dataplane, keys, metrics, routes."""

    def __init__(self, project_root: Path, spec: ServiceSpec, *, workers: int | None = None,
                 others: list[ServiceSpec] | None = None, start_method: str = "spawn",
                 source_root: Path | None = None, recorder: NodeRecorder | None = None) -> None:
        self.spec = spec
        self.metrics = NodeMetrics(spec.name)
        self.keys = KeyChecker.for_service(project_root, spec, others or [])
        self.plane = DataPlane(project_root, spec, workers=workers, metrics=self.metrics, start_method=start_method)
        self.max_body = spec.limits.max_body_bytes
        self.names = {e.name for e in spec.endpoints}
        # reload: the root as given (a link such as ``active/project`` is followed again at each reload)
        self.source_root = Path(source_root) if source_root is not None else Path(project_root)
        self.workers_override = workers
        self.start_method = start_method
        self.recorder = recorder
        self.share: Any = None
        self._using: dict[int, int] = {}  # id(plane) -> requests it is answering
        self._share_stop: asyncio.Event | None = None
        self._share_task: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ helpers

    def auth(self, request: Request) -> None:
        headers = request.headers
        self.keys.check(presented_key(headers.get("authorization"), headers.get("x-api-key")))

    async def body(self, request: Request) -> bytes:
        return await read_body(request.headers.get("content-length"), request.stream(), self.max_body)

    async def scored(self, request: Request, protocol: str, endpoint: str,
                     call: Callable[[DataPlane, bytes], Awaitable[dict[str, Any]]]) -> Response:
        """A scoring route on Starlette (the v2 and MLflow protocols)."""
        headers = request.headers
        payload, error = await self.score(protocol, endpoint, headers.get("authorization"), headers.get("x-api-key"),
                                          lambda: self.body(request), call)
        return json_response(payload) if error is None else error

    async def score(self, protocol: str, endpoint: str, authorization: str | None, api_key: str | None,
                    body: Callable[[], Awaitable[bytes]],
                    call: Callable[[DataPlane, bytes], Awaitable[dict[str, Any]]]) -> tuple[Any, Response | None]:
        """Auth, body, adapter, metrics: (the payload, None) or (None, the error's answer), errors through
        ``error_response``. The request keeps the data plane it started on (a reload waits for it before
        closing that plane)."""
        label = endpoint if endpoint in self.names else "_unknown"
        started = time.perf_counter()
        gauge = self.metrics.in_flight(label)
        gauge.inc()
        plane = self.plane
        self._using[id(plane)] = self._using.get(id(plane), 0) + 1
        payload: Any = None
        error: Response | None = None
        try:
            self.keys.check(presented_key(authorization, api_key))
            payload = await call(plane, await body())
        except Exception as exc:
            error = error_response(None, exc, flat=protocol == "v2")
        finally:
            gauge.dec()
            self._using[id(plane)] -= 1
        self.metrics.requests(label, protocol, "200" if error is None else str(error.status_code)).inc()
        self.metrics.latency(label, protocol).observe(time.perf_counter() - started)
        return payload, error

    # ------------------------------------------------------------------ routes

    async def native_predict(self, request: Request) -> Response:
        """The native route on Starlette: ``FastPredict`` answers every POST before it; this one gives
        other methods their 405 and serves an app mounted without ``FastPredict``."""
        name = request.path_params["name"]
        q = request.query_params if request.scope.get("query_string") else {}
        return await self.scored(request, "native", name, lambda plane, body: native.predict(
            plane, name, body, version=q.get("version"), sticky=q.get("sticky")))

    async def v2_infer(self, request: Request) -> Response:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        header = request.headers.get(v2.HEADER_LENGTH)
        return await self.scored(request, "v2", name, lambda plane, body: v2.infer(plane, name, body, header, version))

    async def v2_model(self, request: Request) -> Response:
        try:
            self.auth(request)
            params = request.path_params
            return json_response(v2.metadata(self.plane, params["name"], params.get("version")))
        except Exception as exc:
            return error_response(request, exc, flat=True)

    async def v2_model_ready(self, request: Request) -> Response:
        try:
            self.auth(request)
            params = request.path_params
            ready = self.plane.describe(params["name"], params.get("version"))["ready"]
            return Response(status_code=200 if ready else 503)
        except Exception as exc:
            return error_response(request, exc, flat=True)

    async def mlflow_invocations(self, request: Request) -> Response:
        name = request.path_params.get("name", self.spec.default)
        return await self.scored(request, "mlflow", name,
                                 lambda plane, body: mlflow.invocations(plane, name, body))

    async def list_endpoints(self, request: Request) -> Response:
        try:
            self.auth(request)
            described = [self.plane.describe(n) for n in self.plane.endpoints]
            return json_response({"service": self.spec.name, "endpoints": described})
        except Exception as exc:
            return error_response(request, exc)

    async def resize(self, request: Request) -> Response:
        """``PUT /v1/admin/endpoints/{name}/workers`` with ``{"workers": n}``: resize while serving. Needs a
        key with ``admin: true``; ``n`` from 1 to ``DataPlane.worker_limit(name)``."""
        try:
            headers = request.headers
            self.keys.check_admin(presented_key(headers.get("authorization"), headers.get("x-api-key")))
            name = request.path_params["name"]
            limit = self.plane.worker_limit(name)
            data = parse_json(await self.body(request))
            n = data.get("workers") if isinstance(data, dict) else None
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= limit:
                got = repr(n) if len(repr(n)) <= 40 else repr(n)[:37] + "..."
                raise E.InvalidInput(f"expected an integer from 1 to {limit} (the most worker processes per "
                                     f"version of endpoint {name!r}), got {got}", field="workers")
            try:
                self.plane.resize(name, n)
            except ValueError as err:
                raise E.BadRequest(str(err)) from None
            return json_response({"endpoint": name, "workers": n})
        except Exception as exc:
            return error_response(request, exc)

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        ready = self.plane.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def v2_server(self, request: Request) -> Response:
        return json_response({"name": "tideflow", "version": "0.1.0", "extensions": ["binary_tensor_data"]})

    async def metrics_route(self, request: Request) -> Response:
        self.plane._publish_workers()
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        return json_response(openapi_document(self.spec, {n: self.plane.describe(n) for n in self.plane.endpoints}))

    async def node_info(self, request: Request) -> Response:
        """``GET /v1/node``: the node record (pid, release, generation, last reload); nothing secret."""
        if self.recorder is None:
            return json_response({"service": self.spec.name, "pid": os.getpid(), "mode": "single", "reload": None})
        return json_response(self.recorder.info())

    # ------------------------------------------------------------------ reload

    def _start_share(self) -> None:
        # --- issue 5: the share policy moves this node's workers between its endpoints by their load ---
        from tideflow.serving.replicas import share_controller

        self.share = share_controller(self.plane, self.spec)
        self._share_stop, self._share_task = asyncio.Event(), None
        if self.share is not None:
            self._share_task = asyncio.ensure_future(self.share.run(self._share_stop))
        # --- end issue 5 ---

    async def _stop_share(self) -> None:
        if self._share_stop is not None:
            self._share_stop.set()
        if self._share_task is not None:
            await self._share_task
        self._share_stop, self._share_task = None, None

    async def reload(self, ready_timeout_s: float = 300.0) -> tuple[str, str]:
        """Serve what ``source_root`` holds now: new data plane first, then switch, then drain the old one.

        Returns (the project root now served, a sentence). On any error the old plane keeps serving.
        """
        root = Path(os.path.realpath(self.source_root))
        spec = load_service(root, self.spec.name)
        keys = KeyChecker.for_service(root, spec, _other_services(root, spec.name))
        plane = DataPlane(root, spec, workers=self.workers_override, metrics=self.metrics,
                          start_method=self.start_method)
        try:
            await plane.start()
            await plane.wait_ready(ready_timeout_s)
        except BaseException:
            await plane.close()
            raise
        old, old_spec = self.plane, self.spec
        await self._stop_share()
        self.plane, self.spec, self.keys = plane, spec, keys
        self.max_body, self.names = spec.limits.max_body_bytes, {e.name for e in spec.endpoints}
        self._start_share()
        deadline = time.monotonic() + max(e.timeout_s for e in old_spec.endpoints) + 5
        while self._using.get(id(old), 0) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await old.close()
        self._using.pop(id(old), None)
        versions = ", ".join(f"{name} v{'/'.join(vs.version for vs in state.versions.values())}"
                             for name, state in plane.endpoints.items())
        return str(root), f"serving {root} ({versions})"

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.plane.start()
        self._start_share()
        reloads = ReloadLoop(self.reload, self.recorder) if self.recorder is not None else None
        if reloads is not None:
            reloads.start()
        try:
            yield
        finally:
            if reloads is not None:
                await reloads.stop()
            await self._stop_share()
            await self.plane.close()

    def app(self) -> ASGIApp:
        """The node's ASGI app: native predictions first (``native_asgi``), everything else through Starlette."""
        routes = [
            Route("/v1/endpoints/{name}/predict", self.native_predict, methods=["POST"]),
            Route("/v2/models/{name}/infer", self.v2_infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}/infer", self.v2_infer, methods=["POST"]),
            Route("/v2/models/{name}", self.v2_model, methods=["GET"]),
            Route("/v2/models/{name}/versions/{version}", self.v2_model, methods=["GET"]),
            Route("/v2/models/{name}/ready", self.v2_model_ready, methods=["GET"]),
            Route("/v2/models/{name}/versions/{version}/ready", self.v2_model_ready, methods=["GET"]),
            Route("/v2/health/live", self.healthz, methods=["GET"]),
            Route("/v2/health/ready", self.readyz, methods=["GET"]),
            Route("/v2", self.v2_server, methods=["GET"]),
            Route("/invocations", self.mlflow_invocations, methods=["POST"]),
            Route("/v1/endpoints/{name}/invocations", self.mlflow_invocations, methods=["POST"]),
            Route("/v1/endpoints", self.list_endpoints, methods=["GET"]),
            Route("/v1/admin/endpoints/{name}/workers", self.resize, methods=["PUT"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_route, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route(NODE_PATH, self.node_info, methods=["GET"]),
        ]
        handlers = {Exception: _error_handler, HTTPException: _http_error_handler}
        return FastPredict(self, Starlette(routes=routes, lifespan=self.lifespan, exception_handlers=handlers))




def _other_services(root: Path, service: str) -> list[ServiceSpec]:
    others = []
    for name in service_files(root):
        if name != service:
            with contextlib.suppress(TideflowError):
                others.append(load_service(root, name))
    return others


def create_app(project_root: str | Path, service: str, *, workers: int | None = None,
               start_method: str = "spawn") -> ASGIApp:
    """The Starlette app of ``api/<service>.yaml``; worker pools start with the app's lifespan."""
    root = Path(project_root).resolve()
    spec = load_service(root, service)
    return ApiNode(root, spec, workers=workers, others=_other_services(root, service), start_method=start_method).app()


def serve(project_root: str | Path, service: str, *, port: int = 8080, workers: int | None = None,
          host: str = "127.0.0.1", record: Path | None = None) -> None:
    """Run the API node on 127.0.0.1:``port`` until interrupted (uvloop + httptools, no access log).

    ``host`` (issue 5): 0.0.0.0 only inside a container (``tide api manifest``), where the pod's network
    is the boundary. ``record``: write the node record there and reload on SIGHUP (``serving.noderecord``);
    ``project_root`` is then followed again at each reload (it may be an API node's ``active`` link)."""
    import uvicorn

    source = Path(project_root).absolute()
    root = Path(os.path.realpath(source))
    spec = load_service(root, service)
    recorder = None
    if record is not None:
        recorder = NodeRecorder(Path(record), spec.name, f"http://127.0.0.1:{port}", "single", source, str(root))
    node = ApiNode(root, spec, workers=workers, others=_other_services(root, service), source_root=source,
                   recorder=recorder)
    config = uvicorn.Config(node.app(), host=host, port=port, loop="uvloop", http="httptools", access_log=False,
                            proxy_headers=False,  # no client address is used: skip X-Forwarded-* parsing
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=30)
    import gc

    gc.collect()
    gc.freeze()  # imported modules live as long as the process: full collections skip them (tail latency)
    try:
        uvicorn.Server(config).run()
    finally:
        gc.unfreeze()  # a normal collection at exit (extension modules check for leaks then)

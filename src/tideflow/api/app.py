"""``create_app(project_root, api_keys=...)``: the platform REST API over one project.

Every route but ``/healthz`` needs an ``X-API-Key`` header holding one of the platform's keys
(``api_keys``, or the comma-separated environment variable ``TIDE_PLATFORM_KEYS``). Keys are
compared in constant time and never logged. Errors of any route go through one handler
(``tideflow.api.errors``); the OpenAPI schema is at ``/openapi.json``, the docs at ``/docs``.

The web UI (``tideflow/api/web``: static HTML, CSS and JavaScript modules, no build step) is served at
``/ui/`` without a key: its files hold no data, and the page asks for a key and sends it with every
call. A strict Content-Security-Policy allows only the UI's own files.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tideflow.api.builds import BuildManager
from tideflow.api.context import Platform
from tideflow.api.errors import (
    ERROR_RESPONSES,
    ErrorBody,
    TideflowRoute,
    Unauthorized,
    UnknownParameter,
    handle_error,
    handle_validation_error,
)
from tideflow.api.gate import Gate
from tideflow.api.schemas import Health
from tideflow.errors import ProjectError, TideflowError
from tideflow.project import load_project

KEYS_ENV = "TIDE_PLATFORM_KEYS"
API_KEY_HEADER = "X-API-Key"
WEB_DIR = Path(__file__).with_name("web")
#: Only the UI's own files; no inline script or style, no framing (clickjacking), no other origin.
UI_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
                        description=f"One of the platform's keys (env {KEYS_ENV}).")


def keys_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """The keys in ``TIDE_PLATFORM_KEYS`` (comma-separated; blanks ignored)."""
    raw = (environ if environ is not None else os.environ).get(KEYS_ENV, "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def key_matches(keys: tuple[bytes, ...], given: str | None) -> bool:
    """Whether ``given`` is one of ``keys``, compared in constant time with every key (no early exit to time)."""
    raw = (given or "").encode("utf-8", "surrogateescape")
    matched = False
    for known in keys:
        matched |= hmac.compare_digest(raw, known)
    return matched and bool(given)


def key_problem(keys: tuple[bytes, ...], given: str | None) -> str | None:
    """Why the key ``given`` is refused (None: accepted)."""
    if not given:
        return f"missing the {API_KEY_HEADER} header: send one of the platform's API keys"
    if not key_matches(keys, given):
        return f"the {API_KEY_HEADER} header holds an unknown key"
    return None


def check_key(request: Request, key: Annotated[str | None, Depends(_api_key)]) -> None:
    """The dependency of every protected route: 401 unless ``X-API-Key`` is one of the keys.

    ``_Gate`` has already refused such requests before reading their body; this keeps the routes safe
    (and the OpenAPI schema right) without it."""
    problem = key_problem(request.app.state.api_keys, key)
    if problem:
        raise Unauthorized(problem)


def _query_names(dependant: Any) -> set[str]:
    names = {f.alias for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def check_query(request: Request) -> None:
    """The dependency that refuses query parameters the route does not declare (with the nearest one)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _query_names(route.dependant)
    for name in request.query_params:
        if name not in allowed:
            raise UnknownParameter("query parameter", name, sorted(allowed))


def create_app(project_root: str | Path, *, api_keys: Iterable[str] | None = None) -> FastAPI:
    """The REST API over the project at ``project_root``.

    ``api_keys``: the accepted keys (default: ``TIDE_PLATFORM_KEYS``). At least one is required: a
    platform that can start builds and scenarios is never served without authentication.
    """
    from tideflow.api import routes_flow, routes_models, routes_ops

    root = Path(project_root).resolve()
    load_project(root)  # a bad project fails here, before the server starts
    keys = [k for k in (api_keys if api_keys is not None else keys_from_env()) if k]
    if not keys:
        raise ProjectError(f"no API keys: set {KEYS_ENV}=key1,key2 (or pass api_keys) to serve the platform API")
    app = FastAPI(
        title="Tideflow platform API",
        version="1",
        description="Datasets, recipes, builds, checks, the Lab, saved models, API services, scenarios and drift "
                    f"of one Tideflow project. Send `{API_KEY_HEADER}` with every request but `/healthz`.",
    )
    app.state.platform = Platform(root=root, builds=BuildManager(root))
    app.state.api_keys = tuple(k.encode("utf-8", "surrogateescape") for k in keys)
    app.add_exception_handler(TideflowError, handle_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness; needs no key."""
        return Health()

    protected = APIRouter(route_class=TideflowRoute, dependencies=[Depends(check_key), Depends(check_query)],
                          responses=ERROR_RESPONSES)
    for module in (routes_flow, routes_models, routes_ops):
        protected.include_router(module.router)
    app.include_router(protected)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", _WebFiles(directory=WEB_DIR, html=True), name="ui")
    # Outermost: the key and the body's size and JSON are checked before any route reads the body
    app.add_middleware(Gate, keys=app.state.api_keys, key_problem=key_problem)
    return app


class _WebFiles(StaticFiles):
    """The UI's static files, each answered with ``UI_HEADERS``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(UI_HEADERS)
        return response


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 415: "unsupported_media_type"}


async def _http_error(request: Request, error: Exception) -> Response:
    """Framework errors (no route, wrong method, a body that is not JSON) answer ``ErrorBody`` too.

    On 405 the ``Allow`` header lists every method of the path: Starlette lists those of the first
    route whose path matched, and ``GET /builds`` and ``POST /builds`` are two routes.
    """
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover - registered for that class only
        return await handle_error(request, error)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        methods = sorted({m for route in request.app.router.routes if isinstance(route, APIRoute)
                          and route.path_regex.match(request.url.path) for m in route.methods or ()})
        headers["Allow"] = ", ".join(methods)
    body = ErrorBody(error=_HTTP_CODES.get(error.status_code, "http_error"), message=str(error.detail))
    return JSONResponse(status_code=error.status_code, content=body.model_dump(), headers=headers or None)


def platform_of(app: FastAPI) -> Platform:
    """The ``Platform`` of an app made by ``create_app`` (tests wait on its builds and jobs)."""
    found: Platform = app.state.platform
    return found

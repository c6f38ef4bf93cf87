"""The one place where Tideflow's exception tree becomes HTTP statuses (house style 8).

    TideflowError                       (tideflow.errors; the tree is documented there)
    ├── ProjectError ............ 400   a project file or a request names something invalid
    │   └── UnknownName ......... 404   (this module) a name (in the path, query or body) is not known;
    │                                     ``suggestion`` holds the nearest valid name
    │       └── UnknownParameter  400   (this module) a query parameter the route does not take
    ├── ExpressionError ......... 400
    ├── UnsupportedPushdown ..... 400
    ├── ConnectionError_ ........ 503   a database or file cannot be reached (retry later)
    ├── ScenarioBusy ............ 409   (tideflow.automation) the scenario is already running
    ├── ChecksFailed ............ 409   (tideflow.checks) an error-level check rejected the data
    ├── Unauthorized ............ 401   (this module) no ``X-API-Key`` or an unknown one
    ├── MissingExtraError ....... 501   an optional dependency is missing (the message has the pip command)
    └── anything else ........... 500   with an ``error_id``; the traceback stays in the server log

Every error answers ``ErrorBody`` (JSON): ``error`` (a stable code), ``message`` (the error's own
sentence: what, where, expected, got), ``suggestion`` (the nearest valid name, or null) and
``error_id`` (for 500s: the id to look for in the server log).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from tideflow.errors import (
    ConnectionError_,
    ExpressionError,
    MissingExtraError,
    ProjectError,
    TideflowError,
    UnsupportedPushdown,
    nearest,
)

log = logging.getLogger("tideflow.api")


class ErrorBody(BaseModel):
    """What every error response holds."""

    error: str = Field(description="A stable code: bad_request, not_found, unauthorized, conflict, unavailable, "
                                   "not_implemented, internal.")
    message: str = Field(description="What went wrong, where, what was expected and what was got.")
    suggestion: str | None = Field(default=None, description="The nearest valid name, when a name was unknown.")
    error_id: str | None = Field(default=None, description="For internal errors: the id logged with the traceback.")


class UnknownName(ProjectError):
    """A dataset, recipe, model, service, scenario, build or run that does not exist.

    ``suggestion`` is the nearest known name (or None). Always 404, wherever the name was given: a
    request that names nothing unknown is never answered 404 and one that does always is.
    """

    def __init__(self, kind: str, name: object, known: Iterable[object], *, hint: str = "",
                 message: str | None = None) -> None:
        names = [str(k) for k in known]
        self.kind = kind
        self.name = str(name)
        self.suggestion = nearest(self.name, names)
        text = f"unknown {kind} {self.name!r}"
        if self.suggestion:
            text += f": did you mean {self.suggestion!r}?"
        listing = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        text += f" (known: {listing or 'none'})"
        if hint:
            text += f"; {hint}"
        super().__init__(message or text)


class UnknownParameter(UnknownName):
    """A query parameter the route does not take (a typo like ``?limt=5`` is refused, not ignored)."""


class Unauthorized(TideflowError):
    """No ``X-API-Key`` header, or a key that is not one of the platform's keys."""


def require(kind: str, name: str, known: Iterable[str], *, hint: str = "") -> str:
    """``name`` when it is in ``known``; else ``UnknownName`` with the nearest valid name."""
    names = list(known)
    if name not in names:
        raise UnknownName(kind, name, names, hint=hint)
    return name


def _is_connection_failure(error: BaseException) -> bool:
    """Driver errors that mean "cannot reach the database" when a layer below did not wrap them."""
    name = type(error).__name__
    module = type(error).__module__ or ""
    if module.startswith("psycopg") and name in ("OperationalError", "ConnectionTimeout"):
        return True
    return module.startswith("duckdb") and name in ("IOException", "ConnectionException")


def classify(error: BaseException) -> tuple[int, ErrorBody]:
    """The status and body of ``error``: the mapping table of the REST API."""
    from tideflow.automation.scenarios_run import ScenarioBusy
    from tideflow.checks import ChecksFailed

    if isinstance(error, UnknownParameter):
        return 400, ErrorBody(error="bad_request", message=str(error), suggestion=error.suggestion)
    if isinstance(error, UnknownName):
        return 404, ErrorBody(error="not_found", message=str(error), suggestion=error.suggestion)
    if isinstance(error, Unauthorized):
        return 401, ErrorBody(error="unauthorized", message=str(error))
    if isinstance(error, ProjectError | ExpressionError | UnsupportedPushdown):
        return 400, ErrorBody(error="bad_request", message=str(error))
    if isinstance(error, ConnectionError_):
        return 503, ErrorBody(error="unavailable", message=str(error))
    if isinstance(error, ScenarioBusy | ChecksFailed):
        return 409, ErrorBody(error="conflict", message=str(error))
    if isinstance(error, MissingExtraError):
        return 501, ErrorBody(error="not_implemented", message=str(error))
    if _is_connection_failure(error):
        return 503, ErrorBody(error="unavailable", message=f"cannot reach the database: {error}".strip())
    error_id = uuid.uuid4().hex[:16]
    if isinstance(error, TideflowError):  # written for users: safe to show
        message = f"{error} (error id {error_id})"
    else:
        message = f"internal error (error id {error_id}): see the server log"
    return 500, ErrorBody(error="internal", message=message, error_id=error_id)


async def handle_error(request: Request, error: Exception) -> JSONResponse:
    """The one exception handler of the app. Unexpected errors are logged with their id and traceback
    (server side only); the client gets the id, never the traceback."""
    status, body = classify(error)
    if status >= 500 and body.error_id:
        log.error("%s %s failed (error id %s)", request.method, request.url.path, body.error_id, exc_info=error)
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """422 with FastAPI's body (``detail``: per problem, where, what was expected, what came), made
    strict JSON like every answer of the API (``jsonable``: a NaN echoed back is null), never a crash of the encoder."""
    from tideflow.api.context import jsonable

    problems = error.errors() if isinstance(error, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": jsonable(jsonable_encoder(problems))})


#: The error responses every protected route may answer (documented in the OpenAPI schema).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request or the project is invalid."},
    401: {"model": ErrorBody, "description": "No X-API-Key header, or an unknown key."},
    404: {"model": ErrorBody, "description": "Unknown name (the body suggests the nearest one)."},
    409: {"model": ErrorBody, "description": "Conflict: already running, or checks failed."},
    500: {"model": ErrorBody, "description": "Internal error, with an error id."},
    501: {"model": ErrorBody, "description": "An optional dependency is missing."},
    503: {"model": ErrorBody, "description": "A database or file cannot be reached."},
}


class TideflowRoute(APIRoute):
    """A route whose errors, from the endpoint or its dependencies, all go through ``handle_error``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except (HTTPException, RequestValidationError):
                raise
            except Exception as error:
                return await handle_error(request, error)

        return handler

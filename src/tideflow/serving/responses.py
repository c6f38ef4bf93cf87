"""HTTP answers of the API node: the one table from the error tree to status codes, JSON answers, and
request bodies read within the service's limit. Shared by the Starlette routes and the fast path."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tideflow.errors import TideflowError
from tideflow.serving import errors as E
from tideflow.serving.protocols import dumps

log = logging.getLogger("tideflow.serving")
JSON = "application/json"

# The one table from the error tree to HTTP (house style 8). Most specific class first.
STATUS: list[tuple[type[BaseException], int]] = [
    (E.InvalidJson, 400),
    (E.PayloadTooLarge, 413),
    (E.UnknownEndpoint, 404),
    (E.UnknownRoute, 404),
    (E.MethodNotAllowed, 405),
    (E.InvalidInput, 422),
    (E.BadRequest, 400),
    (E.Unauthorized, 401),
    (E.Forbidden, 403),
    (E.Unavailable, 503),
    (E.ModelError, 500),
]


def error_response(request: Request | None, exc: BaseException, *, flat: bool = False) -> Response:
    """Map any exception to an HTTP answer: 4xx for the client's mistakes, 5xx with an error id otherwise.

    The body is ``{"error": {"type", "message", "field"?, "error_id"?}}``; never a traceback. ``flat``
    gives the Open Inference Protocol's ``{"error": "<message>"}`` (what tritonclient reads).
    """
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), None)
    body: dict[str, Any] = {"type": type(exc).__name__}
    if status is None:
        error_id = uuid.uuid4().hex[:16]
        if isinstance(exc, TideflowError):
            log.error("error id %s: %s", error_id, exc)
            body["message"] = f"{exc} (error id {error_id})"
        else:
            log.error("error id %s: unexpected %s", error_id, type(exc).__name__, exc_info=exc)
            body = {"type": "InternalError", "message": f"internal error (error id {error_id})"}
        body["error_id"] = error_id
        status = 500
    else:
        body["message"] = str(exc)
        if isinstance(exc, E.InvalidInput) and exc.field is not None:
            body["field"] = exc.field
        if isinstance(exc, E.ModelError):
            body["error_id"] = exc.error_id
            log.error("error id %s: %s", exc.error_id, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, E.MethodNotAllowed) and exc.allow:
        headers = {"Allow": exc.allow}
    payload = {"error": body["message"] if flat else body}
    return Response(dumps(payload), status_code=status, media_type=JSON, headers=headers)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type=JSON)


async def read_body(length: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """A request body within ``limit`` bytes: refused early by its Content-Length, else while it streams."""
    if length is not None and length.isdigit() and int(length) > limit:
        raise E.PayloadTooLarge(f"the body of {length} bytes is over the limit of {limit} bytes")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise E.PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)

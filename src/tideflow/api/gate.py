"""``Gate``: what the platform API checks before any route reads a request's body.

A request to a protected path is answered here, with the usual ``ErrorBody``, when

- its ``X-API-Key`` is missing or unknown (401): nothing of the body is read or parsed first;
- its body is larger than ``MAX_BODY_BYTES`` (413), by its ``Content-Length`` or as it streams in;
- its body is declared JSON and is not strict JSON (400): broken syntax, invalid UTF-8, or ``NaN`` and
  ``Infinity``, which Python's parser would accept and no JSON client can send back.

Public paths (``/healthz``, the web UI's files, the OpenAPI schema and its docs) pass untouched. The
route's own ``check_key`` dependency still runs: this is the first line, not the only one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tideflow.api.errors import ErrorBody

MAX_BODY_BYTES = 1 << 20  # the API's bodies are small: a build request, a version, scenario parameters
PUBLIC_PATHS = frozenset({"/", "/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path == "/ui" or path.startswith("/ui/")


def _not_json_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number (send null for a missing value)")


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON (None: it is)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the body is not UTF-8: byte {error.start} is {body[error.start:error.start + 1]!r}"
    try:
        json.loads(text, parse_constant=_not_json_constant)
    except json.JSONDecodeError as error:
        return f"the body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
    except ValueError as error:
        return f"the body is not valid JSON: {error}"
    return None


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class Gate:
    """ASGI middleware: the key, the body's size and its JSON, checked in that order."""

    def __init__(self, app: ASGIApp, *, keys: tuple[bytes, ...],
                 key_problem: Callable[[tuple[bytes, ...], str | None], str | None],
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.keys = keys
        self.key_problem = key_problem
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self.key_problem(self.keys, headers.get("x-api-key"))
        if problem:
            await _answer(scope, receive, send, 401, "unauthorized", problem, {"WWW-Authenticate": "ApiKey"})
            return
        too_large = (f"the body is larger than {self.max_body_bytes:,} bytes, the most this API takes "
                     f"({scope['method']} {scope['path']})")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            status, code = (413, "too_large") if declared.isdigit() else (400, "bad_request")
            message = too_large if declared.isdigit() else f"Content-Length {declared!r} is not a byte count"
            await _answer(scope, receive, send, status, code, message)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            received = await receive()
            if received["type"] == "http.disconnect":
                return
            chunk = received.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _answer(scope, receive, send, 413, "too_large", too_large)
                return
            chunks.append(chunk)
            more = received.get("more_body", False)
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            problem = json_problem(body)
            if problem:
                where = f"{scope['method']} {scope['path']}"
                await _answer(scope, receive, send, 400, "bad_request", f"{problem} ({where})")
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body already read, then waits on the client as usual."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
    body = ErrorBody(error=code, message=message)
    await JSONResponse(status_code=status, content=body.model_dump(), headers=headers)(scope, receive, send)

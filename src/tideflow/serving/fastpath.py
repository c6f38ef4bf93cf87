"""The API node's hot path: ``POST /v1/endpoints/{name}/predict`` as plain ASGI, ahead of Starlette.

Starlette's router, middleware and Request/Response objects cost about as much CPU per request as
scoring a 200-tree model with the compiled scorer (``bench/serving.py``); this one route skips them
and keeps everything else the node does: auth, body limit, validation, metrics, query log, and the
same error answers (``serving.responses``). Every other route, and every other method on this one,
goes to the Starlette app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.types import Receive, Scope, Send

from tideflow.serving import errors as E
from tideflow.serving.protocols import dumps, native
from tideflow.serving.responses import error_response, read_body

if TYPE_CHECKING:
    from tideflow.serving.app import ApiNode


async def native_predict(node: ApiNode, scope: Scope, receive: Receive, send: Send, name: str) -> None:
    """Answer one native prediction request (``ApiNode.score`` does auth, body, scoring and metrics)."""
    headers = Headers(scope=scope)
    query = scope.get("query_string")
    params = QueryParams(query) if query else {}  # parsing an empty query string costs 3 µs per request
    length = headers.get("content-length")
    disconnected = False

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal disconnected
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                raise E.BadRequest("the client closed the connection before the body ended")
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    payload, error = await node.score(
        "native", name, headers.get("authorization"), headers.get("x-api-key"),
        lambda: read_body(length, chunks(), node.max_body),
        lambda plane, body: native.predict(plane, name, body, version=params.get("version"),
                                           sticky=params.get("sticky")))
    if disconnected:
        return
    if error is not None:
        await error(scope, receive, send)
        return
    content = dumps(payload)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode("latin-1"))]})
    await send({"type": "http.response.body", "body": content})


class FastPredict:
    """The node's ASGI app: native predictions to ``native_predict``, the rest to ``app``. Paths are
    matched as Starlette matches them (``{name}`` is one path segment, ``root_path`` removed)."""

    PREFIX, SUFFIX = "/v1/endpoints/", "/predict"

    def __init__(self, node: ApiNode, app: Starlette) -> None:
        self.node = node
        self.app = app
        self.state = app.state
        self.router = app.router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            if path.startswith(self.PREFIX) and path.endswith(self.SUFFIX):
                name = path[len(self.PREFIX):-len(self.SUFFIX)]
                if name and "/" not in name:
                    try:
                        await native_predict(self.node, scope, receive, send, name)
                    except Exception as exc:  # never a traceback to the client
                        await error_response(None, exc)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

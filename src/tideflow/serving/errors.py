"""The serving branch of Tideflow's exception tree. The core raises these; ``app.py`` maps them to HTTP.

    TideflowError
    └── ServingError                 anything the API node refuses or fails to do
        ├── BadRequest               the request is wrong; the client can fix it (4xx)
        │   ├── InvalidJson          the body is not JSON (400)
        │   ├── InvalidInput         a missing, extra or mistyped feature, a wrong shape (422); names the field
        │   ├── PayloadTooLarge      the body or the record count is over the service's limit (413)
        │   ├── UnknownEndpoint      no such endpoint or version (404)
        │   ├── UnknownRoute         no route at that path (404)
        │   └── MethodNotAllowed     the route has no such method (405); carries ``allow``
        ├── Unauthorized             no API key, or an unknown one (401)
        ├── Forbidden                a key of another service, or without the admin scope an admin route needs (403)
        ├── Unavailable              no worker is ready, or the node is shutting down (503)
        └── ModelError               the model or function failed (500); carries ``error_id``, never a traceback

The classes hold no HTTP knowledge: the status of each lives in one table in ``app.py``.
"""

from __future__ import annotations

import uuid

from tideflow.errors import TideflowError


class ServingError(TideflowError):
    """Base of every error of the API node."""


class BadRequest(ServingError):
    """The request is wrong; resending it unchanged will fail again."""


class InvalidJson(BadRequest):
    """The body is not valid JSON (or not the JSON shape the protocol expects)."""


class InvalidInput(BadRequest):
    """A record does not match the endpoint's input schema. ``field`` names the feature (or tensor)."""

    def __init__(self, message: str, *, field: str | None = None, record: int | None = None) -> None:
        self.detail = message  # without the "record i, field 'f': " prefix (a worker sends the parts)
        self.field = field
        self.record = record
        where = ""
        if record is not None:
            where = f"record {record}"
        if field is not None:
            where = f"{where}, field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)


class PayloadTooLarge(BadRequest):
    """The body or the number of records is over the limit of the service."""


class UnknownEndpoint(BadRequest):
    """No endpoint (or endpoint version) of that name in this service."""


class UnknownRoute(BadRequest):
    """No route of the API node at that path."""


class MethodNotAllowed(BadRequest):
    """The path is a route of the node, but not for that HTTP method. ``allow`` lists the methods it takes."""

    def __init__(self, message: str, *, allow: str | None = None) -> None:
        self.allow = allow
        super().__init__(message)


class Unauthorized(ServingError):
    """No API key was sent, or the key is not known to this API node."""


class Forbidden(ServingError):
    """The key is valid, but for another service."""


class Unavailable(ServingError):
    """The endpoint has no ready worker or the node is stopping; retry later."""


class ModelError(ServingError):
    """The model or function failed while scoring. The message is safe to show; details stay in the server log."""

    def __init__(self, message: str, *, endpoint: str | None = None, error_id: str | None = None) -> None:
        self.endpoint = endpoint
        self.error_id = error_id or uuid.uuid4().hex[:16]
        where = f"endpoint {endpoint!r}: " if endpoint else ""
        super().__init__(f"{where}{message} (error id {self.error_id})")


__all__ = [
    "BadRequest",
    "Forbidden",
    "InvalidInput",
    "InvalidJson",
    "MethodNotAllowed",
    "ModelError",
    "PayloadTooLarge",
    "ServingError",
    "Unauthorized",
    "Unavailable",
    "UnknownEndpoint",
    "UnknownRoute",
]

"""Thin adapters between wire formats and the protocol-free ``DataPlane``.

Each adapter turns a request body into ``DataPlane.infer`` arguments and an ``InferenceResult`` into a
JSON-able payload. None of them validates features (the dataplane does) or knows about HTTP status
codes (``app.py`` maps the error tree in one handler).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from tideflow.serving.errors import InvalidJson


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; ``InvalidJson`` says where it broke."""
    if not body:
        raise InvalidJson("the request body is empty: expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidJson(f"the body is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)

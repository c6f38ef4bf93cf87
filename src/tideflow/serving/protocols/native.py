"""Tideflow's native JSON protocol: ``POST /v1/endpoints/{name}/predict``.

Body: one record (an object of features by name) or many (an array of such objects). The answer is
``{"endpoint", "version", "request_id", "output": {...}}`` for one record and ``"outputs": [...]`` for many.
Query parameters: ``version`` pins a version, ``sticky`` gives the sticky value (else the record's
``sticky_key`` field is used).
"""

from __future__ import annotations

from typing import Any

from tideflow.serving.dataplane import DataPlane
from tideflow.serving.errors import InvalidInput
from tideflow.serving.inputs import json_type
from tideflow.serving.protocols import parse_json


async def predict(plane: DataPlane, endpoint: str, body: bytes, *, version: str | None = None,
                  sticky: str | None = None) -> dict[str, Any]:
    data = parse_json(body)
    if isinstance(data, dict):
        records, single = [data], True
    elif isinstance(data, list):
        records, single = data, False
    else:
        raise InvalidInput(f"expected a record (object) or records (array of objects), got {json_type(data)}")
    result = await plane.infer(endpoint, records, version=version, sticky=sticky)
    payload: dict[str, Any] = {"endpoint": result.endpoint, "version": result.version,
                               "request_id": result.request_id}
    if single:
        payload["output"] = result.outputs[0]
    else:
        payload["outputs"] = result.outputs
    return payload

"""The OpenAPI 3.1 document of an API service: one request schema per endpoint, features typed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tideflow.serving.specs import ServiceSpec

_JSON_TYPE: dict[str, dict[str, Any]] = {
    "double": {"type": ["number", "null"]},
    "integer": {"type": ["integer", "null"], "format": "int64"},
    "string": {"type": ["string", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "timestamp": {"type": ["string", "null"], "format": "date-time"},
}


def record_schema(inputs: dict[str, str] | None, missing_refused: Collection[str] = ()) -> dict[str, Any]:
    """The JSON schema of one record: every feature required, nullable unless in ``missing_refused``
    (a feature the model cannot score missing)."""
    if inputs is None:
        return {"type": "object", "additionalProperties": True}
    return {"type": "object", "properties": {n: _property(t, n in missing_refused) for n, t in inputs.items()},
            "required": list(inputs), "additionalProperties": False}


def _property(kind: str, refused: bool) -> dict[str, Any]:
    schema = dict(_JSON_TYPE.get(kind, {}))
    if refused and "type" in schema:
        schema["type"] = schema["type"][0]
    return schema


def openapi_document(spec: ServiceSpec, endpoints: dict[str, dict[str, Any]]) -> dict[str, Any]:
    error_ref = {"$ref": "#/components/schemas/Error"}
    error = {"description": "error", "content": {"application/json": {"schema": error_ref}}}
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "type": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
            "error_id": {"type": "string"}}, "required": ["type", "message"]}}},
    }
    for name, info in endpoints.items():
        record = f"{name}_record"
        schemas[record] = record_schema(info.get("inputs"), info.get("missing_refused") or ())
        ref = {"$ref": f"#/components/schemas/{record}"}
        paths[f"/v1/endpoints/{name}/predict"] = {"post": {
            "summary": info.get("description") or f"{info['type']} endpoint {name}",
            "operationId": f"predict_{name}",
            "parameters": [
                {"name": "version", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": f"pin a version ({', '.join(info['versions'])})"},
                {"name": "sticky", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [ref, {"type": "array", "items": ref}]}}}},
            "responses": {"200": {"description": "outputs", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"endpoint": {"type": "string"}, "version": {"type": "string"},
                                                 "request_id": {"type": "string"}, "output": {"type": "object"},
                                                 "outputs": {"type": "array", "items": {"type": "object"}}}}}}},
                          "400": error, "401": error, "403": error, "404": error, "413": error, "422": error,
                          "500": error, "503": error},
        }}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"Tideflow API service {spec.name}", "version": "1",
                 "description": spec.description or "Served by the Tideflow API node."},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if spec.api_keys:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        document["security"] = [{"bearer": []}, {"apiKey": []}]
    return document

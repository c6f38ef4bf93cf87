"""The Open Inference Protocol v2 (KServe / Triton) over REST, with the binary tensor extension.

One input tensor per feature, named after it, of shape ``[n]`` or ``[n, 1]``; all of the same ``n``.
The answer has one output tensor per output field (``prediction``, ``probability``, ...).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from tideflow.serving.dataplane import DataPlane, InferenceResult
from tideflow.serving.errors import InvalidInput, InvalidJson
from tideflow.serving.inputs import json_type
from tideflow.serving.protocols import parse_json

HEADER_LENGTH = "inference-header-content-length"
_NUMPY = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
          "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16",
          "FP32": "float32", "FP64": "float64"}
_INTS = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
_ACCEPTS = {"double": {"FP16", "FP32", "FP64", *_INTS}, "integer": _INTS, "boolean": {"BOOL"},
            "string": {"BYTES"}, "date": {"BYTES"}, "timestamp": {"BYTES"}}
DATATYPE_OF = {"double": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES", "date": "BYTES",
               "timestamp": "BYTES"}


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return data


def _binary(datatype: str, raw: bytes, name: str) -> list[Any]:
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(raw):
            size = int.from_bytes(raw[i:i + 4], "little")
            out.append(raw[i + 4:i + 4 + size].decode("utf-8", errors="replace"))
            i += 4 + size
        return out
    dtype = _NUMPY.get(datatype)
    if dtype is None:
        raise InvalidInput(f"unsupported datatype {datatype!r}", field=name)
    try:
        values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
        return values
    except ValueError:
        raise InvalidInput(f"{len(raw)} bytes do not hold whole {datatype} values", field=name) from None


def records_of(body: bytes, header_length: str | None, schema: dict[str, str] | None) -> tuple[list[Any], Any]:
    """(records, the parsed request) of an infer request; shapes and datatypes checked per tensor."""
    binary = b""
    if header_length is not None:
        try:
            cut = int(header_length)
        except ValueError:
            raise InvalidJson(f"Inference-Header-Content-Length must be an integer, got {header_length!r}") from None
        if not 0 <= cut <= len(body):
            raise InvalidJson(f"Inference-Header-Content-Length {cut} is outside the body of {len(body)} bytes")
        body, binary = body[:cut], body[cut:]
    request = parse_json(body)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise InvalidInput("expected an object with a non-empty list 'inputs' of tensors", field="inputs")
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    offset = 0
    for i, tensor in enumerate(request["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise InvalidInput(f"expected a tensor object with a 'name', got {json_type(tensor)}", field=f"inputs[{i}]")
        name = tensor["name"]
        shape, datatype = tensor.get("shape"), tensor.get("datatype")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) \
                or not 1 <= len(shape) <= 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(f"expected shape [n] or [n, 1] (one value per record), got {shape!r}", field=name)
        if datatype not in (*_NUMPY, "BYTES"):
            raise InvalidInput(f"expected a v2 datatype (FP64, INT64, BOOL, BYTES, ...), got {datatype!r}", field=name)
        if schema is not None and name in schema and datatype not in _ACCEPTS.get(schema[name], {datatype}):
            raise InvalidInput(f"expected datatype {DATATYPE_OF.get(schema[name], 'BYTES')} ({schema[name]}), "
                               f"got {datatype}", field=name)
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or offset + size > len(binary):
                raise InvalidInput("binary_data_size runs past the end of the body", field=name)
            values = _binary(datatype, binary[offset:offset + size], name)
            offset += size
        else:
            values = _flatten(tensor.get("data"))
        n = shape[0]
        if len(values) != math.prod(shape):
            raise InvalidInput(f"shape {shape} holds {math.prod(shape)} values, got {len(values)}", field=name)
        if rows is not None and n != rows:
            raise InvalidInput(f"every input tensor must hold the same number of records: {rows}, got {n}", field=name)
        rows = n
        if name in columns:
            raise InvalidInput("the tensor is given twice", field=name)
        columns[name] = values
    if rows is None:
        raise InvalidInput("expected at least one input tensor", field="inputs")
    names = list(columns)
    return [{name: columns[name][r] for name in names} for r in range(rows)], request


def _datatype(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"


def response_of(result: InferenceResult, request: Any) -> dict[str, Any]:
    keys: list[str] = []
    for output in result.outputs:
        keys += [k for k in output if k not in keys]
    wanted = [str(o.get("name")) for o in request.get("outputs") or [] if isinstance(o, dict)]
    for name in wanted:
        if name not in keys:
            raise InvalidInput(f"unknown output (outputs: {', '.join(keys)})", field=str(name))
    tensors = []
    for key in wanted or keys:
        values = [o.get(key) for o in result.outputs]
        datatype = _datatype(values)
        if datatype == "BYTES":
            values = [v if isinstance(v, str) else orjson.dumps(v, default=str).decode() for v in values]
        tensors.append({"name": key, "shape": [len(values)], "datatype": datatype, "data": values})
    payload: dict[str, Any] = {"model_name": result.endpoint, "model_version": result.version, "outputs": tensors}
    payload["id"] = request.get("id") or result.request_id
    return payload


async def infer(plane: DataPlane, endpoint: str, body: bytes, header_length: str | None,
                version: str | None = None) -> dict[str, Any]:
    state = plane.endpoint(endpoint)
    vs = state.versions[state.aliases[version]] if version is not None and version in state.aliases else None
    schema = (vs or next(iter(state.versions.values()))).input_schema
    records, request = records_of(body, header_length, schema)
    params = request.get("parameters") or {}
    sticky = params.get("sticky") if isinstance(params, dict) else None
    result = await plane.infer(endpoint, records, version=version, sticky=sticky)
    return response_of(result, request)


OUTPUTS_OF = {"prediction": [("prediction", "BYTES"), ("probability", "FP64")]}


def metadata(plane: DataPlane, endpoint: str) -> dict[str, Any]:
    info = plane.describe(endpoint)
    inputs = [{"name": n, "datatype": DATATYPE_OF.get(t, "BYTES"), "shape": [-1]}
              for n, t in (info["inputs"] or {}).items()]
    outputs = [{"name": n, "datatype": d, "shape": [-1]} for n, d in OUTPUTS_OF.get(info["type"], [])]
    return {"name": endpoint, "versions": info["versions"], "platform": f"tideflow_{info['type']}",
            "inputs": inputs, "outputs": outputs}

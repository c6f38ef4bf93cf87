"""The Open Inference Protocol v2 (KServe / Triton) over REST, with the binary tensor extension.

One input tensor per feature, named after it, of shape ``[n]`` or ``[n, 1]``; all of the same ``n``.
The answer has one output tensor per output field (``prediction``, ``probability``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np
import orjson

from tideflow.serving.dataplane import DataPlane, InferenceResult
from tideflow.serving.errors import InvalidInput, InvalidJson
from tideflow.serving.inputs import json_type, missing_value
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
    """The values of one binary tensor. A NaN in a float tensor is the missing value (as ``null`` is in
    JSON data, which cannot hold NaN); an infinity is refused: JSON cannot send one either."""
    if datatype == "BYTES":
        out: list[Any] = []
        i = 0
        while i < len(raw):
            size = int.from_bytes(raw[i:i + 4], "little") if i + 4 <= len(raw) else -1
            if size < 0 or i + 4 + size > len(raw):
                raise InvalidInput(f"BYTES element {len(out)} runs past the {len(raw)} bytes of binary_data_size "
                                   "(expected a 4-byte little-endian length, then that many bytes)", field=name)
            out.append(raw[i + 4:i + 4 + size].decode("utf-8", errors="replace"))
            i += 4 + size
        return out
    dtype = _NUMPY.get(datatype)
    if dtype is None:
        raise InvalidInput(f"unsupported datatype {datatype!r}", field=name)
    try:
        array = np.frombuffer(raw, dtype=dtype)
    except ValueError:
        raise InvalidInput(f"{len(raw)} bytes do not hold whole {datatype} values", field=name) from None
    values: list[Any] = array.tolist()
    if array.dtype.kind == "f":
        infinite = np.flatnonzero(np.isinf(array))
        if infinite.size:
            k = int(infinite[0])
            raise InvalidInput(f"expected finite numbers, got {values[k]} at index {k} (a NaN is read as a "
                               "missing value; infinity is refused)", field=name)
        for k in np.flatnonzero(np.isnan(array)).tolist():
            values[k] = None
    return values


def _in_range(datatype: str, values: list[Any], name: str) -> None:
    """JSON data of an integer tensor fits its datatype (``[1e30]`` is no INT64)."""
    info = np.iinfo(_NUMPY[datatype])
    lo, hi = int(info.min), int(info.max)
    for k, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and not lo <= v <= hi:
            raise InvalidInput(f"value out of range for {datatype}: expected an integer from {lo} to {hi}, "
                               f"got {v!r} at index {k}", field=name)


def _parameters(value: Any, field: str) -> dict[str, Any]:
    """A ``parameters`` object (absent or null: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"expected 'parameters' to be an object, got {json_type(value)}", field=field)
    return value


def _is_count(value: Any) -> bool:
    """A non-negative integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def records_of(body: bytes, header_length: str | None, schema: dict[str, str] | None,
               missing_refused: Collection[str] = ()) -> tuple[list[Any], dict[str, Any]]:
    """(records, the parsed request) of an infer request; shapes and datatypes checked per tensor, and no
    missing value (JSON ``null``, NaN in a binary tensor) for a feature of ``missing_refused``."""
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
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape) \
                or not 1 <= len(shape) <= 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput("expected shape [n] or [n, 1] of non-negative integers (one value per record), "
                               f"got {orjson.dumps(shape).decode()}", field=name)
        if datatype not in (*_NUMPY, "BYTES"):
            raise InvalidInput(f"expected a v2 datatype (FP64, INT64, BOOL, BYTES, ...), got {datatype!r}", field=name)
        if schema is not None and name in schema and datatype not in _ACCEPTS.get(schema[name], {datatype}):
            raise InvalidInput(f"expected datatype {DATATYPE_OF.get(schema[name], 'BYTES')} ({schema[name]}), "
                               f"got {datatype}", field=name)
        size = _parameters(tensor.get("parameters"), name).get("binary_data_size")
        if size is not None:
            if not _is_count(size):
                raise InvalidInput(f"expected parameters.binary_data_size to be a non-negative integer, "
                                   f"got {json_type(size)} {size!r}", field=name)
            if offset + size > len(binary):
                raise InvalidInput(f"binary_data_size {size} runs past the end of the body "
                                   f"({len(binary) - offset} bytes of binary data left)", field=name)
            values = _binary(datatype, binary[offset:offset + size], name)
            offset += size
            missing = "NaN"
        elif "data" not in tensor:
            raise InvalidInput("the tensor has no 'data' (expected an array of values, or "
                               "parameters.binary_data_size with the binary tensor extension)", field=name)
        elif not isinstance(tensor["data"], list):
            raise InvalidInput(f"expected 'data' to be an array of values, got {json_type(tensor['data'])}",
                               field=name)
        else:
            values = _flatten(tensor["data"])
            missing = "null"
            if datatype in _INTS:
                _in_range(datatype, values, name)
        n = shape[0]
        if len(values) != math.prod(shape):
            raise InvalidInput(f"shape {shape} holds {math.prod(shape)} values, got {len(values)}", field=name)
        if rows is not None and n != rows:
            raise InvalidInput(f"every input tensor must hold the same number of records: {rows}, got {n}", field=name)
        if name in missing_refused and schema is not None and None in values:
            k = values.index(None)
            raise InvalidInput(missing_value(schema[name], f"{missing} at index {k}"), field=name)
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


def wanted_outputs(request: dict[str, Any]) -> list[str]:
    """The output names the request asks for (none: every output), checked before scoring."""
    outputs = request.get("outputs")
    if outputs is None:
        return []
    if not isinstance(outputs, list):
        raise InvalidInput(f"expected 'outputs' to be an array of objects with a 'name', got {json_type(outputs)}",
                           field="outputs")
    names = []
    for j, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise InvalidInput(f"expected an object with a string 'name', got {json_type(output)}",
                               field=f"outputs[{j}]")
        _parameters(output.get("parameters"), f"outputs[{j}]")
        names.append(output["name"])
    return names


def response_of(result: InferenceResult, request: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    keys: list[str] = []
    for output in result.outputs:
        keys += [k for k in output if k not in keys]
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
    vs = plane.version_of(state, version) if version is not None else next(iter(state.versions.values()))
    schema = vs.input_schema
    # unpinned, the version is chosen later (and its own refusals checked then): here only what all refuse
    refused = vs.missing_refused
    if version is None:
        for other in state.versions.values():
            refused &= other.missing_refused
    records, request = records_of(body, header_length, schema, refused)
    wanted = wanted_outputs(request)
    sticky = _parameters(request.get("parameters"), "parameters").get("sticky")
    result = await plane.infer(endpoint, records, version=version, sticky=sticky)
    return response_of(result, request, wanted)


OUTPUTS_OF = {"prediction": [("prediction", "BYTES"), ("probability", "FP64")]}


def metadata(plane: DataPlane, endpoint: str, version: str | None = None) -> dict[str, Any]:
    """Model metadata; of one version when ``version`` is given (an unknown one: ``UnknownEndpoint``)."""
    info = plane.describe(endpoint, version)
    inputs = [{"name": n, "datatype": DATATYPE_OF.get(t, "BYTES"), "shape": [-1]}
              for n, t in (info["inputs"] or {}).items()]
    outputs = [{"name": n, "datatype": d, "shape": [-1]} for n, d in OUTPUTS_OF.get(info["type"], [])]
    return {"name": endpoint, "versions": info["versions"], "platform": f"tideflow_{info['type']}",
            "inputs": inputs, "outputs": outputs}

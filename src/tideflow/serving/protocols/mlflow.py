"""MLflow's scoring protocol: ``POST /invocations`` with ``dataframe_split`` or ``dataframe_records``.

Answers ``{"predictions": [...]}``: one item per row, the bare value when the endpoint returns a single
field (e.g. a regression's ``prediction``), the output object otherwise.
"""

from __future__ import annotations

from typing import Any

from tideflow.serving.dataplane import DataPlane
from tideflow.serving.errors import InvalidInput
from tideflow.serving.inputs import json_type
from tideflow.serving.protocols import parse_json

FORMATS = ("dataframe_split", "dataframe_records")


def records_of(data: Any) -> list[Any]:
    if not isinstance(data, dict):
        raise InvalidInput(f"expected an object with 'dataframe_split' or 'dataframe_records', got {json_type(data)}")
    found = [k for k in FORMATS if k in data]
    others = [k for k in data if k not in (*FORMATS, "params")]
    if len(found) != 1 or others:
        raise InvalidInput("expected exactly one of 'dataframe_split' or 'dataframe_records'"
                           + (f", got {', '.join(map(repr, others or found))}" if (others or found) else ""))
    if found[0] == "dataframe_records":
        found_records: list[Any] = data["dataframe_records"]
        return found_records
    split = data["dataframe_split"]
    if not isinstance(split, dict):
        raise InvalidInput(f"expected an object with 'columns' and 'data', got {json_type(split)}",
                           field="dataframe_split")
    columns, rows = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("expected a list of column names", field="dataframe_split.columns")
    if not isinstance(rows, list):
        raise InvalidInput(f"expected a list of rows, got {json_type(rows)}", field="dataframe_split.data")
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else json_type(row)
            raise InvalidInput(f"expected a row of {len(columns)} values (one per column), got {got}",
                               field=f"dataframe_split.data[{i}]")
        records.append(dict(zip(columns, row, strict=True)))
    return records


async def invocations(plane: DataPlane, endpoint: str, body: bytes) -> dict[str, Any]:
    result = await plane.infer(endpoint, records_of(parse_json(body)))
    predictions = [next(iter(o.values())) if len(o) == 1 else o for o in result.outputs]
    return {"predictions": predictions}

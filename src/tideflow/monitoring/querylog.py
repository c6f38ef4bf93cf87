"""The API node's query log as a batch of rows to evaluate.

The log is JSON lines, one file per endpoint and day: ``<root>/<service>/<endpoint>/<YYYY-MM-DD>.jsonl``;
each entry holds ``ts``, ``request_id``, ``endpoint``, ``version``, ``inputs`` (the validated
records) and ``outputs`` (one per record). Each input record becomes one row; ``_ts``,
``_version`` and the output's ``prediction`` / ``probability`` are kept beside the inputs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from tideflow.errors import ProjectError, did_you_mean


@dataclass(frozen=True)
class LogSelection:
    """Which entries: a service, optionally one endpoint, one served version, a time window."""

    service: str
    endpoint: str | None = None
    version: str | None = None
    since: float | None = None
    until: float | None = None

    @property
    def label(self) -> str:
        return f"query_log:{self.service}" + (f"/{self.endpoint}" if self.endpoint else "")


def log_files(root: Path, selection: LogSelection) -> list[Path]:
    """The day files of the selection (days outside ``since``/``until`` skipped by name)."""
    base = root / selection.service
    if not base.is_dir():
        known = sorted(p.name for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        raise ProjectError(f"no query log for service {selection.service!r} under {root}"
                           f"{did_you_mean(selection.service, known)} (logged services: {', '.join(known) or 'none'})")
    endpoints = sorted(p for p in base.iterdir() if p.is_dir())
    if selection.endpoint is not None:
        names = [p.name for p in endpoints]
        if selection.endpoint not in names:
            raise ProjectError(f"no query log for endpoint {selection.endpoint!r} of service {selection.service!r}"
                               f"{did_you_mean(selection.endpoint, names)} (logged: {', '.join(names) or 'none'})")
        endpoints = [base / selection.endpoint]
    first = _day(selection.since)
    last = _day(selection.until)
    files = []
    for folder in endpoints:
        for path in sorted(folder.glob("*.jsonl")):
            if (first and path.stem < first) or (last and path.stem > last):
                continue
            files.append(path)
    return files


def _day(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


_ARROW = {"double": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "string": pa.string(),
          "date": pa.date32(), "timestamp": pa.timestamp("us")}


def read_query_log(root: Path, selection: LogSelection, schema: dict[str, str]) -> pa.Table:
    """One row per logged input record with the columns of ``schema`` (logical types; missing keys are
    NULL), ``_ts``, ``_version``,
    ``_endpoint``, ``_prediction`` and ``_probability``. A torn last line (a write in progress) is skipped."""
    rows: list[dict[str, Any]] = []
    for path in log_files(root, selection):
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if not _selected(entry, selection):
                    continue
                outputs = entry.get("outputs") or []
                for i, record in enumerate(entry.get("inputs") or []):
                    if not isinstance(record, dict):
                        continue
                    out = outputs[i] if i < len(outputs) and isinstance(outputs[i], dict) else {}
                    row = {c: record.get(c) for c in schema}
                    row.update({"_ts": float(entry.get("ts", 0.0)), "_version": str(entry.get("version", "")),
                                "_endpoint": str(entry.get("endpoint", "")),
                                "_prediction": _text(out.get("prediction")),
                                "_probability": _number(out.get("probability"))})
                    rows.append(row)
    if not rows:
        raise ProjectError(f"the query log of {selection.label} holds no requests in the chosen window")
    data: dict[str, pa.Array] = {}
    for name in [*schema, "_ts", "_version", "_endpoint", "_prediction", "_probability"]:
        values = [row[name] for row in rows]
        typ = _ARROW.get(schema.get(name, ""))
        try:
            data[name] = pa.array(values) if typ is None else pa.array(values).cast(typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise ProjectError(f"the query log of {selection.label}: column {name!r} is not {schema.get(name)}: "
                               f"{err}") from None
    return pa.table(data)


def _selected(entry: dict[str, Any], selection: LogSelection) -> bool:
    ts = float(entry.get("ts", 0.0))
    if selection.since is not None and ts < selection.since:
        return False
    if selection.until is not None and ts >= selection.until:
        return False
    return selection.version is None or str(entry.get("version")) == selection.version


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

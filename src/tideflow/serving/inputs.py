"""Validate records against an endpoint's input schema (pure). Every error names the record and the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from tideflow.errors import did_you_mean
from tideflow.serving.errors import InvalidInput, PayloadTooLarge

Record = dict[str, Any]
InputSchema = Mapping[str, str]


def _double(value: Any) -> Any:
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _integer(value: Any) -> Any:
    """An ``integer`` feature is a signed 64-bit integer (what the models and numpy hold): a larger one,
    such as ``9223372036854775808`` or ``1e20``, raises ``ValueError`` (out of range)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise TypeError
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError
    return number


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise TypeError


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise TypeError


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise TypeError


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise TypeError


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list):
        raise TypeError
    return value


_CHECKS = {"double": _double, "integer": _integer, "string": _string, "boolean": _boolean, "date": _date,
           "timestamp": _timestamp}
# Exact types accepted as they are, without calling the check (the common case of every request).
# Not ``integer``: an int is range-checked (int64) by ``_integer``.
_AS_IS: dict[str, tuple[type, ...]] = {"double": (float, int), "string": (str,), "boolean": (bool,)}
_EXPECTED = {"double": "a number", "integer": "an integer", "string": "a string", "boolean": "true or false",
             "date": "an ISO date string (YYYY-MM-DD)", "timestamp": "an ISO timestamp string"}


def expected(kind: str, default: str = "a value") -> str:
    """What a feature of schema type ``kind`` takes, in words, naming the type when the words do not:
    'a number (double)', 'true or false (boolean)', but 'an integer', not 'an integer (integer)'."""
    words = _EXPECTED.get(kind, default)
    return words if kind in words else f"{words} ({kind})"


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def missing_value(kind: str, got: str = "null") -> str:
    """The message for a missing value sent for a feature the model cannot score missing."""
    return (f"this model cannot score a missing value for this feature (trained with impute: none, on an "
            f"algorithm that does not take missing values): expected {expected(kind)}, "
            f"got {got}")


def validate_records(records: Any, schema: InputSchema | None, *, max_records: int,
                     allow_extra: bool = False, routing: str | None = None,
                     missing_refused: Collection[str] = ()) -> list[Record]:
    """Checked copies of ``records`` (a list of objects). ``schema`` None accepts any fields of scalars.

    Missing fields, unknown fields (unless ``allow_extra``), values of the wrong type and nested values
    raise ``InvalidInput`` naming the record index and the field; so does an ``integer`` outside int64.
    ``null`` is accepted for every feature (the model's imputation decides what it means) except those of
    ``missing_refused``: features the model cannot score missing (``ModelVersion.missing_refused``).
    ``routing`` names a field that may be sent besides the schema (the sticky key) and is dropped.
    """
    if not isinstance(records, list):
        raise InvalidInput(f"expected a list of records (objects of features by name), got {json_type(records)}")
    if not records:
        raise InvalidInput("expected at least one record, got none")
    if len(records) > max_records:
        raise PayloadTooLarge(f"{len(records)} records in one request is over the limit of {max_records}")
    out: list[Record] = []
    single = len(records) == 1
    for i, record in enumerate(records):
        at = None if single else i
        if not isinstance(record, dict):
            raise InvalidInput(f"expected an object of features by name, got {json_type(record)}", record=at)
        if schema is None:
            for name, value in record.items():
                if isinstance(value, dict | list):
                    raise InvalidInput(f"expected a scalar, got {json_type(value)}", field=name, record=at)
            out.append(record)
            continue
        clean: Record = {}
        for name, kind in schema.items():
            try:
                value = record[name]
            except KeyError:
                raise InvalidInput(f"missing feature (expected {_EXPECTED.get(kind, kind)})", field=name,
                                   record=at) from None
            if value is None:
                if name in missing_refused:
                    raise InvalidInput(missing_value(kind), field=name, record=at)
                clean[name] = value
                continue
            if type(value) in _AS_IS.get(kind, ()):
                clean[name] = value
                continue
            try:
                clean[name] = _CHECKS.get(kind, _scalar)(value)
            except TypeError:
                raise InvalidInput(f"expected {expected(kind, 'a scalar')}, got {json_type(value)} "
                                   f"{_short(value)}", field=name, record=at) from None
            except ValueError:
                raise InvalidInput(f"integer out of range: expected an integer from {INT64_MIN} to {INT64_MAX} "
                                   f"(int64), got {_short(value)}", field=name, record=at) from None
        if len(record) != len(clean):
            extra = [k for k in record if k not in schema and k != routing]
            if extra and not allow_extra:
                raise InvalidInput(f"unknown feature{did_you_mean(extra[0], schema)} "
                                   f"(expected features: {', '.join(schema)})", field=extra[0], record=at)
        out.append(clean)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

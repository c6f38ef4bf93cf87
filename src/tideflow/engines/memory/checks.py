"""Validation at the boundary: unknown columns, name clashes. Every message names where, the field
path, what was expected, what was got and the nearest valid name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tideflow.errors import ProjectError, did_you_mean
from tideflow.recipes.types import ColumnType


class Where:
    """Where a recipe comes from (``recipes/daily.yaml``) and how to name a field inside it."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def error(self, path: str, message: str) -> ProjectError:
        return ProjectError(message, file=self.file, key_path=path or None)

    def at(self, path: str) -> str:
        """The ``where`` of an ``ExpressionError``: ``file at path``."""
        return f"{self.file} at {path}" if self.file else path


def _listing(names: Iterable[str]) -> str:
    shown = ", ".join(repr(n) for n in names)
    return shown or "none"


def require_column(name: str, schema: Mapping[str, ColumnType], where: Where, path: str) -> ColumnType:
    """The type of column ``name``; an unknown column is a ``ProjectError``."""
    if name not in schema:
        raise where.error(path, f"unknown column {name!r}{did_you_mean(name, schema)} "
                                f"(expected one of {_listing(schema)}, got {name!r})")
    return schema[name]


def require_columns(names: Sequence[str], schema: Mapping[str, ColumnType], where: Where, path: str) -> None:
    seen: set[str] = set()
    for name in names:
        require_column(name, schema, where, path)
        if name in seen:
            raise where.error(path, f"column {name!r} is listed twice (expected each column once)")
        seen.add(name)


def require_type(name: str, typ: ColumnType, allowed: Sequence[ColumnType], where: Where, path: str) -> None:
    if typ not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        raise where.error(path, f"column {name!r} must be {expected}, got type {typ}")


def require_unique(names: Sequence[str], where: Where, path: str, what: str = "output columns") -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise where.error(path, f"duplicate {what}: {name!r} appears twice (expected unique names, "
                                    f"got {_listing(names)})")
        seen.add(name)


def require_new_name(name: str, existing: Iterable[str], where: Where, path: str) -> None:
    if name in set(existing):
        raise where.error(path, f"output column {name!r} already exists (expected a new name)")

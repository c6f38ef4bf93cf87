"""Logical column types shared by every engine, and the ``Schema`` of a dataset."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from tideflow.errors import a


class ColumnType(StrEnum):
    """The logical types Tideflow reasons about. Engines map their physical types onto these.

    ``integer`` is a 64-bit signed integer, ``double`` a 64-bit float, ``string`` UTF-8 text,
    ``timestamp`` has microsecond precision and no time zone.
    """

    BOOLEAN = "boolean"
    INTEGER = "integer"
    DOUBLE = "double"
    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.INTEGER, ColumnType.DOUBLE)

    @property
    def is_temporal(self) -> bool:
        return self in (ColumnType.DATE, ColumnType.TIMESTAMP)

    @property
    def with_article(self) -> str:
        """The type with its article, for messages: 'an integer', 'a double'."""
        return a(self.value)


# An ordered mapping column name -> logical type (dicts keep insertion order).
Schema = dict[str, ColumnType]

# The texts that cast to a boolean on every engine, after trimming spaces and in any letter case
# (docs/recipes.md, casts): the one definition the memory engine and the SQL compiler both read.
TRUE_TEXTS = ("true", "t", "1", "yes", "y")
FALSE_TEXTS = ("false", "f", "0", "no", "n")


def value_text(value: object) -> str:
    """A value written in a recipe (a rule's, fill or replace value) as the text a string column holds:
    ``true``/``false``, a double in the shortest text that reads back as it (``repr``, as DuckDB prints
    it: ``1e-05``), anything else as ``str`` writes it. Every engine converts values for string columns so."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def scalar_type(value: object) -> ColumnType | None:
    """The logical type of a Python scalar (a recipe's value, a measured one); None for None and for
    anything that is not one of them. A bool is a boolean (not an integer), a datetime a timestamp."""
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER
    if isinstance(value, float):
        return ColumnType.DOUBLE
    if isinstance(value, str):
        return ColumnType.STRING
    if isinstance(value, dt.datetime):
        return ColumnType.TIMESTAMP
    if isinstance(value, dt.date):
        return ColumnType.DATE
    return None


def common_type(a: ColumnType, b: ColumnType) -> ColumnType | None:
    """The type both ``a`` and ``b`` widen to (integer + double -> double), or None."""
    if a == b:
        return a
    if {a, b} == {ColumnType.INTEGER, ColumnType.DOUBLE}:
        return ColumnType.DOUBLE
    if {a, b} == {ColumnType.DATE, ColumnType.TIMESTAMP}:
        return ColumnType.TIMESTAMP
    return None

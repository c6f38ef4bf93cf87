"""Logical column types shared by every engine, and the ``Schema`` of a dataset."""

from __future__ import annotations

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


def common_type(a: ColumnType, b: ColumnType) -> ColumnType | None:
    """The type both ``a`` and ``b`` widen to (integer + double -> double), or None."""
    if a == b:
        return a
    if {a, b} == {ColumnType.INTEGER, ColumnType.DOUBLE}:
        return ColumnType.DOUBLE
    if {a, b} == {ColumnType.DATE, ColumnType.TIMESTAMP}:
        return ColumnType.TIMESTAMP
    return None

"""What differs between SQL dialects, as data: one ``DialectTraits`` row per dialect.

Every place in the compiler that must behave differently per dialect reads a flag of this table;
nothing else branches on the dialect name (house style 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import sqlglot
from sqlglot import exp

from tideflow.errors import ProjectError, did_you_mean
from tideflow.recipes.types import ColumnType

# Dialects executed and tested; TRANSPILE_ONLY ones must generate without error.
DIALECTS = ("duckdb", "postgres")
TRANSPILE_ONLY = ("spark", "snowflake")

FirstLastStyle = Literal["ordered_first", "array_agg", "window"]
RegexExtractStyle = Literal["regexp_extract", "regexp_match_array"]
SecondsBetween = Literal["interval_epoch", "epoch_us", "epochs"]


@dataclass(frozen=True)
class DialectTraits:
    """The differences the compiler needs to know about one dialect.

    * ``types``: the SQL type each logical ``ColumnType`` is stored as.
    * ``binary_collation``: collation name to force code-point string ordering (None: the
      default already is binary).
    * ``has_try_cast``: TRY_CAST returns NULL on overflow (used only after Tideflow's own
      format checks, never for the format itself).
    * ``round_via_numeric``: ROUND of a double is banker's rounding or inexact; round an exact
      NUMERIC instead (half away from zero), then cast back.
    * ``first_last``: how ``first``/``last`` aggregates are written: ``FIRST(x ORDER BY ..)``,
      ``(ARRAY_AGG(x ORDER BY ..))[1]``, or a FIRST_VALUE window column aggregated with MIN.
    * ``regex_extract``: REGEXP_EXTRACT(s, p, g) (empty string on no match) or PostgreSQL's
      ``(regexp_match(s, '(' || p || ')'))[g + 1]``.
    * ``seconds_between``: how the microseconds from ``start`` to ``end`` are computed, exactly,
      before one division by the unit (the memory engine's value): ``interval_epoch`` rounds
      ``DATE_PART('epoch', end - start) * 10^6`` to whole microseconds where that is exact (under
      2^30 s) and takes the NUMERIC ``EXTRACT(EPOCH ...)`` beyond (PostgreSQL);
      ``epoch_us`` is ``EPOCH_US(end) - EPOCH_US(start)`` on BIGINT (DuckDB, whose double EPOCH of
      a timestamp is coarse: 1 us came out as 0.95 us, a day as 6 us too long); ``epochs`` the
      difference of two epochs (dialects that are only transpiled).
    * ``date_part_double``: ``EXTRACT`` returns NUMERIC (PostgreSQL 14+), costly to compute and to
      convert; ``DATE_PART`` returns a double, exact for every part Tideflow extracts (10M rows:
      0.3 s less per part).
    * ``shared_window_frame``: row_number, lag and lead (which ignore the frame) are written with
      the frame of the recipe's first ordered aggregate, so the database evaluates them in the same
      pass: PostgreSQL plans one WindowAgg node per distinct window definition, frame included.
    * ``max_name_bytes``: the longest name (identifier) the database keeps, in UTF-8 bytes;
      PostgreSQL silently truncates longer ones to 63 bytes, so two long output columns could become
      one: a longer output column name is refused (None: no limit that matters).
    * ``risky_foreign_nodes``: node types that sqlglot transpiles *into* this dialect with a
      different meaning; a SQL recipe written in another dialect that uses them is refused.
    """

    name: str
    types: Mapping[ColumnType, str]
    binary_collation: str | None = None
    has_try_cast: bool = True
    round_via_numeric: bool = False
    first_last: FirstLastStyle = "ordered_first"
    regex_extract: RegexExtractStyle = "regexp_extract"
    seconds_between: SecondsBetween = "epochs"
    date_part_double: bool = False
    shared_window_frame: bool = False
    max_name_bytes: int | None = None
    risky_foreign_nodes: tuple[type[exp.Expr], ...] = field(default_factory=tuple)


_ANSI_TYPES = {
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.DOUBLE: "DOUBLE",
    ColumnType.STRING: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.TIMESTAMP: "TIMESTAMP",
}

TRAITS: dict[str, DialectTraits] = {
    "duckdb": DialectTraits(name="duckdb", types=_ANSI_TYPES, seconds_between="epoch_us"),
    "postgres": DialectTraits(
        name="postgres",
        types={**_ANSI_TYPES, ColumnType.DOUBLE: "DOUBLE PRECISION", ColumnType.STRING: "TEXT"},
        binary_collation="C",
        has_try_cast=False,
        round_via_numeric=True,
        first_last="array_agg",
        regex_extract="regexp_match_array",
        seconds_between="interval_epoch",
        date_part_double=True,
        shared_window_frame=True,
        max_name_bytes=63,
        risky_foreign_nodes=(exp.TryCast, exp.Pivot, exp.Median),
    ),
    "spark": DialectTraits(
        name="spark",
        types={**_ANSI_TYPES, ColumnType.DOUBLE: "DOUBLE", ColumnType.STRING: "STRING"},
        first_last="window",
        risky_foreign_nodes=(exp.RegexpReplace, exp.PercentileCont, exp.Median),
    ),
    "snowflake": DialectTraits(
        name="snowflake",
        types={**_ANSI_TYPES, ColumnType.TIMESTAMP: "TIMESTAMP_NTZ"},
        first_last="window",
        risky_foreign_nodes=(exp.Median,),
    ),
}


def traits_for(dialect: str) -> DialectTraits:
    """The traits row of ``dialect``; an unknown dialect is a ``ProjectError`` naming the known ones."""
    try:
        return TRAITS[dialect]
    except KeyError:
        raise ProjectError(
            f"unknown SQL dialect {dialect!r}{did_you_mean(dialect, TRAITS)} (expected one of {', '.join(TRAITS)})"
        ) from None


def sql_type(traits: DialectTraits, typ: ColumnType) -> exp.DataType:
    """The sqlglot type node ``typ`` is stored as in this dialect."""
    return exp.DataType.build(traits.types[typ], dialect=traits.name)


def logical_type(dtype: exp.DataType) -> ColumnType | None:
    """Map a sqlglot type back to a logical type (None when it has no logical equivalent)."""
    t = exp.DataType.Type
    if dtype.this == t.BOOLEAN:
        return ColumnType.BOOLEAN
    if dtype.this in exp.DataType.INTEGER_TYPES:
        return ColumnType.INTEGER
    if dtype.this in exp.DataType.REAL_TYPES:
        return ColumnType.DOUBLE
    if dtype.this in exp.DataType.TEXT_TYPES:
        return ColumnType.STRING
    if dtype.this == t.DATE:
        return ColumnType.DATE
    if dtype.this in (t.TIMESTAMP, t.DATETIME, t.TIMESTAMPNTZ):
        return ColumnType.TIMESTAMP
    return None


def generate(query: exp.Expr, dialect: str, *, pretty: bool = True) -> str:
    """SQL text for ``dialect``; anything sqlglot cannot express raises instead of being dropped."""
    traits_for(dialect)
    return query.sql(dialect=dialect, pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)

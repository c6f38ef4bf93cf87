"""The pure SQL compiler of recipes: spec + input schemas -> sqlglot queries, one per output.

No I/O here: the planner and the SQL engine run what this package returns.
"""

from __future__ import annotations

from tideflow.engines.sql.build import SqlInput
from tideflow.engines.sql.compiler import compile_recipe, discover_pivot_values_query, output_schema, to_sql
from tideflow.engines.sql.dialects import DIALECTS, TRANSPILE_ONLY, DialectTraits, traits_for

__all__ = [
    "DIALECTS",
    "TRANSPILE_ONLY",
    "DialectTraits",
    "SqlInput",
    "compile_recipe",
    "discover_pivot_values_query",
    "output_schema",
    "to_sql",
    "traits_for",
]

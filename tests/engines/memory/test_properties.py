"""Property tests: the oracle's arithmetic and filters against plain Python definitions."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import run1

ints = st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), min_size=0, max_size=30)


def sql_mod(a: int | None, b: int | None) -> int | None:
    if a is None or b is None or b == 0:
        return None
    return int(math.fmod(a, b))


@settings(max_examples=60, deadline=None)
@given(ints, ints)
def test_mod_and_div_follow_sql(a: list[int | None], b: list[int | None]) -> None:
    n = min(len(a), len(b))
    frame = pl.DataFrame({"a": a[:n], "b": b[:n]}, schema={"a": pl.Int64, "b": pl.Int64})
    out = run1(
        "prepare",
        frame,
        steps=[
            {"op": "formula", "column": "m", "expr": "a % b"},
            {"op": "formula", "column": "d", "expr": "a / b"},
        ],
    )
    assert out["m"].to_list() == [sql_mod(x, y) for x, y in zip(a[:n], b[:n], strict=True)]
    expected = [
        None if x is None or y is None or y == 0 else x / y for x, y in zip(a[:n], b[:n], strict=True)
    ]
    assert out["d"].to_list() == expected


@settings(max_examples=60, deadline=None)
@given(ints)
def test_keep_and_remove_partition_rows_with_null_on_the_remove_side(a: list[int | None]) -> None:
    frame = pl.DataFrame({"a": a}, schema={"a": pl.Int64})
    kept = run1("prepare", frame, steps=[{"op": "filter", "expr": "a > 0"}])
    removed = run1("prepare", frame, steps=[{"op": "filter", "expr": "a > 0", "action": "remove"}])
    assert kept["a"].to_list() == [x for x in a if x is not None and x > 0]
    assert removed["a"].to_list() == [x for x in a if x is None or x <= 0]

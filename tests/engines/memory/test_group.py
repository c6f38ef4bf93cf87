"""Group and pivot recipes."""

from __future__ import annotations

import polars as pl
import pytest

from tideflow.errors import ProjectError

from .helpers import HOSTILE, run1

FRAME = pl.DataFrame(
    {
        "k": ["a", "a", "b", None, "a"],
        "v": [3, None, 5, 6, 1],
        "x": [1.0, 2.0, None, 4.0, 3.0],
        "o": [2, 1, 1, 1, 2],
        HOSTILE: ["é", "z", None, "y", "z"],
    }
)


def test_group_aggregations() -> None:
    out = run1(
        "group",
        FRAME,
        keys=["k"],
        aggregations=[
            {"fn": "count"},
            {"fn": "count", "column": "v"},
            {"fn": "count_distinct", "column": HOSTILE},
            {"fn": "sum", "column": "v"},
            {"fn": "avg", "column": "v"},
            {"fn": "min", "column": HOSTILE},
            {"fn": "max", "column": "x"},
            {"fn": "stddev", "column": "x"},
        ],
    )
    assert out.columns == [
        "k",
        "count",
        "v_count",
        f"{HOSTILE}_count_distinct",
        "v_sum",
        "v_avg",
        f"{HOSTILE}_min",
        "x_max",
        "x_stddev",
    ]
    assert out.rows() == [
        ("a", 3, 2, 2, 4, 2.0, "z", 3.0, 1.0),
        ("b", 1, 1, 0, 5, 5.0, None, None, None),
        (None, 1, 1, 1, 6, 6.0, "y", 4.0, None),
    ]
    assert out["v_sum"].dtype == pl.Int64
    assert out["v_avg"].dtype == pl.Float64


def test_sum_of_only_nulls_is_null_and_count_is_zero() -> None:
    frame = pl.DataFrame({"k": [1, 1], "v": [None, None]}, schema={"k": pl.Int64, "v": pl.Int64})
    out = run1(
        "group",
        frame,
        keys=["k"],
        aggregations=[{"fn": "sum", "column": "v"}, {"fn": "count", "column": "v"}],
    )
    assert out.rows() == [(1, None, 0)]


def test_no_keys_gives_one_row_even_when_empty() -> None:
    out = run1(
        "group",
        FRAME.head(0),
        aggregations=[
            {"fn": "count"},
            {"fn": "sum", "column": "v"},
            {"fn": "concat", "column": HOSTILE},
            {"fn": "count_distinct", "column": "v"},
        ],
    )
    assert out.rows() == [(0, None, None, 0)]


def test_first_last_by_order_with_ties_broken_by_value() -> None:
    out = run1(
        "group",
        FRAME,
        keys=["k"],
        aggregations=[
            {"fn": "first", "column": "v", "order_by": [{"column": "o"}]},
            {"fn": "last", "column": "v", "order_by": [{"column": "o"}]},
            {
                "fn": "first",
                "column": "v",
                "order_by": [{"column": "o", "desc": True}],
                "output": "v_first_desc",
            },
        ],
    )
    # group a: rows (o=2, v=3), (o=1, v=NULL), (o=2, v=1): by o then v (NULLs last)
    assert out.rows()[0] == ("a", None, 3, 1)


def test_concat_orders_by_value_or_order_by() -> None:
    out = run1(
        "group",
        FRAME,
        keys=["k"],
        aggregations=[
            {"fn": "concat", "column": HOSTILE, "separator": "; "},
            {"fn": "concat", "column": "v", "order_by": [{"column": "o", "desc": True}], "output": "vs"},
        ],
    )
    assert out.rows() == [("a", "z; z; é", "1,3"), ("b", None, "5"), (None, "y", "6")]


def test_group_unknown_key_error() -> None:
    with pytest.raises(
        ProjectError, match=r"recipes/r.yaml at keys: unknown column 'kk': did you mean 'k'\?"
    ):
        run1("group", FRAME, keys=["kk"], aggregations=[{"fn": "count"}])


def test_group_sum_of_strings_is_an_error() -> None:
    with pytest.raises(ProjectError, match=r"aggregations\[0\].column: column 'k' must be integer or double"):
        run1("group", FRAME, aggregations=[{"fn": "sum", "column": "k"}])


def test_group_duplicate_outputs_error() -> None:
    with pytest.raises(ProjectError, match="duplicate output columns: 'count' appears twice"):
        run1("group", FRAME, aggregations=[{"fn": "count"}, {"fn": "count"}])


def test_pivot_discovered_values_one_aggregation() -> None:
    out = run1("pivot", FRAME, index=["o"], column="k", aggregations=[{"fn": "sum", "column": "v"}])
    assert out.columns == ["o", "a", "b"]
    assert out.rows() == [(1, None, 5), (2, 4, None)]


def test_pivot_several_aggregations_names_and_count_zero() -> None:
    out = run1(
        "pivot",
        FRAME,
        column="o",
        values=[1, 2, 9],
        aggregations=[{"fn": "count"}, {"fn": "avg", "column": "x"}],
    )
    assert out.columns == ["1_count", "1_x_avg", "2_count", "2_x_avg", "9_count", "9_x_avg"]
    assert out.rows() == [(3, 3.0, 2, 2.0, 0, None)]


def test_pivot_too_many_values() -> None:
    with pytest.raises(
        ProjectError,
        match=r"at max_values: column 'x' has 4 distinct values, more than "
        r"max_values=2",
    ):
        run1("pivot", FRAME, column="x", max_values=2, aggregations=[{"fn": "count"}])


def test_pivot_empty_input_no_index_gives_one_row() -> None:
    out = run1("pivot", FRAME.head(0), column="k", values=["a"], aggregations=[{"fn": "count"}])
    assert out.rows() == [(0,)]


def test_an_empty_pivot_value_is_the_error_sql_gives() -> None:
    """'' would name an output column '': refused with the SQL engines' words (listed or discovered)."""
    frame = pl.DataFrame({"o": [1, 2], "k": ["a", ""]})
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at values\[1\]: the pivot value '' \(empty text\) of "
                                           r"column 'k' would name an output column ''; expected a non-empty "
                                           r"name: replace empty texts first \(a replace or fill_empty step\)$"):
        run1("pivot", frame, index=["o"], column="k", values=["a", ""], aggregations=[{"fn": "count"}])
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at column: the pivot value '' .*or list 'values'$"):
        run1("pivot", frame, index=["o"], column="k", aggregations=[{"fn": "count"}])
    several = run1("pivot", frame, index=["o"], column="k", values=[""],
                   aggregations=[{"fn": "count"}, {"fn": "max", "column": "o"}])
    assert several.columns == ["o", "_count", "_o_max"]


def test_a_pivot_without_index_over_no_values_is_the_error_sql_gives() -> None:
    with pytest.raises(ProjectError, match=r"recipes/r.yaml at column: this pivot has no output column: the pivot "
                                           r"column 'k' has no values \(its input has no rows\) and there is no "
                                           r"'index'; expected at least one: list 'values' or add an 'index'$"):
        run1("pivot", FRAME.head(0), column="k", aggregations=[{"fn": "count"}])
    assert run1("pivot", FRAME.head(0), index=["o"], column="k", aggregations=[{"fn": "count"}]).columns == ["o"]

"""Window recipe: ranking, lag/lead, framed aggregates; rows keep their input order."""

from __future__ import annotations

import polars as pl
import pytest

from tideflow.errors import ProjectError

from .helpers import run1

FRAME = pl.DataFrame(
    {
        "g": ["a", "b", "a", "a", "a", "b"],
        "t": [3, 1, 1, 2, 2, None],
        "v": [30, 5, 10, None, 20, 7],
    }
)


def test_ranking_functions_with_ties() -> None:
    out = run1(
        "window",
        FRAME,
        partition_by=["g"],
        order_by=[{"column": "t"}],
        functions=[{"fn": "row_number"}, {"fn": "rank"}, {"fn": "dense_rank"}],
    )
    assert out.columns == ["g", "t", "v", "row_number", "rank", "dense_rank"]
    assert out.select("row_number", "rank", "dense_rank").rows() == [
        (4, 4, 3),
        (1, 1, 1),
        (1, 1, 1),
        (2, 2, 2),
        (3, 2, 2),
        (2, 2, 2),
    ]


def test_lag_lead_with_offset() -> None:
    out = run1(
        "window",
        FRAME,
        partition_by=["g"],
        order_by=[{"column": "t"}, {"column": "v"}],
        functions=[{"fn": "lag", "column": "v"}, {"fn": "lead", "column": "v", "offset": 2}],
    )
    # partition a ordered: (1,10) (2,20) (2,NULL) (3,30)
    assert out.select("v_lag", "v_lead").rows() == [
        (None, None),
        (None, None),
        (None, None),
        (20, None),
        (10, 30),
        (5, None),
    ]


def test_running_default_and_whole_partition() -> None:
    running = run1(
        "window",
        FRAME,
        partition_by=["g"],
        order_by=[{"column": "t"}, {"column": "v"}],
        functions=[{"fn": "sum", "column": "v"}, {"fn": "count"}, {"fn": "avg", "column": "v"}],
    )
    assert running.select("v_sum", "count", "v_avg").rows() == [
        (60, 4, 20.0),
        (5, 1, 5.0),
        (10, 1, 10.0),
        (30, 3, 15.0),
        (30, 2, 15.0),
        (12, 2, 6.0),
    ]
    whole = run1(
        "window",
        FRAME,
        partition_by=["g"],
        functions=[{"fn": "max", "column": "v"}, {"fn": "count", "column": "v"}],
    )
    assert whole.select("v_max", "v_count").rows() == [(30, 3), (7, 2), (30, 3), (30, 3), (30, 3), (7, 2)]


def test_bounded_rows_frame() -> None:
    frame = pl.DataFrame({"t": [1, 2, 3, 4], "v": [1.0, None, 3.0, 4.0]})
    out = run1(
        "window",
        frame,
        order_by=[{"column": "t"}],
        functions=[
            {"fn": "sum", "column": "v", "frame": {"preceding": 1, "following": 1}},
            {"fn": "min", "column": "v", "frame": {"preceding": 0, "following": None}, "output": "rest_min"},
            {"fn": "sum", "column": "v", "frame": {"preceding": 0, "following": 0}, "output": "self"},
        ],
    )
    assert out.select("v_sum", "rest_min", "self").rows() == [
        (1.0, 1.0, 1.0),
        (4.0, 3.0, None),
        (7.0, 3.0, 3.0),
        (7.0, 4.0, 4.0),
    ]


def test_ranking_needs_order_by() -> None:
    with pytest.raises(
        ProjectError,
        match=r"functions\[0\].fn: window function 'rank' needs the recipe's "
        r"'order_by'",
    ):
        run1("window", FRAME, functions=[{"fn": "rank"}])


def test_output_must_be_new() -> None:
    with pytest.raises(ProjectError, match=r"functions\[0\].output: output column 'v' already exists"):
        run1("window", FRAME, order_by=[{"column": "t"}], functions=[{"fn": "row_number", "output": "v"}])


def test_empty_input() -> None:
    out = run1(
        "window",
        FRAME.head(0),
        order_by=[{"column": "t"}],
        functions=[{"fn": "sum", "column": "v"}, {"fn": "rank"}],
    )
    assert out.height == 0
    assert out.schema["v_sum"] == pl.Int64

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
    # In partition a, rows 3 and 4 tie on t = 2: the tie-break orders them by their remaining
    # column v, ascending with NULLs last, so (2, 20) is numbered before (2, NULL) as in SQL.
    assert out.select("row_number", "rank", "dense_rank").rows() == [
        (4, 4, 3),
        (1, 1, 1),
        (1, 1, 1),
        (3, 2, 2),
        (2, 2, 2),
        (2, 2, 2),
    ]


def test_ties_are_broken_by_the_remaining_columns_in_schema_order() -> None:
    frame = pl.DataFrame({
        "id": [3, 1, 2, 4, 5, 6],
        "k": [1, 1, 1, 1, 1, 1],
        "s": ["b", "a", "a", None, "é", "z"],
        "f": [True, True, False, None, False, None],
    })
    out = run1("window", frame, order_by=[{"column": "k"}],
               functions=[{"fn": "row_number"}, {"fn": "lag", "column": "id"}])
    # Order: id (first remaining column), then s, then f; all ascending, NULLs last.
    assert out.select("id", "row_number", "id_lag").rows() == [
        (3, 3, 2), (1, 1, None), (2, 2, 1), (4, 4, 3), (5, 5, 4), (6, 6, 5)]
    by_s = run1("window", frame.select("k", "s", "f", "id"), order_by=[{"column": "k"}],
                functions=[{"fn": "row_number"}])
    # s by code point ('a' < 'b' < 'z' < 'é'), NULL last; the tie on 'a' goes to f (false first).
    assert by_s.select("id", "row_number").rows() == [(3, 3), (1, 2), (2, 1), (4, 6), (5, 5), (6, 4)]


def test_order_is_unique_keeps_input_order_of_ties() -> None:
    out = run1("window", FRAME, partition_by=["g"], order_by=[{"column": "t"}], order_is_unique=True,
               functions=[{"fn": "row_number"}])
    assert out["row_number"].to_list() == [4, 1, 1, 2, 3, 2]


def test_bounded_frame_without_order_by_runs_over_the_tie_break_order() -> None:
    frame = pl.DataFrame({"id": [2, 0, 1], "v": [20, 0, 10]})
    out = run1("window", frame, functions=[{"fn": "sum", "column": "v", "frame": {"preceding": 1}}])
    # Without order_by every row ties: rows are in the order of id, then v.
    assert out["v_sum"].to_list() == [30, 0, 10]


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

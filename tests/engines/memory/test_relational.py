"""Join, stack, distinct, sort and top_n recipes."""

from __future__ import annotations

import polars as pl
import pytest

from tideflow.engines.memory import run_recipe
from tideflow.errors import ProjectError

from .helpers import HOSTILE, recipe, run1

ORDERS = pl.DataFrame({"id": [1, 2, 3, None], "cust": [10, 20, 99, 10], "amount": [5.0, 6.0, 7.0, 8.0]})
CUSTOMERS = pl.DataFrame({"cust_id": [10, 20, 30, None], "name": ["Zoë", "Bob", "Ann", "Nul"]})
REGIONS = pl.DataFrame({"name": ["Zoë", "Ann"], HOSTILE: ["north", "south"]})


def join(frames: dict[str, pl.DataFrame], **fields: object) -> dict[str, pl.DataFrame]:
    spec = recipe("join", inputs=list(frames), outputs=fields.pop("outputs", "out"), **fields)  # type: ignore[arg-type]
    return run_recipe(spec, frames, where="recipes/j.yaml")


def by_first(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return sorted(frame.rows(), key=lambda r: tuple((v is None, str(v)) for v in r))


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("inner", [(1, 10, 5.0, "Zoë"), (2, 20, 6.0, "Bob"), (None, 10, 8.0, "Zoë")]),
        ("left", [(1, 10, 5.0, "Zoë"), (2, 20, 6.0, "Bob"), (3, 99, 7.0, None), (None, 10, 8.0, "Zoë")]),
        (
            "right",
            [
                (1, 10, 5.0, "Zoë"),
                (2, 20, 6.0, "Bob"),
                (None, 10, 8.0, "Zoë"),
                (None, None, None, "Ann"),
                (None, None, None, "Nul"),
            ],
        ),
        (
            "full",
            [
                (1, 10, 5.0, "Zoë"),
                (2, 20, 6.0, "Bob"),
                (3, 99, 7.0, None),
                (None, 10, 8.0, "Zoë"),
                (None, None, None, "Ann"),
                (None, None, None, "Nul"),
            ],
        ),
    ],
)
def test_join_types_null_keys_never_match(how: str, expected: list[tuple[object, ...]]) -> None:
    out = join(
        {"orders": ORDERS, "customers": CUSTOMERS},
        joins=[{"with": "customers", "type": how, "on": [{"left": "cust", "right": "cust_id"}]}],
    )["out"]
    assert out.columns == ["id", "cust", "amount", "name"]
    assert by_first(out) == by_first(pl.DataFrame(expected, schema=out.schema, orient="row"))


def test_semi_and_anti_add_no_columns() -> None:
    on = [{"left": "cust", "right": "cust_id"}]
    semi = join(
        {"orders": ORDERS, "customers": CUSTOMERS}, joins=[{"with": "customers", "type": "semi", "on": on}]
    )
    anti = join(
        {"orders": ORDERS, "customers": CUSTOMERS},
        joins=[{"with": "customers", "type": "left_anti", "on": on}],
    )
    assert semi["out"].columns == ["id", "cust", "amount"]
    assert sorted(semi["out"]["amount"].to_list()) == [5.0, 6.0, 8.0]
    assert anti["out"]["amount"].to_list() == [7.0]


def test_cross_join() -> None:
    out = join(
        {"a": pl.DataFrame({"x": [1, 2]}), "b": pl.DataFrame({"y": ["p", "q"]})},
        joins=[{"with": "b", "type": "cross"}],
    )["out"]
    assert sorted(out.rows()) == [(1, "p"), (1, "q"), (2, "p"), (2, "q")]


def test_multiple_joins_left_input_select_prefix() -> None:
    out = join(
        {"orders": ORDERS, "customers": CUSTOMERS, "regions": REGIONS},
        joins=[
            {"with": "customers", "on": [{"left": "cust", "right": "cust_id"}]},
            {
                "with": "regions",
                "type": "left",
                "on": [{"left": "name", "right": "name", "left_input": "customers"}],
            },
        ],
        select={"orders": {"columns": ["id"]}, "regions": {"prefix": "r_"}},
    )["out"]
    assert out.columns == ["id", "name", f"r_{HOSTILE}"]
    assert by_first(out) == [(1, "Zoë", "north"), (2, "Bob", None), (None, "Zoë", "north")]


def test_join_duplicate_output_column_is_an_error() -> None:
    with pytest.raises(
        ProjectError,
        match=r"recipes/j.yaml at select: duplicate output column 'name' from inputs "
        r"'customers' and 'regions'",
    ):
        join(
            {"orders": ORDERS, "customers": CUSTOMERS, "regions": REGIONS},
            joins=[
                {"with": "customers", "on": [{"left": "cust", "right": "cust_id"}]},
                {"with": "regions", "type": "cross"},
            ],
        )


def test_join_unknown_key_and_input() -> None:
    with pytest.raises(
        ProjectError,
        match=r"joins\[0\].on\[0\].right: unknown column 'custid': did you mean "
        r"'cust_id'\?",
    ):
        join(
            {"orders": ORDERS, "customers": CUSTOMERS},
            joins=[{"with": "customers", "on": [{"left": "cust", "right": "custid"}]}],
        )
    with pytest.raises(ProjectError, match=r"joins\[0\].with: .* got 'customer': did you mean 'customers'\?"):
        join(
            {"orders": ORDERS, "customers": CUSTOMERS},
            joins=[{"with": "customer", "on": [{"left": "cust", "right": "cust_id"}]}],
        )


def test_unmatched_output() -> None:
    out = join(
        {"orders": ORDERS, "customers": CUSTOMERS},
        outputs=["matched", "lost"],
        unmatched_output="lost",
        joins=[{"with": "customers", "on": [{"left": "cust", "right": "cust_id"}]}],
    )
    assert sorted(out) == ["lost", "matched"]
    assert out["lost"].rows() == [(3, 99, 7.0)]
    assert out["matched"].height == 3


def test_stack_by_name_widens_and_origin() -> None:
    a = pl.DataFrame({"x": [1, None], "s": ["é", "b"]})
    b = pl.DataFrame({"t": [True], "x": [2.5]})
    out = run_recipe(recipe("stack", inputs=["a", "b"], origin_column="src"), {"a": a, "b": b})["out"]
    assert out.columns == ["x", "s", "t", "src"]
    assert out.schema["x"] == pl.Float64
    assert out.rows() == [(1.0, "é", None, "a"), (None, "b", None, "a"), (2.5, None, True, "b")]


def test_stack_incompatible_types() -> None:
    with pytest.raises(ProjectError, match="column 'x' is integer in 'a' but string in 'b'"):
        run_recipe(
            recipe("stack", inputs=["a", "b"]),
            {"a": pl.DataFrame({"x": [1]}), "b": pl.DataFrame({"x": ["1"]})},
        )


def test_distinct_with_count() -> None:
    frame = pl.DataFrame({"a": [1, 1, None, None, 2], "b": ["x", "x", None, None, "y"]})
    assert run1("distinct", frame).rows() == [(1, "x"), (None, None), (2, "y")]
    assert run1("distinct", frame, columns=["a"], count_column="n").rows() == [(1, 2), (None, 2), (2, 1)]


def test_sort_nulls_and_code_points() -> None:
    frame = pl.DataFrame({"s": ["b", None, "Z", "é", "a"], "i": [1, 2, 3, 4, 5]})
    assert run1("sort", frame, order_by=[{"column": "s"}])["i"].to_list() == [3, 5, 1, 4, 2]
    assert run1("sort", frame, order_by=[{"column": "s", "desc": True}])["i"].to_list() == [2, 4, 1, 5, 3]
    assert run1("sort", frame, order_by=[{"column": "s", "nulls": "first"}])["i"].to_list() == [2, 3, 5, 1, 4]


def test_top_n_first_and_last_per_partition() -> None:
    frame = pl.DataFrame({"g": ["a", "a", "a", "a", "b"], "v": [4, 1, 3, 2, 9]})
    out = run1(
        "top_n", frame, partition_by=["g"], order_by=[{"column": "v"}], first=1, last=1, rank_column="rk"
    )
    assert out.rows() == [("a", 1, 1), ("a", 4, 4), ("b", 9, 1)]

"""Prepare recipe: every step op on small frames with NULLs, unicode and hostile names."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tideflow.errors import ExpressionError, ProjectError
from tideflow.recipes import STEP_OPS

from .helpers import HOSTILE, run1

FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "name": ["  Zoë ", "ab", None, ""],
        "amount": [2.5, -2.5, None, 10.0],
        HOSTILE: [10, None, 30, 40],
    }
)


def prep(frame: pl.DataFrame, *steps: dict[str, object]) -> pl.DataFrame:
    return run1("prepare", frame, steps=list(steps))


def test_handlers_cover_every_step_op() -> None:
    from tideflow.engines.memory.prepare import _HANDLERS

    assert set(_HANDLERS) == set(STEP_OPS)


def test_filter_expression_null_counts_false() -> None:
    out = prep(FRAME, {"op": "filter", "expr": "amount > 0"})
    assert out["id"].to_list() == [1, 4]


def test_filter_remove_keeps_null_rows() -> None:
    out = prep(FRAME, {"op": "filter", "expr": "amount > 0", "action": "remove"})
    assert out["id"].to_list() == [2, 3]


def test_filter_rules_all_and_any() -> None:
    rules = [{"column": HOSTILE, "op": "ge", "value": 30}, {"column": "name", "op": "is_null"}]
    assert prep(FRAME, {"op": "filter", "rules": rules})["id"].to_list() == [3]
    assert prep(FRAME, {"op": "filter", "rules": rules, "match": "any"})["id"].to_list() == [3, 4]


def test_filter_rules_in_contains_and_null_value() -> None:
    assert prep(FRAME, {"op": "filter", "rules": [{"column": "id", "op": "in", "value": [1, 3]}]})[
        "id"
    ].to_list() == [1, 3]
    assert prep(FRAME, {"op": "filter", "rules": [{"column": "id", "op": "not_in", "value": [1, None]}]})[
        "id"
    ].to_list() == [2, 3, 4]
    assert prep(FRAME, {"op": "filter", "rules": [{"column": "name", "op": "contains", "value": "ë"}]})[
        "id"
    ].to_list() == [1]
    assert prep(FRAME, {"op": "filter", "rules": [{"column": "name", "op": "eq", "value": None}]})[
        "id"
    ].to_list() == [3]


def rule_ids(column: str, op: str, value: object) -> list[int]:
    out = prep(FRAME, {"op": "filter", "rules": [{"column": column, "op": op, "value": value}]})
    return out["id"].to_list()


def test_null_values_match_only_eq_ne_and_in_lists() -> None:
    # HOSTILE is [10, NULL, 30, 40]
    assert rule_ids(HOSTILE, "eq", None) == [2]
    assert rule_ids(HOSTILE, "ne", None) == [1, 3, 4]
    assert rule_ids(HOSTILE, "in", [30, None]) == [2, 3]
    assert rule_ids(HOSTILE, "in", [None]) == [2]
    assert rule_ids(HOSTILE, "not_in", [30, None]) == [1, 4]
    assert rule_ids(HOSTILE, "not_in", [30]) == [1, 4]
    assert rule_ids(HOSTILE, "not_in", [None]) == [1, 3, 4]
    assert rule_ids(HOSTILE, "in", 30) == [3]
    removed = prep(FRAME, {"op": "filter", "rules": [{"column": HOSTILE, "op": "in", "value": [30]}],
                           "action": "remove"})
    assert removed["id"].to_list() == [1, 2, 4]
    with pytest.raises(ProjectError, match=r"rules\[0\].value: rule 'gt' needs a value, got null"):
        rule_ids(HOSTILE, "gt", None)
    with pytest.raises(ProjectError, match=r"rules\[0\].value: rule 'contains' needs a value"):
        rule_ids("name", "contains", None)


def test_rule_value_is_converted_to_the_column_type() -> None:
    frame = pl.DataFrame({"id": [0, 1, 2, 3], "s": [" 7 ", "7", "12", "abc"], "b": [True, False, None, True]})

    def ids(column: str, op: str, value: object) -> list[int]:
        rule = {"column": column, "op": op, "value": value}
        return prep(frame, {"op": "filter", "rules": [rule]})["id"].to_list()

    assert ids("s", "eq", 7) == [1]  # compared as the string '7'
    assert ids("s", "gt", 5) == [1, 3]  # string order: '7' and 'abc' come after '5'
    assert ids("s", "in", [12, 7.5]) == [2]
    assert ids("s", "eq", 7.0) == []  # the double 7.0 is the text '7.0'
    assert ids("b", "eq", "yes") == [0, 3]
    assert ids("b", "ne", 0) == [0, 3]
    assert ids("id", "ge", "2") == [2, 3]
    assert ids("id", "lt", 2.0) == [0, 1]
    assert ids("s", "contains", 7) == [0, 1]
    with pytest.raises(ProjectError, match=r"rules\[0\].value: expected an integer value, got 1.5"):
        ids("id", "gt", 1.5)
    with pytest.raises(ProjectError, match=r"rules\[0\].value: expected a boolean value, got 2"):
        ids("b", "eq", 2)
    with pytest.raises(ProjectError, match=r"rules\[0\].value: expected an integer value, got 'x'"):
        ids("id", "in", [1, "x"])


def test_filter_with_no_rules() -> None:
    assert prep(FRAME, {"op": "filter", "rules": []})["id"].to_list() == [1, 2, 3, 4]
    assert prep(FRAME, {"op": "filter", "rules": [], "match": "any"}).height == 0


def test_regex_extract_empty_match_is_null() -> None:
    out = prep(FRAME, {"op": "regex_extract", "column": "name", "pattern": "([0-9]*)", "group": 1, "output": "d"},
               {"op": "regex_extract", "column": "name", "pattern": "(b)|(Z)", "group": 1, "output": "g"})
    assert out["d"].to_list() == [None, None, None, None]
    assert out["g"].to_list() == [None, "b", None, None]


def test_formula_adds_and_replaces() -> None:
    out = prep(
        FRAME,
        {"op": "formula", "column": "twice", "expr": f'"{HOSTILE.replace(chr(34), chr(34) * 2)}" * 2'},
        {"op": "formula", "column": "id", "expr": "id / 2"},
    )
    assert out.columns == ["id", "name", "amount", HOSTILE, "twice"]
    assert out["twice"].to_list() == [20, None, 60, 80]
    assert out["id"].to_list() == [0.5, 1.0, 1.5, 2.0]


def test_formula_bare_null_is_a_string_column() -> None:
    assert prep(FRAME, {"op": "formula", "column": "n", "expr": "NULL"})["n"].dtype == pl.String


def test_rename_keep_drop() -> None:
    out = prep(
        FRAME,
        {"op": "rename", "columns": {"id": "name", "name": "id"}},
        {"op": "keep", "columns": ["id", "name"]},
        {"op": "drop", "columns": ["name"]},
    )
    assert out.columns == ["id"]
    assert out["id"].to_list() == ["  Zoë ", "ab", None, ""]


def test_rename_to_existing_name_is_an_error() -> None:
    with pytest.raises(
        ProjectError, match=r"recipes/r.yaml at steps\[1\].columns: cannot rename 'name' to 'id'"
    ):
        prep(FRAME, {"op": "trim", "columns": ["name"]}, {"op": "rename", "columns": {"name": "id"}})


def test_unknown_column_names_the_step_and_nearest() -> None:
    with pytest.raises(
        ProjectError,
        match=r"recipes/r.yaml at steps\[0\].columns: unknown column 'amont': "
        r"did you mean 'amount'\? \(expected one of .* got 'amont'\)",
    ):
        prep(FRAME, {"op": "keep", "columns": ["amont"]})


def test_expression_error_names_the_step() -> None:
    with pytest.raises(ExpressionError, match=r"recipes/r.yaml at steps\[0\].expr: unknown column 'nme'"):
        prep(FRAME, {"op": "formula", "column": "x", "expr": "upper(nme)"})


def test_drop_every_column_is_an_error() -> None:
    with pytest.raises(ProjectError, match="cannot drop every column"):
        prep(FRAME.select("id"), {"op": "drop", "columns": ["id"]})


def test_cast_values_that_do_not_convert_become_null() -> None:
    frame = pl.DataFrame({"v": [" 12 ", "x", "-3", None, "1.5"]})
    assert prep(frame, {"op": "cast", "columns": ["v"], "to": "integer"})["v"].to_list() == [
        12,
        None,
        -3,
        None,
        None,
    ]
    assert prep(frame, {"op": "cast", "columns": ["v"], "to": "double"})["v"].to_list() == [
        12.0,
        None,
        -3.0,
        None,
        1.5,
    ]


def test_fill_empty_fills_null_and_empty_string() -> None:
    out = prep(
        FRAME,
        {"op": "fill_empty", "columns": ["name"], "value": "?"},
        {"op": "fill_empty", "columns": ["amount"], "value": 0},
    )
    assert out["name"].to_list() == ["  Zoë ", "ab", "?", "?"]
    assert out["amount"].to_list() == [2.5, -2.5, 0.0, 10.0]


def test_fill_empty_value_must_convert() -> None:
    with pytest.raises(
        ProjectError, match=r"steps\[0\].value: expected an integer value, got 'x'"
    ):
        prep(FRAME, {"op": "fill_empty", "columns": ["id"], "value": "x"})
    with pytest.raises(ProjectError, match=r"steps\[0\].value: expected an integer value, got 2.5"):
        prep(FRAME, {"op": "fill_empty", "columns": ["id"], "value": 2.5})


def test_replace_old_value_no_column_can_hold_is_an_error() -> None:
    with pytest.raises(ProjectError, match=r"replacements\[0\].old: expected an integer value, got 1.5 "
                                           r"\(column 'id' is integer: it could never match\)"):
        prep(FRAME, {"op": "replace", "columns": ["id"], "replacements": [{"old": 1.5, "new": 9}]})
    with pytest.raises(ProjectError, match=r"replacements\[1\].old: expected an integer value, got 'zz'"):
        prep(FRAME, {"op": "replace", "columns": ["id"],
                     "replacements": [{"old": 1, "new": 2}, {"old": "zz", "new": 5}]})
    # One column that can hold it is enough: the others never match it.
    out = prep(FRAME, {"op": "replace", "columns": ["id", "name"], "replacements": [{"old": "ab", "new": "1"}]})
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert out["name"].to_list() == ["  Zoë ", "1", None, ""]


def test_replace_first_listed_wins_and_null_new() -> None:
    out = prep(
        FRAME,
        {
            "op": "replace",
            "columns": ["id"],
            "replacements": [
                {"old": 1, "new": 10},
                {"old": 1, "new": 20},
                {"old": "2", "new": None},
            ],
        },
    )
    assert out["id"].to_list() == [10, None, 3, 4]


def test_trim_and_case() -> None:
    out = prep(
        FRAME,
        {"op": "trim", "columns": ["name"], "side": "left"},
        {"op": "case", "columns": ["name"], "mode": "upper"},
    )
    assert out["name"].to_list() == ["ZOË ", "AB", None, ""]
    with pytest.raises(ProjectError, match="column 'id' must be string, got type integer"):
        prep(FRAME, {"op": "trim", "columns": ["id"]})


def test_concat_skips_nulls() -> None:
    out = prep(FRAME, {"op": "concat", "columns": ["id", "name", "amount"], "separator": "|", "output": "c"})
    assert out["c"].to_list() == ["1|  Zoë |2.5", "2|ab|-2.5", "3", "4||10.0"]


def test_split_column_missing_or_empty_parts_are_null() -> None:
    frame = pl.DataFrame({"v": ["a,b,c", "a,,c", "a", None]})
    out = prep(frame, {"op": "split", "column": "v", "separator": ",", "outputs": ["p1", "p2"]})
    assert out.select("p1", "p2").rows() == [("a", "b"), ("a", None), ("a", None), (None, None)]


def test_regex_extract() -> None:
    frame = pl.DataFrame({"v": ["ab-12", "zz", None, "x-7-8"]})
    out = prep(frame, {"op": "regex_extract", "column": "v", "pattern": r"-(\d+)", "output": "n"})
    assert out["n"].to_list() == ["12", None, None, "7"]
    with pytest.raises(
        ProjectError, match=r"steps\[0\].group: pattern .* has 1 capture group\(s\), got group 2"
    ):
        prep(frame, {"op": "regex_extract", "column": "v", "pattern": r"-(\d+)", "group": 2, "output": "n"})


def test_date_part() -> None:
    frame = pl.DataFrame({"t": [dt.datetime(2021, 1, 3, 10, 20, 30, 999), None]})
    parts = ["year", "quarter", "month", "week", "day", "dayofweek", "dayofyear", "hour", "minute", "second"]
    out = prep(frame, *[{"op": "date_part", "column": "t", "part": p, "output": p} for p in parts])
    assert out.select(parts).rows() == [(2021, 1, 1, 53, 3, 7, 3, 10, 20, 30), (None,) * 10]
    assert out["week"].dtype == pl.Int64


def test_date_diff_keeps_fractions() -> None:
    frame = pl.DataFrame(
        {"a": [dt.date(2021, 1, 1), None], "b": [dt.datetime(2021, 1, 2, 12), dt.datetime(2021, 1, 1)]}
    )
    out = prep(
        frame,
        {"op": "date_diff", "start": "a", "end": "b", "unit": "day", "output": "d"},
        {"op": "date_diff", "start": "b", "end": "a", "unit": "hour", "output": "h"},
    )
    assert out.select("d", "h").rows() == [(1.5, -36.0), (None, None)]


def test_if_then_else_and_flag() -> None:
    out = prep(
        FRAME,
        {
            "op": "if_then_else",
            "output": "sign",
            "cases": [{"when": "amount > 0", "then": "1"}, {"when": "amount < 0", "then": "-1.5"}],
            "else": "0",
        },
        {"op": "flag", "output": "big", "expr": "amount > 5"},
    )
    assert out["sign"].to_list() == [1.0, -1.5, 0.0, 1.0]
    assert out["big"].to_list() == [False, False, False, True]


def test_round_half_away_from_zero() -> None:
    frame = pl.DataFrame({"x": [0.5, 1.5, 2.5, -0.5, -2.5, None], "i": [1, 2, 3, 4, 5, 6]})
    out = prep(frame, {"op": "round", "columns": ["x", "i"]})
    assert out["x"].to_list() == [1.0, 2.0, 3.0, -1.0, -3.0, None]
    assert out["i"].to_list() == [1, 2, 3, 4, 5, 6]


def test_bin_width_and_edges() -> None:
    frame = pl.DataFrame({"x": [-0.5, 0.0, 9.99, 10.0, 25, None]}, schema={"x": pl.Float64})
    out = prep(
        frame,
        {"op": "bin", "column": "x", "output": "w", "width": 10},
        {"op": "bin", "column": "x", "output": "e", "edges": [0, 10, 20]},
    )
    assert out["w"].to_list() == [-10.0, 0.0, 0.0, 10.0, 20.0, None]
    assert out["e"].to_list() == [None, 0.0, 0.0, 10.0, None, None]


def test_empty_input_keeps_schema() -> None:
    out = prep(
        FRAME.head(0),
        {"op": "formula", "column": "z", "expr": "substring(name, 1, 2)"},
        {"op": "filter", "expr": "id > 1"},
    )
    assert out.height == 0
    assert out.schema["z"] == pl.String

"""Split and sample recipes, and the md5 rule they share."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from tideflow.engines.memory import run_recipe
from tideflow.engines.memory.sampling import hash_fraction_text, threshold
from tideflow.errors import ProjectError

from .helpers import recipe, run1

FRAME = pl.DataFrame({"id": [1, 2, 3, 4, 5], "x": [5.0, -1.0, None, 2.0, 0.0]})


def split(frame: pl.DataFrame, outputs: list[str], **fields: object) -> dict[str, pl.DataFrame]:
    return run_recipe(recipe("split", outputs=outputs, **fields), {"in": frame}, where="recipes/s.yaml")


def test_rules_first_match_wins_null_is_false() -> None:
    out = split(
        FRAME,
        ["pos", "small", "rest"],
        else_output="rest",
        rules=[{"output": "pos", "expr": "x > 0"}, {"output": "small", "expr": "x < 3"}],
    )
    assert out["pos"]["id"].to_list() == [1, 4]
    assert out["small"]["id"].to_list() == [2, 5]
    assert out["rest"]["id"].to_list() == [3]


def test_rules_without_else_drop_rows_and_unused_outputs_are_empty() -> None:
    out = split(FRAME, ["pos", "never"], rules=[{"output": "pos", "expr": "x > 0"}])
    assert out["pos"]["id"].to_list() == [1, 4]
    assert out["never"].height == 0
    assert out["never"].columns == ["id", "x"]


def test_rule_output_must_be_an_output() -> None:
    with pytest.raises(ProjectError, match=r"rules\[0\].output: .* got 'po': did you mean 'pos'\?"):
        split(FRAME, ["pos"], rules=[{"output": "po", "expr": "x > 0"}])


def test_hash_rule_is_the_documented_md5() -> None:
    expected = hashlib.md5(b"7|42|\xc3\xa9|2020-01-02|true|").hexdigest()[:8]
    assert hash_fraction_text(7, ["42", "é", "2020-01-02", "true", ""]) == expected
    assert threshold(0.5) == 0x80000000
    assert format(threshold(0.25), "08x") == "40000000"


def test_key_text_of_each_type() -> None:
    frame = pl.DataFrame(
        {"i": [42], "s": ["é"], "d": [dt.date(2020, 1, 2)], "b": [True], "n": [None]},
        schema={"i": pl.Int64, "s": pl.String, "d": pl.Date, "b": pl.Boolean, "n": pl.String},
    )
    h = int(hash_fraction_text(7, ["42", "é", "2020-01-02", "true", ""]), 16)
    keep = run1(
        "sample", frame, mode="random", fraction=(h + 1) / 16**8, seed=7, key=["i", "s", "d", "b", "n"]
    )
    drop = run1(
        "sample", frame, mode="random", fraction=h / 16**8 - 1e-12, seed=7, key=["i", "s", "d", "b", "n"]
    )
    assert (keep.height, drop.height) == (1, 0)


def test_random_split_deterministic_and_ratios_respected() -> None:
    frame = pl.DataFrame({"id": range(10_000)})
    fields = {
        "random": {"seed": 3, "key": ["id"], "ratios": {"train": 0.7, "test": 0.2}},
        "else_output": "rest",
    }
    first = split(frame, ["train", "test", "rest"], **fields)
    second = split(frame, ["train", "test", "rest"], **fields)
    for name in first:
        assert first[name].equals(second[name])
    sizes = {name: f.height for name, f in first.items()}
    assert sum(sizes.values()) == 10_000
    assert abs(sizes["train"] - 7000) < 250
    assert abs(sizes["test"] - 2000) < 200
    assert abs(sizes["rest"] - 1000) < 150
    other_seed = split(
        frame, ["train", "test", "rest"], **{**fields, "random": {**fields["random"], "seed": 4}}
    )  # type: ignore[dict-item]
    assert not other_seed["train"].equals(first["train"])


def test_random_split_full_ratio_takes_every_row() -> None:
    frame = pl.DataFrame({"id": range(1000)})
    out = split(frame, ["all"], random={"key": ["id"], "ratios": {"all": 1.0}})
    assert out["all"].height == 1000


def test_sample_first_by_order_and_random_fraction() -> None:
    assert run1("sample", FRAME, n=2, order_by=[{"column": "x", "desc": True}])["id"].to_list() == [3, 1]
    assert run1("sample", FRAME, n=2)["id"].to_list() == [1, 2]
    frame = pl.DataFrame({"id": range(10_000)})
    kept = run1("sample", frame, mode="random", fraction=0.1, seed=1, key=["id"])
    assert abs(kept.height - 1000) < 150
    assert kept.equals(run1("sample", frame, mode="random", fraction=0.1, seed=1, key=["id"]))

"""The split and sample recipes, and the deterministic hash both use.

The hash of a row is ``md5(str(seed) + '|' + key1_text + '|' + key2_text ...)``; its first 8 hex
digits read as an integer ``h`` in ``[0, 16**8)``. A share ``r`` becomes the threshold
``int(r * 16**8)``; ``h < threshold`` is the test (an integer comparison: the 8-digit hex strings
compare the same way, but the threshold of a cumulative ratio of exactly 1 has 9 digits).
Key text: integers in decimal, strings as they are, dates ``YYYY-MM-DD``, booleans ``true``/``false``,
NULL the empty string. Keys must be of those types (a double's or timestamp's text is not portable).
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from tideflow.engines.memory.casting import to_text
from tideflow.engines.memory.checks import Where, require_columns
from tideflow.engines.memory.dtypes import schema_of
from tideflow.engines.memory.expressions import compile_condition
from tideflow.engines.memory.relational import sort_frame
from tideflow.engines.memory.rowwise import rowwise
from tideflow.errors import did_you_mean
from tideflow.recipes import visual as v
from tideflow.recipes.types import ColumnType

SCALE = 16**8
HASH_KEY_TYPES = (ColumnType.INTEGER, ColumnType.STRING, ColumnType.DATE, ColumnType.BOOLEAN)


def hash_fraction_text(seed: int, key_texts: list[str]) -> str:
    """The first 8 hex digits of the md5 of the seed and the keys' texts."""
    payload = "|".join([str(seed), *key_texts])
    return hashlib.md5(payload.encode("utf-8")).hexdigest()[:8]


def threshold(share: float) -> int:
    return int(share * SCALE)


def row_hash(frame: pl.DataFrame, seed: int, key: list[str], where: Where, path: str) -> pl.Expr:
    """An Int64 expression: the hash of each row, in ``[0, 16**8)``."""
    schema = schema_of(frame)
    require_columns(key, schema, where, path)
    for i, column in enumerate(key):
        if schema[column] not in HASH_KEY_TYPES:
            raise where.error(f"{path}[{i}]", f"random key {column!r} is {schema[column]}; expected integer, "
                                              "string, date or boolean (a double's text form differs between "
                                              "engines)")
    texts = [to_text(pl.col(c), schema[c]).fill_null("") for c in key]
    return rowwise(lambda *parts: int(hash_fraction_text(seed, list(parts)), 16), texts, pl.Int64())


def _require_output(name: str, recipe: v.SplitRecipe, where: Where, path: str) -> None:
    if name not in recipe.outputs:
        raise where.error(path, f"expected one of the outputs {recipe.outputs}, got {name!r}"
                                f"{did_you_mean(name, recipe.outputs)}")


def run_split(recipe: v.SplitRecipe, frame: pl.DataFrame, where: Where) -> dict[str, pl.DataFrame]:
    """Each row goes to at most one output: the first matching rule (or ratio band), else
    ``else_output``, else nowhere. Outputs no row goes to are empty, with the input's columns."""
    targets: list[str] = []
    chain: Any = None
    if recipe.rules is not None:
        schema = schema_of(frame)
        for i, rule in enumerate(recipe.rules):
            _require_output(rule.output, recipe, where, f"rules[{i}].output")
            cond = compile_condition(rule.expr, schema, where=where.at(f"rules[{i}].expr"))
            chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(i))
            targets.append(rule.output)
    elif recipe.random is not None:
        random = recipe.random
        h = row_hash(frame, random.seed, random.key, where, "random.key")
        cumulative = 0.0
        for i, (name, ratio) in enumerate(random.ratios.items()):
            _require_output(name, recipe, where, f"random.ratios.{name}")
            cumulative += ratio
            cond = h < threshold(cumulative)
            chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(i))
            targets.append(name)
    if recipe.else_output is not None:
        _require_output(recipe.else_output, recipe, where, "else_output")
    target = (chain.otherwise(pl.lit(-1)) if chain is not None else pl.lit(-1)).alias("__target")
    tagged = frame.with_columns(target)
    results: dict[str, pl.DataFrame] = {}
    for name in recipe.outputs:
        indexes = [i for i, t in enumerate(targets) if t == name]
        if name == recipe.else_output:
            indexes.append(-1)
        results[name] = tagged.filter(pl.col("__target").is_in(indexes)).drop("__target")
    return results


def run_sample(recipe: v.SampleRecipe, frame: pl.DataFrame, where: Where) -> pl.DataFrame:
    if recipe.mode == "first":
        schema = schema_of(frame)
        require_columns([k.column for k in recipe.order_by], schema, where, "order_by")
        return sort_frame(frame, recipe.order_by).head(recipe.n or 0)
    h = row_hash(frame, recipe.seed, recipe.key, where, "key")
    return frame.filter(h < threshold(recipe.fraction or 0.0))

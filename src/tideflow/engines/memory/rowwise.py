"""Row-by-row Python functions: the oracle's plain definition of the string functions.

Each function receives Python values (None for NULL) and returns a Python value. They are slow and
obvious on purpose; ``rowwise`` lifts one into a Polars expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl


def rowwise(fn: Callable[..., Any], exprs: Sequence[pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """A Polars expression applying ``fn`` to the values of ``exprs`` on every row."""
    fields = [pl.int_range(pl.len()).alias("__row"), *[e.alias(f"__arg{i}") for i, e in enumerate(exprs)]]

    def run(batch: pl.Series) -> pl.Series:
        return pl.Series([fn(*list(row.values())[1:]) for row in batch.to_list()], dtype=dtype)

    return pl.struct(fields).map_batches(run, return_dtype=dtype, is_elementwise=True)


def any_null(*values: object) -> bool:
    return any(v is None for v in values)


def like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """SQL LIKE with ``ESCAPE '\\'``: ``%`` any run of characters, ``_`` one character, a backslash
    makes the next character literal (``\\%``, ``\\_``, ``\\\\``), everything else is literal.

    A pattern that ends with a lone backslash is an error (ValueError), as in the databases.
    """
    parts: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ValueError(f"LIKE pattern {pattern!r} must not end with the escape character '\\'")
            parts.append(re.escape(escaped))
        else:
            parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile("".join(parts), flags)


def like(value: str | None, pattern: str | None, case_insensitive: bool = False) -> bool | None:
    if value is None or pattern is None:
        return None
    return like_regex(pattern, case_insensitive).fullmatch(value) is not None


def substring(value: str | None, start: int | None, length: int | None = None, *,
              has_length: bool = False) -> str | None:
    """1-based; the characters at positions ``[start, start + length)`` that exist.

    A NULL argument gives NULL; a negative length gives NULL.
    """
    if value is None or start is None or (has_length and length is None):
        return None
    if length is None:
        return value[max(start, 1) - 1:]
    if length < 0:
        return None
    first = max(start, 1)
    end = start + length
    return value[first - 1:max(end - 1, first - 1)]


def left(value: str | None, n: int | None) -> str | None:
    """First ``n`` characters; a negative ``n`` drops the last ``-n`` characters."""
    if value is None or n is None:
        return None
    return value[:n] if n >= 0 else value[:max(len(value) + n, 0)]


def right(value: str | None, n: int | None) -> str | None:
    """Last ``n`` characters; a negative ``n`` drops the first ``-n`` characters."""
    if value is None or n is None:
        return None
    if n >= 0:
        return value[len(value) - n:] if n <= len(value) else value
    return value[-n:]


def replace(value: str | None, old: str | None, new: str | None) -> str | None:
    """Every occurrence of ``old`` (left to right, non-overlapping); an empty ``old`` changes nothing."""
    if value is None or old is None or new is None:
        return None
    return value if old == "" else value.replace(old, new)


def strpos(value: str | None, sub: str | None) -> int | None:
    """1-based character position of the first occurrence, 0 when absent, 1 for an empty ``sub``."""
    if value is None or sub is None:
        return None
    return value.find(sub) + 1


def trim(value: str | None, chars: str | None, side: str) -> str | None:
    """Remove the characters of ``chars`` (a set) from the ``side`` of ``value``."""
    if value is None or chars is None:
        return None
    if side == "left":
        return value.lstrip(chars)
    if side == "right":
        return value.rstrip(chars)
    return value.strip(chars)

"""Planning errors every engine raises in the same words: (where in the recipe, what is wrong).

Both engines import this module (the memory engine may not import the SQL compiler, nor the
compiler the memory engine), so that one refusal reads the same whichever engine plans the recipe.
"""

from __future__ import annotations


def empty_pivot_name(column: str, index: int, listed: bool) -> tuple[str, str]:
    """A pivot value '' of ``column`` (``values[index]`` when ``listed``) that would name a column ''."""
    return (
        f"values[{index}]" if listed else "column",
        f"the pivot value '' (empty text) of column {column!r} would name an output column ''; "
        "expected a non-empty name: replace empty texts first (a replace or fill_empty step)"
        + ("" if listed else ", or list 'values'"),
    )


def pivot_without_columns(column: str, listed: bool) -> tuple[str, str]:
    """A pivot with no ``index`` and no values of ``column``: it would have no output column."""
    return (
        "values" if listed else "column",
        f"this pivot has no output column: the pivot column {column!r} has no values"
        + ("" if listed else " (its input has no rows)") + " and there is no 'index'; "
        "expected at least one: list 'values' or add an 'index'",
    )

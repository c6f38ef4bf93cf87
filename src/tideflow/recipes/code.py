"""Specs of code recipes: SQL (transpiled to the target dialect) and Python (run in memory)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from tideflow.recipes.base import RecipeBase, key_error


class SqlRecipe(RecipeBase):
    """A single SELECT written in ``dialect``; input datasets are referenced by name as tables.

    Give the query inline (``sql``) or in a file next to the recipe (``file``, relative to the
    project's ``recipes/`` folder). The loader reads the file into ``sql``.
    """

    type: Literal["sql"]
    dialect: str = "duckdb"
    sql: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SqlRecipe:
        if (self.sql is None) == (self.file is None):
            raise key_error(("file" if self.file is not None else "sql",),
                            "a sql recipe takes exactly one of 'sql' or 'file'")
        return self


class PythonRecipe(RecipeBase):
    """``function`` in ``file`` (relative to ``recipes/``) maps named input frames to outputs.

    Signature: ``def transform(inputs: dict[str, polars.DataFrame]) -> polars.DataFrame`` (one
    output) or ``-> dict[str, polars.DataFrame]`` keyed by output name.
    """

    type: Literal["python"]
    # Python runs in the memory engine only: ``engine: sql`` would otherwise be silently ignored.
    engine: Literal["auto", "memory"] = "auto"
    file: str
    function: str = "transform"

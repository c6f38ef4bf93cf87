"""Plain data the planner and builder exchange with their callers (CLI, API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BuildMode = Literal["smart", "dataset", "forced", "downstream"]
EngineName = Literal["sql", "memory", "ray"]

BUILD_MODES: tuple[BuildMode, ...] = ("smart", "dataset", "forced", "downstream")


@dataclass(frozen=True)
class PlannedRecipe:
    """One recipe of a plan: the engine chosen and why, the SQL it will run (per output)."""

    recipe: str
    engine: EngineName
    reason: str
    connection: str | None
    sql: dict[str, str] = field(default_factory=dict)
    outdated_reason: str = ""
    virtual_outputs: tuple[str, ...] = ()
    fused_into: str | None = None  # a recipe writing a virtual dataset runs as a CTE of this recipe
    # virtual outputs that cannot run as a CTE of their readers, so are stored: output -> why
    stored_virtual: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the compiler changed in the SQL and why


@dataclass(frozen=True)
class Plan:
    """What a build will do, in a runnable order. ``skipped`` recipes are up to date."""

    steps: list[PlannedRecipe]
    skipped: list[str] = field(default_factory=list)

    def step(self, recipe: str) -> PlannedRecipe:
        for s in self.steps:
            if s.recipe == recipe:
                return s
        raise KeyError(recipe)


@dataclass(frozen=True)
class BuildEvent:
    """Progress of a build, for progress bars: ``started``, ``finished``, ``failed`` or ``skipped``."""

    kind: Literal["started", "finished", "failed", "skipped"]
    recipe: str
    engine: str = ""
    seconds: float = 0.0
    rows: int | None = None
    message: str = ""


@dataclass(frozen=True)
class RecipeRun:
    """The record of one recipe in a build."""

    recipe: str
    engine: str
    status: Literal["ok", "failed", "skipped", "cancelled"]
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    bytes_through_python: int = 0
    error: str = ""
    note: str = ""  # what the summary adds: a virtual output stored all the same, and why


@dataclass(frozen=True)
class BuildResult:
    runs: list[RecipeRun]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "skipped") for r in self.runs)

    @property
    def failed(self) -> list[RecipeRun]:
        return [r for r in self.runs if r.status == "failed"]

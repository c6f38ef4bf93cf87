"""Small projects on disk for Flow tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

Writer = Callable[..., Path]


@pytest.fixture()
def make_project(tmp_path: Path) -> Writer:
    """Write a project: ``config`` text, ``datasets`` / ``recipes`` as {file name: text}."""

    def write(recipes: dict[str, str], datasets: dict[str, str] | None = None,
              config: str = "name: t\n", extra: dict[str, str] | None = None) -> Path:
        root = tmp_path / "proj"
        (root / "datasets").mkdir(parents=True, exist_ok=True)
        (root / "recipes").mkdir(parents=True, exist_ok=True)
        (root / "tideflow.yaml").write_text(config)
        for name, text in (datasets or {}).items():
            (root / "datasets" / name).write_text(text)
        for name, text in recipes.items():
            (root / "recipes" / name).write_text(text)
        for name, text in (extra or {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return write


def duck_exec(root: Path, sql: str) -> list[tuple[object, ...]]:
    """Run SQL on the project's embedded warehouse (outside any build)."""
    (root / ".tide").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / ".tide" / "warehouse.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

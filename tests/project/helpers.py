"""A project on disk for loader tests: tideflow.yaml, datasets/ and recipes/ from texts."""

from __future__ import annotations

from pathlib import Path

CONFIG = "name: t\nconnections:\n  warehouse: {type: duckdb}\n"


def make(tmp_path: Path, recipes: dict[str, str | bytes], datasets: dict[str, str] | None = None,
         config: str = CONFIG) -> Path:
    """``recipes`` maps file names under recipes/ to their text (or bytes); ``datasets`` defaults to
    one source ``src`` in table ``src``."""
    (tmp_path / "tideflow.yaml").write_text(config)
    (tmp_path / "datasets").mkdir()
    (tmp_path / "recipes").mkdir()
    for name, text in (datasets if datasets is not None else {"src": "table: src\n"}).items():
        (tmp_path / "datasets" / f"{name}.yaml").write_text(text)
    for name, content in recipes.items():
        path = tmp_path / "recipes" / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return tmp_path

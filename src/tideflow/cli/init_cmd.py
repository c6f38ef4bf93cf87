"""``tide init DIR``: scaffold a working project from the templates shipped in the package."""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from tideflow.cli.context import guarded, out
from tideflow.errors import ProjectError
from tideflow.project import PROJECT_FILE

# Files whose name differs in the package: setuptools globs may skip dotfiles, and a template
# ``tideflow.yaml`` would look like a real project inside the package.
RENAMES = {"gitignore": ".gitignore", "tideflow.yaml.tmpl": PROJECT_FILE}
SUBSTITUTED = (".tmpl", ".md")


def package_tree(*parts: str) -> Traversable:
    node = resources.files("tideflow.cli")
    for part in parts:
        node = node / part
    return node


def iter_files(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """``(relative path, file)`` for every file under ``node``, sorted; caches are skipped."""
    found: list[tuple[str, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name in ("__pycache__", ".DS_Store") or child.name.endswith(".pyc"):
            continue
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            found.extend(iter_files(child, rel + "/"))
        else:
            found.append((rel, child))
    return found


def target_path(rel: str) -> str:
    head, _, name = rel.rpartition("/")
    name = RENAMES.get(name, name)
    return f"{head}/{name}" if head else name


def copy_tree(node: Traversable, dest: Path, values: dict[str, str] | None = None) -> list[Path]:
    """Copy the files under ``node`` into ``dest`` (overwriting), substituting ``{{key}}`` in templates."""
    written: list[Path] = []
    for rel, file in iter_files(node):
        path = dest / target_path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = file.read_bytes()
        if values and rel.endswith(SUBSTITUTED):
            text = data.decode("utf-8")
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            data = text.encode("utf-8")
        path.write_bytes(data)
        written.append(path)
    return written


def project_name(directory: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-")
    return name or "my-project"


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Write the starter project into ``directory``; refuse when any of its files already exists."""
    template = package_tree("templates", "project")
    if (directory / PROJECT_FILE).exists():
        raise ProjectError(
            f"{directory / PROJECT_FILE} already exists: refusing to overwrite an existing project "
            "(choose an empty or new directory)"
        )
    clashes = [target_path(rel) for rel, _ in iter_files(template) if (directory / target_path(rel)).exists()]
    if clashes:
        raise ProjectError(
            f"refusing to overwrite existing files in {directory}: {', '.join(clashes)}"
        )
    if directory.exists() and not directory.is_dir():
        raise ProjectError(f"{directory} exists and is not a directory")
    if name is not None and (not name or any(unicodedata.category(ch).startswith("C") for ch in name)):
        raise ProjectError(f"--name: expected a name on one line without control characters, got {name!r}")
    name = name or project_name(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # the name goes into tideflow.yaml as a YAML (JSON) string: 'a: b' stays one value, not a new key
        return copy_tree(template, directory, {"name": name, "name_yaml": json.dumps(name)})
    except OSError as err:
        raise ProjectError(f"cannot create the project in {directory}: {err.strerror or err}") from None


def init(
    directory: Annotated[Path, typer.Argument(help="Directory of the new project (created when missing).",
                                              file_okay=False)],
    name: Annotated[str | None, typer.Option("--name", help="Project name (default: the directory name).")]
    = None,
) -> None:
    """Create a working project: a CSV source, a prepare recipe and a group recipe."""
    guarded(scaffold)(directory, name)
    console = out()
    console.print(Text.assemble(("Created ", "green"), (str(directory), "bold"),
                                (" (a CSV source, a prepare and a group recipe). Next:", "green")))
    shown = shlex.quote(str(directory))  # pasted into a shell as it is printed
    for line in (f"tide flow show --project {shown}", f"tide flow build --project {shown}",
                 f"tide dataset head revenue_by_country --project {shown}"):
        console.print(Text(f"  $ {line}"), soft_wrap=True)

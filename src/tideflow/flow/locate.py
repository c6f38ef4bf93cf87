"""Give errors found when a recipe is planned the line of their key.

The SQL compiler and the engines know a recipe's file and key path (``recipes/r.yaml at keys[0]``) but
not the lines of the file: the loader recorded those in the ``Project``. Every entry point of the Flow
runs inside ``located(project)``, which fills in the line of a ``ProjectError`` that names a project file
and no line: the line of its key path, or of the nearest enclosing key written in the file (none when
no key of the path is written there: the line of a default is nowhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Concatenate, ParamSpec, TypeVar

from tideflow.errors import ProjectError
from tideflow.project import PROJECT_FILE, Project
from tideflow.project.yamlfile import line_of, parse_path

P = ParamSpec("P")
R = TypeVar("R")


def file_lines(project: Project, file: str) -> dict[tuple[str | int, ...], int] | None:
    """The recorded ``{key path: line}`` of a project file (tideflow.yaml, a recipe's or a dataset's), or None."""
    if file == PROJECT_FILE:
        return project.config_lines
    for recipe, lines in project.lines.items():
        if project.files.get(recipe) == file:
            return lines
    for dataset, shown in project.dataset_files.items():
        if shown == file:
            return project.dataset_lines.get(dataset)
    return None


def locate(project: Project, error: ProjectError) -> ProjectError:
    """``error`` with the line of its key path when it names a project file but no line (in place)."""
    if error.line or not error.file or not error.key_path:
        return error
    lines = file_lines(project, error.file)
    path = parse_path(error.key_path)
    # the nearest enclosing key written in the file; a key written nowhere in it (a default) gets no line
    written = next((path[:n] for n in range(len(path), 0, -1) if path[:n] in (lines or {})), None)
    if not lines or written is None:
        return error
    return error.at_line(line_of(written, lines))


@contextlib.contextmanager
def located(project: Project) -> Iterator[None]:
    """Re-raise a ``ProjectError`` raised inside with the line of its key (``locate``)."""
    try:
        yield
    except ProjectError as error:
        locate(project, error)  # in place: the class, the traceback and the cause stay
        raise


def with_lines(fn: Callable[Concatenate[Project, P], R]) -> Callable[Concatenate[Project, P], R]:
    """Run an entry point taking the project first inside ``located(project)``."""

    @wraps(fn)
    def wrapper(project: Project, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with located(project):
            return fn(project, *args, **kwargs)

    return wrapper

"""What every ``tide`` command shares: consoles, the ``--project`` option, exit codes, error handling.

Exit codes scripts can rely on:

====  ===========================================================
0     ok
1     the build failed (at least one recipe failed)
2     usage or project error (bad option, bad project file, unknown name)
3     connection error (a database or file cannot be reached)
====  ===========================================================
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from tideflow.errors import BuildError, ConnectionError_, TideflowError
from tideflow.project import Project, load_project

EXIT_OK = 0
EXIT_BUILD_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3

F = TypeVar("F", bound=Callable[..., Any])

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project", "-p", envvar="TIDE_PROJECT", file_okay=False,
        help="Project directory (default: the current directory; env TIDE_PROJECT).",
        show_default=False,
    ),
]


def out() -> Console:
    """A console on standard output (resolved at call time, so test runners can capture it)."""
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def open_project(path: Path) -> Project:
    """Load the project at ``path``: a ``ProjectError`` (exit 2) when it is not a valid project."""
    return load_project(path)


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` in red on standard error; return the ``typer.Exit`` to raise."""
    err().print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


def _is_connection_failure(error: BaseException) -> bool:
    """Driver errors that mean "cannot reach the database" (when a layer below did not wrap them)."""
    name = type(error).__name__
    module = type(error).__module__ or ""
    if module.startswith("psycopg") and name in ("OperationalError", "ConnectionTimeout"):
        return True
    return module.startswith("duckdb") and name in ("IOException", "ConnectionException")


def guarded(fn: F) -> F:
    """Map Tideflow errors to exit codes and a one-line red message; never print a traceback for them."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BuildError as error:
            raise fail(str(error), EXIT_BUILD_FAILED) from None
        except ConnectionError_ as error:
            raise fail(str(error), EXIT_CONNECTION) from None
        except TideflowError as error:
            raise fail(str(error), EXIT_USAGE) from None
        except RecursionError:  # a text nested deeper than Python follows, found where no check caught it
            raise fail("an expression, query or file is nested too deeply to read: simplify it", EXIT_USAGE) from None
        except Exception as error:
            if _is_connection_failure(error):
                raise fail(f"cannot reach the database: {error}".strip(), EXIT_CONNECTION) from None
            raise

    return wrapper  # type: ignore[return-value]


def default_project_dir() -> Path:
    return Path(os.environ.get("TIDE_PROJECT") or ".")


def human_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"

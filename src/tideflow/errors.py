"""The one exception tree of Tideflow.

Every error says *what* went wrong, *where* (file, line, key path, recipe, dataset), what was
*expected* and what was *got*, and when it can, the nearest valid name. The CLI prints
``str(error)``; the REST layer maps each class to an HTTP status in one handler.

    TideflowError
    ├── ProjectError            a project file is wrong (bad YAML, unknown key, bad value)
    │   └── GraphError          the Flow graph is wrong (cycle, two recipes writing one dataset)
    ├── ExpressionError         a recipe expression uses an unknown column/function or a subquery
    ├── ConnectionError_        a database or file cannot be reached or read
    │   ├── DatabaseBusy        another process holds a DuckDB file for over 5 s (connections.duck)
    │   └── BuildBusy           another build of the project runs for over 5 s (flow.buildlock)
    ├── UnsupportedPushdown     a recipe cannot be compiled to SQL (the planner picks another engine)
    ├── BuildError              a recipe failed while running; previous outputs are intact
    ├── ChecksFailed            (tideflow.checks) an error-level check rejected a new output
    ├── ComputeError            (tideflow.compute) a task cannot run: infeasible resources, worker lost
    ├── ServingError            (tideflow.serving) a request or endpoint error, mapped to an HTTP status
    └── MissingExtraError       an optional dependency is not installed (says the pip command)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def a(word: str) -> str:
    """``word`` with its indefinite article, for messages: 'an integer', 'an INSERT', 'a double'."""
    return f"{'an' if word[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def counted(n: int, noun: str) -> str:
    """'1 check', '3 checks'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``name``, or None when nothing is close.

    Close means similar as a whole (``orders_clen`` -> ``orders_clean``) or, failing that, the one
    candidate that starts with ``name`` (``revenue`` -> ``revenue_by_country``), or whose start is close
    to it (``revnue`` -> ``revenue_by_country``): a name typed short. Several such candidates: none."""
    text = str(name)
    names = [str(c) for c in candidates]
    matches = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    return _completed(text, names)


# A prefix shorter than this starts too many names to suggest one ("a" -> "amount").
_MIN_PREFIX = 3


def _completed(text: str, names: list[str]) -> str | None:
    """The only name ``text`` starts (or nearly starts, a typo in it), else None."""
    if len(text) < _MIN_PREFIX:
        return None
    low = text.lower()
    longer = [n for n in names if len(n) > len(text)]
    starting = [n for n in longer if n.lower().startswith(low)]
    if starting:
        return starting[0] if len(starting) == 1 else None
    close = [n for n in longer
             if difflib.SequenceMatcher(None, low, n[: len(text)].lower()).ratio() >= 0.8]
    return close[0] if len(close) == 1 else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``": did you mean 'x'?"`` or an empty string."""
    best = nearest(name, candidates)
    return f": did you mean {best!r}?" if best else ""


def name_too_long(what: str, name: str, database: str, limit: int | None) -> str | None:
    """The message for ``name`` when it is longer than ``database`` keeps (``limit`` UTF-8 bytes; None: no
    limit), else None. PostgreSQL cuts every identifier to 63 bytes, so two long names could become one."""
    size = len(name.encode("utf-8"))
    if limit is None or size <= limit:
        return None
    return (f"{what} name {name!r} is {size} bytes long; a {database} database keeps only the first {limit} "
            f"bytes of a name (two long names could become one): expected at most {limit} bytes, shorten it")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def case_clash(what: str, names: Iterable[str]) -> str | None:
    """The message when two of ``names`` differ only by the case of ASCII letters, else None. DuckDB
    (and Spark SQL) take such names for one column: a table keeps the second as ``A_1`` and a query
    reads either for the other, so one dataset's columns must differ by more than case."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.translate(_ASCII_LOWER)
        if key in seen and seen[key] != name:
            return (f"{what} {seen[key]!r} and {name!r} differ only by case; DuckDB and Spark SQL take them for "
                    f"one column: expected names that differ by more than case, rename one")
        seen.setdefault(key, name)
    return None


class TideflowError(Exception):
    """Base of every error Tideflow raises on purpose."""


class ProjectError(TideflowError):
    """A project file is invalid.

    ``file``, ``line`` and ``key_path`` locate the problem; the message says expected and got.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key_path: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key_path = key_path
        super().__init__(self._text())

    def _text(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.key_path:
            where = f"{where} at {self.key_path}" if where else self.key_path
        return f"{where}: {self.message}" if where else self.message

    def at_line(self, line: int | None) -> ProjectError:
        """Give an error that names a file but no line the ``line`` its key path is on (found by the caller,
        which knows the file's keys); an error with a line, without a file or a message of its own keeps
        its text. Returns ``self``, changed in place, so that ``raise`` keeps its class and traceback."""
        if line and self.file and not self.line and self.args == (self._text(),):
            self.line = line
            self.args = (self._text(),)
        return self


class GraphError(ProjectError):
    """The Flow graph is invalid: a cycle, or two recipes writing the same dataset."""


class ExpressionError(TideflowError):
    """A recipe expression is invalid for its inputs (unknown column or function, subquery)."""

    def __init__(self, message: str, *, expression: str | None = None, where: str | None = None) -> None:
        # An expression read from a project file carries the line it was written on (the loader
        # locates it): ``recipes/r.yaml at steps[0].expr`` becomes ``recipes/r.yaml:7 at steps[0].expr``.
        self.line: int | None = getattr(expression, "line", None)
        if where and self.line:
            where = _with_line(where, self.line)
        self.expression = expression
        self.where = where
        text = message
        if expression is not None:
            text = f"{text} in expression {str(expression)!r}"
        if where:
            text = f"{where}: {text}"
        super().__init__(text)


def _with_line(where: str, line: int) -> str:
    """Add ``:line`` after the file of ``where`` (``file at key.path`` or ``file``) unless it has one."""
    file, sep, rest = where.partition(" at ")
    if not file.endswith((".yaml", ".yml")):
        return where
    return f"{file}:{line}{sep}{rest}"


class ConnectionError_(TideflowError):
    """A connection cannot be opened or a dataset cannot be read. Never contains secrets."""


class UnsupportedPushdown(TideflowError):
    """A recipe (or one step of it) cannot be expressed in SQL for this dialect."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: {reason}")


class BuildError(TideflowError):
    """A recipe failed while building. The previous version of its outputs is intact."""

    def __init__(self, recipe: str, message: str) -> None:
        self.recipe = recipe
        super().__init__(f"recipe {recipe!r} failed: {message}")


class MissingExtraError(TideflowError):
    """An optional dependency is missing; the message holds the exact install command."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(f"{module} is not installed: pip install 'tideflow[{extra}]'")


__all__ = [
    "BuildError",
    "ConnectionError_",
    "ExpressionError",
    "GraphError",
    "MissingExtraError",
    "ProjectError",
    "TideflowError",
    "UnsupportedPushdown",
    "did_you_mean",
    "nearest",
]

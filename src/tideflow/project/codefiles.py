"""The code of SQL and Python recipes: read from ``recipes/`` and checked when the project loads.

A broken code file is a project error naming the file and line at load time, not a traceback when
the recipe is planned or built. Nothing is run: SQL is parsed by sqlglot, Python by ``ast``.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from tideflow.errors import ProjectError, did_you_mean
from tideflow.project.sqlcheck import SqlProblem, one_query, unknown_dialect
from tideflow.project.yamlfile import KeyPath
from tideflow.recipes import PythonRecipe, RecipeBase, SqlRecipe


def read_code(root: Path, recipe: RecipeBase, shown: str, lines: dict[KeyPath, int]) -> str | None:
    """The code of a SQL or Python recipe (None for a visual recipe), checked."""
    if isinstance(recipe, SqlRecipe):
        text = recipe.sql if recipe.file is None else read_file(root, recipe.file, shown, lines)
        if text is not None:
            check_sql_syntax(recipe, text, shown, lines)
        return text
    if isinstance(recipe, PythonRecipe):
        text = read_file(root, recipe.file, shown, lines, python=True)
        check_python(recipe, text, shown, lines)
        return text
    return None


def read_file(root: Path, relative: str, shown: str, lines: dict[KeyPath, int], *, python: bool = False) -> str:
    """The text of ``recipes/<relative>``. Errors name the recipe's file (``shown``) and its ``file`` key:
    that is where the name is written."""
    line = lines.get(("file",))

    def refused(problem: str) -> ProjectError:
        return ProjectError(problem, file=shown, line=line, key_path="file")

    if not relative.strip():
        raise refused("the file name is empty: expected a file under recipes/ (e.g. 'query.sql'), got an empty text")
    base = (root / "recipes").resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError) as err:  # Python 3.11 says RuntimeError for a symlink loop
        looping = isinstance(err, RuntimeError) or "loop" in str(err).lower()
        why = "is a symbolic link that points to itself" if looping else "cannot be opened"
        raise refused(f"recipes/{relative} {why}: expected a file") from None
    if not path.is_relative_to(base):
        raise refused(f"expected a file inside recipes/, got {relative!r}")
    if path.is_dir():
        raise refused(f"recipes/{relative} is a directory: expected a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        near = did_you_mean(relative, [p.name for p in base.glob("*") if p.is_file()])
        raise refused(f"file recipes/{relative} not found{near}") from None
    except OSError as err:
        raise refused(f"cannot read recipes/{relative}: {err.strerror or err}") from None
    try:
        if python:  # as Python imports it: a BOM or a '# -*- coding: ... -*-' line may say another encoding
            return importlib.util.decode_source(data)
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() reads it
    except (UnicodeDecodeError, SyntaxError):  # SyntaxError: Python's "invalid or missing encoding declaration"
        raise refused(_not_utf8(data, relative, python)) from None


def _not_utf8(data: bytes, relative: str, python: bool) -> str:
    """Where a file stops being UTF-8, in words (the line of the first byte that is not)."""
    try:
        data.decode("utf-8")
        return f"recipes/{relative} is not text in the encoding its coding line declares: expected a file saved " \
               "in that encoding (or as UTF-8 without a coding line)"
    except UnicodeDecodeError as err:
        start = err.start
    utf16 = " (it looks like UTF-16)" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
    at_line = data[:start].count(b"\n") + 1
    declare = " (or declare its encoding in a '# -*- coding: ... -*-' line)" if python else ""
    return (f"recipes/{relative} is not UTF-8 text{utf16}: byte 0x{data[start]:02x} at line {at_line} is not "
            f"UTF-8: expected a file saved as UTF-8{declare}")


def check_sql_syntax(recipe: SqlRecipe, text: str, shown: str, lines: dict[KeyPath, int]) -> None:
    """A SQL recipe that is not one read-only query in a dialect sqlglot reads is a project error found
    at load time, not when the recipe is planned: an unknown ``dialect`` names its key; a syntax error,
    no statement or several, or a statement that writes names the .sql file and the statement's line
    (or the ``sql`` key of an inline query)."""
    problem = unknown_dialect(recipe.dialect)
    if problem is not None:
        raise ProjectError(problem, file=shown, line=lines.get(("dialect",)), key_path="dialect")
    try:
        one_query(text, recipe.dialect)
    except SqlProblem as err:
        if recipe.file is not None:
            raise ProjectError(err.message, file=f"recipes/{recipe.file}", line=err.line) from None
        raise ProjectError(err.message, file=shown, line=lines.get(("sql",)), key_path="sql") from None


def check_python(recipe: PythonRecipe, text: str, shown: str, lines: dict[KeyPath, int]) -> None:
    """The Python file compiles and defines ``recipe.function`` at its top level. It is compiled, never
    run: loading a project must not execute its code."""
    file = f"recipes/{recipe.file}"
    try:
        tree = ast.parse(text, filename=file)
        compile(tree, file, "exec", dont_inherit=True)  # also what the parser lets through: 'return' outside def
    except SyntaxError as err:
        column = f", column {err.offset}" if err.offset else ""
        raise ProjectError(f"syntax error in the Python code at line {err.lineno}{column}: {err.msg}",
                           file=file, line=err.lineno) from None
    except ValueError:  # Python 3.11 refuses a NUL byte with ValueError
        raise ProjectError("the Python code holds a NUL byte: expected text", file=file) from None
    except (RecursionError, MemoryError):
        raise ProjectError("the Python code is nested too deeply to compile", file=file) from None
    names, functions, star = _top_level_names(tree.body)
    if recipe.function in names or star:
        return  # 'from x import *' may bind it: the build says so if it does not
    got = ("the functions " + ", ".join(repr(f) for f in functions)) if functions else "no function"
    key = "function" if ("function",) in lines else "file"  # without a 'function' key, the file is the suspect
    default = "" if key == "function" else " (the default of the key 'function')"
    raise ProjectError(
        f"{file} defines no function {recipe.function!r}{default} at its top level: expected "
        f"'def {recipe.function}(inputs):', got {got}{did_you_mean(recipe.function, functions)}",
        file=shown, line=lines.get((key,)), key_path=key,
    )


def _top_level_names(body: list[ast.stmt]) -> tuple[set[str], list[str], bool]:
    """The names a module binds at its top level (functions, classes, assignments, imports, also
    inside top-level if/try/with blocks), its functions in order, and whether it star-imports."""
    names: set[str] = set()
    functions: list[str] = []
    star = False
    stack: list[ast.stmt | ast.excepthandler] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
            functions.append(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            star = star or any(alias.name == "*" for alias in node.names)
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:  # if / try / with / for blocks at the top level bind top-level names too
            for block in ("body", "orelse", "finalbody", "handlers"):
                inner = [n for n in getattr(node, block, []) if isinstance(n, ast.stmt | ast.excepthandler)]
                stack.extend(reversed(inner))
    return names, functions, star

"""Python recipes: ``function`` of ``project_dir/recipes/<file>`` maps named input frames to outputs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from tideflow.engines.memory.checks import Where
from tideflow.errors import BuildError, a, did_you_mean
from tideflow.recipes.code import PythonRecipe


def _raised(err: BaseException) -> str:
    """What the recipe's code did, for a BuildError: an exception, or a ``sys.exit`` (which would
    otherwise stop the whole build with the recipe's exit code, 0 reading as success)."""
    if isinstance(err, SystemExit):
        return (f"called sys.exit({err.code!r}); a recipe returns its outputs, expected no exit")
    return f"raised {type(err).__name__}: {err}"


def load_function(recipe: PythonRecipe, project_dir: Path | None, where: Where) -> Callable[..., Any]:
    if project_dir is None:
        raise where.error("file", f"python recipe {recipe.name!r} needs the project directory to find "
                                  f"recipes/{recipe.file}")
    path = Path(project_dir) / "recipes" / recipe.file
    if not path.is_file():
        raise where.error("file", f"python file not found: expected {path}, got no such file")
    module_name = f"tideflow_recipe_{recipe.name}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise where.error("file", f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # a sys.exit() in the file must not end the build (or the server)
        sys.modules.pop(module_name, None)
        raise BuildError(recipe.name, f"importing recipes/{recipe.file} {_raised(err)}") from err
    function = getattr(module, recipe.function, None)
    if not callable(function):
        names = [n for n, obj in vars(module).items() if callable(obj) and not n.startswith("_")]
        raise where.error("function", f"recipes/{recipe.file} has no function {recipe.function!r}"
                                      f"{did_you_mean(recipe.function, names)}")
    return function


def run_python(recipe: PythonRecipe, inputs: Mapping[str, pl.DataFrame], project_dir: Path | None,
               where: Where) -> dict[str, pl.DataFrame]:
    function = load_function(recipe, project_dir, where)
    label = f"recipes/{recipe.file}:{recipe.function}"
    try:
        result = function({name: inputs[name] for name in recipe.inputs})
    except (Exception, SystemExit) as err:
        raise BuildError(recipe.name, f"{label} {_raised(err)}") from err
    if isinstance(result, pl.DataFrame):
        if len(recipe.outputs) != 1:
            raise BuildError(recipe.name, f"{label} returned one DataFrame, expected a dict keyed by the "
                                          f"outputs {recipe.outputs}")
        return {recipe.outputs[0]: result}
    if isinstance(result, Mapping):
        got = sorted(str(k) for k in result)
        if set(result) != set(recipe.outputs):
            expected = sorted(recipe.outputs)
            raise BuildError(recipe.name, f"{label} returned outputs {got}, expected {expected}")
        for name, frame in result.items():
            if not isinstance(frame, pl.DataFrame):
                raise BuildError(recipe.name, f"{label} returned {a(type(frame).__name__)} for output "
                                              f"{name!r}, expected a polars.DataFrame")
        return {name: result[name] for name in recipe.outputs}
    raise BuildError(recipe.name, f"{label} returned {a(type(result).__name__)}, expected a polars.DataFrame "
                                  "or a dict of them keyed by output name")
